# SPDX-License-Identifier: GPL-2.0
#
# kmbuf: build, boot and test a patched Linux 6.12 with kernel-managed buffer
# rings. See README.md. Every target builds what it needs first.
#
#   make check     deps, kernel, tests in the debug guest, static checks
#   make demo      boot the kernel and run the samples
#   make vm-run CMD="..." [FILES="..."]   run anything in the guest
#   make stress DURATION=S SEEDS="1 2 3"   the long stress campaign
#
# Variables: KCONF=debug|min (kernel flavour, default debug; min for a
# lone `make bench`), JOBS, V=1.

# Benchmarks measure the kernel without KASAN and lockdep unless told to.
ifeq ($(MAKECMDGOALS),bench)
KCONF    ?= min
endif
KCONF    ?= debug
B        := $(CURDIR)/build
TREE     := $(B)/linux
OBJ      := $(B)/obj-$(KCONF)
LOGS     := $(B)/logs
PROGS    := $(B)/progs
JOBS     ?= $(shell echo $$(( $$(nproc) + 1 )))
# ccache is used through $(B)/ccache-bin/gcc, a link that scripts/lib.sh
# creates once ccache is installed: kbuild always runs plain `gcc`, so the
# command lines it records do not depend on whether ccache existed when this
# Makefile was parsed (on a fresh machine, `deps` installs it midway).
ifeq ($(filter $(B)/ccache-bin,$(subst :, ,$(PATH))),)
export PATH := $(B)/ccache-bin:$(PATH)
endif
export KCONF B TREE OBJ CCACHE_DIR := $(or $(CCACHE_DIR),$(HOME)/.cache/ccache)
export CCACHE_BASEDIR := $(B)
export KBUILD_BUILD_USER := kmbuf
export KBUILD_BUILD_HOST := kmbuf
export KBUILD_BUILD_TIMESTAMP := 2026-01-01

KMAKE := $(MAKE) -s -C $(TREE) O=$(OBJ) -j$(JOBS)
SELFTESTS := $(TREE)/tools/testing/selftests/kmbuf

S := scripts
# Serialises the steps that write build/ (two makes at once, e.g. a vm-run
# while `make check` builds, must not interleave).
LOCK := flock $(B)/.lock
.PHONY: all deps tree config kernel progs initramfs vm-run check demo \
	static save-patches clean distclean help

all: initramfs

help:
	@sed -n '3,11p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@$(S)/deps.sh

tree: deps
	@mkdir -p $(B) && $(LOCK) $(S)/tree.sh sync

config: tree
	@$(LOCK) $(S)/config.sh

# The kernel, its modules, and the samples (kbuild userprogs).
kernel: config
	@mkdir -p $(LOGS)
	@echo "==> building kernel ($(KCONF)) in $(OBJ), log: $(LOGS)/build.log"
	@$(LOCK) $(S)/kbuild.sh $(LOGS)/build.log $(KMAKE) all || \
		{ grep -E 'error|Error' $(LOGS)/build.log | head -40; \
		  tail -20 $(LOGS)/build.log; echo "ERROR: kernel build failed"; exit 1; }

# Static userspace programs for the guest: selftests and samples.
progs: kernel
	@$(LOCK) $(MAKE) -s --no-print-directory do-progs

.PHONY: do-progs
do-progs:
	@rm -rf $(PROGS) && mkdir -p $(PROGS)/kselftest/kmbuf $(PROGS)/samples $(B)/kselftest-build/kmbuf
	@if [ -f $(SELFTESTS)/Makefile ]; then \
		LDFLAGS=-static $(MAKE) -s -C $(SELFTESTS) \
			OUTPUT=$(B)/kselftest-build/kmbuf \
			KHDR_INCLUDES="-isystem $(OBJ)/usr/include" \
			install INSTALL_PATH=$(PROGS)/kselftest/kmbuf \
			>$(LOGS)/progs.log 2>&1 || \
			{ cat $(LOGS)/progs.log; echo "ERROR: selftests build failed"; exit 1; }; \
		$(MAKE) -s --no-print-directory -C $(SELFTESTS) \
			OUTPUT=$(B)/kselftest-build/kmbuf emit_tests \
			> $(PROGS)/kselftest/kmbuf/tests.list; \
	fi
	@if [ -d $(OBJ)/samples/kmbuf ]; then \
		find $(OBJ)/samples/kmbuf -maxdepth 1 -type f -perm -u+x \
			-exec cp {} $(PROGS)/samples/ \; ; \
	fi

