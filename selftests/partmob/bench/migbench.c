// SPDX-License-Identifier: GPL-2.0
/*
 * pmbench, the live-migration figures of `make bench`: two "hosts" (network
 * namespaces joined by a veth, see ../mig_lib.h), `partmobctl listen
 * --once` in the destination, `partmobctl start SRC --to 10.77.0.2:PORT
 * --dest-name DST --json` in the source, as an operator runs them. Both
 * ends share this guest's kernel, so the CPU figures (/proc/stat: user +
 * nice + system + irq + softirq of every CPU, kernel threads included)
 * add source and destination up by themselves.
 *
 * Figures (keys of the design notes' benchmark contract):
 *   memcpy_mbps               copying 1 GiB in page-size chunks
 *   link_iperf3_mbps          iperf3, one TCP stream A -> B, 10 s
 *   iperf3_cpu_s_per_gib      its CPU seconds per GiB
 *   partmob_bulk_mbps         1 GiB of random bytes, no writer: region
 *                             bytes / wall time from start to completed
 *                             (plain TCP, --insecure, as every figure but
 *                             the next two; start's default --streams)
 *   partmob_tls_bulk_mbps     the same over TLS (--psk-file: kernel TLS,
 *                             AES-128-GCM), run by run with the plain one
 *   tls_ratio                 partmob_tls_bulk_mbps / partmob_bulk_mbps
 *                             (median of the runs' ratios)
 *   ktls_link_mbps            the veth's own ceiling with kernel TLS: 256
 *                             MiB from memory over two kTLS connections at
 *                             once (AES-128-GCM, as partmob's two
 *                             streams), read and dropped at B, no partmob
 *   openssl_aes128gcm_mbps    `openssl speed -evp aes-128-gcm` (the host's
 *                             openssl through /host), 16 KiB blocks: what
 *                             AES-GCM costs in this guest (emulated)
 *   partmob_one_stream_bulk_mbps  the same with --streams 1 (one
 *                             connection, one receiving thread), run by run
 *                             with it; partmob_one_stream_cpu_s_per_gib its
 *                             CPU seconds per GiB
 *   partmob_idle_downtime_ms  the same migrations' downtime
 *   partmob_cpu_s_per_gib     their CPU seconds per GiB
 *   zero_speedup              time of 1 GiB random / 1 GiB of written zeros
 *   partmob_downtime_ms       1 GiB with a writer dirtying random pages of
 *   partmob_total_s           a 64 MiB hot set at 25% of partmob_bulk_mbps,
 *                             --downtime-limit 50
 *   sparse_ratio              time of a 16 GiB overcommit region with
 *                             256 MiB touched (every 64th page, random) /
 *                             a 256 MiB region all touched
 * Every migrated region is compared with its source afterwards; a
 * migration that fails, hangs or delivers wrong pages leaves its keys out
 * (KEY_skipped says why) and its reproduction is printed on the console.
 *
 * MB/s here is 10^6 bytes per second throughout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../mig_lib.h"
#include "pmbench.h"

#define SRC "pmb-src"
#define DST "pmb-dst"
#define MIG_TIMEOUT_S 600

/* /host/lib64/ld-linux-x86-64.so.2 is an absolute link: not that one. */
#define HOST_LDSO "/host/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
#define HOST_LIBS "/host/lib/x86_64-linux-gnu:/host/usr/lib/x86_64-linux-gnu"
#define HOST_IPERF3 "/host/usr/bin/iperf3"
#define HOST_PERF "/host/usr/bin/perf"
#define PERF_DATA "/tmp/pmb-perf.data"
#define HOST_OPENSSL "/host/usr/bin/openssl"
#define PSK_FILE "/tmp/pmb.psk"

struct pm_hosts hosts;
int next_port = 7800;

/* ---- helpers ------------------------------------------------------------ */

/* CPU seconds of the whole guest so far: user+nice+system+irq+softirq. */
double cpu_s(void)
{
	unsigned long long v[7] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n = 0;

	if (f) {
		n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &v[0],
			   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]);
		fclose(f);
	}
	if (n != 7)
		die("/proc/stat");
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6]) /
	       sysconf(_SC_CLK_TCK);
}

/*
 * Fill @bytes at @p with pseudo-random bytes: a 4 MiB block of xorshift
 * output, repeated, with the first word of every page made unique from
 * @seed (never an all-zero page). Generating every byte afresh costs the
 * emulator ten times a copy; partmob neither compresses nor deduplicates,
 * so the repetition changes nothing it does.
 */
#define RBLOCK (4 << 20)

void fill_random(unsigned char *p, size_t bytes, uint64_t seed)
{
	static uint64_t *block;
	uint64_t x;
	size_t off, n;

	if (!block) {
		block = malloc(RBLOCK);
		if (!block)
			die("malloc");
		x = 0x9e3779b97f4a7c15ULL;
		for (n = 0; n < RBLOCK / 8; n++)
			block[n] = xorshift(&x);
	}
	for (off = 0; off < bytes; off += n) {
		n = bytes - off < RBLOCK ? bytes - off : RBLOCK;
		memcpy(p + off, block, n);
	}
	for (off = 0; off < bytes; off += ps) {
		x = (seed << 32 ^ off) | 1;
		*(uint64_t *)(p + off) = xorshift(&x) | 1;
	}
}

