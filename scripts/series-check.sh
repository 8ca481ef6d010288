#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Check the exported series (build/series, `make series`) the way a
# maintainer would: apply it one patch at a time with `git am` to a clean
# checkout of the base tree, build the kernel, modules and samples with the
# minimal config after each patch (a compiler warning fails it too), and
# run checkpatch --strict on each patch.  Prints a line per patch and a total; fails on a patch that does
# not apply or build, or that checkpatch finds an error or warning in.
# Its CHECKs are listed in build/series-check/checkpatch.txt.
#
#   series-check.sh [FIRST [LAST]]   build only patches FIRST..LAST (numbers);
#                                    every patch is still applied and checked
#   SERIES_CHECK_BUILD=0             apply and checkpatch only
#
# The checkout is build/series-check/linux (a git worktree of build/linux)
# and the build one incremental O= directory, build/series-check/obj.  A
# patch whose resulting tree already built with the same config is not
# built again (build/series-check/built), so a rerun after changing one
# patch builds from that patch on.  The config is the minimal kernel's
# (scripts/config.sh, KCONF=min, from the final tree) plus KUnit and the
# kmbuf KUnit suite, re-applied with olddefconfig after each patch:
# options of patches not applied yet drop out until their patch comes.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

SERIES=$B/series
C=$B/series-check
W=$C/linux
O=$C/obj
FIRST=${1:-${FIRST:-}}; FIRST=${FIRST:-1}
LAST=${2:-${LAST:-}}; LAST=${LAST:-9999}
BUILD=${SERIES_CHECK_BUILD:-1}
JOBS=${JOBS:-$(( $(nproc) + 1 ))}

ls "$SERIES"/0000-cover-letter.patch >/dev/null 2>&1 ||
	die "no series in $SERIES: run 'make series' first"
mkdir -p "$C"

# The config of the minimal kernel, generated from the final tree, plus
# KUnit and the kmbuf KUnit suite: the suite selects the kmbuf core, which
# is then built from the patch that adds it on, not only from the patch
# that adds the consumers.
if [ "$BUILD" != 0 ]; then
	KCONF=min OBJ=$C/cfg "$KMBUF_TOP/scripts/config.sh" ||
		die "could not generate the minimal config"
	"$TREE/scripts/config" --file "$C/cfg/.config" --enable KUNIT \
		--module IO_URING_KMBUF_KUNIT_TEST
	make -s -C "$TREE" O="$C/cfg" olddefconfig >/dev/null ||
		die "could not generate the series-check config"
	grep -qx 'CONFIG_IO_URING_KMBUF=y' "$C/cfg/.config" ||
		die "the series-check config does not build the kmbuf core"
	cfg_sum=$(sha1sum < "$C/cfg/.config" | cut -d' ' -f1)
fi

# A clean checkout of the base, as a worktree of build/linux.
if ! git -C "$W" rev-parse --git-dir >/dev/null 2>&1; then
	rm -rf "$W"
	git -C "$TREE" worktree prune
	git -C "$TREE" worktree add -q -f --detach "$W" base ||
		die "could not check out the base tree in $W"
	git -C "$W" config user.name "kmbuf developers"
	git -C "$W" config user.email "kmbuf-dev@example.invalid"
fi
git -C "$W" am --abort >/dev/null 2>&1 || true
git -C "$W" checkout -q -f --detach base && git -C "$W" clean -q -fd ||
	die "could not reset $W to the base tree"

: > "$C/checkpatch.txt"
touch "$C/built"
n=0 bad=0 built=0 cached=0 skipped=0 te=0 tw=0 tc=0
printf '%-4s %-62s %-6s %-12s %s\n' "#" "patch" "apply" "build" "checkpatch E/W/C"
for p in "$SERIES"/[0-9][0-9][0-9][0-9]-*.patch; do
	num=$(basename "$p" | cut -c1-4)
	[ "$num" = 0000 ] && continue
	n=$((n + 1))
	subj=$(sed -n 's/^Subject: \[PATCH[^]]*\] //p' "$p" | head -1 | cut -c1-62)
	status=ok
	if ! git -C "$W" am -q --keep-cr "$p" >"$C/am.log" 2>&1; then
		printf '%-4s %-62s %-6s\n' "$num" "$subj" FAIL
		sed 's/^/    /' "$C/am.log"
		bad=$((bad + 1))
		break
	fi

	# checkpatch: --no-tree as scripts/static.sh (the tree mode also runs
	# spdxcheck.py, which needs python3-ply and python3-git)
	out=$(cd "$W" && perl scripts/checkpatch.pl --strict --no-tree --terse \
		--show-types --color=never "$p" 2>&1)
	cprc=$?
	e= w= c=
	read -r e w c < <(echo "$out" | sed -n \
		's/^total: \([0-9]*\) errors, \([0-9]*\) warnings, \([0-9]*\) checks.*/\1 \2 \3/p')
	if [ -z "$e" ]; then
		# --terse prints nothing at all for a clean patch
		if [ $cprc -eq 0 ] && [ -z "$out" ]; then e=0 w=0 c=0
		else e=1 w=0 c=0; echo "$out" | sed 's/^/    /'; fi
	fi
	te=$((te + e)) tw=$((tw + w)) tc=$((tc + c))
	echo "$out" | grep -E ': (ERROR|WARNING|CHECK):' |
		sed "s|^$p|$(basename "$p")|" >> "$C/checkpatch.txt"
	[ $((e + w)) -eq 0 ] || status=FAIL

	b=-
	if [ "$BUILD" = 0 ]; then
		b=skipped
	elif [ "$((10#$num))" -lt "$FIRST" ] || [ "$((10#$num))" -gt "$LAST" ]; then
		b=skipped; skipped=$((skipped + 1))
	else
		key="$(git -C "$W" rev-parse HEAD^{tree}) $cfg_sum"
		if grep -qxF "$key" "$C/built"; then
			b="ok (done)"; cached=$((cached + 1))
		else
			t0=$(date +%s)
			mkdir -p "$O"
			cp "$C/cfg/.config" "$O/.config"
			if make -s -C "$W" O="$O" olddefconfig >"$C/config-$num.log" 2>&1 &&
			   KCONF=min OBJ=$O "$KMBUF_TOP/scripts/kbuild.sh" "$C/build-$num.log" \
				make -s -C "$W" O="$O" -j"$JOBS" all &&
			   ! grep -q 'warning:' "$C/build-$num.log"; then
				b="ok $(( $(date +%s) - t0 ))s"
				built=$((built + 1))
				echo "$key" >> "$C/built"
			else
				b=FAIL; status=FAIL
			fi
		fi
	fi
	printf '%-4s %-62s %-6s %-12s %s/%s/%s%s\n' "$num" "$subj" ok "$b" \
		"$e" "$w" "$c" "$([ $status = ok ] || echo "  <- FAILED")"
	if [ "$b" = FAIL ]; then
		grep -E 'error|Error|warning:' "$C/config-$num.log" "$C/build-$num.log" |
			head -20 | sed 's/^/    /'
	fi
	if [ $((e + w)) -ne 0 ]; then
		echo "$out" | grep -E ': (ERROR|WARNING):' | sed 's/^/    /'
	fi
	[ $status = ok ] || bad=$((bad + 1))
done

echo "series-check: $n patches, $bad failed; built $built, already built $cached, not built $skipped;" \
	"checkpatch --strict: $te errors, $tw warnings, $tc checks ($C/checkpatch.txt)"
[ $bad -eq 0 ] && [ $n -gt 0 ]
