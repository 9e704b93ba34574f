// SPDX-License-Identifier: GPL-2.0
/*
 * Regions: create/list/delete, the device node's owner and mode, strict
 * validation of every attribute (nothing is created by a refused request),
 * privilege, mmap rules, delete while in use, module pinning, many regions,
 * overcommit, and contents shared between mappings and processes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "lib.h"
#include "kselftest_harness.h"

#define PFX "kst-r-"

static long page_size(void)
{
	return sysconf(_SC_PAGESIZE);
}

static void devpath(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "/dev/partmob/%s", name);
}

static int open_region(const char *name, int flags)
{
	char p[64];

	devpath(p, sizeof(p), name);
	return open(p, flags | O_CLOEXEC);
}

/* Fill a page with a byte pattern derived from @seed. */
static void fill(unsigned char *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

static int check(const unsigned char *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed * 131 + i * 7 + (i >> 8)))
			return 0;
	return 1;
}

FIXTURE(region) {
	struct tnl t;
	long page;
	int nbefore;		/* regions that existed before the test */
};

FIXTURE_SETUP(region)
{
	int supported;

	if (geteuid())
		SKIP(return, "needs root");
	if (!pm_module_loaded())
		SKIP(return, "partmob.ko is not loaded");
	ASSERT_EQ(0, tnl_open(&self->t));
	supported = pm_regions_supported(&self->t);
	ASSERT_LE(0, supported);
	if (!supported)
		SKIP(return, "the module does not implement regions");
	pm_regions_cleanup(PFX);
	self->page = page_size();
	self->nbefore = pm_region_count();
	ASSERT_GE(self->nbefore, 0);
}

FIXTURE_TEARDOWN(region)
{
	if (self->t.sk)
		pm_regions_cleanup(PFX);
	tnl_close(&self->t);
}

/* A refused NEW: an errno, extack text, and no region appeared. */
#define EXPECT_REFUSED(self, ret, want, name) do {			\
	int r__ = (ret);						\
	EXPECT_EQ(want, r__);						\
	EXPECT_NE(0, (self)->t.extack[0]);				\
	TH_LOG("%d: %s", r__, (self)->t.extack);			\
	EXPECT_EQ((self)->nbefore, pm_region_count());			\
	if (name)							\
		EXPECT_EQ(0, pm_region_exists(name));			\
} while (0)

TEST_F(region, lifecycle)
{
	struct pm_region_info ri;
	struct stat st;
	char p[64];

	ASSERT_EQ(0, pm_region_create(&self->t, PFX "life", 1 << 20, -1, -1,
				      -1, -1));
	ASSERT_EQ(0, pm_region_get(&self->t, PFX "life", &ri));
	EXPECT_TRUE(ri.have_all);
	EXPECT_STREQ(PFX "life", ri.name);
	EXPECT_EQ(1 << 20, ri.size);
	EXPECT_EQ(0, ri.flags);
	EXPECT_EQ(0, ri.uid);
	EXPECT_EQ(0, ri.gid);
	EXPECT_EQ(0600, ri.mode);
	EXPECT_EQ(0, ri.users);
	EXPECT_EQ(0, ri.frozen);
	EXPECT_EQ(0, ri.dirty);
	EXPECT_EQ(0, ri.faults);
	EXPECT_EQ(1, pm_region_exists(PFX "life"));
	EXPECT_EQ(self->nbefore + 1, pm_region_count());

	devpath(p, sizeof(p), PFX "life");
	ASSERT_EQ(0, stat(p, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0, st.st_gid);

	ASSERT_EQ(0, pm_region_delete(&self->t, PFX "life"));
	EXPECT_EQ(0, pm_region_exists(PFX "life"));
	EXPECT_EQ(-1, stat(p, &st));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(-ENOENT, pm_region_delete(&self->t, PFX "life"));
	EXPECT_NE(0, self->t.extack[0]);
	EXPECT_EQ(-ENOENT, pm_region_get(&self->t, PFX "life", &ri));

	/* The name is free again. */
	ASSERT_EQ(0, pm_region_create(&self->t, PFX "life", 1 << 20, 0, -1,
				      -1, -1));
	ASSERT_EQ(0, pm_region_delete(&self->t, PFX "life"));
}

TEST_F(region, node_owner_and_mode)
{
	static const struct {
		const char *name;
		uint32_t uid, gid, mode;
	} c[] = {
		{ PFX "own1", NOBODY_UID, NOBODY_UID, 0640 },
		{ PFX "own2", 1234, 4321, 0400 },
		{ PFX "own3", 0, 100, 0777 },
		{ PFX "own4", 1, 0, 0606 },
	};
	struct pm_region_info ri;
	struct stat st;
	char p[64];
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ASSERT_EQ(0, pm_region_create(&self->t, c[i].name, self->page,
					      -1, c[i].uid, c[i].gid,
					      c[i].mode));
		devpath(p, sizeof(p), c[i].name);
		ASSERT_EQ(0, stat(p, &st));
		EXPECT_TRUE(S_ISCHR(st.st_mode));
		EXPECT_EQ(c[i].mode, st.st_mode & 07777);
		EXPECT_EQ(c[i].uid, st.st_uid);
		EXPECT_EQ(c[i].gid, st.st_gid);
		ASSERT_EQ(0, pm_region_get(&self->t, c[i].name, &ri));
		EXPECT_EQ(c[i].uid, ri.uid);
		EXPECT_EQ(c[i].gid, ri.gid);
		EXPECT_EQ(c[i].mode, ri.mode);
	}
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		EXPECT_EQ(0, pm_region_delete(&self->t, c[i].name));
	/* Mode bits beyond 0777 are refused. */
	for (i = 0; i < 3; i++) {
		static const uint32_t bad[] = { 01000, 04755, 0100600 };
		int ret = pm_region_create(&self->t, PFX "own5", self->page,
					   -1, -1, -1, bad[i]);

		EXPECT_REFUSED(self, ret == -ERANGE ? -EINVAL : ret, -EINVAL,
			       PFX "own5");
	}
}

