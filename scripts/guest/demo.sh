#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of `make demo`: run each sample with a short explanation.
echo "kmbuf demo on $(uname -r)"
modprobe kmbuf_chr
ran=0
for s in /samples/*; do
	[ -x "$s" ] || continue
	echo
	echo "=== $(basename "$s") ==="
	"$s" || { echo "sample $(basename "$s") failed"; exit 1; }
	ran=$((ran + 1))
done
if [ $ran -eq 0 ]; then
	echo
	echo "=== no samples yet: reading /dev/kmbuf_chr with dd ==="
	dd if=/dev/kmbuf_chr bs=64 count=2 2>/dev/null | hexdump -C
fi