/* Pages of @a and @b (@npages pages, every @step-th) that differ. */
static size_t mismatches(const unsigned char *a, const unsigned char *b,
			 size_t npages, size_t step)
{
	size_t i, bad = 0;

	for (i = 0; i < npages; i += step)
		bad += !!memcmp(a + i * ps, b + i * ps, ps);
	return bad;
}

/* Read a whole file (NUL-terminated, malloc'ed; "" if absent). */
char *slurp(const char *path)
{
	size_t n = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (!buf)
		die("malloc");
	while (fd >= 0 && (r = read(fd, buf + n, cap - 1 - n)) > 0) {
		n += r;
		if (n + 1 == cap && !(buf = realloc(buf, cap *= 2)))
			die("realloc");
	}
	if (fd >= 0)
		close(fd);
	buf[n] = '\0';
	return buf;
}

/* The number after the first "KEY": in @s; -1 if there is none. */
double json_num(const char *s, const char *key)
{
	char pat[64];
	const char *c;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	c = strstr(s, pat);
	if (!c)
		return -1;
	c += strlen(pat);
	while (*c == ' ' || *c == ':')
		c++;
	return strtod(c, NULL);
}

/* The last line of @s holding "result": that object, in place. */
static char *result_line(char *s)
{
	char *line, *last = NULL;

	for (line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
		if (strstr(line, "\"result\""))
			last = line;
	return last;
}

/* The last non-empty line of @s, in a static buffer (for messages). */
const char *last_line(const char *s)
{
	static char buf[200];
	const char *e = s + strlen(s), *b;

	while (e > s && (e[-1] == '\n' || e[-1] == ' '))
		e--;
	for (b = e; b > s && b[-1] != '\n'; b--)
		;
	snprintf(buf, sizeof(buf), "%.*s", (int)(e - b), b);
	return buf;
}

/* Wait for @p to exit, precisely (pidfd), at most @timeout_ms. */
int proc_wait_exact(struct pm_proc *p, int timeout_ms)
{
	int fd = syscall(SYS_pidfd_open, p->pid, 0);

	if (fd >= 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		poll(&pfd, 1, timeout_ms);
		close(fd);
	}
	return pm_proc_wait(p, fd >= 0 ? 1000 : timeout_ms);
}

/* Bind the guest's /dev, /proc, /sys and /tmp over the host root's, enter it. */
static int enter_host_root(void)
{
	static const char *const binds[] = { "/dev", "/proc", "/sys", "/tmp" };
	char dst[64];
	unsigned int i;

	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -1;
	for (i = 0; i < sizeof(binds) / sizeof(binds[0]); i++) {
		snprintf(dst, sizeof(dst), "/host%s", binds[i]);
		if (mount(binds[i], dst, NULL, MS_BIND | MS_REC, NULL))
			return -1;
	}
	return chroot("/host") || chdir("/") ? -1 : 0;
}

int spawn_in_ns(struct pm_proc *p, int ns, int host_root, const char *path,
		char *const *argv)
{
	static int seq;
	int fd;

	memset(p, 0, sizeof(*p));
	snprintf(p->outpath, sizeof(p->outpath), "/tmp/pmb-%d-%d.out",
		 getpid(), seq);
	snprintf(p->errpath, sizeof(p->errpath), "/tmp/pmb-%d-%d.err",
		 getpid(), seq++);
	fflush(stdout);
	p->pid = fork();
	if (p->pid < 0) {
		p->pid = 0;
		return -errno;
	}
	if (!p->pid) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (ns >= 0 && setns(ns, CLONE_NEWNET))
			_exit(125);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		fd = open(p->outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 1);
		fd = open(p->errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		if (host_root && enter_host_root()) {
			perror("pmbench: entering /host");
			_exit(126);
		}
		execv(path, argv);
		_exit(127);
	}
	return 0;
}

/* ---- one migration ------------------------------------------------------- */

struct mig_run {
	double wall_s;		/* exec of partmobctl start to its exit */
	double cpu_s;		/* guest CPU over the migration, both ends */
	double downtime_ms;	/* the module's, source side (ns precision) */
	double dst_downtime_ms;	/* the destination's: end of rounds to resume */
	double module_ms;	/* the module's total time */
	double setup_ms, harvest_ms, sock_ms, wait_ms;	/* where it went */
	unsigned int rounds;
	uint64_t pages_normal, pages_zero;
	char why[400];		/* set: it failed */
};

/*
 * Migrate region @src to @dst: listen --once in B, start in A with @extra
 * options. Fills @r; r->why is empty if it completed (start and listen
 * both exit 0 and the result is "completed").
 */
static void migrate_sec(const char *src, const char *dst,
			const char *const *extra, int tls, struct mig_run *r)
{
	struct pm_spawn_opts oa = { .netns = hosts.ns[0] },
			     ob = { .netns = hosts.ns[1] };
	const char *argv[24];
	struct pm_proc lis, st;
	struct pm_mig_info mi;
	char port[16], to[64], *out = NULL, *res;
	double c0, t0;
	int n = 0, ret;

	memset(r, 0, sizeof(*r));
	memset(&lis, 0, sizeof(lis));
	memset(&st, 0, sizeof(st));
	snprintf(port, sizeof(port), "%d", next_port);
	snprintf(to, sizeof(to), "%s:%d", PM_HOST_B_ADDR, next_port++);
	argv[0] = "listen";
	argv[1] = "--address";
	argv[2] = PM_HOST_B_ADDR;
	argv[3] = "--port";
	argv[4] = port;
	argv[5] = "--once";
	argv[6] = tls ? "--psk-file" : "--insecure";
	argv[7] = tls ? PSK_FILE : NULL;
	argv[8] = NULL;
	if (pm_spawn_ctl(&lis, &ob, argv) ||
	    pm_wait_listening(lis.pid, atoi(port), 15000)) {
		pm_proc_wait(&lis, 1000);
		snprintf(r->why, sizeof(r->why), "listen did not listen: %s",
			 last_line(lis.err));
		goto out;
	}
	argv[n++] = "start";
	argv[n++] = src;
	argv[n++] = "--to";
	argv[n++] = to;
	argv[n++] = "--dest-name";
	argv[n++] = dst;
	argv[n++] = "--json";
	if (tls) {
		argv[n++] = "--psk-file";
		argv[n++] = PSK_FILE;
	} else {
		argv[n++] = "--insecure";
	}
	while (extra && *extra && n < 22)
		argv[n++] = *extra++;
	argv[n] = NULL;
	c0 = cpu_s();
	t0 = now();
	if (pm_spawn_ctl(&st, &oa, argv)) {
		snprintf(r->why, sizeof(r->why), "cannot run partmobctl");
		goto out;
	}
	ret = proc_wait_exact(&st, MIG_TIMEOUT_S * 1000);
	r->wall_s = now() - t0;
	if (ret) {
		snprintf(r->why, sizeof(r->why),
			 "partmobctl start still running after %d s", MIG_TIMEOUT_S);
		pm_proc_stop(&st, SIGINT);
		goto out;
	}
	ret = pm_proc_wait(&lis, 60000);
	r->cpu_s = cpu_s() - c0;
	out = slurp(st.outpath);
	res = result_line(out);
	if (st.status || ret || lis.status) {
		snprintf(r->why, sizeof(r->why),
			 "start exit %d (%s), listen --once %s %d (%s)",
			 st.status, res ? res : last_line(st.err),
			 ret ? "still running" : "exit", lis.status,
			 last_line(lis.err));
		goto out;
	}
	if (!res || !strstr(res, "\"completed\"")) {
		snprintf(r->why, sizeof(r->why), "start exit 0 but result: %s",
			 res ? res : "none");
		goto out;
	}
	ret = pm_mig_get(&t, src, &mi);
	if (ret) {
		snprintf(r->why, sizeof(r->why), "MIG_GET %s: %s", src,
			 strerror(-ret));
		goto out;
	}
	r->downtime_ms = mi.downtime_ns / 1e6;
	r->module_ms = mi.total_ns / 1e6;
	r->setup_ms = mi.setup_ns / 1e6;
	r->harvest_ms = mi.harvest_ns / 1e6;
	r->sock_ms = mi.sock_ns / 1e6;
	r->wait_ms = mi.wait_ns / 1e6;
	r->rounds = mi.round;
	r->pages_normal = mi.pages_normal;
	r->pages_zero = mi.pages_zero;
	if (!pm_mig_get(&t, dst, &mi))
		r->dst_downtime_ms = mi.downtime_ns / 1e6;
	if (json_num(res, "downtime_ms") < 0)
		snprintf(r->why, sizeof(r->why), "no downtime_ms in: %s", res);
out:
	if (r->why[0]) {
		pm_proc_read(&st);
		pm_proc_read(&lis);
		progress("MIGRATION FAILED: %s", r->why);
		progress("  reproduce: in netns B: partmobctl listen --address %s --port %s --once",
			 PM_HOST_B_ADDR, port);
		printf("pmbench:   in netns A: partmobctl");
		for (n = 0; argv[n] && n < 22; n++)
			printf(" %s", argv[n]);
		printf("\n--- start stdout (tail)\n%s\n--- start stderr\n%s\n--- listen stderr\n%s\n---\n",
		       out ? out : "", st.err, lis.err);
	} else {
		progress("%s -> %s: %.3f s (module %.0f ms: setup %.0f, harvest %.0f, sending %.0f, waiting %.0f), downtime %.2f ms (destination's part %.2f), %u rounds, %llu pages + %llu zero, cpu %.2f s",
			 src, dst, r->wall_s, r->module_ms, r->setup_ms,
			 r->harvest_ms, r->sock_ms, r->wait_ms, r->downtime_ms,
			 r->dst_downtime_ms, r->rounds, (unsigned long long)r->pages_normal,
			 (unsigned long long)r->pages_zero, r->cpu_s);
	}
	free(out);
	pm_proc_stop(&st, SIGKILL);
	pm_proc_stop(&lis, SIGTERM);
}

static void migrate(const char *src, const char *dst, const char *const *extra,
		    struct mig_run *r)
{
	migrate_sec(src, dst, extra, 0, r);
}

/* After a migration: compare @dst with the retired @src, delete both. */
static void check_and_delete(unsigned char *src, uint64_t size, size_t step,
			     struct mig_run *r)
{
	unsigned char *q;
	size_t bad;

	if (!r->why[0]) {
		q = pm_region_map(DST, size, PROT_READ);
		if (q == MAP_FAILED) {
			snprintf(r->why, sizeof(r->why), "cannot map %s", DST);
		} else {
			bad = mismatches(src, q, size / ps, step);
			/* sparse: the untouched pages of a stretch too */
			if (step > 1)
				bad += mismatches(src, q, 4 * step, 1);
			munmap(q, size);
			if (bad) {
				snprintf(r->why, sizeof(r->why),
					 "%zu pages of %s differ from %s after a completed migration",
					 bad, DST, SRC);
				progress("WRONG: %s", r->why);
			}
		}
	}
	region_unmap(SRC, src, size);
	pm_region_delete(&t, DST);
}

/* A source region of @size filled by @how, unmapped again if @unmap. */
enum fill { FILL_RANDOM, FILL_ZERO, FILL_SPARSE };

static unsigned char *source(uint64_t size, enum fill how, size_t step,
			     uint64_t seed)
{
	unsigned char *p = region_map(SRC, size, how == FILL_SPARSE);
	size_t i;

	pm_region_delete(&t, DST);
	switch (how) {
	case FILL_RANDOM:
		fill_random(p, size, seed);
		break;
	case FILL_ZERO:		/* written zeros: allocated, not holes */
		for (i = 0; i < size; i += ps)
			memset(p + i, 0, ps);
		break;
	case FILL_SPARSE:
		for (i = 0; i < size; i += step * ps)
			fill_random(p + i, ps, seed + i);
		break;
	}
	return p;
}

/* ---- scenarios -------------------------------------------------------------- */

static void bench_memcpy(uint64_t size)
{
	unsigned char *a, *b;
	double mbps[PMB_RUNS], t0;
	size_t i;
	int r;

	a = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		die("mmap memcpy buffers");
	fill_random(a, size, 1);
	memset(b, 1, size);
	for (r = 0; r < PMB_RUNS; r++) {
		t0 = now();
		for (i = 0; i < size; i += ps)
			memcpy(b + i, a + i, ps);
		mbps[r] = size / 1e6 / (now() - t0);
	}
	if (memcmp(a, b, size))
		die("memcpy copied wrong bytes");
	munmap(a, size);
	munmap(b, size);
	emit("memcpy_mbps", mbps);
}

/* iperf3 from the host's root (/host), run through the host's loader. */
static const char *iperf3_missing(void)
{
	static char why[200];

	if (access("/host/usr", F_OK))
		return "no /host (the host's root over 9p) in this guest to run iperf3 from";
	if (access(HOST_IPERF3, X_OK)) {
		snprintf(why, sizeof(why),
			 "iperf3 is not installed on the host (the guest runs the host's, %s; deps.sh does not install it)",
			 HOST_IPERF3 + 5);
		return why;
	}
	if (access(HOST_LDSO, X_OK))
		return "no /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 on the host to run its iperf3 with";
	return NULL;
}

static int iperf3_run(double secs, double *mbps, double *cpu_per_gib,
		      char *why, size_t whylen)
{
	char port[16], dur[16], *out;
	char *sv[] = { "ld.so", "--library-path", HOST_LIBS, HOST_IPERF3, "-s",
		       "-1", "-B", PM_HOST_B_ADDR, "-p", port, NULL };
	char *cl[] = { "ld.so", "--library-path", HOST_LIBS, HOST_IPERF3, "-c",
		       PM_HOST_B_ADDR, "-p", port, "-t", dur, "-i", "0", "-J",
		       NULL };
	struct pm_proc s, c;
	const char *sum;
	double c0, bytes, bps;
	int ret = -1;

	snprintf(port, sizeof(port), "%d", next_port++);
	snprintf(dur, sizeof(dur), "%.0f", secs);
	if (spawn_in_ns(&s, hosts.ns[1], 0, HOST_LDSO, sv) ||
	    pm_wait_listening(s.pid, atoi(port), 30000)) {
		pm_proc_wait(&s, 1000);
		snprintf(why, whylen, "iperf3 -s did not listen: %s",
			 last_line(s.err));
		pm_proc_stop(&s, SIGKILL);
		return -1;
	}
	c0 = cpu_s();
	if (spawn_in_ns(&c, hosts.ns[0], 0, HOST_LDSO, cl) ||
	    proc_wait_exact(&c, (secs + 60) * 1000)) {
		snprintf(why, whylen, "iperf3 -c did not end");
		goto out;
	}
	pm_proc_wait(&s, 10000);
	*cpu_per_gib = cpu_s() - c0;
	out = slurp(c.outpath);
	sum = strstr(out, "\"sum_received\"");
	bytes = sum ? json_num(sum, "bytes") : -1;
	bps = sum ? json_num(sum, "bits_per_second") : -1;
	if (c.status || bytes <= 0 || bps <= 0) {
		snprintf(why, whylen, "iperf3 -c exit %d: %s", c.status,
			 c.status ? last_line(c.err) : "no sum_received");
	} else {
		*mbps = bps / 8 / 1e6;
		*cpu_per_gib /= bytes / (1 << 30);
		progress("iperf3: %.0f MB/s, %.2f CPU s/GiB", *mbps,
			 *cpu_per_gib);
		ret = 0;
	}
	free(out);
out:
	pm_proc_stop(&c, SIGKILL);
	pm_proc_stop(&s, SIGKILL);
	return ret;
}

/* One end of a kTLS connection of ktls_link_run(): sends or drains. */
struct ktls_end {
	pthread_t thread;
	int fd, tx;
	uint64_t bytes;
	const unsigned char *buf;	/* the sender's, KTLS_BUF bytes */
	int err;
};

#define KTLS_BUF (1 << 20)
#define KTLS_CHUNK (64 << 10)
#define KTLS_CONNS 2

static void *ktls_io(void *arg)
{
	struct ktls_end *e = arg;
	static __thread unsigned char sink[KTLS_CHUNK];
	uint64_t done = 0;
	ssize_t n;

	while (done < e->bytes) {
		size_t len = e->bytes - done < KTLS_CHUNK ?
			     e->bytes - done : KTLS_CHUNK;

		if (e->tx)
			n = send(e->fd, e->buf + done % KTLS_BUF, len, 0);
		else
			n = recv(e->fd, sink, len, 0);
		if (n <= 0) {
			e->err = n ? errno : EPIPE;
			break;
		}
		done += n;
	}
	return NULL;
}

/*
 * The link's ceiling with kernel TLS, which partmob cannot beat: @size
 * bytes of random content from memory over KTLS_CONNS connections from A
 * to B at once, keyed for kTLS both ways (AES-128-GCM, pm_ktls_keys()),
 * sent with send() and read and dropped at B. MB/s, or 0 with @why.
 */
static double ktls_link_run(uint64_t size, char *why, size_t whylen)
{
	struct ktls_end e[2 * KTLS_CONNS];
	unsigned char *buf;
	uint64_t seed = 77;
	double t0, t = 0;
	int i, fds[2], started = 0, ret = 0;

	memset(e, 0, sizeof(e));
	for (i = 0; i < 2 * KTLS_CONNS; i++)
		e[i].fd = -1;
	buf = malloc(KTLS_BUF);
	if (!buf)
		die("malloc");
	for (i = 0; i < KTLS_BUF / 8; i++)
		((uint64_t *)buf)[i] = pm_xorshift(&seed);
	for (i = 0; i < KTLS_CONNS; i++) {
		ret = pm_tcp_link(hosts.orig, hosts.ns[0], hosts.ns[1],
				  PM_HOST_B_ADDR, fds);
		if (ret) {
			snprintf(why, whylen, "kTLS link: connect: %s",
				 strerror(-ret));
			goto out;
		}
		e[2 * i].fd = fds[0];
		e[2 * i + 1].fd = fds[1];
		ret = pm_ktls_keys(fds, 0);
		if (ret) {
			snprintf(why, whylen, "kTLS link: keys: %s",
				 strerror(-ret));
			goto out;
		}
		e[2 * i].tx = 1;
		e[2 * i].buf = buf;
		e[2 * i].bytes = e[2 * i + 1].bytes = size / KTLS_CONNS;
	}
	t0 = pm_now_ms() / 1e3;
	for (started = 0; started < 2 * KTLS_CONNS; started++)
		if (pthread_create(&e[started].thread, NULL, ktls_io,
				   &e[started]))
			die("pthread_create");
	for (i = 0; i < started; i++)
		pthread_join(e[i].thread, NULL);
	t = pm_now_ms() / 1e3 - t0;
	for (i = 0; i < started; i++)
		if (e[i].err && !why[0])
			snprintf(why, whylen, "kTLS link: %s: %s",
				 e[i].tx ? "send" : "recv", strerror(e[i].err));
out:
	for (i = 0; i < 2 * KTLS_CONNS; i++)
		if (e[i].fd >= 0)
			close(e[i].fd);
	free(buf);
	if (why[0] || !started)
		return 0;
	progress("kTLS link: %.1f MB/s", size / 1e6 / t);
	return size / 1e6 / t;
}

/* The figure @key from @runs, or left out for @why if that is set. */
static void emit_unless(const char *key, double runs[PMB_RUNS],
			const char *why)
{
	if (why[0])
		emit_skip(key, why);
	else
		emit(key, runs);
}

/*
 * `openssl speed -evp aes-128-gcm` of the host's openssl, 16 KiB blocks
 * (a TLS record), three runs of a second: MB/s of AES-128-GCM in this
 * guest, userspace. The kernel's kTLS uses its own AES-GCM, which the
 * guest's CPU model accelerates or not alike.
 */
static void bench_aes(void)
{
	char *argv[] = { "ld.so", "--library-path", HOST_LIBS, HOST_OPENSSL,
			 "speed", "-evp", "aes-128-gcm", "-bytes", "16384",
			 "-seconds", "1", "-mr", NULL };
	double mbps[PMB_RUNS];
	struct pm_proc p;
	char *out, *f;
	int r;

	if (access(HOST_OPENSSL, X_OK) || access(HOST_LDSO, X_OK)) {
		emit_skip("openssl_aes128gcm_mbps",
			  "no /host/usr/bin/openssl (the host's root over 9p, x86_64 guests) to run");
		return;
	}
	for (r = 0; r < PMB_RUNS; r++) {
		if (spawn_in_ns(&p, -1, 0, HOST_LDSO, argv) ||
		    proc_wait_exact(&p, 60000)) {
			pm_proc_stop(&p, SIGKILL);
			emit_skip("openssl_aes128gcm_mbps", "openssl speed did not end");
			return;
		}
		out = slurp(p.outpath);
		/* -mr: "+F:N:AES-128-GCM:BYTES_PER_SECOND" */
		f = out ? strstr(out, ":AES-128-GCM:") : NULL;
		mbps[r] = f ? strtod(f + strlen(":AES-128-GCM:"), NULL) / 1e6 :
			  -1;
		free(out);
		pm_proc_stop(&p, SIGKILL);
		if (p.status || mbps[r] <= 0) {
			emit_skip("openssl_aes128gcm_mbps",
				  "openssl speed printed no AES-128-GCM figure");
			return;
		}
	}
	progress("openssl speed aes-128-gcm: %.0f MB/s", mbps[PMB_RUNS / 2]);
	emit("openssl_aes128gcm_mbps", mbps);
}

/*
 * Run by run: iperf3 over the veth, CRIU's and QEMU's bulk runs
 * (peerbench.c), 1 GiB of random bytes with no writer, 1 GiB of written
 * zero pages, so that a slow phase of the emulator hits the link, the
 * peers and partmob alike. Returns the median bulk MB/s (0: none).
 */
static double bench_bulk_zero(uint64_t size, double link_secs, int have_ctl)
{
	double bulk[PMB_RUNS], idle[PMB_RUNS], cpu[PMB_RUNS], zero[PMB_RUNS];
	double link[PMB_RUNS], link_cpu[PMB_RUNS], tls[PMB_RUNS], ratio[PMB_RUNS];
	double multi[PMB_RUNS], multi_cpu[PMB_RUNS], klink[PMB_RUNS];
	const char *const one[] = { "--streams", "1", NULL };
	const char *missing = iperf3_missing();
	char why[420] = "", zwhy[420] = "", lwhy[300] = "", twhy[420] = "";
	char swhy[420] = "", kwhy[300] = "";
	struct peer_runs peers;
	struct mig_run m, z, s;
	unsigned char *p;
	int r;

	if (missing)
		snprintf(lwhy, sizeof(lwhy), "%s", missing);
	if (!have_ctl)
		snprintf(why, sizeof(why), "%s", peers_only ?
			 "BENCH_ONLY=peers" : "no partmobctl in the guest");
	for (r = 0; r < PMB_RUNS; r++) {
		if (!lwhy[0])
			iperf3_run(link_secs, &link[r], &link_cpu[r], lwhy,
				   sizeof(lwhy));
		peers_bulk_run(size, 1000 + r, &peers, r);
		if (!kwhy[0])
			klink[r] = ktls_link_run(size < (256 << 20) ? size :
						 256 << 20, kwhy, sizeof(kwhy));
		if (!have_ctl)
			continue;
		p = source(size, FILL_RANDOM, 1, 1000 + r);
		migrate(SRC, DST, NULL, &m);
		check_and_delete(p, size, 1, &m);
		if (m.why[0] && !why[0])
			snprintf(why, sizeof(why), "%s", m.why);
		bulk[r] = size / 1e6 / m.wall_s;
		idle[r] = m.downtime_ms;
		cpu[r] = m.cpu_s / ((double)size / (1 << 30));

		p = source(size, FILL_RANDOM, 1, 1000 + r);
		migrate(SRC, DST, one, &s);
		check_and_delete(p, size, 1, &s);
		if (s.why[0] && !swhy[0])
			snprintf(swhy, sizeof(swhy), "%s", s.why);
		multi[r] = size / 1e6 / s.wall_s;
		multi_cpu[r] = s.cpu_s / ((double)size / (1 << 30));

		p = source(size, FILL_ZERO, 1, 0);
		migrate(SRC, DST, NULL, &z);
		check_and_delete(p, size, 1, &z);
		if (z.why[0] && !zwhy[0])
			snprintf(zwhy, sizeof(zwhy), "%s", z.why);
		zero[r] = m.wall_s / z.wall_s;

		/* The same region over TLS (kTLS), right after the plain one. */
		p = source(size, FILL_RANDOM, 1, 1000 + r);
		migrate_sec(SRC, DST, NULL, 1, &s);
		check_and_delete(p, size, 1, &s);
		if (s.why[0] && !twhy[0])
			snprintf(twhy, sizeof(twhy), "%s", s.why);
		tls[r] = size / 1e6 / s.wall_s;
		ratio[r] = tls[r] / bulk[r];
	}
	emit_unless("link_iperf3_mbps", link, lwhy);
	emit_unless("iperf3_cpu_s_per_gib", link_cpu, lwhy);
	emit_unless("ktls_link_mbps", klink, kwhy);
	peers_bulk_emit(&peers);
	if (why[0]) {
		emit_skip("partmob_bulk_mbps", why);
		emit_skip("partmob_one_stream_bulk_mbps", why);
		emit_skip("partmob_one_stream_cpu_s_per_gib", why);
		emit_skip("partmob_tls_bulk_mbps", why);
		emit_skip("tls_ratio", why);
		emit_skip("partmob_idle_downtime_ms", why);
		emit_skip("partmob_cpu_s_per_gib", why);
		emit_skip("zero_speedup", why);
		return 0;
	}
	emit("partmob_bulk_mbps", bulk);
	emit_unless("partmob_one_stream_bulk_mbps", multi, swhy);
	emit_unless("partmob_one_stream_cpu_s_per_gib", multi_cpu, swhy);
	emit_unless("partmob_tls_bulk_mbps", tls, twhy);
	emit_unless("tls_ratio", ratio, twhy);
	emit("partmob_idle_downtime_ms", idle);
	emit("partmob_cpu_s_per_gib", cpu);
	emit_unless("zero_speedup", zero, zwhy);
	return bulk[PMB_RUNS / 2];
}

void wloop_init(struct wloop *w, unsigned char *p, size_t hot, double rate)
{
	w->p = p;
	w->x = 88172645463325252ULL;
	w->n = 0;
	w->hp = hot / ps;
	w->words = ps / 8;
	w->rate = rate;
	w->cap = rate / ps / 20 + 1;	/* never more than 50 ms behind */
	w->t0 = now();
}

void wloop_step(struct wloop *w)
{
	uint64_t want = (now() - w->t0) * w->rate / ps;

	if (want > w->n + w->cap)
		w->n = want - w->cap;
	while (w->n < want) {
		xorshift(&w->x);
		((volatile uint64_t *)(w->p + (w->x % w->hp) * ps))
			[(w->x >> 32) % w->words] = w->x;
		w->n++;
	}
}

/*
 * A writer process dirtying random pages of the first @hot bytes of @p at
 * @rate bytes per second (a page counts once per write), until killed.
 * It blocks at the freeze and stays blocked on the retired source.
 */
static pid_t writer(unsigned char *p, size_t hot, double rate,
		    volatile uint64_t *written)
{
	struct timespec tick = { 0, 1000 * 1000 };
	struct wloop w;
	pid_t pid = fork();

	if (pid)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	wloop_init(&w, p, hot, rate);
	for (;;) {
		wloop_step(&w);
		*written = w.n;
		nanosleep(&tick, NULL);
	}
}

static void bench_dirty(uint64_t size, size_t hot, double bulk_mbps)
{
	const char *const extra[] = { "--downtime-limit", "50", NULL };
	double down[PMB_RUNS], total[PMB_RUNS], rate = bulk_mbps * 1e6 / 4;
	volatile uint64_t *written;
	struct mig_run m;
	unsigned char *p;
	uint64_t w0;
	pid_t pid;
	int r, st;

	if (bulk_mbps <= 0) {
		emit_skip("partmob_downtime_ms", "no partmob_bulk_mbps to set the writer's rate from");
		emit_skip("partmob_total_s", "no partmob_bulk_mbps to set the writer's rate from");
		return;
	}
	written = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (written == MAP_FAILED)
		die("mmap");
	progress("writer: %.0f MB/s (25%% of %.0f) on a %zu MiB hot set",
		 rate / 1e6, bulk_mbps, hot >> 20);
	for (r = 0; r < PMB_RUNS; r++) {
		p = source(size, FILL_RANDOM, 1, 2000 + r);
		*written = 0;
		pid = writer(p, hot, rate, written);
		if (pid < 0)
			die("fork");
		pm_sleep_ms(500);
		w0 = *written;
		migrate(SRC, DST, extra, &m);
		progress("writer wrote %.0f MB/s during the migration",
			 (*written - w0) * (double)ps / 1e6 / m.wall_s);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		check_and_delete(p, size, 1, &m);
		if (m.why[0]) {
			emit_skip("partmob_downtime_ms", m.why);
			emit_skip("partmob_total_s", m.why);
			munmap((void *)written, 4096);
			return;
		}
		down[r] = m.downtime_ms;
		total[r] = m.wall_s;
	}
	munmap((void *)written, 4096);
	emit("partmob_downtime_ms", down);
	emit("partmob_total_s", total);
}

static void bench_sparse(uint64_t big, uint64_t touched)
{
	size_t step = big / touched;
	double ratio[PMB_RUNS];
	struct mig_run f, s;
	unsigned char *p;
	int r;

	for (r = 0; r < PMB_RUNS; r++) {
		p = source(touched, FILL_RANDOM, 1, 3000 + r);
		migrate(SRC, DST, NULL, &f);
		check_and_delete(p, touched, 1, &f);

		p = source(big, FILL_SPARSE, step, 4000 + r);
		migrate(SRC, DST, NULL, &s);
		/* the touched pages, and the untouched ones of one stretch */
		check_and_delete(p, big, step, &s);
		if (f.why[0] || s.why[0]) {
			emit_skip("sparse_ratio", f.why[0] ? f.why : s.why);
			return;
		}
		ratio[r] = s.wall_s / f.wall_s;
	}
	emit("sparse_ratio", ratio);
}

/* Leave out the keys from the @from-th on (0: all of them). */
static void skip_all(int from, const char *why)
{
	static const char *const keys[] = {
		"link_iperf3_mbps", "iperf3_cpu_s_per_gib", "partmob_bulk_mbps",
		"partmob_tls_bulk_mbps", "tls_ratio", "partmob_idle_downtime_ms", "partmob_cpu_s_per_gib",
		"zero_speedup", "partmob_downtime_ms", "partmob_total_s",
		"sparse_ratio",
	};
	size_t i;

	for (i = from; i < sizeof(keys) / sizeof(keys[0]); i++)
		emit_skip(keys[i], why);
}

/*
 * Start perf (the host's, Debian's linux-perf, through /host) sampling
 * every CPU of the guest: cpu-clock, the one event TCG has, 999 Hz.
 */
int perf_start(struct pm_proc *p)
{
	char *argv[] = { "ld.so", "--library-path", HOST_LIBS, HOST_PERF,
			 "record", "-a", "-e", "cpu-clock", "-F", "999", "-o",
			 PERF_DATA, NULL };
	struct stat st;
	int ret = spawn_in_ns(p, -1, 0, HOST_LDSO, argv), i;

	/*
	 * perf, read over 9p and run under TCG, takes seconds to start: it
	 * samples once its data file has a header.
	 */
	for (i = 0; !ret && i < 600; i++) {
		if (!stat(PERF_DATA, &st) && st.st_size > 0)
			break;
		usleep(100000);
	}
	sleep(1);
	return ret;
}

/*
 * Stop @p, print the symbols over 1% of the samples under @title; with
 * @comm, only that command's over 0.2%.
 */
void perf_report(struct pm_proc *p, const char *title, const char *comm)
{
	char *argv[] = { "ld.so", "--library-path", HOST_LIBS, HOST_PERF,
			 "report", "-i", PERF_DATA, "--stdio", "--sort",
			 "comm,dso,sym", "--percent-limit", comm ? "0.2" : "1",
			 comm ? "--comms" : NULL, (char *)comm, NULL };
	struct pm_proc r;
	char *out;

	kill(p->pid, SIGINT);
	proc_wait_exact(p, 60000);
	if (p->status)
		printf("perf record: exit %d: %s\n", p->status, last_line(p->err));
	printf("### partmob-profile-begin %s\n", title);
	if (spawn_in_ns(&r, -1, 0, HOST_LDSO, argv) ||
	    proc_wait_exact(&r, 300000)) {
		printf("perf report did not run: %s\n", last_line(r.err));
	} else {
		out = slurp(r.outpath);
		fputs(out, stdout);
		free(out);
	}
	printf("### partmob-profile-end %s\n", title);
	fflush(stdout);
	unlink(PERF_DATA);
}

/*
 * pmbench profile (make bench BENCH_PROFILE=1): where the CPU goes, source
 * and destination together, in one partmob migration of @size random
 * bytes (plain TCP, as partmob_bulk_mbps), in one of a 16 times larger
 * region with every 64th page touched (as sparse_ratio's) and in iperf3
 * over the same veth, each under perf. No figures: the profiles are
 * printed.
 */
void bench_profile(uint64_t size)
{
	struct pm_proc perf;
	struct mig_run m;
	char why[300] = "";
	double mbps, cpu;
	unsigned char *p;
	const char *missing = iperf3_missing();

	if (access(HOST_PERF, X_OK)) {
		progress("no perf on the host (%s): install linux-perf there",
			 HOST_PERF + 5);
		return;
	}
	if (pm_hosts_setup(&hosts))
		die(hosts.err);
	p = source(size, FILL_RANDOM, 1, 1000);
	if (perf_start(&perf))
		die("perf record");
	migrate(SRC, DST, NULL, &m);
	perf_report(&perf, "partmob", NULL);
	check_and_delete(p, size, 1, &m);
	progress("partmob: %.0f MB/s, %.2f CPU s/GiB%s%s",
		 size / 1e6 / m.wall_s, m.cpu_s / ((double)size / (1 << 30)),
		 m.why[0] ? ": " : "", m.why);
	/* sparse_ratio's numerator: every 64th page of a 16x larger region */
	p = source(size * 16, FILL_SPARSE, 64, 4000);
	if (perf_start(&perf))
		die("perf record");
	migrate(SRC, DST, NULL, &m);
	perf_report(&perf, "partmob-sparse", NULL);
	check_and_delete(p, size * 16, 64, &m);
	progress("partmob sparse: %.2f s for %llu MiB touched of %llu MiB%s%s",
		 m.wall_s, (unsigned long long)(size >> 20) / 4,
		 (unsigned long long)(size >> 20) * 16,
		 m.why[0] ? ": " : "", m.why);
	if (!missing) {
		if (perf_start(&perf))
			die("perf record");
		iperf3_run(10, &mbps, &cpu, why, sizeof(why));
		perf_report(&perf, "iperf3", NULL);
		if (why[0])
			progress("iperf3: %s", why);
	}
	pm_hosts_close(&hosts);
}

void bench_migration(void)
{
	const char *ctl = getenv("PARTMOBCTL");
	uint64_t gib = small ? 256ULL << 20 : 1ULL << 30;
	double bulk;
	int ret, have_ctl;

	progress("memcpy");
	bench_memcpy(gib);
	progress("openssl speed -evp aes-128-gcm");
	bench_aes();
	if (pm_write_psk(PSK_FILE, "pmbench", 1))
		die("cannot write " PSK_FILE);
	ret = pm_hosts_setup(&hosts);
	if (ret) {
		skip_all(0, hosts.err);
		emit_skip("ktls_link_mbps", hosts.err);
		peers_skip_all(hosts.err);
		return;
	}
	have_ctl = !peers_only &&
		   !access(ctl ? ctl : "/usr/sbin/partmobctl", X_OK);
	progress("iperf3, CRIU, QEMU, partmob bulk and zero pages, %llu MiB",
		 (unsigned long long)gib >> 20);
	bulk = bench_bulk_zero(gib, small ? 3 : 10, have_ctl);
	if (peers_only) {
		/* for a look at the peers alone: the rate of the design notes */
		progress("CRIU, a writer at 50 MB/s on a hot set (BENCH_ONLY=peers)");
		bench_criu_dirty(gib, 64 << 20, 50e6);
		goto out;
	}
	if (!have_ctl) {
		skip_all(8, "no partmobctl in the guest");
		bench_criu_dirty(gib, 64 << 20, 0);
		goto out;
	}
	progress("writer on a hot set, --downtime-limit 50");
	bench_dirty(gib, 64 << 20, bulk);
	progress("CRIU, the same writer on a hot set");
	bench_criu_dirty(gib, 64 << 20, bulk * 1e6 / 4);
	progress("sparse");
	bench_sparse(small ? 4ULL << 30 : 16ULL << 30,
		     small ? 64ULL << 20 : 256ULL << 20);
out:
	unlink(PSK_FILE);
	pm_hosts_close(&hosts);
}
