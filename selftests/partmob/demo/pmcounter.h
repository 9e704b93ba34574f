/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The layout of the region pmcounter keeps its whole state in, shared with
 * pmdemo, which checks it after the migration. Page by page (PAGE = the
 * kernel's page size):
 *
 *   page 0                     struct pmc_hdr
 *   pages 1 .. NT              thread t's counter, one per page
 *   NT pages of PMC_LOG_BYTES  thread t's log: one 16-byte text line per
 *                              step, "t2 0000001234 A\n" (thread, step
 *                              number from 1, instance letter)
 *   PMC_HOT_BYTES              the hot set, rewritten page by page
 *   the rest                   "guest memory": pseudo-random bytes
 *                              written once by the first instance
 *
 * A thread's step: write log line c + 1 at index c, then store c + 1 in
 * its counter. A resumed instance reads the counters and continues.
 */
#ifndef PARTMOB_DEMO_PMCOUNTER_H
#define PARTMOB_DEMO_PMCOUNTER_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PMC_MAGIC	0x706d636f756e7431ULL	/* "pmcount1" */
#define PMC_THREADS	4
#define PMC_REC		16			/* bytes per log line */
#define PMC_LOG_BYTES	(2UL << 20)		/* per thread */
#define PMC_LOG_MAX	(PMC_LOG_BYTES / PMC_REC)
#define PMC_HOT_BYTES	(2UL << 20)
#define PMC_HOT_RATE	(1UL << 20)		/* bytes dirtied per second */

struct pmc_hdr {
	uint64_t magic;
	uint32_t nthreads, page_size;
	uint64_t size;			/* of the region */
	uint64_t generation;		/* 1, then +1 per resumed instance */
	int64_t pid;			/* of the instance that runs it */
	uint64_t stop;			/* set from outside: exit */
	uint64_t full;			/* a log ran out of room */
	uint64_t resumed_from[PMC_THREADS];
	uint64_t resumed;		/* the generation that resumed */
	uint64_t beats;			/* seconds the instances printed */
	uint64_t hot_writes;
};

struct pmc_layout {
	long page;
	size_t size;
	unsigned char *base;
};

static inline struct pmc_hdr *pmc_hdr(const struct pmc_layout *l)
{
	return (struct pmc_hdr *)l->base;
}

static inline volatile uint64_t *pmc_counter(const struct pmc_layout *l,
					     int t)
{
	return (volatile uint64_t *)(l->base + (1 + t) * l->page);
}

static inline size_t pmc_log_off(const struct pmc_layout *l, int t)
{
	return (1 + PMC_THREADS) * l->page + t * PMC_LOG_BYTES;
}

static inline char *pmc_log(const struct pmc_layout *l, int t)
{
	return (char *)l->base + pmc_log_off(l, t);
}

static inline size_t pmc_hot_off(const struct pmc_layout *l)
{
	return pmc_log_off(l, PMC_THREADS);
}

static inline size_t pmc_ballast_off(const struct pmc_layout *l)
{
	return pmc_hot_off(l) + PMC_HOT_BYTES;
}

/* The smallest region that has room for everything and 1 MiB of ballast. */
static inline size_t pmc_min_size(long page)
{
	return (1 + PMC_THREADS) * page + PMC_THREADS * PMC_LOG_BYTES +
	       PMC_HOT_BYTES + (1UL << 20);
}

/* Log line @n (from 1) of thread @t, written by instance @gen (1 = A). */
static inline void pmc_record(char rec[PMC_REC + 1], int t, uint64_t n,
			      uint64_t gen)
{
	snprintf(rec, PMC_REC + 1, "t%u %010llu %c\n", (unsigned int)t % 10,
		 (unsigned long long)(n % 10000000000ULL),
		 (char)('A' + (gen - 1) % 26));
}

#endif
