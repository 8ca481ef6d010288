#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Sampling profiler for a QEMU TCG guest, through the HMP monitor.

The guest has no PMU under TCG, and the test kernels have no perf.  This
samples every vCPU's instruction pointer with the monitor's `info registers
-a`, between two markers the guest command prints, and maps kernel
addresses to symbols with the guest's own /proc/kallsyms (printed by the
command first, so that module symbols resolve too).  Samples in user mode
count as [user] (named by symbol too when PROFILE_USER_BIN is the static
binary they ran), idle vCPUs are left out.

Used by scripts/profile.sh; see README.md ("Profiling a benchmark").
  tcg-profile.py MONITOR_SOCKET GUEST_OUTPUT_LOG [TOP]
"""
import bisect
import collections
import os
import re
import socket
import sys
import time

START = '@@PROFILE-START'
END = '@@PROFILE-END'
SYMS = '@@PROFILE-SYMS'
IDLE = re.compile(r'idle|halt|mwait|do_idle|cpuidle')


def read_log(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace').replace('\r', '')
    except FileNotFoundError:
        return ''


def kallsyms(text):
    syms = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1].lower() not in 'tw':
            continue
        try:
            addr = int(parts[0], 16)
        except ValueError:
            continue
        if addr:
            name = parts[2] + (' ' + parts[3] if len(parts) > 3 else '')
            syms.append((addr, name))
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


class Monitor:
    def __init__(self, path):
        deadline = time.time() + 120
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.buf = b''
        self.wait_prompt()

    def wait_prompt(self):
        while b'(qemu) ' not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError
            self.buf += data
        out, _, self.buf = self.buf.partition(b'(qemu) ')
        return out.decode('utf-8', 'replace')

    def cmd(self, c):
        self.s.sendall(c.encode() + b'\n')
        return self.wait_prompt()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sock, log = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    mon = Monitor(sock)
    while START not in read_log(log):
        try:
            mon.cmd('info status')     # fails once QEMU has exited
        except (EOFError, OSError):
            sys.exit('tcg-profile: the guest ended before the start marker')
        time.sleep(0.2)
    samples = collections.Counter()
    user = collections.Counter()
    total = 0
    rip_re = re.compile(r'RIP=([0-9a-f]+)')
    cpl_re = re.compile(r'CPL=(\d)')
    while END not in read_log(log):
        try:
            out = mon.cmd('info registers -a')
        except (EOFError, OSError):
            break
        # one block per vCPU, each with its RIP and, further down, its CPL
        for block in out.split('CPU#')[1:]:
            rip, cpl = rip_re.search(block), cpl_re.search(block)
            if not rip or not cpl:
                continue
            if cpl.group(1) == '3':
                samples[-1] += 1
                user[int(rip.group(1), 16)] += 1
            else:
                samples[int(rip.group(1), 16)] += 1
    # the command prints /proc/kallsyms after the end marker, modules loaded
    deadline = time.time() + 120
    while SYMS not in read_log(log) and time.time() < deadline:
        time.sleep(0.2)
    addrs, names = kallsyms(read_log(log).split(END)[-1])
    counts = collections.Counter()
    for rip, n in samples.items():
        if rip < 0:
            sym = '[user]'
        else:
            i = bisect.bisect_right(addrs, rip) - 1
            sym = names[i] if i >= 0 else '[unknown]'
        if IDLE.search(sym):
            continue
        counts[sym] += n
        total += n
    if not total:
        sys.exit('tcg-profile: no busy samples')
    print(f'{total} busy samples (idle vCPUs left out)')
    for sym, n in counts.most_common(top):
        print(f'{n * 100.0 / total:6.2f}%  {n:7d}  {sym}')
    # PROFILE_USER_BIN: a static binary of the guest command, whose
    # symbols name the [user] samples
    ubin = os.environ.get('PROFILE_USER_BIN')
    if ubin and user:
        print(f'[user] by symbol of {ubin}:')
        print_user(ubin, user, total, top)


def print_user(path, user, total, top):
    import subprocess
    nm = subprocess.run(['nm', '-n', '--defined-only', path],
                        capture_output=True, text=True).stdout
    addrs, names = [], []
    for line in nm.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in 'tTwW':
            addrs.append(int(f[0], 16))
            names.append(f[2])
    counts = collections.Counter()
    for rip, n in user.items():
        i = bisect.bisect_right(addrs, rip) - 1
        counts[names[i] if i >= 0 else '[unknown]'] += n
    for sym, n in counts.most_common(top):
        print(f'{n * 100.0 / total:6.2f}%  {n:7d}  {sym}')


if __name__ == '__main__':
    main()
