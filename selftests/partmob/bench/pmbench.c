// SPDX-License-Identifier: GPL-2.0
/*
 * pmbench: the figures of `make bench`, measured in the guest: the
 * tracking costs, partmob side by side with soft-dirty (CRIU's mechanism)
 * on the same workload (this file), and the live-migration figures
 * (migbench.c), in the same boot. Prints one JSON object of flat keys
 * between "### partmob-bench-begin" and "### partmob-bench-end" at the
 * end (progress lines come before it); each figure is the median of
 * PMB_RUNS runs, with every run under KEY_runs.
 *
 *   pmbench [small][,peers]      (peers: iperf3, CRIU and QEMU only)
 *   pmbench [small,]tracking     the tracking figures only
 *   pmbench profile[,small]      perf profiles of first writes and
 *                                re-arms (partmob and soft-dirty), of a
 *                                bulk and a sparse migration and of
 *                                iperf3 (migbench.c), no figures
 *   pmbench criu-workload ...    the process CRIU migrates (peerbench.c)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "pmbench.h"

#define PM_NAME "pmbench"

long ps;
struct tnl t;
int small;
int peers_only;
static int profile;	/* BENCH_PROFILE=1: perf profiles, no figures */
static int tracking_only;	/* BENCH_ONLY=tracking: no migrations */
/* The JSON object, printed at the end so that nothing interleaves. */
static FILE *json;
static char *json_buf;
static size_t json_len;
static int first_key = 1;
static double start_time;

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void emit(const char *key, double runs[PMB_RUNS])
{
	int i;

	qsort(runs, PMB_RUNS, sizeof(double), cmp);
	fprintf(json, "%s\n  \"%s\": %.4f,\n  \"%s_runs\": [",
		first_key ? "{" : ",", key, runs[PMB_RUNS / 2], key);
	for (i = 0; i < PMB_RUNS; i++)
		fprintf(json, "%s%.4f", i ? ", " : "", runs[i]);
	fprintf(json, "]");
	first_key = 0;
	progress("%s = %.4f", key, runs[PMB_RUNS / 2]);
}

void emit_skip(const char *key, const char *why)
{
	const char *c;

	fprintf(json, "%s\n  \"%s_skipped\": \"", first_key ? "{" : ",", key);
	for (c = why; *c; c++) {
		if (*c == '"' || *c == '\\')
			fputc('\\', json);
		fputc((unsigned char)*c < ' ' ? ' ' : *c, json);
	}
	fputc('"', json);
	first_key = 0;
	progress("%s left out: %s", key, why);
}

