// SPDX-License-Identifier: GPL-2.0
/*
 * pmdemo: the guest side of `make demo`, a live migration between two
 * "hosts" told as an administrator would see it on their consoles.
 *
 * The hosts are two network namespaces of this guest, A (10.77.0.1) and
 * B (10.77.0.2), joined by a veth pair (mig_lib.c). They share the one
 * kernel and partmob.ko, so the region arrives on B under another name.
 *
 *   1. A: a region, and pmcounter running in it (its whole state: counters,
 *      logs, a hot set and "guest memory" are in the region);
 *   2. B: partmobctl listen --once --on-resume 'exec pmcounter --resume';
 *   3. A: partmobctl start, under a pseudo-terminal so that its live
 *      progress line shows (partmobctl draws it only on a terminal), then
 *      its summary with the measured downtime;
 *   4. B: the listener's hook starts a new pmcounter on the received region,
 *      which says where it resumed;
 *   5. the check: A's instance is blocked (region frozen, counters still,
 *      threads waiting in the region's fault handler), B's resumed from
 *      exactly A's frozen counters, and every thread's log on B reads
 *      1, 2, ... N with nothing lost or repeated, the first part identical
 *      to A's; the rest of the region arrived byte for byte.
 *
 * Then a second act (x86_64, with the host's QEMU at /host): a KVM guest
 * moves. The tiny counter guest (guest/pmguest.c) runs in the host's
 * qemu-system-x86_64 under KVM (nested SVM in this guest) with its 64 MiB
 * of RAM on a region; B's listener has a --vm-hook that starts the
 * destination QEMU (this program, run as "pmdemo --dest-qemu"); A runs
 * partmobctl start --qmp, whose progress line and guest pause show; the
 * check: the guest goes on counting on B from exactly where it stopped
 * on A, never boots again, finds its memory intact, and A's QEMU quit.
 *
 * Every program's output comes through here, one line at a time, prefixed
 * with the host it runs on ("A| ", "B| "); commands are echoed as "A# ...".
 * partmobctl start's progress line stays the bottom line of the console
 * while other lines scroll above it.
 *
 * Exit status 0 if the migration completed and every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "../mig_lib.h"
#include "pmcounter.h"

#define SRC		"counters"
#define DST		"counters-b"
#define SIZE		"64M"
#define BANDWIDTH	"8M"
#define DOWNTIME_MS	"50"
#define HOOK		"exec pmcounter --resume"
#define VM_SRC		"guest"
#define VM_DST		"guest-b"
#define VM_DIR		"/tmp/pmdemo-vm"
#define VM_PORT		"7781"
#define VM_STEP		16384	/* PMGUEST_STEP: counts between lines */
#define RUN_BEFORE_S	3	/* pmcounter runs on A before the migration */
#define RUN_AFTER_S	3	/* ... and on B before the check */

/* ---- the console ------------------------------------------------------- */

static char status[512];	/* the progress line, "" if none */
static int status_shown;

static void out(const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= w;
	}
}

static void outs(const char *s)
{
	out(s, strlen(s));
}

/* A whole line above the progress line, which is drawn again below it. */
static void line(const char *pfx, const char *text, size_t n)
{
	if (status_shown)
		outs("\r\033[K");
	outs(pfx);
	out(text, n);
	outs("\n");
	status_shown = 0;
	if (status[0]) {
		outs(status);
		status_shown = 1;
	}
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	line("", buf, n);
}

static void set_status(const char *pfx, const char *text)
{
	if (text[0])
		snprintf(status, sizeof(status), "%s%s", pfx, text);
	else
		status[0] = '\0';
	if (status_shown || status[0])
		outs("\r\033[K");
	outs(status);
	status_shown = !!status[0];
}

/* ---- output of the programs ---------------------------------------------- */

struct stream {
	int fd;			/* -1: closed */
	const char *pfx;
	int pty;		/* "\r" starts the line again: a progress line */
	int esc;		/* in an escape sequence */
	char buf[1024];
	size_t len;
};

#define MAX_STREAMS 4
static struct stream *streams[MAX_STREAMS];

static void stream_open(struct stream *s, int fd, const char *pfx, int pty)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->pfx = pfx;
	s->pty = pty;
	for (i = 0; i < MAX_STREAMS; i++)
		if (!streams[i] || streams[i] == s) {
			streams[i] = s;
			break;
		}
}

