// SPDX-License-Identifier: GPL-2.0
/*
 * pmbench, the peers: CRIU and QEMU moving the same bytes as partmob over
 * the same veth (A -> B, see migbench.c), run as their users run them,
 * from the host's root (/host). Both ends share this guest's kernel, so
 * the CPU figures (/proc/stat, every CPU) add source and destination up.
 *
 * CRIU (the host's /usr/sbin/criu, through the host's loader), its
 * canonical iterative migration of a process: in B `criu page-server`,
 * in A `criu pre-dump --track-mem --page-server`, then again a page
 * server (--prev-images-dir) and `criu dump --track-mem --prev-images-dir
 * --page-server`, the remaining images copied from A's directory to B's,
 * and `criu restore --restore-detached` in B. The process is this program
 * run as `pmbench criu-workload`: SIZE bytes of anonymous memory filled
 * by fill_random() (MADV_NOHUGEPAGE, so that CRIU tracks 4 KiB pages as
 * partmob does), an optional writer on a hot set, and a heartbeat in a
 * shared file through which it reports how long it stood still and, on
 * request, a checksum of its cold memory.
 *   criu_bulk_mbps        SIZE / time of the first pre-dump
 *   criu_cpu_s_per_gib    its CPU seconds per GiB
 *   criu_downtime_ms      with the writer of partmob_downtime_ms: the
 *                         longest the process stood still, i.e. the
 *                         final dump's freeze until it runs again in B
 *   criu_total_s          first pre-dump to running again in B
 *
 * QEMU (the host's /usr/bin/qemu-system-x86_64, chrooted into /host):
 * a paused (-S) TCG pc guest whose SIZE of RAM is a memory-backend-file
 * (share=off) over a file of the same bytes, migrated over QMP (qmp.c)
 * to `-incoming defer` in B with max-bandwidth unlimited, once as one
 * stream and once with multifd (2 channels).
 *   qemu_bulk_mbps, qemu_multifd_mbps   SIZE / time from `migrate` until
 *                         both ends report completed
 *   qemu_cpu_s_per_gib    CPU seconds per GiB, one stream
 *   qemu_downtime_ms      QEMU's own "downtime", one stream
 * Every CRIU migration checks the restored memory's checksum and every
 * QEMU one compares windows of the destination's RAM (pmemsave) with the
 * file; a run that fails leaves its keys out with the reason.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "qmp.h"
#include "pmbench.h"

/* /host/lib64/ld-linux-x86-64.so.2 is an absolute link: not that one. */
#define HOST_LDSO "/host/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
#define HOST_LIBS "/host/lib/x86_64-linux-gnu:/host/usr/lib/x86_64-linux-gnu"
#define HOST_CRIU "/host/usr/sbin/criu"
/* QEMU runs chrooted into /host: paths as the host sees them. */
#define QEMU_BIN "/usr/bin/qemu-system-x86_64"
#define QEMU_BIOS "/usr/share/seabios/bios-256k.bin"
#define QEMU_IMG "/tmp/pmb-qemu.img"
#define QEMU_CHECK "/tmp/pmb-qemu.check"

#define CRIU_DIR "/tmp/pmb-criu"
#define BEAT_FILE CRIU_DIR "/beat"
#define PEER_TIMEOUT_S 600

/* ---- the process CRIU migrates ---------------------------------------------- */

/* Shared between pmbench and its workload through BEAT_FILE. */
struct beat {
	volatile uint64_t ready;	/* memory filled */
	volatile uint64_t beats;	/* loop iterations */
	volatile uint64_t max_gap_ns;	/* longest pause between two */
	volatile uint64_t sum;		/* checksum of the cold memory */
	volatile uint64_t check_req, check_done, check_sum;
	volatile uint64_t written;	/* pages written by the writer */
};