void progress(const char *fmt, ...)
{
	va_list ap;

	printf("pmbench: [%.0fs] ", now() - start_time);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void die(const char *what)
{
	fprintf(stderr, "pmbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

unsigned char *region_map(const char *name, uint64_t size,
				 int overcommit)
{
	char path[64];
	void *p;
	int fd;

	pm_region_delete(&t, name);
	if (pm_region_create(&t, name, size,
			     overcommit ? PARTMOB_REGION_F_OVERCOMMIT : -1,
			     -1, -1, -1))
		die("region create");
	snprintf(path, sizeof(path), "/dev/partmob/%s", name);
	fd = open(path, O_RDWR);
	if (fd < 0)
		die(path);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap region");
	close(fd);
	return p;
}

void region_unmap(const char *name, unsigned char *p, uint64_t size)
{
	munmap(p, size);
	pm_region_delete(&t, name);
}

static unsigned char *memfd_map(uint64_t size)
{
	int fd = memfd_create("pmbench", 0);
	void *p;

	if (fd < 0 || ftruncate(fd, size))
		die("memfd");
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap memfd");
	close(fd);
	return p;
}

static void touch(unsigned char *p, size_t npages, size_t step)
{
	size_t i;

	for (i = 0; i < npages; i += step)
		((volatile unsigned char *)p)[i * ps]++;
}

static long harvest(const char *name, size_t npages)
{
	long n = pm_region_harvest(&t, name, -1, NULL, npages);

	if (n < 0) {
		errno = -n;
		die("harvest");
	}
	return n;
}

static void clear_refs(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	if (fd < 0 || write(fd, "4", 1) != 1)
		die("clear_refs");
	close(fd);
}

/* Soft-dirty pages of [p, p + npages): what CRIU reads after a clear. */
static size_t softdirty_scan(unsigned char *p, size_t npages)
{
	static uint64_t buf[4096];
	size_t i, n = 0, done = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		die("pagemap");
	while (done < npages) {
		size_t want = npages - done > 4096 ? 4096 : npages - done;
		off_t off = ((uintptr_t)p / ps + done) * 8;

		if (pread(fd, buf, want * 8, off) != (ssize_t)(want * 8))
			die("pagemap read");
		for (i = 0; i < want; i++)
			n += (buf[i] >> 55) & 1;
		done += want;
	}
	close(fd);
	return n;
}

static int softdirty_works(void)
{
	unsigned char *p = memfd_map(16 * ps);
	int ok;

	touch(p, 16, 1);
	clear_refs();
	ok = softdirty_scan(p, 16) == 0;
	touch(p, 16, 2);
	ok = ok && softdirty_scan(p, 16) == 8;
	munmap(p, 16 * ps);
	return ok;
}

/*
 * Cost of one tracked first write and of one re-arm per page: partmob on a
 * region, soft-dirty (clear_refs + pagemap) on a memfd of the same size.
 * The runs alternate between the two so that the emulator's slow phases
 * hit both alike.
 */
static void bench_fault_rearm(size_t npages, int softdirty, double *fault,
			      double *rearm, double *sd_fault,
			      double *sd_rearm)
{
	unsigned char *p = region_map(PM_NAME, npages * ps, 0);
	unsigned char *m = softdirty ? memfd_map(npages * ps) : NULL;
	double t0;
	int r;

	touch(p, npages, 1);
	harvest(PM_NAME, npages);
	if (m) {
		touch(m, npages, 1);
		clear_refs();
	}
	for (r = 0; r < PMB_RUNS; r++) {
		t0 = now();
		touch(p, npages, 1);
		fault[r] = (now() - t0) * 1e6 / npages;
		t0 = now();
		if (harvest(PM_NAME, npages) != (long)npages) {
			fprintf(stderr, "pmbench: harvest missed pages\n");
			exit(1);
		}
		rearm[r] = (now() - t0) * 1e6 / npages;
		if (!m)
			continue;
		t0 = now();
		touch(m, npages, 1);
		sd_fault[r] = (now() - t0) * 1e6 / npages;
		t0 = now();
		if (softdirty_scan(m, npages) != npages) {
			fprintf(stderr, "pmbench: soft-dirty missed pages\n");
			exit(1);
		}
		clear_refs();
		sd_rearm[r] = (now() - t0) * 1e6 / npages;
	}
	if (m)
		munmap(m, npages * ps);
	region_unmap(PM_NAME, p, npages * ps);
}

/* The re-arms that profile_fault_rearm() compares. */
static void rearm_partmob(unsigned char *p, size_t npages)
{
	(void)p;
	harvest(PM_NAME, npages);
}

static void rearm_softdirty(unsigned char *p, size_t npages)
{
	softdirty_scan(p, npages);
	clear_refs();
}

/* @rounds of a first write to each page of @p and @rearm, under perf. */
static void profile_rounds(const char *who, unsigned char *p, size_t npages,
			   int rounds,
			   void (*rearm)(unsigned char *p, size_t npages))
{
	double tf = 0, tr = 0, t0;
	struct pm_proc perf;
	char title[64];
	int r;

	touch(p, npages, 1);
	rearm(p, npages);
	if (perf_start(&perf))
		die("perf record");
	for (r = 0; r < rounds; r++) {
		t0 = now();
		touch(p, npages, 1);
		tf += now() - t0;
		t0 = now();
		rearm(p, npages);
		tr += now() - t0;
	}
	snprintf(title, sizeof(title), "%s-fault-rearm", who);
	perf_report(&perf, title, "pmbench");
	progress("%s: fault %.2f us, re-arm %.3f us per page", who,
		 tf * 1e6 / npages / rounds, tr * 1e6 / npages / rounds);
}

/*
 * pmbench profile: where the time of bench_fault_rearm() goes, partmob
 * (first writes, harvest and re-arm) and soft-dirty (first writes,
 * pagemap and clear_refs) on the same pages, each under perf for @rounds
 * rounds.
 */
static void profile_fault_rearm(size_t npages, int rounds)
{
	unsigned char *p = region_map(PM_NAME, npages * ps, 0);
	unsigned char *m;

	profile_rounds("partmob", p, npages, rounds, rearm_partmob);
	region_unmap(PM_NAME, p, npages * ps);
	m = memfd_map(npages * ps);
	profile_rounds("softdirty", m, npages, rounds, rearm_softdirty);
	munmap(m, npages * ps);
}

struct hot {
	unsigned char *p;
	size_t bytes;
	double secs;
	atomic_int stop;
	uint64_t stores;
	const char *harvest_name;
	size_t npages;
};

static void *hot_writer(void *arg)
{
	struct hot *h = arg;
	uint64_t x = 88172645463325252ULL, n = 0;
	size_t words = h->bytes / 8;
	volatile uint64_t *w = (volatile uint64_t *)h->p;
	int i;

	while (!atomic_load_explicit(&h->stop, memory_order_relaxed)) {
		for (i = 0; i < 4096; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			w[x % words] = n + i;
		}
		n += 4096;
	}
	h->stores = n;
	return NULL;
}

/* How the hot-set writer's memory is re-armed every 100 ms. */
enum hot_mode { HOT_UNTRACKED, HOT_PARTMOB, HOT_SOFTDIRTY };

static double hot_run(unsigned char *p, size_t bytes, double secs,
		      enum hot_mode mode, const char *harvest_name,
		      size_t npages)
{
	struct hot h = { .p = p, .bytes = bytes, .secs = secs };
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	pthread_t th;
	double t0, t1;

	touch(p, bytes / ps, 1);
	t0 = now();
	if (pthread_create(&th, NULL, hot_writer, &h))
		die("pthread_create");
	while (now() - t0 < secs) {
		nanosleep(&tick, NULL);
		if (mode == HOT_PARTMOB) {
			harvest(harvest_name, npages);
		} else if (mode == HOT_SOFTDIRTY) {
			softdirty_scan(p, npages);
			clear_refs();
		}
	}
	atomic_store(&h.stop, 1);
	pthread_join(th, NULL);
	t1 = now();
	return h.stores / (t1 - t0);
}

/*
 * The same writer on three 8 MiB sets: a region re-armed every 100 ms, a
 * memfd left alone, a memfd under soft-dirty re-armed every 100 ms. Each
 * run alternates short slices of the three, so that a slow phase of the
 * emulator hits them alike, and compares the store totals.
 */
static void bench_hot(double secs, double *ratio, double *sd_ratio)
{
	const double slice = 0.5;
	size_t bytes = 8 << 20, npages = bytes / ps;
	unsigned char *tracked = region_map(PM_NAME, bytes, 0);
	unsigned char *plain = memfd_map(bytes);
	unsigned char *soft = memfd_map(bytes);
	double a, b, c, t;
	int r;

	for (r = 0; r < PMB_RUNS; r++) {
		a = b = c = 0;
		for (t = 0; t < secs; t += slice) {
			a += hot_run(tracked, bytes, slice, HOT_PARTMOB,
				     PM_NAME, npages);
			b += hot_run(plain, bytes, slice, HOT_UNTRACKED, NULL,
				     0);
			if (sd_ratio)
				c += hot_run(soft, bytes, slice, HOT_SOFTDIRTY,
					     NULL, npages);
		}
		ratio[r] = a / b;
		if (sd_ratio)
			sd_ratio[r] = c / b;
	}
	munmap(soft, bytes);
	munmap(plain, bytes);
	region_unmap(PM_NAME, tracked, bytes);
}

/* Harvest cost per dirty page, big region / small region, same pages. */
static void bench_scale(uint64_t small, uint64_t big, size_t step,
			double *ratio)
{
	unsigned char *a = region_map("pmbench-small", small, 0);
	unsigned char *b = region_map("pmbench-big", big, 1);
	size_t npages = small / ps, dirty = (npages + step - 1) / step;
	double t0, ta, tb;
	int r;

	touch(a, npages, step);
	touch(b, npages, step);
	harvest("pmbench-small", npages);
	harvest("pmbench-big", big / ps);
	for (r = 0; r < PMB_RUNS; r++) {
		touch(a, npages, step);
		t0 = now();
		if (harvest("pmbench-small", npages) != (long)dirty)
			die("harvest small");
		ta = (now() - t0) / dirty;
		touch(b, npages, step);
		t0 = now();
		if (harvest("pmbench-big", big / ps) != (long)dirty)
			die("harvest big");
		tb = (now() - t0) / dirty;
		ratio[r] = tb / ta;
	}
	region_unmap("pmbench-small", a, small);
	region_unmap("pmbench-big", b, big);
}

/*
 * The guest's memory is slow the first time it is touched (the emulator
 * allocates it then): touch most of it once before timing anything.
 */
static void warm_up(void)
{
	long avail = 0;
	char line[128];
	size_t bytes, i;
	unsigned char *p;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &avail) == 1)
			break;
	if (f)
		fclose(f);
	if (avail < (512 << 10))
		return;
	bytes = (size_t)(avail - (384 << 10)) << 10;
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return;
	for (i = 0; i < bytes; i += ps)
		p[i] = 1;
	munmap(p, bytes);
	progress("touched %zu MiB of guest memory once", bytes >> 20);
}

int main(int argc, char **argv)
{
	size_t fault_pages;
	double f[PMB_RUNS], rr[PMB_RUNS], sf[PMB_RUNS], sr[PMB_RUNS];
	double hot[PMB_RUNS], sd_hot[PMB_RUNS], scale[PMB_RUNS];
	int softdirty;

	char none[] = "", *arg;

	ps = sysconf(_SC_PAGESIZE);
	if (argc > 1 && !strcmp(argv[1], "criu-workload"))
		return criu_workload(argc, argv);
	start_time = now();
	/* pmbench [small][,peers|,tracking] or profile[,small] */
	for (arg = strtok(argc > 1 ? argv[1] : none, ","); arg;
	     arg = strtok(NULL, ",")) {
		if (!strcmp(arg, "small"))
			small = 1;
		else if (!strcmp(arg, "peers"))
			peers_only = 1;
		else if (!strcmp(arg, "profile"))
			profile = 1;
		else if (!strcmp(arg, "tracking"))
			tracking_only = 1;
	}
	/* CRIU restores processes under criu, which leaves: adopt them */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	fault_pages = (small ? 64 : 256) * 1024 * 1024 / ps;
	json = open_memstream(&json_buf, &json_len);
	if (!json)
		die("open_memstream");
	if (tnl_open(&t)) {
		fprintf(stderr, "pmbench: partmob.ko is not loaded\n");
		return 1;
	}
	warm_up();
	if (profile) {
		progress("profile: first writes and re-arm");
		profile_fault_rearm(fault_pages, 40);
		bench_profile(small ? 256ULL << 20 : 1ULL << 30);
		tnl_close(&t);
		return 0;
	}
	if (peers_only)
		goto migration;
	progress("tracking figures");
	softdirty = softdirty_works();
	bench_fault_rearm(fault_pages, softdirty, f, rr, sf, sr);
	emit("track_fault_us", f);
	emit("rearm_us", rr);
	if (softdirty) {
		emit("softdirty_fault_us", sf);
		emit("softdirty_rearm_us", sr);
	} else {
		emit_skip("softdirty_fault_us", "soft-dirty not available in this kernel");
		emit_skip("softdirty_rearm_us", "soft-dirty not available in this kernel");
	}
	bench_hot(small ? 1.0 : 3.0, hot, softdirty ? sd_hot : NULL);
	emit("tracking_ratio_hot", hot);
	if (softdirty)
		emit("softdirty_tracking_ratio_hot", sd_hot);
	bench_scale(256ULL << 20, 4ULL << 30, 16, scale);
	emit("harvest_scale_ratio", scale);
	if (tracking_only)
		goto done;
migration:
	bench_migration();
done:
	fprintf(json, "\n}\n");
	fclose(json);
	printf("### partmob-bench-begin\n%s### partmob-bench-end\n", json_buf);
	free(json_buf);
	tnl_close(&t);
	return 0;
}
