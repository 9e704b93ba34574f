// SPDX-License-Identifier: GPL-2.0
/*
 * Write-protect dirty logging: every way of changing a region's contents is
 * logged (CPU stores, read(2) into the region, process_vm_writev, hole
 * punching through the mapping, write(2) through /proc/PID/map_files),
 * reads are not, a harvest re-arms; freeze blocks writers and only them;
 * and a concurrent stress test rebuilds the region from harvests alone and
 * must match it exactly, while the same test with PARTMOB_DIRTY_F_NO_REARM
 * must not (proof that the test can fail).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "lib.h"
#include "kselftest_harness.h"

#define NPAGES 256
/* One name per test program run: a test that left its region behind
 * does not spoil the next one. */
static char region_name[40];
#define NAME region_name

FIXTURE(dirty) {
	struct tnl t;
	long page;
	size_t size;
	int fd;
	unsigned char *p;
	unsigned long bm[NPAGES / PM_BITS_PER_LONG + 1];
};

FIXTURE_SETUP(dirty)
{
	char path[64];
	int supported;

	self->fd = -1;
	self->p = MAP_FAILED;
	if (geteuid())
		SKIP(return, "needs root");
	if (!pm_module_loaded())
		SKIP(return, "partmob.ko is not loaded");
	ASSERT_EQ(0, tnl_open(&self->t));
	supported = pm_regions_supported(&self->t);
	ASSERT_LE(0, supported);
	if (!supported)
		SKIP(return, "the module does not implement regions");
	pm_regions_cleanup("kst-dirty");
	snprintf(region_name, sizeof(region_name), "kst-dirty-%d", getpid());
	self->page = sysconf(_SC_PAGESIZE);
	self->size = NPAGES * self->page;
	ASSERT_EQ(0, pm_region_create(&self->t, NAME, self->size, -1, -1, -1,
				      -1)) TH_LOG("%s", self->t.extack);
	snprintf(path, sizeof(path), "/dev/partmob/%s", NAME);
	self->fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	self->p = mmap(NULL, self->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->p);
}

FIXTURE_TEARDOWN(dirty)
{
	if (self->p != MAP_FAILED)
		munmap(self->p, self->size);
	if (self->fd >= 0)
		close(self->fd);
	if (self->t.sk) {
		pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW, NAME);
		pm_region_delete(&self->t, NAME);
	}
	tnl_close(&self->t);
}

static uint64_t faults(struct tnl *t)
{
	struct pm_region_info ri;

	if (pm_region_get(t, NAME, &ri))
		return ~0ULL;
	return ri.faults;
}

static struct pm_region_info info(struct tnl *t)
{
	struct pm_region_info ri;

	memset(&ri, 0xff, sizeof(ri));
	pm_region_get(t, NAME, &ri);
	return ri;
}

/* Harvest into self->bm (cleared first); returns the count. */
static long harvest(FIXTURE_DATA(dirty) *self)
{
	memset(self->bm, 0, sizeof(self->bm));
	return pm_region_harvest(&self->t, NAME, -1, self->bm, NPAGES);
}

static int is_set(const unsigned long *bm, unsigned long p)
{
	return !!(bm[p / PM_BITS_PER_LONG] & (1UL << (p % PM_BITS_PER_LONG)));
}

/* "3 17 100": the harvested pages, for messages. */
static const char *list(const unsigned long *bm, char *buf, size_t n)
{
	size_t o = 0;
	unsigned long i;

	buf[0] = '\0';
	for (i = 0; i < NPAGES && o + 8 < n; i++)
		if (is_set(bm, i))
			o += snprintf(buf + o, n - o, "%lu ", i);
	return buf;
}