static uint64_t checksum(const unsigned char *p, size_t bytes)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t s = 0;
	size_t i;

	for (i = 0; i < bytes / 8; i++)
		s = (s ^ w[i]) * 0x100000001b3ULL;
	return s;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * pmbench criu-workload SIZE SEED HOT RATE: never returns. Its own
 * session, no parent-death signal (CRIU restores it under criu, which
 * exits), stdio on /dev/null, nothing but memory and the heartbeat file.
 */
int criu_workload(int argc, char **argv)
{
	struct timespec tick = { 0, 1000 * 1000 };
	uint64_t size, seed, last, t, gap;
	size_t hot;
	double rate;
	unsigned char *p;
	struct beat *b;
	struct wloop w;
	int fd;

	if (argc != 6)
		return 2;
	size = strtoull(argv[2], NULL, 0);
	seed = strtoull(argv[3], NULL, 0);
	hot = strtoull(argv[4], NULL, 0);
	rate = strtod(argv[5], NULL);
	prctl(PR_SET_PDEATHSIG, 0);
	setsid();
	fd = open(BEAT_FILE, O_RDWR);
	b = fd < 0 ? MAP_FAILED : mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE,
				       MAP_SHARED, fd, 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED || p == MAP_FAILED)
		return 3;
	close(fd);
	madvise(p, size, MADV_NOHUGEPAGE);
	fill_random(p, size, seed);
	b->sum = checksum(p + hot, size - hot);
	fd = open("/dev/null", O_RDWR);
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	if (rate > 0)
		wloop_init(&w, p, hot, rate);
	b->ready = 1;
	last = now_ns();
	for (;;) {
		if (rate > 0) {
			wloop_step(&w);
			b->written = w.n;
		}
		if (b->check_req != b->check_done) {
			b->check_sum = checksum(p + hot, size - hot);
			b->check_done = b->check_req;
		}
		t = now_ns();
		gap = t - last;
		last = t;
		if (gap > b->max_gap_ns)
			b->max_gap_ns = gap;
		b->beats++;
		nanosleep(&tick, NULL);
	}
}

/* ---- CRIU ------------------------------------------------------------------ */

const char *criu_missing(void)
{
	if (access("/host/usr", F_OK))
		return "no /host (the host's root over 9p) in this guest to run criu from";
	if (access(HOST_CRIU, X_OK))
		return "criu is not installed on the host (the guest runs the host's /usr/sbin/criu; deps.sh installs it)";
	if (access(HOST_LDSO, X_OK))
		return "no /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 on the host to run its criu with";
	return NULL;
}

/* What CRIU needs loaded: nf_tables for its network lock, the socket diags. */
static void criu_modules(void)
{
	static const char *const mods[] = {
		"crc32c_generic", "nfnetlink", "nf_tables", "unix_diag", "inet_diag", "tcp_diag",
		"netlink_diag", "af_packet_diag",
	};
	char cmd[80];
	unsigned int i;

	for (i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		snprintf(cmd, sizeof(cmd), "modprobe -q %s 2>/dev/null", mods[i]);
		if (system(cmd))
			progress("criu: no module %s in the guest", mods[i]);
	}
}

/* Run criu @args (NULL-terminated) in namespace @ns. */
static int criu_spawn(struct pm_proc *p, int ns, const char *const *args)
{
	char *argv[40] = { "ld.so", "--library-path", HOST_LIBS, HOST_CRIU };
	int n = 4;

	while (*args && n < 39)
		argv[n++] = (char *)*args++;
	argv[n] = NULL;
	return spawn_in_ns(p, ns, 0, HOST_LDSO, argv);
}

/* Wait for @p (criu) to exit 0; else say why in @why. */
static int criu_wait(struct pm_proc *p, const char *what, char *why,
		     size_t whylen)
{
	if (proc_wait_exact(p, PEER_TIMEOUT_S * 1000)) {
		snprintf(why, whylen, "criu %s still running after %d s", what,
			 PEER_TIMEOUT_S);
		pm_proc_stop(p, SIGKILL);
		return -1;
	}
	if (p->status) {
		snprintf(why, whylen, "criu %s exit %d: %s", what, p->status,
			 last_line(p->err));
		progress("criu %s failed; its stderr:\n%s", what, p->err);
		return -1;
	}
	return 0;
}

