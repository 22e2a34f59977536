#!/usr/bin/env python3
"""Make a man page from its template: @CONFIG_KEYS@ becomes `PROG --config-help=man`.

  gen-man.py PROG TEMPLATE OUTPUT
"""
import os
import subprocess
import sys

prog, template, output = sys.argv[1:4]
env = dict(os.environ, ASAN_OPTIONS='detect_leaks=0')
keys = subprocess.run([prog, '--config-help=man'], check=True, capture_output=True,
                      text=True, env=env).stdout
with open(template, encoding='utf-8') as f:
    page = f.read()
if '@CONFIG_KEYS@' not in page:
    sys.exit(f'{template}: no @CONFIG_KEYS@ line')
with open(output, 'w', encoding='utf-8') as f:
    f.write(page.replace('@CONFIG_KEYS@\n', keys))
