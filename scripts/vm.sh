#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the guest's initramfs and boot the kernel in QEMU.
#
#   vm.sh initramfs
#       stage busybox, /init, modules, selftests and samples into
#       build/initramfs-$KCONF.cpio
#   vm.sh run [-f FILE]... [-t SECONDS] [-l] [-o DIR] -- CMD...
#       boot with FILE(s) copied into /work (the working directory), run CMD
#       with sh, print its output and exit with its exit code. -l asks
#       kmemleak for a scan at the end. The guest's kernel log is scanned for
#       splats (KASAN, lockdep, WARNING, BUG, Oops, kmemleak, hung task, RCU
#       stall); any splat is printed and makes the run fail (exit 3).
#       Logs: DIR (default build/vm/run-PID, linked as build/vm/last)/
#       console.log and out.log.
#       VM_APPEND adds kernel command line options.
#       VM_KERNEL boots another kernel image with the same initramfs
#       (default $OBJ/arch/x86/boot/bzImage); our modules in the initramfs
#       then do not match it, so only commands that load none work.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

STAGE=$B/initramfs-$KCONF
CPIO=$B/initramfs-$KCONF.cpio

initramfs() {
	local bb kver
	bb=$(command -v busybox) || die "busybox missing: run scripts/deps.sh"
	file -L "$bb" 2>/dev/null | grep -q 'statically linked' ||
		bb=/bin/busybox
	rm -rf "$STAGE"
	mkdir -p "$STAGE"/{bin,sbin,etc/kmbuf,proc,sys,dev,tmp,root,work,lib/modules}
	cp "$bb" "$STAGE/bin/busybox"
	ln -s busybox "$STAGE/bin/sh"
	cp "$KMBUF_TOP/scripts/guest/init" "$STAGE/init"
	chmod 755 "$STAGE/init"
	echo "root:x:0:0:root:/root:/bin/sh" > "$STAGE/etc/passwd"
	echo "nobody:x:65534:65534:nobody:/:/bin/false" >> "$STAGE/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' > "$STAGE/etc/group"
	# modules, installed the regular way (modprobe works in the guest)
	make -s -C "$TREE" O="$OBJ" modules_install INSTALL_MOD_PATH="$STAGE" \
		INSTALL_MOD_STRIP=1 DEPMOD=/sbin/depmod >/dev/null
	# selftests, samples, benchmarks (built by the Makefile into $B/progs)
	if [ -d "$B/progs" ]; then
		cp -a "$B/progs/." "$STAGE/"
	fi
	# nvme-cli and fio from Debian, with the shared libraries they load
	stage_prog "$(command -v nvme)" || die "nvme-cli missing: run scripts/deps.sh"
	stage_prog "$(command -v fio)" || die "fio missing: run scripts/deps.sh"
	cp "$KMBUF_TOP/scripts/guest/run-tests.sh" "$STAGE/bin/kmbuf-run-tests"
	cp "$KMBUF_TOP/scripts/guest/demo.sh" "$STAGE/bin/kmbuf-demo"
	cp "$KMBUF_TOP/scripts/guest/bench.sh" "$STAGE/bin/kmbuf-bench"
	chmod 755 "$STAGE/bin/kmbuf-run-tests" "$STAGE/bin/kmbuf-demo" \
		"$STAGE/bin/kmbuf-bench"
	(cd "$STAGE" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --quiet) > "$CPIO.tmp"
	mv "$CPIO.tmp" "$CPIO"
	log "initramfs $(du -h "$CPIO" | cut -f1)"
}

# Copy a dynamically linked program into the initramfs at the same path,
# with every library ldd finds for it, the loader included.
stage_prog() {
	local prog=$1 lib
	[ -n "$prog" ] && [ -x "$prog" ] || return 1
	mkdir -p "$STAGE$(dirname "$prog")"
	cp -L "$prog" "$STAGE$prog"
	for lib in $(ldd "$prog" | grep -o '/[^ ]*'); do
		[ -e "$STAGE$lib" ] && continue
		mkdir -p "$STAGE$(dirname "$lib")"
		cp -L "$lib" "$STAGE$lib"
	done
}

# The NVMe namespace every guest gets: 64 MiB of 512-byte blocks with 8
# bytes of metadata each, protection information type 1 in them (QEMU's
# nvme-ns ms/mset/pi/pil). The image is sparse, so blocks never written
# read back as deallocated, which QEMU reports with their PI checks off.
# build/vm/nvme.img is made when missing; each run writes to a copy.
NVME_BLOCKS=131072
nvme_image() {
	local img=$B/vm/nvme.img
	if [ ! -f "$img" ]; then
		mkdir -p "$B/vm"
		truncate -s $((NVME_BLOCKS * (512 + 8))) "$img.tmp"
		mv "$img.tmp" "$img"
	fi
	cp --sparse=always "$img" "$1"
}