/*
 * One page-server round: `criu page-server` in B writing into @dst_dir
 * (parent @prev if not NULL), @action (pre-dump or dump) of @pid in A
 * from @src_dir. Fills *@secs with the action's wall time.
 */
static int criu_round(const char *action, pid_t pid, const char *src_dir,
		      const char *dst_dir, const char *prev, double *secs,
		      char *why, size_t whylen)
{
	char port[16], tree[16];
	const char *ps[] = { "page-server", "--images-dir", dst_dir, "--address",
			     PM_HOST_B_ADDR, "--port", port, NULL, NULL, NULL };
	const char *cl[] = { action, "--tree", tree, "--images-dir", src_dir,
			     "--track-mem", "--page-server", "--address",
			     PM_HOST_B_ADDR, "--port", port, NULL, NULL, NULL };
	struct pm_proc s, c;
	double t0;
	int ret;

	snprintf(port, sizeof(port), "%d", next_port++);
	snprintf(tree, sizeof(tree), "%d", pid);
	if (prev) {
		ps[7] = cl[11] = "--prev-images-dir";
		ps[8] = cl[12] = prev;
	}
	if (criu_spawn(&s, hosts.ns[1], ps) ||
	    pm_wait_listening(s.pid, atoi(port), 30000)) {
		pm_proc_wait(&s, 1000);
		pm_proc_read(&s);
		snprintf(why, whylen, "criu page-server did not listen: %s",
			 last_line(s.err));
		pm_proc_stop(&s, SIGKILL);
		return -1;
	}
	t0 = now();
	ret = criu_spawn(&c, hosts.ns[0], cl);
	if (ret)
		snprintf(why, whylen, "cannot run criu: %s", strerror(-ret));
	else
		ret = criu_wait(&c, action, why, whylen);
	*secs = now() - t0;
	if (!ret)
		ret = criu_wait(&s, "page-server", why, whylen);
	pm_proc_stop(&c, SIGKILL);
	pm_proc_stop(&s, SIGKILL);
	return ret;
}

static void rm_rf(const char *path)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", path);
	if (system(cmd))
		progress("cannot remove %s", path);
}

/* Copy the files of @from that @to lacks (what an operator's scp does). */
static int copy_images(const char *from, const char *to)
{
	char src[300], dst[300], buf[65536];
	struct dirent *d;
	struct stat st;
	DIR *dir = opendir(from);
	int in, out, ret = 0;
	ssize_t n;

	if (!dir)
		return -1;
	while ((d = readdir(dir)) && !ret) {
		snprintf(src, sizeof(src), "%s/%s", from, d->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, d->d_name);
		if (lstat(src, &st) || !S_ISREG(st.st_mode) ||
		    !access(dst, F_OK))
			continue;
		in = open(src, O_RDONLY);
		out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
		while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, n) != n)
				ret = -1;
		if (in < 0 || out < 0)
			ret = -1;
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
	}
	closedir(dir);
	return ret;
}

struct criu_run {
	double predump_s, cpu_s;	/* the first pre-dump */
	double downtime_ms, total_s;	/* a whole migration */
	char why[400];
};

/*
 * The workload of @size bytes (seed @seed) with a writer at @rate on the
 * first @hot bytes (@rate 0: none), pre-dumped once to B; if @migrate,
 * then dumped and restored in B, its downtime measured and its memory
 * checked there.
 */
