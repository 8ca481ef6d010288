#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Regression check against liburing's upstream test suite (developer tool,
# not part of `make check`: liburing's source is not part of this project).
#
#   scripts/liburing-suite.sh /path/to/liburing [NAME.t ...]
#
# (a git repo, bare or not, or a plain source directory; with test names,
# only those run.)
#
# Builds liburing's tests statically and runs them, one guest per batch of 64
# tests (LU_TIMEOUT seconds each, default 60, guest with 3 GiB), on two
# kernels booted the same way with the same initramfs:
#
#   ours   our $KCONF kernel (build/obj-$KCONF, `make initramfs`)
#   stock  the pristine Debian tree (build/linux's `base` tag, no patches/, no
#          overlay) exported to build/stock/linux and configured by
#          scripts/config.sh from the same fragments as ours, built in
#          build/stock/obj-$KCONF. Options that stock 6.12 does not have
#          (ours: CONFIG_KMBUF_*, CONFIG_SAMPLE_KMBUF) drop out and are listed;
#          any other difference stops the script.
#
# Results: build/liburing/results-{ours,stock}-$KCONF.txt. The comparison
# shows every test on stock-same-config, ours and the Debian-config
# reference (../shared/reference/liburing-suite-stock-6.12.txt: the stock
# kernel with Debian's config, not a debug one, so timing-sensitive tests
# differ from both). A test that passes on stock-same-config and not on ours
# is a regression: the exit status is then 1.
#
# Environment:
#   LIBURING_REV  revision of a git source to build (default HEAD), e.g.
#                 liburing-2.15
#   LU_KERNELS    kernels to run, in order (default "stock ours"; two
#                 invocations with one kernel each may run at once); "none"
#                 only compares the result files already in build/liburing
#   LU_TIMEOUT    seconds per test (default 60)
#   LIBURING_REF  the Debian-config reference file
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=${1:?usage: $0 LIBURING_SOURCE [NAME.t ...]}
shift
work=$B/liburing
ref=${LIBURING_REF:-$KMBUF_TOP/../shared/reference/liburing-suite-stock-6.12.txt}
kernels=${LU_KERNELS:-stock ours}
[ "$kernels" != none ] || kernels=
# build/stock/{linux,obj-$KCONF} mirror build/{linux,obj-$KCONF}: the same
# relative paths let ccache (preprocessor mode) reuse our kernel's objects
# for every file that neither our patches nor our options change.
STREE=$B/stock/linux
SOBJ=$B/stock/obj-$KCONF
JOBS=${JOBS:-$(( $(nproc) + 1 ))}

