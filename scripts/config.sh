#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Generate $OBJ/.config: tinyconfig + configs/base.config (+ configs/debug.config
# for KCONF=debug) + the selftests' config fragment. Regenerated only when a
# fragment changes. Every option a fragment asks for is checked in the result,
# so an option that silently stays off (KASAN under SLUB_TINY, a missing
# dependency) fails here rather than in a test.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

frags=("$KMBUF_TOP/configs/base.config")
[ "$KCONF" = debug ] && frags+=("$KMBUF_TOP/configs/debug.config")
for f in "$KMBUF_TOP"/tools/testing/selftests/kmbuf/config \
	 "$KMBUF_TOP"/configs/kmbuf.config; do
	[ -f "$f" ] && frags+=("$f")
done

stamp=$OBJ/.kmbuf-config-stamp
want=$( (cat "${frags[@]}"; cat "$B/stamps/base" 2>/dev/null) | sha1sum | cut -d' ' -f1)
if [ -f "$OBJ/.config" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi

mkdir -p "$OBJ"
log "generating $KCONF kernel config"
make -s -C "$TREE" O="$OBJ" tinyconfig >/dev/null
"$TREE/scripts/kconfig/merge_config.sh" -m -O "$OBJ" "$OBJ/.config" "${frags[@]}" \
	>"$OBJ/.merge.log" 2>&1 || { cat "$OBJ/.merge.log"; die "merge_config failed"; }
make -s -C "$TREE" O="$OBJ" olddefconfig >/dev/null

bad=0
for f in "${frags[@]}"; do
	while read -r line; do
		case "$line" in
		CONFIG_*=*)
			sym=${line%%=*}
			grep -qxF "$line" "$OBJ/.config" || {
				echo "config: $f asks for $line, got: $(grep -E "^$sym=|^# $sym is not set" "$OBJ/.config" || echo unset)" >&2
				bad=1
			} ;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }; sym=${sym%% *}
			! grep -q "^$sym=" "$OBJ/.config" || {
				echo "config: $f wants $sym off, but it is on" >&2
				bad=1
			} ;;
		esac
	done < "$f"
done
[ $bad -eq 0 ] || die "kernel config does not match the fragments (missing dependency?)"
echo "$want" > "$stamp"
