// SPDX-License-Identifier: GPL-2.0
/*
 * Migrations.
 *
 * Two "hosts" share this guest's one kernel and one partmob.ko: two network
 * namespaces A (10.77.0.1) and B (10.77.0.2) joined by a veth pair. The
 * destination region therefore gets another name (--dest-name). partmobctl
 * listen runs in B, partmobctl start in A.
 *
 *  mig.*   through partmobctl: an idle region arrives byte for byte (random
 *          pages, zero pages, holes, swapped-out pages); holes stay holes:
 *          mincore(2) of the destination's mapping, before anything reads
 *          it, shows none of the source's holes resident (its shmem pages
 *          were never allocated); a running multi-threaded workload is
 *          frozen on the source and continues on the destination from
 *          exactly the frozen state (its per-thread counters and logs
 *          agree, nothing lost or repeated); a writer faster than the link
 *          does not converge (--on-stall abort: exit 6, the source runs
 *          on; switchover: exit 0, equal data); abort and SIGKILL of start
 *          mid-migration; refusals (name in use, memory, required paths)
 *          with validate giving the verdicts of start and nothing created;
 *          four migrations at once; hostile hellos and streams to the
 *          listener; partmobctl recover of a destination in doubt. They
 *          run over TLS with a pre-shared key (kernel TLS), but for those
 *          that speak the protocol themselves and a few kept --insecure.
 *  mig.tls_*  authentication and encryption: a wrong or unknown key is
 *          refused on both sides with nothing created and the source
 *          running; a byte flipped on the wire fails the migration and the
 *          source resumes; plain TCP needs --insecure on both sides, and
 *          each side refuses the other kind of peer;
 *          with certificates (made at run time, pki.c) a migration moves
 *          byte for byte, and each certificate that must not pass (another
 *          CA, another name, expired, not in --peer-name) is refused by the
 *          side that checks it, with nothing created; bad certificate
 *          options are refused before connecting.
 *  kmig.*  both kernel ends over a loopback TCP pair, driven by the test
 *          through MIG_START/MIG_CONTROL: rounds, switchover, abort in each
 *          phase from either side, closing the control fd, refusals of
 *          MIG_START and MIG_CONTROL; and the source's stream read by the
 *          test playing the destination.
 *  rx.*    hostile frames written straight into the kernel's receiver
 *          (MIG_START role DEST on one end of a loopback pair): each ends
 *          FAILED with an error text, the destination region is gone and a
 *          sentinel region is untouched; a well-formed stream written the
 *          same way completes (proof that the harness can succeed), and a
 *          link lost after PREPARED leaves the region in doubt until
 *          RESUME or DISCARD.
 *
 * Every check is about behaviour; waits have generous limits only so that
 * a broken product fails instead of hanging.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "mig_lib.h"
#include "pki.h"
#include "kselftest_harness.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#define PFX "kst-mig-"
#define SRC PFX "src"
#define DST PFX "dst"
#define SENTINEL PFX "sentinel"
#define B_ADDR PM_HOST_B_ADDR

/* ---- content generators ------------------------------------------------ */

/* Pages of @a and @b that differ; logs the first few. */
static long count_mismatches(struct __test_metadata *_metadata,
			     const unsigned char *a, const unsigned char *b,
			     size_t npages, long page)
{
	long bad = 0;
	size_t i;

	for (i = 0; i < npages; i++) {
		if (!memcmp(a + i * page, b + i * page, page))
			continue;
		if (bad++ < 5)
			TH_LOG("page %zu differs", i);
	}
	return bad;
}

/* ---- the workload: threads, counters and logs in the region ---------- */

/*
 * Page 0: struct wl_hdr. Page 1 + t: thread t's counter. Then WL_THREADS
 * logs of WL_LOG entries: entry n - 1 of thread t is WL_ENTRY(t, n), written
 * before the counter becomes n. A thread that is frozen between the two
 * stores leaves entry n - 1 written and the counter at n - 1; whoever
 * continues overwrites that entry with the same value.
 */
#define WL_THREADS 4
#define WL_LOG 65536
#define WL_EXTRA 200		/* increments of the resumed instance */
#define WL_MAGIC 0x6b73742d6d696721ULL
#define WL_ENTRY(t, n) (((uint64_t)(t) + 1) << 48 | (n))

struct wl_hdr {
	uint64_t magic;
	uint32_t nthreads, extra;
	uint64_t full;			/* a log ran out of room */
	uint64_t resumed_from[WL_THREADS];
	uint64_t resumed;		/* the resumed instance started */
	uint64_t done;			/* ... and finished */
	char hook_region[48];
	char hook_device[96];
	char hook_mig_id[40];
};

static size_t wl_log_pages(long page)
{
	return (WL_LOG * sizeof(uint64_t) + page - 1) / page;
}

static size_t wl_npages(long page)
{
	return 1 + WL_THREADS + WL_THREADS * wl_log_pages(page) + 16;
}

static volatile uint64_t *wl_counter(unsigned char *base, long page, int t)
{
	return (volatile uint64_t *)(base + (1 + t) * page);
}

static volatile uint64_t *wl_log(unsigned char *base, long page, int t)
{
	return (volatile uint64_t *)(base + (1 + WL_THREADS +
					     t * wl_log_pages(page)) * page);
}

struct wl_thread {
	unsigned char *base;
	long page;
	int t;
	uint32_t count;			/* 0: forever */
	volatile uint64_t *progress;	/* outside the region, or NULL */
};

static void *wl_run(void *arg)
{
	struct wl_thread *w = arg;
	struct wl_hdr *h = (struct wl_hdr *)w->base;
	volatile uint64_t *ctr = wl_counter(w->base, w->page, w->t);
	volatile uint64_t *log = wl_log(w->base, w->page, w->t);
	uint64_t c = *ctr;
	uint32_t i;

	for (i = 0; !w->count || i < w->count; i++) {
		if (c + 1 >= WL_LOG) {
			h->full = 1;
			for (;;)
				pause();
		}
		log[c] = WL_ENTRY(w->t, c + 1);
		__atomic_store_n(ctr, c + 1, __ATOMIC_RELEASE);
		c++;
		if (w->progress)
			__atomic_store_n(&w->progress[w->t], c,
					 __ATOMIC_RELEASE);
		usleep(1000);
	}
	return NULL;
}

/* The source instance: a child running WL_THREADS threads until killed. */
static pid_t wl_start(const char *name, long page,
		      volatile uint64_t *progress)
{
	pid_t pid = fork();

	if (!pid) {
		size_t size = wl_npages(page) * page;
		unsigned char *base = pm_region_map(name, size,
						    PROT_READ | PROT_WRITE);
		struct wl_thread w[WL_THREADS];
		pthread_t th;
		int t;

		if (base == MAP_FAILED)
			_exit(2);
		for (t = 0; t < WL_THREADS; t++) {
			w[t] = (struct wl_thread){ base, page, t, 0, progress };
			if (pthread_create(&th, NULL, wl_run, &w[t]))
				_exit(3);
		}
		for (;;)
			pause();
	}
	return pid;
}

/*
 * The destination instance, started by partmobctl listen --on-resume as
 * "PM_MIG_WORKLOAD=resume <this program>": it records where it resumed
 * from and what the hook told it, runs WL_EXTRA more increments per thread
 * and marks the region done.
 */
static int wl_resume(void)
{
	const char *dev = getenv("PARTMOB_DEVICE");
	const char *reg = getenv("PARTMOB_REGION");
	const char *id = getenv("PARTMOB_MIGRATION_ID");
	long page = sysconf(_SC_PAGESIZE);
	size_t size = wl_npages(page) * page;
	struct wl_thread w[WL_THREADS];
	pthread_t th[WL_THREADS];
	unsigned char *base;
	struct wl_hdr *h;
	int fd, t;

	if (!dev)
		return 3;
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 4;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return 5;
	h = (struct wl_hdr *)base;
	if (h->magic != WL_MAGIC)
		return 6;
	snprintf(h->hook_region, sizeof(h->hook_region), "%s", reg ? reg : "");
	snprintf(h->hook_device, sizeof(h->hook_device), "%s", dev);
	snprintf(h->hook_mig_id, sizeof(h->hook_mig_id), "%s", id ? id : "");
	for (t = 0; t < WL_THREADS; t++)
		h->resumed_from[t] = *wl_counter(base, page, t);
	__atomic_store_n(&h->resumed, 1, __ATOMIC_RELEASE);
	for (t = 0; t < WL_THREADS; t++) {
		w[t] = (struct wl_thread){ base, page, t, h->extra, NULL };
		if (pthread_create(&th[t], NULL, wl_run, &w[t]))
			return 7;
	}
	for (t = 0; t < WL_THREADS; t++)
		pthread_join(th[t], NULL);
	__atomic_store_n(&h->done, 1, __ATOMIC_RELEASE);
	munmap(base, size);
	return 0;
}

static void __attribute__((constructor)) wl_resume_main(void)
{
	if (getenv("PM_MIG_WORKLOAD"))
		_exit(wl_resume());
}

/* ---- prerequisites ------------------------------------------------------ */

/* ===================================================================== */
/* mig: two hosts, partmobctl                                             */
/* ===================================================================== */

#define MAX_WRITERS 4
#define CG "/sys/fs/cgroup/kst-mig"	/* a cgroup for --freeze-cgroup */

FIXTURE(mig) {
	struct tnl t;
	struct pm_hosts h;
	char skip_net[192];	/* no two hosts here */
	char skip[192];		/* no migrations here */
	long page;
	struct pm_proc lis, st, aux[4];
	pid_t writer[MAX_WRITERS];
	volatile uint64_t *prog;	/* shared with the writers */
	int nbefore;
	char overcommit[16];	/* to restore */
	char psk[64];		/* a PSK file for --psk-file */
	int insecure;		/* listener_at() and start(): --insecure */
	/*
	 * listener_at() and start() with certificates: --cert, --key, --ca
	 * and --peer-name of host A [0] and B [1], files of pki_setup().
	 */
	int certs;
	char pki[64];		/* the directory of pki_setup(), or "" */
	char crt[2][96], key[2][96], ca[2][96];
	const char *peer_name[2];
};

FIXTURE_SETUP(mig)
{
	int ret;

	self->h.orig = self->h.ns[0] = self->h.ns[1] = -1;
	self->page = sysconf(_SC_PAGESIZE);
	self->prog = pm_shared_page();
	ASSERT_NE(NULL, self->prog);
	/* The 6.1 harness runs the test after a SKIP in setup: tell it. */
	if (geteuid()) {
		snprintf(self->skip_net, sizeof(self->skip_net), "needs root");
		snprintf(self->skip, sizeof(self->skip), "needs root");
		return;
	}
	ret = pm_hosts_setup(&self->h);
	if (ret) {
		snprintf(self->skip_net, sizeof(self->skip_net), "%s",
			 self->h.err);
		snprintf(self->skip, sizeof(self->skip), "%s", self->h.err);
		return;
	}
	pm_mig_prereq(&self->t, self->skip, sizeof(self->skip), 1);
	if (self->skip[0])
		return;
	snprintf(self->psk, sizeof(self->psk), "/tmp/kst-mig-%d.psk",
		 (int)getpid());
	ASSERT_EQ(0, pm_write_psk(self->psk, "kst", 1));
	pm_cleanup_regions(PFX);
	self->nbefore = pm_region_count();
}

/*
 * The PKI of pki_setup(), each made as STEM.crt and STEM.key: "ca" signs
 * a (host A: DNS hosta and A's address) and b (host B: hostb and B's
 * address) and b's impostors: elsewhere_b (another name and address) and
 * expired_b; "ca2" signs rogue_a and rogue_b (the right names, a CA nobody
 * trusts). Validity in days from now.
 */
static const struct {
	const char *stem, *ca, *cn, *san;
	int from, to;
} pki[] = {
	{ "ca", NULL, "kst-ca", NULL, -1, 2 },
	{ "ca2", NULL, "kst-ca2", NULL, -1, 2 },
	{ "a", "ca", "hosta", "DNS:hosta,IP:" PM_HOST_A_ADDR, -1, 2 },
	{ "b", "ca", "hostb", "DNS:hostb,IP:" B_ADDR, -1, 2 },
	{ "rogue_a", "ca2", "hosta", "DNS:hosta,IP:" PM_HOST_A_ADDR, -1, 2 },
	{ "rogue_b", "ca2", "hostb", "DNS:hostb,IP:" B_ADDR, -1, 2 },
	{ "elsewhere_b", "ca", "hostc", "DNS:hostc,IP:10.77.0.9", -1, 2 },
	{ "expired_b", "ca", "hostb", "DNS:hostb,IP:" B_ADDR, -3, -1 },
};

static void pki_remove(FIXTURE_DATA(mig) *self)
{
	char path[160];
	size_t i;

	if (!self->pki[0])
		return;
	for (i = 0; i < sizeof(pki) / sizeof(pki[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.crt", self->pki,
			 pki[i].stem);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s.key", self->pki,
			 pki[i].stem);
		unlink(path);
	}
	rmdir(self->pki);
	self->pki[0] = '\0';
}

/* Host @i presents certificate @stem and trusts CA @ca (pki_setup()). */
static void use_cert(FIXTURE_DATA(mig) *self, int i, const char *stem,
		     const char *ca)
{
	snprintf(self->crt[i], sizeof(self->crt[i]), "%s/%s.crt", self->pki,
		 stem);
	snprintf(self->key[i], sizeof(self->key[i]), "%s/%s.key", self->pki,
		 stem);
	snprintf(self->ca[i], sizeof(self->ca[i]), "%s/%s.crt", self->pki, ca);
}

/* The --cert, --key, --ca and --peer-name of host @i into @argv. */
static int cert_args(FIXTURE_DATA(mig) *self, int i, const char **argv)
{
	int n = 0;

	argv[n++] = "--cert";
	argv[n++] = self->crt[i];
	argv[n++] = "--key";
	argv[n++] = self->key[i];
	argv[n++] = "--ca";
	argv[n++] = self->ca[i];
	if (self->peer_name[i]) {
		argv[n++] = "--peer-name";
		argv[n++] = self->peer_name[i];
	}
	return n;
}

FIXTURE_TEARDOWN(mig)
{
	int i, status;

	pm_proc_stop(&self->st, SIGKILL);
	for (i = 0; i < 4; i++)
		pm_proc_stop(&self->aux[i], SIGKILL);
	pm_proc_stop(&self->lis, SIGTERM);
	for (i = 0; i < MAX_WRITERS; i++)
		if (self->writer[i] > 0)
			pm_kill_wait(self->writer[i], &status);
	pm_kill_group_members();
	if (!access(CG, F_OK)) {
		pm_write_file(CG "/cgroup.freeze", "0");
		rmdir(CG);
	}
	if (self->overcommit[0])
		pm_write_file("/proc/sys/vm/overcommit_memory",
			      self->overcommit);
	if (self->t.sk)
		pm_cleanup_regions(PFX);
	if (self->psk[0])
		unlink(self->psk);
	pki_remove(self);
	pm_hosts_close(&self->h);
	tnl_close(&self->t);
	munmap((void *)self->prog, 4096);
}

#define MIG_SKIP() do {							\
	if (self->skip[0])						\
		SKIP(return, "%s", self->skip);				\
} while (0)

static const struct pm_spawn_opts *in_ns(FIXTURE_DATA(mig) *self, int i,
					 struct pm_spawn_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->netns = self->h.ns[i];
	return o;
}

/*
 * partmobctl listen in B on @port (0: the default port, no --port), with
 * --once and --on-resume @hook if given; returns once it listens.
 */
static void listener_at(struct __test_metadata *_metadata,
			FIXTURE_DATA(mig) *self, struct pm_proc *p, int host,
			int port, int once, const char *hook,
			const struct pm_spawn_opts *opts)
{
	const char *argv[20];
	struct pm_spawn_opts o;
	char ports[16];
	int n = 0, ret;

	snprintf(ports, sizeof(ports), "%d", port);
	argv[n++] = "listen";
	if (self->insecure) {
		argv[n++] = "--insecure";
	} else if (self->certs) {
		n += cert_args(self, host, argv + n);
	} else {
		argv[n++] = "--psk-file";
		argv[n++] = self->psk;
	}
	argv[n++] = "--address";
	argv[n++] = host ? B_ADDR : PM_HOST_A_ADDR;
	if (port) {
		argv[n++] = "--port";
		argv[n++] = ports;
	}
	if (once)
		argv[n++] = "--once";
	if (hook) {
		argv[n++] = "--on-resume";
		argv[n++] = hook;
	}
	argv[n] = NULL;
	if (!opts)
		opts = in_ns(self, host, &o);
	ASSERT_EQ(0, pm_spawn_ctl(p, opts, argv));
	ret = pm_wait_listening(p->pid, port ? port : PARTMOB_HS_PORT, 15000);
	if (ret) {
		pm_proc_wait(p, 1000);
		pm_proc_read(p);
		TH_LOG("listener did not listen (%d): %s", ret, p->err);
	}
	ASSERT_EQ(0, ret);
}

static void listener(struct __test_metadata *_metadata,
		     FIXTURE_DATA(mig) *self, struct pm_proc *p, int port,
		     int once, const char *hook,
		     const struct pm_spawn_opts *opts)
{
	listener_at(_metadata, self, p, 1, port, once, hook, opts);
}

/* partmobctl start @src --to B:@port --dest-name @dst @extra... in A. */
static void start(struct __test_metadata *_metadata, FIXTURE_DATA(mig) *self,
		  struct pm_proc *p, const char *cmd, const char *src,
		  const char *dst, int port, const char *const *extra)
{
	const char *argv[40];
	struct pm_spawn_opts o;
	char to[64];
	int n = 0;

	if (port)
		snprintf(to, sizeof(to), "%s:%d", B_ADDR, port);
	else
		snprintf(to, sizeof(to), "%s", B_ADDR);
	argv[n++] = cmd;
	argv[n++] = src;
	argv[n++] = "--to";
	argv[n++] = to;
	if (self->insecure) {
		argv[n++] = "--insecure";
	} else if (self->certs) {
		n += cert_args(self, 0, argv + n);
	} else {
		argv[n++] = "--psk-file";
		argv[n++] = self->psk;
	}
	if (dst) {
		argv[n++] = "--dest-name";
		argv[n++] = dst;
	}
	while (extra && *extra && n < 38)
		argv[n++] = *extra++;
	argv[n] = NULL;
	ASSERT_EQ(0, pm_spawn_ctl(p, in_ns(self, 0, &o), argv));
}

/* Wait for @p to exit (at most @s seconds) and log what it said. */
static int finish(struct __test_metadata *_metadata, struct pm_proc *p,
		  const char *what, int s)
{
	int ret = pm_proc_wait(p, s * 1000);

	if (ret) {
		pm_proc_read(p);
		TH_LOG("%s still running after %d s; stderr so far:\n%s", what,
		       s, p->err);
		return -1;
	}
	TH_LOG("%s: exit %d\n--- stdout\n%s--- stderr\n%s", what, p->status,
	       p->out, p->err);
	return p->status;
}

/* Run a partmobctl command in namespace @ns (-1: here) to its end. */
static int ctl_run(struct __test_metadata *_metadata, FIXTURE_DATA(mig) *self,
		   int ns, const char *const *argv, struct pm_proc *p)
{
	struct pm_spawn_opts o = { .netns = ns >= 0 ? self->h.ns[ns] : -1 };
	int ret;

	ret = pm_spawn_ctl(p, &o, argv);
	if (ret)
		return ret;
	ret = finish(_metadata, p, argv[0], 60);
	return ret;
}

static struct pm_mig_info mig_get(struct tnl *t, const char *name, int *ret)
{
	struct pm_mig_info mi;

	*ret = pm_mig_get(t, name, &mi);
	return mi;
}

/* Nothing of a refused migration remains: no destination, source idle. */
static void nothing_created(struct __test_metadata *_metadata,
			    FIXTURE_DATA(mig) *self, const char *src,
			    const char *dst, int regions, int dst_existed)
{
	struct pm_mig_info mi;
	int ret;

	EXPECT_EQ(dst_existed, pm_region_exists(dst));
	if (dst_existed) {
		EXPECT_EQ(0, pm_region_frozen(dst));
		EXPECT_EQ(-ENOENT, pm_mig_get(&self->t, dst, &mi));
	}
	EXPECT_EQ(regions, pm_region_count());
	EXPECT_EQ(0, pm_region_frozen(src));
	/* The source never migrated: it has no migration to show. */
	ret = pm_mig_get(&self->t, src, &mi);
	EXPECT_EQ(-ENOENT, ret) TH_LOG("MIG_GET %s: %d state %s", src, ret,
				       pm_mig_state_name(mi.state));
}

/* ---- the two hosts themselves ------------------------------------------ */

