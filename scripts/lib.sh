# SPDX-License-Identifier: GPL-2.0
# Shared shell helpers for the kmbuf build scripts. Sourced, not executed.

KMBUF_TOP=${KMBUF_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
B=${B:-$KMBUF_TOP/build}
TREE=${TREE:-$B/linux}
KCONF=${KCONF:-debug}
OBJ=${OBJ:-$B/obj-$KCONF}
SRC_TARBALL=${SRC_TARBALL:-/usr/src/linux-source-6.12.tar.xz}

# ccache without changing the compiler's command line: kbuild runs plain
# `gcc` (CC and HOSTCC), and $B/ccache-bin, first in PATH, holds a `gcc` link
# to ccache once ccache is installed (ccache then runs the next `gcc` in
# PATH). What kbuild records in its .cmd files and CONFIG_CC_VERSION_TEXT are
# the same with and without ccache, so a run where scripts/deps.sh installed
# ccache midway and the next run agree and nothing is rebuilt. The Makefile
# puts the same directory first in PATH.
ccache_link() {
	local dir=$B/ccache-bin cc
	case ":$PATH:" in
	*":$dir:"*) ;;
	*) PATH=$dir:$PATH ;;
	esac
	if cc=$(command -v ccache 2>/dev/null); then
		[ "$(readlink "$dir/gcc" 2>/dev/null)" = "$cc" ] && return 0
		mkdir -p "$dir" && ln -sfn "$cc" "$dir/gcc"
	else
		rm -f "$dir/gcc"
	fi
}
ccache_link

# Directories of the kernel tree that hold our new (overlay) files.
OVERLAY_DIRS="io_uring include drivers samples tools Documentation lib block"

die() { echo "ERROR: $*" >&2; exit 1; }
log() { echo "==> $*"; }

# phase NAME CMD...: run a phase and print how long it took.
phase() {
	local name=$1 t0 rc
	shift
	t0=$(date +%s)
	"$@"
	rc=$?
	printf '==> phase %-10s %4ds%s\n' "$name" $(( $(date +%s) - t0 )) \
		"$([ $rc -eq 0 ] || echo " (FAILED, rc=$rc)")" >&2
	return $rc
}
