// SPDX-License-Identifier: GPL-2.0
/*
 * Faults injected into a migration through partmobctl between two network
 * namespaces of this guest (A: start, B: listen --once; see mig_lib.h),
 * and the outcome of brief.md's G3 asserted after each.
 *
 * The region (512 KiB) has a writer that dirties every page without end,
 * so that start (--max-bandwidth 512K --downtime-limit 10 --max-rounds 3
 * --on-stall switchover) sends round 1 (the full pass), rounds 2 and 3 and
 * then the stop-copy, each about a second long. The test waits until
 * the module reports the fault point, then injects the fault:
 *
 *  points  first_pass   state ROUND, round 1, bytes sent
 *          later_round  state ROUND, round 2 or later, bytes sent
 *          stop_copy    state STOP_COPY (the source region is frozen)
 *  faults  kill_source    SIGKILL of partmobctl start
 *          kill_receiver  SIGKILL of the listener's child that receives
 *                         this migration (the destination's helper)
 *          kill_listener  SIGKILL of the listening process only: its child
 *                         goes on
 *          link_down      veth pmB set down: no RST, the TCP connection
 *                         hangs until the link timeout (--link-timeout of
 *                         both ends, here 3 s)
 *          stop_source    SIGSTOP of start past the link timeout, SIGCONT
 *                         once the migration has ended
 *          unload         delete_module("partmob") during the migration
 *          stall          (the held points') the relay holds both
 *                         directions past the link timeout: nothing
 *                         moves, but the TCP connections stay up, as with
 *                         a peer host that has stopped
 *
 * All these points are before the decision (the source's receipt of
 * prepared). Expected: the migration fails, the source region is thawed
 * and its writer runs on with every page intact, the destination region is
 * gone; both helpers exit saying so. Except where the fault leaves the
 * migration nothing to miss: the module does the stop-copy and the commit
 * without start, and the receiving child needs no listening parent; there
 * the migration completes: the source stays frozen (retired) and its
 * writer never runs again, the destination runs with the same pages. An
 * unload is refused (EAGAIN: the migration holds the module) and the
 * migration completes, at every point (and at prepared, and while the
 * destination is in doubt).
 *
 * The points before the first frame and from the destination's prepared
 * on last microseconds with start, so there the test drives both kernel
 * ends itself, the source held (PARTMOB_MIG_F_HOLD, as for a guest) in
 * PREPARED, and for some points their connection runs through a relay in
 * the test that can hold back either direction:
 *
 *  points  no_frame     the relay holds the source's stream from the
 *                       start: the source has sent, the destination has
 *                       received nothing (link_down, stall, kill_source,
 *                       kill_receiver: aborted)
 *          prepared     the destination has every page, the source holds:
 *                       link_down or stall, then an abort (before the
 *                       decision)
 *          commit       the same, then MIG_COMMIT: the decision, which
 *                       cannot reach the destination
 *          resumed      inside the commit: the relay holds the
 *                       destination's RESUMED, so the destination runs on
 *                       the decision and the source, retired, has not
 *                       heard of it (link_down, stall, kill_source,
 *                       kill_receiver: the source never runs again)
 *
 * After link_down or a stall the destination is in doubt: frozen,
 * partmobctl status says in-doubt, and (the link back) recover asks the
 * source's listener and discards (after the abort: the source runs on,
 * intact) or resumes there (after the commit: the source stays retired).
 * kill_source (the source's control fd closed) at prepared aborts, at
 * commit changes nothing; kill_receiver (the destination's) at prepared
 * changes nothing: the source commits and the destination resumes.
 *
 * Built twice: faults (partmobctl --insecure: plain TCP) and faults_tls
 * (PM_FAULTS_TLS: --psk-file, so the page stream runs through kernel TLS
 * and a cut link, a stall or a dead helper must be noticed through it;
 * the faults of the partmobctl points, the held points with the held
 * migration's connection in kernel TLS both ways (keyed by the test, as
 * partmobctl keys it), and recover of a destination in doubt asking over
 * TLS).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "mig_lib.h"
#include "kselftest_harness.h"

#define PFX "kst-flt-"
#define SRC PFX "src"
#define DST PFX "dst"
#define SIZE (512 << 10)
#define LINK_MS "3000"		/* --link-timeout of both ends */
#define PORT 7790		/* the listener's, in the argvs too */

#define PSK "/tmp/kst-flt.psk"	/* faults_tls: the hosts' key file */

#ifndef PM_FAULTS_TLS
#define PM_FAULTS_TLS 0
#endif