TEST_F(mig, two_hosts_talk)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(7799) };
	socklen_t len = sizeof(sa);
	char buf[8] = "";
	char peer[32];
	int l, c, a;

	if (self->skip_net[0])
		SKIP(return, "%s", self->skip_net);
	inet_pton(AF_INET, B_ADDR, &sa.sin_addr);
	l = pm_ns_socket(self->h.orig, self->h.ns[1], AF_INET, SOCK_STREAM);
	ASSERT_LE(0, l);
	ASSERT_EQ(0, bind(l, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(0, listen(l, 1));
	c = pm_tcp_connect(self->h.orig, self->h.ns[0], B_ADDR, 7799, 10000);
	ASSERT_LE(0, c) TH_LOG("connect A -> B: %s", strerror(-c));
	a = accept(l, (struct sockaddr *)&sa, &len);
	ASSERT_LE(0, a);
	inet_ntop(AF_INET, &sa.sin_addr, peer, sizeof(peer));
	EXPECT_STREQ(PM_HOST_A_ADDR, peer);
	ASSERT_EQ(0, pm_send_all(c, "ping", 4));
	ASSERT_EQ(0, pm_recv_all(a, buf, 4, 10000));
	EXPECT_EQ(0, memcmp(buf, "ping", 4));
	close(a);
	close(c);
	close(l);
	/* B's address is not reachable from the namespace we started in. */
	c = pm_tcp_connect(self->h.orig, -1, B_ADDR, 7799, 0);
	EXPECT_GT(0, c);
	if (c >= 0)
		close(c);
}

/* ---- an idle region ---------------------------------------------------- */

enum { K_RANDOM, K_ZEROED, K_HOLE, K_HEAD, K_SWAPPED, K_KINDS };

/* Page i's kind: random pages, zeroed pages, holes, ... */
static int kind_of(size_t i, size_t npages)
{
	static const int k[8] = { K_RANDOM, K_RANDOM, K_ZEROED, K_HOLE,
				  K_HEAD, K_HOLE, K_SWAPPED, K_RANDOM };

	if (i == 0 || i == npages - 1)
		return K_RANDOM;
	return k[(i * 5 + i / 8) % 8];
}

static int swap_on(void)
{
	char buf[4096];
	int fd = open("/proc/swaps", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strchr(buf, '\n') && strchr(buf, '\n')[1] != '\0';
}

/* Swap on zram, as swap.c sets it up (and leaves it): 1 if on. */
static int swap_setup(void)
{
	if (swap_on())
		return 1;
	if (access("/sys/block/zram0", F_OK) &&
	    system("modprobe zram num_devices=1 >/dev/null 2>&1"))
		return 0;
	if (pm_write_file("/sys/block/zram0/disksize", "256M") ||
	    system("mkswap /dev/zram0 >/dev/null 2>&1") ||
	    system("swapon /dev/zram0 >/dev/null 2>&1"))
		return 0;
	return swap_on();
}

/*
 * The kernel TLS sessions host @i's namespace has seen so far
 * (/proc/net/tls_stat): TlsTxSw + TlsRxSw, or the counter @key alone.
 * -1 if there is no such file (no tls module).
 */
static long tls_stat(FIXTURE_DATA(mig) *self, int i, const char *key)
{
	char buf[2048], *line;
	long sum = -1, v;
	ssize_t n;
	int fd;

	if (setns(self->h.ns[i], CLONE_NEWNET))
		return -1;
	fd = open("/proc/thread-self/net/tls_stat", O_RDONLY | O_CLOEXEC);
	if (setns(self->h.orig, CLONE_NEWNET) || fd < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char name[64];

		if (sscanf(line, "%63s %ld", name, &v) != 2)
			continue;
		if (key ? !strcmp(name, key) :
		    !strcmp(name, "TlsTxSw") || !strcmp(name, "TlsRxSw"))
			sum = (sum < 0 ? 0 : sum) + v;
	}
	return sum;
}

/* An idle region of every kind of page, over TLS or --insecure. */
static void idle_region(struct __test_metadata *_metadata,
			FIXTURE_DATA(mig) *self)
{
	size_t size = 4 << 20, npages = size / self->page, i;
	long kinds[K_KINDS] = { 0 }, res, holes_res = 0, tls[2], tls_after;
	unsigned char *p, *q, *want;
	struct pm_mig_info ms, md;
	struct stat sts, std;
	int ret, swapped = 0;
	unsigned char *vec;

	tls[0] = tls_stat(self, 0, NULL);
	tls[1] = tls_stat(self, 1, NULL);
	ASSERT_EQ(0, pm_region_create(&self->t, SRC, size, 0, NOBODY_UID,
				      NOBODY_UID, 0640)) TH_LOG("%s",
								self->t.extack);
	p = pm_region_map(SRC, size, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < npages; i++) {
		unsigned char *pg = p + i * self->page;
		int k = kind_of(i, npages);

		kinds[k]++;
		switch (k) {
		case K_RANDOM:
		case K_SWAPPED:
			pm_fill_page(pg, self->page, 1, i);
			break;
		case K_ZEROED:	/* touched, all zero */
			memset(pg, 0, self->page);
			break;
		case K_HEAD:	/* a few bytes, the rest zero */
			pm_fill_page(pg, 16, 1, i);
			break;
		}
	}
	if (swap_setup()) {
		for (i = 0; i < npages; i++)
			if (kind_of(i, npages) == K_SWAPPED &&
			    !madvise(p + i * self->page, self->page,
				     MADV_PAGEOUT))
				swapped++;
		res = pm_resident_pages(p, size);
		TH_LOG("%d pages paged out; %ld of %zu resident", swapped,
		       res, npages);
	} else {
		TH_LOG("no swap here: no page is swapped out");
	}
	ASSERT_EQ(0, munmap(p, size));

	/* Defaults: listener and start on PARTMOB_HS_PORT. */
	listener(_metadata, self, &self->lis, 0, 1, NULL, NULL);
	start(_metadata, self, &self->st, "start", SRC, DST, 0, NULL);
	ASSERT_EQ(0, finish(_metadata, &self->st, "start", 150));
	ASSERT_EQ(0, finish(_metadata, &self->lis, "listen --once", 30));
	ms = mig_get(&self->t, SRC, &ret);
	ASSERT_EQ(0, ret);
	/* start's default: several connections. */
	EXPECT_LT(1, ms.streams);
	/*
	 * Through kernel TLS in both directions on both ends, every
	 * connection, or not at all.
	 */
	for (i = 0; i < 2; i++) {
		long want = self->insecure ? tls[i] :
			    (tls[i] < 0 ? 0 : tls[i]) + 2 * (long)ms.streams;

		tls_after = tls_stat(self, i, NULL);
		EXPECT_EQ(want, tls_after)
			TH_LOG("host %zu: kTLS sessions %ld -> %ld", i, tls[i],
			       tls_after);
	}
	/* --insecure warns, TLS does not. */
	EXPECT_EQ(self->insecure,
		  strstr(self->st.err, "warning: --insecure") != NULL);

	ms = mig_get(&self->t, SRC, &ret);
	ASSERT_EQ(0, ret);
	md = mig_get(&self->t, DST, &ret);
	ASSERT_EQ(0, ret);
	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, ms.state);
	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, md.state);
	EXPECT_EQ(PARTMOB_MIG_SOURCE, ms.role);
	EXPECT_EQ(PARTMOB_MIG_DEST, md.role);
	EXPECT_NE(0, ms.id);
	EXPECT_EQ(ms.id, md.id);
	EXPECT_EQ(size, ms.total_bytes);
	EXPECT_EQ(size, md.total_bytes);
	EXPECT_LE(1, ms.round);
	/*
	 * Every page but the holes went once at least, as data or as a zero
	 * header (a fresh destination has the holes already).
	 */
	EXPECT_LE(npages - kinds[K_HOLE], ms.pages_normal + ms.pages_zero);
	EXPECT_LE(kinds[K_RANDOM] + kinds[K_HEAD] + kinds[K_SWAPPED],
		  ms.pages_normal);
	EXPECT_LE(ms.pages_normal * self->page, ms.transferred);
	TH_LOG("source: %u rounds, %llu normal + %llu zero pages, %llu bytes, downtime %llu us",
	       ms.round, (unsigned long long)ms.pages_normal,
	       (unsigned long long)ms.pages_zero,
	       (unsigned long long)ms.transferred,
	       (unsigned long long)ms.downtime_ns / 1000);
	/* The source is retired (frozen for good), the destination runs. */
	EXPECT_EQ(1, pm_region_frozen(SRC));
	EXPECT_EQ(0, pm_region_frozen(DST));
	/* The device node's owner and mode travelled. */
	ASSERT_EQ(0, stat("/dev/partmob/" SRC, &sts));
	ASSERT_EQ(0, stat("/dev/partmob/" DST, &std));
	EXPECT_EQ(sts.st_mode, std.st_mode);
	EXPECT_EQ(sts.st_uid, std.st_uid);
	EXPECT_EQ(sts.st_gid, std.st_gid);

	q = pm_region_map(DST, size, PROT_READ);
	ASSERT_NE(MAP_FAILED, q);
	p = pm_region_map(SRC, size, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	/* Holes stay holes: before anything reads (and so fills) them. */
	vec = malloc(npages);
	ASSERT_NE(NULL, vec);
	ASSERT_EQ(0, mincore(q, size, vec));
	for (i = 0; i < npages; i++)
		if (kind_of(i, npages) == K_HOLE && (vec[i] & 1))
			holes_res++;
	EXPECT_EQ(0, holes_res) TH_LOG("%ld of %ld holes are resident on the destination",
				       holes_res, kinds[K_HOLE]);
	free(vec);

	EXPECT_EQ(0, count_mismatches(_metadata, p, q, npages, self->page));
	/* ... and both are what was written, not merely equal. */
	want = malloc(self->page);
	ASSERT_NE(NULL, want);
	for (i = 0; i < npages; i++) {
		int k = kind_of(i, npages);

		memset(want, 0, self->page);
		if (k == K_RANDOM || k == K_SWAPPED)
			pm_fill_page(want, self->page, 1, i);
		else if (k == K_HEAD)
			pm_fill_page(want, 16, 1, i);
		if (memcmp(q + i * self->page, want, self->page)) {
			TH_LOG("destination page %zu (kind %d) is wrong", i, k);
			EXPECT_TRUE(0);
			break;
		}
	}
	free(want);
	munmap(p, size);
	munmap(q, size);
	EXPECT_EQ(0, pm_region_delete(&self->t, DST)) TH_LOG("%s",
							     self->t.extack);
	EXPECT_EQ(0, pm_region_delete(&self->t, SRC)) TH_LOG("%s",
							     self->t.extack);
}

TEST_F_TIMEOUT(mig, idle_region_identical, 180)
{
	MIG_SKIP();
	idle_region(_metadata, self);
}

TEST_F_TIMEOUT(mig, idle_region_identical_insecure, 180)
{
	MIG_SKIP();
	self->insecure = 1;
	idle_region(_metadata, self);
}

/* ---- a running workload ------------------------------------------------- */

/*
 * A workload's region moves while it writes (over @streams connections)
 * and the workload resumes on the destination from exactly where it was
 * frozen, nothing lost.
 */
static void workload_moves(struct __test_metadata *_metadata,
			   FIXTURE_DATA(mig) *self, const char *streams)
{
	size_t npages = wl_npages(self->page), size = npages * self->page;
	uint64_t s[WL_THREADS], s2[WL_THREADS], p1[WL_THREADS];
	const char *wait_argv[] = { "wait", DST, "--timeout", "60", NULL };
	const char *status_argv[] = { "status", NULL };
	/*
	 * Over kTLS under TCG the link can be slower than the workload
	 * writes (AES-GCM emulated: ~1 MB/s on ppc64le): a few rounds, then
	 * switch over. What is checked holds whatever the rounds were.
	 */
	const char *const bounded[] = { "--max-rounds", "6", "--on-stall",
					"switchover", "--streams", streams,
					NULL };
	char hook[512], exe[256], idbuf[40];
	unsigned char *rw, *sp, *dp;
	struct pm_mig_info ms, md;
	struct pm_region_info ri;
	struct wl_hdr *h, *dh;
	uint64_t i, end;
	int ret, t, st;
	ssize_t n;

	MIG_SKIP();
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ASSERT_LT(0, n);
	exe[n] = '\0';
	snprintf(hook, sizeof(hook), "PM_MIG_WORKLOAD=resume exec %s", exe);

	ASSERT_EQ(0, pm_region_create(&self->t, SRC, size, 0, -1, -1, -1));
	rw = pm_region_map(SRC, size, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, rw);
	h = (struct wl_hdr *)rw;
	h->magic = WL_MAGIC;
	h->nthreads = WL_THREADS;
	h->extra = WL_EXTRA;
	/* Some other data the workload does not touch. */
	for (i = npages - 16; i < npages; i++)
		pm_fill_page(rw + i * self->page, self->page, 3, i);
	munmap(rw, size);

	self->writer[0] = wl_start(SRC, self->page, self->prog);
	ASSERT_LT(0, self->writer[0]);
	ASSERT_TRUE(pm_advances(&self->prog[0], 10000));
	pm_sleep_ms(1000);	/* logs over several pages */
	listener(_metadata, self, &self->lis, 7781, 1, hook, NULL);
	start(_metadata, self, &self->st, "start", SRC, DST, 7781, bounded);
	ASSERT_EQ(0, finish(_metadata, &self->st, "start", 150));

	/* The source workload is blocked: nothing changes any more. */
	sp = pm_region_map(SRC, size, PROT_READ);
	ASSERT_NE(MAP_FAILED, sp);
	for (t = 0; t < WL_THREADS; t++) {
		s[t] = *wl_counter(sp, self->page, t);
		p1[t] = pm_load64(&self->prog[t]);
	}
	pm_sleep_ms(500);
	for (t = 0; t < WL_THREADS; t++) {
		s2[t] = *wl_counter(sp, self->page, t);
		EXPECT_EQ(s[t], s2[t]) TH_LOG("source thread %d wrote after the freeze",
					      t);
		/* It never did a step that did not reach the region. */
		EXPECT_EQ(s[t], pm_load64(&self->prog[t]));
		EXPECT_EQ(p1[t], pm_load64(&self->prog[t]));
		EXPECT_LT(0, s[t]);
	}
	EXPECT_EQ(1, pm_region_frozen(SRC));
	/* Its threads did try: they wait in the region's fault handler. */
	ASSERT_EQ(0, pm_region_get(&self->t, SRC, &ri));
	EXPECT_LE(1, ri.frozen_waits);
	/* The blocked writer is still there (not crashed). */
	EXPECT_EQ(0, waitpid(self->writer[0], &st, WNOHANG));

	/* The listener's hook started the new instance on the destination. */
	ASSERT_EQ(0, finish(_metadata, &self->lis, "listen --once", 60));
	EXPECT_EQ(0, ctl_run(_metadata, self, 1, wait_argv, &self->aux[0]));
	EXPECT_EQ(0, ctl_run(_metadata, self, 0, status_argv, &self->aux[1]));
	EXPECT_NE(NULL, strstr(self->aux[1].out, SRC));
	/* status says how many connections it ran over. */
	snprintf(idbuf, sizeof(idbuf), "connections:       %s\n", streams);
	EXPECT_NE(NULL, strstr(self->aux[1].out, idbuf))
		TH_LOG("%s", self->aux[1].out);
	dp = pm_region_map(DST, size, PROT_READ);
	ASSERT_NE(MAP_FAILED, dp);
	dh = (struct wl_hdr *)dp;
	end = pm_now_ms() + 60000;
	while (!pm_load64(&dh->done) && pm_now_ms() < end)
		pm_sleep_ms(20);
	ASSERT_EQ(1, pm_load64(&dh->done)) TH_LOG("the resumed workload did not finish (started: %llu)",
					       (unsigned long long)dh->resumed);
	EXPECT_EQ(0, dh->full);

	/* It resumed from exactly the frozen state and lost nothing. */
	ms = mig_get(&self->t, SRC, &ret);
	EXPECT_EQ(0, ret);
	md = mig_get(&self->t, DST, &ret);
	EXPECT_EQ(0, ret);
	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, ms.state);
	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, md.state);
	EXPECT_EQ(strtoul(streams, NULL, 10), ms.streams);
	EXPECT_EQ(strtoul(streams, NULL, 10), md.streams);
	TH_LOG("%u connections, %llu pages in %u rounds", md.streams,
	       (unsigned long long)md.pages_normal, md.round);
	for (t = 0; t < WL_THREADS; t++) {
		volatile uint64_t *sl = wl_log(sp, self->page, t);
		volatile uint64_t *dl = wl_log(dp, self->page, t);
		uint64_t dc = *wl_counter(dp, self->page, t);
		long bad = 0;

		EXPECT_EQ(s[t], dh->resumed_from[t]) TH_LOG("thread %d", t);
		EXPECT_EQ(s[t] + WL_EXTRA, dc) TH_LOG("thread %d", t);
		for (i = 0; i < WL_LOG; i++) {
			uint64_t want = i < dc ? WL_ENTRY(t, i + 1) : 0;

			if (dl[i] != want && bad++ < 3)
				TH_LOG("thread %d: destination log[%llu] = %#llx, want %#llx",
				       t, (unsigned long long)i,
				       (unsigned long long)dl[i],
				       (unsigned long long)want);
			/* The source's log, frozen: the same prefix. */
			if (i < s[t] && sl[i] != WL_ENTRY(t, i + 1) &&
			    bad++ < 3)
				TH_LOG("thread %d: source log[%llu] = %#llx",
				       t, (unsigned long long)i,
				       (unsigned long long)sl[i]);
		}
		EXPECT_EQ(0, bad);
	}
	for (i = npages - 16; i < npages; i++) {
		unsigned char want[65536];

		pm_fill_page(want, self->page, 3, i);
		EXPECT_EQ(0, memcmp(dp + i * self->page, want, self->page));
	}
	/* What the hook was told. */
	EXPECT_STREQ(DST, dh->hook_region);
	EXPECT_STREQ("/dev/partmob/" DST, dh->hook_device);
	snprintf(idbuf, sizeof(idbuf), "%llu", (unsigned long long)md.id);
	if (strcmp(idbuf, dh->hook_mig_id)) {
		snprintf(idbuf, sizeof(idbuf), "%016llx",
			 (unsigned long long)md.id);
		EXPECT_EQ(md.id, strtoull(dh->hook_mig_id, NULL, 16))
			TH_LOG("PARTMOB_MIGRATION_ID=%s, migration id %llu",
			       dh->hook_mig_id, (unsigned long long)md.id);
	}
	munmap(dp, size);
	munmap(sp, size);

	/* A frozen writer dies of SIGKILL; then both regions go. */
	ASSERT_EQ(0, pm_kill_wait(self->writer[0], &st));
	self->writer[0] = 0;
	EXPECT_TRUE(WIFSIGNALED(st));
	EXPECT_EQ(0, pm_region_delete(&self->t, SRC)) TH_LOG("%s",
							     self->t.extack);
	end = pm_now_ms() + 10000;
	while ((ret = pm_region_delete(&self->t, DST)) == -EBUSY &&
	       pm_now_ms() < end)
		pm_sleep_ms(50);	/* the resumed instance is exiting */
	EXPECT_EQ(0, ret) TH_LOG("%s", self->t.extack);
}

TEST_F_TIMEOUT(mig, running_workload_moves, 180)
{
	workload_moves(_metadata, self, "1");
}

/*
 * start --streams: the pages of each round spread over three connections,
 * a receiving thread each; a page of a later round never overtakes its
 * earlier copy (the workload's logs would show it).
 */
TEST_F_TIMEOUT(mig, running_workload_moves_streams, 180)
{
	workload_moves(_metadata, self, "3");
}

/* --streams out of its range, or not a number: a usage error, nothing sent. */
TEST_F_TIMEOUT(mig, start_streams_usage, 60)
{
	static const char *const bad[] = { "0", "9", "two", "" };
	const char *argv[] = { "start", SRC, "--to", B_ADDR, "--insecure",
			       "--streams", NULL, NULL };
	size_t i;

	MIG_SKIP();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argv[6] = bad[i];
		EXPECT_EQ(2, ctl_run(_metadata, self, 0, argv, &self->aux[0]))
			TH_LOG("--streams '%s'", bad[i]);
		EXPECT_NE(NULL, strstr(self->aux[0].err, "--streams"));
		pm_proc_stop(&self->aux[0], SIGKILL);
	}
	EXPECT_EQ(0, pm_region_exists(DST));
}

/* ---- convergence ------------------------------------------------------- */

#define SWEEP_SIZE (2 << 20)

