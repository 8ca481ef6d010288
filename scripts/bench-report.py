#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Collect the CSV rows of a `make bench` run and chart them.

The guest's benchmarks print every table row as
"@@CSV <table> <field>,<field>,..." (the first row of a table names its
columns; see tools/testing/selftests/kmbuf/bench_csv.h).  This writes
RUN/<table>.csv and, with gnuplot, RUN/<table>.png: the "ratio" column of
each "path" across the table's "case" values, with the previous run's
ratios dashed beside them.  RUN is OUT/run-<UTC time>; OUT/latest and
OUT/previous point at the newest two runs.

  bench-report.py GUEST_OUTPUT_LOG OUT_DIR
"""
import csv
import datetime
import os
import shutil
import subprocess
import sys


def tables_of(log):
    tables = {}
    with open(log, errors='replace') as f:
        for line in f:
            line = line.rstrip('\r\n')
            if not line.startswith('@@CSV '):
                continue
            parts = line.split(' ', 2)
            if len(parts) < 3:
                continue
            tables.setdefault(parts[1], []).append(next(csv.reader([parts[2]])))
    return tables


def read_csv(path):
    try:
        with open(path, newline='') as f:
            return list(csv.reader(f))
    except OSError:
        return None


def ratios(rows):
    """{path: {case: ratio}} and the cases in order, from header + rows."""
    head, data = rows[0], rows[1:]
    try:
        ci, pi, ri = head.index('case'), head.index('path'), head.index('ratio')
    except ValueError:
        return None, None
    cases, by_path = [], {}
    for r in data:
        if len(r) <= max(ci, pi, ri):
            continue
        try:
            ratio = float(r[ri])
        except ValueError:
            continue
        if r[ci] not in cases:
            cases.append(r[ci])
        by_path.setdefault(r[pi], {})[r[ci]] = ratio
    return by_path, cases


def gp_str(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def chart(name, rows, prev_rows, png, stamp):
    cur, cases = ratios(rows)
    if not cur or not cases:
        return False
    prev = ratios(prev_rows)[0] if prev_rows else None
    vals = [v for p in cur.values() for v in p.values() if v > 0]
    if prev:
        vals += [v for p in prev.values() for v in p.values() if v > 0]
    log = vals and max(vals) / min(vals) > 20
    data = png[:-4] + '.dat'
    series = []
    with open(data, 'w') as f:
        for idx, (path, pts) in enumerate(cur.items()):
            for run, src in (('now', pts), ('prev', (prev or {}).get(path))):
                if not src:
                    continue
                f.write('# %s %s\n' % (run, path))
                for x, c in enumerate(cases):
                    if c in src:
                        f.write('%d %g\n' % (x, src[c]))
                f.write('\n\n')
                series.append((len(series), idx + 1, run, path))
    plots = []
    for block, color, run, path in series:
        title = path if run == 'now' else path + ' (previous run)'
        dash = 'dt 1' if run == 'now' else 'dt 2'
        plots.append('%s index %d using 1:2 with linespoints lc %d %s '
                     'lw 2 pt 7 title %s' % (gp_str(data), block, color,
                                             dash, gp_str(title)))
    xtics = ', '.join('%s %d' % (gp_str(c), i) for i, c in enumerate(cases))
    script = '\n'.join([
        'set terminal pngcairo size 900,500 noenhanced' if
        'pngcairo' in TERMS else 'set terminal png size 900,500 noenhanced',
        'set output %s' % gp_str(png),
        'set title %s' % gp_str('%s: ratio per path (%s)' % (name, stamp)),
        'set ylabel "ratio"',
        'set xtics (%s)' % xtics,
        'set xrange [-0.5:%f]' % (len(cases) - 0.5),
        'set key below',
        'set grid ytics',
        'set logscale y' if log else 'set yrange [0:*]',
        'plot ' + ', \\\n     '.join(plots),
    ]) + '\n'
    with open(png[:-4] + '.gp', 'w') as f:
        f.write(script)
    r = subprocess.run(['gnuplot', png[:-4] + '.gp'], capture_output=True,
                       text=True)
    if r.returncode:
        sys.stderr.write('gnuplot failed for %s: %s' % (name, r.stderr))
        return False
    return True


def gnuplot_terms():
    try:
        r = subprocess.run(['gnuplot', '-e', 'set terminal'],
                           capture_output=True, text=True)
        return r.stdout + r.stderr
    except OSError:
        return None


def main():
    global TERMS
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    log, out = sys.argv[1], sys.argv[2]
    tables = tables_of(log)
    if not tables:
        print('bench-report: no CSV rows in %s' % log)
        return 1
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp = now.strftime('%Y%m%d-%H%M%S')
    run = os.path.join(out, 'run-' + stamp)
    n = 1
    while os.path.exists(run):      # two runs in one second
        n += 1
        run = os.path.join(out, 'run-%s-%d' % (stamp, n))
    os.makedirs(run)
    latest = os.path.join(out, 'latest')
    prev_dir = os.path.realpath(latest) if os.path.islink(latest) else None
    TERMS = gnuplot_terms()
    if TERMS is None:
        print('bench-report: gnuplot missing (scripts/deps.sh installs '
              'it): CSV only')
    written = []
    for name, rows in tables.items():
        path = os.path.join(run, name + '.csv')
        with open(path, 'w', newline='') as f:
            csv.writer(f).writerows(rows)
        written.append(path)
        prev = read_csv(os.path.join(prev_dir, name + '.csv')) \
            if prev_dir else None
        png = os.path.join(run, name + '.png')
        if TERMS is not None and chart(name, rows, prev, png, stamp):
            written.append(png)
    if prev_dir and os.path.isdir(prev_dir):
        tmp = os.path.join(out, '.previous')
        if os.path.lexists(tmp):
            os.remove(tmp)
        os.symlink(os.path.basename(prev_dir), tmp)
        os.replace(tmp, os.path.join(out, 'previous'))
    tmp = os.path.join(out, '.latest')
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(os.path.basename(run), tmp)
    os.replace(tmp, latest)
    # keep the newest ten runs
    runs = sorted(d for d in os.listdir(out) if d.startswith('run-'))
    for d in runs[:-10]:
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
    print('bench-report: %d tables%s in %s%s' % (
        len(tables), ', charted' if TERMS is not None else '', run,
        ' (compared with %s)' % os.path.basename(prev_dir) if prev_dir
        else ''))
    return 0


TERMS = None
if __name__ == '__main__':
    sys.exit(main())