/* How partmobctl authenticates: the same argv words on both hosts. */
#if PM_FAULTS_TLS
#define AUTH "--psk-file", PSK
#else
#define AUTH "--insecure"
#endif
#define ID 0x6661756c74730001ULL

enum point {
	P_FIRST_PASS, P_LATER_ROUND, P_STOP_COPY,
	/* the held migration's, from here on */
	P_NO_FRAME, P_PREPARED, P_COMMIT, P_RESUMED,
};
enum fault {
	F_KILL_SOURCE, F_KILL_RECEIVER, F_KILL_LISTENER, F_LINK_DOWN,
	F_STOP_SOURCE, F_UNLOAD, F_STALL,
};

/*
 * The held migration's connection through the test: the source's TCP
 * connection ends at @a, the destination's at @b (both in B), and a
 * thread copies the bytes between them as they come, except in a
 * direction that is held: then they wait in the sockets, as on a link
 * that has stopped delivering. The end of one direction (EOF or an error)
 * is passed on as a shutdown of the other socket.
 */
struct relay {
	int a, b;
	atomic_int hold_ab, hold_ba, stop;
	atomic_int ack_ab, ack_ba;	/* the holds the thread obeys now */
	int running;
	pthread_t thread;
};

/* Copy what @from has to @to; false once that direction has ended. */
static bool relay_copy(int from, int to)
{
	char buf[16384];
	ssize_t n, w, off;

	n = recv(from, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	for (off = 0; n > 0 && off < n; off += w) {
		w = send(to, buf + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			w = 0;
		else if (w < 0)
			break;
	}
	if (n > 0 && off == n)
		return true;
	shutdown(to, n == 0 ? SHUT_WR : SHUT_RDWR);
	return false;
}

static void *relay_run(void *arg)
{
	struct relay *r = arg;
	bool ab = true, ba = true;
	struct pollfd p[2];
	int hab, hba;

	while (!atomic_load(&r->stop) && (ab || ba)) {
		/* One reading of the holds per turn, acknowledged. */
		hab = atomic_load(&r->hold_ab);
		hba = atomic_load(&r->hold_ba);
		atomic_store(&r->ack_ab, hab);
		atomic_store(&r->ack_ba, hba);
		p[0].fd = ab ? r->a : -1;
		p[0].events = hab ? 0 : POLLIN;
		p[1].fd = ba ? r->b : -1;
		p[1].events = hba ? 0 : POLLIN;
		if (poll(p, 2, 10) <= 0)
			continue;
		/* A held direction leaves even an error where it is. */
		if (ab && !hab && p[0].revents)
			ab = relay_copy(r->a, r->b);
		if (ba && !hba && p[1].revents)
			ba = relay_copy(r->b, r->a);
	}
	return NULL;
}

/*
 * Hold back (1) or let through (0) each direction, and wait until the
 * thread obeys: from then on nothing more passes a held direction, so a
 * frame sent after this call is held for sure.
 */
static int relay_hold(struct relay *r, int ab, int ba)
{
	uint64_t end = pm_now_ms() + 5000;

	atomic_store(&r->hold_ab, ab);
	atomic_store(&r->hold_ba, ba);
	while (atomic_load(&r->ack_ab) != ab || atomic_load(&r->ack_ba) != ba) {
		if (!r->running || pm_now_ms() > end)
			return -1;
		pm_sleep_ms(1);
	}
	return 0;
}

static void relay_stop(struct relay *r)
{
	if (r->running) {
		atomic_store(&r->stop, 1);
		pthread_join(r->thread, NULL);
		r->running = 0;
	}
	if (r->a >= 0)
		close(r->a);
	if (r->b >= 0)
		close(r->b);
	r->a = r->b = -1;
}

FIXTURE(faults) {
	struct relay relay;
	struct tnl t;
	struct pm_hosts h;
	char skip[192];
	long page;
	struct pm_proc lis, st, aux[2];
	int sctl, dctl;		/* control fds of a held migration */
	pid_t writer;
	volatile uint64_t *prog;	/* the writer's sweeps */
};

FIXTURE_VARIANT(faults) {
	enum point point;
	enum fault fault;
	int completes;		/* the expected outcome */
};

#define FAULT(p, f, c)							\
	FIXTURE_VARIANT_ADD(faults, f##_##p) {				\
		.point = P_##p, .fault = F_##f, .completes = c,		\
	}

#if PM_FAULTS_TLS
/* Each fault through kTLS once at least; recover over TLS. */
FAULT(FIRST_PASS, LINK_DOWN, 0);
FAULT(LATER_ROUND, LINK_DOWN, 0);
FAULT(STOP_COPY, LINK_DOWN, 0);
FAULT(LATER_ROUND, KILL_SOURCE, 0);
FAULT(STOP_COPY, KILL_RECEIVER, 0);
FAULT(FIRST_PASS, STOP_SOURCE, 0);
FAULT(STOP_COPY, STOP_SOURCE, 1);
FAULT(LATER_ROUND, KILL_LISTENER, 1);
FAULT(STOP_COPY, UNLOAD, 1);
FAULT(PREPARED, LINK_DOWN, 0);
FAULT(COMMIT, LINK_DOWN, 1);
FAULT(PREPARED, KILL_SOURCE, 0);
FAULT(PREPARED, KILL_RECEIVER, 1);
FAULT(NO_FRAME, KILL_RECEIVER, 0);
FAULT(RESUMED, LINK_DOWN, 1);
FAULT(COMMIT, STALL, 1);
#else
/* Most valuable first: the helpers dying, the link, a stall, unload. */
FAULT(FIRST_PASS, KILL_SOURCE, 0);
FAULT(LATER_ROUND, KILL_SOURCE, 0);
FAULT(STOP_COPY, KILL_SOURCE, 0);
FAULT(FIRST_PASS, KILL_RECEIVER, 0);
FAULT(LATER_ROUND, KILL_RECEIVER, 0);
FAULT(STOP_COPY, KILL_RECEIVER, 0);
FAULT(FIRST_PASS, LINK_DOWN, 0);
FAULT(LATER_ROUND, LINK_DOWN, 0);
FAULT(STOP_COPY, LINK_DOWN, 0);
FAULT(FIRST_PASS, STOP_SOURCE, 0);
FAULT(STOP_COPY, STOP_SOURCE, 1);
FAULT(LATER_ROUND, KILL_LISTENER, 1);
FAULT(LATER_ROUND, UNLOAD, 1);
FAULT(FIRST_PASS, UNLOAD, 1);
FAULT(STOP_COPY, UNLOAD, 1);
FAULT(PREPARED, UNLOAD, 1);
FAULT(PREPARED, LINK_DOWN, 0);
FAULT(COMMIT, LINK_DOWN, 1);
FAULT(PREPARED, KILL_SOURCE, 0);
FAULT(COMMIT, KILL_SOURCE, 1);
FAULT(PREPARED, KILL_RECEIVER, 1);
FAULT(NO_FRAME, LINK_DOWN, 0);
FAULT(NO_FRAME, KILL_SOURCE, 0);
FAULT(NO_FRAME, KILL_RECEIVER, 0);
FAULT(RESUMED, LINK_DOWN, 1);
FAULT(RESUMED, KILL_SOURCE, 1);
FAULT(RESUMED, KILL_RECEIVER, 1);
FAULT(NO_FRAME, STALL, 0);
FAULT(PREPARED, STALL, 0);
FAULT(COMMIT, STALL, 1);
FAULT(RESUMED, STALL, 1);
FAULT(FIRST_PASS, KILL_LISTENER, 1);
FAULT(STOP_COPY, KILL_LISTENER, 1);
FAULT(LATER_ROUND, STOP_SOURCE, 0);
#endif

FIXTURE_SETUP(faults)
{
	int ret;

	self->h.orig = self->h.ns[0] = self->h.ns[1] = -1;
	self->relay.a = self->relay.b = -1;
	self->sctl = self->dctl = -1;
	self->page = sysconf(_SC_PAGESIZE);
	self->prog = pm_shared_page();
	ASSERT_NE(NULL, self->prog);
	if (geteuid()) {
		snprintf(self->skip, sizeof(self->skip), "needs root");
		return;
	}
	ret = pm_hosts_setup(&self->h);
	if (ret) {
		snprintf(self->skip, sizeof(self->skip), "%s", self->h.err);
		return;
	}
	pm_mig_prereq(&self->t, self->skip, sizeof(self->skip), 1);
	if (!self->skip[0])
		pm_cleanup_regions(PFX);
	if (PM_FAULTS_TLS && !self->skip[0])
		ASSERT_EQ(0, pm_write_psk(PSK, "kst-flt", 3));
}

FIXTURE_TEARDOWN(faults)
{
	int status;

	relay_stop(&self->relay);
	/* A stopped process takes SIGKILL too. */
	pm_proc_stop(&self->st, SIGKILL);
	pm_proc_stop(&self->lis, SIGKILL);
	pm_proc_stop(&self->aux[0], SIGKILL);
	pm_proc_stop(&self->aux[1], SIGKILL);
	if (self->sctl >= 0)
		close(self->sctl);
	if (self->dctl >= 0)
		close(self->dctl);
	if (self->writer > 0)
		pm_kill_wait(self->writer, &status);
	pm_kill_group_members();
	if (self->t.sk)
		pm_cleanup_regions(PFX);
	if (PM_FAULTS_TLS)
		unlink(PSK);
	pm_hosts_close(&self->h);
	tnl_close(&self->t);
	munmap((void *)self->prog, 4096);
}

/* partmobctl @argv in host @host (0: A, 1: B). */
static int ctl_in(FIXTURE_DATA(faults) *self, struct pm_proc *p, int host,
		  const char *const *argv)
{
	struct pm_spawn_opts o = { .netns = self->h.ns[host] };

	return pm_spawn_ctl(p, &o, argv);
}

/* Has the migration of SRC reached @point? */
static int at_point(const struct pm_mig_info *mi, enum point point)
{
	switch (point) {
	case P_FIRST_PASS:
		return mi->state == PARTMOB_MIG_S_ROUND && mi->round == 1 &&
		       mi->transferred;
	case P_LATER_ROUND:
		return mi->state == PARTMOB_MIG_S_ROUND && mi->round >= 2 &&
		       mi->round_bytes;
	case P_STOP_COPY:
		return mi->state == PARTMOB_MIG_S_STOP_COPY;
	default:	/* the held migration's points: in_doubt_recovered() */
		return 0;
	}
}

/* The exit status of @p within @s seconds (-1: still running). */
static int exit_of(struct __test_metadata *_metadata, struct pm_proc *p,
		   const char *what, int s)
{
	if (pm_proc_wait(p, s * 1000)) {
		pm_proc_read(p);
		TH_LOG("%s runs on after %d s:\n%s", what, s, p->err);
		return -1;
	}
	TH_LOG("%s: exit status %d\n%s%s", what, p->status, p->out, p->err);
	return p->status;
}

/* Wait until the source's migration has ended: its state. */
static uint32_t src_end(struct __test_metadata *_metadata)
{
	struct pm_mig_info mi;
	int ret;

	ret = pm_mig_wait_state(SRC, PARTMOB_MIG_S_COMPLETED, 60000, &mi);
	EXPECT_TRUE(ret == 0 || ret == -EPIPE)
		TH_LOG("source: %d, state %s", ret,
		       pm_mig_state_name(mi.state));
	TH_LOG("source: %s %s (errno %u)", pm_mig_state_name(mi.state),
	       mi.error, mi.err_no);
	return mi.state;
}

/* Before the decision: the source runs on intact, the destination gone. */
static void aborted(struct __test_metadata *_metadata,
		    FIXTURE_DATA(faults) *self)
{
	uint64_t end = pm_now_ms() + 30000;
	unsigned char *p;

	EXPECT_EQ(PARTMOB_MIG_S_FAILED, src_end(_metadata));
	/* The destination learns of it by its own link timeout at most. */
	while (pm_region_exists(DST) && pm_now_ms() < end)
		pm_sleep_ms(20);
	EXPECT_EQ(0, pm_region_exists(DST));
	EXPECT_EQ(0, pm_region_frozen(SRC));
	EXPECT_TRUE(pm_advances(self->prog, 10000));
	p = pm_region_map(SRC, SIZE, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, pm_sweep_damage(p, SIZE / self->page, self->page,
				     self->prog));
	munmap(p, SIZE);
}

/* After the decision: the source retired, the destination runs. */
static void completed(struct __test_metadata *_metadata,
		      FIXTURE_DATA(faults) *self)
{
	size_t npages = SIZE / self->page;
	struct pm_mig_info mi;
	unsigned char *p, *q;
	uint64_t gen;
	int ret;

	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, src_end(_metadata));
	ret = pm_mig_wait_state(DST, PARTMOB_MIG_S_COMPLETED, 60000, &mi);
	EXPECT_EQ(0, ret) TH_LOG("destination: %s %s",
				 pm_mig_state_name(mi.state), mi.error);
	EXPECT_EQ(1, pm_region_frozen(SRC));
	EXPECT_EQ(0, pm_region_frozen(DST));
	gen = pm_load64(self->prog);
	EXPECT_FALSE(pm_advances(self->prog, 500));
	p = pm_region_map(SRC, SIZE, PROT_READ);
	q = pm_region_map(DST, SIZE, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(0, pm_pages_differ(p, q, npages, self->page));
	EXPECT_EQ(0, pm_sweep_damage(q, npages, self->page, self->prog));
	EXPECT_EQ(gen, pm_load64(self->prog));
	munmap(p, SIZE);
	munmap(q, SIZE);
}

/* delete_module() now is refused and leaves the module as it was. */
static void unload_refused(struct __test_metadata *_metadata)
{
	int ret = syscall(SYS_delete_module, "partmob", O_NONBLOCK);
	int err = errno;

	EXPECT_EQ(-1, ret);
	TH_LOG("delete_module: %s", strerror(err));
	EXPECT_TRUE(err == EBUSY || err == EAGAIN);
	EXPECT_TRUE(pm_module_loaded());
}

/*
 * Source SRC and destination DST driven through the kernel over a TCP
 * connection from A to B, the source with PARTMOB_MIG_F_HOLD (as for a
 * guest's RAM): once the destination has every page and said prepared,
 * the source holds in PREPARED for the decision (MIG_COMMIT) or an abort.
 */
static void held_start(struct __test_metadata *_metadata,
		       FIXTURE_DATA(faults) *self, int relay, int hold_ab)
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1, .id = ID, .timeout_ms = 3000 };
	char boot[PARTMOB_BOOT_ID_MAX + 1];
	int fds[2];

	pm_boot_id(boot, sizeof(boot));
	a.peer_boot_id = boot;
	ASSERT_EQ(0, pm_tcp_link(self->h.orig, self->h.ns[0], self->h.ns[1],
				 PM_HOST_B_ADDR, fds));
	if (relay) {
		int pair[2];

		self->relay.a = fds[1];
		ASSERT_EQ(0, pm_tcp_pair(self->h.orig, self->h.ns[1], pair));
		self->relay.b = pair[0];
		fds[1] = pair[1];
		atomic_store(&self->relay.hold_ab, hold_ab);
		atomic_store(&self->relay.ack_ab, hold_ab);
		ASSERT_EQ(0, pthread_create(&self->relay.thread, NULL,
					    relay_run, &self->relay));
		self->relay.running = 1;
	}
	/* faults_tls: the held stream runs through kernel TLS too. */
	if (PM_FAULTS_TLS) {
		char ulp[16] = "";
		socklen_t len = sizeof(ulp);

		ASSERT_EQ(0, pm_ktls_keys(fds, 0));
		ASSERT_EQ(0, getsockopt(fds[0], SOL_TCP, TCP_ULP, ulp, &len));
		ASSERT_STREQ("tls", ulp);
	}

	a.name = DST;
	a.role = PARTMOB_MIG_DEST;
	a.fd = fds[1];
	a.peer = PM_HOST_A_ADDR;
	a.size = SIZE;
	self->dctl = pm_mig_start(&self->t, &a);
	ASSERT_LE(0, self->dctl) TH_LOG("destination: %s", self->t.extack);
	a.name = SRC;
	a.role = PARTMOB_MIG_SOURCE;
	a.fd = fds[0];
	a.peer = PM_HOST_B_ADDR;
	a.size = 0;
	a.mig_flags = PARTMOB_MIG_F_HOLD;
	self->sctl = pm_mig_start(&self->t, &a);
	ASSERT_LE(0, self->sctl) TH_LOG("source: %s", self->t.extack);
	close(fds[0]);
	close(fds[1]);
}