static void criu_run(uint64_t size, uint64_t seed, size_t hot, double rate,
		     int migrate, struct criu_run *r)
{
	char self[256], a[5][32], pidfile[64], line[32];
	char *wargv[] = { "pmbench", "criu-workload", a[0], a[1], a[2], a[3],
			  NULL };
	const char *rs[] = { "restore", "--images-dir", CRIU_DIR "/dst/2",
			     "--restore-detached", "--pidfile", pidfile, NULL };
	struct pm_proc w, rp;
	struct beat *b = MAP_FAILED;
	uint64_t beats, req;
	pid_t restored = 0;
	double c0, t0, td, secs;
	ssize_t n;
	int fd, i;

	memset(r, 0, sizeof(*r));
	memset(&w, 0, sizeof(w));
	rm_rf(CRIU_DIR);
	if (mkdir(CRIU_DIR, 0700) || mkdir(CRIU_DIR "/src", 0700) ||
	    mkdir(CRIU_DIR "/dst", 0700) || mkdir(CRIU_DIR "/src/1", 0700) ||
	    mkdir(CRIU_DIR "/src/2", 0700) || mkdir(CRIU_DIR "/dst/1", 0700) ||
	    mkdir(CRIU_DIR "/dst/2", 0700)) {
		snprintf(r->why, sizeof(r->why), "mkdir %s: %s", CRIU_DIR,
			 strerror(errno));
		return;
	}
	fd = open(BEAT_FILE, O_RDWR | O_CREAT, 0600);
	if (fd >= 0 && !ftruncate(fd, 4096))
		b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE, MAP_SHARED,
			 fd, 0);
	if (fd >= 0)
		close(fd);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (b == MAP_FAILED || n <= 0) {
		snprintf(r->why, sizeof(r->why), "heartbeat file or /proc/self/exe");
		goto out;
	}
	self[n] = '\0';
	snprintf(a[0], sizeof(a[0]), "%llu", (unsigned long long)size);
	snprintf(a[1], sizeof(a[1]), "%llu", (unsigned long long)seed);
	snprintf(a[2], sizeof(a[2]), "%zu", hot);
	snprintf(a[3], sizeof(a[3]), "%.0f", rate);
	snprintf(pidfile, sizeof(pidfile), "%s/restored.pid", CRIU_DIR);
	if (spawn_in_ns(&w, hosts.ns[0], 0, self, wargv)) {
		snprintf(r->why, sizeof(r->why), "cannot start the workload");
		goto out;
	}
	for (i = 0; !b->ready && i < 6000 && pm_proc_alive(&w); i++)
		pm_sleep_ms(20);
	if (!b->ready) {
		snprintf(r->why, sizeof(r->why), "the workload did not fill its memory");
		goto out;
	}
	pm_sleep_ms(500);	/* the writer at its pace */

	c0 = cpu_s();
	t0 = now();
	if (criu_round("pre-dump", w.pid, CRIU_DIR "/src/1", CRIU_DIR "/dst/1",
		       NULL, &r->predump_s, r->why, sizeof(r->why)))
		goto out;
	r->cpu_s = cpu_s() - c0;
	progress("criu pre-dump of %llu MiB: %.2f s, cpu %.2f s",
		 (unsigned long long)size >> 20, r->predump_s, r->cpu_s);
	if (!migrate)
		goto out;

	b->max_gap_ns = 0;
	td = now();
	if (criu_round("dump", w.pid, CRIU_DIR "/src/2", CRIU_DIR "/dst/2",
		       "../1", &secs, r->why, sizeof(r->why)))
		goto out;
	/* the dump killed it; reaped, its pid is free for the restore */
	pm_proc_wait(&w, 10000);
	if (copy_images(CRIU_DIR "/src/2", CRIU_DIR "/dst/2")) {
		snprintf(r->why, sizeof(r->why), "copying the images failed");
		goto out;
	}
	beats = b->beats;
	if (criu_spawn(&rp, hosts.ns[1], rs)) {
		snprintf(r->why, sizeof(r->why), "cannot run criu restore");
		goto out;
	}
	if (criu_wait(&rp, "restore", r->why, sizeof(r->why))) {
		pm_proc_stop(&rp, SIGKILL);
		goto out;
	}
	pm_proc_stop(&rp, SIGKILL);
	fd = open(pidfile, O_RDONLY);
	n = fd >= 0 ? read(fd, line, sizeof(line) - 1) : -1;
	if (fd >= 0)
		close(fd);
	restored = n > 0 ? (line[n] = '\0', atoi(line)) : 0;
	for (i = 0; b->beats == beats && i < 3000; i++)
		pm_sleep_ms(10);
	r->total_s = now() - t0;
	if (b->beats == beats) {
		snprintf(r->why, sizeof(r->why), "the restored process does not run");
		goto out;
	}
	r->downtime_ms = b->max_gap_ns / 1e6;
	progress("criu dump + copy + restore: %.2f s; the process stood still %.0f ms; %.0f MB/s written by its writer",
		 now() - td, r->downtime_ms, b->written * (double)ps / 1e6 / r->total_s);
	req = ++b->check_req;
	for (i = 0; b->check_done != req && i < 6000; i++)
		pm_sleep_ms(20);
	if (b->check_done != req || b->check_sum != b->sum)
		snprintf(r->why, sizeof(r->why),
			 "the restored process's memory differs from the source's (checksum %s)",
			 b->check_done == req ? "differs" : "not computed");
