#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Profile a command in the guest: run it between markers while
# tcg-profile.py samples the vCPUs through QEMU's monitor, then print the
# hottest kernel symbols.  Used by `make profile CMD=...`.
#
#   profile.sh CMD...
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -gt 0 ] || die "usage: profile.sh CMD..."
S=$KMBUF_TOP/scripts
out=$B/vm/profile
sock=$out.sock
rm -rf "$out" "$sock"
mkdir -p "$B/vm"

VM_QEMU_ARGS="-monitor unix:$sock,server=on,wait=off" \
	"$S/vm.sh" run -o "$out" -- \
	"echo @@PROFILE-START; $*; echo @@PROFILE-END; cat /proc/kallsyms; echo @@PROFILE-SYMS" \
	> "$out.stdout" &
vm=$!
# out.log appears when QEMU starts; the sampler waits for the markers
while [ ! -e "$out/out.log" ] && kill -0 $vm 2>/dev/null; do sleep 0.2; done
python3 "$S/tcg-profile.py" "$sock" "$out/out.log" "${PROFILE_TOP:-40}" \
	> "$out.profile" || true
rc=0
wait $vm || rc=$?
sed -n '/@@PROFILE-START/,/@@PROFILE-END/p' "$out.stdout" | grep -v '@@PROFILE'
echo "---- profile (${out}.profile) ----"
cat "$out.profile"
rm -f "$sock"
exit $rc