/* Mode 0 means no access for anyone but root, not the default 0600. */
/* devtmpfs would turn mode 0 into 0600: the kernel refuses it. */
TEST_F(region, node_mode_zero_refused)
{
	EXPECT_EQ(-ERANGE, pm_region_create(&self->t, PFX "mode0", self->page,
					    -1, 1234, 4321, 0));
	EXPECT_NE(0, self->t.extack[0]);
	EXPECT_EQ(0, pm_region_exists(PFX "mode0"));
	EXPECT_EQ(-ERANGE, pm_region_create(&self->t, PFX "mode0", self->page,
					    -1, 1234, 4321, 01000));
	EXPECT_EQ(0, pm_region_exists(PFX "mode0"));
}

TEST_F(region, name_validation)
{
	static const char *const bad[] = {
		"", ".", "..", ".hidden", "-x", "a/b", "a b", "a\tb", "a:b",
		"a\\b", "caf\xc3\xa9", "a*", "a\nb", "../x",
		"123456789012345678901234567890123",	/* 33 */
	};
	static const char *const good[] = {
		"a", "A-Z_a-z.0-9", "x.", "x-", "_x", "0",
		"12345678901234567890123456789012",	/* 32 */
	};
	char name[64];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ret = pm_region_create(&self->t, bad[i], self->page, -1, -1,
				       -1, -1);
		TH_LOG("name \"%s\": %d %s", bad[i], ret, self->t.extack);
		EXPECT_EQ(-EINVAL, ret);
		EXPECT_NE(0, self->t.extack[0]);
		EXPECT_EQ(self->nbefore, pm_region_count());
	}
	/* A 4 KiB name (well within a netlink attribute). */
	{
		static char huge[4096];

		memset(huge, 'a', sizeof(huge) - 1);
		ret = pm_region_create(&self->t, huge, self->page, -1, -1, -1,
				       -1);
		EXPECT_EQ(-EINVAL, ret);
		EXPECT_NE(0, self->t.extack[0]);
		EXPECT_EQ(self->nbefore, pm_region_count());
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		/* prefix the short ones so that cleanup finds them */
		if (strlen(good[i]) + strlen(PFX) <= PARTMOB_REGION_NAME_MAX)
			snprintf(name, sizeof(name), PFX "%s", good[i]);
		else
			snprintf(name, sizeof(name), "%s", good[i]);
		ret = pm_region_create(&self->t, name, self->page, -1, -1, -1,
				       -1);
		TH_LOG("name \"%s\": %d %s", name, ret, self->t.extack);
		EXPECT_EQ(0, ret);
		EXPECT_EQ(1, pm_region_exists(name));
		EXPECT_EQ(0, pm_region_delete(&self->t, name));
	}
	/* Duplicates. */
	ASSERT_EQ(0, pm_region_create(&self->t, PFX "dup", self->page, -1, -1,
				      -1, -1));
	EXPECT_EQ(-EEXIST, pm_region_create(&self->t, PFX "dup",
					    2 * self->page, -1, -1, -1, -1));
	EXPECT_NE(0, self->t.extack[0]);
	EXPECT_EQ(1, pm_region_exists(PFX "dup"));
	EXPECT_EQ(self->nbefore + 1, pm_region_count());
	EXPECT_EQ(0, pm_region_delete(&self->t, PFX "dup"));
}