/*
 * The held migration started (through the relay if @relay) and brought to
 * PREPARED on both sides.
 */
static void held_at_prepared(struct __test_metadata *_metadata,
			     FIXTURE_DATA(faults) *self, int relay)
{
	struct pm_mig_info mi;
	int ret;

	held_start(_metadata, self, relay, 0);
	ret = pm_mig_wait_state(SRC, PARTMOB_MIG_S_WAITING, 60000, &mi);
	ASSERT_EQ(0, ret) TH_LOG("source: %s", pm_mig_state_name(mi.state));
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_SWITCHOVER));
	ret = pm_mig_wait_state(SRC, PARTMOB_MIG_S_PREPARED, 60000, &mi);
	ASSERT_EQ(0, ret) TH_LOG("source: %s", pm_mig_state_name(mi.state));
	ret = pm_mig_wait_state(DST, PARTMOB_MIG_S_PREPARED, 60000, &mi);
	ASSERT_EQ(0, ret) TH_LOG("destination: %s", pm_mig_state_name(mi.state));
}

/*
 * The fault of a held migration's point: its helpers, the link, or (with
 * the relay) a stall: nothing moves either way, but the TCP connections
 * stay up, as with a peer host that has stopped. A helper's death leaves
 * the link be: the relay, if any, delivers both ways from then on.
 */