static void sweep_region(struct __test_metadata *_metadata,
			 FIXTURE_DATA(mig) *self, const char *name,
			 size_t size, int w, int delay_us)
{
	unsigned char *p;

	ASSERT_EQ(0, pm_region_create(&self->t, name, size, 0, -1, -1, -1));
	p = pm_region_map(name, size, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	pm_sweep_fill(p, size / self->page, self->page);
	munmap(p, size);
	self->writer[w] = pm_sweeper_start(name, size / self->page, self->page,
					&self->prog[w], delay_us);
	ASSERT_LT(0, self->writer[w]);
	ASSERT_TRUE(pm_advances(&self->prog[w], 10000));
}

/* After a failed migration: the source runs on, intact; no destination. */
static void source_resumed(struct __test_metadata *_metadata,
			   FIXTURE_DATA(mig) *self, const char *src,
			   const char *dst, size_t size, int w)
{
	struct pm_mig_info ms;
	unsigned char *p;
	int ret;

	ms = mig_get(&self->t, src, &ret);
	EXPECT_EQ(0, ret);
	EXPECT_EQ(PARTMOB_MIG_S_FAILED, ms.state)
		TH_LOG("state %s", pm_mig_state_name(ms.state));
	EXPECT_NE(0, ms.error[0]);
	TH_LOG("source: %s (errno %u)", ms.error, ms.err_no);
	EXPECT_EQ(0, pm_region_frozen(src));
	EXPECT_TRUE(pm_advances(&self->prog[w], 10000));
	EXPECT_EQ(0, pm_region_exists(dst));
	p = pm_region_map(src, size, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, pm_sweep_damage(p, size / self->page, self->page,
				  &self->prog[w]));
	munmap(p, size);
}

TEST_F_TIMEOUT(mig, fast_writer_does_not_converge, 120)
{
	const char *const extra[] = { "--max-bandwidth", "1M", "--max-rounds",
				      "3", "--on-stall", "abort",
				      "--downtime-limit", "10", NULL };
	struct pm_mig_info ms;
	int ret;

	MIG_SKIP();
	self->insecure = 1;	/* one of the few kept on plain TCP */
	sweep_region(_metadata, self, SRC, SWEEP_SIZE, 0, 0);
	listener(_metadata, self, &self->lis, 7782, 1, NULL, NULL);
	start(_metadata, self, &self->st, "start", SRC, DST, 7782, extra);
	EXPECT_EQ(6, finish(_metadata, &self->st, "start", 100));
	/* It says why: the dirty rate against the throughput. */
	EXPECT_NE(NULL, strstr(self->st.err, "dirty rate"));
	EXPECT_EQ(6, finish(_metadata, &self->lis, "listen --once", 30));
	ms = mig_get(&self->t, SRC, &ret);
	EXPECT_LE(3, ms.round);
	source_resumed(_metadata, self, SRC, DST, SWEEP_SIZE, 0);
}

TEST_F_TIMEOUT(mig, fast_writer_switched_over, 120)
{
	const char *const extra[] = { "--max-bandwidth", "1M", "--max-rounds",
				      "3", "--on-stall", "switchover",
				      "--downtime-limit", "10", "--json", NULL };
	size_t npages = SWEEP_SIZE / self->page;
	unsigned char *p, *q;
	char *line, *last = NULL;
	uint64_t gen;

	MIG_SKIP();
	sweep_region(_metadata, self, SRC, SWEEP_SIZE, 0, 0);
	listener(_metadata, self, &self->lis, 7783, 1, NULL, NULL);
	start(_metadata, self, &self->st, "start", SRC, DST, 7783, extra);
	ASSERT_EQ(0, finish(_metadata, &self->st, "start", 100));
	EXPECT_EQ(0, finish(_metadata, &self->lis, "listen --once", 30));
	/* --json: one object per line, the last one with the result. */
	for (line = strtok(self->st.out, "\n"); line;
	     line = strtok(NULL, "\n")) {
		EXPECT_EQ('{', line[0]) TH_LOG("%s", line);
		last = line;
	}
	ASSERT_NE(NULL, last);
	EXPECT_NE(NULL, strstr(last, "\"result\"")) TH_LOG("%s", last);
	/* and where the source's time went */
	EXPECT_NE(NULL, strstr(last, "\"harvest_ms\": ")) TH_LOG("%s", last);
	EXPECT_NE(NULL, strstr(last, "\"sock_ms\": ")) TH_LOG("%s", last);
	EXPECT_NE(NULL, strstr(last, "\"wait_ms\": ")) TH_LOG("%s", last);
	gen = pm_load64(&self->prog[0]);
	EXPECT_FALSE(pm_advances(&self->prog[0], 500));
	p = pm_region_map(SRC, SWEEP_SIZE, PROT_READ);
	q = pm_region_map(DST, SWEEP_SIZE, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(0, count_mismatches(_metadata, p, q, npages, self->page));
	EXPECT_EQ(gen, pm_load64(&self->prog[0]));
	EXPECT_EQ(0, pm_sweep_damage(q, npages, self->page, &self->prog[0]));
	munmap(p, SWEEP_SIZE);
	munmap(q, SWEEP_SIZE);
}

static int read_file(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return -errno;
	r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -errno;
	buf[r] = '\0';
	return 0;
}

/* "" if a cgroup v2 directory for the writer could be made, else why not. */
static const char *cgroup_setup(void)
{
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK)) {
		mkdir("/sys/fs/cgroup", 0755);
		if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL))
			return "no cgroup v2 here";
	}
	rmdir(CG);
	if (mkdir(CG, 0755))
		return "cannot make a cgroup";
	if (access(CG "/cgroup.freeze", F_OK))
		return "no cgroup freezer here";
	return "";
}

/*
 * --freeze-cgroup: the workload's cgroup is frozen before the switchover
 * and stays frozen after the migration completed.
 */
TEST_F_TIMEOUT(mig, freeze_cgroup, 120)
{
	/* Bounded rounds, as in running_workload_moves. */
	const char *const extra[] = { "--freeze-cgroup", CG, "--max-rounds",
				      "6", "--on-stall", "switchover", NULL };
	size_t npages = SWEEP_SIZE / self->page;
	char buf[256], pid[32];
	const char *why;
	struct pm_region_info ri;
	unsigned char *p, *q;
	int st;

	MIG_SKIP();
	why = cgroup_setup();
	if (why[0])
		SKIP(return, "%s", why);
	sweep_region(_metadata, self, SRC, SWEEP_SIZE, 0, 1000);
	snprintf(pid, sizeof(pid), "%d", self->writer[0]);
	ASSERT_EQ(0, pm_write_file(CG "/cgroup.procs", pid));
	listener(_metadata, self, &self->lis, 7794, 1, NULL, NULL);
	start(_metadata, self, &self->st, "start", SRC, DST, 7794, extra);
	EXPECT_EQ(0, finish(_metadata, &self->st, "start", 100));
	EXPECT_EQ(0, finish(_metadata, &self->lis, "listen --once", 30));
	ASSERT_EQ(0, read_file(CG "/cgroup.events", buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "frozen 1")) TH_LOG("%s", buf);
	EXPECT_FALSE(pm_advances(&self->prog[0], 500));
	/* Frozen by its cgroup first, it never ran into the frozen region. */
	ASSERT_EQ(0, pm_region_get(&self->t, SRC, &ri));
	EXPECT_EQ(0, ri.frozen_waits);
	p = pm_region_map(SRC, SWEEP_SIZE, PROT_READ);
	q = pm_region_map(DST, SWEEP_SIZE, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(0, count_mismatches(_metadata, p, q, npages, self->page));
	munmap(p, SWEEP_SIZE);
	munmap(q, SWEEP_SIZE);
	/* A frozen cgroup's task dies of SIGKILL too; then the cgroup goes. */
	EXPECT_EQ(0, pm_kill_wait(self->writer[0], &st));
	self->writer[0] = 0;
	pm_write_file(CG "/cgroup.freeze", "0");
	EXPECT_EQ(0, rmdir(CG));
}

/* ---- abort ------------------------------------------------------------- */

/* Wait until @name's migration sends its first round, data flowing. */
static void wait_round(struct __test_metadata *_metadata, const char *name)
{
	struct pm_mig_info mi;
	uint64_t end = pm_now_ms() + 30000;
	struct tnl t;

	ASSERT_EQ(0, tnl_open(&t));
	do {
		if (!pm_mig_get(&t, name, &mi) &&
		    mi.state == PARTMOB_MIG_S_ROUND && mi.transferred)
			break;
		pm_sleep_ms(10);
	} while (pm_now_ms() < end);
	tnl_close(&t);
	ASSERT_EQ(PARTMOB_MIG_S_ROUND, mi.state)
		TH_LOG("state %s", pm_mig_state_name(mi.state));
}

TEST_F_TIMEOUT(mig, abort_command, 120)
{
	const char *const extra[] = { "--max-bandwidth", "256K", NULL };
	const char *const abort_argv[] = { "abort", SRC, NULL };

	MIG_SKIP();
	sweep_region(_metadata, self, SRC, SWEEP_SIZE, 0, 200);
	listener(_metadata, self, &self->lis, 7784, 1, NULL, NULL);
	start(_metadata, self, &self->st, "start", SRC, DST, 7784, extra);
	wait_round(_metadata, SRC);
	EXPECT_EQ(1, pm_region_exists(DST));
	EXPECT_EQ(0, ctl_run(_metadata, self, -1, abort_argv, &self->aux[0]));
	EXPECT_EQ(6, finish(_metadata, &self->st, "start", 60));
	EXPECT_EQ(6, finish(_metadata, &self->lis, "listen --once", 60));
	source_resumed(_metadata, self, SRC, DST, SWEEP_SIZE, 0);
	/* Nothing to abort any more. */
	EXPECT_NE(0, ctl_run(_metadata, self, -1, abort_argv, &self->aux[1]));
}

TEST_F_TIMEOUT(mig, start_killed, 120)
{
	const char *const extra[] = { "--max-bandwidth", "256K", NULL };
	uint64_t end;

	MIG_SKIP();
	sweep_region(_metadata, self, SRC, SWEEP_SIZE, 0, 200);
	listener(_metadata, self, &self->lis, 7785, 1, NULL, NULL);
	start(_metadata, self, &self->st, "start", SRC, DST, 7785, extra);
	wait_round(_metadata, SRC);
	ASSERT_EQ(0, kill(self->st.pid, SIGKILL));
	EXPECT_EQ(128 + SIGKILL, finish(_metadata, &self->st, "start", 30));
	EXPECT_EQ(6, finish(_metadata, &self->lis, "listen --once", 60));
	/* The module ends the source side on its own. */
	end = pm_now_ms() + 30000;
	while (pm_region_frozen(SRC) != 0 && pm_now_ms() < end)
		pm_sleep_ms(20);
	source_resumed(_metadata, self, SRC, DST, SWEEP_SIZE, 0);
}

TEST_F_TIMEOUT(mig, start_terminated, 120)
{
	const char *const extra[] = { "--max-bandwidth", "256K", NULL };

	MIG_SKIP();
	sweep_region(_metadata, self, SRC, SWEEP_SIZE, 0, 200);
	listener(_metadata, self, &self->lis, 7795, 1, NULL, NULL);
	start(_metadata, self, &self->st, "start", SRC, DST, 7795, extra);
	wait_round(_metadata, SRC);
	/* SIGTERM before the decision: start aborts and says so. */
	ASSERT_EQ(0, kill(self->st.pid, SIGTERM));
	EXPECT_EQ(6, finish(_metadata, &self->st, "start", 60));
	EXPECT_NE(0, self->st.err[0]);
	EXPECT_EQ(6, finish(_metadata, &self->lis, "listen --once", 60));
	source_resumed(_metadata, self, SRC, DST, SWEEP_SIZE, 0);
}

/* ---- refusals --------------------------------------------------------- */

static void small_region(struct __test_metadata *_metadata,
			 FIXTURE_DATA(mig) *self, const char *name,
			 uint64_t seed)
{
	size_t size = 16 * self->page, i;
	unsigned char *p;

	ASSERT_EQ(0, pm_region_create(&self->t, name, size, 0, -1, -1, -1));
	p = pm_region_map(name, size, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < 16; i++)
		pm_fill_page(p + i * self->page, self->page, seed, i);
	munmap(p, size);
}

static int region_intact(FIXTURE_DATA(mig) *self, const char *name,
			 uint64_t seed)
{
	size_t size = 16 * self->page, i;
	unsigned char *p = pm_region_map(name, size, PROT_READ);
	unsigned char *want = malloc(self->page);
	int ok = p != MAP_FAILED && want;

	for (i = 0; ok && i < 16; i++) {
		pm_fill_page(want, self->page, seed, i);
		ok = !memcmp(p + i * self->page, want, self->page);
	}
	if (p != MAP_FAILED)
		munmap(p, size);
	free(want);
	return ok;
}

/*
 * validate and start with @extra both refused with exit 5 and a message
 * (validate: the destination's), and nothing created.
 */
static void both_refused(struct __test_metadata *_metadata,
			 FIXTURE_DATA(mig) *self, const char *src,
			 const char *dst, int port, const char *const *extra,
			 const char *word)
{
	int regions = pm_region_count(), existed = pm_region_exists(dst);
	struct pm_proc *v = &self->aux[2], *s = &self->aux[3];

	start(_metadata, self, v, "validate", src, dst, port, extra);
	EXPECT_EQ(5, finish(_metadata, v, "validate", 60));
	EXPECT_NE(0, v->err[0]);
	if (word)
		EXPECT_NE(NULL, strcasestr(v->err, word))
			TH_LOG("validate's message lacks \"%s\"", word);
	start(_metadata, self, s, "start", src, dst, port, extra);
	EXPECT_EQ(5, finish(_metadata, s, "start", 60));
	EXPECT_NE(0, s->err[0]);
	if (word)
		EXPECT_NE(NULL, strcasestr(s->err, word))
			TH_LOG("start's message lacks \"%s\"", word);
	nothing_created(_metadata, self, src, dst, regions, existed);
	pm_proc_stop(v, SIGKILL);
	pm_proc_stop(s, SIGKILL);
}

TEST_F_TIMEOUT(mig, refuse_name_in_use, 120)
{
	struct pm_proc *v = &self->aux[0];

	MIG_SKIP();
	small_region(_metadata, self, SRC, 5);
	small_region(_metadata, self, DST, 6);
	listener(_metadata, self, &self->lis, 7786, 0, NULL, NULL);
	both_refused(_metadata, self, SRC, DST, 7786, NULL, NULL);
	EXPECT_TRUE(region_intact(self, DST, 6));
	EXPECT_TRUE(region_intact(self, SRC, 5));
	/* A free name is acceptable; validate creates nothing either. */
	start(_metadata, self, v, "validate", SRC, PFX "free", 7786, NULL);
	EXPECT_EQ(0, finish(_metadata, v, "validate", 60));
	EXPECT_EQ(0, pm_region_exists(PFX "free"));
	EXPECT_EQ(0, pm_region_frozen(SRC));
	/* The listener serves on after all of that. */
	EXPECT_TRUE(pm_proc_alive(&self->lis));
}

TEST_F_TIMEOUT(mig, refuse_without_memory, 120)
{
	uint64_t huge = 64ULL << 30;
	struct pm_proc *v = &self->aux[0];
	char buf[16] = "";
	int fd, ret;

	MIG_SKIP();
	/*
	 * A 64 GiB source region that reserves its size: created while the
	 * kernel overcommits always, so the source can have it; the
	 * destination has no 64 GiB available.
	 */
	fd = open("/proc/sys/vm/overcommit_memory", O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_LT(0, read(fd, buf, sizeof(buf) - 1));
	close(fd);
	buf[strcspn(buf, "\n")] = '\0';
	snprintf(self->overcommit, sizeof(self->overcommit), "%s", buf);
	ASSERT_EQ(0, pm_write_file("/proc/sys/vm/overcommit_memory", "1"));
	ret = pm_region_create(&self->t, SRC, huge, 0, -1, -1, -1);
	ASSERT_EQ(0, pm_write_file("/proc/sys/vm/overcommit_memory", buf));
	self->overcommit[0] = '\0';
	ASSERT_EQ(0, ret) TH_LOG("%s", self->t.extack);
	ASSERT_EQ(0, pm_region_create(&self->t, PFX "sparse", huge,
				      PARTMOB_REGION_F_OVERCOMMIT, -1, -1,
				      -1)) TH_LOG("%s", self->t.extack);
	listener(_metadata, self, &self->lis, 7787, 0, NULL, NULL);
	both_refused(_metadata, self, SRC, DST, 7787, NULL, NULL);
	/* A sparse region of the same size asks for no memory up front. */
	start(_metadata, self, v, "validate", PFX "sparse", DST, 7787, NULL);
	EXPECT_EQ(0, finish(_metadata, v, "validate", 60));
	EXPECT_EQ(0, pm_region_exists(DST));
	EXPECT_TRUE(pm_proc_alive(&self->lis));
}

#define REQ_DIR "/run/kst-mig-req"
#define REQ_FILE REQ_DIR "/disk"

TEST_F_TIMEOUT(mig, refuse_missing_path, 120)
{
	const char *const req[] = { "--require-path", REQ_FILE, NULL };
	struct pm_spawn_opts o;
	struct pm_proc *v = &self->aux[0];
	int fd;

	MIG_SKIP();
	small_region(_metadata, self, SRC, 7);
	mkdir(REQ_DIR, 0755);
	fd = open(REQ_FILE, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 1 << 20));
	close(fd);

	/* The destination does not have the file (its own mount namespace). */
	in_ns(self, 1, &o);
	o.hide_dir = REQ_DIR;
	listener(_metadata, self, &self->lis, 7788, 0, NULL, &o);
	both_refused(_metadata, self, SRC, DST, 7788, req, NULL);
	pm_proc_stop(&self->lis, SIGTERM);

	/* It has one of another size. */
	o.hide_file = "disk";
	o.hide_file_size = 512 << 10;
	listener(_metadata, self, &self->lis, 7789, 0, NULL, &o);
	both_refused(_metadata, self, SRC, DST, 7789, req, NULL);
	pm_proc_stop(&self->lis, SIGTERM);

	/* The same size: acceptable. */
	o.hide_file_size = 1 << 20;
	listener(_metadata, self, &self->lis, 7790, 0, NULL, &o);
	start(_metadata, self, v, "validate", SRC, DST, 7790, req);
	EXPECT_EQ(0, finish(_metadata, v, "validate", 60));
	EXPECT_EQ(0, pm_region_exists(DST));
	unlink(REQ_FILE);
	rmdir(REQ_DIR);
}

/* ---- four at once -------------------------------------------------------- */

TEST_F_TIMEOUT(mig, four_at_once, 200)
{
	const char *const extra[] = { "--max-rounds", "5", "--on-stall",
				      "switchover", NULL };
	size_t size = 1 << 20, npages = size / self->page;
	char src[4][40], dst[4][40];
	int i;

	MIG_SKIP();
	for (i = 0; i < 4; i++) {
		snprintf(src[i], sizeof(src[i]), PFX "src%d", i);
		snprintf(dst[i], sizeof(dst[i]), PFX "dst%d", i);
		sweep_region(_metadata, self, src[i], size, i, 500);
	}
	/* One listener, not --once: a child per connection. */
	listener(_metadata, self, &self->lis, 7791, 0, NULL, NULL);
	for (i = 0; i < 4; i++)
		start(_metadata, self, &self->aux[i], "start", src[i], dst[i],
		      7791, extra);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, finish(_metadata, &self->aux[i], src[i], 180));
	for (i = 0; i < 4; i++) {
		struct pm_mig_info md;
		unsigned char *p, *q;
		int ret;

		md = mig_get(&self->t, dst[i], &ret);
		EXPECT_EQ(0, ret);
		EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, md.state);
		p = pm_region_map(src[i], size, PROT_READ);
		q = pm_region_map(dst[i], size, PROT_READ);
		ASSERT_NE(MAP_FAILED, p);
		ASSERT_NE(MAP_FAILED, q);
		EXPECT_EQ(0, count_mismatches(_metadata, p, q, npages,
					      self->page)) TH_LOG("%s", dst[i]);
		EXPECT_EQ(0, pm_sweep_damage(q, npages, self->page,
					  &self->prog[i]));
		munmap(p, size);
		munmap(q, size);
	}
	EXPECT_TRUE(pm_proc_alive(&self->lis));
}

/* ---- hostile peers of the listener ------------------------------------- */

/*
 * Send @len bytes of @buf to the listener from A, half-close if @shut, and
 * read its answer: 1 with @rep filled, 0 if it closed without one.
 */
static int hs_exchange(FIXTURE_DATA(mig) *self, int port, const void *buf,
		       size_t len, int shut, struct partmob_hs_reply *rep)
{
	int fd, ret;

	fd = pm_tcp_connect(self->h.orig, self->h.ns[0], B_ADDR, port, 10000);
	if (fd < 0)
		return fd;
	pm_send_all(fd, buf, len);
	if (shut)
		shutdown(fd, SHUT_WR);
	memset(rep, 0, sizeof(*rep));
	ret = pm_recv_all(fd, rep, sizeof(*rep), 30000);
	close(fd);
	if (ret == -ETIMEDOUT)
		return ret;
	return ret ? 0 : 1;
}

struct bad_hello {
	const char *what;
	int status;		/* expected status; -1: any refusal or close */
	void (*mangle)(struct partmob_hs_hello *h, long page);
	size_t len;		/* 0: the whole hello */
	int paths;		/* path records to append */
};

static void m_magic(struct partmob_hs_hello *h, long pg)
{
	h->magic = htobe32(0x12345678);
}

static void m_version(struct partmob_hs_hello *h, long pg)
{
	h->version = htobe16(99);
}

static void m_wire(struct partmob_hs_hello *h, long pg)
{
	h->wire_version = htobe32(PARTMOB_WIRE_VERSION + 1);
}

static void m_op(struct partmob_hs_hello *h, long pg)
{
	h->op = htobe16(9);
}

static void m_arch(struct partmob_hs_hello *h, long pg)
{
	snprintf(h->arch, sizeof(h->arch), "%s", "sparc64");
}