TEST_F(region, size_validation)
{
	const uint64_t pg = self->page;
	const uint64_t bad[] = {
		0, 1, pg - 1, pg + 1, pg / 2, 3 * pg + 512,
		PARTMOB_REGION_SIZE_MAX + pg, PARTMOB_REGION_SIZE_MAX * 2,
		UINT64_MAX, UINT64_MAX - pg + 1,
	};
	size_t i;
	int ret;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ret = pm_region_create(&self->t, PFX "size", bad[i], 0, -1, -1,
				       -1);
		TH_LOG("size %llu: %d %s", (unsigned long long)bad[i], ret,
		       self->t.extack);
		if (bad[i] > PARTMOB_REGION_SIZE_MAX && ret == -ERANGE)
			ret = -EINVAL;	/* a policy range check may say so */
		EXPECT_EQ(-EINVAL, ret);
		EXPECT_NE(0, self->t.extack[0]);
		EXPECT_EQ(self->nbefore, pm_region_count());
		EXPECT_EQ(0, pm_region_exists(PFX "size"));
	}
}

TEST_F(region, unknown_flags)
{
	const int64_t bad[] = { 1U << 1, 1U << 31, 0xffffffff,
				PARTMOB_REGION_F_OVERCOMMIT | (1U << 7) };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		EXPECT_REFUSED(self, pm_region_create(&self->t, PFX "flags",
						      self->page, bad[i], -1,
						      -1, -1),
			       -EOPNOTSUPP, PFX "flags");
}

/* Build a NEW request from raw attributes. */
static struct nl_msg *new_msg(struct tnl *t)
{
	return tnl_msg(t, PARTMOB_CMD_REGION_NEW, 0);
}

TEST_F(region, missing_attributes)
{
	struct nl_msg *m;
	static const uint8_t cmds[] = {
		PARTMOB_CMD_REGION_DEL, PARTMOB_CMD_REGION_FREEZE,
		PARTMOB_CMD_REGION_THAW,
	};
	size_t i;
	int ret;

	/* No name. */
	EXPECT_REFUSED(self, pm_region_create(&self->t, NULL, self->page, -1,
					      -1, -1, -1), -EINVAL, NULL);
	/* No size. */
	m = new_msg(&self->t);
	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME, PFX "nosize"));
	EXPECT_REFUSED(self, tnl_request(&self->t, m), -EINVAL, PFX "nosize");
	/* Nothing at all. */
	EXPECT_REFUSED(self, tnl_request(&self->t, new_msg(&self->t)), -EINVAL,
		       NULL);
	/* The other commands without a name. */
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		ret = tnl_request(&self->t, tnl_msg(&self->t, cmds[i], 0));
		TH_LOG("cmd %d without a name: %d %s", cmds[i], ret,
		       self->t.extack);
		EXPECT_EQ(-EINVAL, ret);
		EXPECT_NE(0, self->t.extack[0]);
	}
	ret = tnl_dump(&self->t, tnl_msg(&self->t, PARTMOB_CMD_REGION_DIRTY,
					 NLM_F_DUMP), NULL, NULL);
	TH_LOG("dirty without a name: %d %s", ret, self->t.extack);
	EXPECT_EQ(-EINVAL, ret);
	EXPECT_NE(0, self->t.extack[0]);
	/* Unknown names. */
	EXPECT_EQ(-ENOENT, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_GET,
					 PFX "none"));
	EXPECT_EQ(-ENOENT, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_FREEZE,
					 PFX "none"));
	EXPECT_EQ(-ENOENT, pm_region_harvest(&self->t, PFX "none", -1, NULL,
					     0));
	EXPECT_NE(0, self->t.extack[0]);
}