TEST_F(dirty, first_write_logged_once)
{
	volatile unsigned char *p = self->p;
	uint64_t f0;
	char b[512];
	int i;

	EXPECT_EQ(0, harvest(self));
	f0 = faults(&self->t);
	p[3 * self->page] = 1;
	EXPECT_EQ(f0 + 1, faults(&self->t));
	p[3 * self->page + 100] = 2;
	p[3 * self->page] = 3;
	EXPECT_EQ(f0 + 1, faults(&self->t));
	EXPECT_EQ(1, info(&self->t).dirty);
	EXPECT_EQ(1, harvest(self)) TH_LOG("%s", list(self->bm, b, sizeof(b)));
	EXPECT_TRUE(is_set(self->bm, 3));
	EXPECT_EQ(0, info(&self->t).dirty);
	/* Nothing more until a new write. */
	EXPECT_EQ(0, harvest(self));
	/* Each re-arm makes the next write fault and log once. */
	for (i = 0; i < 10; i++) {
		p[3 * self->page + i] = (unsigned char)i;
		p[3 * self->page + i + 1] = (unsigned char)i;
		EXPECT_EQ(f0 + 2 + i, faults(&self->t));
		EXPECT_EQ(1, harvest(self));
		EXPECT_TRUE(is_set(self->bm, 3));
	}
	/* Several pages, the first and the last included. */
	p[0] = 1;
	p[(NPAGES - 1) * self->page + self->page - 1] = 1;
	p[64 * self->page] = 1;
	p[65 * self->page] = 1;
	EXPECT_EQ(4, harvest(self)) TH_LOG("%s", list(self->bm, b, sizeof(b)));
	EXPECT_TRUE(is_set(self->bm, 0));
	EXPECT_TRUE(is_set(self->bm, 64));
	EXPECT_TRUE(is_set(self->bm, 65));
	EXPECT_TRUE(is_set(self->bm, NPAGES - 1));
}

/*
 * Pages logged a few pages apart are re-armed together with the pages
 * between them (holes, or pages written before and not since): each
 * logged page faults and is logged again on its next write; a page in
 * between is not logged by the re-arm, and is on its own next write.
 */
TEST_F(dirty, scattered_pages_rearmed)
{
	static const unsigned long logged[] = { 5, 7, 20, 60, 130, 210, 250 };
	static const unsigned long between[] = { 6, 30, 100, 230 };
	volatile unsigned char *p = self->p;
	const size_t nl = sizeof(logged) / sizeof(logged[0]);
	const size_t nb = sizeof(between) / sizeof(between[0]);
	uint64_t f0;
	char b[512];
	size_t i;

	ASSERT_LE(256, NPAGES);
	/* Pages 0-199 written and re-armed; 200 on are holes. */
	for (i = 0; i < 200; i++)
		p[i * self->page] = 1;
	EXPECT_EQ(200, harvest(self));
	for (i = 0; i < nl; i++)
		p[logged[i] * self->page] = 2;
	EXPECT_EQ((long)nl, harvest(self))
		TH_LOG("%s", list(self->bm, b, sizeof(b)));
	for (i = 0; i < nl; i++)
		EXPECT_TRUE(is_set(self->bm, logged[i])) TH_LOG("page %lu", logged[i]);
	EXPECT_EQ(0, info(&self->t).dirty);
	f0 = faults(&self->t);
	for (i = 0; i < nl; i++)
		p[logged[i] * self->page + 1] = 3;
	EXPECT_EQ(f0 + nl, faults(&self->t));
	for (i = 0; i < nb; i++)
		p[between[i] * self->page + 1] = 3;
	EXPECT_EQ(f0 + nl + nb, faults(&self->t));
	EXPECT_EQ((long)(nl + nb), harvest(self))
		TH_LOG("%s", list(self->bm, b, sizeof(b)));
	for (i = 0; i < nb; i++)
		EXPECT_TRUE(is_set(self->bm, between[i])) TH_LOG("page %lu", between[i]);
	EXPECT_EQ(0, harvest(self));
}

TEST_F(dirty, reads_not_logged)
{
	volatile unsigned char *p = self->p;
	uint64_t f0;
	unsigned int sum = 0;
	int pfd[2];
	char buf[64];
	size_t i;

	EXPECT_EQ(0, harvest(self));
	f0 = faults(&self->t);
	for (i = 0; i < self->size; i += 64)
		sum += p[i];
	EXPECT_EQ(0, sum);
	EXPECT_EQ(f0, faults(&self->t));
	EXPECT_EQ(0, harvest(self));
	/* Written, harvested, then only read: not logged again. */
	p[5 * self->page] = 9;
	EXPECT_EQ(1, harvest(self));
	f0 = faults(&self->t);
	for (i = 0; i < self->size; i += 64)
		sum += p[i];
	EXPECT_EQ(9, sum);
	EXPECT_EQ(f0, faults(&self->t));
	EXPECT_EQ(0, harvest(self));
	/* read(2) of the region through write(2) to a pipe: a read too. */
	ASSERT_EQ(0, pipe(pfd));
	EXPECT_EQ(64, write(pfd[1], self->p + 5 * self->page, 64));
	EXPECT_EQ(64, read(pfd[0], buf, 64));
	EXPECT_EQ(9, buf[0]);
	close(pfd[0]);
	close(pfd[1]);
	EXPECT_EQ(0, harvest(self));
}