static void m_page(struct partmob_hs_hello *h, long pg)
{
	h->page_size = htobe32(pg * 2);
}

static void m_features(struct partmob_hs_hello *h, long pg)
{
	h->features = htobe64(PARTMOB_F_INFO | PARTMOB_F_REGIONS);
}

static void m_size_odd(struct partmob_hs_hello *h, long pg)
{
	h->region_size = htobe64(pg + 1);
}

static void m_size_zero(struct partmob_hs_hello *h, long pg)
{
	h->region_size = 0;
}

static void m_size_max(struct partmob_hs_hello *h, long pg)
{
	h->region_size = htobe64(PARTMOB_REGION_SIZE_MAX + pg);
}

static void m_memory(struct partmob_hs_hello *h, long pg)
{
	h->region_size = htobe64(PARTMOB_REGION_SIZE_MAX);
}

static void m_npaths(struct partmob_hs_hello *h, long pg)
{
	h->npaths = htobe32(PARTMOB_HS_PATHS_MAX + 1);
}

static void m_npaths_huge(struct partmob_hs_hello *h, long pg)
{
	h->npaths = htobe32(0xffffffffu);
}

static void m_region_unterminated(struct partmob_hs_hello *h, long pg)
{
	memset(h->region, 'a', sizeof(h->region));
}

static void m_arch_unterminated(struct partmob_hs_hello *h, long pg)
{
	memset(h->arch, 'x', sizeof(h->arch));
}

static void m_boot_unterminated(struct partmob_hs_hello *h, long pg)
{
	memset(h->boot_id, 'b', sizeof(h->boot_id));
}

static void m_region_bad_name(struct partmob_hs_hello *h, long pg)
{
	snprintf(h->region, sizeof(h->region), "%s", "../" PFX "x");
}

static void m_region_empty(struct partmob_hs_hello *h, long pg)
{
	memset(h->region, 0, sizeof(h->region));
}

static void m_path_unterminated(struct partmob_hs_hello *h, long pg)
{
	h->npaths = htobe32(1);
}

static void m_none(struct partmob_hs_hello *h, long pg)
{
}

static const struct bad_hello bad_hellos[] = {
	{ .what = "wrong magic", .status = -1, .mangle = m_magic },
	{ .what = "truncated", .status = -1, .mangle = m_none, .len = 50 },
	{ .what = "truncated to one byte short", .status = -1,
	  .mangle = m_none, .len = sizeof(struct partmob_hs_hello) - 1 },
	{ .what = "npaths above the limit", .status = PARTMOB_HS_E_BAD_REQUEST,
	  .mangle = m_npaths },
	{ .what = "npaths 2^32-1", .status = PARTMOB_HS_E_BAD_REQUEST,
	  .mangle = m_npaths_huge },
	{ .what = "unknown op", .status = PARTMOB_HS_E_BAD_REQUEST,
	  .mangle = m_op },
	{ .what = "protocol version", .status = PARTMOB_HS_E_VERSION,
	  .mangle = m_version },
	{ .what = "wire version", .status = PARTMOB_HS_E_VERSION,
	  .mangle = m_wire },
	{ .what = "arch", .status = PARTMOB_HS_E_ARCH, .mangle = m_arch },
	{ .what = "page size", .status = PARTMOB_HS_E_PAGE_SIZE,
	  .mangle = m_page },
	{ .what = "features", .status = PARTMOB_HS_E_FEATURES,
	  .mangle = m_features },
	{ .what = "size not a page multiple", .status = PARTMOB_HS_E_SIZE,
	  .mangle = m_size_odd },
	{ .what = "size zero", .status = PARTMOB_HS_E_SIZE,
	  .mangle = m_size_zero },
	{ .what = "size above the maximum", .status = PARTMOB_HS_E_SIZE,
	  .mangle = m_size_max },
	{ .what = "size beyond memory", .status = PARTMOB_HS_E_MEMORY,
	  .mangle = m_memory },
	{ .what = "region name unterminated", .status = PARTMOB_HS_E_BAD_REQUEST,
	  .mangle = m_region_unterminated },
	{ .what = "arch unterminated", .status = PARTMOB_HS_E_BAD_REQUEST,
	  .mangle = m_arch_unterminated },
	{ .what = "boot id unterminated", .status = PARTMOB_HS_E_BAD_REQUEST,
	  .mangle = m_boot_unterminated },
	{ .what = "region name with a slash", .status = -1,
	  .mangle = m_region_bad_name },
	{ .what = "region name empty", .status = -1, .mangle = m_region_empty },
	{ .what = "path unterminated", .status = PARTMOB_HS_E_BAD_REQUEST,
	  .mangle = m_path_unterminated, .len = 0, .paths = 1 },
};

TEST_F_TIMEOUT(mig, listener_refuses_bad_hellos, 240)
{
	const size_t hl = sizeof(struct partmob_hs_hello);
	struct partmob_hs_reply rep;
	struct partmob_hs_hello h;
	unsigned char buf[8192];
	int regions, stalled, ret;
	size_t i, len;
	uint64_t s = 42;

	MIG_SKIP();
	self->insecure = 1;	/* it speaks the protocol itself */
	listener(_metadata, self, &self->lis, 7792, 0, NULL, NULL);
	regions = pm_region_count();

	/* Sanity: a well-formed VALIDATE hello is answered OK. */
	ASSERT_EQ(0, pm_hello_fill(&self->t, &h, PARTMOB_HS_OP_VALIDATE,
				   DST, 16 * self->page, 0));
	ASSERT_EQ(1, hs_exchange(self, 7792, &h, hl, 0, &rep));
	EXPECT_EQ(PARTMOB_HS_MAGIC, be32toh(rep.magic));
	EXPECT_EQ(PARTMOB_HS_OK, be16toh(rep.status)) TH_LOG("%.200s",
							     rep.message);

	/* A peer that stalls half-way does not hold up the others. */
	stalled = pm_tcp_connect(self->h.orig, self->h.ns[0], B_ADDR, 7792,
				 10000);
	ASSERT_LE(0, stalled);
	ASSERT_EQ(0, pm_send_all(stalled, &h, 20));

	/* Garbage. */
	for (i = 0; i < sizeof(buf); i += 8) {
		uint64_t x = pm_xorshift(&s);

		memcpy(buf + i, &x, 8);
	}
	ret = hs_exchange(self, 7792, buf, sizeof(buf), 1, &rep);
	EXPECT_LE(0, ret);
	if (ret == 1)
		EXPECT_NE(PARTMOB_HS_OK, be16toh(rep.status));

	for (i = 0; i < sizeof(bad_hellos) / sizeof(bad_hellos[0]); i++) {
		const struct bad_hello *b = &bad_hellos[i];
		struct partmob_hs_path path;

		ASSERT_EQ(0, pm_hello_fill(&self->t, &h,
					   PARTMOB_HS_OP_VALIDATE, DST,
					   16 * self->page, 0));
		b->mangle(&h, self->page);
		memcpy(buf, &h, hl);
		len = b->len ? b->len : hl;
		if (b->paths) {
			memset(&path, 'p', sizeof(path));
			path.size = htobe64(4096);
			memcpy(buf + hl, &path, sizeof(path));
			len += sizeof(path);
		}
		ret = hs_exchange(self, 7792, buf, len, 1, &rep);
		TH_LOG("%s: %s status %u \"%.200s\"", b->what,
		       ret == 1 ? "reply" : ret ? "timeout" : "closed",
		       be16toh(rep.status), rep.message);
		EXPECT_LE(0, ret) TH_LOG("%s: no answer", b->what);
		if (ret == 1) {
			EXPECT_EQ(PARTMOB_HS_MAGIC, be32toh(rep.magic));
			EXPECT_NE(PARTMOB_HS_OK, be16toh(rep.status))
				TH_LOG("%s accepted", b->what);
			if (b->status >= 0)
				EXPECT_EQ(b->status, be16toh(rep.status))
					TH_LOG("%s", b->what);
			EXPECT_NE(0, rep.message[0]);
		} else if (b->status >= 0) {
			/* A well-formed hello with a bad field deserves an answer. */
			TH_LOG("%s: closed without a reply", b->what);
			EXPECT_TRUE(0);
		}
		EXPECT_TRUE(pm_proc_alive(&self->lis)) TH_LOG("after %s",
							      b->what);
		EXPECT_EQ(regions, pm_region_count());
	}
	/* The same size with PARTMOB_REGION_F_OVERCOMMIT is acceptable. */
	ASSERT_EQ(0, pm_hello_fill(&self->t, &h, PARTMOB_HS_OP_VALIDATE, DST,
				   PARTMOB_REGION_SIZE_MAX,
				   PARTMOB_REGION_F_OVERCOMMIT));
	ASSERT_EQ(1, hs_exchange(self, 7792, &h, hl, 0, &rep));
	EXPECT_EQ(PARTMOB_HS_OK, be16toh(rep.status)) TH_LOG("%.200s",
							     rep.message);

	/* The stalled peer is dropped (the listener's 10 s hello timeout). */
	ret = pm_recv_all(stalled, buf, 1, 60000);
	EXPECT_NE(-ETIMEDOUT, ret);
	close(stalled);
	EXPECT_TRUE(pm_proc_alive(&self->lis));
	EXPECT_EQ(regions, pm_region_count());
}

/*
 * A MIGRATE hello that is accepted, then a stream that is not: the
 * destination region the listener had created goes again, and the
 * listener serves on.
 */
TEST_F_TIMEOUT(mig, listener_survives_bad_stream, 120)
{
	const size_t hl = sizeof(struct partmob_hs_hello);
	struct partmob_hs_reply rep;
	struct partmob_hs_hello h;
	struct partmob_frame f;
	int fd, i, regions;
	uint64_t end;

	MIG_SKIP();
	self->insecure = 1;	/* it speaks the protocol itself */
	listener(_metadata, self, &self->lis, 7793, 0, NULL, NULL);
	regions = pm_region_count();
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, pm_hello_fill(&self->t, &h,
					   PARTMOB_HS_OP_MIGRATE, DST,
					   16 * self->page, 0));
		fd = pm_tcp_connect(self->h.orig, self->h.ns[0], B_ADDR, 7793,
				    10000);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, pm_send_all(fd, &h, hl));
		ASSERT_EQ(0, pm_recv_all(fd, &rep, sizeof(rep), 30000));
		ASSERT_EQ(PARTMOB_HS_OK, be16toh(rep.status))
			TH_LOG("%.200s", rep.message);
		/* MIG_START came before the reply: the region is there. */
		EXPECT_EQ(1, pm_region_exists(DST));
		EXPECT_EQ(1, pm_region_frozen(DST));
		if (i == 0) {		/* garbage for a frame */
			memset(&f, 0xa5, sizeof(f));
			pm_send_all(fd, &f, sizeof(f));
		} else if (i == 1) {	/* a page beyond the region */
			pm_frame(&f, PARTMOB_FRAME_HELLO, self->page,
				 be64toh(h.mig_id), 16);
			pm_send_all(fd, &f, sizeof(f));
			pm_frame(&f, PARTMOB_FRAME_ZERO, 1, 16, 0);
			pm_send_all(fd, &f, sizeof(f));
		}			/* i == 2: the source goes away */
		shutdown(fd, SHUT_WR);
		pm_drain(fd, 30000);
		close(fd);
		end = pm_now_ms() + 30000;
		while (pm_region_exists(DST) && pm_now_ms() < end)
			pm_sleep_ms(20);
		EXPECT_EQ(0, pm_region_exists(DST)) TH_LOG("case %d", i);
		EXPECT_EQ(regions, pm_region_count());
		EXPECT_TRUE(pm_proc_alive(&self->lis));
	}
	/* It logged each failure with the module's reason. */
	pm_proc_read(&self->lis);
	TH_LOG("listener's log:\n%s", self->lis.err);
	EXPECT_NE(NULL, strstr(self->lis.err, "out of range"));
}

/* ===================================================================== */
/* kmig: both kernel ends, driven by the test                            */
/* ===================================================================== */

FIXTURE(kmig) {
	struct tnl t;
	char skip[192];
	long page;
	int sctl, dctl;		/* control fds */
	int peer;		/* the test's end when it plays a peer */
	pid_t writer;
	volatile uint64_t *prog;
	char boot[PARTMOB_BOOT_ID_MAX + 1];
};

FIXTURE_SETUP(kmig)
{
	self->sctl = self->dctl = self->peer = -1;
	self->page = sysconf(_SC_PAGESIZE);
	self->prog = pm_shared_page();
	ASSERT_NE(NULL, self->prog);
	pm_boot_id(self->boot, sizeof(self->boot));
	pm_mig_prereq(&self->t, self->skip, sizeof(self->skip), 0);
	if (self->skip[0])
		return;
	pm_cleanup_regions(PFX);
}

FIXTURE_TEARDOWN(kmig)
{
	int st;

	if (self->writer > 0)
		pm_kill_wait(self->writer, &st);
	if (self->sctl >= 0)
		close(self->sctl);
	if (self->dctl >= 0)
		close(self->dctl);
	if (self->peer >= 0)
		close(self->peer);
	pm_kill_group_members();
	if (self->t.sk)
		pm_cleanup_regions(PFX);
	tnl_close(&self->t);
	munmap((void *)self->prog, 4096);
}

#define KSIZE (1 << 20)
#define KID 0x1122334455667788ULL

/* A region of random pages with holes. */
static void kregion(struct __test_metadata *_metadata,
		    FIXTURE_DATA(kmig) *self, const char *name, size_t size)
{
	size_t i, n = size / self->page;
	unsigned char *p;

	ASSERT_EQ(0, pm_region_create(&self->t, name, size, 0, -1, -1, -1))
		TH_LOG("%s", self->t.extack);
	p = pm_region_map(name, size, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < n; i++)
		if (i % 4 != 3)
			pm_fill_page(p + i * self->page, self->page, 9, i);
	munmap(p, size);
}

/* Source @src and destination @dst over the connected pair @fds. */
static void kpair_fds(struct __test_metadata *_metadata,
		      FIXTURE_DATA(kmig) *self, size_t size, uint64_t bw,
		      int fds[2])
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1 };

	a.name = DST;
	a.role = PARTMOB_MIG_DEST;
	a.fd = fds[1];
	a.id = KID;
	a.peer = "127.0.0.1";
	a.peer_boot_id = self->boot;
	a.size = size;
	self->dctl = pm_mig_start(&self->t, &a);
	ASSERT_LE(0, self->dctl) TH_LOG("MIG_START dest: %d %s", self->dctl,
					self->t.extack);
	memset(&a, 0, sizeof(a));
	a.flags = a.uid = a.gid = a.mode = -1;
	a.name = SRC;
	a.role = PARTMOB_MIG_SOURCE;
	a.fd = fds[0];
	a.id = KID;
	a.peer = "127.0.0.1";
	a.peer_boot_id = self->boot;
	a.max_bandwidth = bw;
	self->sctl = pm_mig_start(&self->t, &a);
	ASSERT_LE(0, self->sctl) TH_LOG("MIG_START source: %d %s", self->sctl,
					self->t.extack);
	/* The module holds its own references. */
	close(fds[0]);
	close(fds[1]);
}

/* Source @src and destination @dst over a loopback pair. */
static void kpair(struct __test_metadata *_metadata, FIXTURE_DATA(kmig) *self,
		  size_t size, uint64_t bw)
{
	int fds[2], ret;

	ret = pm_tcp_pair(-1, -1, fds);
	ASSERT_EQ(0, ret) TH_LOG("loopback pair: %s", strerror(-ret));
	kpair_fds(_metadata, self, size, bw, fds);
}

static void kwait(struct __test_metadata *_metadata, const char *name,
		  uint32_t state)
{
	struct pm_mig_info mi;
	int ret = pm_mig_wait_state(name, state, 60000, &mi);

	ASSERT_EQ(0, ret) TH_LOG("%s: waiting for %s, got %s (%d) %s", name,
				 pm_mig_state_name(state),
				 pm_mig_state_name(mi.state), ret, mi.error);
}

/* Both control fds hang up within a minute. */
static void kboth_end(struct __test_metadata *_metadata,
		      FIXTURE_DATA(kmig) *self)
{
	if (self->sctl >= 0)
		EXPECT_EQ(0, pm_ctl_wait_hup(self->sctl, 60000));
	if (self->dctl >= 0)
		EXPECT_EQ(0, pm_ctl_wait_hup(self->dctl, 60000));
}

/* A failed migration: source thawed and intact, destination gone. */
static void kfailed(struct __test_metadata *_metadata,
		    FIXTURE_DATA(kmig) *self, size_t size, int intact)
{
	struct pm_mig_info mi;
	int ret;

	kboth_end(_metadata, self);
	ret = pm_mig_get(&self->t, SRC, &mi);
	EXPECT_EQ(0, ret);
	EXPECT_EQ(PARTMOB_MIG_S_FAILED, mi.state)
		TH_LOG("source %s", pm_mig_state_name(mi.state));
	EXPECT_NE(0, mi.error[0]);
	TH_LOG("source: %s (errno %u)", mi.error, mi.err_no);
	EXPECT_EQ(0, pm_region_frozen(SRC));
	EXPECT_EQ(0, pm_region_exists(DST));
	if (self->dctl >= 0 && !pm_mig_get_fd(&self->t, self->dctl, &mi)) {
		EXPECT_EQ(PARTMOB_MIG_S_FAILED, mi.state)
			TH_LOG("destination %s", pm_mig_state_name(mi.state));
		EXPECT_NE(0, mi.error[0]);
		TH_LOG("destination: %s (errno %u)", mi.error, mi.err_no);
	}
	if (intact) {
		unsigned char *p = pm_region_map(SRC, size, PROT_READ);
		unsigned char *want = malloc(self->page);
		size_t i, bad = 0;

		ASSERT_NE(MAP_FAILED, p);
		for (i = 0; i < size / self->page; i++) {
			memset(want, 0, self->page);
			if (i % 4 != 3)
				pm_fill_page(want, self->page, 9, i);
			bad += !!memcmp(p + i * self->page, want, self->page);
		}
		EXPECT_EQ(0, bad);
		free(want);
		munmap(p, size);
	}
}

/* MIG_START of the (retired) source SRC again: its answer. */
static int retired_migrates(FIXTURE_DATA(kmig) *self)
{
	struct pm_mig_args a = { .name = SRC, .role = PARTMOB_MIG_SOURCE,
				 .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1 };
	int fds[2], ret;

	ret = pm_tcp_pair(-1, -1, fds);
	if (ret)
		return ret;
	a.fd = fds[0];
	ret = pm_mig_start(&self->t, &a);
	if (ret >= 0)
		close(ret);
	close(fds[0]);
	close(fds[1]);
	return ret;
}

/* The destination region holds what the source region holds. */
static void kidentical(struct __test_metadata *_metadata,
		       FIXTURE_DATA(kmig) *self)
{
	unsigned char *p = pm_region_map(SRC, KSIZE, PROT_READ);
	unsigned char *q = pm_region_map(DST, KSIZE, PROT_READ);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(0, count_mismatches(_metadata, p, q, KSIZE / self->page,
				      self->page));
	munmap(p, KSIZE);
	munmap(q, KSIZE);
}

TEST_F_TIMEOUT(kmig, rounds_then_switchover, 120)
{
	size_t npages = KSIZE / self->page;
	struct pm_mig_info ms, md;
	unsigned char *p;
	uint64_t n = 0;
	int i, ret;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	kregion(_metadata, self, SRC, KSIZE);
	kpair(_metadata, self, KSIZE, 0);
	/* Created frozen, at once. */
	EXPECT_EQ(1, pm_region_frozen(DST));
	kwait(_metadata, SRC, PARTMOB_MIG_S_WAITING);
	/* Remaining counts what the socket still holds: let it drain. */
	for (i = 0; i < 500; i++) {
		ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &ms));
		if (!ms.remaining)
			break;
		pm_sleep_ms(10);
	}
	EXPECT_EQ(1, ms.round);
	EXPECT_EQ(0, ms.remaining);
	EXPECT_EQ(KSIZE, ms.total_bytes);
	EXPECT_STREQ("127.0.0.1", ms.peer);
	EXPECT_STREQ(self->boot, ms.peer_boot_id);
	EXPECT_EQ(KID, ms.id);
	/* The control fd counts the changes so far. */
	EXPECT_EQ(sizeof(n), read(self->sctl, &n, sizeof(n)));
	EXPECT_LT(0, n);

	/* Dirty five pages while waiting: they are what remains. */
	p = pm_region_map(SRC, KSIZE, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < 5; i++)
		pm_fill_page(p + (i * 37 % npages) * self->page, self->page,
			    10, i);
	munmap(p, KSIZE);
	ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &ms));
	EXPECT_EQ(5 * self->page, ms.remaining);
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ROUND))
		TH_LOG("%s", self->t.extack);
	do {	/* round 2 ends in WAITING again */
		ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &ms));
		pm_sleep_ms(10);
	} while (ms.round < 2 && ms.state != PARTMOB_MIG_S_FAILED);
	kwait(_metadata, SRC, PARTMOB_MIG_S_WAITING);
	ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &ms));
	EXPECT_EQ(2, ms.round);
	EXPECT_EQ(5 * self->page, ms.round_bytes);
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC,
				    PARTMOB_MIG_A_SWITCHOVER))
		TH_LOG("%s", self->t.extack);
	kboth_end(_metadata, self);
	ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &ms));
	ASSERT_EQ(0, pm_mig_get(&self->t, DST, &md));
	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, ms.state) TH_LOG("%s", ms.error);
	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, md.state) TH_LOG("%s", md.error);
	EXPECT_EQ(KID, md.id);
	EXPECT_EQ(PARTMOB_MIG_DEST, md.role);
	EXPECT_EQ(1, pm_region_frozen(SRC));
	EXPECT_EQ(0, pm_region_frozen(DST));
	/* A retired source never runs again here: no thaw, no migration. */
	EXPECT_NE(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW, SRC));
	EXPECT_EQ(1, pm_region_frozen(SRC));
	ret = retired_migrates(self);
	EXPECT_EQ(-EBUSY, ret) TH_LOG("%s", self->t.extack);
	/* Nothing to control once ended. */
	EXPECT_EQ(-EALREADY, pm_mig_control(&self->t, SRC,
					    PARTMOB_MIG_A_ABORT));
	EXPECT_EQ(-EALREADY, pm_mig_control(&self->t, DST,
					    PARTMOB_MIG_A_ABORT));
	kidentical(_metadata, self);
}

