// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel side of migration, driven straight over netlink on a
 * loopback TCP connection (no partmobctl, no handshake): both roles in
 * one kernel, the test acting as the policy. What arrives is compared
 * with the source by the test itself, page by page.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "mig_lib.h"

#define SRC "mk-src"
#define DST "mk-dst"
#define NPAGES 2048

static long psz;

/* A connected loopback TCP pair: fds[0] the source's, fds[1] the dest's. */
static int tcp_pair(int fds[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int l, c, s;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &len))
		return -errno;
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)))
		return -errno;
	s = accept(l, NULL, NULL);
	close(l);
	if (s < 0)
		return -errno;
	fds[0] = c;
	fds[1] = s;
	return 0;
}

/*
 * MIG_GET by region name, or by control fd when @name is NULL, parsed by
 * mig_lib; a reply without the state or the round is malformed.
 */
static int mig_get_checked(struct tnl *t, const char *name, int ctl,
			   struct pm_mig_info *mi)
{
	int ret = name ? pm_mig_get(t, name, mi) : pm_mig_get_fd(t, ctl, mi);

	if (!ret && (!mi->have_state || !mi->have_round))
		return -EBADMSG;
	return ret;
}

/* Start one side; returns the control fd or -errno. */
static uint32_t start_flags;	/* PARTMOB_A_MIG_FLAGS of the next source */

static int mig_start(struct tnl *t, const char *name, uint32_t role, int fd,
		     uint64_t size, uint32_t timeout_ms)
{
	struct nl_msg *msg = tnl_msg(t, PARTMOB_CMD_MIG_START, 0);
	int ret;

	if (role == PARTMOB_MIG_SOURCE && start_flags)
		nla_put_u32(msg, PARTMOB_A_MIG_FLAGS, start_flags);
	nla_put_string(msg, PARTMOB_A_REGION_NAME, name);
	nla_put_u32(msg, PARTMOB_A_MIG_ROLE, role);
	nla_put_u32(msg, PARTMOB_A_MIG_FD, fd);
	nla_put_u64(msg, PARTMOB_A_MIG_ID, 0x1234);
	nla_put_string(msg, PARTMOB_A_MIG_PEER, "127.0.0.1");
	if (timeout_ms)
		nla_put_u32(msg, PARTMOB_A_MIG_TIMEOUT_MS, timeout_ms);
	if (role == PARTMOB_MIG_DEST) {
		nla_put_u64(msg, PARTMOB_A_REGION_SIZE, size);
		nla_put_u32(msg, PARTMOB_A_REGION_MODE, 0600);
	}
	ret = tnl_request(t, msg);
	if (ret)
		return ret;
	if (!t->tb[PARTMOB_A_MIG_CTL_FD])
		return -EBADMSG;
	return nla_get_u32(t->tb[PARTMOB_A_MIG_CTL_FD]);
}

static int is_final(uint32_t state)
{
	return state == PARTMOB_MIG_S_COMPLETED ||
	       state == PARTMOB_MIG_S_FAILED ||
	       state == PARTMOB_MIG_S_IN_DOUBT;
}

/*
 * Be the policy: @rounds rounds after the first pass, then switch over
 * (or abort when @abort_at_round is reached). Returns the final state.
 */
static int drive(struct tnl *t, int ctl, int rounds, int abort_at_round,
		 struct pm_mig_info *s)
{
	struct pollfd p = { .fd = ctl, .events = POLLIN };
	uint64_t n;
	int i;

	for (i = 0; i < 100000; i++) {
		if (poll(&p, 1, 30000) <= 0)
			return -ETIMEDOUT;
		if (p.revents & POLLIN)
			(void)!read(ctl, &n, sizeof(n));
		if (mig_get_checked(t, SRC, -1, s))
			return -EIO;
		if (is_final(s->state))
			return s->state;
		if (s->state != PARTMOB_MIG_S_WAITING)
			continue;
		if (abort_at_round && (int)s->round >= abort_at_round)
			pm_mig_control(t, SRC, PARTMOB_MIG_A_ABORT);
		else
			pm_mig_control(t, SRC, (int)s->round > rounds ?
				       PARTMOB_MIG_A_SWITCHOVER :
				       PARTMOB_MIG_A_ROUND);
	}
	return -ELOOP;
}

/*
 * Wait until the control fd says the migration ended (POLLHUP) and return
 * its final state, read through the fd (the region may be gone).
 */