static void stream_close(struct stream *s)
{
	int i;

	if (s->len) {
		if (s->pty)
			status[0] = '\0';
		line(s->pfx, s->buf, s->len);
	}
	s->len = 0;
	if (s->pty)
		set_status("", "");
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	for (i = 0; i < MAX_STREAMS; i++)
		if (streams[i] == s)
			streams[i] = NULL;
}

static void stream_feed(struct stream *s, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];

		if (s->esc) {		/* ESC [ params final */
			if (s->esc == 1 && c != '[')
				s->esc = 0;
			else if (s->esc == 2 && c >= 0x40 && c <= 0x7e)
				s->esc = 0;
			else
				s->esc = 2;
			continue;
		}
		if (c == '\033') {
			s->esc = 1;
		} else if (c == '\n') {
			if (s->pty)
				status[0] = '\0';
			line(s->pfx, s->buf, s->len);
			s->len = 0;
		} else if (c == '\r') {
			s->len = 0;
		} else if (s->len < sizeof(s->buf) - 1) {
			s->buf[s->len++] = c;
		}
	}
	if (s->pty) {
		s->buf[s->len] = '\0';
		set_status(s->pfx, s->buf);
	}
}

/* ---- processes ------------------------------------------------------------- */

struct child {
	pid_t pid;
	int status;		/* exit code, or 128 + signal */
	int done;
};

static struct child *children[8];
static struct pm_hosts hosts;

static void child_track(struct child *c)
{
	int i;

	for (i = 0; i < 8; i++)
		if (!children[i]) {
			children[i] = c;
			return;
		}
}

static void reap(void)
{
	int status, i;
	pid_t pid;

	/* We are a subreaper: orphans (the hook's pmcounter) come here. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < 8; i++) {
			struct child *c = children[i];

			if (c && c->pid == pid && !c->done) {
				c->done = 1;
				c->status = WIFEXITED(status) ?
					    WEXITSTATUS(status) :
					    128 + WTERMSIG(status);
			}
		}
	}
}

/* Relay the programs' output for @ms milliseconds (or until EOF of all). */
static void pump(int ms)
{
	uint64_t end = pm_now_ms() + ms;

	for (;;) {
		struct pollfd pfd[MAX_STREAMS];
		struct stream *map[MAX_STREAMS];
		int n = 0, i, left = (int)(end - pm_now_ms());
		char buf[4096];

		reap();
		if (left <= 0)
			return;
		for (i = 0; i < MAX_STREAMS; i++) {
			if (!streams[i])
				continue;
			pfd[n].fd = streams[i]->fd;
			pfd[n].events = POLLIN;
			map[n++] = streams[i];
		}
		if (poll(pfd, n, left > 100 ? 100 : left) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pfd[i].fd, buf, sizeof(buf));
			if (r > 0)
				stream_feed(map[i], buf, r);
			else if (r == 0 || errno != EINTR)
				stream_close(map[i]);	/* EIO: pty closed */
		}
	}
}

/* Relay output until @c has exited, at most @ms: 0 or -ETIMEDOUT. */
static int pump_until_exit(struct child *c, int ms)
{
	uint64_t end = pm_now_ms() + ms;

	while (!c->done && pm_now_ms() < end)
		pump(50);
	return c->done ? 0 : -ETIMEDOUT;
}

static void echo_cmd(char host, const char *const *argv)
{
	char buf[512];
	size_t n;
	int i;

	n = snprintf(buf, sizeof(buf), "%c#", host);
	for (i = 0; argv[i] && n < sizeof(buf); i++)
		n += snprintf(buf + n, sizeof(buf) - n,
			      strchr(argv[i], ' ') ? " '%s'" : " %s", argv[i]);
	say("%s", buf);
}

/*
 * Run @argv on host @host ('A' or 'B') with its output (stdout and stderr)
 * in @s: through a pipe, or with @pty on a pseudo-terminal.
 */
