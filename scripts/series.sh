#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make series: export the project as a patch series against the base tree
# into build/series/ (scripts/series.py, manifest in series/) and print the
# patches with their diffstat.  SERIES_CHECK_ONLY=1 only checks that the
# manifest puts every patches/ and overlay file in exactly one patch.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export KMBUF_TOP TREE OVERLAY_DIRS

if [ "${SERIES_CHECK_ONLY:-0}" = 1 ]; then
	exec python3 "$KMBUF_TOP/scripts/series.py" check
fi
python3 "$KMBUF_TOP/scripts/series.py" export "$B/series"
log "series in $B/series (against $(cat "$B/stamps/base" 2>/dev/null || echo base)):"
git -C "$TREE" log --reverse --format='%s' --shortstat base..refs/kmbuf/series |
	awk 'NF == 0 { next }
	     /^ [0-9]+ files? changed/ {
		printf "%04d %-70s %s\n", ++n, subj, $0; next }
	     { subj = $0 }'
git -C "$TREE" diff --shortstat base refs/kmbuf/series | sed 's/^/total:/'