static void held_inject(struct __test_metadata *_metadata,
			FIXTURE_DATA(faults) *self, enum fault fault)
{
	switch (fault) {
	case F_LINK_DOWN:
		ASSERT_EQ(0, pm_link_set(&self->h, 1, 0));
		break;
	case F_KILL_SOURCE:
		close(self->sctl);
		self->sctl = -1;
		break;
	case F_KILL_RECEIVER:
		close(self->dctl);
		self->dctl = -1;
		break;
	case F_STALL:
		ASSERT_EQ(0, relay_hold(&self->relay, 1, 1));
		break;
	default:
		ASSERT_TRUE(0) TH_LOG("no such fault at this point");
	}
	if ((fault == F_KILL_SOURCE || fault == F_KILL_RECEIVER) &&
	    self->relay.running)
		ASSERT_EQ(0, relay_hold(&self->relay, 0, 0));
}

/*
 * The link cut (or the connection stalled) at the held source's PREPARED,
 * then an abort (@decide 0) or the decision (1) that the destination
 * cannot learn: it is in doubt, frozen, until partmobctl recover asks the
 * source's listener.
 */
static void in_doubt_recovered(struct __test_metadata *_metadata,
			       FIXTURE_DATA(faults) *self, int decide,
			       enum fault fault)
{
	const char *const listen_a[] = {
		"listen", AUTH, "--address", PM_HOST_A_ADDR, NULL,
	};
	const char *const status_argv[] = { "status", DST, NULL };
	const char *const recover[] = { "recover", DST, AUTH, NULL };
	struct pm_mig_info mi;
	int ret;