TEST_F(dirty, mprotect_does_not_bypass)
{
	unsigned char *pg = self->p + 5 * self->page;
	uint64_t f0;

	/* Write, harvest, RO, RW, write. */
	pg[0] = 1;
	EXPECT_EQ(1, harvest(self));
	ASSERT_EQ(0, mprotect(pg, self->page, PROT_READ));
	ASSERT_EQ(0, mprotect(pg, self->page, PROT_READ | PROT_WRITE));
	f0 = faults(&self->t);
	pg[1] = 2;
	EXPECT_EQ(f0 + 1, faults(&self->t));
	EXPECT_EQ(1, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 5));

	/* Write (PTE dirty), RO, harvest, RW, write. */
	pg[2] = 3;
	ASSERT_EQ(0, mprotect(pg, self->page, PROT_READ));
	EXPECT_EQ(1, harvest(self));
	ASSERT_EQ(0, mprotect(pg, self->page, PROT_READ | PROT_WRITE));
	f0 = faults(&self->t);
	pg[3] = 4;
	EXPECT_EQ(f0 + 1, faults(&self->t));
	EXPECT_EQ(1, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 5));

	/* The whole mapping, with a write in between each round. */
	pg[4] = 5;
	EXPECT_EQ(1, harvest(self));
	ASSERT_EQ(0, mprotect(self->p, self->size, PROT_READ));
	ASSERT_EQ(0, mprotect(self->p, self->size, PROT_READ | PROT_WRITE));
	pg[5] = 6;
	EXPECT_EQ(1, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 5));
}

TEST_F(dirty, read_syscall_into_region)
{
	char path[] = "/tmp/kst-dirty-XXXXXX";
	unsigned char *buf = malloc(3 * self->page);
	int fd, i;

	ASSERT_NE(NULL, buf);
	for (i = 0; i < 3 * self->page; i++)
		buf[i] = (unsigned char)(i * 13 + 1);
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);
	ASSERT_EQ(3 * self->page, write(fd, buf, 3 * self->page));
	/* Pages 30 and 31 read in once (first written), then re-read. */
	self->p[30 * self->page] = 0x77;
	EXPECT_EQ(1, harvest(self));
	ASSERT_EQ(2 * self->page, pread(fd, self->p + 30 * self->page,
					 2 * self->page, 0));
	EXPECT_EQ(2, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 30));
	EXPECT_TRUE(is_set(self->bm, 31));
	EXPECT_EQ(0, memcmp(self->p + 30 * self->page, buf, 2 * self->page));
	/* Straddling two pages, not page aligned. */
	ASSERT_EQ(self->page, pread(fd, self->p + 40 * self->page + 100,
				    self->page, self->page));
	EXPECT_EQ(2, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 40));
	EXPECT_TRUE(is_set(self->bm, 41));
	EXPECT_EQ(0, memcmp(self->p + 40 * self->page + 100, buf + self->page,
			    self->page));
	close(fd);
	free(buf);
}

/*
 * Reads into the region that take a pin on its pages (O_DIRECT), or, where
 * the file system has no O_DIRECT (tmpfs), a pipe: either way the kernel
 * writes the pages on our behalf.
 */
/*
 * A zram block device takes O_DIRECT where no file system here does (the
 * guests' tmpfs does not): add one, sized @bytes. Returns an O_DIRECT fd
 * and sets *id, or -1.
 */
static int zram_odirect(size_t bytes, int *id)
{
	char path[64], val[32];
	int fd;

	if (access("/sys/class/zram-control", F_OK) &&
	    system("modprobe zram >/dev/null 2>&1"))
		return -1;
	fd = open("/sys/class/zram-control/hot_add", O_RDONLY);
	if (fd < 0)
		return -1;
	memset(val, 0, sizeof(val));
	if (read(fd, val, sizeof(val) - 1) <= 0) {
		close(fd);
		return -1;
	}
	close(fd);
	*id = atoi(val);
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", *id);
	snprintf(val, sizeof(val), "%zu", bytes);
	if (pm_write_file(path, val))
		return -1;
	snprintf(path, sizeof(path), "/dev/zram%d", *id);
	return open(path, O_RDWR | O_DIRECT);
}