accel() {
	# KVM only when the host really offers hardware virtualisation; on these
	# machines /dev/kvm exists but guests hang, and the CPU shows no vmx/svm.
	if [ -n "${ACCEL:-}" ]; then
		echo "$ACCEL"
	elif [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
		echo kvm
	else
		echo tcg
	fi
}

# Report kernel splats found in a console log; return 1 if any.
scan_log() {
	local log=$1 pat
	pat='BUG: |WARNING: |Oops|general protection fault|Kernel panic|'
	pat+='KASAN|UBSAN|kmemleak: [0-9]+ new suspected|unreferenced object 0x|'
	pat+='INFO: task .* blocked for more than|rcu: INFO|detected stall|'
	pat+='Call Trace:|possible circular locking|inconsistent lock state|'
	pat+='suspicious RCU usage|page allocation failure'
	if grep -qaE "$pat" "$log"; then
		echo "---- kernel splat in guest log ($log) ----" >&2
		grep -naE "$pat" "$log" | head -20 >&2
		echo "---- first report in full ----" >&2
		local first
		first=$(grep -naE "$pat" "$log" | head -1 | cut -d: -f1)
		sed -n "$((first > 5 ? first - 5 : 1)),$((first + 60))p" "$log" >&2
		echo "---- end of splat ----" >&2
		return 1
	fi
	return 0
}

run() {
	local files=() timeout=${VM_TIMEOUT:-600} leak=0 outdir=$B/vm/run-$$
	local mem=${VM_MEM:-2G} cpu=${VM_CPU:-max} acc extra rc splat=0 cmdline
	local kernel=${VM_KERNEL:-$OBJ/arch/x86/boot/bzImage}
	local -a qemu_extra
	# VM_QEMU_ARGS: extra QEMU options, e.g. a monitor socket for profiling
	read -r -a qemu_extra <<< "${VM_QEMU_ARGS:-}"
	while [ $# -gt 0 ]; do
		case "$1" in
		-f) files+=("$2"); shift 2 ;;
		-t) timeout=$2; shift 2 ;;
		-l) leak=1; shift ;;
		-o) outdir=$2; shift 2 ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	[ $# -gt 0 ] || die "vm.sh run: no command given"
	if [ "$outdir" = "$B/vm/run-$$" ]; then
		# keep the newest few runs; build/vm/last points at this one
		{ ls -1dt "$B"/vm/run-* 2>/dev/null || true; } | tail -n +5 | xargs -r rm -rf
		mkdir -p "$B/vm"
		ln -sfn "run-$$" "$B/vm/last"
	fi
	[ -f "$CPIO" ] || die "no initramfs: run 'make initramfs' first"
	[ -f "$kernel" ] || die "no kernel $kernel: run 'make kernel' first"

	rm -rf "$outdir"
	mkdir -p "$outdir/extra/etc/kmbuf" "$outdir/extra/work"
	for f in "${files[@]}"; do
		[ -e "$f" ] || die "vm.sh run: $f does not exist"
		cp -a "$f" "$outdir/extra/work/"
	done
	printf '%s\n' "$*" > "$outdir/extra/etc/kmbuf/cmd"
	(cd "$outdir/extra" && find . | LC_ALL=C sort |
		cpio -o -H newc --quiet) > "$outdir/extra.cpio"
	cat "$CPIO" "$outdir/extra.cpio" > "$outdir/initrd.cpio"

	nvme_image "$outdir/nvme.img"
	acc=$(accel)
	# acpi=noirq: PCI interrupt routing without ACPI. With it, the NVMe
	# driver's pci_enable_device() and pci_disable_device() evaluate the
	# i440fx DSDT's _PRT, a 128-iteration AML loop that takes 23 s under
	# TCG with KASAN at boot and exceeds ACPICA's 30 s loop limit at
	# poweroff (a soft lockup report).
	# tsc=reliable: no clocksource watchdog.  TCG derives the TSC from the
	# host clock; when the host is busy the watchdog takes the late
	# reads for drift, marks the TSC unstable and switches to the HPET,
	# whose every read is an emulated MMIO access: clock_gettime() then
	# costs a system call and an MMIO exit, which skews every benchmark
	# that reads the clock and shows as read_hpet in profiles.
	cmdline="console=ttyS0 panic=-1 oops=panic loglevel=7 printk.devkmsg=on"
	cmdline+=" acpi=noirq tsc=reliable ${VM_APPEND:-}"
	[ $leak -eq 0 ] || cmdline+=" kmbuf.leakcheck"
	: > "$outdir/console.log"
	: > "$outdir/out.log"
	rc=0
	timeout -k 10 "$timeout" qemu-system-x86_64 -accel "$acc" -cpu "$cpu" \
		-m "$mem" -smp 2 -display none -monitor none -no-reboot \
		-serial "file:$outdir/console.log" -serial "file:$outdir/out.log" \
		-kernel "$kernel" -initrd "$outdir/initrd.cpio" \
		-drive "file=$outdir/nvme.img,if=none,id=nvm0,format=raw" \
		-device nvme,id=nvme0,serial=kmbuf0 \
		-device nvme-ns,drive=nvm0,bus=nvme0,nsid=1,ms=8,mset=0,pi=1,pil=0 \
		-append "$cmdline" "${qemu_extra[@]}" </dev/null >"$outdir/qemu.log" 2>&1 || rc=$?
	rm -f "$outdir/initrd.cpio" "$outdir/extra.cpio" "$outdir/nvme.img"
	rm -rf "$outdir/extra"

	# The command's output, without the exit-code marker.
	tr -d '\r' < "$outdir/out.log" | grep -av '^@@KMBUF-RC ' || true
	scan_log "$outdir/console.log" || splat=1
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "vm.sh: guest timed out after ${timeout}s (accel=$acc); log: $outdir/console.log" >&2
		tail -30 "$outdir/console.log" >&2
		return 124
	fi
	local grc
	grc=$(tr -d '\r' < "$outdir/out.log" | sed -n 's/^@@KMBUF-RC \([0-9]*\).*/\1/p' | tail -1)
	if [ -z "$grc" ]; then
		echo "vm.sh: guest did not finish the command (qemu rc=$rc); log: $outdir/console.log" >&2
		tail -30 "$outdir/console.log" >&2
		return 125
	fi
	[ $splat -eq 0 ] || return 3
	return "$grc"
}

case "${1:-}" in
initramfs) initramfs ;;
run) shift; run "$@" ;;
scan) shift; scan_log "$1" ;;
*) die "usage: $0 initramfs | run [-f FILE]... [-t SEC] [-l] -- CMD" ;;
esac