/*
 * The region SRC, three loopback pairs @fds, and the destination DST
 * started on the first with three connections (the others not attached).
 */
static void kstreams_dest(struct __test_metadata *_metadata,
			  FIXTURE_DATA(kmig) *self, int fds[3][2])
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1, .id = KID, .streams = 3 };
	int k, ret;

	kregion(_metadata, self, SRC, KSIZE);
	for (k = 0; k < 3; k++) {
		ret = pm_tcp_pair(-1, -1, fds[k]);
		ASSERT_EQ(0, ret) TH_LOG("loopback pair: %s", strerror(-ret));
	}
	a.name = DST;
	a.role = PARTMOB_MIG_DEST;
	a.fd = fds[0][1];
	a.size = KSIZE;
	self->dctl = pm_mig_start(&self->t, &a);
	ASSERT_LE(0, self->dctl) TH_LOG("%s", self->t.extack);
}

/*
 * Three connections: the destination's two more are attached first (it
 * receives on them at once), the source's before it sends. Every refusal
 * of PARTMOB_CMD_MIG_ATTACH on the way.
 */
TEST_F_TIMEOUT(kmig, streams, 120)
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1, .id = KID, .streams = 3 };
	size_t npages = KSIZE / self->page;
	int fds[3][2], pipefd[2], k, ret;
	struct pm_mig_info ms, md;
	unsigned char *p;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	kstreams_dest(_metadata, self, fds);
	ASSERT_EQ(0, pipe(pipefd));
	/* No migration of SRC yet. */
	EXPECT_EQ(-ENOENT, pm_mig_attach(&self->t, SRC, KID, 1, fds[1][0]));
	EXPECT_EQ(-ESRCH, pm_mig_attach(&self->t, DST, KID + 1, 1, fds[1][1]));
	EXPECT_EQ(-ERANGE, pm_mig_attach(&self->t, DST, KID, 3, fds[1][1]));
	/* The first connection is MIG_START's; none past the maximum. */
	EXPECT_EQ(-EINVAL, pm_mig_attach(&self->t, DST, KID, 0, fds[1][1]));
	EXPECT_EQ(-ERANGE, pm_mig_attach(&self->t, DST, KID,
					 PARTMOB_MIG_STREAMS_MAX, fds[1][1]));
	EXPECT_EQ(-EINVAL, pm_mig_attach(&self->t, DST, KID, 1, -1));
	EXPECT_EQ(-ENOTSOCK, pm_mig_attach(&self->t, DST, KID, 1, pipefd[0]));
	EXPECT_EQ(-ENOENT, pm_mig_attach(&self->t, PFX "none", KID, 1,
					 fds[1][1]));
	for (k = 1; k < 3; k++)
		ASSERT_EQ(0, pm_mig_attach(&self->t, DST, KID, k, fds[k][1]))
			TH_LOG("%s", self->t.extack);
	EXPECT_EQ(-EEXIST, pm_mig_attach(&self->t, DST, KID, 2, fds[2][1]));

	memset(&a, 0, sizeof(a));
	a.flags = a.uid = a.gid = a.mode = -1;
	a.name = SRC;
	a.role = PARTMOB_MIG_SOURCE;
	a.fd = fds[0][0];
	a.id = KID;
	a.streams = 3;
	self->sctl = pm_mig_start(&self->t, &a);
	ASSERT_LE(0, self->sctl) TH_LOG("%s", self->t.extack);
	/* It waits for its other connections: nothing is sent yet. */
	pm_sleep_ms(300);
	ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &ms));
	EXPECT_EQ(0, ms.transferred);
	EXPECT_EQ(3, ms.streams);
	for (k = 1; k < 3; k++)
		ASSERT_EQ(0, pm_mig_attach(&self->t, SRC, KID, k, fds[k][0]))
			TH_LOG("%s", self->t.extack);
	for (k = 0; k < 3; k++) {
		close(fds[k][0]);
		close(fds[k][1]);
	}
	close(pipefd[0]);
	close(pipefd[1]);
	kwait(_metadata, SRC, PARTMOB_MIG_S_WAITING);
	/* Pages written now are what the next rounds carry. */
	p = pm_region_map(SRC, KSIZE, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	for (k = 0; k < (int)npages; k += 3)
		pm_fill_page(p + k * self->page, self->page, 11, k);
	munmap(p, KSIZE);
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ROUND));
	do {
		ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &ms));
		pm_sleep_ms(10);
	} while (ms.round < 2 && ms.state != PARTMOB_MIG_S_FAILED);
	kwait(_metadata, SRC, PARTMOB_MIG_S_WAITING);
	p = pm_region_map(SRC, KSIZE, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	for (k = 0; k < (int)npages; k += 2)
		pm_fill_page(p + k * self->page, self->page, 12, k);
	munmap(p, KSIZE);
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC,
				    PARTMOB_MIG_A_SWITCHOVER));
	kboth_end(_metadata, self);
	ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &ms));
	ASSERT_EQ(0, pm_mig_get(&self->t, DST, &md));
	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, ms.state) TH_LOG("%s", ms.error);
	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, md.state) TH_LOG("%s", md.error);
	EXPECT_EQ(3, md.streams);
	EXPECT_EQ(ms.pages_normal, md.pages_normal);
	/* Ended: no more connections. */
	ret = pm_tcp_pair(-1, -1, fds[0]);
	ASSERT_EQ(0, ret);
	EXPECT_EQ(-EALREADY, pm_mig_attach(&self->t, DST, KID, 1, fds[0][1]));
	close(fds[0][0]);
	close(fds[0][1]);
	kidentical(_metadata, self);
}

/*
 * A connection that never comes: the source waits for its own, then
 * fails; a destination whose other connection never comes fails at the
 * end of round 1. Either way the source runs on intact.
 */
TEST_F_TIMEOUT(kmig, stream_missing, 90)
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1, .id = KID, .timeout_ms = 1500 };
	struct pm_mig_info mi;
	int fds[2], side, ret;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	kregion(_metadata, self, SRC, KSIZE);
	for (side = 0; side < 2; side++) {
		ret = pm_tcp_pair(-1, -1, fds);
		ASSERT_EQ(0, ret);
		a.name = DST;
		a.role = PARTMOB_MIG_DEST;
		a.fd = fds[1];
		a.size = KSIZE;
		a.streams = side ? 2 : 0;
		self->dctl = pm_mig_start(&self->t, &a);
		ASSERT_LE(0, self->dctl) TH_LOG("%s", self->t.extack);
		a.name = SRC;
		a.role = PARTMOB_MIG_SOURCE;
		a.fd = fds[0];
		a.size = 0;
		a.flags = -1;
		a.streams = side ? 0 : 2;
		self->sctl = pm_mig_start(&self->t, &a);
		ASSERT_LE(0, self->sctl) TH_LOG("%s", self->t.extack);
		a.flags = -1;
		close(fds[0]);
		close(fds[1]);
		kfailed(_metadata, self, KSIZE, 1);
		ASSERT_EQ(0, pm_mig_get_fd(&self->t, side ? self->dctl :
					   self->sctl, &mi));
		TH_LOG("%s: %s", side ? "destination" : "source", mi.error);
		EXPECT_NE(NULL, strstr(mi.error, side ? "not every connection" :
				       "connections were handed over"));
		close(self->sctl);
		close(self->dctl);
		self->sctl = self->dctl = -1;
	}
}

/*
 * One of three connections breaks in the middle of round 1 (the
 * destination's end shut down): the whole migration fails, the source
 * runs on intact and the destination region is gone.
 */
TEST_F_TIMEOUT(kmig, stream_cut, 90)
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1, .id = KID, .streams = 3 };
	int fds[3][2], k;
	struct pm_mig_info mi;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	kstreams_dest(_metadata, self, fds);
	for (k = 1; k < 3; k++)
		ASSERT_EQ(0, pm_mig_attach(&self->t, DST, KID, k, fds[k][1]));
	a.name = SRC;
	a.role = PARTMOB_MIG_SOURCE;
	a.fd = fds[0][0];
	a.max_bandwidth = KSIZE / 4;	/* round 1 takes about 4 s */
	self->sctl = pm_mig_start(&self->t, &a);
	ASSERT_LE(0, self->sctl) TH_LOG("%s", self->t.extack);
	for (k = 1; k < 3; k++)
		ASSERT_EQ(0, pm_mig_attach(&self->t, SRC, KID, k, fds[k][0]));
	do {
		ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &mi));
		pm_sleep_ms(10);
	} while (mi.transferred < KSIZE / 8 &&
		 mi.state != PARTMOB_MIG_S_FAILED);
	ASSERT_EQ(PARTMOB_MIG_S_ROUND, mi.state)
		TH_LOG("%s %s", pm_mig_state_name(mi.state), mi.error);
	ASSERT_EQ(0, shutdown(fds[2][1], SHUT_RDWR));
	for (k = 0; k < 3; k++) {
		close(fds[k][0]);
		close(fds[k][1]);
	}
	kfailed(_metadata, self, KSIZE, 1);
	/* The destination says which connection failed. */
	ASSERT_EQ(0, pm_mig_get_fd(&self->t, self->dctl, &mi));
	EXPECT_NE(NULL, strstr(mi.error, "connection 3")) TH_LOG("%s",
								 mi.error);
}

TEST_F_TIMEOUT(kmig, abort_while_waiting, 60)
{
	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	kregion(_metadata, self, SRC, KSIZE);
	kpair(_metadata, self, KSIZE, 0);
	kwait(_metadata, SRC, PARTMOB_MIG_S_WAITING);
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ABORT))
		TH_LOG("%s", self->t.extack);
	kfailed(_metadata, self, KSIZE, 1);
}

TEST_F_TIMEOUT(kmig, abort_during_round, 60)
{
	struct pm_mig_info mi;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	kregion(_metadata, self, SRC, KSIZE);
	kpair(_metadata, self, KSIZE, 128 << 10);	/* 8 s for round 1 */
	kwait(_metadata, SRC, PARTMOB_MIG_S_ROUND);
	ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &mi));
	EXPECT_EQ(0, mi.round);
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ABORT))
		TH_LOG("%s", self->t.extack);
	kfailed(_metadata, self, KSIZE, 1);
}

TEST_F_TIMEOUT(kmig, abort_from_destination, 60)
{
	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	kregion(_metadata, self, SRC, KSIZE);
	kpair(_metadata, self, KSIZE, 128 << 10);
	kwait(_metadata, DST, PARTMOB_MIG_S_ROUND);
	ASSERT_EQ(0, pm_mig_control(&self->t, DST, PARTMOB_MIG_A_ABORT))
		TH_LOG("%s", self->t.extack);
	kfailed(_metadata, self, KSIZE, 1);
}

TEST_F_TIMEOUT(kmig, abort_during_stop_copy, 90)
{
	size_t size = 512 << 10, npages = size / self->page;
	unsigned char *p;
	uint64_t end;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	ASSERT_EQ(0, pm_region_create(&self->t, SRC, size, 0, -1, -1, -1));
	p = pm_region_map(SRC, size, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	pm_sweep_fill(p, npages, self->page);
	munmap(p, size);
	self->writer = pm_sweeper_start(SRC, npages, self->page, self->prog, 0);
	ASSERT_LT(0, self->writer);
	ASSERT_TRUE(pm_advances(self->prog, 10000));
	kpair(_metadata, self, size, 128 << 10);	/* 4 s a round */
	kwait(_metadata, SRC, PARTMOB_MIG_S_WAITING);
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC,
				    PARTMOB_MIG_A_SWITCHOVER));
	/* Everything is dirty again: stop-copy has 512 KiB to send. */
	kwait(_metadata, SRC, PARTMOB_MIG_S_STOP_COPY);
	/* The freeze starts as the state is entered: it ends soon after. */
	end = pm_now_ms() + 10000;
	while (pm_region_frozen(SRC) != 1 && pm_now_ms() < end)
		pm_sleep_ms(10);
	EXPECT_EQ(1, pm_region_frozen(SRC));
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ABORT))
		TH_LOG("%s", self->t.extack);
	kfailed(_metadata, self, size, 0);
	/* The writer runs again, its pages intact. */
	EXPECT_TRUE(pm_advances(self->prog, 10000));
	p = pm_region_map(SRC, size, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, pm_sweep_damage(p, npages, self->page, self->prog));
	munmap(p, size);
}

TEST_F_TIMEOUT(kmig, closing_control_fd_aborts, 60)
{
	int ret;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	kregion(_metadata, self, SRC, KSIZE);
	kpair(_metadata, self, KSIZE, 0);
	kwait(_metadata, SRC, PARTMOB_MIG_S_WAITING);
	close(self->sctl);
	/* No fd to poll: the state tells. */
	self->sctl = -1;
	ret = pm_ctl_wait_hup(self->dctl, 60000);
	EXPECT_EQ(0, ret);
	kwait(_metadata, SRC, PARTMOB_MIG_S_FAILED);
	kfailed(_metadata, self, KSIZE, 1);

	/* The same from the destination's side, mid-round. */
	close(self->dctl);
	self->dctl = -1;
	kpair(_metadata, self, KSIZE, 128 << 10);
	kwait(_metadata, DST, PARTMOB_MIG_S_ROUND);
	close(self->dctl);
	self->dctl = -1;
	ret = pm_ctl_wait_hup(self->sctl, 60000);
	EXPECT_EQ(0, ret);
	kfailed(_metadata, self, KSIZE, 1);
}

TEST_F(kmig, refusals)
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1 };
	int fds[2], ret, udp, tcp;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	kregion(_metadata, self, SRC, KSIZE);
	kregion(_metadata, self, PFX "other", KSIZE);
	ASSERT_EQ(0, pm_tcp_pair(-1, -1, fds));

	a.role = PARTMOB_MIG_SOURCE;
	a.fd = fds[0];
	a.name = PFX "nosuch";
	EXPECT_EQ(-ENOENT, pm_mig_start(&self->t, &a));
	EXPECT_NE(0, self->t.extack[0]);
	/* Not a socket, not TCP, not connected. */
	a.name = SRC;
	a.fd = open("/dev/null", O_RDONLY);
	EXPECT_EQ(-ENOTSOCK, pm_mig_start(&self->t, &a));
	close(a.fd);
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	a.fd = udp;
	ret = pm_mig_start(&self->t, &a);
	EXPECT_TRUE(ret == -EPROTONOSUPPORT || ret == -ENOTCONN)
		TH_LOG("UDP: %d %s", ret, self->t.extack);
	close(udp);
	tcp = socket(AF_INET, SOCK_STREAM, 0);
	a.fd = tcp;
	EXPECT_EQ(-ENOTCONN, pm_mig_start(&self->t, &a));
	close(tcp);
	a.fd = 999;
	EXPECT_GT(0, pm_mig_start(&self->t, &a));
	/* A region frozen by its owner does not migrate. */
	ASSERT_EQ(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_FREEZE,
				   PFX "other"));
	a.name = PFX "other";
	a.fd = fds[0];
	EXPECT_EQ(-EBUSY, pm_mig_start(&self->t, &a)) TH_LOG("%s",
							      self->t.extack);
	ASSERT_EQ(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW,
				   PFX "other"));
	/* A destination name in use. */
	a.role = PARTMOB_MIG_DEST;
	a.fd = fds[1];
	a.name = PFX "other";
	a.size = KSIZE;
	EXPECT_EQ(-EEXIST, pm_mig_start(&self->t, &a));
	EXPECT_NE(0, self->t.extack[0]);
	/* A destination with a bad size or without one. */
	a.name = DST;
	a.size = self->page + 1;
	EXPECT_EQ(-EINVAL, pm_mig_start(&self->t, &a));
	a.size = 0;
	EXPECT_GT(0, pm_mig_start(&self->t, &a));
	EXPECT_EQ(0, pm_region_exists(DST));
	/* No role, a bad role. */
	a.size = KSIZE;
	a.role = 7;
	EXPECT_GT(0, pm_mig_start(&self->t, &a));
	EXPECT_EQ(0, pm_region_exists(DST));
	/* Control without a migration, or an action that does not apply. */
	EXPECT_EQ(-ENOENT, pm_mig_control(&self->t, PFX "other",
					  PARTMOB_MIG_A_ABORT));
	EXPECT_EQ(-ENOENT, pm_mig_control(&self->t, PFX "nosuch",
					  PARTMOB_MIG_A_ABORT));
	EXPECT_GT(0, pm_mig_control(&self->t, SRC, 99));
	close(fds[0]);
	close(fds[1]);

	kpair(_metadata, self, KSIZE, 0);
	kwait(_metadata, SRC, PARTMOB_MIG_S_WAITING);
	EXPECT_EQ(-EINVAL, pm_mig_control(&self->t, DST, PARTMOB_MIG_A_ROUND));
	EXPECT_NE(0, self->t.extack[0]);
	EXPECT_EQ(-EINVAL, pm_mig_control(&self->t, DST,
					  PARTMOB_MIG_A_SWITCHOVER));
	EXPECT_EQ(-EINVAL, pm_mig_control(&self->t, SRC,
					  PARTMOB_MIG_A_RESUME));
	EXPECT_EQ(-EINVAL, pm_mig_control(&self->t, SRC,
					  PARTMOB_MIG_A_DISCARD));
	EXPECT_EQ(-EINVAL, pm_mig_control(&self->t, DST,
					  PARTMOB_MIG_A_RESUME));
	/* A region that is migrating cannot migrate again, nor go. */
	ASSERT_EQ(0, pm_tcp_pair(-1, -1, fds));
	a.role = PARTMOB_MIG_SOURCE;
	a.name = SRC;
	a.fd = fds[0];
	a.size = 0;
	EXPECT_EQ(-EBUSY, pm_mig_start(&self->t, &a)) TH_LOG("%s",
							      self->t.extack);
	EXPECT_EQ(-EBUSY, pm_region_delete(&self->t, SRC));
	EXPECT_EQ(-EBUSY, pm_region_delete(&self->t, DST));
	close(fds[0]);
	close(fds[1]);
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ABORT));
	kfailed(_metadata, self, KSIZE, 1);
	EXPECT_EQ(-EALREADY, pm_mig_control(&self->t, SRC,
					    PARTMOB_MIG_A_ABORT));
}

/* ---- the source's stream, read by the test as the destination ------------ */

struct rdst {
	unsigned char *mem;	/* what the destination would have */
	unsigned char *seen;	/* pages received in the current round */
	size_t npages;
	long page;
	uint64_t pages, zero, frames;
	uint32_t last_round;
	int bad;
	char why[160];
};

/* Answer ROUND @round as a destination does once it has its pages. */
static int round_done(int fd, uint64_t round)
{
	struct partmob_frame f;

	pm_frame(&f, PARTMOB_FRAME_ROUND_DONE, 0, 0, round);
	return pm_send_all(fd, &f, sizeof(f));
}

/* A SCATTER frame's list and pages, checked as a destination checks. */
static int rdst_scatter(struct rdst *d, int fd, uint32_t count, uint64_t off)
{
	uint32_t list[PARTMOB_FRAME_PAGES_MAX], i;
	uint64_t pg;
	int ret;

	if (!count || count > PARTMOB_FRAME_PAGES_MAX || off >= d->npages) {
		snprintf(d->why, sizeof(d->why), "SCATTER: %u pages at %llu",
			 count, (unsigned long long)off);
		d->bad++;
		return -ERANGE;
	}
	ret = pm_recv_all(fd, list, count * sizeof(list[0]), 30000);
	if (ret)
		return ret;
	for (i = 0; i < count; i++) {
		pg = off + ntohl(list[i]);
		if (pg >= d->npages || (i && ntohl(list[i]) <= ntohl(list[i - 1]))) {
			snprintf(d->why, sizeof(d->why),
				 "SCATTER at %llu: bad entry %u (%u)",
				 (unsigned long long)off, i, ntohl(list[i]));
			d->bad++;
			return -ERANGE;
		}
		d->seen[pg] = 1;
		ret = pm_recv_all(fd, d->mem + pg * d->page, d->page, 30000);
		if (ret)
			return ret;
	}
	d->pages += count;
	return 0;
}

