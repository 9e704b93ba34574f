/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pmbench: shared by its parts (pmbench.c: the tracking figures and main;
 * migbench.c: the live-migration figures).
 */
#ifndef PMBENCH_H
#define PMBENCH_H

#include <stddef.h>
#include <stdint.h>

#include "../lib.h"

#define PMB_RUNS 3

extern long ps;			/* the page size */
extern struct tnl t;		/* our netlink session */
extern int small;		/* BENCH_SCALE=small */

double now(void);
void die(const char *what);
/* Record the median of @runs as @key and every run as KEY_runs. */
void emit(const char *key, double runs[PMB_RUNS]);
/* Leave @key out, saying why (KEY_skipped). */
void emit_skip(const char *key, const char *why);
/* A progress line on the console (outside the JSON frame). */
void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Create region @name (deleting an old one) and map it. */
unsigned char *region_map(const char *name, uint64_t size, int overcommit);
void region_unmap(const char *name, unsigned char *p, uint64_t size);

/* migbench.c */
void bench_migration(void);

#endif