static int spawn(struct child *c, struct stream *s, char host, int pty,
		 const char *const *argv)
{
	static const char *const pfx[2] = { "A| ", "B| " };
	int nsfd = hosts.ns[host - 'A'], fds[2], fd;
	struct winsize ws = { .ws_row = 40, .ws_col = 200 };

	echo_cmd(host, argv);
	memset(c, 0, sizeof(*c));
	if (pty) {
		c->pid = forkpty(&fds[0], NULL, NULL, &ws);
		if (c->pid < 0)
			return -errno;
		if (!c->pid) {
			struct termios tio;

			/* "\n" as written, not "\r\n": we parse it. */
			if (!tcgetattr(STDOUT_FILENO, &tio)) {
				tio.c_oflag &= ~OPOST;
				tcsetattr(STDOUT_FILENO, TCSANOW, &tio);
			}
		}
	} else {
		if (pipe2(fds, O_CLOEXEC))
			return -errno;
		c->pid = fork();
		if (c->pid < 0)
			return -errno;
		if (!c->pid) {
			fd = open("/dev/null", O_RDONLY);
			if (fd >= 0)
				dup2(fd, STDIN_FILENO);
			dup2(fds[1], STDOUT_FILENO);
			dup2(fds[1], STDERR_FILENO);
		} else {
			close(fds[1]);
		}
	}
	if (!c->pid) {
		if (setns(nsfd, CLONE_NEWNET))
			_exit(125);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	stream_open(s, fds[0], pfx[host - 'A'], pty);
	child_track(c);
	return 0;
}

/* Run a short command to its end: its exit status, or -errno. */
static int run(char host, const char *const *argv)
{
	struct child c;
	struct stream s;
	uint64_t end;
	int ret;

	ret = spawn(&c, &s, host, 0, argv);
	if (ret)
		return ret;
	ret = pump_until_exit(&c, 60000);
	if (ret) {
		kill(c.pid, SIGKILL);
		pump_until_exit(&c, 5000);
	}
	/* The rest of its output, up to EOF. */
	end = pm_now_ms() + 5000;
	while (s.fd >= 0 && pm_now_ms() < end)
		pump(50);
	if (s.fd >= 0)
		stream_close(&s);
	for (ret = 0; ret < 8; ret++)
		if (children[ret] == &c)
			children[ret] = NULL;
	return c.status;
}

/* ---- the story ---------------------------------------------------------------- */

static struct child wl_a, lis, st;
static struct stream s_wl_a, s_lis, s_st;
static struct pmc_layout A, B;
static pid_t pid_b;		/* the resumed instance on B */
static int failed;

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say("FAILED: %s", buf);
	failed = 1;
}

static int map_region(struct pmc_layout *l, const char *name, size_t size)
{
	l->page = sysconf(_SC_PAGESIZE);
	l->size = size;
	l->base = pm_region_map(name, size, PROT_READ | PROT_WRITE);
	if (l->base == MAP_FAILED) {
		l->base = NULL;
		return -errno;
	}
	return 0;
}

static uint64_t counters(const struct pmc_layout *l, uint64_t c[PMC_THREADS],
			 char *buf, size_t n)
{
	uint64_t total = 0;
	size_t len = 0;
	int t;

	for (t = 0; t < PMC_THREADS; t++) {
		c[t] = __atomic_load_n(pmc_counter(l, t), __ATOMIC_ACQUIRE);
		total += c[t];
		len += snprintf(buf + len, n - len, "%st%d %llu",
				t ? ", " : "", t, (unsigned long long)c[t]);
		if (len >= n)
			break;
	}
	return total;
}

/* Threads of @pid, and how many wait uninterruptibly (state D). */
static int threads_blocked(pid_t pid, int *total)
{
	char path[64], buf[512], *s;
	struct dirent *d;
	int blocked = 0, fd;
	ssize_t n;
	DIR *dir;

	*total = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid,
			 atoi(d->d_name));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		s = strrchr(buf, ')');
		(*total)++;
		if (s && s[1] == ' ' && s[2] == 'D')
			blocked++;
	}
	closedir(dir);
	return blocked;
}