/* Read frames until one of @stop_type (ROUND or END): 0 or -errno. */
static int rdst_until(struct rdst *d, int fd, uint16_t stop_type,
		      struct partmob_frame *last)
{
	struct partmob_frame f;
	int ret;

	for (;;) {
		uint16_t type;
		uint32_t count;
		uint64_t off;

		ret = pm_recv_all(fd, &f, sizeof(f), 30000);
		if (ret)
			return ret;
		d->frames++;
		type = be16toh(f.type);
		count = be32toh(f.count);
		off = be64toh(f.offset);
		if (type == PARTMOB_FRAME_PAGES || type == PARTMOB_FRAME_ZERO) {
			if (off > d->npages || count > d->npages - off ||
			    (type == PARTMOB_FRAME_PAGES &&
			     count > PARTMOB_FRAME_PAGES_MAX)) {
				snprintf(d->why, sizeof(d->why),
					 "frame %u: %u pages at %llu", type,
					 count, (unsigned long long)off);
				d->bad++;
				return -ERANGE;
			}
			memset(d->seen + off, 1, count);
			if (type == PARTMOB_FRAME_PAGES) {
				ret = pm_recv_all(fd, d->mem + off * d->page,
						  (size_t)count * d->page,
						  30000);
				if (ret)
					return ret;
				d->pages += count;
			} else {
				memset(d->mem + off * d->page, 0,
				       (size_t)count * d->page);
				d->zero += count;
			}
			continue;
		}
		if (type == PARTMOB_FRAME_SCATTER) {
			ret = rdst_scatter(d, fd, count, off);
			if (ret)
				return ret;
			continue;
		}
		if (type == PARTMOB_FRAME_ROUND)
			d->last_round = be64toh(f.arg);
		/* A ROUND passed over is answered; a stop at one is not. */
		if (type == PARTMOB_FRAME_ROUND && stop_type != type) {
			ret = round_done(fd, be64toh(f.arg));
			if (ret)
				return ret;
		}
		if (type == stop_type ||
		    (stop_type == PARTMOB_FRAME_END &&
		     type == PARTMOB_FRAME_ROUND)) {
			*last = f;
			if (type == stop_type)
				return 0;
			continue;
		}
		snprintf(d->why, sizeof(d->why), "unexpected frame type %u",
			 type);
		d->bad++;
		*last = f;
		return -EPROTO;
	}
}

static size_t seen_count(struct rdst *d)
{
	size_t i, n = 0;

	for (i = 0; i < d->npages; i++)
		n += d->seen[i];
	return n;
}

enum { FAKE_COMMIT, FAKE_NO_PREPARED, FAKE_GONE, FAKE_WRONG_ROUND_DONE };

static void fake_destination(struct __test_metadata *_metadata,
			     FIXTURE_DATA(kmig) *self, int how)
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1 };
	size_t npages = KSIZE / self->page, i;
	struct partmob_frame f;
	struct pm_mig_info mi;
	struct rdst d = { 0 };
	unsigned char *p;
	int fds[2];

	kregion(_metadata, self, SRC, KSIZE);
	ASSERT_EQ(0, pm_tcp_pair(-1, -1, fds));
	a.name = SRC;
	a.role = PARTMOB_MIG_SOURCE;
	a.fd = fds[0];
	a.id = KID;
	self->sctl = pm_mig_start(&self->t, &a);
	ASSERT_LE(0, self->sctl) TH_LOG("%s", self->t.extack);
	close(fds[0]);
	self->peer = fds[1];
	d.npages = npages;
	d.page = self->page;
	d.mem = malloc(KSIZE);
	d.seen = calloc(npages, 1);
	ASSERT_NE(NULL, d.mem);
	ASSERT_NE(NULL, d.seen);
	memset(d.mem, 0, KSIZE);	/* a fresh region reads zero */

	ASSERT_EQ(0, pm_recv_all(self->peer, &f, sizeof(f), 30000));
	ASSERT_EQ(PARTMOB_FRAME_HELLO, be16toh(f.type));
	EXPECT_EQ(KID, be64toh(f.offset));
	EXPECT_EQ(self->page, be32toh(f.count));
	EXPECT_EQ(npages, be64toh(f.arg));
	EXPECT_EQ(0, be16toh(f.flags));

	/* Round 1 covers every page that is not a hole. */
	ASSERT_EQ(0, rdst_until(&d, self->peer, PARTMOB_FRAME_ROUND, &f))
		TH_LOG("%s", d.why);
	EXPECT_EQ(1, be64toh(f.arg));
	for (i = 0; i < npages; i++)
		if (i % 4 != 3 && !d.seen[i]) {
			TH_LOG("round 1 left out page %zu", i);
			EXPECT_TRUE(0);
			break;
		}
	/* The round is not done until the destination says it has it. */
	ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &mi));
	EXPECT_EQ(PARTMOB_MIG_S_ROUND, mi.state)
		TH_LOG("%s before ROUND_DONE", pm_mig_state_name(mi.state));
	EXPECT_EQ(0, mi.round);
	if (how == FAKE_WRONG_ROUND_DONE) {
		/* An answer for another round is a protocol error. */
		ASSERT_EQ(0, round_done(self->peer, 7));
		EXPECT_EQ(0, pm_ctl_wait_hup(self->sctl, 30000));
		ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &mi));
		EXPECT_EQ(PARTMOB_MIG_S_FAILED, mi.state)
			TH_LOG("%s", pm_mig_state_name(mi.state));
		EXPECT_NE(NULL, strstr(mi.error, "answered round 1"))
			TH_LOG("%s", mi.error);
		EXPECT_EQ(0, pm_region_frozen(SRC));
		free(d.mem);
		free(d.seen);
		return;
	}
	ASSERT_EQ(0, round_done(self->peer, 1));
	kwait(_metadata, SRC, PARTMOB_MIG_S_WAITING);

	/*
	 * Round 2 carries exactly the four pages changed meanwhile: three
	 * written, one punched out (it must arrive as zeros).
	 */
	p = pm_region_map(SRC, KSIZE, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	p[1 * self->page] ^= 1;
	p[7 * self->page + 5] ^= 1;
	p[(npages - 1) * self->page + 9] ^= 1;
	ASSERT_EQ(0, madvise(p + 5 * self->page, self->page, MADV_REMOVE));
	munmap(p, KSIZE);
	memset(d.seen, 0, npages);
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_ROUND));
	ASSERT_EQ(0, rdst_until(&d, self->peer, PARTMOB_FRAME_ROUND, &f))
		TH_LOG("%s", d.why);
	EXPECT_EQ(2, be64toh(f.arg));
	EXPECT_EQ(4, seen_count(&d));
	EXPECT_TRUE(d.seen[1] && d.seen[5] && d.seen[7] &&
		    d.seen[npages - 1]);
	ASSERT_EQ(0, round_done(self->peer, 2));
	kwait(_metadata, SRC, PARTMOB_MIG_S_WAITING);

	/* Switchover: nothing is dirty; the stream ends. */
	ASSERT_EQ(0, pm_mig_control(&self->t, SRC, PARTMOB_MIG_A_SWITCHOVER));
	ASSERT_EQ(0, rdst_until(&d, self->peer, PARTMOB_FRAME_END, &f))
		TH_LOG("%s", d.why);
	TH_LOG("END: %llu pages sent (%llu data, %llu zero received)",
	       (unsigned long long)be64toh(f.arg),
	       (unsigned long long)d.pages, (unsigned long long)d.zero);
	kwait(_metadata, SRC, PARTMOB_MIG_S_PREPARING);
	EXPECT_EQ(1, pm_region_frozen(SRC));
	p = pm_region_map(SRC, KSIZE, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < npages; i++)
		if (memcmp(p + i * self->page, d.mem + i * self->page,
			   self->page)) {
			TH_LOG("page %zu of the stream differs", i);
			EXPECT_TRUE(0);
			break;
		}
	munmap(p, KSIZE);

	switch (how) {
	case FAKE_COMMIT:
		pm_frame(&f, PARTMOB_FRAME_PREPARED, 0, 0, 0);
		ASSERT_EQ(0, pm_send_all(self->peer, &f, sizeof(f)));
		ASSERT_EQ(0, pm_recv_all(self->peer, &f, sizeof(f), 30000));
		EXPECT_EQ(PARTMOB_FRAME_COMMIT, be16toh(f.type));
		/* Decided: nothing aborts it now. */
		EXPECT_EQ(-EALREADY, pm_mig_control(&self->t, SRC,
						    PARTMOB_MIG_A_ABORT));
		pm_frame(&f, PARTMOB_FRAME_RESUMED, 0, 0, 0);
		ASSERT_EQ(0, pm_send_all(self->peer, &f, sizeof(f)));
		EXPECT_EQ(0, pm_ctl_wait_hup(self->sctl, 30000));
		ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &mi));
		EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, mi.state)
			TH_LOG("%s %s", pm_mig_state_name(mi.state), mi.error);
		EXPECT_EQ(1, pm_region_frozen(SRC));
		break;
	case FAKE_NO_PREPARED:
		ASSERT_EQ(0, pm_mig_control(&self->t, SRC,
					    PARTMOB_MIG_A_ABORT));
		EXPECT_EQ(0, pm_ctl_wait_hup(self->sctl, 30000));
		break;
	case FAKE_GONE:
		close(self->peer);
		self->peer = -1;
		EXPECT_EQ(0, pm_ctl_wait_hup(self->sctl, 30000));
		break;
	}
	if (how != FAKE_COMMIT) {
		ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &mi));
		EXPECT_EQ(PARTMOB_MIG_S_FAILED, mi.state)
			TH_LOG("%s", pm_mig_state_name(mi.state));
		EXPECT_NE(0, mi.error[0]);
		TH_LOG("source: %s", mi.error);
		EXPECT_EQ(0, pm_region_frozen(SRC));
	}
	free(d.mem);
	free(d.seen);
}

TEST_F_TIMEOUT(kmig, source_wrong_round_done, 60)
{
	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	fake_destination(_metadata, self, FAKE_WRONG_ROUND_DONE);
}

TEST_F_TIMEOUT(kmig, source_stream_commits, 60)
{
	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	fake_destination(_metadata, self, FAKE_COMMIT);
}

TEST_F_TIMEOUT(kmig, source_abort_while_preparing, 60)
{
	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	fake_destination(_metadata, self, FAKE_NO_PREPARED);
}

TEST_F_TIMEOUT(kmig, source_peer_gone_before_prepared, 60)
{
	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	fake_destination(_metadata, self, FAKE_GONE);
}

/* ===================================================================== */
/* rx: hostile streams into the kernel's receiver                        */
/* ===================================================================== */

#define RX_PAGES 32
#define RX_ID 0x5555aaaa12345678ULL

struct rx {
	int fd;
	long page;
	uint64_t npages, id;
	unsigned char *pg;	/* RX_PAGES pages of content to send */
};

enum rx_expect { RX_FAILED, RX_COMPLETED, RX_DOUBT_RESUME, RX_DOUBT_DISCARD };

static int frame(struct rx *c, uint16_t type, uint32_t count, uint64_t off,
		 uint64_t arg)
{
	struct partmob_frame f;

	pm_frame(&f, type, count, off, arg);
	return pm_send_all(c->fd, &f, sizeof(f));
}

static void hello(struct rx *c)
{
	frame(c, PARTMOB_FRAME_HELLO, c->page, c->id, c->npages);
}

static void pages(struct rx *c, uint32_t count, uint64_t off)
{
	frame(c, PARTMOB_FRAME_PAGES, count, off, 0);
	pm_send_all(c->fd, c->pg, (size_t)count * c->page);
}

/*
 * A SCATTER frame of @n pages at @off plus @dist[i], @nlist distances
 * sent, then @npay pages of payload (the first page of c->pg each).
 */
static void scatter(struct rx *c, uint64_t off, uint32_t n,
		    const uint32_t *dist, uint32_t nlist, uint32_t npay)
{
	uint32_t i, be;

	frame(c, PARTMOB_FRAME_SCATTER, n, off, 0);
	for (i = 0; i < nlist; i++) {
		be = htonl(dist[i]);
		pm_send_all(c->fd, &be, sizeof(be));
	}
	for (i = 0; i < npay; i++)
		pm_send_all(c->fd, c->pg, c->page);
}

static void f_garbage(struct rx *c)
{
	uint64_t s = 7, buf[512];
	int i;

	for (i = 0; i < 512; i++)
		buf[i] = pm_xorshift(&s);
	pm_send_all(c->fd, buf, sizeof(buf));
}

static void f_short_header(struct rx *c)
{
	struct partmob_frame f;

	pm_frame(&f, PARTMOB_FRAME_HELLO, c->page, c->id, c->npages);
	pm_send_all(c->fd, &f, 10);
}

static void f_pages_first(struct rx *c)
{
	pages(c, 1, 0);
}

static void f_round_first(struct rx *c)
{
	frame(c, PARTMOB_FRAME_ROUND, 0, 0, 1);
}

static void f_end_first(struct rx *c)
{
	frame(c, PARTMOB_FRAME_END, 0, 0, 0);
}

static void f_commit_before_end(struct rx *c)
{
	hello(c);
	pages(c, 4, 0);
	frame(c, PARTMOB_FRAME_ROUND, 0, 0, 1);
	frame(c, PARTMOB_FRAME_COMMIT, 0, 0, 0);
}

static void f_pages_beyond(struct rx *c)
{
	hello(c);
	pages(c, 1, c->npages);
}

static void f_pages_straddle(struct rx *c)
{
	hello(c);
	pages(c, 2, c->npages - 1);
}

static void f_pages_wrap(struct rx *c)
{
	hello(c);
	pages(c, 2, ~0ULL);
}

static void f_pages_too_many(struct rx *c)
{
	unsigned char *big = calloc(PARTMOB_FRAME_PAGES_MAX + 1, c->page);

	hello(c);
	frame(c, PARTMOB_FRAME_PAGES, PARTMOB_FRAME_PAGES_MAX + 1, 0, 0);
	if (big)
		pm_send_all(c->fd, big,
			    (size_t)(PARTMOB_FRAME_PAGES_MAX + 1) * c->page);
	free(big);
}

static void f_pages_huge_count(struct rx *c)
{
	hello(c);
	frame(c, PARTMOB_FRAME_PAGES, 0xffffffffu, 0, 0);
	pm_send_all(c->fd, c->pg, (size_t)RX_PAGES * c->page);
}

static void f_zero_beyond(struct rx *c)
{
	hello(c);
	frame(c, PARTMOB_FRAME_ZERO, 1, c->npages, 0);
}

static void f_zero_huge_count(struct rx *c)
{
	hello(c);
	frame(c, PARTMOB_FRAME_ZERO, 0xffffffffu, 0, 0);
}

static void f_zero_wrap(struct rx *c)
{
	hello(c);
	frame(c, PARTMOB_FRAME_ZERO, 2, ~0ULL, 0);
}

static void f_short_payload(struct rx *c)
{
	hello(c);
	frame(c, PARTMOB_FRAME_PAGES, 4, 0, 0);
	pm_send_all(c->fd, c->pg, c->page + c->page / 2);
}

static void f_scatter_beyond(struct rx *c)
{
	const uint32_t d[] = { 0, 2 };

	hello(c);
	scatter(c, c->npages - 2, 2, d, 2, 2);
}

static void f_scatter_offset_beyond(struct rx *c)
{
	const uint32_t d[] = { 0 };

	hello(c);
	scatter(c, c->npages, 1, d, 1, 1);
}

static void f_scatter_repeated(struct rx *c)
{
	const uint32_t d[] = { 0, 3, 3 };

	hello(c);
	scatter(c, 0, 3, d, 3, 3);
}

static void f_scatter_descending(struct rx *c)
{
	const uint32_t d[] = { 5, 1 };

	hello(c);
	scatter(c, 0, 2, d, 2, 2);
}

static void f_scatter_huge_distance(struct rx *c)
{
	const uint32_t d[] = { 0, 0xffffffffu };

	hello(c);
	scatter(c, 1, 2, d, 2, 2);
}

static void f_scatter_too_many(struct rx *c)
{
	uint32_t d[PARTMOB_FRAME_PAGES_MAX + 1], i;

	for (i = 0; i <= PARTMOB_FRAME_PAGES_MAX; i++)
		d[i] = i % RX_PAGES;
	hello(c);
	scatter(c, 0, PARTMOB_FRAME_PAGES_MAX + 1, d,
		PARTMOB_FRAME_PAGES_MAX + 1, 1);
}

static void f_scatter_short_list(struct rx *c)
{
	const uint32_t d[] = { 0, 1 };

	hello(c);
	scatter(c, 0, 4, d, 2, 0);
}

static void f_scatter_short_payload(struct rx *c)
{
	const uint32_t d[] = { 0, 7, 9 };

	hello(c);
	scatter(c, 0, 3, d, 3, 2);
}

static void f_scatter_end_count(struct rx *c)
{
	const uint32_t d[] = { 0, 9 };

	hello(c);
	scatter(c, 2, 2, d, 2, 2);
	frame(c, PARTMOB_FRAME_END, 0, 0, 1);
}

static void f_flags(struct rx *c)
{
	struct partmob_frame f;

	hello(c);
	pm_frame(&f, PARTMOB_FRAME_ZERO, 1, 0, 0);
	f.flags = htobe16(1);
	pm_send_all(c->fd, &f, sizeof(f));
}

static void f_round_skipped(struct rx *c)
{
	hello(c);
	pages(c, 1, 0);
	frame(c, PARTMOB_FRAME_ROUND, 0, 0, 2);
}

static void f_end_count(struct rx *c)
{
	hello(c);
	pages(c, 2, 0);
	frame(c, PARTMOB_FRAME_ROUND, 0, 0, 1);
	frame(c, PARTMOB_FRAME_END, 0, 0, 3);
}

static void f_unknown_type(struct rx *c)
{
	hello(c);
	frame(c, 42, 0, 0, 0);
}

static void f_type_zero(struct rx *c)
{
	hello(c);
	frame(c, 0, 0, 0, 0);
}

static void f_prepared_from_source(struct rx *c)
{
	hello(c);
	frame(c, PARTMOB_FRAME_PREPARED, 0, 0, 0);
}

static void f_resumed_from_source(struct rx *c)
{
	hello(c);
	frame(c, PARTMOB_FRAME_RESUMED, 0, 0, 0);
}

static void f_hello_twice(struct rx *c)
{
	hello(c);
	hello(c);
}

static void f_hello_page_size(struct rx *c)
{
	frame(c, PARTMOB_FRAME_HELLO, c->page * 2, c->id, c->npages / 2);
}

static void f_hello_npages(struct rx *c)
{
	frame(c, PARTMOB_FRAME_HELLO, c->page, c->id, c->npages + 1);
}

static void f_hello_id(struct rx *c)
{
	frame(c, PARTMOB_FRAME_HELLO, c->page, c->id + 1, c->npages);
}

static void f_abort(struct rx *c)
{
	hello(c);
	pages(c, 2, 0);
	frame(c, PARTMOB_FRAME_ABORT, 0, 0, EIO);
}

static void f_eof_mid_round(struct rx *c)
{
	hello(c);
	pages(c, 2, 0);
}

static void f_silent(struct rx *c)
{
}

static void f_silent_after_hello(struct rx *c)
{
	hello(c);
}

/* A complete stream; the destination prepares and waits for COMMIT. */
static int f_valid_until_prepared(struct rx *c)
{
	uint32_t dist[2] = { 0 };
	struct partmob_frame f;
	uint64_t i;
	int ret;

	hello(c);
	/* Round 1: data in the first half, zeros in the second. */
	for (i = 0; i < c->npages / 2; i += 8)
		pages(c, 8, i);
	frame(c, PARTMOB_FRAME_ZERO, c->npages / 2, c->npages / 2, 0);
	frame(c, PARTMOB_FRAME_ROUND, 0, 0, 1);
	/* Round 2: page 3 again, page npages - 1 now data: one SCATTER. */
	dist[1] = c->npages - 4;
	scatter(c, 3, 2, dist, 2, 2);
	frame(c, PARTMOB_FRAME_ROUND, 0, 0, 2);
	frame(c, PARTMOB_FRAME_END, 0, 0, c->npages / 2 + 2);
	/* Each ROUND is answered, in order, and then END with PREPARED. */
	for (i = 1; i <= 2; i++) {
		ret = pm_recv_all(c->fd, &f, sizeof(f), 30000);
		if (ret)
			return ret;
		if (be16toh(f.type) != PARTMOB_FRAME_ROUND_DONE ||
		    be64toh(f.arg) != i)
			return -EPROTO;
	}
	ret = pm_recv_all(c->fd, &f, sizeof(f), 30000);
	if (ret)
		return ret;
	return be16toh(f.type) == PARTMOB_FRAME_PREPARED ? 0 : -EPROTO;
}

/* What f_valid_until_prepared() leaves in page @i. */
static void rx_expected(struct rx *c, uint64_t i, unsigned char *want)
{
	memset(want, 0, c->page);
	if (i < c->npages / 2)
		memcpy(want, c->pg + (i % 8) * c->page, c->page);
	if (i == 3 || i == c->npages - 1)
		memcpy(want, c->pg, c->page);
}

