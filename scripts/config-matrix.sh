#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the tree with our options =y, =m and off, on top of the minimal
# kernel's config (scripts/config.sh, KCONF=min), and report:
#
#   m      the kmbuf consumers and their test device as modules (the core,
#          IO_URING_KMBUF, which they select, built in)
#   y      the same built in
#   n      none of them, so the kmbuf core is off too; the consumers are
#          then also compiled as external modules against that kernel,
#          which only works if every function they call has a stub in
#          <linux/io_uring/kmbuf.h>
#   nouring  io_uring off altogether (so every option of ours is off)
#   kunit  KUNIT on, the KUnit suite built in and the consumers off: the
#          suite alone selects the core.  Not in the default list: turning
#          KUNIT on rebuilds most of the kernel (make check's debug kernel
#          builds the suite as a module).
#
# Each variant checks that its options came out as asked, that
# io_uring/kmbuf.o is linked exactly when IO_URING_KMBUF is set, builds
# vmlinux, modules and samples, then rebuilds our objects (io_uring/, the
# block files we patch, drivers/kmbuf_demo/) with W=1 and fails on any
# warning there.  All variants share one O= directory, build/obj-matrix,
# seeded from build/obj-min when that exists, so each one only rebuilds
# what its options change.
#
#   config-matrix.sh [VARIANT...]    default: m y n nouring
set -uo pipefail
. "$(dirname "$0")/lib.sh"

O=$B/obj-matrix
L=$B/logs/matrix
JOBS=${JOBS:-$(( $(nproc) + 1 ))}
variants=${*:-m y n nouring}
mkdir -p "$L"

# The base config: the minimal kernel's, from the fragments.
KCONF=min OBJ=$B/matrix-cfg "$KMBUF_TOP/scripts/config.sh" ||
	die "could not generate the minimal config"
if [ ! -f "$O/.config" ] && [ -f "$B/obj-min/vmlinux" ]; then
	log "seeding $O from $B/obj-min"
	cp -a "$B/obj-min" "$O"
fi
mkdir -p "$O"

ours="CONFIG_KMBUF_CHR CONFIG_KMBUF_BLK CONFIG_KMBUF_TICK CONFIG_KMBUF_MINIMAL \
	CONFIG_KMBUF_FIXED_TEST"

# variant -> scripts/config arguments and the options the result must have
setup() {
	local v=$1 s
	args=() want=()
	case $v in
	m|y)
		args=(--enable KMBUF_DEMO --enable SAMPLE_KMBUF)
		want=(CONFIG_KMBUF_DEMO=y CONFIG_SAMPLE_KMBUF=y
		      CONFIG_IO_URING_KMBUF=y)
		for s in $ours; do
			if [ "$v" = m ]; then args+=(--module "${s#CONFIG_}")
			else args+=(--enable "${s#CONFIG_}"); fi
			want+=("$s=$v")
		done ;;
	n)
		args=(--disable KMBUF_DEMO --disable SAMPLE_KMBUF)
		want=(CONFIG_IO_URING=y "# CONFIG_KMBUF_DEMO is not set"
		      "-CONFIG_IO_URING_KMBUF") ;;
	nouring)
		args=(--disable IO_URING --disable KMBUF_DEMO --disable SAMPLE_KMBUF)
		want=("# CONFIG_IO_URING is not set" "-CONFIG_IO_URING_KMBUF"
		      "-CONFIG_KMBUF_DEMO") ;;
	kunit)
		args=(--enable KUNIT --enable IO_URING_KMBUF_KUNIT_TEST
		      --disable KMBUF_DEMO --disable SAMPLE_KMBUF)
		want=(CONFIG_KUNIT=y CONFIG_IO_URING_KMBUF_KUNIT_TEST=y
		      "-CONFIG_KMBUF_DEMO" CONFIG_IO_URING_KMBUF=y) ;;
	*) die "unknown variant $v (m, y, n, nouring, kunit)" ;;
	esac
}