static int wait_end(struct tnl *t, int ctl, struct pm_mig_info *s)
{
	struct pollfd p = { .fd = ctl, .events = POLLIN };
	uint64_t n;
	int i;

	for (i = 0; i < 1000; i++) {
		if (poll(&p, 1, 30000) <= 0)
			return -ETIMEDOUT;
		if (p.revents & POLLHUP)
			break;
		if (p.revents & POLLIN)
			(void)!read(ctl, &n, sizeof(n));
	}
	if (mig_get_checked(t, NULL, ctl, s))
		return -EIO;
	return s->state;
}

static void fill(unsigned char *p, size_t npages)
{
	size_t i, j;

	for (i = 0; i < npages; i++) {
		if (i % 7 == 3)
			continue;		/* hole: never touched */
		if (i % 7 == 5) {
			p[i * psz] = 0;		/* touched, all zero */
			continue;
		}
		for (j = 0; j < (size_t)psz; j += 8)
			*(uint64_t *)(p + i * psz + j) =
				(uint64_t)random() << 32 ^ (i * psz + j);
	}
}

static unsigned char *map_region(const char *name, size_t size, int prot)
{
	char path[64];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "/dev/partmob/%s", name);
	fd = open(path, prot & PROT_WRITE ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return NULL;
	p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* First differing page, or -1. */
static long compare(const unsigned char *a, const unsigned char *b,
		    size_t npages)
{
	size_t i;

	for (i = 0; i < npages; i++)
		if (memcmp(a + i * psz, b + i * psz, psz))
			return i;
	return -1;
}

FIXTURE(mig) {
	struct tnl t;
	int skip;
	size_t size;
	unsigned char *src;
	int fds[2];
	int sctl, dctl;
	pid_t writer;
};

FIXTURE_SETUP(mig)
{
	psz = sysconf(_SC_PAGESIZE);
	start_flags = 0;
	self->size = NPAGES * psz;
	self->sctl = self->dctl = -1;
	self->writer = 0;
	pm_regions_cleanup("mk-");
	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, pm_region_create(&self->t, SRC, self->size, -1, -1, -1,
				      -1));
	self->src = map_region(SRC, self->size, PROT_READ | PROT_WRITE);
	ASSERT_NE(NULL, self->src);
	fill(self->src, NPAGES);
	ASSERT_EQ(0, tcp_pair(self->fds));
}

FIXTURE_TEARDOWN(mig)
{
	if (self->writer > 0) {
		kill(self->writer, SIGKILL);
		waitpid(self->writer, NULL, 0);
	}
	if (self->sctl >= 0)
		close(self->sctl);
	if (self->dctl >= 0)
		close(self->dctl);
	close(self->fds[0]);
	close(self->fds[1]);
	munmap(self->src, self->size);
	tnl_close(&self->t);
	pm_regions_cleanup("mk-");
}

static void start_both(struct __test_metadata *_metadata,
		       FIXTURE_DATA(mig) *self)
{
	self->dctl = mig_start(&self->t, DST, PARTMOB_MIG_DEST, self->fds[1],
			       self->size, 0);
	ASSERT_LE(0, self->dctl) TH_LOG("dest: %s", self->t.extack);
	self->sctl = mig_start(&self->t, SRC, PARTMOB_MIG_SOURCE, self->fds[0],
			       0, 0);
	ASSERT_LE(0, self->sctl) TH_LOG("source: %s", self->t.extack);
}

