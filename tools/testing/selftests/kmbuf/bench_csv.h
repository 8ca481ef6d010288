/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The benchmarks' machine-readable output: besides its printed table, each
 * benchmark prints every row as "@@CSV <table> <field>,<field>,...", the
 * first row of a table naming its columns.  `make bench`
 * (scripts/bench-report.py) collects them into build/bench/<run>/<table>.csv
 * and charts the "ratio" column of each "path" across the "case" column.
 */
#ifndef KMBUF_BENCH_CSV_H
#define KMBUF_BENCH_CSV_H

#include <stdio.h>

#define bench_csv(table, fmt, ...) \
	printf("@@CSV %s " fmt "\n", table, ##__VA_ARGS__)

#endif /* KMBUF_BENCH_CSV_H */