static void zram_remove(int id)
{
	char val[16];

	snprintf(val, sizeof(val), "%d", id);
	pm_write_file("/sys/class/zram-control/hot_remove", val);
}

TEST_F(dirty, direct_or_pipe_read_into_region)
{
	int zram = -1;
	static const char *const dirs[] = { "/tmp", "/var/tmp", "/root", "." };
	unsigned char *buf;
	char path[256];
	int fd = -1, pfd[2], i;
	size_t d;
	ssize_t n, got;

	ASSERT_EQ(0, posix_memalign((void **)&buf, self->page,
				    2 * self->page));
	for (i = 0; i < 2 * self->page; i++)
		buf[i] = (unsigned char)(i * 3 + 5);

	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]) && fd < 0; d++) {
		snprintf(path, sizeof(path), "%s/kst-odirect-%d", dirs[d],
			 getpid());
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
		if (fd >= 0) {
			unlink(path);
			if (pwrite(fd, buf, 2 * self->page, 0) !=
			    2 * self->page) {
				close(fd);
				fd = -1;
			}
		}
	}
	if (fd < 0) {
		fd = zram_odirect(1 << 20, &zram);
		if (fd >= 0 && pwrite(fd, buf, 2 * self->page, 0) !=
			       2 * self->page) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0) {
		self->p[50 * self->page] = 1;
		EXPECT_EQ(1, harvest(self));
		EXPECT_EQ(2 * self->page, pread(fd, self->p + 50 * self->page,
						2 * self->page, 0));
		EXPECT_EQ(2, harvest(self));
		EXPECT_TRUE(is_set(self->bm, 50));
		EXPECT_TRUE(is_set(self->bm, 51));
		EXPECT_EQ(0, memcmp(self->p + 50 * self->page, buf,
				    2 * self->page));
		close(fd);
	} else {
		TH_LOG("neither a file system nor zram takes O_DIRECT here");
	}
	if (zram >= 0)
		zram_remove(zram);

	/* A pipe, filled by a child. */
	ASSERT_EQ(0, pipe(pfd));
	if (!fork()) {
		close(pfd[0]);
		_exit(write(pfd[1], buf, 2 * self->page) != 2 * self->page);
	}
	close(pfd[1]);
	self->p[60 * self->page] = 1;
	EXPECT_EQ(1, harvest(self));
	for (got = 0; got < 2 * self->page; got += n) {
		n = read(pfd[0], self->p + 60 * self->page + got,
			 2 * self->page - got);
		ASSERT_LT(0, n);
	}
	close(pfd[0]);
	wait(NULL);
	EXPECT_EQ(2, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 60));
	EXPECT_TRUE(is_set(self->bm, 61));
	EXPECT_EQ(0, memcmp(self->p + 60 * self->page, buf, 2 * self->page));
	free(buf);
}

TEST_F(dirty, process_vm_writev)
{
	unsigned char *buf = malloc(self->page);
	int status, i;
	pid_t pid, parent = getpid();

	ASSERT_NE(NULL, buf);
	for (i = 0; i < self->page; i++)
		buf[i] = (unsigned char)(i * 5 + 3);
	self->p[7 * self->page] = 1;	/* mapped writable once */
	EXPECT_EQ(1, harvest(self));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct iovec l = { buf, self->page };
		struct iovec r[2] = {
			{ self->p + 7 * self->page, self->page },
			{ self->p + 9 * self->page + 10, 20 },
		};
		struct iovec l2 = { buf, 20 };

		if (process_vm_writev(parent, &l, 1, r, 1, 0) != self->page)
			_exit(1);
		if (process_vm_writev(parent, &l2, 1, r + 1, 1, 0) != 20)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(2, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 7));
	EXPECT_TRUE(is_set(self->bm, 9));
	EXPECT_EQ(0, memcmp(self->p + 7 * self->page, buf, self->page));
	EXPECT_EQ(0, memcmp(self->p + 9 * self->page + 10, buf, 20));
	free(buf);
}