/* An idle region arrives byte for byte; holes stay holes. */
TEST_F(mig, idle_exact)
{
	struct pm_region_info ri;
	struct pm_mig_info s, d;
	unsigned char *dst;
	unsigned char vec[NPAGES];
	size_t i, resident = 0, touched = 0;

	start_both(_metadata, self);
	ASSERT_EQ(PARTMOB_MIG_S_COMPLETED, drive(&self->t, self->sctl, 1, 0, &s))
		TH_LOG("source: %s", s.error);
	ASSERT_EQ(PARTMOB_MIG_S_COMPLETED, wait_end(&self->t, self->dctl, &d))
		TH_LOG("dest: %s", d.error);
	dst = map_region(DST, self->size, PROT_READ);
	ASSERT_NE(NULL, dst);
	/* Untouched pages were not sent, so they are not resident there. */
	ASSERT_EQ(0, mincore(dst, self->size, vec));
	for (i = 0; i < NPAGES; i++) {
		resident += vec[i] & 1;
		touched += i % 7 != 3;
	}
	EXPECT_GE(touched, resident);
	EXPECT_EQ(-1, compare(self->src, dst, NPAGES));
	EXPECT_GE(s.pages_zero, (uint64_t)NPAGES / 7);
	/*
	 * Where the source's time went: it harvested, sent and waited, one
	 * after the other in one thread, so within its total; the
	 * destination reports none of it.
	 */
	EXPECT_LT(0, s.harvest_ns);
	EXPECT_LT(0, s.sock_ns);
	EXPECT_LT(0, s.wait_ns);
	EXPECT_GE(s.total_ns, s.harvest_ns + s.sock_ns + s.wait_ns);
	EXPECT_EQ(0, d.harvest_ns + d.sock_ns + d.wait_ns);
	/* The source is retired: it cannot be thawed; the dest runs. */
	EXPECT_EQ(-EBUSY, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW, SRC));
	ASSERT_EQ(0, pm_region_get(&self->t, DST, &ri));
	EXPECT_EQ(0, ri.frozen);
	munmap(dst, self->size);
}

/*
 * A writer keeps dirtying pages through rounds; at the end the
 * destination equals the frozen source and the writer is blocked.
 */
TEST_F(mig, writer_exact)
{
	volatile uint64_t *counter;
	struct pm_mig_info s, d;
	unsigned char *dst;
	uint64_t before;

	counter = (volatile uint64_t *)(self->src + 3 * psz + 8);
	self->writer = fork();
	ASSERT_LE(0, self->writer);
	if (!self->writer) {
		uint64_t seq = 0;

		for (;;) {
			size_t pg = random() % NPAGES;

			*(volatile uint64_t *)(self->src + pg * psz) = ++seq;
			*counter = seq;
		}
	}
	usleep(100000);
	start_both(_metadata, self);
	ASSERT_EQ(PARTMOB_MIG_S_COMPLETED, drive(&self->t, self->sctl, 3, 0, &s))
		TH_LOG("source: %s", s.error);
	ASSERT_EQ(PARTMOB_MIG_S_COMPLETED, wait_end(&self->t, self->dctl, &d))
		TH_LOG("dest: %s", d.error);
	EXPECT_GE(s.round, 4);
	before = *counter;
	usleep(200000);
	/* Frozen: the writer never writes again on the source. */
	EXPECT_EQ(before, *counter);
	dst = map_region(DST, self->size, PROT_READ);
	ASSERT_NE(NULL, dst);
	EXPECT_EQ(-1, compare(self->src, dst, NPAGES));
	EXPECT_EQ(before, *(uint64_t *)(dst + 3 * psz + 8));
	munmap(dst, self->size);

	/* Deleting the retired source releases its blocked writer: SIGBUS. */
	ASSERT_EQ(0, pm_region_delete(&self->t, SRC)) TH_LOG("%s",
							      self->t.extack);
	{
		int status;

		ASSERT_EQ(self->writer, waitpid(self->writer, &status, 0));
		self->writer = 0;
		EXPECT_TRUE(WIFSIGNALED(status));
		EXPECT_EQ(SIGBUS, WTERMSIG(status));
	}
}

/* Abort after a round: the source resumes, the destination is gone. */
TEST_F(mig, abort_resumes_source)
{
	struct pm_mig_info s, d;

	start_both(_metadata, self);
	ASSERT_EQ(PARTMOB_MIG_S_FAILED, drive(&self->t, self->sctl, 5, 2, &s));
	EXPECT_NE(0, s.error[0]);
	EXPECT_EQ(PARTMOB_MIG_S_FAILED, wait_end(&self->t, self->dctl, &d));
	EXPECT_EQ(0, pm_region_exists(DST));
	/* Writable again, and its data is intact. */
	self->src[0] ^= 1;
	self->src[0] ^= 1;
	EXPECT_EQ(-EALREADY, pm_mig_control(&self->t, SRC,
					    PARTMOB_MIG_A_ABORT));
}

/* Closing the control file before the decision aborts. */
TEST_F(mig, ctl_close_aborts)
{
	struct pm_mig_info s, d;
	int i;

	start_both(_metadata, self);
	close(self->sctl);
	self->sctl = -1;
	for (i = 0; i < 300; i++) {
		ASSERT_EQ(0, mig_get_checked(&self->t, SRC, -1, &s));
		if (s.state == PARTMOB_MIG_S_FAILED)
			break;
		usleep(100000);
	}
	EXPECT_EQ(PARTMOB_MIG_S_FAILED, s.state);
	EXPECT_EQ(PARTMOB_MIG_S_FAILED, wait_end(&self->t, self->dctl, &d));
	EXPECT_EQ(0, pm_region_exists(DST));
	self->src[0] ^= 1;
	self->src[0] ^= 1;
}

