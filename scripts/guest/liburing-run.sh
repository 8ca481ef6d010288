#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run liburing's test programs (*.t in the working directory), one minute
# each (LU_TIMEOUT), printing "LU PASS|FAIL|SKIP name [rc=N] t=SECONDSs" and
# the tail of a failure's output. The first line, "LUINFO kernel ...", names
# the kernel that ran them.
# reg-wait.t's full output is printed: it exits 0 even when it only skips.
echo "LUINFO kernel $(uname -r) $(uname -v)"
for t in *.t; do
	mkdir -p /tmp/lu && cd /tmp/lu || exit 1
	echo "LUSTART $t"
	t0=$(date +%s)
	timeout "${LU_TIMEOUT:-60}" "$OLDPWD/$t" > /tmp/lu.out 2>&1 < /dev/null
	rc=$?
	dt="t=$(( $(date +%s) - t0 ))s"
	cd "$OLDPWD" || exit 1
	rm -rf /tmp/lu
	case $rc in
	0) echo "LU PASS $t $dt" ;;
	77) echo "LU SKIP $t $dt" ;;
	*) echo "LU FAIL $t rc=$rc $dt"; tail -3 /tmp/lu.out | sed -e 's/[^ -~]//g' -e 's/^/   | /' ;;
	esac
	if [ "$t" = reg-wait.t ]; then
		sed -e 's/[^ -~]//g' -e 's/^/   reg-wait: /' /tmp/lu.out
	fi
done
