#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Host side of `make bench`: every benchmark in one guest run
# (scripts/guest/bench.sh), its tables printed, then collected as CSV files
# with one chart per table under build/bench/ (scripts/bench-report.py).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

out=$B/vm/bench
mkdir -p "$B/vm"
rc=0
VM_CPU=${VM_CPU:-max,-erms} "$KMBUF_TOP/scripts/vm.sh" run -t 1200 -o "$out" \
	-- kmbuf-bench > "$out.stdout" || rc=$?
grep -av '^@@CSV ' "$out.stdout" || true
python3 "$KMBUF_TOP/scripts/bench-report.py" "$out/out.log" "$B/bench" || true
exit $rc