static int all_zero(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

TEST_F(dirty, madv_remove_logged)
{
	struct pm_region_info before, after;

	memset(self->p + 9 * self->page, 0xab, 3 * self->page);
	EXPECT_EQ(3, harvest(self));
	before = info(&self->t);
	ASSERT_EQ(0, madvise(self->p + 9 * self->page, 2 * self->page,
			     MADV_REMOVE)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(2, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 9));
	EXPECT_TRUE(is_set(self->bm, 10));
	after = info(&self->t);
	EXPECT_LE(before.removed + 2, after.removed);
	EXPECT_TRUE(all_zero(self->p + 9 * self->page, 2 * self->page));
	EXPECT_EQ(0xab, self->p[11 * self->page]);
	/* A hole written again is logged again. */
	self->p[9 * self->page] = 1;
	EXPECT_EQ(1, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 9));
	/* Punching a hole that was never touched is reported too. */
	ASSERT_EQ(0, madvise(self->p + 100 * self->page, self->page,
			     MADV_REMOVE));
	EXPECT_EQ(1, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 100));
}

TEST_F(dirty, map_files)
{
	unsigned char *buf = malloc(self->page);
	char path[128];
	struct stat st;
	int fd, i, ret;

	ASSERT_NE(NULL, buf);
	for (i = 0; i < self->page; i++)
		buf[i] = (unsigned char)(i * 11 + 7);
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx",
		 (unsigned long)self->p, (unsigned long)self->p + self->size);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		SKIP(return, "no /proc/self/map_files (CONFIG_CHECKPOINT_RESTORE)");
	ASSERT_LE(0, fd) TH_LOG("%s: %s", path, strerror(errno));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ((off_t)self->size, st.st_size);

	self->p[11 * self->page] = 1;
	EXPECT_EQ(1, harvest(self));
	EXPECT_EQ(self->page, pwrite(fd, buf, self->page, 11 * self->page));
	EXPECT_EQ(self->page, pwrite(fd, buf, self->page, 20 * self->page));
	EXPECT_EQ(2, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 11));
	EXPECT_TRUE(is_set(self->bm, 20));
	EXPECT_EQ(0, memcmp(self->p + 11 * self->page, buf, self->page));
	EXPECT_EQ(0, memcmp(self->p + 20 * self->page, buf, self->page));
	/* write(2) beyond the end does not grow the region. */
	ret = pwrite(fd, buf, 16, self->size);
	TH_LOG("pwrite at the end: %d %s", ret, ret < 0 ? strerror(errno) : "");
	EXPECT_GE(0, ret);

	/* The size is fixed. */
	EXPECT_EQ(-1, ftruncate(fd, self->size / 2));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ftruncate(fd, self->size * 2));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ftruncate(fd, 0));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ((off_t)self->size, st.st_size);
	EXPECT_EQ((off_t)self->size, lseek(self->fd, 0, SEEK_END));
	EXPECT_EQ(0, memcmp(self->p + 20 * self->page, buf, self->page));

	/* Hole punching through the file: refused, or logged. */
	memset(self->p + 12 * self->page, 0xcd, self->page);
	EXPECT_EQ(1, harvest(self));
	ret = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			12 * self->page, self->page);
	if (ret) {
		TH_LOG("fallocate(PUNCH_HOLE) through map_files: %s",
		       strerror(errno));
		EXPECT_EQ(0, harvest(self));
		EXPECT_EQ(0xcd, self->p[12 * self->page]);
	} else {
		EXPECT_EQ(1, harvest(self));
		EXPECT_TRUE(is_set(self->bm, 12));
		EXPECT_TRUE(all_zero(self->p + 12 * self->page, self->page));
	}
	/* Growing through fallocate is refused. */
	EXPECT_NE(0, fallocate(fd, 0, self->size, self->page));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ((off_t)self->size, st.st_size);
	close(fd);
	free(buf);
}

/* ---- freeze ------------------------------------------------------------- */

/*
 * Wait until a writer of the region sleeps in the freeze: the module counts
 * it in frozen_waits just before it sleeps. Bounded only to turn a hang
 * into a failure.
 */
