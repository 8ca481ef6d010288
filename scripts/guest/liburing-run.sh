#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run liburing's test programs (*.t in the working directory), one minute
# each (LU_TIMEOUT), printing "LU PASS|FAIL|SKIP name" and the tail of a failure's output.
# reg-wait.t's full output is printed: it exits 0 even when it only skips.
for t in *.t; do
	mkdir -p /tmp/lu && cd /tmp/lu || exit 1
	timeout "${LU_TIMEOUT:-60}" "$OLDPWD/$t" > /tmp/lu.out 2>&1 < /dev/null
	rc=$?
	cd "$OLDPWD" || exit 1
	rm -rf /tmp/lu
	case $rc in
	0) echo "LU PASS $t" ;;
	77) echo "LU SKIP $t" ;;
	*) echo "LU FAIL $t rc=$rc"; tail -3 /tmp/lu.out | sed -e 's/[^ -~]//g' -e 's/^/   | /' ;;
	esac
	if [ "$t" = reg-wait.t ]; then
		sed -e 's/[^ -~]//g' -e 's/^/   reg-wait: /' /tmp/lu.out
	fi
done