/* Control actions that do not apply are refused. */
TEST_F(mig, control_errors)
{
	EXPECT_EQ(-ENOENT, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ROUND));
	EXPECT_EQ(-ENOENT, pm_mig_control(&self->t, "mk-none",
					  PARTMOB_MIG_A_ROUND));
	start_both(_metadata, self);
	EXPECT_EQ(-EINVAL, pm_mig_control(&self->t, DST, PARTMOB_MIG_A_ROUND));
	EXPECT_EQ(-EINVAL, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_RESUME));
	/* A second migration of a migrating region is refused. */
	EXPECT_EQ(-EBUSY, mig_start(&self->t, SRC, PARTMOB_MIG_SOURCE,
				    self->fds[0], 0, 0));
	/* So are harvests, freezes and thaws by others, and delete. */
	EXPECT_EQ(-EBUSY, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_FREEZE,
					SRC));
	EXPECT_EQ(-EBUSY, pm_region_delete(&self->t, DST));
	EXPECT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ABORT));
}

/* --verify: both ends hash their copy; equal copies commit. */
TEST_F(mig, verify_commits_equal_copies)
{
	struct pm_mig_info s, d;
	unsigned char *dst;

	start_flags = PARTMOB_MIG_F_VERIFY;
	start_both(_metadata, self);
	ASSERT_EQ(PARTMOB_MIG_S_COMPLETED, drive(&self->t, self->sctl, 1, 0, &s))
		TH_LOG("source: %s", s.error);
	ASSERT_EQ(PARTMOB_MIG_S_COMPLETED, wait_end(&self->t, self->dctl, &d))
		TH_LOG("dest: %s", d.error);
	EXPECT_LT(0, s.verify_ns);
	dst = map_region(DST, self->size, PROT_READ);
	ASSERT_NE(NULL, dst);
	EXPECT_EQ(-1, compare(self->src, dst, NPAGES));
	munmap(dst, self->size);
}

/*
 * --verify against a destination (played by the test) whose copy hashes
 * differently: the source must not commit, and resumes.
 */
TEST_F(mig, verify_refuses_a_different_copy)
{
	struct pm_region_info ri;
	struct pm_mig_info s;
	int status;
	pid_t peer;

	peer = fork();
	ASSERT_LE(0, peer);
	if (!peer) {
		struct partmob_frame f;
		char *buf = malloc(psz);
		uint32_t i;
		int fd = self->fds[1], verify = 0;

		for (;;) {
			if (recv(fd, &f, sizeof(f), MSG_WAITALL) != sizeof(f))
				_exit(3);
			if (ntohs(f.type) == PARTMOB_FRAME_SCATTER &&
			    ntohl(f.count) <= PARTMOB_FRAME_PAGES_MAX &&
			    recv(fd, buf, ntohl(f.count) * 4, MSG_WAITALL) !=
			    (ssize_t)ntohl(f.count) * 4)
				_exit(5);
			if (ntohs(f.type) == PARTMOB_FRAME_PAGES ||
			    ntohs(f.type) == PARTMOB_FRAME_SCATTER)
				for (i = 0; i < ntohl(f.count); i++)
					if (recv(fd, buf, psz, MSG_WAITALL) != psz)
						_exit(4);
			if (ntohs(f.type) == PARTMOB_FRAME_ROUND) {
				f.type = htons(PARTMOB_FRAME_ROUND_DONE);
				(void)!write(fd, &f, sizeof(f));
			}
			if (ntohs(f.type) == PARTMOB_FRAME_END) {
				verify = ntohs(f.flags) == PARTMOB_FRAME_F_VERIFY;
				break;
			}
		}
		memset(&f, 0, sizeof(f));
		f.type = htons(PARTMOB_FRAME_PREPARED);
		f.arg = htobe64(0x0123456789abcdefULL);
		(void)!write(fd, &f, sizeof(f));
		/* The source answers ABORT, not COMMIT. */
		if (recv(fd, &f, sizeof(f), MSG_WAITALL) != sizeof(f))
			_exit(5);
		_exit(verify && ntohs(f.type) == PARTMOB_FRAME_ABORT ? 0 : 6);
	}
	start_flags = PARTMOB_MIG_F_VERIFY;
	self->sctl = mig_start(&self->t, SRC, PARTMOB_MIG_SOURCE, self->fds[0],
			       0, 0);
	ASSERT_LE(0, self->sctl) TH_LOG("source: %s", self->t.extack);
	EXPECT_EQ(PARTMOB_MIG_S_FAILED, drive(&self->t, self->sctl, 1, 0, &s));
	EXPECT_NE(NULL, strstr(s.error, "verify")) TH_LOG("%s", s.error);
	ASSERT_EQ(peer, waitpid(peer, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(0, pm_region_get(&self->t, SRC, &ri));
	EXPECT_EQ(0, ri.frozen);
	self->src[0] ^= 1;
	self->src[0] ^= 1;
}

static pid_t spawn_listener(const char *dir)
{
	const char *ctl = getenv("PARTMOBCTL") ?: "/usr/sbin/partmobctl";
	char hook[256];
	pid_t pid;

	snprintf(hook, sizeof(hook), "echo $PARTMOB_REGION >> %s/hook", dir);
	pid = fork();
	if (!pid) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 2);
		execl(ctl, ctl, "listen", "--insecure", "--address", "127.0.0.1", "--port",
		      "0", "--state-dir", dir, "--on-resume", hook, NULL);
		_exit(127);
	}
	return pid;
}