static int wait_frozen_writer(struct tnl *t, uint64_t waits0)
{
	int i;

	for (i = 0; i < 6000; i++) {
		if (info(t).frozen_waits > waits0)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* Has @fd data to read right now? */
static int readable(int fd)
{
	struct pollfd pf = { .fd = fd, .events = POLLIN };

	return poll(&pf, 1, 0) == 1;
}

/* A child that stores @val at @addr, then reports on @wfd. */
static pid_t writer_child(volatile unsigned char *addr, unsigned char val,
			  int pfd[2])
{
	pid_t pid = fork();

	if (!pid) {
		close(pfd[0]);
		*addr = val;
		if (write(pfd[1], "w", 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	return pid;
}

/* waitpid, but a child stuck for a minute is a failure, not a hang. */
static int wait_child(pid_t pid, int *status)
{
	int i;

	for (i = 0; i < 6000; i++) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return 0;
		if (r < 0)
			return -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return -1;
}

TEST_F(dirty, freeze_blocks_writers_not_readers)
{
	volatile unsigned char *p = self->p;
	struct pm_region_info ri;
	int pfd[2], pfd2[2], status, i;
	unsigned int sum = 0;
	pid_t w1, w2, rd;
	char c;

	p[0] = 0xa1;
	p[3 * self->page] = 0xa3;
	ASSERT_EQ(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_FREEZE, NAME));
	ri = info(&self->t);
	EXPECT_EQ(1, ri.frozen);

	/* A page mapped writable before, and one never touched. */
	ASSERT_EQ(0, pipe(pfd));
	w1 = writer_child(p, 0xb1, pfd);
	ASSERT_LT(0, w1);
	ASSERT_TRUE(wait_frozen_writer(&self->t, ri.frozen_waits));
	ASSERT_EQ(0, pipe(pfd2));
	w2 = writer_child(p + 77 * self->page, 0xb2, pfd2);
	ASSERT_LT(0, w2);
	ASSERT_TRUE(wait_frozen_writer(&self->t, ri.frozen_waits + 1));

	/* Blocked: neither store has landed, neither child went on. */
	usleep(200000);
	EXPECT_EQ(0xa1, p[0]);
	EXPECT_EQ(0, p[77 * self->page]);
	EXPECT_FALSE(readable(pfd[0]));
	EXPECT_FALSE(readable(pfd2[0]));
	EXPECT_EQ(0, waitpid(w1, &status, WNOHANG));

	/* Readers go on, in this process and in a new one (fresh PTEs). */
	for (i = 0; i < NPAGES; i++)
		sum += p[i * self->page];
	EXPECT_EQ(0xa1 + 0xa3, sum);
	rd = fork();
	ASSERT_LE(0, rd);
	if (!rd) {
		char path[64];
		int fd;

		snprintf(path, sizeof(path), "/dev/partmob/%s", NAME);
		fd = open(path, O_RDWR);
		volatile unsigned char *q;

		if (fd < 0)
			_exit(1);
		q = mmap(NULL, self->size, PROT_READ, MAP_SHARED, fd, 0);
		if (q == MAP_FAILED)
			_exit(2);
		_exit(q[0] != 0xa1 || q[3 * self->page] != 0xa3 ||
		      q[77 * self->page] != 0 || p[0] != 0xa1 ? 3 : 0);
	}
	ASSERT_EQ(0, wait_child(rd, &status));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("reader status %#x", status);
	/* Harvesting a frozen region works and does not thaw it. */
	EXPECT_LE(0, harvest(self));
	EXPECT_EQ(1, info(&self->t).frozen);
	EXPECT_FALSE(readable(pfd[0]));

	ASSERT_EQ(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW, NAME));
	EXPECT_EQ(0, info(&self->t).frozen);
	ASSERT_EQ(1, read(pfd[0], &c, 1));
	ASSERT_EQ(1, read(pfd2[0], &c, 1));
	EXPECT_EQ(0xb1, p[0]);
	EXPECT_EQ(0xb2, p[77 * self->page]);
	ASSERT_EQ(0, wait_child(w1, &status));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(0, wait_child(w2, &status));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The stores after the thaw are logged. */
	EXPECT_LE(0, harvest(self));
	EXPECT_TRUE(is_set(self->bm, 0));
	EXPECT_TRUE(is_set(self->bm, 77));
	close(pfd[0]);
	close(pfd2[0]);
}

TEST_F(dirty, freeze_sigkill_writer)
{
	volatile unsigned char *p = self->p;
	struct pm_region_info ri;
	int pfd[2], status;
	pid_t w;

	p[50 * self->page] = 0x11;
	ASSERT_EQ(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_FREEZE, NAME));
	ri = info(&self->t);
	ASSERT_EQ(0, pipe(pfd));
	w = writer_child(p + 50 * self->page, 0x22, pfd);
	ASSERT_LT(0, w);
	ASSERT_TRUE(wait_frozen_writer(&self->t, ri.frozen_waits));
	EXPECT_FALSE(readable(pfd[0]));
	ASSERT_EQ(0, kill(w, SIGKILL));
	ASSERT_EQ(0, wait_child(w, &status));
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));
	EXPECT_EQ(0x11, p[50 * self->page]);
	/* Still frozen: the kill changed nothing else. */
	EXPECT_EQ(1, info(&self->t).frozen);
	ASSERT_EQ(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW, NAME));
	EXPECT_EQ(0x11, p[50 * self->page]);
	close(pfd[0]);
	/* Not busy any more because of the killed child. */
	EXPECT_EQ(2, info(&self->t).users);
}