TEST_F(region, wrong_type_attributes)
{
	struct nl_msg *m;
	unsigned char buf[16] = { 0 };
	static char big[8192];
	int step;

	memset(big, 'b', sizeof(big) - 1);
	for (step = 0; step < 11; step++) {
		m = new_msg(&self->t);
		ASSERT_NE(NULL, m);
		switch (step) {
		case 0:	/* name without a NUL */
			ASSERT_EQ(0, nla_put(m, PARTMOB_A_REGION_NAME, 4,
					     "kstx"));
			ASSERT_EQ(0, nla_put_u64(m, PARTMOB_A_REGION_SIZE,
						 self->page));
			break;
		case 1:	/* size as u32 */
			ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME,
						    PFX "wt"));
			ASSERT_EQ(0, nla_put_u32(m, PARTMOB_A_REGION_SIZE,
						 self->page));
			break;
		case 2:	/* size of 16 bytes */
			ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME,
						    PFX "wt"));
			memcpy(buf, &self->page, sizeof(self->page));
			ASSERT_EQ(0, nla_put(m, PARTMOB_A_REGION_SIZE, 16,
					     buf));
			break;
		case 3:	/* mode as u64 */
			ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME,
						    PFX "wt"));
			ASSERT_EQ(0, nla_put_u64(m, PARTMOB_A_REGION_SIZE,
						 self->page));
			ASSERT_EQ(0, nla_put_u64(m, PARTMOB_A_REGION_MODE,
						 0600));
			break;
		case 4:	/* flags as u8 */
			ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME,
						    PFX "wt"));
			ASSERT_EQ(0, nla_put_u64(m, PARTMOB_A_REGION_SIZE,
						 self->page));
			ASSERT_EQ(0, nla_put_u8(m, PARTMOB_A_REGION_FLAGS, 0));
			break;
		case 5:	/* an 8 KiB name */
			ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME,
						    big));
			ASSERT_EQ(0, nla_put_u64(m, PARTMOB_A_REGION_SIZE,
						 self->page));
			break;
		case 6:	/* an attribute of another command */
			ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME,
						    PFX "wt"));
			ASSERT_EQ(0, nla_put_u64(m, PARTMOB_A_REGION_SIZE,
						 self->page));
			ASSERT_EQ(0, nla_put_u32(m, PARTMOB_A_DIRTY_FLAGS, 0));
			break;
		case 7:	/* an unknown attribute */
			ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME,
						    PFX "wt"));
			ASSERT_EQ(0, nla_put_u64(m, PARTMOB_A_REGION_SIZE,
						 self->page));
			ASSERT_EQ(0, nla_put_u32(m, PARTMOB_A_MAX + 1, 0));
			break;
		case 8:	/* a read-only attribute */
			ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME,
						    PFX "wt"));
			ASSERT_EQ(0, nla_put_u64(m, PARTMOB_A_REGION_SIZE,
						 self->page));
			ASSERT_EQ(0, nla_put_u32(m, PARTMOB_A_REGION_USERS, 1));
			break;
		case 9:	/* uid (uid_t)-1 */
			ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME,
						    PFX "wt"));
			ASSERT_EQ(0, nla_put_u64(m, PARTMOB_A_REGION_SIZE,
						 self->page));
			ASSERT_EQ(0, nla_put_u32(m, PARTMOB_A_REGION_UID,
						 0xffffffff));
			break;
		case 10: { /* a truncated attribute after good ones */
			unsigned char bad[8] = { 64, 0, PARTMOB_A_REGION_MODE,
						 0, 1, 2, 3, 4 };

			ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME,
						    PFX "wt"));
			ASSERT_EQ(0, nla_put_u64(m, PARTMOB_A_REGION_SIZE,
						 self->page));
			ASSERT_EQ(0, nlmsg_append(m, bad, sizeof(bad),
						  NLMSG_ALIGNTO));
			break;
		}
		}
		{
			int ret = tnl_request(&self->t, m);

			TH_LOG("case %d: %d %s", step, ret, self->t.extack);
			if (ret == -ERANGE)
				ret = -EINVAL;
			EXPECT_EQ(-EINVAL, ret);
			EXPECT_NE(0, self->t.extack[0]);
			EXPECT_EQ(self->nbefore, pm_region_count());
			EXPECT_EQ(0, pm_region_exists(PFX "wt"));
		}
	}
}

/* Run @fn unprivileged in a child; returns its exit status (0 = pass). */
static int as_nobody(int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		if (pm_drop_privileges())
			_exit(100);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) :
	       128 + WTERMSIG(status);
}

static int unpriv_netlink(void *arg)
{
	const char *name = arg;
	struct tnl u;
	int ret;

	if (tnl_open(&u))
		return 1;
	if (pm_region_create(&u, PFX "nobody", 4096 * 16, -1, -1, -1, -1) !=
	    -EPERM)
		return 2;
	if (pm_region_delete(&u, name) != -EPERM)
		return 3;
	if (pm_region_cmd(&u, PARTMOB_CMD_REGION_FREEZE, name) != -EPERM)
		return 4;
	if (pm_region_cmd(&u, PARTMOB_CMD_REGION_THAW, name) != -EPERM)
		return 5;
	ret = pm_region_harvest(&u, name, -1, NULL, 1ULL << 40);
	if (ret != -EPERM)
		return 6;
	if (pm_region_cmd(&u, PARTMOB_CMD_REGION_GET, name) != -EPERM)
		return 7;
	tnl_close(&u);
	return 0;
}

struct map_arg {
	const char *name;
	size_t size;
};

