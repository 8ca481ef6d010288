# SPDX-License-Identifier: GPL-2.0
# Shared shell helpers for the kmbuf build scripts. Sourced, not executed.

KMBUF_TOP=${KMBUF_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
B=${B:-$KMBUF_TOP/build}
TREE=${TREE:-$B/linux}
KCONF=${KCONF:-debug}
OBJ=${OBJ:-$B/obj-$KCONF}
SRC_TARBALL=${SRC_TARBALL:-/usr/src/linux-source-6.12.tar.xz}

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
