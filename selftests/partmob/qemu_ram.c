// SPDX-License-Identifier: GPL-2.0
/*
 * A region as a VMM's guest RAM: the host's qemu-system-x86_64 (reached
 * through the host root the harness mounts at /host) starts paused with
 * -object memory-backend-file,mem-path=/dev/partmob/NAME,share=on; what
 * QEMU loads into guest RAM is visible, and logged, through the region,
 * and QEMU's MADV_HUGEPAGE brings no huge pages back.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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

#define HOST PM_HOST
#define QEMU PM_HOST_QEMU
#define NAME "kst-qemu"
#define RAM_MB 64
#define BLOB_ADDR 0x200000UL
#define BLOB_SIZE 0x3000UL
#define THP_SHMEM "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

/* Start QEMU chrooted into the host root. */
static pid_t start_qemu(void)
{
	static const char *const argv[] = {
		QEMU, "-accel", "tcg", "-S", "-display", "none", "-nodefaults",
		"-no-user-config", "-monitor", "none", "-serial", "none",
		"-m", "64M", "-machine", "pc,memory-backend=m",
		"-object", "memory-backend-file,id=m,mem-path=/dev/partmob/" NAME
			   ",size=64M,share=on",
		"-device", "loader,file=/tmp/kst-qemu-blob,addr=0x200000,force-raw=on",
		NULL
	};

	return pm_host_spawn(argv, NULL);
}

/* Sum of ShmemPmdMapped and FilePmdMapped over the process's mappings. */
static long pmd_mapped_kb(pid_t pid)
{
	char path[64], line[256];
	long kb, sum = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "ShmemPmdMapped: %ld kB", &kb) == 1 ||
		    sscanf(line, "FilePmdMapped: %ld kB", &kb) == 1)
			sum += kb;
	fclose(f);
	return sum;
}

FIXTURE(qemu) {
	struct tnl t;
	long ps;
	char thp_old[64];
	const char *skip;	/* why the test cannot run here */
};

FIXTURE_SETUP(qemu)
{
	FILE *f;

	/* The 6.1 harness runs the test after a SKIP in setup: tell it. */
	if (!pm_module_loaded())
		self->skip = "partmob.ko is not loaded";
	else if (access(HOST QEMU, X_OK))
		self->skip = "no host qemu-system-x86_64 at " HOST QEMU
			     " (the harness offers the host root on x86_64 guests)";
	if (self->skip)
		return;
	self->ps = sysconf(_SC_PAGESIZE);
	ASSERT_EQ(0, tnl_open(&self->t));
	pm_region_delete(&self->t, NAME);
	ASSERT_EQ(0, pm_region_create(&self->t, NAME,
				      (uint64_t)RAM_MB << 20, -1, -1, -1,
				      0600));
	/* Let shmem use huge pages wherever it may: regions must not. */
	self->thp_old[0] = '\0';
	f = fopen(THP_SHMEM, "r");
	if (f) {
		char *p;

		if (fgets(self->thp_old, sizeof(self->thp_old), f)) {
			p = strchr(self->thp_old, '[');
			if (p) {
				memmove(self->thp_old, p + 1, strlen(p));
				self->thp_old[strcspn(self->thp_old, "]")] = 0;
			}
		}
		fclose(f);
		pm_write_file(THP_SHMEM, "always");
	}
}

FIXTURE_TEARDOWN(qemu)
{
	if (self->thp_old[0])
		pm_write_file(THP_SHMEM, self->thp_old);
	if (self->t.sk)
		pm_region_delete(&self->t, NAME);
	tnl_close(&self->t);
	unlink("/tmp/kst-qemu-blob");
}

/* QEMU under TCG in a TCG guest: minutes on a debug kernel (the
 * harness default is 30 s; the program limit in the guest is 300 s). */
TEST_F_TIMEOUT(qemu, guest_ram_on_region, 280)
{
	unsigned char blob[BLOB_SIZE], *p;
	unsigned long *dirty;
	size_t npages = ((size_t)RAM_MB << 20) / self->ps, i;
	int fd, status, seen = 0, tries;
	long n;
	pid_t qemu;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	srand(getpid());
	for (i = 0; i < BLOB_SIZE; i++)
		blob[i] = rand() & 0xff;
	fd = open("/tmp/kst-qemu-blob", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(BLOB_SIZE, write(fd, blob, BLOB_SIZE));
	close(fd);

	fd = open("/dev/partmob/" NAME, O_RDONLY);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, npages * self->ps, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(fd);

	qemu = start_qemu();
	ASSERT_GT(qemu, 0);
	/* Wait until QEMU has loaded the blob, or has died. */
	for (tries = 0; tries < 1200 && !seen; tries++) {
		if (waitpid(qemu, &status, WNOHANG) == qemu) {
			TH_LOG("QEMU exited early: status 0x%x", status);
			qemu = 0;
			break;
		}
		seen = !memcmp(p + BLOB_ADDR, blob, BLOB_SIZE);
		if (!seen)
			usleep(100000);
	}
	EXPECT_TRUE(seen);
	if (qemu) {
		EXPECT_EQ(0, pmd_mapped_kb(qemu));
		/* Guest RAM in use: the region cannot be deleted. */
		EXPECT_EQ(-EBUSY, pm_region_delete(&self->t, NAME));
	}

	/* QEMU's writes were logged. */
	dirty = calloc((npages + 63) / 64, sizeof(long));
	ASSERT_NE(NULL, dirty);
	n = pm_region_harvest(&self->t, NAME, -1, dirty, npages);
	EXPECT_GT(n, 0);
	for (i = BLOB_ADDR / self->ps;
	     i < (BLOB_ADDR + BLOB_SIZE + self->ps - 1) / self->ps; i++)
		EXPECT_TRUE(dirty[i / 64] & (1UL << (i % 64)))
			TH_LOG("page %zu of the blob not logged", i);
	free(dirty);

	if (qemu) {
		kill(qemu, SIGKILL);
		ASSERT_EQ(qemu, waitpid(qemu, &status, 0));
	}
	munmap(p, npages * self->ps);
	EXPECT_EQ(0, pm_region_delete(&self->t, NAME));
}

TEST_HARNESS_MAIN
