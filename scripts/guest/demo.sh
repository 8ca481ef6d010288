#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of `make demo`: run each sample with a short explanation.
echo "kmbuf demo on $(uname -r)"
# the samples expect the demo drivers loaded, as after boot on a real system
modprobe kmbuf_chr && modprobe kmbuf_blk && modprobe kmbuf_tick || exit 1
ran=0
for s in /samples/*; do
	[ -x "$s" ] || continue
	echo
	echo "=== $(basename "$s") ==="
	"$s" || { echo "sample $(basename "$s") failed"; exit 1; }
	ran=$((ran + 1))
	# the same stream, buffers given back through a refill ring
	if [ "$(basename "$s")" = kmbuf-chr-stream ]; then
		echo
		echo "=== kmbuf-chr-stream --refill ==="
		"$s" --refill || { echo "sample kmbuf-chr-stream --refill failed"; exit 1; }
	fi
done
[ $ran -gt 0 ] || { echo "no sample in /samples"; exit 1; }