# liburing's tests, built statically into $work/tests (reused while the
# source revision is the same).
build_tests() {
	local rev="" desc
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
		rev=$(git -C "$src" rev-parse --verify "${LIBURING_REV:-HEAD}^{commit}") ||
			die "$src has no revision ${LIBURING_REV:-HEAD}"
		desc=$(git -C "$src" describe --tags "$rev" 2>/dev/null || echo "$rev")
	else
		desc="$src (not a git repo)"
	fi
	if [ -n "$rev" ] && [ "$(cat "$work/tests/.rev" 2>/dev/null)" = "$rev" ]; then
		log "liburing tests of $desc already built"
		return 0
	fi
	rm -rf "$work/src" "$work/tests"
	mkdir -p "$work/tests"
	if [ -n "$rev" ]; then
		git -C "$src" archive --format=tar --prefix=src/ "$rev" | tar -x -C "$work"
	else
		cp -a "$src" "$work/src"
	fi
	log "building liburing tests ($desc)"
	(cd "$work/src" && ./configure --cc=gcc >/dev/null &&
		make -j"$(nproc)" -s LDFLAGS=-static >"$work/build.log" 2>&1) ||
		{ tail -20 "$work/build.log"; die "liburing build failed"; }
	cp "$work"/src/test/*.t "$work/tests/"
	strip "$work"/tests/*.t
	echo "$desc" > "$work/tests/.desc"
	[ -z "$rev" ] || echo "$rev" > "$work/tests/.rev"
}

# The stock kernel: base tree, our config fragments, its own object dir.
stock_kernel() {
	local base stamp want line sym bad=0
	flock "$B/.lock" "$KMBUF_TOP/scripts/tree.sh" prepare
	base=$(git -C "$TREE" rev-parse base)
	if [ "$(cat "$B/stamps/stock-base" 2>/dev/null)" != "$base" ] || [ ! -f "$STREE/Makefile" ]; then
		log "exporting build/linux's base ($base) to $STREE"
		rm -rf "$STREE" "$SOBJ"
		mkdir -p "$STREE"
		git -C "$TREE" archive base | tar -x -C "$STREE"
		echo "$base" > "$B/stamps/stock-base"
	fi
	# config.sh checks every option of every fragment; the ones stock does
	# not know fail that check, anything else means not like for like.
	stamp=$SOBJ/.lu-config-stamp
	want=$(cat "$KMBUF_TOP"/configs/*.config "$KMBUF_TOP"/tools/testing/selftests/kmbuf/config \
		"$B/stamps/base" 2>/dev/null | sha1sum | cut -d' ' -f1)
	if [ ! -f "$SOBJ/.config" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
		mkdir -p "$SOBJ"
		TREE=$STREE OBJ=$SOBJ "$KMBUF_TOP/scripts/config.sh" 2>"$SOBJ/.lu-config.log" || true
		[ -f "$SOBJ/.config" ] || { cat "$SOBJ/.lu-config.log"; die "stock config failed"; }
		: > "$SOBJ/.lu-dropped"
		while read -r line; do
			case "$line" in
			"config: "*" asks for "*", got: unset")
				sym=${line#* asks for }; sym=${sym%%=*}
				if grep -rqsE --include='Kconfig*' "^(menu)?config ${sym#CONFIG_}\$" "$STREE"; then
					echo "stock config: $sym exists in stock 6.12 but stayed off" >&2
					bad=1
				else
					echo "$sym" >> "$SOBJ/.lu-dropped"
				fi ;;
			"ERROR: kernel config does not match"*) ;;
			*) echo "stock config: $line" >&2; bad=1 ;;
			esac
		done < "$SOBJ/.lu-config.log"
		[ $bad -eq 0 ] || die "stock kernel config differs from ours beyond our own options"
		sort -u -o "$SOBJ/.lu-dropped" "$SOBJ/.lu-dropped"
		echo "$want" > "$stamp"
	fi
	log "stock config: options stock 6.12 lacks, dropped: $(tr '\n' ' ' < "$SOBJ/.lu-dropped")"
	if [ -f "$OBJ/.config" ]; then
		log "stock .config vs ours (build/obj-$KCONF), set options only:"
		diff <(grep '^CONFIG_' "$SOBJ/.config" | sort) <(grep '^CONFIG_' "$OBJ/.config" | sort) |
			sed -n 's/^< /    stock only: /p; s/^> /    ours only:  /p' || true
	fi
	local -a cc=()
	! command -v ccache >/dev/null || cc=("CC=ccache gcc" "HOSTCC=ccache gcc")
	mkdir -p "$B/logs"
	log "building stock kernel in $SOBJ, log: $B/logs/build-stock.log"
	CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} CCACHE_BASEDIR=$B \
	KBUILD_BUILD_USER=kmbuf KBUILD_BUILD_HOST=kmbuf KBUILD_BUILD_TIMESTAMP=2026-01-01 \
		make -s -C "$STREE" O="$SOBJ" -j"$JOBS" \
		"${cc[@]}" bzImage >"$B/logs/build-stock.log" 2>&1 ||
		{ tail -20 "$B/logs/build-stock.log"; die "stock kernel build failed"; }
}

# run_suite KIND IMAGE: every test in $work/list.$$, results to
# $work/results-KIND-$KCONF.txt. A test that takes the guest down (no result
# after its LUSTART) is recorded as failed and the rest of its batch reruns.
run_suite() {
	local kind=$1 image=$2 out=$work/results-$1-$KCONF.txt
	local batch=0 rc t0 t1 last n
	local -a pending chunk files
	mapfile -t pending < "$work/list.$$"
	{
		echo "# liburing $(cat "$work/tests/.desc"), kernel: $kind ($image)"
		echo "# LU_TIMEOUT=${LU_TIMEOUT:-60} VM_MEM=3G VM_CPU=${VM_CPU:-max} ACCEL=${ACCEL:-auto}"
	} > "$out"
	t0=$(date +%s)
	while [ ${#pending[@]} -gt 0 ]; do
		batch=$((batch + 1))
		chunk=("${pending[@]:0:64}")
		pending=("${pending[@]:64}")
		log "$kind: batch $batch: ${#chunk[@]} tests"
		files=()
		for t in "${chunk[@]}"; do files+=(-f "$work/tests/$t"); done
		rc=0
		VM_KERNEL=$image VM_MEM=3G "$KMBUF_TOP/scripts/vm.sh" run -t 3600 \
			-o "$B/vm/liburing-$kind-$batch" "${files[@]}" \
			-f "$KMBUF_TOP/scripts/guest/liburing-run.sh" \
			-- "LU_TIMEOUT=${LU_TIMEOUT:-60} sh ./liburing-run.sh" \
			> "$work/batch-$kind.out" 2> "$work/batch-$kind.err" || rc=$?
		grep -v '^LUSTART ' "$work/batch-$kind.out" >> "$out" || true
		echo "LUINFO batch $batch vm-rc=$rc log=$B/vm/liburing-$kind-$batch/console.log" >> "$out"
		if [ -s "$work/batch-$kind.err" ]; then
			echo "---- $kind batch $batch: vm.sh rc=$rc ----" >&2
			head -40 "$work/batch-$kind.err" >&2
			sed 's/^/LUVM /' "$work/batch-$kind.err" >> "$out"
		fi
		last=$(sed -n 's/^LUSTART //p' "$work/batch-$kind.out" | tail -1)
		if [ -n "$last" ] && ! grep -q "^LU [A-Z]* $last " "$work/batch-$kind.out"; then
			echo "LU FAIL $last rc=guest-died-$rc" >> "$out"
			# the tests of the batch after $last did not run
			n=0
			for t in "${chunk[@]}"; do
				n=$((n + 1))
				[ "$t" = "$last" ] && break
			done
			pending=("${chunk[@]:$n}" "${pending[@]}")
		elif [ -z "$last" ] && [ $rc -ne 0 ]; then
			# the guest ran none of them
			for t in "${chunk[@]}"; do
				echo "LU FAIL $t rc=guest-failed-$rc"
			done >> "$out"
		fi
	done
	t1=$(date +%s)
	echo "LUINFO wall $((t1 - t0))s" >> "$out"
	log "$kind: $((t1 - t0))s, results in $out"
	rm -f "$work/batch-$kind.out" "$work/batch-$kind.err"
}

# Print "name STATUS[(rc)] t=" lines for a result file (empty if missing).
results_of() {
	[ -f "$1" ] || return 0
	awk '$1 == "LU" && $2 ~ /^(PASS|FAIL|SKIP)$/ {
		s = $2; t = "";
		for (i = 4; i <= NF; i++) {
			if ($i ~ /^rc=/) s = s "(" substr($i, 4) ")";
			if ($i ~ /^t=/) t = substr($i, 3);
		}
		print $3, s, t }' "$1"
}

counts() {
	[ -f "$1" ] || { echo "no results ($1)"; return 0; }
	printf '%d passed, %d failed, %d skipped' \
		"$(grep -c '^LU PASS ' "$1" || true)" "$(grep -c '^LU FAIL ' "$1" || true)" \
		"$(grep -c '^LU SKIP ' "$1" || true)"
}

# excerpt FILE NAME: a failed test's output tail from a result file.
excerpt() {
	[ -f "$1" ] || return 0
	awk -v n="$2" '$1 == "LU" { on = ($2 == "FAIL" && $3 == n); next } on && /^   \| /' "$1"
}

compare() {
	local ours=$work/results-ours-$KCONF.txt stock=$work/results-stock-$KCONF.txt
	local table=$work/compare-$KCONF.txt tsv=$work/compare-$KCONF.tsv regress=0
	local name r s st o ot note
	# name, Debian ref, stock-same, its time, ours, its time, note
	{
		results_of "$ref" | sed 's/^/r /'
		results_of "$stock" | sed 's/^/s /'
		results_of "$ours" | sed 's/^/o /'
	} | awk -v only="$*" -v have_stock="$([ -f "$stock" ] && echo 1)" '
	BEGIN { n = split(only, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
	n && !($2 in want) { next }
	{ names[$2] = 1; st[$1, $2] = $3; tm[$1, $2] = ($4 == "" ? "-" : $4) }
	END {
		for (x in names) {
			r = (("r", x) in st) ? st["r", x] : "-"
			s = (("s", x) in st) ? st["s", x] : "-"
			o = (("o", x) in st) ? st["o", x] : "-"
			note = "-"
			if (s == "PASS" && o != "PASS") note = "REGRESSION"
			else if (!have_stock && r == "PASS" && o != "PASS" && o != "-") note = "REGRESSION-vs-Debian-ref"
			else if (s != "-" && o != "-" && s != o) note = "differs-from-stock"
			printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x, r, s, \
				(("s", x) in tm) ? tm["s", x] : "-", o, \
				(("o", x) in tm) ? tm["o", x] : "-", note
		}
	}' | LC_ALL=C sort > "$tsv"
	{
		echo "liburing $(cat "$work/tests/.desc" 2>/dev/null); kernel flavour $KCONF; LU_TIMEOUT=${LU_TIMEOUT:-60}s per test"
		echo "ours:              $(counts "$ours")"
		echo "stock same config: $(counts "$stock")"
		echo "Debian reference:  $(grep '^LIBURING:' "$ref" | sed 's/^LIBURING: *//')"
		for f in "$stock" "$ours"; do
			[ -f "$f" ] || continue
			echo "  $(basename "$f"): $(sed -n 's/^LUINFO kernel //p' "$f" | head -1);" \
				"wall $(sed -n 's/^LUINFO wall //p' "$f");" \
				"vm.sh exit per batch: $(sed -n 's/^LUINFO batch [0-9]* vm-rc=\([0-9]*\).*/\1/p' "$f" | tr '\n' ' ')"
		done
		echo
		printf '%-32s %-10s %-16s %-16s %s\n' TEST DEBIAN-REF STOCK-SAME OURS NOTE
		while IFS=$'\t' read -r name r s st o ot note; do
			[ "$st" = - ] || s="$s $st"
			[ "$ot" = - ] || o="$o $ot"
			[ "$note" != - ] || note=
			printf '%-32s %-10s %-16s %-16s %s\n' "$name" "$r" "$s" "$o" "$note"
		done < "$tsv"
	} > "$table"
	cat "$table"
	echo
	echo "(a) pass on stock-same-config, not on ours (regressions):"
	awk -F'\t' '$7 == "REGRESSION" { print "  " $1 ": stock-same " $3 ", ours " $5 }' "$tsv" |
		tee "$work/regressions" | grep . || echo "  none"
	if [ ! -f "$stock" ]; then
		echo "  (no stock-same-config results; against the Debian reference instead:)"
		awk -F'\t' '$7 == "REGRESSION-vs-Debian-ref" { print "  " $1 ": Debian-ref " $2 ", ours " $5 }' "$tsv" |
			tee -a "$work/regressions"
	fi
	[ ! -s "$work/regressions" ] || regress=1
	echo "(b) differences from the Debian-config reference:"
	awk -F'\t' '$2 != "-" && (($5 != "-" && $5 != $2) || ($3 != "-" && $3 != $2)) {
		printf "  %-32s Debian-ref %-10s stock-same %-10s ours %s\n", $1, $2, $3, $5 }' "$tsv" |
		grep . || echo "  none"
	echo "Output of tests whose result differs between stock-same-config and ours:"
	awk -F'\t' '$7 == "REGRESSION" || $7 == "differs-from-stock" { print $1 }' "$tsv" |
	while read -r name; do
		echo "  $name"
		echo "    stock-same: $(awk -F'\t' -v n="$name" '$1 == n { print $3, $4 }' "$tsv")"
		excerpt "$stock" "$name" | sed 's/^/    /'
		echo "    ours: $(awk -F'\t' -v n="$name" '$1 == n { print $5, $6 }' "$tsv")"
		excerpt "$ours" "$name" | sed 's/^/    /'
	done
	for f in "$stock" "$ours"; do
		[ -f "$f" ] || continue
		grep -h 'reg-wait: ' "$f" | head -3 | sed "s/^/  $(basename "$f" .txt): /" || true
		! grep -q '^LUVM ' "$f" ||
			echo "  $(basename "$f"): vm.sh reported problems (LUVM lines; a kernel splat makes it exit 3)"
	done
	echo "table: $table"
	[ $regress -eq 0 ] && echo "no regression against stock 6.12 with the same config"
	return $regress
}

[ -f "$ref" ] || die "no reference file $ref"
if [ -n "$kernels" ]; then
	build_tests
	mkdir -p "$work"
	if [ $# -gt 0 ]; then
		for t in "$@"; do
			[ -f "$work/tests/$t" ] || die "no test $t in liburing's test/"
		done
		printf '%s\n' "$@" | LC_ALL=C sort > "$work/list.$$"
	else
		(cd "$work/tests" && ls -1 -- *.t) | LC_ALL=C sort > "$work/list.$$"
	fi
	log "building our kernel and the initramfs (make initramfs)"
	make -s -C "$KMBUF_TOP" initramfs >/dev/null
	for k in $kernels; do
		case "$k" in
		ours)	run_suite ours "$OBJ/arch/x86/boot/bzImage" ;;
		stock)	stock_kernel
			run_suite stock "$SOBJ/arch/x86/boot/bzImage" ;;
		*)	die "LU_KERNELS: unknown kernel $k (ours, stock)" ;;
		esac
	done
	rm -f "$work/list.$$"
fi
compare "$@"