# W=1 on our objects: io_uring/, drivers/kmbuf_demo/ and the block files
# we patch are rebuilt with W=1 while the normal build's objects and their
# .cmd files wait aside, then put back (as scripts/static.sh does), so the
# next build does not recompile them for the flag alone.
w1() {
	local stash=$O/.kmbuf-w1-stash o c f rc
	rm -rf "$stash"
	for o in $(cd "$O" && ls io_uring/*.o drivers/kmbuf_demo/*.o \
			block/fops.o block/ioctl.o block/genhd.o 2>/dev/null); do
		c=$(dirname "$o")/.$(basename "$o").cmd
		mkdir -p "$stash/$(dirname "$o")"
		mv "$O/$o" "$stash/$o"
		[ ! -f "$O/$c" ] || mv "$O/$c" "$stash/$c"
	done
	make -s -C "$TREE" O="$O" W=1 -j"$JOBS" io_uring/ drivers/kmbuf_demo/ \
		block/fops.o block/ioctl.o block/genhd.o >"$1" 2>&1
	rc=$?
	[ -d "$stash" ] && (cd "$stash" && find . -type f) | while read -r f; do
		mv -f "$stash/$f" "$O/$f"
	done
	rm -rf "$stash"
	[ $rc -eq 0 ] && ! grep -qE 'warning:|error:' "$1"
}

# The consumers as external modules against a kernel without the core.
stubs() {
	local d=$B/matrix-stubs log=$1
	rm -rf "$d" && mkdir -p "$d"
	cp "$TREE"/drivers/kmbuf_demo/*.[ch] "$TREE"/drivers/kmbuf_demo/Makefile "$d/"
	make -s -C "$TREE" O="$O" M="$d" W=1 -j"$JOBS" \
		CONFIG_KMBUF_CHR=m CONFIG_KMBUF_BLK=m CONFIG_KMBUF_TICK=m \
		CONFIG_KMBUF_MINIMAL=m CONFIG_KMBUF_FIXED_TEST=m modules >"$log" 2>&1 &&
		! grep -qE 'warning:|error:' "$log" &&
		[ "$(ls "$d"/*.ko 2>/dev/null | wc -l)" -eq 5 ]
}

fail=0
summary=""
for v in $variants; do
	setup "$v"
	log "variant $v: ${args[*]}"
	cp "$B/matrix-cfg/.config" "$O/.config"
	"$TREE/scripts/config" --file "$O/.config" "${args[@]}"
	make -s -C "$TREE" O="$O" olddefconfig >"$L/$v-config.log" 2>&1
	res=ok
	for x in "${want[@]}"; do
		case $x in
		-*) ! grep -q "^${x#-}=" "$O/.config" ||
			{ echo "  $v: ${x#-} is set, wanted off"; res=FAIL; } ;;
		*) grep -qxF "$x" "$O/.config" ||
			{ echo "  $v: wanted $x, got: $(grep -E "^${x%%=*}=" "$O/.config" || echo unset)"; res=FAIL; } ;;
		esac
	done
	core=$(grep -q '^CONFIG_IO_URING_KMBUF=y' "$O/.config" && echo y || echo n)
	t0=$(date +%s)
	if [ $res = ok ]; then
		if ! KCONF="min, $v" OBJ=$O "$KMBUF_TOP/scripts/kbuild.sh" "$L/$v-build.log" \
			make -s -C "$TREE" O="$O" -j"$JOBS" all; then
			res="build FAIL"
			grep -E 'error|Error' "$L/$v-build.log" | head -20 | sed 's/^/  /'
		fi
	fi
	# the core's code is in vmlinux exactly when it is configured (not
	# io_uring/built-in.a: with io_uring off, kbuild does not descend
	# there and an archive of an earlier variant stays in the shared O=)
	if [ "$res" = ok ]; then
		linked=$(nm "$O/vmlinux" 2>/dev/null | grep -c ' T kmbuf_port_create$')
		if [ $core = y ] && [ "$linked" != 1 ]; then
			res="kmbuf not in vmlinux"
		elif [ $core = n ] && [ "${linked:-0}" != 0 ]; then
			res="kmbuf in vmlinux"
		fi
	fi
	w=-
	if [ "$res" = ok ] && [ "$v" != nouring ]; then
		if w1 "$L/$v-w1.log"; then w=clean; else
			w=FAIL; res="W=1 warnings"
			grep -E 'warning:|error:' "$L/$v-w1.log" | head -20 | sed 's/^/  /'
		fi
	fi
	st=-
	if [ "$res" = ok ] && [ "$v" = n ]; then
		if stubs "$L/$v-stubs.log"; then st=ok; else
			st=FAIL; res="stubs FAIL"
			grep -E 'warning:|error:|ERROR' "$L/$v-stubs.log" | head -20 | sed 's/^/  /'
		fi
	fi
	[ "$res" = ok ] || fail=1
	line=$(printf '%-8s IO_URING_KMBUF=%s  build+W=1 %-5s stubs %-4s %4ss  %s' \
		"$v" "$core" "$w" "$st" "$(( $(date +%s) - t0 ))" "$res")
	echo "$line"
	summary+="$line"$'\n'
done
echo "config-matrix:"
printf '%s' "$summary"
exit $fail