FIXTURE(rx) {
	struct tnl t;
	char skip[192];
	long page;
	int ctl;
	struct rx c;
	unsigned char *sentinel;	/* mapped read-only */
	unsigned char sentinel_copy[4 * 65536];
	int nbefore;
};

FIXTURE_VARIANT(rx) {
	void (*feed)(struct rx *c);
	int expect;
	uint32_t timeout_ms;	/* PARTMOB_A_MIG_TIMEOUT_MS, 0: default */
	int close_after;	/* close our end after feeding */
};

#define RX_VARIANT(name, fn, close_) \
	FIXTURE_VARIANT_ADD(rx, name) { .feed = fn, .expect = RX_FAILED, \
					.timeout_ms = 2000, \
					.close_after = close_ }

RX_VARIANT(garbage, f_garbage, 0);
RX_VARIANT(garbage_then_close, f_garbage, 1);
RX_VARIANT(truncated_header, f_short_header, 0);
RX_VARIANT(truncated_header_then_close, f_short_header, 1);
RX_VARIANT(pages_before_hello, f_pages_first, 0);
RX_VARIANT(round_before_hello, f_round_first, 0);
RX_VARIANT(end_before_hello, f_end_first, 0);
RX_VARIANT(commit_before_end, f_commit_before_end, 0);
RX_VARIANT(pages_beyond_region, f_pages_beyond, 0);
RX_VARIANT(pages_straddle_end, f_pages_straddle, 0);
RX_VARIANT(pages_offset_wraps, f_pages_wrap, 0);
RX_VARIANT(pages_count_above_max, f_pages_too_many, 0);
RX_VARIANT(pages_count_huge, f_pages_huge_count, 0);
RX_VARIANT(zero_beyond_region, f_zero_beyond, 0);
RX_VARIANT(zero_count_huge, f_zero_huge_count, 0);
RX_VARIANT(zero_offset_wraps, f_zero_wrap, 0);
RX_VARIANT(truncated_payload, f_short_payload, 0);
RX_VARIANT(truncated_payload_then_close, f_short_payload, 1);
RX_VARIANT(scatter_beyond_region, f_scatter_beyond, 0);
RX_VARIANT(scatter_offset_beyond_region, f_scatter_offset_beyond, 0);
RX_VARIANT(scatter_page_repeated, f_scatter_repeated, 0);
RX_VARIANT(scatter_descending, f_scatter_descending, 0);
RX_VARIANT(scatter_distance_huge, f_scatter_huge_distance, 0);
RX_VARIANT(scatter_count_above_max, f_scatter_too_many, 0);
RX_VARIANT(scatter_truncated_list, f_scatter_short_list, 1);
RX_VARIANT(scatter_truncated_payload, f_scatter_short_payload, 1);
RX_VARIANT(scatter_end_count_wrong, f_scatter_end_count, 0);
RX_VARIANT(unknown_type, f_unknown_type, 0);
RX_VARIANT(type_zero, f_type_zero, 0);
RX_VARIANT(flags_nonzero, f_flags, 0);
RX_VARIANT(round_skipped, f_round_skipped, 0);
RX_VARIANT(end_count_wrong, f_end_count, 0);
RX_VARIANT(prepared_from_source, f_prepared_from_source, 0);
RX_VARIANT(resumed_from_source, f_resumed_from_source, 0);
RX_VARIANT(hello_twice, f_hello_twice, 0);
RX_VARIANT(hello_wrong_page_size, f_hello_page_size, 0);
RX_VARIANT(hello_wrong_region_pages, f_hello_npages, 0);
RX_VARIANT(hello_wrong_id, f_hello_id, 0);
RX_VARIANT(abort_frame, f_abort, 0);
RX_VARIANT(eof_mid_round, f_eof_mid_round, 1);
RX_VARIANT(silent, f_silent, 0);
RX_VARIANT(silent_after_hello, f_silent_after_hello, 0);

FIXTURE_VARIANT_ADD(rx, valid_stream) {
	.feed = NULL, .expect = RX_COMPLETED, .timeout_ms = 10000,
};
FIXTURE_VARIANT_ADD(rx, link_lost_when_prepared_resume) {
	.feed = NULL, .expect = RX_DOUBT_RESUME, .timeout_ms = 2000,
};
FIXTURE_VARIANT_ADD(rx, link_lost_when_prepared_discard) {
	.feed = NULL, .expect = RX_DOUBT_DISCARD, .timeout_ms = 2000,
};

FIXTURE_SETUP(rx)
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1 };
	struct timeval tv = { .tv_sec = 5 };
	unsigned char *p;
	int fds[2], ret, i;

	self->ctl = -1;
	self->c.fd = -1;
	self->sentinel = MAP_FAILED;
	self->page = sysconf(_SC_PAGESIZE);
	pm_mig_prereq(&self->t, self->skip, sizeof(self->skip), 0);
	if (self->skip[0])
		return;
	ASSERT_GE(65536, self->page);
	pm_cleanup_regions(PFX);

	/* A region next to it that nothing may touch. */
	ASSERT_EQ(0, pm_region_create(&self->t, SENTINEL, 4 * self->page, 0,
				      -1, -1, -1));
	p = pm_region_map(SENTINEL, 4 * self->page, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < 4; i++)
		pm_fill_page(p + i * self->page, self->page, 11, i);
	memcpy(self->sentinel_copy, p, 4 * self->page);
	munmap(p, 4 * self->page);
	self->sentinel = pm_region_map(SENTINEL, 4 * self->page, PROT_READ);
	ASSERT_NE(MAP_FAILED, self->sentinel);
	self->nbefore = pm_region_count();

	self->c.page = self->page;
	self->c.npages = RX_PAGES;
	self->c.id = RX_ID;
	self->c.pg = malloc(8 * self->page);
	ASSERT_NE(NULL, self->c.pg);
	for (i = 0; i < 8; i++)
		pm_fill_page(self->c.pg + i * self->page, self->page, 12, i);

	ret = pm_tcp_pair(-1, -1, fds);
	ASSERT_EQ(0, ret) TH_LOG("loopback: %s", strerror(-ret));
	a.name = DST;
	a.role = PARTMOB_MIG_DEST;
	a.fd = fds[1];
	a.id = RX_ID;
	a.peer = "127.0.0.1";
	a.size = RX_PAGES * self->page;
	a.timeout_ms = variant->timeout_ms;
	self->ctl = pm_mig_start(&self->t, &a);
	close(fds[1]);
	self->c.fd = fds[0];
	ASSERT_LE(0, self->ctl) TH_LOG("MIG_START: %d %s", self->ctl,
				       self->t.extack);
	/*
	 * A receiver that failed stops reading but keeps its socket until
	 * the control fd closes: a long hostile payload would block.
	 */
	ASSERT_EQ(0, setsockopt(self->c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
				sizeof(tv)));
}

FIXTURE_TEARDOWN(rx)
{
	if (self->c.fd >= 0)
		close(self->c.fd);
	if (self->ctl >= 0)
		close(self->ctl);
	if (self->sentinel != MAP_FAILED)
		munmap(self->sentinel, 4 * self->page);
	free(self->c.pg);
	if (self->t.sk)
		pm_cleanup_regions(PFX);
	tnl_close(&self->t);
}

/* The destination ended FAILED: state, text, region gone, nothing else. */
static void rx_failed(struct __test_metadata *_metadata,
		      FIXTURE_DATA(rx) *self)
{
	struct pm_mig_info mi;
	int ret;

	ASSERT_EQ(0, pm_ctl_wait_hup(self->ctl, 60000));
	/* The region is gone; its control fd still tells why. */
	EXPECT_EQ(-ENOENT, pm_mig_get(&self->t, DST, &mi));
	ret = pm_mig_get_fd(&self->t, self->ctl, &mi);
	EXPECT_EQ(0, ret) TH_LOG("MIG_GET by control fd after the end: %d %s",
				 ret, self->t.extack);
	if (!ret) {
		EXPECT_EQ(PARTMOB_MIG_S_FAILED, mi.state)
			TH_LOG("state %s", pm_mig_state_name(mi.state));
		EXPECT_NE(0, mi.error[0]);
		EXPECT_NE(0, mi.err_no);
		TH_LOG("destination: %s (errno %u)", mi.error, mi.err_no);
	}
	EXPECT_EQ(0, pm_region_exists(DST));
	EXPECT_EQ(self->nbefore, pm_region_count());
	EXPECT_EQ(0, memcmp(self->sentinel, self->sentinel_copy,
			    4 * self->page));
	EXPECT_EQ(0, pm_region_frozen(SENTINEL));
}

static void rx_content(struct __test_metadata *_metadata,
		       FIXTURE_DATA(rx) *self)
{
	size_t size = RX_PAGES * self->page;
	unsigned char *q = pm_region_map(DST, size, PROT_READ);
	unsigned char *want = malloc(self->page);
	uint64_t i;

	ASSERT_NE(MAP_FAILED, q);
	ASSERT_NE(NULL, want);
	for (i = 0; i < RX_PAGES; i++) {
		rx_expected(&self->c, i, want);
		if (memcmp(q + i * self->page, want, self->page)) {
			TH_LOG("page %llu is wrong", (unsigned long long)i);
			EXPECT_TRUE(0);
			break;
		}
	}
	free(want);
	munmap(q, size);
}

TEST_F_TIMEOUT(rx, stream, 90)
{
	struct partmob_frame f;
	struct pm_mig_info mi;
	int ret;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	/* The region exists from the start, frozen. */
	EXPECT_EQ(1, pm_region_exists(DST));
	EXPECT_EQ(1, pm_region_frozen(DST));

	if (variant->expect == RX_FAILED) {
		variant->feed(&self->c);
		if (variant->close_after) {
			close(self->c.fd);
			self->c.fd = -1;
		}
		rx_failed(_metadata, self);
		return;
	}

	ret = f_valid_until_prepared(&self->c);
	ASSERT_EQ(0, ret) TH_LOG("no PREPARED: %d", ret);
	ASSERT_EQ(0, pm_mig_get(&self->t, DST, &mi));
	EXPECT_EQ(PARTMOB_MIG_S_PREPARED, mi.state)
		TH_LOG("%s", pm_mig_state_name(mi.state));
	EXPECT_EQ(1, pm_region_frozen(DST));
	/* Prepared: the destination itself cannot abort any more. */
	EXPECT_NE(0, pm_mig_control(&self->t, DST, PARTMOB_MIG_A_ABORT));
	EXPECT_EQ(1, pm_region_exists(DST));

	if (variant->expect == RX_COMPLETED) {
		ASSERT_EQ(0, frame(&self->c, PARTMOB_FRAME_COMMIT, 0, 0, 0));
		ASSERT_EQ(0, pm_recv_all(self->c.fd, &f, sizeof(f), 30000));
		EXPECT_EQ(PARTMOB_FRAME_RESUMED, be16toh(f.type));
		ASSERT_EQ(0, pm_ctl_wait_hup(self->ctl, 30000));
	} else {
		/* The link dies before the decision. */
		close(self->c.fd);
		self->c.fd = -1;
		kwait(_metadata, DST, PARTMOB_MIG_S_IN_DOUBT);
		EXPECT_EQ(1, pm_region_frozen(DST));
		/* In doubt it stays: until told. */
		pm_sleep_ms(3 * variant->timeout_ms);
		ASSERT_EQ(0, pm_mig_get(&self->t, DST, &mi));
		EXPECT_EQ(PARTMOB_MIG_S_IN_DOUBT, mi.state);
		EXPECT_EQ(1, pm_region_exists(DST));
		EXPECT_EQ(-EINVAL, pm_mig_control(&self->t, DST,
						  PARTMOB_MIG_A_ROUND));
		/* Only RESUME or DISCARD settle it. */
		EXPECT_NE(0, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW,
					   DST));
		EXPECT_EQ(-EBUSY, pm_region_delete(&self->t, DST));
		EXPECT_EQ(1, pm_region_frozen(DST));
		ASSERT_EQ(0, pm_mig_control(&self->t, DST,
					    variant->expect == RX_DOUBT_RESUME ?
					    PARTMOB_MIG_A_RESUME :
					    PARTMOB_MIG_A_DISCARD))
			TH_LOG("%s", self->t.extack);
		if (variant->expect == RX_DOUBT_DISCARD) {
			rx_failed(_metadata, self);
			return;
		}
		ASSERT_EQ(0, pm_ctl_wait_hup(self->ctl, 30000));
	}
	ASSERT_EQ(0, pm_mig_get(&self->t, DST, &mi));
	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, mi.state)
		TH_LOG("%s %s", pm_mig_state_name(mi.state), mi.error);
	EXPECT_EQ(0, pm_region_frozen(DST));
	EXPECT_EQ(RX_ID, mi.id);
	rx_content(_metadata, self);
	EXPECT_EQ(0, memcmp(self->sentinel, self->sentinel_copy,
			    4 * self->page));
	EXPECT_EQ(0, pm_region_delete(&self->t, DST));
}

/* ===================================================================== */
/* mig: partmobctl recover of a destination in doubt                     */
/* ===================================================================== */

/*
 * A destination in doubt, made by the test playing the source: a whole
 * stream, PREPARED read, then the link dropped. Returns the control fd.
 */
static int in_doubt(struct __test_metadata *_metadata,
		    FIXTURE_DATA(mig) *self, const char *peer_boot_id,
		    struct rx *c)
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1 };
	struct pm_mig_info mi;
	int fds[2], ctl, ret;

	ASSERT_EQ(0, pm_tcp_pair(-1, -1, fds));
	a.name = DST;
	a.role = PARTMOB_MIG_DEST;
	a.fd = fds[1];
	a.id = c->id;
	a.peer = PM_HOST_A_ADDR;	/* the source's listener is there */
	a.peer_boot_id = peer_boot_id;
	a.size = c->npages * c->page;
	a.timeout_ms = 2000;
	ctl = pm_mig_start(&self->t, &a);
	close(fds[1]);
	EXPECT_LE(0, ctl) TH_LOG("%s", self->t.extack);
	if (ctl < 0) {
		close(fds[0]);
		return ctl;
	}
	c->fd = fds[0];
	ret = f_valid_until_prepared(c);
	close(fds[0]);
	c->fd = -1;
	EXPECT_EQ(0, ret);
	ret = pm_mig_wait_state(DST, PARTMOB_MIG_S_IN_DOUBT, 60000, &mi);
	EXPECT_EQ(0, ret) TH_LOG("state %s", pm_mig_state_name(mi.state));
	EXPECT_EQ(1, pm_region_frozen(DST));
	return ctl;
}

static void resumed_ok(struct __test_metadata *_metadata,
		       FIXTURE_DATA(mig) *self, int ctl, struct rx *c)
{
	size_t size = c->npages * c->page;
	unsigned char *want = malloc(c->page), *q;
	struct pm_mig_info mi;
	uint64_t i;

	EXPECT_EQ(0, pm_ctl_wait_hup(ctl, 30000));
	ASSERT_EQ(0, pm_mig_get(&self->t, DST, &mi));
	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, mi.state)
		TH_LOG("%s", pm_mig_state_name(mi.state));
	EXPECT_EQ(0, pm_region_frozen(DST));
	q = pm_region_map(DST, size, PROT_READ);
	ASSERT_NE(MAP_FAILED, q);
	for (i = 0; i < c->npages; i++) {
		rx_expected(c, i, want);
		if (memcmp(q + i * c->page, want, c->page)) {
			TH_LOG("page %llu is wrong", (unsigned long long)i);
			EXPECT_TRUE(0);
			break;
		}
	}
	munmap(q, size);
	free(want);
}

TEST_F_TIMEOUT(mig, recover_in_doubt, 180)
{
	const char *const plain[] = { "recover", DST, "--psk-file", self->psk,
				      NULL };
	const char *const discard[] = { "recover", DST, "--discard", NULL };
	const char *const here[] = { "recover", DST, "--resume-here", NULL };
	const char *const both[] = { "recover", DST, "--resume-here",
				     "--discard", NULL };
	struct rx c = { .fd = -1, .npages = RX_PAGES, .id = RX_ID };
	char boot[PARTMOB_BOOT_ID_MAX + 1];
	struct pm_mig_info mi;
	int ctl, i;

	MIG_SKIP();
	if (!pm_ctl_has("recover"))
		SKIP(return, "partmobctl has no recover command");
	c.page = self->page;
	c.pg = malloc(8 * self->page);
	ASSERT_NE(NULL, c.pg);
	for (i = 0; i < 8; i++)
		pm_fill_page(c.pg + i * self->page, self->page, 12, i);
	pm_boot_id(boot, sizeof(boot));
	/* The source host's listener answers the query. */
	listener_at(_metadata, self, &self->lis, 0, 0, 0, NULL, NULL);

	/* The source knows no such migration: stay in doubt. */
	ctl = in_doubt(_metadata, self, boot, &c);
	ASSERT_LE(0, ctl);
	EXPECT_EQ(7, ctl_run(_metadata, self, 1, plain, &self->aux[0]));
	ASSERT_EQ(0, pm_mig_get(&self->t, DST, &mi));
	EXPECT_EQ(PARTMOB_MIG_S_IN_DOUBT, mi.state);
	EXPECT_EQ(1, pm_region_frozen(DST));
	EXPECT_EQ(2, ctl_run(_metadata, self, 1, both, &self->aux[1]));
	/* Discard on the operator's word. */
	EXPECT_EQ(6, ctl_run(_metadata, self, 1, discard, &self->aux[2]));
	EXPECT_EQ(0, pm_ctl_wait_hup(ctl, 30000));
	EXPECT_EQ(0, pm_region_exists(DST));
	ASSERT_EQ(0, pm_mig_get_fd(&self->t, ctl, &mi));
	EXPECT_EQ(PARTMOB_MIG_S_FAILED, mi.state);
	close(ctl);
	for (i = 0; i < 3; i++)
		pm_proc_stop(&self->aux[i], SIGKILL);

	/* Resume on the operator's word. */
	ctl = in_doubt(_metadata, self, boot, &c);
	ASSERT_LE(0, ctl);
	EXPECT_EQ(0, ctl_run(_metadata, self, 1, here, &self->aux[0]));
	resumed_ok(_metadata, self, ctl, &c);
	/* Nothing to recover any more. */
	EXPECT_EQ(0, ctl_run(_metadata, self, 1, plain, &self->aux[1]));
	close(ctl);
	EXPECT_EQ(0, pm_region_delete(&self->t, DST));
	for (i = 0; i < 2; i++)
		pm_proc_stop(&self->aux[i], SIGKILL);

	/* The source host rebooted since (another boot id): resume here. */
	ctl = in_doubt(_metadata, self,
		       "00000000-0000-4000-8000-000000000000", &c);
	ASSERT_LE(0, ctl);
	EXPECT_EQ(0, ctl_run(_metadata, self, 1, plain, &self->aux[0]));
	resumed_ok(_metadata, self, ctl, &c);
	close(ctl);
	EXPECT_TRUE(pm_proc_alive(&self->lis));
	free(c.pg);
}

/* A loopback pair in kTLS, both ways, next records @seq. 0 or -errno. */
static int ktls_pair(int fds[2], uint64_t seq)
{
	int ret;

	ret = pm_tcp_pair(-1, -1, fds);
	if (ret)
		return ret;
	ret = pm_ktls_keys(fds, seq);
	if (ret) {
		close(fds[0]);
		close(fds[1]);
	}
	return ret;
}

/*
 * The module takes kTLS only with keys in both directions; and the target
 * kernels cannot rekey (no TLS 1.3 KeyUpdate): a second key is refused.
 */
TEST_F(kmig, ktls_needs_both_keys)
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1, .role = PARTMOB_MIG_SOURCE,
				 .name = SRC };
	int fds[2], dir, ret;

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	kregion(_metadata, self, SRC, KSIZE);
	for (dir = TLS_TX; dir <= TLS_RX; dir++) {
		ASSERT_EQ(0, pm_tcp_pair(-1, -1, fds));
		if (setsockopt(fds[0], SOL_TCP, TCP_ULP, "tls", sizeof("tls"))) {
			ret = errno;
			close(fds[0]);
			close(fds[1]);
			SKIP(return, "no kernel TLS here: %s", strerror(ret));
		}
		ASSERT_EQ(0, pm_ktls_key(fds[0], dir, 0, 0));
		a.fd = fds[0];
		EXPECT_EQ(-ENOKEY, pm_mig_start(&self->t, &a));
		EXPECT_NE(NULL, strstr(self->t.extack, "both directions"))
			TH_LOG("%s", self->t.extack);
		EXPECT_EQ(-EBUSY, pm_ktls_key(fds[0], dir, 1, 0));
		close(fds[0]);
		close(fds[1]);
	}
	EXPECT_EQ(0, pm_region_exists(DST));
}

/*
 * Both kernel ends over kTLS, the source's socket with a send buffer of
 * @sndbuf bytes if not 0: a migration of a KSIZE region completes, byte
 * for byte. Return: 0, or -ENOENT without kernel TLS here.
 */