out:
	if (r->why[0])
		progress("CRIU FAILED: %s", r->why);
	if (restored > 0) {
		kill(restored, SIGKILL);
		waitpid(restored, NULL, 0);	/* we are its subreaper */
	}
	pm_proc_stop(&w, SIGKILL);
	if (b != MAP_FAILED)
		munmap(b, sizeof(*b));
	rm_rf(CRIU_DIR);
}

int criu_bulk_run(uint64_t size, uint64_t seed, double *mbps,
		  double *cpu_per_gib, char *why, size_t whylen)
{
	static int loaded;
	struct criu_run r;

	if (!loaded++)
		criu_modules();
	criu_run(size, seed, 0, 0, 0, &r);
	if (r.why[0]) {
		snprintf(why, whylen, "%s", r.why);
		return -1;
	}
	*mbps = size / 1e6 / r.predump_s;
	*cpu_per_gib = r.cpu_s / ((double)size / (1 << 30));
	return 0;
}

void bench_criu_dirty(uint64_t size, size_t hot, double rate)
{
	double down[PMB_RUNS], total[PMB_RUNS];
	const char *missing = criu_missing();
	struct criu_run r;
	int i;

	if (missing || rate <= 0) {
		missing = missing ? missing : "no partmob_bulk_mbps to set the writer's rate from";
		emit_skip("criu_downtime_ms", missing);
		emit_skip("criu_total_s", missing);
		return;
	}
	for (i = 0; i < PMB_RUNS; i++) {
		criu_run(size, 5000 + i, hot, rate, 1, &r);
		if (r.why[0]) {
			emit_skip("criu_downtime_ms", r.why);
			emit_skip("criu_total_s", r.why);
			return;
		}
		down[i] = r.downtime_ms;
		total[i] = r.total_s;
	}
	emit("criu_downtime_ms", down);
	emit("criu_total_s", total);
}

/* ---- QEMU ------------------------------------------------------------------ */

const char *qemu_missing(void)
{
	if (access("/host/usr", F_OK))
		return "no /host (the host's root over 9p) in this guest to run QEMU from";
	if (access("/host" QEMU_BIN, X_OK))
		return "qemu-system-x86_64 is not installed on the host";
	if (access("/host" QEMU_BIOS, R_OK))
		return "no " QEMU_BIOS " on the host";
	return NULL;
}

/* The RAM image: @size bytes of fill_random(@seed), in /tmp. */
int qemu_image(uint64_t size, uint64_t seed)
{
	int fd = open(QEMU_IMG, O_RDWR | O_CREAT | O_TRUNC, 0600);
	void *p = MAP_FAILED;

	if (fd >= 0 && !ftruncate(fd, size))
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fd >= 0)
		close(fd);
	if (p == MAP_FAILED) {
		unlink(QEMU_IMG);
		return -1;
	}
	fill_random(p, size, seed);
	munmap(p, size);
	return 0;
}

