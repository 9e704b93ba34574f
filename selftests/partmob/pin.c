// SPDX-License-Identifier: GPL-2.0
/*
 * Long-term pins (io_uring fixed buffers, like VFIO or RDMA) let a device
 * or the kernel write region pages without a fault. They are refused
 * (kernels since 6.5 refuse long-term pins of mappings that need
 * write-notify) or detected: a pinned page stays logged at every harvest
 * until the pin is gone, and is counted in the 'pinned' statistic.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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

TEST(longterm_pins_refused_or_kept_dirty)
{
	struct io_uring_params params = { 0 };
	struct pm_region_info ri;
	unsigned long bits[(NPAGES + 63) / 64];
	long ps = sysconf(_SC_PAGESIZE);
	struct iovec iov;
	unsigned char *p;
	struct tnl t;
	int fd, ring, ret, i;

	if (!pm_module_loaded())
		SKIP(return, "partmob.ko is not loaded");
	ASSERT_EQ(0, tnl_open(&t));
	pm_region_delete(&t, NAME);
	ASSERT_EQ(0, pm_region_create(&t, NAME, NPAGES * ps, -1, -1, -1,
				      0600));
	fd = open("/dev/partmob/" NAME, O_RDWR);
	ASSERT_GE(fd, 0);
	p = mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(fd);
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

TEST_HARNESS_MAIN