TEST_F(dirty, freeze_thaw_twice)
{
	ASSERT_EQ(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_FREEZE, NAME));
	EXPECT_EQ(-EALREADY, pm_region_cmd(&self->t,
					   PARTMOB_CMD_REGION_FREEZE, NAME));
	EXPECT_NE(0, self->t.extack[0]);
	EXPECT_EQ(1, info(&self->t).frozen);
	ASSERT_EQ(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW, NAME));
	EXPECT_EQ(-EALREADY, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW,
					   NAME));
	EXPECT_NE(0, self->t.extack[0]);
	EXPECT_EQ(0, info(&self->t).frozen);
	/* Writes work again. */
	self->p[0] = 1;
	EXPECT_EQ(1, harvest(self));
	/* Frozen regions cannot be deleted while mapped, thawed or not. */
	ASSERT_EQ(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_FREEZE, NAME));
	EXPECT_EQ(-EBUSY, pm_region_delete(&self->t, NAME));
	ASSERT_EQ(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW, NAME));
}

TEST_F(dirty, bad_dirty_flags)
{
	EXPECT_EQ(-EOPNOTSUPP, pm_region_harvest(&self->t, NAME, 1U << 5,
						 NULL, NPAGES));
	EXPECT_NE(0, self->t.extack[0]);
	EXPECT_EQ(-EOPNOTSUPP, pm_region_harvest(&self->t, NAME, 0xffffffff,
						 NULL, NPAGES));
	/* A harvest is a dump: a do-request of it is refused. */
	EXPECT_EQ(-EOPNOTSUPP, pm_region_cmd(&self->t,
					     PARTMOB_CMD_REGION_DIRTY, NAME));
}

/* ---- concurrent writers vs. harvests ------------------------------------ */

#define S_NPAGES	1024
#define S_THREADS	3
#define S_WRITES	30000	/* per writer; 4 writers: 120k writes */

struct stress_ctl {		/* shared with the child: MAP_SHARED */
	volatile int harvests;
	volatile int done;
	volatile int failed;
};

struct writer {
	unsigned char *base;
	long page;
	int id;
	struct stress_ctl *ctl;
};

