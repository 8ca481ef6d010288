#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Static checks on our code, printed as TAP (one result per file and check):
#  - checkpatch --strict: no ERROR or WARNING on overlay C files and patches;
#  - sparse (C=1) and W=1: our kernel objects compile without a warning;
#  - kernel-doc -Wall: headers and files that export symbols are clean;
#  - Sphinx: Documentation/io_uring builds without a warning;
#  - the manifest of the upstream series (series/) puts every patches/ and
#    overlay file in exactly one patch.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$KMBUF_TOP"

CP="perl $TREE/scripts/checkpatch.pl --strict --no-tree --terse --show-types --color=never"
# FILE_PATH_CHANGES: MAINTAINERS is handled by its own patch.
# SPDX_LICENSE_TAG: checkpatch insists on the first line, we keep it there anyway.
CP_IGNORE="--ignore FILE_PATH_CHANGES"

ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; }

srcs=$(git ls-files -co --exclude-standard -- $OVERLAY_DIRS | grep -E '\.[ch]$' | sort)
ksrcs=$(echo "$srcs" | grep -E '^(io_uring|drivers|lib|block)/.*\.c$' || true)
# our kernel headers: a warning in one is reported with the header's path
khdrs=$(echo "$srcs" | grep -E '^(io_uring|drivers|lib|block|include)/.*\.h$' |
	grep -v '^include/uapi/' || true)

# --- checkpatch ------------------------------------------------------------
for f in $srcs; do
	# as a patch adding the file, the way the series is checked: file mode
	# (-f) leaves out some warnings, e.g. LONG_LINE_STRING
	out=$(git diff --no-index /dev/null "$f" | $CP $CP_IGNORE - 2>&1 |
		grep -E ': (ERROR|WARNING):')
	if [ -z "$out" ]; then ok "checkpatch $f"; else notok "checkpatch $f"; echo "$out" | sed 's/^/#   /'; fi
done
for p in $(grep -v '^\s*\(#\|$\)' patches/series); do
	# through stdin: given a path that git tracks, checkpatch checks it as a
	# source file rather than as a patch
	out=$($CP $CP_IGNORE - < "patches/$p" 2>&1 | grep -E ': (ERROR|WARNING):')
	if [ -z "$out" ]; then ok "checkpatch patches/$p"; else notok "checkpatch patches/$p"; echo "$out" | sed 's/^/#   /'; fi
done

# --- the upstream series (make series) has every file in exactly one patch ---
out=$(KMBUF_TOP=$KMBUF_TOP OVERLAY_DIRS="$OVERLAY_DIRS" \
	python3 "$KMBUF_TOP/scripts/series.py" check 2>&1)
if [ $? -eq 0 ]; then ok "series manifest"; else notok "series manifest"; echo "$out" | sed 's/^/#   /'; fi

# --- sparse + W=1 on our kernel objects -------------------------------------
# The objects are rebuilt with W=1 C=1 while the kernel build's own objects
# and .cmd files wait in $stash; putting them back afterwards (mtimes kept)
# leaves the next `make kernel` with nothing to redo, where W=1 objects would
# make it recompile them and relink vmlinux and the modules.
stash=$OBJ/.kmbuf-static-stash
unstash() {
	[ -d "$stash" ] || return 0
	(cd "$stash" && find . -type f) | while read -r f; do
		mv -f "$stash/$f" "$OBJ/$f"
	done
	rm -rf "$stash"
}
if [ -n "$ksrcs" ]; then
	rm -rf "$stash"	# from a run killed outright: kbuild redoes those objects
	trap unstash EXIT
	objs=""
	for f in $ksrcs; do
		o=${f%.c}.o
		# only objects the current config builds; the others show up
		# as skipped, so that a file no config builds can't pass unseen
		if [ ! -f "$OBJ/$o" ]; then
			echo "ok - sparse+W=1 $f # SKIP not built by the $KCONF config"
			continue
		fi
		c=$(dirname "$o")/.$(basename "$o").cmd
		mkdir -p "$stash/$(dirname "$o")"
		mv "$OBJ/$o" "$stash/$o"
		[ ! -f "$OBJ/$c" ] || mv "$OBJ/$c" "$stash/$c"
		objs+=" $o"
	done
	if [ -n "$objs" ]; then
		out=$(make -s -C "$TREE" O="$OBJ" W=1 C=1 $objs 2>&1)
		for o in $objs; do
			f=${o%.o}.c
			w=$(echo "$out" | grep -E "${f%.c}\.[ch]:[0-9]+:.*(warning|error)" || true)
			if [ -f "$OBJ/$o" ] && [ -z "$w" ]; then
				ok "sparse+W=1 $f"
			else
				notok "sparse+W=1 $f"; echo "$w" | sed 's/^/#   /'
			fi
		done
		# warnings in our headers, from whichever object included them
		re=$(echo "$khdrs" | sed 's/\./\\./g' | paste -sd'|')
		w=""
		[ -z "$re" ] || w=$(echo "$out" |
			grep -E "(^|/)($re):[0-9]+:.*(warning|error)" | sort -u || true)
		if [ -z "$w" ]; then
			ok "sparse+W=1 our headers"
		else
			notok "sparse+W=1 our headers"; echo "$w" | sed 's/^/#   /'
		fi
	fi
	unstash
fi

# --- kernel-doc -------------------------------------------------------------
for f in $srcs; do
	case "$f" in
	include/*) ;;
	*) grep -q 'EXPORT_SYMBOL' "$f" || continue ;;
	esac
	out=$(perl "$TREE/scripts/kernel-doc" -none -Wall "$f" 2>&1)
	if [ -z "$out" ]; then ok "kernel-doc $f"; else notok "kernel-doc $f"; echo "$out" | sed 's/^/#   /'; fi
done

# --- Sphinx: our documents, their kernel-doc directives and the toctree -------
# (graphviz is not installed: its "dot(1) not found" notice is not ours)
# without sphinx-build the kernel's htmldocs target only prints SKIP
if command -v sphinx-build >/dev/null; then
	out=$(make -s -C "$TREE" O="$B/docs" SPHINXDIRS=io_uring htmldocs 2>&1)
	rc=$?
else
	out="sphinx-build not found (scripts/deps.sh installs python3-sphinx)"
	rc=127
fi
w=$(echo "$out" | grep -E 'WARNING|ERROR|CRITICAL' | grep -v 'dot(1) not found' || true)
if [ $rc -eq 0 ] && [ -z "$w" ]; then
	ok "htmldocs Documentation/io_uring"
else
	notok "htmldocs Documentation/io_uring (exit $rc)"
	echo "${w:-$(echo "$out" | tail -20)}" | sed 's/^/#   /'
fi
exit 0