void qemu_image_remove(void)
{
	unlink(QEMU_IMG);
}

struct qemu_end {
	struct pm_proc p;
	struct qmp q;
	char sock[64];
};

/* Start QEMU in namespace @ns, the source (RAM from the image) or not. */
static int qemu_start(struct qemu_end *e, int ns, int source, uint64_t size,
		      char *why, size_t whylen)
{
	char mem[32], obj[200], qmp[100];
	char *argv[] = { QEMU_BIN, "-accel", "tcg", "-S", "-display", "none",
			 "-nodefaults", "-no-user-config", "-serial", "none",
			 "-monitor", "none", "-m", mem, "-machine",
			 "pc,memory-backend=m", "-object", obj, "-qmp", qmp,
			 source ? NULL : "-incoming", "defer", NULL };
	int ret;

	snprintf(e->sock, sizeof(e->sock), "/tmp/pmb-qmp-%s.sock",
		 source ? "src" : "dst");
	unlink(e->sock);
	snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)size >> 20);
	if (source)
		snprintf(obj, sizeof(obj),
			 "memory-backend-file,id=m,size=%s,mem-path=%s,share=off",
			 mem, QEMU_IMG);
	else
		snprintf(obj, sizeof(obj), "memory-backend-ram,id=m,size=%s", mem);
	snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", e->sock);
	e->q.fd = -1;
	if (spawn_in_ns(&e->p, ns, 1, QEMU_BIN, argv)) {
		snprintf(why, whylen, "cannot start QEMU");
		return -1;
	}
	ret = qmp_open(&e->q, e->sock, 60000);
	if (ret) {
		pm_proc_wait(&e->p, 1000);
		pm_proc_read(&e->p);
		snprintf(why, whylen, "QMP of the %s QEMU: %s (stderr: %s)",
			 source ? "source" : "destination", e->q.error,
			 last_line(e->p.err));
		return -1;
	}
	return 0;
}

static void qemu_stop(struct qemu_end *e)
{
	if (e->q.fd >= 0 && !qmp_execute(&e->q, "quit", NULL, NULL))
		pm_proc_wait(&e->p, 10000);
	qmp_close(&e->q);
	pm_proc_stop(&e->p, SIGKILL);
	unlink(e->sock);
}

/* migrate-set-capabilities and -parameters on one end. */
static int qemu_setup(struct qemu_end *e, int multifd)
{
	char caps[200];
	int ret;

	snprintf(caps, sizeof(caps),
		 "{\"capabilities\": [{\"capability\": \"events\", \"state\": true},"
		 " {\"capability\": \"multifd\", \"state\": %s}]}",
		 multifd ? "true" : "false");
	ret = qmp_execute(&e->q, "migrate-set-capabilities", caps, NULL);
	if (!ret)
		ret = qmp_execute(&e->q, "migrate-set-parameters",
				  "{\"max-bandwidth\": 100000000000, \"multifd-channels\": 2}",
				  NULL);
	return ret;
}

/* Wait for a MIGRATION event saying completed (or failed). */
static int qemu_wait_done(struct qemu_end *e, char *status, size_t n)
{
	char *ev;
	int ret;

	for (;;) {
		ret = qmp_wait_event(&e->q, "MIGRATION", PEER_TIMEOUT_S * 1000,
				     &ev);
		if (ret)
			return ret;
		ret = qmp_json_string(ev, "data.status", status, n);
		free(ev);
		if (ret)
			return ret;
		if (!strcmp(status, "completed"))
			return 0;
		if (!strcmp(status, "failed") || !strcmp(status, "cancelled"))
			return -EIO;
	}
}