static void check_source_blocked(uint64_t fa[PMC_THREADS])
{
	uint64_t again[PMC_THREADS], total, beats;
	struct pm_region_info ri;
	struct pm_mig_info mi;
	char txt[160], txt2[160], dt[32];
	int nthr, nblk, t;
	struct tnl nl;

	total = counters(&A, fa, txt, sizeof(txt));
	beats = pmc_hdr(&A)->beats;
	pump(1500);
	counters(&A, again, txt2, sizeof(txt2));
	for (t = 0; t < PMC_THREADS; t++)
		if (again[t] != fa[t])
			bad("A: thread %d counted on after the migration: %llu, then %llu",
			    t, (unsigned long long)fa[t],
			    (unsigned long long)again[t]);
	if (pmc_hdr(&A)->beats != beats)
		bad("A: pmcounter %d printed on after the migration", wl_a.pid);
	if (pm_region_frozen(SRC) != 1)
		bad("A: region %s is not frozen", SRC);
	if (wl_a.done)
		bad("A: pmcounter %d has exited (status %d)", wl_a.pid,
		    wl_a.status);
	nblk = threads_blocked(wl_a.pid, &nthr);
	if (nblk < 0 || nblk != nthr)
		bad("A: %d of the %d threads of pmcounter %d wait", nblk, nthr,
		    wl_a.pid);
	if (pm_mig_wait_state(SRC, PARTMOB_MIG_S_COMPLETED, 1000, &mi))
		bad("A: the migration of %s is not completed (%s)", SRC,
		    pm_mig_state_name(mi.state));
	ri.frozen_waits = 0;
	if (!tnl_open(&nl)) {
		pm_region_get(&nl, SRC, &ri);
		tnl_close(&nl);
	}
	/* As partmobctl prints it. */
	if (mi.downtime_ns < 10000000)
		snprintf(dt, sizeof(dt), "%.1f ms", mi.downtime_ns / 1e6);
	else
		snprintf(dt, sizeof(dt), "%llu ms",
			 (unsigned long long)(mi.downtime_ns + 500000) / 1000000);
	say("A: migration completed, downtime %s (from A's freeze to B's resume)",
	    dt);
	say("A: frozen at %llu (%s), no change in 1.5 s", (unsigned long long)total,
	    txt);
	say("A: region %s frozen; pmcounter %d alive, %d of its %d threads blocked writing to it (state D, %llu frozen waits)",
	    SRC, wl_a.pid, nblk, nthr, (unsigned long long)ri.frozen_waits);
}

/* B's instance has stopped: its counters and logs are final. */
static void check_destination(const uint64_t fa[PMC_THREADS])
{
	struct pmc_hdr *hb = pmc_hdr(&B);
	uint64_t cb[PMC_THREADS], total_a = 0, total_b;
	size_t boff = pmc_ballast_off(&A);
	char txt[160], rec[PMC_REC + 1];
	int t, ok_logs = 1;

	for (t = 0; t < PMC_THREADS; t++)
		total_a += fa[t];
	total_b = counters(&B, cb, txt, sizeof(txt));
	for (t = 0; t < PMC_THREADS; t++) {
		if (hb->resumed_from[t] != fa[t])
			bad("B: thread %d resumed at %llu, A froze at %llu", t,
			    (unsigned long long)hb->resumed_from[t],
			    (unsigned long long)fa[t]);
		if (cb[t] <= fa[t])
			bad("B: thread %d did not count on (%llu)", t,
			    (unsigned long long)cb[t]);
	}
	if (!failed)
		say("B: pmcounter %d resumed at %llu = A's frozen counters, thread by thread",
		    pid_b, (unsigned long long)total_a);

	for (t = 0; t < PMC_THREADS; t++) {
		const char *la = pmc_log(&A, t), *lb = pmc_log(&B, t);
		uint64_t i;

		if (memcmp(la, lb, fa[t] * PMC_REC)) {
			bad("B: thread %d's log lines 1..%llu differ from A's", t,
			    (unsigned long long)fa[t]);
			ok_logs = 0;
		}
		for (i = 0; i < PMC_LOG_MAX; i++) {
			if (i < cb[t]) {
				pmc_record(rec, t, i + 1, i < fa[t] ? 1 : 2);
				if (!memcmp(lb + i * PMC_REC, rec, PMC_REC))
					continue;
				bad("B: thread %d's log line %llu is \"%.*s\", want \"%.*s\"",
				    t, (unsigned long long)i + 1, PMC_REC - 1,
				    lb + i * PMC_REC, PMC_REC - 1, rec);
			} else {
				static const char zero[PMC_REC];

				if (!memcmp(lb + i * PMC_REC, zero, PMC_REC))
					continue;
				bad("B: thread %d's log has a line %llu after its counter %llu",
				    t, (unsigned long long)i + 1,
				    (unsigned long long)cb[t]);
			}
			ok_logs = 0;
			break;
		}
	}
	if (hb->full)
		bad("B: a log ran out of room");
	if (ok_logs)
		say("B: stopped at %llu (%s); every thread's log reads 1, 2, ... N once each, in order: A's lines up to where it froze (identical on A), then B's",
		    (unsigned long long)total_b, txt);
	if (memcmp(A.base + boff, B.base + boff, A.size - boff))
		bad("B: the region's other %zu MiB differ from A's",
		    (A.size - boff) >> 20);
	else
		say("B: the region's other %zu MiB (\"guest memory\") identical to A's",
		    (A.size - boff) >> 20);
}

