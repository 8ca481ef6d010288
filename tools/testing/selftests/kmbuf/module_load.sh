#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The kmbuf demo modules load, create their devices, refuse to unload while
# in use, and unload cleanly.

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n $*"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n $*"; }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else notok "$desc"; fi; }

echo "TAP version 13"
echo "1..12"
for m in kmbuf_chr kmbuf_tick; do
	modprobe -r $m 2>/dev/null
	check "modprobe $m" modprobe $m
	check "/dev/$m exists" test -c /dev/$m
	exec 9</dev/$m
	check "rmmod $m refused while a file is open" sh -c "! rmmod $m 2>/dev/null"
	exec 9<&-
	check "rmmod $m" rmmod $m
	check "/dev/$m gone" test ! -e /dev/$m
	i=0
	while [ $i -lt 20 ] && modprobe $m && rmmod $m; do i=$((i + 1)); done
	check "$m: 20 load/unload cycles" test $i -eq 20
done
[ $fails -eq 0 ]
