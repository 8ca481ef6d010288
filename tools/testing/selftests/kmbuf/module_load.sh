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
echo "1..6"
modprobe -r kmbuf_chr 2>/dev/null
check "modprobe kmbuf_chr" modprobe kmbuf_chr
check "/dev/kmbuf_chr exists" test -c /dev/kmbuf_chr
exec 9</dev/kmbuf_chr
check "rmmod refused while a file is open" sh -c '! rmmod kmbuf_chr 2>/dev/null'
exec 9<&-
check "rmmod kmbuf_chr" rmmod kmbuf_chr
check "/dev/kmbuf_chr gone" test ! -e /dev/kmbuf_chr
i=0
while [ $i -lt 20 ] && modprobe kmbuf_chr && rmmod kmbuf_chr; do i=$((i + 1)); done
check "20 load/unload cycles" test $i -eq 20
[ $fails -eq 0 ]