	if (!pm_ctl_has("recover"))
		SKIP(return, "partmobctl has no recover command");
	/* The source host's listener answers recover. */
	ASSERT_EQ(0, ctl_in(self, &self->lis, 0, listen_a));
	ASSERT_EQ(0, pm_wait_listening(self->lis.pid, PARTMOB_HS_PORT, 15000));
	held_at_prepared(_metadata, self, fault == F_STALL);

	held_inject(_metadata, self, fault);
	if (decide)
		ret = pm_mig_commit(&self->t, SRC);
	else
		ret = pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ABORT);
	ASSERT_EQ(0, ret) TH_LOG("%s", self->t.extack);
	ret = pm_mig_wait_state(DST, PARTMOB_MIG_S_IN_DOUBT, 60000, &mi);
	ASSERT_EQ(0, ret) TH_LOG("destination: %s %s",
				 pm_mig_state_name(mi.state), mi.error);
	EXPECT_EQ(1, pm_region_frozen(DST));
	unload_refused(_metadata);
	ASSERT_EQ(0, ctl_in(self, &self->aux[0], 1, status_argv));
	EXPECT_EQ(0, exit_of(_metadata, &self->aux[0], "status", 30));
	EXPECT_NE(NULL, strstr(self->aux[0].out, "in-doubt"));

	/*
	 * The link back (a stalled connection stays stalled: recover asks
	 * over a connection of its own); the source's module knows how it
	 * ended.
	 */
	if (fault == F_LINK_DOWN)
		ASSERT_EQ(0, pm_link_set(&self->h, 1, 1));
	ASSERT_EQ(0, ctl_in(self, &self->aux[1], 1, recover));
	EXPECT_EQ(decide ? 0 : 6,
		  exit_of(_metadata, &self->aux[1], "recover", 60));
	EXPECT_EQ(0, pm_ctl_wait_hup(self->dctl, 30000));
	if (decide)
		completed(_metadata, self);
	else
		aborted(_metadata, self);
}