/* Windows of the destination's RAM, as pmemsave writes them, vs the image. */
static int qemu_compare(struct qemu_end *dst, uint64_t size, char *why,
			size_t whylen)
{
	const uint64_t win = 1 << 20;
	uint64_t at[3] = { 16 << 20, size / 2, size - win };
	char args[200], *a = malloc(win), *b = malloc(win);
	int i, ret = -1, fi = -1, fc = -1;

	if (!a || !b)
		goto out;
	fi = open(QEMU_IMG, O_RDONLY);
	for (i = 0; i < 3; i++) {
		unlink(QEMU_CHECK);
		snprintf(args, sizeof(args),
			 "{\"val\": %llu, \"size\": %llu, \"filename\": \"%s\"}",
			 (unsigned long long)at[i], (unsigned long long)win,
			 QEMU_CHECK);
		if (qmp_execute(&dst->q, "pmemsave", args, NULL)) {
			snprintf(why, whylen, "pmemsave: %s", dst->q.error);
			goto out;
		}
		fc = open(QEMU_CHECK, O_RDONLY);
		if (fi < 0 || fc < 0 ||
		    pread(fi, a, win, at[i]) != (ssize_t)win ||
		    pread(fc, b, win, 0) != (ssize_t)win || memcmp(a, b, win)) {
			snprintf(why, whylen,
				 "the destination's RAM at %llu MiB differs from the source's",
				 (unsigned long long)at[i] >> 20);
			goto out;
		}
		close(fc);
		fc = -1;
	}
	ret = 0;
out:
	if (fc >= 0)
		close(fc);
	if (fi >= 0)
		close(fi);
	unlink(QEMU_CHECK);
	free(a);
	free(b);
	return ret;
}

int qemu_run(uint64_t size, int multifd, double *mbps, double *cpu_per_gib,
	     double *downtime_ms, char *why, size_t whylen)
{
	struct qemu_end src, dst;
	char uri[80], status[32], *ret = NULL;
	double c0, t0, secs, cpu = 0, down = -1;
	long long normal = -1;
	int port = next_port++, i, err = -1;

	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	src.q.fd = dst.q.fd = -1;
	if (qemu_start(&dst, hosts.ns[1], 0, size, why, whylen) ||
	    qemu_start(&src, hosts.ns[0], 1, size, why, whylen))
		goto out;
	if (qemu_setup(&dst, multifd) || qemu_setup(&src, multifd)) {
		snprintf(why, whylen, "migrate-set-*: %s / %s", dst.q.error,
			 src.q.error);
		goto out;
	}
	snprintf(uri, sizeof(uri), "{\"uri\": \"tcp:%s:%d\"}", PM_HOST_B_ADDR,
		 port);
	if (qmp_execute(&dst.q, "migrate-incoming", uri, NULL) ||
	    pm_wait_listening(dst.p.pid, port, 30000)) {
		snprintf(why, whylen, "migrate-incoming: %s",
			 dst.q.error[0] ? dst.q.error : "not listening");
		goto out;
	}
	c0 = cpu_s();
	t0 = now();
	if (qmp_execute(&src.q, "migrate", uri, NULL)) {
		snprintf(why, whylen, "migrate: %s", src.q.error);
		goto out;
	}
	if (qemu_wait_done(&src, status, sizeof(status)) ||
	    qemu_wait_done(&dst, status, sizeof(status))) {
		snprintf(why, whylen, "the migration ended %s (%s / %s)", status,
			 src.q.error, dst.q.error);
		goto out;
	}
	secs = now() - t0;
	cpu = cpu_s() - c0;
	/* QEMU 7.2 may say completed before it fills in the times */
	for (i = 0; i < 100 && down < 0; i++) {
		free(ret);
		ret = NULL;
		if (qmp_execute(&src.q, "query-migrate", NULL, &ret))
			break;
		if (qmp_json_number(ret, "downtime", &down))
			down = -1;
		if (down < 0)
			pm_sleep_ms(20);
	}
	if (down < 0 || !ret || qmp_json_int(ret, "ram.normal", &normal) ||
	    normal < (long long)(size / ps) * 9 / 10) {
		snprintf(why, whylen, "query-migrate after completed: %s",
			 ret ? ret : src.q.error);
		goto out;
	}
	if (qemu_compare(&dst, size, why, whylen))
		goto out;
	*mbps = size / 1e6 / secs;
	*cpu_per_gib = cpu / ((double)size / (1 << 30));
	*downtime_ms = down;
	progress("qemu %s: %.2f s, %.0f MB/s, downtime %.0f ms, %lld pages, cpu %.2f s",
		 multifd ? "multifd(2)" : "one stream", secs, *mbps, down,
		 normal, cpu);
	err = 0;
out:
	if (err)
		progress("QEMU FAILED: %s", why);
	free(ret);
	qemu_stop(&src);
	qemu_stop(&dst);
	return err;
}

