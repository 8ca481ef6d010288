#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kbuild.sh LOG CMD...: run the kernel build CMD with its output in LOG and
# exit with its status. While it runs, print a line every KMBUF_PROGRESS
# seconds (default 60, 0 for none) with the objects compiled so far, an
# estimate of the total and the elapsed time, so a long first build shows
# that it is alive. A build shorter than the interval prints nothing.
#
# The estimate of the total is the number of objects in $OBJ after the last
# complete build or, before the first one, a count measured for the flavour
# (it grows with the config; shown with a "~").
#
# The body is one { } block, so bash has read all of it before the build
# starts: a checkout that rewrites this file during a build cannot change
# what the running copy does next.
{
set -uo pipefail
. "$(dirname "$0")/lib.sh"

log=$1
shift
interval=${KMBUF_PROGRESS:-60}
count=$OBJ/.kmbuf-objects
mark=$OBJ/.kmbuf-build-start

count_objects() { find "$OBJ" -name '*.o' "$@" 2>/dev/null | wc -l; }

total=$(cat "$count" 2>/dev/null || true)
if [ -z "$total" ]; then
	case "$KCONF" in
	min) total=1350 ;;	# kbuild's dry run of `all` here, 6.12.117
	debug) total=1460 ;;	# a complete debug build here, 6.12.117
	*) total= ;;
	esac
fi

# Runs in the background; stops on TERM, or by itself once this script has
# gone (background jobs ignore ^C).
progress() {
	local pid= n t line
	trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; exit 0' TERM
	while :; do
		sleep "$interval" </dev/null >/dev/null 2>&1 &
		pid=$!
		wait "$pid"
		pid=
		kill -0 $$ 2>/dev/null || exit 0
		n=$(count_objects -newer "$mark")
		t=$SECONDS
		line="$n objects compiled"
		if [ -n "$total" ] && [ "$n" -le "$total" ]; then
			line="$n of ~$total objects compiled ($((n * 100 / total))%)"
		fi
		printf '==> kernel build (%s): %s, %dm%02ds\n' "$KCONF" "$line" \
			$((t / 60)) $((t % 60))
	done
}

stop_progress() {
	[ -n "$mon" ] || return 0
	kill "$mon" 2>/dev/null
	wait "$mon" 2>/dev/null
	mon=
}

mkdir -p "$OBJ"
touch "$mark"
mon=
trap 'stop_progress' EXIT
trap 'stop_progress; exit 130' INT
trap 'stop_progress; exit 143' TERM HUP
if [ "$interval" -gt 0 ] 2>/dev/null; then
	progress &
	mon=$!
fi
"$@" >"$log" 2>&1
rc=$?
stop_progress
rm -f "$mark"
[ $rc -ne 0 ] || count_objects > "$count"
exit $rc
}