static int unpriv_map(void *arg)
{
	struct map_arg *a = arg;
	unsigned char *p;
	int fd;

	fd = open_region(a->name, O_RDWR);
	if (fd < 0)
		return 10;
	p = mmap(NULL, a->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 11;
	if (!check(p, a->size / 2, 1))	/* the parent's writes */
		return 12;
	fill(p + a->size / 2, a->size / 2, 2);
	munmap(p, a->size);
	close(fd);
	/* A root-owned 0600 region is out of reach. */
	fd = open_region(PFX "rootonly", O_RDWR);
	if (fd >= 0 || errno != EACCES)
		return 13;
	fd = open_region(PFX "rootonly", O_RDONLY);
	if (fd >= 0 || errno != EACCES)
		return 14;
	return 0;
}

TEST_F(region, unprivileged)
{
	struct map_arg a = { PFX "nobody", 16 * self->page };
	unsigned char *p;
	int fd;

	ASSERT_EQ(0, pm_region_create(&self->t, PFX "nobody", a.size, -1,
				      NOBODY_UID, NOBODY_UID, 0600));
	ASSERT_EQ(0, pm_region_create(&self->t, PFX "rootonly", self->page,
				      -1, -1, -1, -1));
	EXPECT_EQ(0, as_nobody(unpriv_netlink, (void *)(PFX "nobody")));
	EXPECT_EQ(1, pm_region_exists(PFX "nobody"));
	EXPECT_EQ(self->nbefore + 2, pm_region_count());

	fd = open_region(PFX "nobody", O_RDWR);
	ASSERT_LE(0, fd);
	p = mmap(NULL, a.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	fill(p, a.size / 2, 1);
	EXPECT_EQ(0, as_nobody(unpriv_map, &a));
	EXPECT_TRUE(check(p + a.size / 2, a.size / 2, 2));
	munmap(p, a.size);
	close(fd);
	EXPECT_EQ(0, pm_region_delete(&self->t, PFX "nobody"));
	EXPECT_EQ(0, pm_region_delete(&self->t, PFX "rootonly"));
}

TEST_F(region, mmap_rules)
{
	const size_t size = 8 * self->page;
	unsigned char *p, *q;
	int fd;

	ASSERT_EQ(0, pm_region_create(&self->t, PFX "mmap", size, -1, -1, -1,
				      -1));
	fd = open_region(PFX "mmap", O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ((off_t)size, lseek(fd, 0, SEEK_END));
	EXPECT_EQ(0, lseek(fd, 0, SEEK_SET));

	/* MAP_PRIVATE would hide writes from the log. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);

	/* Beyond the end. */
	p = mmap(NULL, size + self->page, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	TH_LOG("mmap beyond the size: %s", strerror(errno));
	p = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 size - self->page);
	EXPECT_EQ(MAP_FAILED, p);
	p = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 size);
	EXPECT_EQ(MAP_FAILED, p);

	/* An offset mapping sees the same pages. */
	q = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 3 * self->page);
	ASSERT_NE(MAP_FAILED, q);
	fill(q, 2 * self->page, 7);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_TRUE(check(p + 3 * self->page, 2 * self->page, 7));
	fill(p + 4 * self->page, self->page, 9);
	EXPECT_TRUE(check(q + self->page, self->page, 9));
	/* The last page of a full mapping is usable. */
	p[size - 1] = 0x5a;
	EXPECT_EQ(0x5a, p[size - 1]);
	EXPECT_EQ(0, munmap(q, 2 * self->page));
	close(fd);

	/*
	 * A reader's shared mapping of a read-only open: the core clears
	 * VM_SHARED (only VM_MAYSHARE says MAP_SHARED), and it must work.
	 */
	fd = open_region(PFX "mmap", O_RDONLY);
	ASSERT_LE(0, fd);
	q = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, q);
	EXPECT_EQ(EACCES, errno);
	q = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_NE(MAP_FAILED, q) TH_LOG("read-only MAP_SHARED: %s",
					strerror(errno));
	if (q != MAP_FAILED) {
		EXPECT_TRUE(check(q + 3 * self->page, self->page, 7));
		EXPECT_EQ(0x5a, q[size - 1]);
		EXPECT_NE(0, mprotect(q, size, PROT_READ | PROT_WRITE));
		EXPECT_EQ(0, munmap(q, size));
	}
	close(fd);
	EXPECT_EQ(0, munmap(p, size));
	EXPECT_EQ(0, pm_region_delete(&self->t, PFX "mmap"));
}

TEST_F(region, delete_while_busy)
{
	const size_t size = 4 * self->page;
	struct pm_region_info ri;
	unsigned char *p;
	int fd;

	ASSERT_EQ(0, pm_region_create(&self->t, PFX "busy", size, -1, -1, -1,
				      -1));
	fd = open_region(PFX "busy", O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pm_region_get(&self->t, PFX "busy", &ri));
	EXPECT_EQ(1, ri.users);
	EXPECT_EQ(-EBUSY, pm_region_delete(&self->t, PFX "busy"));
	EXPECT_NE(0, self->t.extack[0]);
	EXPECT_EQ(1, pm_region_exists(PFX "busy"));

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;
	ASSERT_EQ(0, pm_region_get(&self->t, PFX "busy", &ri));
	EXPECT_EQ(2, ri.users);
	close(fd);
	/* Mapped, no longer open. */
	EXPECT_EQ(-EBUSY, pm_region_delete(&self->t, PFX "busy"));
	ASSERT_EQ(0, pm_region_get(&self->t, PFX "busy", &ri));
	EXPECT_EQ(1, ri.users);
	/* A split vma counts as a user too, and must be released as one. */
	EXPECT_EQ(0, mprotect(p + self->page, self->page, PROT_READ));
	EXPECT_EQ(-EBUSY, pm_region_delete(&self->t, PFX "busy"));
	EXPECT_EQ(0, munmap(p, size));
	ASSERT_EQ(0, pm_region_get(&self->t, PFX "busy", &ri));
	EXPECT_EQ(0, ri.users);
	EXPECT_EQ(0, pm_region_delete(&self->t, PFX "busy"));
}