static void *writer_fn(void *arg)
{
	struct writer *w = arg;
	uint64_t x = 0x9e3779b97f4a7c15ULL * (w->id + 1);
	uint64_t seq;
	long words = w->page / 8;

	for (seq = 1; seq <= S_WRITES; seq++) {
		uint64_t pg, off;

		/* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pg = x % S_NPAGES;
		off = (x >> 20) % words;
		((volatile uint64_t *)(w->base + pg * w->page))[off] =
			((uint64_t)(w->id + 1) << 48) | seq;
		/* Halfway, wait for two harvests so that they interleave. */
		if (seq == S_WRITES / 2)
			while (w->ctl->harvests < 2)
				usleep(1000);
	}
	__atomic_add_fetch(&w->ctl->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * Run the writers against a fresh region while harvesting in a loop and
 * copying every harvested page into a shadow; end with a final harvest
 * (frozen unless @flags asks for no re-arm) and return how many pages of
 * the shadow differ from the region, or -1 on a setup failure.
 */
static long stress(struct __test_metadata *_metadata, struct tnl *t,
		   const char *name, long page, int64_t flags)
{
	const size_t size = S_NPAGES * page;
	unsigned long bm[S_NPAGES / PM_BITS_PER_LONG];
	struct writer w[S_THREADS + 1];
	pthread_t th[S_THREADS];
	struct stress_ctl *ctl;
	unsigned char *p, *shadow;
	long n, diff = 0, rounds = 0, pages = 0;
	int fd, i, status;
	size_t pg;
	pid_t pid;

	char path[64];

	snprintf(path, sizeof(path), "/dev/partmob/%s", name);
	if (pm_region_create(t, name, size, -1, -1, -1, -1))
		return -1;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	shadow = calloc(S_NPAGES, page);
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || !shadow || ctl == MAP_FAILED)
		return -1;
	memset(ctl, 0, sizeof(*ctl));
	for (i = 0; i <= S_THREADS; i++)
		w[i] = (struct writer){ p, page, i, ctl };

	/* The child first, while this process has one thread. */
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		writer_fn(&w[S_THREADS]);
		_exit(0);
	}
	for (i = 0; i < S_THREADS; i++)
		if (pthread_create(&th[i], NULL, writer_fn, &w[i]))
			return -1;

	while (ctl->done < S_THREADS + 1) {
		memset(bm, 0, sizeof(bm));
		n = pm_region_harvest(t, name, flags, bm, S_NPAGES);
		if (n < 0) {
			TH_LOG("harvest: %ld %s", n, t->extack);
			ctl->harvests = 1000;	/* let the writers finish */
			break;
		}
		for (pg = 0; pg < S_NPAGES; pg++)
			if (bm[pg / PM_BITS_PER_LONG] &
			    (1UL << (pg % PM_BITS_PER_LONG)))
				memcpy(shadow + pg * page, p + pg * page,
				       page);
		pages += n;
		rounds++;
		ctl->harvests++;
	}
	for (i = 0; i < S_THREADS; i++)
		pthread_join(th[i], NULL);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		TH_LOG("writer child status %#x", status);

	if (flags < 0 && pm_region_cmd(t, PARTMOB_CMD_REGION_FREEZE, name))
		TH_LOG("freeze: %s", t->extack);
	memset(bm, 0, sizeof(bm));
	n = pm_region_harvest(t, name, flags, bm, S_NPAGES);
	if (n < 0)
		TH_LOG("final harvest: %ld %s", n, t->extack);
	for (pg = 0; pg < S_NPAGES; pg++)
		if (bm[pg / PM_BITS_PER_LONG] &
		    (1UL << (pg % PM_BITS_PER_LONG)))
			memcpy(shadow + pg * page, p + pg * page, page);
	for (pg = 0; pg < S_NPAGES; pg++)
		if (memcmp(shadow + pg * page, p + pg * page, page))
			diff++;
	TH_LOG("%d writes, %ld harvests, %ld pages harvested, final %ld, %ld pages differ",
	       (S_THREADS + 1) * S_WRITES, rounds, pages, n, diff);
	if (flags < 0)
		pm_region_cmd(t, PARTMOB_CMD_REGION_THAW, name);
	munmap(p, size);
	munmap(ctl, sizeof(*ctl));
	free(shadow);
	if (pm_region_delete(t, name))
		TH_LOG("delete: %s", t->extack);
	return n < 0 ? -1 : diff;
}

TEST_F(dirty, concurrent_writers_exact)
{
	char name[48];

	snprintf(name, sizeof(name), "%s-s", NAME);
	EXPECT_EQ(0, stress(_metadata, &self->t, name, self->page, -1));
}

TEST_F(dirty, concurrent_writers_no_rearm_detected)
{
	/*
	 * The negative control: harvests that do not write-protect lose the
	 * later writes to pages already mapped writable, and the same
	 * comparison must see it. If this passes with 0, the test above
	 * proves nothing.
	 */
	char name[48];

	snprintf(name, sizeof(name), "%s-s", NAME);
	EXPECT_LT(0, stress(_metadata, &self->t, name, self->page,
			    PARTMOB_DIRTY_F_NO_REARM));
}

TEST_HARNESS_MAIN
