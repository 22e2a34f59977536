/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Claims on backstores (see claim.h). */
#include "claim.h"

#include <errno.h>
#include <fnmatch.h>

#include "util/err.h"

int claims_add(struct claims *c, const char *pattern, struct err *err)
{
	if (!pattern[0] || !pattern[pattern[0] == '!'])
		return err_set(err, -EINVAL, "--claim: empty pattern");
	if (c->n >= CLAIM_MAX)
		return err_set(err, -E2BIG, "--claim: at most %d patterns", CLAIM_MAX);
	c->pat[c->n++] = pattern;
	return 0;
}

bool claims_match(const struct claims *c, const char *name)
{
	bool mine = c->n == 0;

	for (unsigned int i = 0; i < c->n; i++) {
		const char *p = c->pat[i];
		bool neg = p[0] == '!';

		if (fnmatch(p + neg, name, 0) == 0)
			mine = !neg;
	}
	return mine;
}