TEST_F(region, exit_while_mapped)
{
	const size_t size = 4 * self->page;
	int status, i;
	pid_t pid;

	ASSERT_EQ(0, pm_region_create(&self->t, PFX "exit", size, -1, -1, -1,
				      -1));
	for (i = 0; i < 2; i++) {
		int up[2], down[2];
		char c;

		ASSERT_EQ(0, pipe(up));
		ASSERT_EQ(0, pipe(down));
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			unsigned char *p;
			int fd = open_region(PFX "exit", O_RDWR);

			close(up[0]);
			close(down[1]);
			if (fd < 0)
				_exit(1);
			p = mmap(NULL, size, PROT_READ | PROT_WRITE,
				 MAP_SHARED, fd, 0);
			if (p == MAP_FAILED)
				_exit(2);
			close(fd);
			p[0] = 1;
			if (write(up[1], "x", 1) != 1)
				_exit(3);
			/* i == 0: exit while mapped; i == 1: be killed. */
			if (read(down[0], &c, 1) < 0 || i)
				pause();
			_exit(0);
		}
		close(up[1]);
		close(down[0]);
		ASSERT_EQ(1, read(up[0], &c, 1));
		close(up[0]);
		EXPECT_EQ(-EBUSY, pm_region_delete(&self->t, PFX "exit"));
		if (i)
			kill(pid, SIGKILL);
		else
			EXPECT_EQ(1, write(down[1], "x", 1));
		close(down[1]);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (i) {
			EXPECT_TRUE(WIFSIGNALED(status));
		} else {
			EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
		}
	}
	EXPECT_EQ(0, pm_region_delete(&self->t, PFX "exit"));
}

TEST_F(region, module_pinned_by_regions)
{
	int ret, err;
	const size_t size = 2 * self->page;
	unsigned char *p;
	int fd;

	ASSERT_EQ(0, pm_region_create(&self->t, PFX "pin", size, -1, -1, -1,
				      -1));
	ret = syscall(SYS_delete_module, "partmob", O_NONBLOCK);
	err = errno;
	if (!ret) {
		/* Put things back for the other tests, then fail. */
		ASSERT_EQ(0, pm_module_load());
		ASSERT_TRUE(0) TH_LOG("the module unloaded with a region");
	}
	TH_LOG("delete_module with a region: %s", strerror(err));
	EXPECT_TRUE(err == EBUSY || err == EAGAIN || err == EWOULDBLOCK);
	EXPECT_TRUE(pm_module_loaded());
	EXPECT_EQ(1, pm_region_exists(PFX "pin"));

	/* Mapped after a delete attempt: still pinned. */
	fd = open_region(PFX "pin", O_RDWR);
	ASSERT_LE(0, fd);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(fd);
	p[0] = 3;
	ret = syscall(SYS_delete_module, "partmob", O_NONBLOCK);
	if (!ret) {
		ASSERT_EQ(0, pm_module_load());
		ASSERT_TRUE(0) TH_LOG("the module unloaded while mapped");
	}
	EXPECT_EQ(3, p[0]);
	munmap(p, size);
	EXPECT_EQ(0, pm_region_delete(&self->t, PFX "pin"));
	EXPECT_TRUE(pm_module_loaded());
}

TEST_F(region, many_regions)
{
	const int n = 64;
	struct pm_region_info ri[128];
	char name[40], p[64];
	struct stat st;
	int i, j, found;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), PFX "many%d", i);
		ASSERT_EQ(0, pm_region_create(&self->t, name,
					      (i + 1) * self->page, -1, -1, -1,
					      -1)) TH_LOG("%s: %s", name,
							   self->t.extack);
	}
	ASSERT_EQ(self->nbefore + n, pm_region_list(&self->t, ri, 128));
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), PFX "many%d", i);
		found = 0;
		for (j = 0; j < self->nbefore + n && j < 128; j++)
			if (!strcmp(ri[j].name, name)) {
				found++;
				EXPECT_EQ((uint64_t)(i + 1) * self->page,
					  ri[j].size);
			}
		EXPECT_EQ(1, found) TH_LOG("%s", name);
		devpath(p, sizeof(p), name);
		EXPECT_EQ(0, stat(p, &st));
	}
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), PFX "many%d", i);
		EXPECT_EQ(0, pm_region_delete(&self->t, name));
		devpath(p, sizeof(p), name);
		EXPECT_EQ(-1, stat(p, &st));
	}
	EXPECT_EQ(self->nbefore, pm_region_count());
}

