#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The stress campaign (./stress) as an unprivileged user, one run per seed:
# loads the modules (kmbuf_blk stacked on the NVMe namespace too, when the
# guest has one), makes the device nodes accessible, creates a memory
# cgroup with a low memory.max and runs ./stress in it; ./stress sets
# RLIMIT_MEMLOCK, becomes uid 65534 without capabilities and starts an
# intruder as uid 65533.  Fails if a run fails or the kernel OOM-killed
# anything.  make check runs the bounded form (STRESS_DURATION, default
# 120 s); `make stress DURATION=... SEEDS="..."` the long one.
#
#   stress_run.sh [-d SECONDS | -n OPS] [-s "SEED..."] [-p PROCS] [-t THREADS]
cd "$(dirname "$0")" || exit 1
DUR=${STRESS_DURATION:-120}
SEEDS=${STRESS_SEEDS:-1}
OPS=
PROCS=2
THREADS=2
MEMMAX=$((160 << 20))
MEMLOCK=$((4 << 20))
CG=/sys/fs/cgroup/kmbuf-stress
while getopts d:n:s:p:t: o; do
	case $o in
	d) DUR=$OPTARG ;;
	n) OPS=$OPTARG ;;
	s) SEEDS=$OPTARG ;;
	p) PROCS=$OPTARG ;;
	t) THREADS=$OPTARG ;;
	*) echo "usage: $0 [-d S | -n OPS] [-s SEEDS] [-p P] [-t T]"; exit 2 ;;
	esac
done

echo "TAP version 13"
if [ "$(id -u)" != 0 ] || [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
	echo "1..0 # SKIP needs root and cgroup2"
	exit 4
fi
set -- $SEEDS
echo "1..$(($# + 1))"

modprobe kmbuf_chr && modprobe kmbuf_tick && modprobe kmbuf_fixed_test
modprobe -r kmbuf_blk 2>/dev/null
if [ -b /dev/nvme0n1 ]; then
	modprobe kmbuf_blk lower=/dev/nvme0n1
else
	modprobe kmbuf_blk
fi
chmod 0666 /dev/kmbuf_chr /dev/kmbuf_tick /dev/kmbufblk* 2>/dev/null

echo +memory > /sys/fs/cgroup/cgroup.subtree_control
rmdir $CG 2>/dev/null
mkdir -p $CG
echo $MEMMAX > $CG/memory.max
echo 0 > $CG/memory.swap.max 2>/dev/null
oom0=$(dmesg | grep -c -E 'oom-kill|Out of memory|Killed process')

n=0
fails=0
OUT=/tmp/stress.out.$$
for seed in "$@"; do
	n=$((n + 1))
	rm -f $OUT
	if [ -n "$OPS" ]; then len="--ops $OPS"; else len="--duration $DUR"; fi
	# the workers start in the cgroup: this shell moves in first; each
	# line is passed on as it comes (sed would hold a stalled run's last)
	sh -c "echo \$\$ > $CG/cgroup.procs && ./stress --seed $seed \
		$len --procs $PROCS --threads $THREADS --user 65534 \
		--intruder 65533 --memlock $MEMLOCK --cgroup $CG; \
		echo \$? > $OUT" 2>&1 | while IFS= read -r l; do echo "# $l"; done
	rc=$(cat $OUT 2>/dev/null || echo 99)
	if [ $rc -eq 0 ]; then
		echo "ok $n stress seed $seed"
	elif [ $rc -eq 4 ]; then
		echo "ok $n stress seed $seed # SKIP"
	else
		fails=$((fails + 1))
		echo "not ok $n stress seed $seed (exit $rc)"
	fi
done
rm -f $OUT

n=$((n + 1))
kills=$(sed -n 's/^oom_kill //p' $CG/memory.events)
oom1=$(dmesg | grep -c -E 'oom-kill|Out of memory|Killed process')
if [ "$kills" = 0 ] && [ "$oom1" = "$oom0" ]; then
	echo "ok $n no OOM kill (cgroup oom_kill $kills, memory.max $MEMMAX)"
else
	fails=$((fails + 1))
	echo "not ok $n OOM kills: cgroup $kills, kernel log $((oom1 - oom0))"
fi
rmdir $CG 2>/dev/null
# the other tests load kmbuf_blk as they need it
i=0
while ! modprobe -r kmbuf_blk 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.2
	i=$((i + 1))
done
[ $fails -eq 0 ]
