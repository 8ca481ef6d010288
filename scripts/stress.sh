#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host side of `make stress`: the long form of the seeded stress campaign
# (tools/testing/selftests/kmbuf/stress.c through stress_run.sh) in one
# guest, one run per seed, as an unprivileged user in a memory cgroup; the
# guest's kernel log is scanned for splats and kmemleak at the end.
#
#   DURATION=S (per seed, default 600) or OPS=N (per seed),
#   SEEDS="1 2 3" (default 1), PROCS, THREADS (default 2 x 2)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-600}
SEEDS=${SEEDS:-1}
OPS=${OPS:-}
PROCS=${PROCS:-2}
THREADS=${THREADS:-2}
nseeds=$(echo "$SEEDS" | wc -w)
if [ -n "$OPS" ]; then
	len="-n $OPS"
	# a generous bound: the debug guest does some 100 operations a second
	per=$((OPS / 50 + 300))
else
	len="-d $DURATION"
	per=$((DURATION + 300))
fi
out=$B/vm/stress
mkdir -p "$B/vm" "$B/logs"
rc=0
"$KMBUF_TOP/scripts/vm.sh" run -l -t $((nseeds * per + 900)) -o "$out" -- \
	"/kselftest/kmbuf/stress_run.sh $len -s '$SEEDS' -p $PROCS -t $THREADS" \
	> "$B/logs/stress.log" || rc=$?
cat "$B/logs/stress.log"
log "stress: seeds $SEEDS, vm rc $rc; log $B/logs/stress.log, console $out/console.log"
exit $rc