static void cleanup(void)
{
	int i;

	if (st.pid && !st.done)
		kill(st.pid, SIGKILL);
	if (lis.pid && !lis.done)
		kill(lis.pid, SIGTERM);
	if (wl_a.pid && !wl_a.done)
		kill(wl_a.pid, SIGKILL);
	if (pid_b > 0)
		kill(pid_b, SIGKILL);
	for (i = 0; i < 50; i++) {
		pump(100);
		if ((!st.pid || st.done) && (!lis.pid || lis.done) &&
		    (!wl_a.pid || wl_a.done) && (pid_b <= 0 || kill(pid_b, 0)))
			break;
	}
	if (A.base)
		munmap(A.base, A.size);
	if (B.base)
		munmap(B.base, B.size);
	A.base = B.base = NULL;
	pm_regions_cleanup(SRC);
	pm_hosts_close(&hosts);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say("FAILED: %s", buf);
	cleanup();
	return 1;
}

/* PATH with the directory of this program first: pmcounter is there. */
static void path_setup(void)
{
	char exe[256], path[1024], *slash;
	const char *old = getenv("PATH");
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s:%s", exe,
		 old ? old : "/usr/sbin:/usr/bin:/sbin:/bin");
	setenv("PATH", path, 1);
}

/* ---- act 2: a KVM guest ------------------------------------------------- */

static struct child vm_lis, vm_st;
static struct stream s_vm_a, s_vm_lis, s_vm_st;
static pid_t vm_a = -1;

/*
 * The host's QEMU with the counter guest, its RAM on region @name; its
 * serial console on standard output (@out: a descriptor to use instead),
 * a copy in @serial; -incoming defer -S if @incoming.
 */
static pid_t guest_qemu(const char *name, const char *qmp, const char *serial,
			int out, int incoming)
{
	char mem[128], qmpa[160], chr[160], fdpath[32];
	const char *argv[40];
	int n;

	snprintf(mem, sizeof(mem),
		 "memory-backend-file,id=m,mem-path=/dev/partmob/%s,size=64M,share=on",
		 name);
	snprintf(chr, sizeof(chr), "stdio,id=s0,signal=off,logfile=%s",
		 serial);
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", out);
	n = pm_qemu_argv_begin(argv, PM_HOST_QEMU, "64M");
	argv[n++] = "-machine";
	argv[n++] = "pc,memory-backend=m";
	argv[n++] = "-object";
	argv[n++] = mem;
	argv[n++] = "-kernel";
	argv[n++] = VM_DIR "/pmguest.elf";
	argv[n++] = "-chardev";
	argv[n++] = chr;
	argv[n++] = "-serial";
	argv[n++] = "chardev:s0";
	pm_qemu_argv_end(argv, n, qmp, qmpa, incoming);
	return pm_host_spawn(argv, out >= 0 ? fdpath : NULL);
}

/* The listener's --vm-hook: B's QEMU, in the background. */
static int dest_qemu(void)
{
	const char *qmp = getenv("PARTMOB_VM_QMP");
	const char *name = getenv("PARTMOB_VM_REGIONS");
	pid_t pid;
	FILE *f;

	if (!qmp || !name)
		return 2;
	pid = guest_qemu(name, qmp, VM_DIR "/b.serial", -1, 1);
	if (pid < 0)
		return 3;
	f = fopen(VM_DIR "/b.pid", "w");
	if (f) {
		fprintf(f, "%d\n", pid);
		fclose(f);
	}
	return 0;
}

/* "C n" lines of a serial log: first, last, count; boots, BAD lines. */
static void serial_scan(const char *path, unsigned long *first,
			unsigned long *last, int *count, int *boots, int *bad)
{
	char buf[128];
	unsigned long v;
	FILE *f = fopen(path, "r");

	*first = *last = 0;
	*count = *boots = *bad = 0;
	if (!f)
		return;
	while (fgets(buf, sizeof(buf), f)) {
		*boots += !strncmp(buf, "PMGUEST BOOT", 12);
		*bad += !strncmp(buf, "BAD ", 4);
		if (sscanf(buf, "C %lu", &v) == 1 && strchr(buf, '\n')) {
			if (!(*count)++)
				*first = v;
			*last = v;
		}
	}
	fclose(f);
}