/*
 * Before the first frame: the source's stream waits in the relay, so the
 * destination has received nothing when the fault comes. Before the
 * decision, hence aborted. After a dead helper the relay delivers again,
 * so the destination learns from the stream (the source's abort, or the
 * end of the connection); after link_down, from its own link timeout.
 */
static void no_frame_fault(struct __test_metadata *_metadata,
			   FIXTURE_DATA(faults) *self, enum fault fault)
{
	uint64_t end = pm_now_ms() + 60000;
	struct pm_mig_info mi;
	int ret, queued = 0;

	/*
	 * The source has sent once its bytes wait at the relay. Its own
	 * count may stay 0: it counts a batch of pages once the whole batch
	 * is in its socket, and a batch can be larger than what a connection
	 * whose reader has stopped takes in.
	 */
	held_start(_metadata, self, 1, 1);
	do {
		if (ioctl(self->relay.a, FIONREAD, &queued))
			queued = 0;
		ret = pm_mig_get(&self->t, SRC, &mi);
		if (queued > 0 || (!ret && mi.transferred))
			break;
		pm_sleep_ms(5);
	} while (pm_now_ms() < end);
	ASSERT_TRUE(queued > 0 || (!ret && mi.transferred))
		TH_LOG("the source sent nothing: %d, %s %s", ret,
		       pm_mig_state_name(mi.state), mi.error);
	TH_LOG("the source %s, %d bytes held, %llu bytes counted",
	       pm_mig_state_name(mi.state), queued,
	       (unsigned long long)mi.transferred);
	ASSERT_EQ(0, pm_mig_get(&self->t, DST, &mi));
	EXPECT_EQ(0, mi.transferred);
	TH_LOG("fault with the destination %s, nothing received",
	       pm_mig_state_name(mi.state));
	held_inject(_metadata, self, fault);
	aborted(_metadata, self);
}

