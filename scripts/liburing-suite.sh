#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Regression check against liburing's upstream test suite (developer tool,
# not part of `make check`: liburing's source is not part of this project).
#
#   scripts/liburing-suite.sh /path/to/liburing [NAME.t ...]
#
# (a git repo or work tree; with test names, only those run.)
#
# Builds liburing's tests statically, runs them in our guest (in batches, to
# keep the initramfs small) and compares with the stock-6.12 results in
# ../shared/reference/liburing-suite-stock-6.12.txt: a test that passed on the
# stock kernel and does not pass on ours is a regression.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=${1:?usage: $0 LIBURING_SOURCE_DIR [NAME.t ...]}
shift
work=$B/liburing
ref=${LIBURING_REF:-$KMBUF_TOP/../shared/reference/liburing-suite-stock-6.12.txt}
rm -rf "$work/src" "$work/tests"
mkdir -p "$work/tests"
if [ -d "$src/.git" ] || git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$src" archive --format=tar --prefix=src/ HEAD | tar -x -C "$work"
else
	cp -a "$src" "$work/src"
fi
log "building liburing tests ($(git -C "$src" describe --tags 2>/dev/null || echo unknown))"
(cd "$work/src" && ./configure --cc=gcc >/dev/null &&
	make -j"$(nproc)" -s LDFLAGS=-static >"$work/build.log" 2>&1) ||
	{ tail -20 "$work/build.log"; die "liburing build failed"; }
cp "$work"/src/test/*.t "$work/tests/"
strip "$work"/tests/*.t

make -s -C "$KMBUF_TOP" initramfs >/dev/null
: > "$work/results.txt"
batch=0
if [ $# -gt 0 ]; then printf '%s\n' "$@"; else ls "$work/tests"; fi |
	split -l 64 - "$work/batch."
for b in "$work"/batch.*; do
	batch=$((batch + 1))
	log "batch $batch: $(wc -l < "$b") tests"
	files=()
	while read -r t; do files+=(-f "$work/tests/$t"); done < "$b"
	VM_MEM=3G "$KMBUF_TOP/scripts/vm.sh" run -t 3600 -o "$B/vm/liburing-$batch" \
		"${files[@]}" -f "$KMBUF_TOP/scripts/guest/liburing-run.sh" \
		-- "LU_TIMEOUT=${LU_TIMEOUT:-60} sh ./liburing-run.sh" >> "$work/results.txt" || true
done
rm -f "$work"/batch.*

pass=$(grep -c '^LU PASS' "$work/results.txt" || true)
fail=$(grep -c '^LU FAIL' "$work/results.txt" || true)
skip=$(grep -c '^LU SKIP' "$work/results.txt" || true)
echo "ours:  $pass passed, $fail failed, $skip skipped"
grep '^LIBURING:' "$ref" | sed 's/^LIBURING:/stock:/'
regress=0
while read -r _ st name _; do
	[ "$st" = PASS ] || continue
	[ $# -eq 0 ] || printf '%s\n' "$@" | grep -qxF "$name" || continue
	now=$(awk -v n="$name" '$1 == "LU" && $3 == n { print $2 }' "$work/results.txt")
	if [ "$now" != PASS ]; then
		echo "REGRESSION: $name stock PASS, ours ${now:-missing}"
		regress=1
	fi
done < <(grep '^LU ' "$ref")
grep 'reg-wait:' "$work/results.txt" || true
[ $regress -eq 0 ] && echo "no regression against stock 6.12"
exit $regress
