// SPDX-License-Identifier: GPL-2.0
/*
 * Region pages swapped out and in (zram, a memory cgroup squeezing the
 * region) keep their contents, their logged writes and their write-protect:
 * a write to a swapped-out page after a harvest is logged again.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lib.h"
#include "kselftest_harness.h"

#define CG "/sys/fs/cgroup/partmob-swap"
#define REGION "swaptest"
#define REGION_MB 64
#define LIMIT_MB 16

static long read_long(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = '\0';
	close(fd);
	return strtol(buf, NULL, 10);
}

static int zram_cgroup_setup(void)
{
	if (access("/sys/block/zram0", F_OK) &&
	    system("modprobe zram num_devices=1 >/dev/null 2>&1"))
		return -1;
	if (read_long("/sys/block/zram0/disksize") <= 0 &&
	    (pm_write_file("/sys/block/zram0/disksize", "512M") ||
	     system("mkswap /dev/zram0 >/dev/null 2>&1") ||
	     system("swapon /dev/zram0 >/dev/null 2>&1")))
		return -2;
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK)) {
		mkdir("/sys/fs/cgroup", 0755);
		if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL))
			return -3;
	}
	if (pm_write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory"))
		return -4;
	rmdir(CG);
	if (mkdir(CG, 0755))
		return -5;
	return 0;
}

/* Fill every page with its index and @gen; all but the limit is swapped. */
static void fill(unsigned char *p, size_t npages, long ps, int gen, int step)
{
	size_t i;

	for (i = 0; i < npages; i += step) {
		memset(p + i * ps, (int)(i * 7 + gen) & 0xff, ps);
		*(unsigned int *)(p + i * ps) = (unsigned int)i;
	}
}

FIXTURE(swap) {
	long ps;
	size_t npages;
	struct tnl t;
	char skip[96];	/* why the test cannot run here */
};

FIXTURE_SETUP(swap)
{
	int ret;

	/* The 6.1 harness runs the test after a SKIP in setup: tell it. */
	if (!pm_module_loaded()) {
		snprintf(self->skip, sizeof(self->skip),
			 "partmob.ko is not loaded");
		return;
	}
	ret = zram_cgroup_setup();
	if (ret) {
		snprintf(self->skip, sizeof(self->skip),
			 "no zram swap or memory cgroup here (step %d)", -ret);
		return;
	}
	self->ps = sysconf(_SC_PAGESIZE);
	self->npages = (size_t)REGION_MB * 1024 * 1024 / self->ps;
	ASSERT_EQ(0, tnl_open(&self->t));
	pm_region_delete(&self->t, REGION);
	ASSERT_EQ(0, pm_region_create(&self->t, REGION,
				      (unsigned long long)REGION_MB << 20, 0,
				      0, 0, 0600));
}

FIXTURE_TEARDOWN(swap)
{
	if (self->t.sk)
		pm_region_delete(&self->t, REGION);
	tnl_close(&self->t);
	rmdir(CG);
}

/* Run @gen fill passes of step @step in a child confined to the cgroup. */
static int run_in_cgroup(size_t npages, long ps, int gen, int step)
{
	char pid[32];
	pid_t c;
	int status;

	c = fork();
	if (c < 0)
		return -1;
	if (!c) {
		unsigned char *p;
		int fd;

		snprintf(pid, sizeof(pid), "%d", getpid());
		if (pm_write_file(CG "/cgroup.procs", pid))
			_exit(2);
		fd = open("/dev/partmob/" REGION, O_RDWR);
		if (fd < 0)
			_exit(3);
		p = mmap(NULL, npages * ps, PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
		if (p == MAP_FAILED)
			_exit(4);
		fill(p, npages, ps, gen, step);
		_exit(0);
	}
	if (waitpid(c, &status, 0) != c || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Swapping 64 MiB through zram takes 40 s on a KASAN guest. */
TEST_F_TIMEOUT(swap, swapped_pages_keep_log_and_data, 280)
{
	unsigned long *dirty;
	unsigned char *p;
	size_t i;
	long n;
	char lim[32];
	int fd;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	snprintf(lim, sizeof(lim), "%d", LIMIT_MB << 20);
	ASSERT_EQ(0, pm_write_file(CG "/memory.max", lim));

	/* Generation 1: every page written, most of them pushed to swap. */
	ASSERT_EQ(0, run_in_cgroup(self->npages, self->ps, 1, 1));
	EXPECT_GT(read_long(CG "/memory.swap.current"), 0);

	dirty = calloc((self->npages + 63) / 64, sizeof(long));
	ASSERT_NE(NULL, dirty);
	/* Every write was logged although the pages sat on swap. */
	n = pm_region_harvest(&self->t, REGION, -1, dirty, self->npages);
	EXPECT_EQ(self->npages, n);

	/* Generation 2 on every 7th page: swapped-in pages fault again. */
	ASSERT_EQ(0, run_in_cgroup(self->npages, self->ps, 2, 7));
	memset(dirty, 0, (self->npages + 63) / 64 * sizeof(long));
	n = pm_region_harvest(&self->t, REGION, -1, dirty, self->npages);
	EXPECT_EQ((self->npages + 6) / 7, n);
	for (i = 0; i < self->npages; i++)
		if (!!(dirty[i / 64] & (1UL << (i % 64))) != (i % 7 == 0)) {
			TH_LOG("page %zu: logged %d", i,
			       !!(dirty[i / 64] & (1UL << (i % 64))));
			EXPECT_TRUE(0);
			break;
		}

	/* The contents came back from swap intact. */
	fd = open("/dev/partmob/" REGION, O_RDONLY);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, self->npages * self->ps, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < self->npages; i++) {
		int gen = i % 7 ? 1 : 2;

		if (*(unsigned int *)(p + i * self->ps) != i ||
		    p[i * self->ps + self->ps - 1] !=
		    (unsigned char)((i * 7 + gen) & 0xff)) {
			TH_LOG("page %zu has wrong contents", i);
			EXPECT_TRUE(0);
			break;
		}
	}
	munmap(p, self->npages * self->ps);
	close(fd);
	free(dirty);
}

TEST_HARNESS_MAIN