/*
 * Inside the commit: the destination has the decision and runs, but its
 * RESUMED waits in the relay, so the source, retired since its decision,
 * has had no word of it. Whatever comes then, the source never runs
 * again: after link_down it never gets the word and completes at its link
 * timeout saying so; a helper dying changes nothing, and the word gets
 * through once the relay delivers again.
 */
static void unconfirmed_fault(struct __test_metadata *_metadata,
			      FIXTURE_DATA(faults) *self, enum fault fault)
{
	struct pm_mig_info mi;
	int ret;

	held_at_prepared(_metadata, self, 1);
	ASSERT_EQ(0, relay_hold(&self->relay, 0, 1));
	ASSERT_EQ(0, pm_mig_commit(&self->t, SRC)) TH_LOG("%s",
							  self->t.extack);
	/* The destination runs as soon as it has the decision. */
	ret = pm_mig_wait_state(DST, PARTMOB_MIG_S_COMPLETED, 60000, &mi);
	ASSERT_EQ(0, ret) TH_LOG("destination: %s %s",
				 pm_mig_state_name(mi.state), mi.error);
	EXPECT_EQ(0, pm_region_frozen(DST));
	ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &mi));
	EXPECT_EQ(PARTMOB_MIG_S_COMMITTED, mi.state)
		TH_LOG("source: %s", pm_mig_state_name(mi.state));
	EXPECT_EQ(1, pm_region_frozen(SRC));
	EXPECT_FALSE(pm_advances(self->prog, 500));
	held_inject(_metadata, self, fault);
	completed(_metadata, self);
	ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &mi));
	TH_LOG("source: %s", mi.error);
	if (fault == F_LINK_DOWN || fault == F_STALL) {
		EXPECT_NE(NULL, strstr(mi.error, "did not confirm"));
	} else {
		EXPECT_EQ(0, mi.error[0]);
	}
}

/*
 * The held migration's points. Without the relay, at prepared, the
 * helpers die (their control fds closed): the source's before the
 * decision aborts, after it changes nothing; the destination's once
 * prepared changes nothing (the source commits).
 */
static void held_fault(struct __test_metadata *_metadata,
		       FIXTURE_DATA(faults) *self,
		       const FIXTURE_VARIANT(faults) *variant)
{
	int decide = variant->point == P_COMMIT, ret = 0;

	if (variant->point == P_NO_FRAME) {
		no_frame_fault(_metadata, self, variant->fault);
		return;
	}
	if (variant->point == P_RESUMED) {
		unconfirmed_fault(_metadata, self, variant->fault);
		return;
	}
	if (variant->fault == F_LINK_DOWN || variant->fault == F_STALL) {
		in_doubt_recovered(_metadata, self, decide, variant->fault);
		return;
	}
	held_at_prepared(_metadata, self, 0);
	if (variant->fault == F_UNLOAD) {
		unload_refused(_metadata);
		ret = pm_mig_commit(&self->t, SRC);
	} else if (variant->fault == F_KILL_RECEIVER) {
		held_inject(_metadata, self, F_KILL_RECEIVER);
		ret = pm_mig_commit(&self->t, SRC);
	} else {
		if (decide)
			ret = pm_mig_commit(&self->t, SRC);
		held_inject(_metadata, self, F_KILL_SOURCE);
	}
	ASSERT_EQ(0, ret) TH_LOG("%s", self->t.extack);
	if (variant->completes)
		completed(_metadata, self);
	else
		aborted(_metadata, self);
}

