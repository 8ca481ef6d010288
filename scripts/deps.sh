#!/bin/bash
# Install everything the project needs from Debian's archive.
# Idempotent: does nothing (and needs no network) when all packages are present.
set -euo pipefail

PKGS=(
	build-essential gcc make flex bison bc perl python3 git rsync cpio
	xz-utils kmod libelf-dev libssl-dev dwarves
	linux-source-6.12
	qemu-system-x86 busybox-static
	liburing-dev fio nvme-cli
	sparse ccache
	python3-sphinx gnuplot-nox
)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