static uint64_t meminfo_kb(const char *key)
{
	char line[256];
	size_t n = strlen(key);
	uint64_t v = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtoull(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

TEST_F(region, overcommit)
{
	uint64_t ram = (meminfo_kb("MemTotal") + meminfo_kb("SwapTotal")) *
		       1024;
	uint64_t big = 4 * ram / self->page * self->page;
	volatile unsigned char *p;
	uint64_t off[4];
	FILE *f;
	int fd, mode = 0, i;

	ASSERT_NE(0, ram);
	if (big > PARTMOB_REGION_SIZE_MAX)
		SKIP(return, "RAM + swap is too large for this test");
	f = fopen("/proc/sys/vm/overcommit_memory", "r");
	if (f) {
		if (fscanf(f, "%d", &mode) != 1)
			mode = 0;
		fclose(f);
	}
	TH_LOG("RAM+swap %llu MiB, region %llu MiB, overcommit_memory %d",
	       (unsigned long long)(ram >> 20),
	       (unsigned long long)(big >> 20), mode);
	if (mode != 1) {
		EXPECT_REFUSED(self, pm_region_create(&self->t, PFX "big", big,
						      -1, -1, -1, -1),
			       -ENOMEM, PFX "big");
		EXPECT_REFUSED(self, pm_region_create(&self->t, PFX "big", big,
						      0, -1, -1, -1),
			       -ENOMEM, PFX "big");
	}
	ASSERT_EQ(0, pm_region_create(&self->t, PFX "big", big,
				      PARTMOB_REGION_F_OVERCOMMIT, -1, -1,
				      -1)) TH_LOG("%s", self->t.extack);
	fd = open_region(PFX "big", O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ((off_t)big, lseek(fd, 0, SEEK_END));
	p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		 fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(fd);
	off[0] = 0;
	off[1] = big / 3 / self->page * self->page + 17;
	off[2] = big / 2 + 4095;
	off[3] = big - 1;
	for (i = 0; i < 4; i++)
		p[off[i]] = (unsigned char)(0xa0 + i);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0xa0 + i, p[off[i]]);
	EXPECT_EQ(0, p[self->page]);
	munmap((void *)p, big);
	EXPECT_EQ(0, pm_region_delete(&self->t, PFX "big"));
}

TEST_F(region, contents_shared)
{
	const size_t size = 16 * self->page;
	unsigned char *p;
	int fd, status, i;
	pid_t pid;

	ASSERT_EQ(0, pm_region_create(&self->t, PFX "share", size, -1, -1, -1,
				      -1));
	fd = open_region(PFX "share", O_RDWR);
	ASSERT_LE(0, fd);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(fd);
	for (i = 0; i < 8; i++)
		fill(p + i * self->page, self->page, i);
	munmap(p, size);

	/* Reopen: the contents are still there. */
	fd = open_region(PFX "share", O_RDWR);
	ASSERT_LE(0, fd);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < 8; i++)
		EXPECT_TRUE(check(p + i * self->page, self->page, i));
	/* read(2) on the device is not a way in; the mapping is. */

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* The inherited mapping and a fresh one of our own. */
		unsigned char *q;
		int cfd = open_region(PFX "share", O_RDWR);

		if (cfd < 0)
			_exit(1);
		q = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, cfd,
			 0);
		if (q == MAP_FAILED)
			_exit(2);
		for (i = 0; i < 8; i++)
			if (!check(q + i * self->page, self->page, i) ||
			    !check(p + i * self->page, self->page, i))
				_exit(3);
		fill(q + 8 * self->page, self->page, 100);
		fill(p + 9 * self->page, self->page, 101);
		if (!check(p + 8 * self->page, self->page, 100) ||
		    !check(q + 9 * self->page, self->page, 101))
			_exit(4);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_TRUE(check(p + 8 * self->page, self->page, 100));
	EXPECT_TRUE(check(p + 9 * self->page, self->page, 101));
	munmap(p, size);
	close(fd);
	EXPECT_EQ(0, pm_region_delete(&self->t, PFX "share"));
}

/* partmobctl region ...: the round trip and its exit codes. */
static struct run_result rr;

#define CTL(unpriv, ...) ({						\
	const char *const argv__[] = { __VA_ARGS__, NULL };		\
	int ret__ = pm_run_ctl(&rr, unpriv, argv__);			\
	ret__ ? ret__ : rr.status; })

