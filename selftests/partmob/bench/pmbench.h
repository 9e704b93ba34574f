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
#include "../mig_lib.h"

#define PMB_RUNS 3

extern long ps;			/* the page size */
extern struct tnl t;		/* our netlink session */
extern int small;		/* BENCH_SCALE=small */
extern int peers_only;		/* BENCH_ONLY=peers: iperf3 and the peers only */

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

/* migbench.c: the migration figures, and what the peers share with them */
void bench_migration(void);
void bench_profile(uint64_t size);	/* pmbench profile */
/* perf sampling the whole guest (the host's perf), then its report. */
int perf_start(struct pm_proc *p);
void perf_report(struct pm_proc *p, const char *title, const char *comm);
extern struct pm_hosts hosts;	/* A (source) and B (destination) */
extern int next_port;		/* the next free TCP port to listen on */
double cpu_s(void);		/* CPU seconds of the whole guest so far */
/* The same pseudo-random bytes for partmob's regions and the peers'. */
void fill_random(unsigned char *p, size_t bytes, uint64_t seed);
char *slurp(const char *path);
double json_num(const char *s, const char *key);
const char *last_line(const char *s);
int proc_wait_exact(struct pm_proc *p, int timeout_ms);
/*
 * Run @path @argv in network namespace @ns (-1: ours), output to files;
 * with @host_root, chrooted into the host's root (/host) with the guest's
 * /dev, /proc, /sys and /tmp bound over it, as the host's QEMU needs.
 */
int spawn_in_ns(struct pm_proc *p, int ns, int host_root, const char *path,
		char *const *argv);

/* A writer dirtying random pages of a hot set at a rate, one step a tick. */
struct wloop {
	unsigned char *p;
	uint64_t x, n;		/* xorshift state, pages written */
	double t0, rate;	/* bytes per second */
	size_t hp, words, cap;
};
void wloop_init(struct wloop *w, unsigned char *p, size_t hot, double rate);
void wloop_step(struct wloop *w);	/* write the pages due by now */

/* peerbench.c: CRIU and QEMU, the same bytes over the same veth */
int criu_workload(int argc, char **argv);	/* pmbench criu-workload ... */
const char *criu_missing(void);	/* why CRIU cannot run here, or NULL */
const char *qemu_missing(void);
int criu_bulk_run(uint64_t size, uint64_t seed, double *mbps,
		  double *cpu_per_gib, char *why, size_t whylen);
void bench_criu_dirty(uint64_t size, size_t hot, double rate);
int qemu_image(uint64_t size, uint64_t seed);
void qemu_image_remove(void);
int qemu_run(uint64_t size, int multifd, double *mbps, double *cpu_per_gib,
	     double *downtime_ms, char *why, size_t whylen);
/* The peers' bulk runs, one per partmob bulk run (run @r). */
struct peer_runs {
	double criu_mbps[PMB_RUNS], criu_cpu[PMB_RUNS];
	double qemu_mbps[PMB_RUNS], qemu_cpu[PMB_RUNS], qemu_down[PMB_RUNS];
	double multifd_mbps[PMB_RUNS];
	char criu_why[400], qemu_why[400], multifd_why[400];
};
void peers_bulk_run(uint64_t size, uint64_t seed, struct peer_runs *pr,
		    int r);
void peers_bulk_emit(struct peer_runs *pr);
void peers_skip_all(const char *why);

static inline uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

#endif