static int hook_lines(const char *dir, int wait_ms)
{
	char path[256], line[64];
	int n, i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/hook", dir);
	for (i = 0; i <= wait_ms / 50; i++) {
		f = fopen(path, "r");
		n = 0;
		if (f) {
			while (fgets(line, sizeof(line), f))
				n += !strcmp(line, DST "\n");
			fclose(f);
		}
		if (n)
			return n;
		usleep(50000);
	}
	return 0;
}

/*
 * An incoming migration that completed while no listener watched it (here:
 * driven without one) is handed over by the next listener that starts:
 * its on-resume hook runs, once, also across a second restart.
 */
TEST_F(mig, restarted_listener_picks_up)
{
	char dir[] = "/tmp/pm-state-XXXXXX";
	struct pm_mig_info s, d;
	pid_t l;

	ASSERT_NE(NULL, mkdtemp(dir));
	start_both(_metadata, self);
	ASSERT_EQ(PARTMOB_MIG_S_COMPLETED, drive(&self->t, self->sctl, 1, 0, &s));
	ASSERT_EQ(PARTMOB_MIG_S_COMPLETED, wait_end(&self->t, self->dctl, &d));
	close(self->dctl);
	self->dctl = -1;

	l = spawn_listener(dir);
	ASSERT_LT(0, l);
	EXPECT_EQ(1, hook_lines(dir, 20000));
	kill(l, SIGTERM);
	waitpid(l, NULL, 0);

	l = spawn_listener(dir);
	ASSERT_LT(0, l);
	usleep(1500000);
	kill(l, SIGTERM);
	waitpid(l, NULL, 0);
	EXPECT_EQ(1, hook_lines(dir, 0));
}

/* Hostile frames straight into a receiver. */
struct bad {
	const char *what;
	uint16_t type;
	uint16_t flags;
	uint32_t count;
	uint64_t offset, arg;
	int hello;		/* send a good HELLO first */
};

static void put_frame(int fd, uint16_t type, uint16_t flags, uint32_t count,
		      uint64_t offset, uint64_t arg)
{
	struct partmob_frame f = {
		.type = htons(type),
		.flags = htons(flags),
		.count = htonl(count),
		.offset = htobe64(offset),
		.arg = htobe64(arg),
	};

	(void)!write(fd, &f, sizeof(f));
}

