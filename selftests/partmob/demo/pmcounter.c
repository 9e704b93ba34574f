// SPDX-License-Identifier: GPL-2.0
/*
 * pmcounter: the workload of `make demo`, a program whose whole state lives
 * in a partmob region (layout in pmcounter.h). PMC_THREADS threads count,
 * each appending one log line per step to its log in the region; another
 * thread rewrites a hot set of pages; the main thread prints a line every
 * second. Nothing of its state is outside the region, so a new instance
 * started on the region's copy on another host continues where the first
 * one was frozen.
 *
 *   pmcounter NAME|DEVICE   start on a fresh (all zero) region
 *   pmcounter --resume      continue in $PARTMOB_DEVICE, as started by
 *                           partmobctl listen --on-resume
 *
 * It runs until the region's stop word is set (pmdemo sets it), then
 * prints where it stopped and exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include "pmcounter.h"

static struct pmc_layout L;
static const char *who = "pmcounter";

static uint64_t load(volatile uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store(volatile uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *count(void *arg)
{
	int t = (int)(intptr_t)arg;
	struct pmc_hdr *h = pmc_hdr(&L);
	volatile uint64_t *ctr = pmc_counter(&L, t);
	char *log = pmc_log(&L, t), rec[PMC_REC + 1];
	uint64_t c = load(ctr);

	while (!load(&h->stop)) {
		if (c >= PMC_LOG_MAX) {
			store(&h->full, 1);
			break;
		}
		pmc_record(rec, t, c + 1, h->generation);
		memcpy(log + c * PMC_REC, rec, PMC_REC);
		store(ctr, ++c);
		sleep_us(1000);
	}
	return NULL;
}

/* Dirty PMC_HOT_RATE bytes per second of the hot set, a page at a time. */
static void *hot(void *arg)
{
	struct pmc_hdr *h = pmc_hdr(&L);
	unsigned char *p = L.base + pmc_hot_off(&L);
	size_t npages = PMC_HOT_BYTES / L.page, i = 0;
	long us = (long)((double)L.page * 1e6 / PMC_HOT_RATE);

	while (!load(&h->stop)) {
		volatile uint64_t *w = (volatile uint64_t *)(p + i * L.page);

		*w += 1;
		store(&h->hot_writes, load(&h->hot_writes) + 1);
		i = (i + 1) % npages;
		sleep_us(us);
	}
	return NULL;
}

static uint64_t counts(uint64_t c[PMC_THREADS], char *buf, size_t n)
{
	uint64_t total = 0;
	size_t len = 0;
	int t;

	for (t = 0; t < PMC_THREADS; t++) {
		c[t] = load(pmc_counter(&L, t));
		total += c[t];
		len += snprintf(buf + len, n - len, "%st%d %llu",
				t ? ", " : "", t, (unsigned long long)c[t]);
		if (len >= n)
			break;
	}
	return total;
}

static int map(const char *path, int fresh)
{
	off_t size;
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", who, path, strerror(errno));
		return -1;
	}
	size = lseek(fd, 0, SEEK_END);
	L.page = sysconf(_SC_PAGESIZE);
	if (size < (off_t)pmc_min_size(L.page)) {
		fprintf(stderr, "%s: %s: %lld bytes; at least %zu needed\n",
			who, path, (long long)size, pmc_min_size(L.page));
		close(fd);
		return -1;
	}
	L.size = size;
	L.base = mmap(NULL, L.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (L.base == MAP_FAILED) {
		fprintf(stderr, "%s: mmap %s: %s\n", who, path, strerror(errno));
		return -1;
	}
	if (fresh && pmc_hdr(&L)->magic) {
		fprintf(stderr, "%s: %s is not a fresh region\n", who, path);
		return -1;
	}
	if (!fresh && (pmc_hdr(&L)->magic != PMC_MAGIC ||
		       pmc_hdr(&L)->page_size != L.page ||
		       pmc_hdr(&L)->size != L.size)) {
		fprintf(stderr, "%s: %s holds no pmcounter state\n", who, path);
		return -1;
	}
	return 0;
}

/* "Guest memory": every byte written, so that the migration moves it. */
static void fill_ballast(void)
{
	uint64_t *p = (uint64_t *)(L.base + pmc_ballast_off(&L));
	size_t n = (L.size - pmc_ballast_off(&L)) / sizeof(*p), i;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

int main(int argc, char **argv)
{
	char path[128], line[160], rname[64];
	uint64_t c[PMC_THREADS], total, last;
	int fresh, t;
	pthread_t th[PMC_THREADS + 1];
	struct pmc_hdr *h;
	double t0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "--resume")) {
		const char *dev = getenv("PARTMOB_DEVICE");

		if (!dev) {
			fprintf(stderr, "%s: --resume: no PARTMOB_DEVICE\n", who);
			return 2;
		}
		snprintf(path, sizeof(path), "%s", dev);
		fresh = 0;
	} else if (argc == 2 && argv[1][0] != '-') {
		if (strchr(argv[1], '/'))
			snprintf(path, sizeof(path), "%s", argv[1]);
		else
			snprintf(path, sizeof(path), "/dev/partmob/%s", argv[1]);
		fresh = 1;
	} else {
		fprintf(stderr, "usage: %s NAME|DEVICE | --resume\n", who);
		return 2;
	}
	snprintf(rname, sizeof(rname), "%s", strrchr(path, '/') + 1);
	if (map(path, fresh))
		return 1;
	h = pmc_hdr(&L);
	h->pid = getpid();
	if (fresh) {
		fill_ballast();
		h->nthreads = PMC_THREADS;
		h->page_size = L.page;
		h->size = L.size;
		h->generation = 1;
		store(&h->magic, PMC_MAGIC);
		printf("%s %d: region %s, %zu MiB; %d threads count and log into it\n",
		       who, getpid(), rname, L.size >> 20, PMC_THREADS);
	} else {
		h->generation++;
		total = counts(c, line, sizeof(line));
		for (t = 0; t < PMC_THREADS; t++)
			h->resumed_from[t] = c[t];
		store(&h->resumed, h->generation);
		printf("%s %d: region %s: resumed at %llu (%s)\n", who, getpid(),
		       rname, (unsigned long long)total, line);
	}

	for (t = 0; t < PMC_THREADS; t++)
		if (pthread_create(&th[t], NULL, count, (void *)(intptr_t)t))
			return 3;
	if (pthread_create(&th[PMC_THREADS], NULL, hot, NULL))
		return 3;

	last = counts(c, line, sizeof(line));
	t0 = now();
	while (!load(&h->stop)) {
		double next = t0 + 1.0, d;

		while ((d = next - now()) > 0 && !load(&h->stop))
			sleep_us(d > 0.05 ? 50000 : (long)(d * 1e6) + 1);
		t0 = next;
		if (load(&h->stop))
			break;
		/* A write: a frozen region stops this thread here too. */
		store(&h->beats, load(&h->beats) + 1);
		total = counts(c, line, sizeof(line));
		printf("%s %d: total %llu (%s), +%llu/s\n", who, getpid(),
		       (unsigned long long)total, line,
		       (unsigned long long)(total - last));
		last = total;
	}
	for (t = 0; t <= PMC_THREADS; t++)
		pthread_join(th[t], NULL);
	total = counts(c, line, sizeof(line));
	printf("%s %d: stopped at %llu (%s)%s\n", who, getpid(),
	       (unsigned long long)total, line,
	       load(&h->full) ? "; a log is full" : "");
	munmap(L.base, L.size);
	return 0;
}
