#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of `make check`: run every installed kselftest and KUnit module,
# printing TAP. Markers ("# RUN", "# EXIT", "# KUNIT-BEGIN/END") let the host
# attribute results; each test start is also written to the kernel log so a
# splat can be matched to the test that caused it.
T=${KSFT_TIMEOUT:-900}

mark() {
	echo "$*"
	echo "kmbuf-test: $*" > /dev/kmsg
}

for dir in /kselftest/*; do
	[ -f "$dir/tests.list" ] || continue
	for entry in $(cat "$dir/tests.list"); do
		t=${entry#*:}
		mark "# RUN $t"
		( cd "$dir" && timeout "$T" "./$t" )
		rc=$?
		mark "# EXIT $t $rc"
	done
done

# KUnit suites built as modules: loading a module runs its suites.
for ko in $(find /lib/modules -name '*_kunit.ko' 2>/dev/null | sort); do
	m=$(basename "$ko" .ko)
	mark "# RUN kunit:$m"
	if ! modprobe "$m"; then
		echo "not ok - kunit: modprobe $m"
		mark "# EXIT kunit:$m 1"
		continue
	fi
	n=0
	for r in /sys/kernel/debug/kunit/*/results; do
		[ -f "$r" ] || continue
		echo "# KUNIT-BEGIN $(basename "$(dirname "$r")")"
		cat "$r"
		echo "# KUNIT-END"
		n=$((n + 1))
	done
	modprobe -r "$m"
	[ $n -gt 0 ] && echo "ok - kunit: $m ran $n suite(s)" || echo "not ok - kunit: $m ran no suite"
	mark "# EXIT kunit:$m 0"
done
exit 0