static int copy_guest(void)
{
	char exe[256], buf[65536];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 20);
	int in, out, ret = 0;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	strcpy(strrchr(exe, '/'), "/pmguest.elf");
	in = open(exe, O_RDONLY | O_CLOEXEC);
	out = open(VM_DIR "/pmguest.elf", O_WRONLY | O_CREAT | O_TRUNC |
		   O_CLOEXEC, 0644);
	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			ret = -1;
	if (in < 0 || out < 0 || n < 0)
		ret = -1;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return ret;
}

static void act_guest_cleanup(void)
{
	FILE *f = fopen(VM_DIR "/b.pid", "r");
	int pid = -1, i;

	if (vm_st.pid && !vm_st.done)
		kill(vm_st.pid, SIGKILL);
	if (vm_lis.pid && !vm_lis.done)
		kill(vm_lis.pid, SIGTERM);
	if (vm_a > 0)
		kill(vm_a, SIGKILL);
	if (f) {
		if (fscanf(f, "%d", &pid) == 1 && pid > 0)
			kill(pid, SIGKILL);
		fclose(f);
	}
	for (i = 0; i < 30; i++)
		pump(100);
	pm_regions_cleanup(VM_SRC);
}

/* Act 2. Return: 0, or non-zero (said) if anything failed. */
static int act_guest(void)
{
	const char *const create[] = { "partmobctl", "region", "create",
				       VM_SRC, "64M", NULL };
	/* Plain TCP: QEMU's device state over kernel TLS is not tested yet. */
	const char *const listen[] = { "partmobctl", "listen", "--insecure",
				       "--address", PM_HOST_B_ADDR, "--port",
				       VM_PORT, "--vm-hook",
				       "exec pmdemo --dest-qemu",
				       "--state-dir", VM_DIR, NULL };
	/*
	 * No bandwidth cap here: the guest rewrites 32 MiB of its RAM over
	 * and over (a page in each half per step), faster under TCG than
	 * act 1's 8 MiB/s, so only the link's own rate converges; the limit
	 * is the vm selftest's. On a machine where even that does not
	 * converge, the switch-over comes after 10 rounds anyway, with a
	 * longer pause: the demo shows the move, not a figure.
	 */
	const char *const start[] = { "partmobctl", "start", VM_SRC, "--to",
				      PM_HOST_B_ADDR ":" VM_PORT, "--insecure",
				      "--dest-name", VM_DST, "--qmp",
				      VM_DIR "/a.qmp", "--downtime-limit",
				      "500", "--max-rounds", "10",
				      "--on-stall", "switchover", NULL };
	unsigned long af, al, bf, bl;
	int ac, ab, abad, bc, bb, bbad, fds[2], ret;
	const char *accel, *why;
	struct utsname u;
	uint64_t end;

	line("", "", 0);
	say("== act 2: a KVM guest moves: the tiny counter guest runs in QEMU with its RAM on a region");
	uname(&u);
	if (strcmp(u.machine, "x86_64") || access(PM_HOST PM_HOST_QEMU, X_OK)) {
		say("   (skipped: it needs the x86_64 target and the host's QEMU at %s)",
		    PM_HOST);
		return 0;
	}
	accel = pm_inner_accel(&why);
	if (strcmp(accel, "kvm"))
		say("   (the guest runs under TCG: %s)", why);
	if (system("rm -rf " VM_DIR) || mkdir(VM_DIR, 0755) || copy_guest())
		return fail("%s: %s", VM_DIR, strerror(errno));
	ret = run('A', create);
	if (ret)
		return fail("partmobctl region create %s: exit %d", VM_SRC, ret);
	if (pipe2(fds, O_CLOEXEC))
		return fail("pipe: %s", strerror(errno));
	say("A# qemu-system-x86_64 -accel %s -m 64M -object memory-backend-file,...,mem-path=/dev/partmob/%s,share=on -kernel pmguest.elf -qmp unix:%s/a.qmp ...",
	    accel, VM_SRC, VM_DIR);
	vm_a = guest_qemu(VM_SRC, VM_DIR "/a.qmp", VM_DIR "/a.serial", fds[1],
			  0);
	close(fds[1]);
	if (vm_a < 0)
		return fail("qemu: %s", strerror(-vm_a));
	stream_open(&s_vm_a, fds[0], "A| ", 0);
	end = pm_now_ms() + 120000;
	do {
		pump(200);
		serial_scan(VM_DIR "/a.serial", &af, &al, &ac, &ab, &abad);
	} while (ac < 3 && pm_now_ms() < end);
	if (ac < 3)
		return fail("the guest does not count on A");

	line("", "", 0);
	say("== B: a listener whose --vm-hook starts the destination QEMU (-incoming defer -S)");
	if (spawn(&vm_lis, &s_vm_lis, 'B', 0, listen))
		return fail("partmobctl listen: %s", strerror(errno));
	ret = pm_wait_listening(vm_lis.pid, atoi(VM_PORT), 15000);
	pump(100);
	if (ret)
		return fail("partmobctl listen is not listening (%d)", ret);

	line("", "", 0);
	say("== A: move the guest: its RAM by partmob, its device state by QEMU (x-ignore-shared)");
	if (spawn(&vm_st, &s_vm_st, 'A', 1, start))
		return fail("partmobctl start: %s", strerror(errno));
	if (pump_until_exit(&vm_st, 300000))
		return fail("partmobctl start still running after 300 s");
	pump(200);
	if (vm_st.status)
		return fail("partmobctl start: exit %d", vm_st.status);
	end = pm_now_ms() + 120000;
	do {
		pump(200);
		serial_scan(VM_DIR "/b.serial", &bf, &bl, &bc, &bb, &bbad);
	} while (bc < 3 && pm_now_ms() < end);

	line("", "", 0);
	say("== check");
	end = pm_now_ms() + 20000;
	while (!kill(vm_a, 0) && pm_now_ms() < end) {
		pump(100);
		waitpid(vm_a, NULL, WNOHANG);
	}
	serial_scan(VM_DIR "/a.serial", &af, &al, &ac, &ab, &abad);
	if (!kill(vm_a, 0))
		bad("A: QEMU %d is still there", vm_a);
	else
		say("A: QEMU quit after the move; the guest's last line there: C %lu", al);
	vm_a = -1;
	if (bc < 3)
		bad("B: the guest does not count (%d lines)", bc);
	else if (bf != al + VM_STEP)
		bad("B: the guest went on at C %lu, not at C %lu", bf,
		    al + VM_STEP);
	else
		say("B: the guest went on at C %lu, the very next line, and counts (C %lu)",
		    bf, bl);
	if (bb || abad || bbad)
		bad("the guest booted again on B (%d) or found its memory changed (BAD lines: %d on A, %d on B)",
		    bb, abad, bbad);
	else
		say("B: no new boot, and every page the guest checked held what it wrote before the move");
	if (failed)
		return fail("the guest's checks");
	say("ok: the KVM guest moved live and continued exactly where it was");
	act_guest_cleanup();
	return 0;
}