static int ktls_migrate(struct __test_metadata *_metadata,
			FIXTURE_DATA(kmig) *self, int sndbuf)
{
	size_t n = KSIZE / self->page;
	struct pm_mig_info mi;
	unsigned char *p, *q;
	int fds[2], ret;

	kregion(_metadata, self, SRC, KSIZE);
	ret = ktls_pair(fds, 0);
	if (ret == -ENOENT)
		return ret;
	EXPECT_EQ(0, ret) TH_LOG("kTLS pair: %s", strerror(-ret));
	if (ret)
		return ret;
	if (sndbuf)
		EXPECT_EQ(0, setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF,
					&sndbuf, sizeof(sndbuf)));
	kpair_fds(_metadata, self, KSIZE, 0, fds);
	kwait(_metadata, SRC, PARTMOB_MIG_S_WAITING);
	EXPECT_EQ(0, pm_mig_control(&self->t, SRC,
				    PARTMOB_MIG_A_SWITCHOVER));
	kboth_end(_metadata, self);
	EXPECT_EQ(0, pm_mig_get(&self->t, DST, &mi));
	EXPECT_EQ(PARTMOB_MIG_S_COMPLETED, mi.state) TH_LOG("%s", mi.error);
	p = pm_region_map(SRC, KSIZE, PROT_READ);
	q = pm_region_map(DST, KSIZE, PROT_READ);
	EXPECT_NE(MAP_FAILED, p);
	EXPECT_NE(MAP_FAILED, q);
	if (p != MAP_FAILED && q != MAP_FAILED)
		EXPECT_EQ(0, pm_pages_differ(p, q, n, self->page));
	if (p != MAP_FAILED)
		munmap(p, KSIZE);
	if (q != MAP_FAILED)
		munmap(q, KSIZE);
	return 0;
}

/*
 * Both kernel ends over kTLS: a migration completes byte for byte; one
 * whose key starts a few records short of the limit fails on it, and the
 * source runs on, intact.
 */
TEST_F_TIMEOUT(kmig, ktls_stream_and_record_limit, 120)
{
	struct pm_mig_info mi;
	int fds[2];

	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	if (ktls_migrate(_metadata, self, 0) == -ENOENT)
		SKIP(return, "no kernel TLS here");
	close(self->sctl);
	close(self->dctl);
	self->sctl = self->dctl = -1;
	pm_cleanup_regions(PFX);

	/* 4 records left: 1 MiB of pages takes 64 at least. */
	kregion(_metadata, self, SRC, KSIZE);
	ASSERT_EQ(0, ktls_pair(fds, (1ULL << 24) - 4));
	kpair_fds(_metadata, self, KSIZE, 0, fds);
	kfailed(_metadata, self, KSIZE, 1);
	ASSERT_EQ(0, pm_mig_get(&self->t, SRC, &mi));
	EXPECT_EQ(EKEYEXPIRED, mi.err_no) TH_LOG("%s", mi.error);
}

/*
 * A kTLS source socket with a send buffer far smaller than the records
 * TCP holds back under MSG_MORE (the start of a connection, before
 * autotuning): tls_sw would wait for room that never comes, and the
 * migration would stall until the timeout. The module sizes the buffer
 * itself: the migration completes, byte for byte.
 */
TEST_F_TIMEOUT(kmig, ktls_small_sndbuf, 120)
{
	if (self->skip[0])
		SKIP(return, "%s", self->skip);
	if (ktls_migrate(_metadata, self, 4096) == -ENOENT)
		SKIP(return, "no kernel TLS here");
}

/* ---- authentication and encryption ------------------------------------ */

/* Does @p's stderr (re-read now) contain @what? */
static int said(struct pm_proc *p, const char *what)
{
	pm_proc_read(p);
	return strstr(p->err, what) != NULL;
}

TEST_F_TIMEOUT(mig, tls_wrong_key_refused, 150)
{
	static const struct {
		const char *id;
		uint64_t seed;
		const char *listener_says;
	} bad[] = {
		{ "kst", 2, "refused: TLS handshake failed" },
		{ "stranger", 1, "'stranger' is not in the PSK file" },
	};
	const char *wrong = "/tmp/kst-mig-wrong.psk";
	char good[sizeof(self->psk)];
	struct pm_proc *v;
	unsigned int i;
	int regions;

	MIG_SKIP();
	snprintf(good, sizeof(good), "%s", self->psk);
	small_region(_metadata, self, SRC, 5);
	regions = pm_region_count();
	listener(_metadata, self, &self->lis, 7796, 0, NULL, NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(0, pm_write_psk(wrong, bad[i].id, bad[i].seed));
		/* start() and listener_at() use self->psk. */
		snprintf(self->psk, sizeof(self->psk), "%s", wrong);
		v = &self->aux[2 * i];
		start(_metadata, self, v, "validate", SRC, DST, 7796, NULL);
		EXPECT_EQ(1, finish(_metadata, v, "validate", 60));
		EXPECT_NE(NULL, strstr(v->err, "TLS handshake failed"));
		start(_metadata, self, &self->aux[2 * i + 1], "start", SRC, DST,
		      7796, NULL);
		EXPECT_EQ(1, finish(_metadata, &self->aux[2 * i + 1], "start",
				    60));
		EXPECT_NE(NULL, strstr(self->aux[2 * i + 1].err,
				       "TLS handshake failed"));
		snprintf(self->psk, sizeof(self->psk), "%s", good);
		EXPECT_TRUE(said(&self->lis, bad[i].listener_says))
			TH_LOG("listener:\n%s", self->lis.err);
		nothing_created(_metadata, self, SRC, DST, regions, 0);
		EXPECT_TRUE(region_intact(self, SRC, 5));
	}
	unlink(wrong);
	EXPECT_TRUE(pm_proc_alive(&self->lis));
	/* The right key gets through the same listener. */
	start(_metadata, self, &self->st, "validate", SRC, DST, 7796, NULL);
	EXPECT_EQ(0, finish(_metadata, &self->st, "validate", 60));
	EXPECT_EQ(0, pm_region_delete(&self->t, SRC));
}

TEST_F_TIMEOUT(mig, tls_insecure_is_explicit, 150)
{
	const char *const start_none[] = { "start", SRC, "--to", B_ADDR,
					   NULL };
	const char *const listen_none[] = { "listen", "--port", "0", NULL };
	const char *const listen_both[] = { "listen", "--port", "0",
					    "--insecure", "--psk-file",
					    self->psk, NULL };
	const char *open_psk = "/tmp/kst-mig-open.psk";
	const char *const listen_open[] = { "listen", "--port", "0",
					    "--psk-file", open_psk, NULL };
	int regions;

	MIG_SKIP();
	small_region(_metadata, self, SRC, 6);
	regions = pm_region_count();
	/* Neither --psk-file nor --insecure: a usage error, nothing done. */
	EXPECT_EQ(2, ctl_run(_metadata, self, 0, start_none, &self->aux[0]));
	EXPECT_NE(NULL, strstr(self->aux[0].err, "--insecure"));
	EXPECT_EQ(2, ctl_run(_metadata, self, 1, listen_none, &self->aux[1]));
	EXPECT_NE(NULL, strstr(self->aux[1].err, "--insecure"));
	EXPECT_EQ(2, ctl_run(_metadata, self, 1, listen_both, &self->aux[2]));
	/* A key file others may read is refused. */
	ASSERT_EQ(0, pm_write_psk(open_psk, "kst", 1));
	ASSERT_EQ(0, chmod(open_psk, 0644));
	EXPECT_EQ(1, ctl_run(_metadata, self, 1, listen_open, &self->aux[3]));
	EXPECT_NE(NULL, strstr(self->aux[3].err, "chmod 600"));
	unlink(open_psk);
	nothing_created(_metadata, self, SRC, DST, regions, 0);

	/* A plain source meets a TLS listener: refused there. */
	listener(_metadata, self, &self->lis, 7797, 0, NULL, NULL);
	self->insecure = 1;
	start(_metadata, self, &self->st, "start", SRC, DST, 7797, NULL);
	EXPECT_EQ(1, finish(_metadata, &self->st, "start", 60));
	EXPECT_NE(NULL, strstr(self->st.err, "warning: --insecure"));
	EXPECT_TRUE(said(&self->lis, "refused: TLS handshake failed"))
		TH_LOG("listener:\n%s", self->lis.err);
	nothing_created(_metadata, self, SRC, DST, regions, 0);
	EXPECT_TRUE(pm_proc_alive(&self->lis));
	pm_proc_stop(&self->lis, SIGTERM);
	pm_proc_stop(&self->st, SIGKILL);

	/* A TLS source meets a plain listener: its hello is not TLS. */
	listener(_metadata, self, &self->lis, 7798, 0, NULL, NULL);
	EXPECT_TRUE(said(&self->lis, "warning: --insecure"));
	self->insecure = 0;
	start(_metadata, self, &self->st, "start", SRC, DST, 7798, NULL);
	EXPECT_EQ(1, finish(_metadata, &self->st, "start", 60));
	EXPECT_NE(NULL, strstr(self->st.err, "TLS handshake failed"));
	nothing_created(_metadata, self, SRC, DST, regions, 0);
	EXPECT_TRUE(region_intact(self, SRC, 6));
	EXPECT_EQ(0, pm_region_delete(&self->t, SRC));
}

/*
 * A man in the middle in B: forward @l's one connection to B:@port, and
 * flip one bit of the source's stream at byte @flip_at.
 */
static void tamper_proxy(FIXTURE_DATA(mig) *self, int l, int port,
			 uint64_t flip_at)
{
	char buf[65536];
	struct pollfd p[2];
	uint64_t off = 0;
	ssize_t n, w, k;
	int a, b, i;

	a = accept(l, NULL, NULL);
	b = pm_tcp_connect(self->h.orig, self->h.ns[1], B_ADDR, port, 10000);
	if (a < 0 || b < 0)
		_exit(1);
	p[0] = (struct pollfd){ .fd = a, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = b, .events = POLLIN };
	for (;;) {
		if (poll(p, 2, 60000) <= 0)
			_exit(2);
		for (i = 0; i < 2; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0)
				_exit(0);
			if (i == 0) {
				if (flip_at >= off && flip_at < off + n)
					buf[flip_at - off] ^= 0x01;
				off += n;
			}
			for (w = 0; w < n; w += k) {
				k = write(p[!i].fd, buf + w, n - w);
				if (k <= 0)
					_exit(0);
			}
		}
	}
}

TEST_F_TIMEOUT(mig, tls_tampered_stream_fails, 150)
{
	static const char *const one_stream[] = { "--streams", "1", NULL };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(7799) };
	long errors;
	pid_t proxy;
	int l, status;

	MIG_SKIP();
	sweep_region(_metadata, self, SRC, SWEEP_SIZE, 0, 200);
	listener(_metadata, self, &self->lis, 7800, 1, NULL, NULL);
	inet_pton(AF_INET, B_ADDR, &sa.sin_addr);
	l = pm_ns_socket(self->h.orig, self->h.ns[1], AF_INET, SOCK_STREAM);
	ASSERT_LE(0, l);
	ASSERT_EQ(0, bind(l, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(0, listen(l, 1));
	errors = tls_stat(self, 1, "TlsDecryptError");
	proxy = fork();
	ASSERT_LE(0, proxy);
	if (!proxy)
		tamper_proxy(self, l, 7800, SWEEP_SIZE / 2);
	close(l);
	/* --to B:7799, the proxy, which carries one connection. */
	start(_metadata, self, &self->st, "start", SRC, DST, 7799, one_stream);
	EXPECT_EQ(6, finish(_metadata, &self->st, "start", 100));
	EXPECT_EQ(6, finish(_metadata, &self->lis, "listen --once", 60));
	kill(proxy, SIGKILL);
	waitpid(proxy, &status, 0);
	/* B's kTLS caught it: the record did not authenticate. */
	EXPECT_LT(errors < 0 ? 0 : errors,
		  tls_stat(self, 1, "TlsDecryptError"));
	source_resumed(_metadata, self, SRC, DST, SWEEP_SIZE, 0);
}

/* ---- certificates ------------------------------------------------------- */

/* The PKI of pki[], fresh, in a directory of its own. */
static int pki_setup(FIXTURE_DATA(mig) *self)
{
	size_t i;
	int ret;

	snprintf(self->pki, sizeof(self->pki), "/tmp/kst-pki-%d",
		 (int)getpid());
	if (mkdir(self->pki, 0700) && errno != EEXIST)
		return -errno;
	for (i = 0; i < sizeof(pki) / sizeof(pki[0]); i++) {
		ret = pm_pki_make(self->pki, pki[i].stem, pki[i].ca,
				  pki[i].cn, pki[i].san, pki[i].from,
				  pki[i].to);
		if (ret)
			return ret;
	}
	self->certs = 1;
	use_cert(self, 0, "a", "ca");
	use_cert(self, 1, "b", "ca");
	return 0;
}

/*
 * An idle region of every kind of page moves byte for byte over TLS with
 * certificates (mutual: each side's of the CA the other trusts).
 */
TEST_F_TIMEOUT(mig, tls_certs_identical, 180)
{
	MIG_SKIP();
	ASSERT_EQ(0, pki_setup(self));
	idle_region(_metadata, self);
	EXPECT_TRUE(said(&self->lis, "TLS with certificates"));
	EXPECT_TRUE(said(&self->lis,
			 "authenticated with certificate '/CN=hosta'"))
		TH_LOG("listener:\n%s", self->lis.err);
}

/*
 * Each certificate that should not pass is refused, on the side that
 * checks it (both sides check), with nothing created and the source
 * running; then the right ones, with --peer-name on both sides, pass.
 */
TEST_F_TIMEOUT(mig, tls_certs_refused, 300)
{
	static const struct {
		const char *a, *b;	/* the certificates of A and B */
		const char *peer_a, *peer_b;	/* --peer-name */
		const char *start_says, *listener_says;
	} bad[] = {
		/*
		 * A's is of a CA that B does not trust. (TLS 1.3: A is done
		 * with its handshake when B checks A's certificate; B's
		 * alert reaches A as the reply to its hello.)
		 */
		{ "rogue_a", "b", NULL, NULL,
		  "the peer refused us after the TLS handshake: alert",
		  "refused: TLS handshake failed: the peer's certificate is not trusted by --ca" },
		/* B's is of a CA that A does not trust. */
		{ "a", "rogue_b", NULL, NULL,
		  "TLS handshake failed: the peer's certificate is not trusted by --ca",
		  "refused: TLS handshake failed" },
		/* B's names another host. */
		{ "a", "elsewhere_b", NULL, NULL,
		  "TLS handshake failed: the peer's certificate (/CN=hostc) is not for " B_ADDR,
		  "refused: TLS handshake failed" },
		/* B's has expired. */
		{ "a", "expired_b", NULL, NULL, "certificate has expired",
		  "refused: TLS handshake failed" },
		/* B takes hostz only. */
		{ "a", "b", NULL, "hostz",
		  "the peer refused us after the TLS handshake: alert",
		  "refused: TLS handshake failed: the peer's certificate (/CN=hosta) is not for hostz (--peer-name)" },
		/* A wants B to be hostz. */
		{ "a", "b", "hostz", NULL,
		  "(/CN=hostb) is not for hostz (--peer-name)",
		  "refused: TLS handshake failed" },
	};
	struct pm_proc *v;
	unsigned int i;
	int regions, port;

	MIG_SKIP();
	ASSERT_EQ(0, pki_setup(self));
	small_region(_metadata, self, SRC, 7);
	regions = pm_region_count();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		TH_LOG("case %u: A %s, B %s", i, bad[i].a, bad[i].b);
		port = 7810 + i;
		use_cert(self, 0, bad[i].a, "ca");
		use_cert(self, 1, bad[i].b, "ca");
		self->peer_name[0] = bad[i].peer_a;
		self->peer_name[1] = bad[i].peer_b;
		listener(_metadata, self, &self->lis, port, 0, NULL, NULL);
		v = &self->aux[i % 4];
		pm_proc_stop(v, SIGKILL);
		start(_metadata, self, v, "start", SRC, DST, port, NULL);
		EXPECT_EQ(1, finish(_metadata, v, "start", 60));
		if (bad[i].start_says)
			EXPECT_NE(NULL, strstr(v->err, bad[i].start_says))
				TH_LOG("start lacks \"%s\"", bad[i].start_says);
		if (bad[i].listener_says)
			EXPECT_TRUE(said(&self->lis, bad[i].listener_says))
				TH_LOG("listener lacks \"%s\":\n%s",
				       bad[i].listener_says, self->lis.err);
		EXPECT_TRUE(pm_proc_alive(&self->lis));
		nothing_created(_metadata, self, SRC, DST, regions, 0);
		EXPECT_TRUE(region_intact(self, SRC, 7));
		pm_proc_stop(&self->lis, SIGTERM);
	}
	/* The right certificates, each side naming the other, pass. */
	use_cert(self, 0, "a", "ca");
	use_cert(self, 1, "b", "ca");
	self->peer_name[0] = "hostb";
	self->peer_name[1] = "hosta";
	listener(_metadata, self, &self->lis, 7820, 0, NULL, NULL);
	start(_metadata, self, &self->st, "validate", SRC, DST, 7820, NULL);
	EXPECT_EQ(0, finish(_metadata, &self->st, "validate", 60));
	EXPECT_TRUE(said(&self->lis,
			 "authenticated with certificate '/CN=hosta'"));
	EXPECT_EQ(0, pm_region_delete(&self->t, SRC));
}

/* Certificate options that cannot work are refused before connecting. */
TEST_F_TIMEOUT(mig, tls_certs_bad_options, 120)
{
	char a_crt[96], a_key[96], b_key[96], ca[96], none[96];
	const char *const no_key[] = { "start", SRC, "--to", B_ADDR,
				       "--cert", a_crt, "--ca", ca, NULL };
	const char *const psk_and_certs[] = { "start", SRC, "--to", B_ADDR,
					      "--psk-file", self->psk,
					      "--cert", a_crt, "--key", a_key,
					      "--ca", ca, NULL };
	const char *const name_with_psk[] = { "listen", "--port", "0",
					      "--psk-file", self->psk,
					      "--peer-name", "hosta", NULL };
	const char *const open_key[] = { "listen", "--port", "0",
					 "--cert", a_crt, "--key", a_key,
					 "--ca", ca, NULL };
	const char *const other_key[] = { "start", SRC, "--to", B_ADDR,
					  "--cert", a_crt, "--key", b_key,
					  "--ca", ca, NULL };
	const char *const no_cert[] = { "validate", SRC, "--to", B_ADDR,
					"--cert", none, "--key", a_key,
					"--ca", ca, NULL };
	const char *const no_ca[] = { "listen", "--port", "0",
				      "--cert", a_crt, "--key", a_key,
				      "--ca", none, NULL };
	int regions;

	MIG_SKIP();
	ASSERT_EQ(0, pki_setup(self));
	snprintf(a_crt, sizeof(a_crt), "%s/a.crt", self->pki);
	snprintf(a_key, sizeof(a_key), "%s/a.key", self->pki);
	snprintf(b_key, sizeof(b_key), "%s/b.key", self->pki);
	snprintf(ca, sizeof(ca), "%s/ca.crt", self->pki);
	snprintf(none, sizeof(none), "%s/none.crt", self->pki);
	small_region(_metadata, self, SRC, 8);
	regions = pm_region_count();

	/* Usage errors (exit 2). */
	EXPECT_EQ(2, ctl_run(_metadata, self, 0, no_key, &self->aux[0]));
	EXPECT_NE(NULL, strstr(self->aux[0].err, "go together"));
	EXPECT_EQ(2, ctl_run(_metadata, self, 0, psk_and_certs,
			     &self->aux[1]));
	EXPECT_NE(NULL, strstr(self->aux[1].err, "exclude each other"));
	EXPECT_EQ(2, ctl_run(_metadata, self, 1, name_with_psk,
			     &self->aux[2]));
	EXPECT_NE(NULL, strstr(self->aux[2].err,
			       "--peer-name needs certificates"));
	pm_proc_stop(&self->aux[0], SIGKILL);
	pm_proc_stop(&self->aux[1], SIGKILL);
	pm_proc_stop(&self->aux[2], SIGKILL);

	/* Files that cannot serve (exit 1). */
	ASSERT_EQ(0, chmod(a_key, 0640));
	EXPECT_EQ(1, ctl_run(_metadata, self, 1, open_key, &self->aux[0]));
	EXPECT_NE(NULL, strstr(self->aux[0].err, "chmod 600"));
	ASSERT_EQ(0, chmod(a_key, 0600));
	EXPECT_EQ(1, ctl_run(_metadata, self, 0, other_key, &self->aux[1]));
	EXPECT_NE(NULL, strstr(self->aux[1].err, "is not the key of --cert"));
	EXPECT_EQ(1, ctl_run(_metadata, self, 0, no_cert, &self->aux[2]));
	EXPECT_NE(NULL, strstr(self->aux[2].err, "No such file"));
	EXPECT_EQ(1, ctl_run(_metadata, self, 1, no_ca, &self->aux[3]));
	EXPECT_NE(NULL, strstr(self->aux[3].err, "--ca"));
	nothing_created(_metadata, self, SRC, DST, regions, 0);
	EXPECT_TRUE(region_intact(self, SRC, 8));
	EXPECT_EQ(0, pm_region_delete(&self->t, SRC));
}

TEST_HARNESS_MAIN