TEST_F(mig, hostile_frames)
{
	const struct bad cases[] = {
		{ "PAGES before HELLO", PARTMOB_FRAME_PAGES, 0, 1, 0, 0, 0 },
		{ "unknown type", 77, 0, 0, 0, 0, 1 },
		{ "flags set", PARTMOB_FRAME_ZERO, 1, 1, 0, 0, 1 },
		{ "PAGES past the end", PARTMOB_FRAME_PAGES, 0, 1, NPAGES, 0, 1 },
		{ "PAGES wrapping", PARTMOB_FRAME_PAGES, 0, 2, ~0ULL, 0, 1 },
		{ "PAGES too many", PARTMOB_FRAME_PAGES, 0,
		  PARTMOB_FRAME_PAGES_MAX + 1, 0, 0, 1 },
		{ "PAGES of zero pages", PARTMOB_FRAME_PAGES, 0, 0, 0, 0, 1 },
		{ "ZERO past the end", PARTMOB_FRAME_ZERO, 0, NPAGES + 1, 0, 0, 1 },
		{ "COMMIT before END", PARTMOB_FRAME_COMMIT, 0, 0, 0, 0, 1 },
		{ "ROUND out of sequence", PARTMOB_FRAME_ROUND, 0, 0, 0, 5, 1 },
		{ "END with a wrong count", PARTMOB_FRAME_END, 0, 0, 0, 9, 1 },
		{ "HELLO with a wrong size", PARTMOB_FRAME_HELLO, 0, 4096, 0x1234,
		  NPAGES + 1, 0 },
		{ "truncated frame", 0, 0, 0, 0, 0, 1 },
		{ "silence", 0, 0, 0, 0, 0, 2 },
	};
	unsigned char before[64];
	struct pm_mig_info d;
	size_t i;

	memcpy(before, self->src, sizeof(before));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad *c = &cases[i];

		if (i) {
			close(self->fds[0]);
			close(self->fds[1]);
			ASSERT_EQ(0, tcp_pair(self->fds));
		}
		self->dctl = mig_start(&self->t, DST, PARTMOB_MIG_DEST,
				       self->fds[1], self->size, 1000);
		ASSERT_LE(0, self->dctl) TH_LOG("%s: %s", c->what,
						 self->t.extack);
		if (c->hello)
			put_frame(self->fds[0], PARTMOB_FRAME_HELLO, 0, psz,
				  0x1234, NPAGES);
		if (!strcmp(c->what, "truncated frame")) {
			(void)!write(self->fds[0], "\0\2\0", 3);
			shutdown(self->fds[0], SHUT_WR);
		} else if (c->hello != 2) {
			put_frame(self->fds[0], c->type, c->flags, c->count,
				  c->offset, c->arg);
		}
		/* The control fd still tells why; the region is gone. */
		EXPECT_EQ(PARTMOB_MIG_S_FAILED, wait_end(&self->t, self->dctl, &d))
			TH_LOG("%s: state %u", c->what, d.state);
		EXPECT_NE(0, d.error[0]) TH_LOG("%s", c->what);
		EXPECT_EQ(0, pm_region_exists(DST)) TH_LOG("%s", c->what);
		close(self->dctl);
		self->dctl = -1;
	}
	/* Nothing outside the destination was touched. */
	EXPECT_EQ(0, memcmp(before, self->src, sizeof(before)));
}

/*
 * Groups: two regions migrating out with PARTMOB_MIG_F_HOLD share one
 * decision, PARTMOB_CMD_MIG_COMMIT: all commit or none does.
 */
#define SRC2 "mk-src2"
#define DST2 "mk-dst2"

static int mig_commit(struct tnl *t, const char *const *names, int n)
{
	struct nl_msg *msg = tnl_msg(t, PARTMOB_CMD_MIG_COMMIT, 0);
	struct nlattr *nest;
	int i;

	nest = nla_nest_start(msg, PARTMOB_A_MIG_GROUP);
	for (i = 0; i < n; i++)
		nla_put_string(msg, PARTMOB_A_REGION_NAME, names[i]);
	nla_nest_end(msg, nest);
	return tnl_request(t, msg);
}

/*
 * Be the policy of a held source: switch over after the first round and
 * return the state it settles in: PREPARED, or a final one.
 */
static int drive_held(struct tnl *t, const char *name, struct pm_mig_info *s)
{
	int i;

	for (i = 0; i < 3000; i++) {
		if (mig_get_checked(t, name, -1, s))
			return -EIO;
		if (s->state == PARTMOB_MIG_S_PREPARED || is_final(s->state))
			return s->state;
		if (s->state == PARTMOB_MIG_S_WAITING)
			pm_mig_control(t, name, PARTMOB_MIG_A_SWITCHOVER);
		usleep(10000);
	}
	return -ETIMEDOUT;
}

FIXTURE(group) {
	struct tnl t;
	size_t size;
	unsigned char *src[2];
	int fds[2][2];
	int sctl[2], dctl[2];
};

