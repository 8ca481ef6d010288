#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of `make demo`: run each sample with a short explanation.
echo "kmbuf demo on $(uname -r)"
# The guest's real device: an NVMe namespace with protection information.
echo
echo "=== the NVMe namespace, as nvme-cli sees it ==="
nvme list || exit 1
nvme id-ns /dev/nvme0n1 -H | grep -E '^dps|in use' || exit 1
echo "integrity: $(cat /sys/block/nvme0n1/integrity/format)," \
	"verified on read: $(cat /sys/block/nvme0n1/integrity/read_verify)"

# the samples expect the demo drivers loaded, as after boot on a real
# system; kmbuf_blk with a RAM disk and a disk stacked on the namespace
modprobe kmbuf_chr && modprobe kmbuf_blk lower=/dev/nvme0n1 &&
	modprobe kmbuf_tick || exit 1
ran=0
for s in /samples/*; do
	[ -x "$s" ] || continue
	echo
	echo "=== $(basename "$s") ==="
	"$s" || { echo "sample $(basename "$s") failed"; exit 1; }
	ran=$((ran + 1))
	# the same verified reads, by DMA from the NVMe namespace, PI checked
	if [ "$(basename "$s")" = kmbuf-blk-verify ]; then
		echo
		echo "=== kmbuf-blk-verify /dev/kmbufblk-nvme0n1 ==="
		"$s" /dev/kmbufblk-nvme0n1 ||
			{ echo "sample kmbuf-blk-verify on NVMe failed"; exit 1; }
	fi
	# the same stream, buffers given back through a refill ring
	if [ "$(basename "$s")" = kmbuf-chr-stream ]; then
		echo
		echo "=== kmbuf-chr-stream --refill ==="
		"$s" --refill || { echo "sample kmbuf-chr-stream --refill failed"; exit 1; }
	fi
done
[ $ran -gt 0 ] || { echo "no sample in /samples"; exit 1; }