initramfs: progs
	@$(LOCK) $(S)/vm.sh initramfs

# make vm-run CMD="./prog arg" FILES="prog data" [TIMEOUT=600] [LEAKCHECK=1]
# CMD reaches the script through the environment, so it is never re-split.
# Sample the guest's vCPUs while CMD runs and print the hottest symbols.
.PHONY: profile
profile: export KMBUF_VM_CMD = $(value CMD)
profile: initramfs
	@test -n "$$KMBUF_VM_CMD" || { echo 'usage: make profile CMD="..."'; exit 2; }
	@$(S)/profile.sh "$$KMBUF_VM_CMD"

vm-run: export KMBUF_VM_CMD = $(value CMD)
vm-run: initramfs
	@test -n "$$KMBUF_VM_CMD" || { echo 'usage: make vm-run CMD="..." [FILES="..."]'; exit 2; }
	@$(S)/vm.sh run $(foreach f,$(FILES),-f $(f)) \
		$(if $(TIMEOUT),-t $(TIMEOUT)) $(if $(filter 1,$(LEAKCHECK)),-l) -- "$$KMBUF_VM_CMD"

check:
	@$(S)/check.sh

demo: initramfs
	@$(S)/vm.sh run -t 600 -- kmbuf-demo

# The seeded stress campaign, long form: DURATION seconds (or OPS
# operations) per seed, SEEDS="1 2 3", as an unprivileged user in a memory
# cgroup in the debug guest; kmemleak is scanned at the end.  make check
# runs a bounded form of it.
.PHONY: stress
stress: initramfs
	@DURATION="$(DURATION)" SEEDS="$(SEEDS)" OPS="$(OPS)" $(S)/stress.sh

# Every benchmark (kmbuf_chr read paths, kmbuf_blk verified reads on the RAM
# disk and on NVMe, kmbuf_tick) in one guest run; the tables print ratios
# measured side by side in that run, and land as CSV files with a chart
# each in build/bench/latest/ (build/bench/previous: the run before).
# The guest CPU hides ERMS: TCG emulates `rep movsb` a byte at a time, which
# would slow copy_to_user() (read(2), pbuf) but not memcpy() (kmbuf), an
# emulator artefact rather than a kernel cost.  VM_CPU overrides it.
.PHONY: bench
bench: initramfs
	@$(S)/bench-run.sh

static: kernel
	@$(S)/static.sh

# The work as a patch series for upstream: build/series/ holds a git
# format-patch series against the base with a cover letter, made from the
# manifest in series/ (every patches/ and overlay file in exactly one
# patch).  series-check applies it one patch at a time to a clean base
# tree, builds each (minimal config) and runs checkpatch --strict on each;
# FIRST=n LAST=m build only those.  config-matrix builds our options =m, =y
# and off (VARIANTS="m y n nouring").
.PHONY: series series-check config-matrix
series: tree
	@$(LOCK) $(S)/series.sh

series-check: series
	@$(LOCK) env FIRST="$(FIRST)" LAST="$(LAST)" $(S)/series-check.sh

config-matrix: tree
	@$(LOCK) $(S)/config-matrix.sh $(VARIANTS)

# Turn the commits on top of base in build/linux back into patches/.
save-patches:
	@$(S)/tree.sh save

clean:
	rm -rf $(B)/obj-* $(B)/progs $(B)/kselftest-build $(B)/initramfs-* $(B)/vm $(B)/logs

distclean:
	rm -rf $(B)