TEST_F(region, partmobctl)
{
	const char *ctl = getenv("PARTMOBCTL");
	char want[128], psz[32];
	struct stat st;
	unsigned char *p;
	int fd;

	if (!ctl)
		ctl = "/usr/sbin/partmobctl";
	if (access(ctl, X_OK))
		SKIP(return, "no partmobctl at %s", ctl);
	snprintf(psz, sizeof(psz), "%ld", self->page);

	EXPECT_EQ(0, CTL(0, "region", "create", PFX "ctl", "1M", "--owner",
			 "65534", "--group", "65534", "--mode", "0640"))
		TH_LOG("%s", rr.err);
	EXPECT_EQ(0, stat("/dev/partmob/" PFX "ctl", &st));
	EXPECT_EQ(NOBODY_UID, st.st_uid);
	EXPECT_EQ(NOBODY_UID, st.st_gid);
	EXPECT_EQ(0640, st.st_mode & 07777);
	/* duplicate: the kernel's text, exit 1 */
	EXPECT_EQ(1, CTL(0, "region", "create", PFX "ctl", "1M"));
	EXPECT_NE(NULL, strstr(rr.err, "exists"));
	/* usage errors */
	EXPECT_EQ(2, CTL(0, "region", "create", PFX "ctl2", "0"));
	EXPECT_EQ(2, CTL(0, "region", "create", PFX "ctl2", "12Q"));
	EXPECT_EQ(2, CTL(0, "region", "create", PFX "ctl2", "4097"));
	EXPECT_NE(NULL, strstr(rr.err, psz));
	EXPECT_EQ(2, CTL(0, "region", "create", PFX "ctl2", "1M", "--owner",
			 "no-such-user-here"));
	EXPECT_EQ(2, CTL(0, "region", "frob"));
	EXPECT_EQ(0, pm_region_exists(PFX "ctl2"));
	/* unprivileged: exit 4 naming the capability */
	EXPECT_EQ(4, CTL(1, "region", "delete", PFX "ctl"));
	EXPECT_NE(NULL, strstr(rr.err, "CAP_"));
	EXPECT_EQ(1, pm_region_exists(PFX "ctl"));

	EXPECT_EQ(0, CTL(0, "region", "list"));
	EXPECT_NE(NULL, strstr(rr.out, PFX "ctl "));
	EXPECT_NE(NULL, strstr(rr.out, " 1M "));
	EXPECT_EQ(0, CTL(0, "region", "list", "--json"));
	EXPECT_EQ('[', rr.out[0]);
	snprintf(want, sizeof(want), "\"name\": \"%s\"", PFX "ctl");
	EXPECT_NE(NULL, strstr(rr.out, want));
	EXPECT_NE(NULL, strstr(rr.out, "\"size\": 1048576"));
	EXPECT_NE(NULL, strstr(rr.out, "\"mode\": 416"));
	EXPECT_EQ(0, CTL(0, "region", "show", PFX "ctl", "--json"));
	EXPECT_EQ('{', rr.out[0]);
	EXPECT_NE(NULL, strstr(rr.out, "\"uid\": 65534"));
	EXPECT_EQ(1, CTL(0, "region", "show", PFX "none"));

	/* dirty pages 0-2 and 5 */
	EXPECT_EQ(0, CTL(0, "region", "dirty", PFX "ctl"));
	fd = open("/dev/partmob/" PFX "ctl", O_RDWR);
	ASSERT_LE(0, fd);
	p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	p[0] = p[self->page] = p[2 * self->page] = p[5 * self->page] = 1;
	EXPECT_EQ(0, CTL(0, "region", "dirty", PFX "ctl"));
	EXPECT_STREQ("0-2 5\n", rr.out);
	p[5 * self->page] = 2;
	EXPECT_EQ(0, CTL(0, "region", "dirty", PFX "ctl", "--count"));
	EXPECT_STREQ("1\n", rr.out);
	p[7 * self->page] = 2;
	p[8 * self->page] = 2;
	EXPECT_EQ(0, CTL(0, "region", "dirty", "--json", PFX "ctl"));
	snprintf(want, sizeof(want),
		 "{\"name\": \"%s\", \"pages\": 2, \"ranges\": [[7, 8]]}\n",
		 PFX "ctl");
	EXPECT_STREQ(want, rr.out);

	EXPECT_EQ(0, CTL(0, "region", "freeze", PFX "ctl"));
	EXPECT_EQ(1, CTL(0, "region", "freeze", PFX "ctl"));
	EXPECT_NE(NULL, strstr(rr.err, "frozen"));
	EXPECT_EQ(0, CTL(0, "region", "show", PFX "ctl"));
	EXPECT_NE(NULL, strstr(rr.out, "frozen:        yes"));
	EXPECT_EQ(0, CTL(0, "region", "thaw", PFX "ctl"));
	EXPECT_EQ(1, CTL(0, "region", "thaw", PFX "ctl"));

	EXPECT_EQ(1, CTL(0, "region", "delete", PFX "ctl"));
	EXPECT_NE(NULL, strstr(rr.err, "open or mapped"));
	munmap(p, 1 << 20);
	close(fd);
	EXPECT_EQ(0, CTL(0, "region", "delete", PFX "ctl"));
	EXPECT_EQ(0, pm_region_exists(PFX "ctl"));
	EXPECT_EQ(1, CTL(0, "region", "delete", PFX "ctl"));
}

TEST_HARNESS_MAIN
