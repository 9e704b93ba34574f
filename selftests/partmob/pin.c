// SPDX-License-Identifier: GPL-2.0
/*
 * Long-term pins (io_uring fixed buffers, like VFIO or RDMA) let a device
 * or the kernel write region pages without a fault. They are refused
 * (kernels since 6.5 refuse long-term pins of mappings that need
 * write-notify) or detected: a pinned page stays logged at every harvest
 * until the pin is gone, and is counted in the 'pinned' statistic. So does
 * a page the kernel holds through a plain reference (KVM HV's VPA pages).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <stdint.h>
#include <linux/io_uring.h>

#include "lib.h"
#include "kselftest_harness.h"

#define NAME "kst-pin"
#define NPAGES 16

static long harvest(struct tnl *t, unsigned long *bits)
{
	memset(bits, 0, sizeof(long) * ((NPAGES + 63) / 64));
	return pm_region_harvest(t, NAME, -1, bits, NPAGES);
}

/* A new region NAME of NPAGES pages, mapped shared. */
static unsigned char *fresh_region(struct __test_metadata *_metadata,
				   struct tnl *t, long ps)
{
	unsigned char *p;
	int fd;

	ASSERT_EQ(0, tnl_open(t));
	pm_region_delete(t, NAME);
	ASSERT_EQ(0, pm_region_create(t, NAME, NPAGES * ps, -1, -1, -1,
				      0600));
	fd = open("/dev/partmob/" NAME, O_RDWR);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(fd);
	return p;
}

TEST(longterm_pins_refused_or_kept_dirty)
{
	struct io_uring_params params = { 0 };
	struct pm_region_info ri;
	unsigned long bits[(NPAGES + 63) / 64];
	long ps = sysconf(_SC_PAGESIZE);
	struct iovec iov;
	unsigned char *p;
	struct tnl t;
	int ring, ret, i;

	if (!pm_module_loaded())
		SKIP(return, "partmob.ko is not loaded");
	p = fresh_region(_metadata, &t, ps);
	for (i = 0; i < NPAGES; i++)
		p[i * ps] = 1;
	EXPECT_EQ(NPAGES, harvest(&t, bits));

	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0) {
		munmap(p, NPAGES * ps);
		pm_region_delete(&t, NAME);
		tnl_close(&t);
		SKIP(return, "io_uring is not available: %s", strerror(errno));
	}
	iov.iov_base = p + 2 * ps;
	iov.iov_len = 2 * ps;
	ret = syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS,
		      &iov, 1);
	if (ret < 0) {
		/*
		 * Refused: 6.1's io_uring takes no file-backed buffers
		 * (EOPNOTSUPP), 6.5+ refuses long-term pins of write-notify
		 * mappings (EFAULT). Nothing can write behind the log.
		 */
		TH_LOG("long-term pin refused: %s", strerror(errno));
		EXPECT_TRUE(errno == EFAULT || errno == EOPNOTSUPP);
	} else {
		/* Accepted: pages 2 and 3 stay logged while pinned. */
		EXPECT_EQ(2, harvest(&t, bits));
		EXPECT_EQ(0xcUL, bits[0]);
		EXPECT_EQ(2, harvest(&t, bits));
		EXPECT_EQ(0xcUL, bits[0]);
		ASSERT_EQ(0, pm_region_get(&t, NAME, &ri));
		EXPECT_GT(ri.pinned, 0);
		ASSERT_EQ(0, syscall(__NR_io_uring_register, ring,
				     IORING_UNREGISTER_BUFFERS, NULL, 0));
		/* Logged by the last harvest while still pinned, then clean. */
		EXPECT_EQ(2, harvest(&t, bits));
		EXPECT_EQ(0, harvest(&t, bits));
	}
	close(ring);
	/*
	 * Writes after all this are logged as usual; a refused pin may have
	 * write-faulted (and so logged) its pages 2 and 3 before giving up.
	 */
	p[5 * ps] = 2;
	EXPECT_LE(1, harvest(&t, bits));
	EXPECT_EQ(1UL << 5, bits[0] & ~0xcUL);
	munmap(p, NPAGES * ps);
	EXPECT_EQ(0, pm_region_delete(&t, NAME));
	tnl_close(&t);
}

/*
 * A plain reference taken by the kernel (get_user_pages() without
 * FOLL_PIN, as KVM HV takes on a vCPU's VPA page) lets the kernel write
 * the page through its own mapping without a fault. vmsplice() takes such
 * a reference: the page stays logged at every harvest while the pipe holds
 * it, and is dropped from the log once the reference is gone.
 */
TEST(kernel_references_kept_logged)
{
	unsigned long bits[(NPAGES + 63) / 64];
	long ps = sysconf(_SC_PAGESIZE);
	struct pm_region_info ri;
	uint64_t pinned;
	struct iovec iov;
	unsigned char *p, *buf;
	struct tnl t;
	int pfd[2], i;

	if (!pm_module_loaded())
		SKIP(return, "partmob.ko is not loaded");
	p = fresh_region(_metadata, &t, ps);
	buf = malloc(ps);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < NPAGES; i++)
		p[i * ps] = 1;
	EXPECT_EQ(NPAGES, harvest(&t, bits));
	EXPECT_EQ(0, harvest(&t, bits));
	ASSERT_EQ(0, pm_region_get(&t, NAME, &ri));
	pinned = ri.pinned;

	ASSERT_EQ(0, pipe(pfd));
	p[3 * ps] = 2;
	iov.iov_base = p + 3 * ps;
	iov.iov_len = ps;
	ASSERT_EQ(ps, vmsplice(pfd[1], &iov, 1, 0));
	/* The write, then the reference: logged twice with no new write. */
	EXPECT_EQ(1, harvest(&t, bits));
	EXPECT_EQ(1UL << 3, bits[0]);
	EXPECT_EQ(1, harvest(&t, bits));
	EXPECT_EQ(1UL << 3, bits[0]);
	ASSERT_EQ(0, pm_region_get(&t, NAME, &ri));
	EXPECT_LE(pinned + 2, ri.pinned);
	/* Reading the page is no write: it changes nothing. */
	EXPECT_EQ(2, p[3 * ps]);

	/* The pipe lets go of the page: one last time, then clean. */
	ASSERT_EQ(ps, read(pfd[0], buf, ps));
	EXPECT_EQ(2, buf[0]);
	EXPECT_EQ(1, harvest(&t, bits));
	EXPECT_EQ(0, harvest(&t, bits));
	close(pfd[0]);
	close(pfd[1]);
	free(buf);
	munmap(p, NPAGES * ps);
	EXPECT_EQ(0, pm_region_delete(&t, NAME));
	tnl_close(&t);
}

TEST_HARNESS_MAIN