static const char *const group_src[] = { SRC, SRC2 };
static const char *const group_dst[] = { DST, DST2 };

FIXTURE_SETUP(group)
{
	int i;

	psz = sysconf(_SC_PAGESIZE);
	self->size = NPAGES / 4 * psz;
	pm_regions_cleanup("mk-");
	ASSERT_EQ(0, tnl_open(&self->t));
	for (i = 0; i < 2; i++) {
		self->sctl[i] = self->dctl[i] = -1;
		ASSERT_EQ(0, pm_region_create(&self->t, group_src[i],
					      self->size, -1, -1, -1, -1));
		self->src[i] = map_region(group_src[i], self->size,
					  PROT_READ | PROT_WRITE);
		ASSERT_NE(NULL, self->src[i]);
		fill(self->src[i], NPAGES / 4);
		ASSERT_EQ(0, tcp_pair(self->fds[i]));
	}
}

FIXTURE_TEARDOWN(group)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (self->sctl[i] >= 0)
			close(self->sctl[i]);
		if (self->dctl[i] >= 0)
			close(self->dctl[i]);
		close(self->fds[i][0]);
		close(self->fds[i][1]);
		munmap(self->src[i], self->size);
	}
	tnl_close(&self->t);
	pm_regions_cleanup("mk-");
}

/* Start both members, held, and bring both sources to PREPARED. */
static void group_prepare(struct __test_metadata *_metadata,
			  FIXTURE_DATA(group) *self, uint32_t timeout_ms)
{
	struct pm_mig_info s;
	int i;

	start_flags = PARTMOB_MIG_F_HOLD;
	for (i = 0; i < 2; i++) {
		self->dctl[i] = mig_start(&self->t, group_dst[i],
					  PARTMOB_MIG_DEST, self->fds[i][1],
					  self->size, 0);
		ASSERT_LE(0, self->dctl[i]) TH_LOG("dest: %s", self->t.extack);
		self->sctl[i] = mig_start(&self->t, group_src[i],
					  PARTMOB_MIG_SOURCE, self->fds[i][0],
					  0, timeout_ms);
		ASSERT_LE(0, self->sctl[i]) TH_LOG("source: %s",
						  self->t.extack);
	}
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(PARTMOB_MIG_S_PREPARED,
			  drive_held(&self->t, group_src[i], &s))
			TH_LOG("%s: %s", group_src[i], s.error);
	}
}

/* Held sources do not commit on prepared; one command commits both. */
TEST_F(group, commit_all)
{
	struct pm_mig_info s, d;
	unsigned char *dst;
	int i;

	group_prepare(_metadata, self, 0);
	/* Held: neither side goes on by itself. */
	usleep(300000);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, mig_get_checked(&self->t, group_src[i], -1, &s));
		EXPECT_EQ(PARTMOB_MIG_S_PREPARED, s.state);
		ASSERT_EQ(0, mig_get_checked(&self->t, group_dst[i], -1, &d));
		EXPECT_EQ(PARTMOB_MIG_S_PREPARED, d.state);
	}
	ASSERT_EQ(0, mig_commit(&self->t, group_src, 2))
		TH_LOG("commit: %s", self->t.extack);
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(PARTMOB_MIG_S_COMPLETED,
			  wait_end(&self->t, self->sctl[i], &s))
			TH_LOG("%s: %s", group_src[i], s.error);
		EXPECT_EQ(PARTMOB_MIG_S_COMPLETED,
			  wait_end(&self->t, self->dctl[i], &d))
			TH_LOG("%s: %s", group_dst[i], d.error);
		dst = map_region(group_dst[i], self->size, PROT_READ);
		ASSERT_NE(NULL, dst);
		EXPECT_EQ(-1, compare(self->src[i], dst, NPAGES / 4));
		munmap(dst, self->size);
		EXPECT_EQ(-EBUSY, pm_region_cmd(&self->t,
						PARTMOB_CMD_REGION_THAW,
						group_src[i]));
	}
	/* Decided: a second commit or an abort is refused. */
	EXPECT_EQ(-EALREADY, mig_commit(&self->t, group_src, 1));
}

/*
 * One member aborted: the commit of the group is refused and decides
 * nothing; the other member can still be aborted, and both sources
 * resume with their data.
 */
