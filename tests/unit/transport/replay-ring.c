/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Replays fuzz/corpus/ring through the libFuzzer target fuzz/fuzz-ring.c (built with the
 * normal compiler): every committed input, crashers included, keeps passing under ASan
 * and UBSan.  Prints one TAP line per input. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	struct dirent **list;
	int n, ran = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: replay-ring CORPUS_DIR\n");
		return 2;
	}
	n = scandir(argv[1], &list, NULL, alphasort);
	if (n < 0) {
		perror(argv[1]);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		static uint8_t buf[1 << 16];
		FILE *f;
		size_t len;

		if (list[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", argv[1], list[i]->d_name);
			f = fopen(path, "rb");
			if (f) {
				len = fread(buf, 1, sizeof(buf), f);
				fclose(f);
				LLVMFuzzerTestOneInput(buf, len);
				printf("ok %d - %s\n", ++ran, list[i]->d_name);
			}
		}
		free(list[i]);
	}
	free(list);
	printf("1..%d\n", ran);
	return ran ? 0 : 1;
}
