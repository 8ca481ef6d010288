#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Count TAP/KTAP results of a kmbuf check run and print the closing line.

Counted: top-level "ok"/"not ok" lines (kselftest programs, static checks),
and the test-case lines of KUnit suites (between "# KUNIT-BEGIN" and
"# KUNIT-END", indented one level). A program that exits with a failure code
without reporting a failed test, or that reports nothing at all, counts as a
failure too ("# EXIT <name> <rc>" lines written by the guest runner).
"""
import re
import sys

RESULT = re.compile(r'^(not ok|ok)\b(?:\s+\d+)?\s*-?\s*(.*?)(\s+#\s*(SKIP|skip|TODO).*)?$')
KCASE = re.compile(r'^ {4}(not ok|ok) \d+ (\S.*?)(\s+#\s*(SKIP|skip).*)?$')


def main(path):
    passed = failed = skipped = 0
    failures = []
    in_kunit = False
    prog_results = 0
    prog_failed = 0
    with open(path, errors='replace') as f:
        lines = [l.rstrip('\r\n') for l in f]
    for line in lines:
        if line.startswith('# KUNIT-BEGIN'):
            in_kunit = True
            continue
        if line.startswith('# KUNIT-END'):
            in_kunit = False
            continue
        if line.startswith('# RUN '):
            prog_results = prog_failed = 0
            continue
        m = re.match(r'^# EXIT (\S+) (-?\d+)', line)
        if m:
            name, rc = m.group(1), int(m.group(2))
            if prog_results == 0 and rc != 4:
                failed += 1
                failures.append(f'{name}: reported no result (exit {rc})')
            elif rc not in (0, 4) and prog_failed == 0:
                failed += 1
                failures.append(f'{name}: exit code {rc} without a failed test')
            continue
        m = KCASE.match(line) if in_kunit else RESULT.match(line)
        if not m:
            continue
        status, name, skip = m.group(1), m.group(2), m.group(3)
        prog_results += 1
        if skip:
            skipped += 1
        elif status == 'ok':
            passed += 1
        else:
            failed += 1
            prog_failed += 1
            failures.append(name)
    for name in failures:
        print(f'FAILED: {name}')
    total = passed + failed + skipped
    if total == 0:
        failed += 1
        print('FAILED: no test ran')
    print(f'{passed} passed, {failed} failed, {skipped} skipped')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