TEST_F_TIMEOUT(faults, g3, 90)
{
	const char *const listen_argv[] = {
		"listen", AUTH, "--address", PM_HOST_B_ADDR, "--port",
		"7790", "--once", "--link-timeout", LINK_MS, NULL,
	};
	const char *const start_argv[] = {
		"start", SRC, "--to", PM_HOST_B_ADDR ":7790", AUTH,
		"--dest-name", DST, "--link-timeout", LINK_MS,
		"--max-bandwidth", "512K", "--downtime-limit", "10",
		"--max-rounds", "3", "--on-stall", "switchover", NULL,
	};
	size_t npages = SIZE / self->page;
	struct pm_proc *victim = NULL;
	struct pm_mig_info mi;
	uint64_t end;
	unsigned char *p;
	int ret, killed = 0, status;
	pid_t child;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, pm_region_create(&self->t, SRC, SIZE, 0, -1, -1, -1))
		TH_LOG("%s", self->t.extack);
	p = pm_region_map(SRC, SIZE, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	pm_sweep_fill(p, npages, self->page);
	munmap(p, SIZE);
	self->writer = pm_sweeper_start(SRC, npages, self->page, self->prog,
					200);
	ASSERT_LT(0, self->writer);
	ASSERT_TRUE(pm_advances(self->prog, 10000));
	if (variant->point >= P_NO_FRAME) {
		held_fault(_metadata, self, variant);
		return;
	}

	ASSERT_EQ(0, ctl_in(self, &self->lis, 1, listen_argv));
	ASSERT_EQ(0, pm_wait_listening(self->lis.pid, PORT, 15000));
	ASSERT_EQ(0, ctl_in(self, &self->st, 0, start_argv));

	/*
	 * The fault point, as the module reports it. The receiving child is
	 * found on the way (it exists from the connection on), so that at
	 * the point only the kill remains: a stop-copy lasts about a second,
	 * less than a /proc scan can take on a slow (debug) kernel.
	 */
	child = 0;
	end = pm_now_ms() + 60000;
	do {
		if (variant->fault == F_KILL_RECEIVER && child <= 0)
			child = pm_child_of(self->lis.pid);
		ret = pm_mig_get(&self->t, SRC, &mi);
		if (!ret && at_point(&mi, variant->point) &&
		    (variant->fault != F_KILL_RECEIVER || child > 0))
			break;
		pm_sleep_ms(5);
	} while (pm_now_ms() < end);
	ASSERT_TRUE(!ret && at_point(&mi, variant->point))
		TH_LOG("point not reached: %d, state %s round %u", ret,
		       pm_mig_state_name(mi.state), mi.round);
	TH_LOG("fault at %s, round %u, %llu bytes sent",
	       pm_mig_state_name(mi.state), mi.round,
	       (unsigned long long)mi.transferred);
	/* faults_tls: the stream that the fault meets is kernel TLS. */
	if (PM_FAULTS_TLS) {
		pm_proc_read(&self->lis);
		EXPECT_NE(NULL, strstr(self->lis.err,
				       "authenticated with key 'kst-flt'"))
			TH_LOG("listener:\n%s", self->lis.err);
	}

	switch (variant->fault) {
	case F_KILL_SOURCE:
		ASSERT_EQ(0, kill(self->st.pid, SIGKILL));
		killed = 1;
		break;
	case F_KILL_RECEIVER:
		ASSERT_LT(0, child);
		ASSERT_EQ(0, kill(child, SIGKILL));
		break;
	case F_KILL_LISTENER:
		ASSERT_EQ(0, kill(self->lis.pid, SIGKILL));
		killed = 2;
		break;
	case F_LINK_DOWN:
		ASSERT_EQ(0, pm_link_set(&self->h, 1, 0));
		break;
	case F_STOP_SOURCE:
		victim = &self->st;
		break;
	case F_UNLOAD:
		unload_refused(_metadata);
		break;
	case F_STALL:	/* the held points' only: partmobctl's has no relay */
		ASSERT_TRUE(0) TH_LOG("no stall through partmobctl");
		break;
	}
	if (victim) {
		ASSERT_EQ(0, kill(victim->pid, SIGSTOP));
		/* Past the link timeout: the migration ends without it. */
		src_end(_metadata);
		ASSERT_EQ(0, kill(victim->pid, SIGCONT));
	}

	if (variant->completes)
		completed(_metadata, self);
	else
		aborted(_metadata, self);
	/* The helpers end by themselves and say how it went. */
	EXPECT_EQ(killed == 1 ? 128 + SIGKILL : variant->completes ? 0 : 6,
		  exit_of(_metadata, &self->st, "start", 60));
	status = exit_of(_metadata, &self->lis, "listen --once", 60);
	if (variant->fault == F_KILL_RECEIVER) {
		EXPECT_LT(0, status);	/* it says the migration failed */
	} else {
		EXPECT_EQ(killed == 2 ? 128 + SIGKILL :
			  variant->completes ? 0 : 6, status);
	}
}

TEST_HARNESS_MAIN