/* ---- the bulk runs, alternating with partmob's (migbench.c) ---------------- */

void peers_bulk_run(uint64_t size, uint64_t seed, struct peer_runs *pr,
		    int r)
{
	const char *qm = qemu_missing(), *cm = criu_missing();
	double cpu, down;

	if (r == 0) {
		memset(pr, 0, sizeof(*pr));
		if (cm)
			snprintf(pr->criu_why, sizeof(pr->criu_why), "%s", cm);
		if (qm) {
			snprintf(pr->qemu_why, sizeof(pr->qemu_why), "%s", qm);
			snprintf(pr->multifd_why, sizeof(pr->multifd_why), "%s", qm);
		}
	}
	if (!pr->criu_why[0])
		criu_bulk_run(size, seed, &pr->criu_mbps[r], &pr->criu_cpu[r],
			      pr->criu_why, sizeof(pr->criu_why));
	if (pr->qemu_why[0] && pr->multifd_why[0])
		return;
	if (qemu_image(size, seed)) {
		snprintf(pr->qemu_why, sizeof(pr->qemu_why),
			 "cannot write the RAM image %s: %s", QEMU_IMG,
			 strerror(errno));
		snprintf(pr->multifd_why, sizeof(pr->multifd_why), "%s",
			 pr->qemu_why);
		return;
	}
	if (!pr->qemu_why[0])
		qemu_run(size, 0, &pr->qemu_mbps[r], &pr->qemu_cpu[r],
			 &pr->qemu_down[r], pr->qemu_why, sizeof(pr->qemu_why));
	if (!pr->multifd_why[0])
		qemu_run(size, 1, &pr->multifd_mbps[r], &cpu, &down,
			 pr->multifd_why, sizeof(pr->multifd_why));
	qemu_image_remove();
}

void peers_bulk_emit(struct peer_runs *pr)
{
	if (pr->criu_why[0]) {
		emit_skip("criu_bulk_mbps", pr->criu_why);
		emit_skip("criu_cpu_s_per_gib", pr->criu_why);
	} else {
		emit("criu_bulk_mbps", pr->criu_mbps);
		emit("criu_cpu_s_per_gib", pr->criu_cpu);
	}
	if (pr->qemu_why[0]) {
		emit_skip("qemu_bulk_mbps", pr->qemu_why);
		emit_skip("qemu_cpu_s_per_gib", pr->qemu_why);
		emit_skip("qemu_downtime_ms", pr->qemu_why);
	} else {
		emit("qemu_bulk_mbps", pr->qemu_mbps);
		emit("qemu_cpu_s_per_gib", pr->qemu_cpu);
		emit("qemu_downtime_ms", pr->qemu_down);
	}
	if (pr->multifd_why[0])
		emit_skip("qemu_multifd_mbps", pr->multifd_why);
	else
		emit("qemu_multifd_mbps", pr->multifd_mbps);
}

void peers_skip_all(const char *why)
{
	static const char *const keys[] = {
		"criu_bulk_mbps", "criu_cpu_s_per_gib", "qemu_bulk_mbps",
		"qemu_cpu_s_per_gib", "qemu_downtime_ms", "qemu_multifd_mbps",
		"criu_downtime_ms", "criu_total_s",
	};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		emit_skip(keys[i], why);
}
