#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of `make bench`: every benchmark in one boot, one after the other.
rc=0
for b in /kselftest/kmbuf/bench_*; do
	[ -x "$b" ] || continue
	echo
	echo "=== $(basename "$b") ==="
	"$b" || rc=1
done
exit $rc
