#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The project's test command (make check): install dependencies, prepare the
# tree, build the debug kernel and the test programs, run every selftest and
# KUnit suite in one QEMU guest, run the static checks, and print
# "N passed, N failed, N skipped". Exits non-zero on any failure.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$KMBUF_TOP"

LOGS=$B/logs
mkdir -p "$LOGS"
results=$LOGS/results.tap
: > "$results"
t_start=$(date +%s)
M="make --no-print-directory KCONF=$KCONF"

fatal() {
	echo "ERROR: $*" >&2
	echo "# phase failed: $*" >> "$results"
	echo "not ok - $*" >> "$results"
	python3 "$KMBUF_TOP/scripts/tap-summary.py" "$results"
	exit 1
}

phase deps $M deps || fatal "installing dependencies"
phase tree $M tree || fatal "preparing the kernel tree"
phase config $M config || fatal "kernel config"
phase build $M kernel || fatal "kernel build"
phase progs $M progs || fatal "building test programs"
phase initramfs $M initramfs || fatal "building the initramfs"

# One boot runs every test; the guest log is scanned for splats afterwards.
boot_tests() {
	local rc=0
	"$KMBUF_TOP/scripts/vm.sh" run -l -t "${CHECK_TIMEOUT:-2400}" \
		-o "$B/vm/check" -- kmbuf-run-tests > "$LOGS/guest.log" 2>"$LOGS/guest.err" || rc=$?
	cat "$LOGS/guest.log" >> "$results"
	if [ $rc -eq 3 ]; then
		cat "$LOGS/guest.err" >&2
		echo "not ok - guest kernel log is clean (see $B/vm/check/console.log)" >> "$results"
	elif [ $rc -ne 0 ]; then
		cat "$LOGS/guest.err" >&2
		echo "not ok - guest ran the test suite to the end (vm rc=$rc)" >> "$results"
	else
		echo "ok - guest kernel log is clean (KASAN, lockdep, kmemleak)" >> "$results"
	fi
	return 0
}
phase boot boot_tests

phase static "$KMBUF_TOP/scripts/static.sh" >> "$results"

echo "==> total $(( $(date +%s) - t_start ))s; full results: $results"
python3 "$KMBUF_TOP/scripts/tap-summary.py" "$results"
