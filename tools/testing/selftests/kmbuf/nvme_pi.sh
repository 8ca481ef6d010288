#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The test guest's real device, seen through nvme-cli: an NVMe namespace
# with 8 bytes of metadata per 512-byte block holding T10 protection
# information (type 1), which the block layer generates on writes and
# verifies on reads.  nvme-cli lists and identifies it, formats it to
# other LBA formats and back, and plants a bad guard tag that a read of the
# block then fails on (EILSEQ) while its neighbours read fine.  Leaves the
# namespace formatted 512 + 8 with PI type 1, as it found it.  Skips
# without the namespace or nvme-cli.

NS=/dev/nvme0n1
SYS=/sys/block/nvme0n1
T=/tmp/nvme_pi.$$
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n $*"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n $*"; }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else notok "$desc"; fi; }

echo "TAP version 13"
if [ ! -b $NS ] || ! command -v nvme >/dev/null; then
	echo "1..0 # SKIP no NVMe namespace or no nvme-cli"
	exit 4
fi
echo "1..13"
mkdir -p $T
modprobe -r kmbuf_blk 2>/dev/null

# nvme format, waiting for the kernel to see the namespace's new format
format() {
	nvme format $NS --lbaf="$1" --pi="$2" --ses=0 --force >/dev/null 2>&1 ||
		return 1
	i=0
	while [ $i -lt 50 ]; do
		[ "$(cat $SYS/queue/logical_block_size)" = "$3" ] &&
			[ "$(cat $SYS/integrity/format)" = "$4" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# block $1 (of $2 bytes) written and read back with O_DIRECT
roundtrip() {
	dd if=/dev/urandom of=$T/w bs="$2" count=1 2>/dev/null &&
	dd if=$T/w of=$NS bs="$2" seek="$1" count=1 oflag=direct 2>/dev/null &&
	dd if=$NS of=$T/r bs="$2" skip="$1" count=1 iflag=direct 2>/dev/null &&
	cmp -s $T/w $T/r
}

# whatever fails, the namespace goes back to 512 + 8 with PI type 1
trap 'format 1 1 512 T10-DIF-TYPE1-CRC; rm -rf $T' EXIT

nvme list > $T/list 2>&1
check "nvme list shows the namespace as 512 B + 8 B" \
	grep -q "^$NS .*512   B +  8 B" $T/list
nvme id-ns $NS -H > $T/id 2>&1
check "nvme id-ns: LBA format 1 (512 + 8) in use" \
	grep -q "LBA Format  1 : Metadata Size: 8   bytes - Data Size: 512 bytes.*(in use)" $T/id
check "nvme id-ns: protection information type 1 enabled (dps 0x1)" \
	grep -q "^dps *: 0x1" $T/id
check "the block layer verifies and generates PI" sh -c \
	"[ \"\$(cat $SYS/integrity/format)\" = T10-DIF-TYPE1-CRC ] &&
	 [ \$(cat $SYS/integrity/read_verify) = 1 ] &&
	 [ \$(cat $SYS/integrity/write_generate) = 1 ]"

check "nvme format to 4096 + 8 with PI type 1" \
	format 5 1 4096 T10-DIF-TYPE1-CRC
check "4096-byte blocks with PI round-trip" roundtrip 7 4096
check "nvme format to 512 + 0: no metadata, no PI" format 0 0 512 none
check "512-byte blocks without PI round-trip" roundtrip 9 512
check "nvme format back to 512 + 8 with PI type 1" \
	format 1 1 512 T10-DIF-TYPE1-CRC

# Blocks 16..23 written with PI, then block 20 rewritten by nvme-cli with
# its own data and reference tag but a wrong guard, with PRINFO 0 (the
# controller checks nothing and stores the metadata it is given).
dd if=/dev/urandom of=$T/data bs=4096 count=1 2>/dev/null
dd if=$T/data of=$NS bs=4096 seek=2 count=1 oflag=direct 2>/dev/null
dd if=$T/data of=$T/blk20 bs=512 skip=4 count=1 2>/dev/null
printf '\336\255\000\000\000\000\000\024' > $T/md
check "nvme write plants a bad guard tag on block 20" \
	nvme write $NS --start-block=20 --block-count=0 --data-size=512 \
	--data=$T/blk20 --metadata-size=8 --metadata=$T/md --prinfo=0
check "a read of block 20 fails with EILSEQ" sh -c \
	"! dd if=$NS of=$T/r bs=512 skip=20 count=1 iflag=direct 2>$T/err &&
	 grep -q 'Invalid or incomplete multibyte' $T/err"
dd if=$T/data of=$T/before bs=512 count=4 2>/dev/null
dd if=$T/data of=$T/after bs=512 skip=5 count=3 2>/dev/null
check "blocks 16..19 and 21..23 still read and match" sh -c \
	"dd if=$NS of=$T/r1 bs=512 skip=16 count=4 iflag=direct 2>/dev/null &&
	 dd if=$NS of=$T/r2 bs=512 skip=21 count=3 iflag=direct 2>/dev/null &&
	 cmp -s $T/r1 $T/before && cmp -s $T/r2 $T/after"
check "nvme read without checks returns block 20's data unchanged" sh -c \
	"nvme read $NS --start-block=20 --block-count=0 --data-size=512 \
	 --data=$T/raw --prinfo=0 >/dev/null 2>&1 && cmp -s $T/raw $T/blk20"
[ $fails -eq 0 ]