TEST_F(group, all_or_none)
{
	struct pm_mig_info s, d;
	int i;

	group_prepare(_metadata, self, 0);
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC2, PARTMOB_MIG_A_ABORT));
	EXPECT_EQ(-EALREADY, mig_commit(&self->t, group_src, 2));
	EXPECT_NE(NULL, strstr(self->t.extack, "aborted"))
		TH_LOG("extack: %s", self->t.extack);
	ASSERT_EQ(0, mig_get_checked(&self->t, SRC, -1, &s));
	EXPECT_EQ(PARTMOB_MIG_S_PREPARED, s.state);
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ABORT));
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(PARTMOB_MIG_S_FAILED,
			  wait_end(&self->t, self->sctl[i], &s));
		EXPECT_EQ(PARTMOB_MIG_S_FAILED,
			  wait_end(&self->t, self->dctl[i], &d))
			TH_LOG("%s: %s", group_dst[i], d.error);
		EXPECT_EQ(0, pm_region_exists(group_dst[i]));
		/* Writable again. */
		self->src[i][0] ^= 1;
		self->src[i][0] ^= 1;
	}
}

/* A held source that gets no decision in time aborts; the dest discards. */
TEST_F(group, hold_times_out)
{
	struct pm_mig_info s, d;

	group_prepare(_metadata, self, 1000);
	EXPECT_EQ(PARTMOB_MIG_S_FAILED, wait_end(&self->t, self->sctl[0], &s));
	EXPECT_NE(NULL, strstr(s.error, "no commit"))
		TH_LOG("error: %s", s.error);
	EXPECT_EQ(PARTMOB_MIG_S_FAILED, wait_end(&self->t, self->dctl[0], &d));
	EXPECT_EQ(0, pm_region_exists(DST));
	self->src[0][0] ^= 1;
	self->src[0][0] ^= 1;
	EXPECT_EQ(-EALREADY, mig_commit(&self->t, group_src, 1));
}

/* Start the first member only, its source with @flags. */
static void group_start_first(struct __test_metadata *_metadata,
			      FIXTURE_DATA(group) *self, uint32_t flags)
{
	start_flags = flags;
	self->dctl[0] = mig_start(&self->t, DST, PARTMOB_MIG_DEST,
				  self->fds[0][1], self->size, 0);
	ASSERT_LE(0, self->dctl[0]) TH_LOG("dest: %s", self->t.extack);
	self->sctl[0] = mig_start(&self->t, SRC, PARTMOB_MIG_SOURCE,
				  self->fds[0][0], 0, 0);
	ASSERT_LE(0, self->sctl[0]) TH_LOG("source: %s", self->t.extack);
}

/* Malformed groups and members that cannot commit are refused. */
TEST_F(group, commit_errors)
{
	const char *const dup[] = { SRC, SRC };
	const char *const none[] = { "mk-none" };
	struct nl_msg *msg;

	/* No migration yet. */
	EXPECT_EQ(-ENOENT, mig_commit(&self->t, group_src, 1));
	EXPECT_EQ(-ENOENT, mig_commit(&self->t, none, 1));
	/* Missing and empty groups. */
	msg = tnl_msg(&self->t, PARTMOB_CMD_MIG_COMMIT, 0);
	EXPECT_EQ(-EINVAL, tnl_request(&self->t, msg));
	EXPECT_EQ(-EINVAL, mig_commit(&self->t, group_src, 0));
	/* A source without the hold flag is never decided by the group. */
	group_start_first(_metadata, self, 0);
	EXPECT_EQ(-EINVAL, mig_commit(&self->t, group_src, 1));
	EXPECT_EQ(-EINVAL, mig_commit(&self->t, dup, 2));
	/* A destination is not a member either. */
	EXPECT_EQ(-EINVAL, mig_commit(&self->t, group_dst, 1));
	EXPECT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ABORT));
}

/* Held but not prepared yet: refused, and nothing is decided. */
TEST_F(group, commit_before_prepared)
{
	struct pm_mig_info s;

	group_start_first(_metadata, self, PARTMOB_MIG_F_HOLD);
	EXPECT_EQ(-EINVAL, mig_commit(&self->t, group_src, 1));
	EXPECT_NE(NULL, strstr(self->t.extack, "not prepared"))
		TH_LOG("extack: %s", self->t.extack);
	ASSERT_EQ(0, mig_get_checked(&self->t, SRC, -1, &s));
	EXPECT_NE(PARTMOB_MIG_S_COMMITTED, s.state);
	EXPECT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ABORT));
}

TEST_HARNESS_MAIN