int main(int argc, char **argv)
{
	const char *const create[] = { "partmobctl", "region", "create", SRC,
				       SIZE, NULL };
	const char *const wl[] = { "pmcounter", SRC, NULL };
	const char *const del_src[] = { "partmobctl", "region", "delete", SRC,
					NULL };
	const char *const del_dst[] = { "partmobctl", "region", "delete", DST,
					NULL };
	/*
	 * Plain TCP: under TCG the emulated AES-GCM of kernel TLS is slower
	 * than this demo's 8 MiB/s (make bench: tls_ratio), too slow for a
	 * 50 ms downtime; the tests cover TLS.
	 */
	const char *const listen[] = { "partmobctl", "listen", "--insecure",
				       "--address", PM_HOST_B_ADDR,
				       "--once", "--on-resume", HOOK, NULL };
	const char *const start[] = { "partmobctl", "start", SRC, "--to",
				      PM_HOST_B_ADDR, "--insecure",
				      "--dest-name", DST,
				      "--max-bandwidth", BANDWIDTH,
				      "--downtime-limit", DOWNTIME_MS, NULL };
	uint64_t fa[PMC_THREADS], end;
	struct pmc_hdr *hb;
	size_t size;
	int ret, fd;

	if (argc > 1 && !strcmp(argv[1], "--dest-qemu"))
		return dest_qemu();
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	path_setup();

	pm_regions_cleanup(SRC);
	ret = pm_hosts_setup(&hosts);
	if (ret) {
		say("FAILED: two hosts: %s", hosts.err);
		return 1;
	}
	say("== two hosts: network namespaces A (%s) and B (%s), joined by a veth pair;",
	    PM_HOST_A_ADDR, PM_HOST_B_ADDR);
	say("   they share this guest's kernel, so the region arrives on B as %s", DST);
	line("", "", 0);
	say("== A: a workload whose whole state is in a region: 4 threads count and log,");
	say("   one rewrites a hot set, the rest is \"guest memory\"; a line a second");
	ret = run('A', create);
	if (ret)
		return fail("partmobctl region create: exit %d", ret);
	fd = open("/dev/partmob/" SRC, O_RDONLY | O_CLOEXEC);
	size = fd < 0 ? 0 : lseek(fd, 0, SEEK_END);
	if (fd >= 0)
		close(fd);
	if (map_region(&A, SRC, size))
		return fail("map %s: %s", SRC, strerror(errno));
	if (spawn(&wl_a, &s_wl_a, 'A', 0, wl))
		return fail("pmcounter: %s", strerror(errno));
	end = pm_now_ms() + 60000;
	while (!pmc_hdr(&A)->magic && !wl_a.done && pm_now_ms() < end)
		pump(50);
	if (!pmc_hdr(&A)->magic)
		return fail("pmcounter did not start");
	pump(RUN_BEFORE_S * 1000 + 300);

	line("", "", 0);
	say("== B: the destination's listener; its hook starts pmcounter on the region it receives");
	if (spawn(&lis, &s_lis, 'B', 0, listen))
		return fail("partmobctl listen: %s", strerror(errno));
	ret = pm_wait_listening(lis.pid, PARTMOB_HS_PORT, 15000);
	pump(100);
	if (ret)
		return fail("partmobctl listen is not listening (%d)", ret);

	line("", "", 0);
	say("== A: migrate the region to B (at most %siB/s: time to watch the rounds)",
	    BANDWIDTH);
	if (spawn(&st, &s_st, 'A', 1, start))
		return fail("partmobctl start: %s", strerror(errno));
	if (pump_until_exit(&st, 300000))
		return fail("partmobctl start still running after 300 s");
	pump(200);
	if (st.status)
		return fail("partmobctl start: exit %d", st.status);

	/* B: the listener has started the new instance. */
	if (map_region(&B, DST, size))
		return fail("map %s: %s", DST, strerror(errno));
	hb = pmc_hdr(&B);
	end = pm_now_ms() + 60000;
	while (__atomic_load_n(&hb->resumed, __ATOMIC_ACQUIRE) < 2 &&
	       pm_now_ms() < end)
		pump(50);
	if (__atomic_load_n(&hb->resumed, __ATOMIC_ACQUIRE) < 2)
		return fail("no pmcounter resumed on B");
	pid_b = hb->pid;
	if (pump_until_exit(&lis, 30000))
		return fail("partmobctl listen --once did not exit");
	if (lis.status)
		return fail("partmobctl listen --once: exit %d", lis.status);
	pump(RUN_AFTER_S * 1000 + 300);

	/* Stop B's instance so that its counters and logs hold still. */
	line("", "", 0);
	say("== B: stop pmcounter %d (pmdemo sets the stop word in its region)",
	    pid_b);
	__atomic_store_n(&hb->stop, 1, __ATOMIC_RELEASE);
	end = pm_now_ms() + 10000;
	while (!kill(pid_b, 0) && pm_now_ms() < end)
		pump(50);
	if (!kill(pid_b, 0))
		return fail("pmcounter %d on B did not stop", pid_b);
	/* The listener's child logs the hook's exit status. */
	end = pm_now_ms() + 5000;
	while (s_lis.fd >= 0 && pm_now_ms() < end)
		pump(50);

	line("", "", 0);
	say("== check");
	check_source_blocked(fa);
	check_destination(fa);
	pid_b = 0;
	if (failed)
		return fail("the demo's checks");
	say("ok: B continued from exactly where A was frozen, nothing lost or repeated; A is blocked");

	line("", "", 0);
	say("== clean up: a frozen writer ends only by SIGKILL; then the regions go");
	say("A# kill -KILL %d", wl_a.pid);
	kill(wl_a.pid, SIGKILL);
	if (pump_until_exit(&wl_a, 10000))
		return fail("pmcounter %d on A did not die", wl_a.pid);
	munmap(A.base, A.size);
	munmap(B.base, B.size);
	A.base = B.base = NULL;
	ret = run('A', del_src);
	if (ret)
		return fail("partmobctl region delete %s: exit %d", SRC, ret);
	ret = run('B', del_dst);
	if (ret)
		return fail("partmobctl region delete %s: exit %d", DST, ret);
	ret = act_guest();
	if (ret) {
		act_guest_cleanup();	/* fail() did cleanup() */
		return ret;
	}
	cleanup();
	return 0;
}
