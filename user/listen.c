// SPDX-License-Identifier: GPL-2.0
/*
 * partmobctl listen: the destination's service.
 *
 *   partmobctl listen (--psk-file F | --cert C --key K --ca A | --insecure)
 *                     [--address A] [--port P] [--on-resume CMD] [--once]
 *
 * The parent accepts connections and forks one child per connection; the
 * child authenticates the peer (TLS 1.3 with a pre-shared key or
 * certificates, then kernel TLS: tls.c; unless --insecure), reads the
 * hello, checks it, answers, and for a migration starts
 * the kernel side (PARTMOB_CMD_MIG_START, role destination), then watches
 * the control file the module returns until the migration has ended.
 * Every outcome is one log line on stderr, prefixed with a UTC timestamp.
 *
 * The listener never opens the destination region's device: the region
 * belongs to the module until it is thawed, then to the on-resume hook.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "mig.h"
#include "vm.h"

#define WATCH_MS	1000	/* re-read the state at least this often */

struct listen_opts {
	const char *address;
	const char *port;
	const char *on_resume;
	const char *vm_hook;
	const char *state_dir;
	uint64_t link_ms;	/* --link-timeout; 0: the module's default */
	bool once;
	struct pm_tls_opts tls;
	struct pm_tls *ctx;	/* NULL with --insecure */
};

/* One accepted connection, served by a child. */
struct conn {
	int fd;
	char peer[INET6_ADDRSTRLEN];
	const struct listen_opts *lo;
	/*
	 * --once: the pid of the child that started the one migration, in
	 * memory shared by the parent and every child; 0 while none has.
	 * That child writes its outcome (an exit code, one byte) to
	 * outcome_fd as soon as it is known, before any hook runs.
	 */
	atomic_int *slot;
	int outcome_fd;
};

/* ---- logging ------------------------------------------------------------ */

/* One line on stderr: "2026-11-26T01:02:03Z partmob listen: ...". */
static void lg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void lg(const char *fmt, ...)
{
	char buf[1024];
	struct tm tm;
	time_t t = time(NULL);
	size_t len;
	ssize_t w;
	va_list ap;

	gmtime_r(&t, &tm);
	len = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ partmob listen: ",
		       &tm);
	va_start(ap, fmt);
	vsnprintf(buf + len, sizeof(buf) - len - 1, fmt, ap);
	va_end(ap);
	len = strlen(buf);
	buf[len++] = '\n';
	/* One write(2): lines of concurrent children do not interleave. */
	for (size_t off = 0; off < len; off += (size_t)w) {
		w = write(STDERR_FILENO, buf + off, len - off);
		if (w < 0 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w <= 0)
			break;
	}
}

/* ---- answering ------------------------------------------------------------ */

static void reply(struct conn *c, struct pm_hs_reply *r, int status,
		  const char *msg)
{
	int ret;

	r->status = (uint16_t)status;
	snprintf(r->message, sizeof(r->message), "%s", msg);
	ret = pm_hs_send_reply(c->fd, r, PM_HS_TIMEOUT_MS);
	if (ret)
		lg("connection from %s: sending the reply: %s", c->peer,
		   ret == -ETIMEDOUT ? "timed out" : strerror(-ret));
}

/* Refuse, log, close. */
static void refuse(struct conn *c, struct pm_hs_reply *r, const char *who,
		   const char *op, int status, const char *why)
{
	lg("%s from %s: %s%srefused (%s): %s", who, c->peer, op ? op : "",
	   op ? ": " : "", pm_hs_status_name((unsigned int)status), why);
	reply(c, r, status, why);
	pm_hs_close_gently(c->fd);
}

/* ---- checks ------------------------------------------------------------------ */

/*
 * Everything a MIGRATE or VALIDATE hello is checked against here.
 * Return: an enum partmob_hs_status, @why set if not OK.
 */
static int check_hello(struct pm_nl *nl, const struct pm_hs_hello *h,
		       struct pm_hs_reply *r, char *why, size_t n)
{
	struct pm_region_attrs ra;
	struct pm_hs_local hl = { 0 };
	struct pm_local l;
	char err[320];
	uint64_t size;
	uint32_t i;
	int ret, st;

	ret = pm_local_get(nl, &l);
	if (ret < 0) {
		snprintf(why, n, "the partmob module here: GET_INFO: %s",
			 pm_nl_why(nl, ret, err, sizeof(err)));
		return PARTMOB_HS_E_INTERNAL;
	}
	r->features = l.features;
	hl.wire_version = l.wire_version;
	hl.page_size = l.page_size;
	hl.features = l.features;
	hl.mem_available = r->mem_available;
	snprintf(hl.arch, sizeof(hl.arch), "%s", l.arch);
	st = pm_hs_check(h, &hl, why, n);
	if (st != PARTMOB_HS_OK)
		return st;

	ret = pm_region_attrs_get(nl, h->region, &ra);
	if (!ret) {
		snprintf(why, n, "a region named %s exists here", h->region);
		return PARTMOB_HS_E_EXISTS;
	}
	if (nl->err != ENOENT) {
		snprintf(why, n, "the partmob module here: REGION_GET: %s",
			 pm_nl_why(nl, ret, err, sizeof(err)));
		return PARTMOB_HS_E_INTERNAL;
	}

	for (i = 0; i < h->npaths; i++) {
		const struct pm_hs_path *p = &h->paths[i];

		ret = pm_path_size(p->path, &size, err, sizeof(err));
		if (ret == -ENOENT || ret == -ENOTDIR) {
			snprintf(why, n, "required path %s does not exist here",
				 p->path);
			return PARTMOB_HS_E_PATH;
		}
		if (ret) {
			snprintf(why, n, "required path %s", err);
			return PARTMOB_HS_E_PATH;
		}
		if (size != p->size) {
			snprintf(why, n,
				 "required path %s is %" PRIu64 " bytes here, %" PRIu64 " on the source",
				 p->path, size, p->size);
			return PARTMOB_HS_E_PATH;
		}
	}
	return PARTMOB_HS_OK;
}

/* QUERY: how did the source side of migration h->mig_id end here? */
static void answer_query(struct conn *c, struct pm_nl *nl,
			 const struct pm_hs_hello *h, struct pm_hs_reply *r)
{
	struct pm_mig *list, *found = NULL;
	char err[320], why[400];
	size_t i, n;
	int ret;

	ret = pm_mig_dump(nl, &list, &n);
	if (ret < 0) {
		snprintf(why, sizeof(why), "the partmob module here: MIG_GET: %s",
			 pm_nl_why(nl, ret, err, sizeof(err)));
		refuse(c, r, h->region, "query", PARTMOB_HS_E_INTERNAL, why);
		return;
	}
	/*
	 * The id names the migration; the name in the hello is the
	 * destination's, which may differ from the source region's. Only
	 * the source side can answer (both ends may share one kernel).
	 */
	for (i = 0; i < n; i++) {
		if (PM_MIG(&list[i], ID) != h->mig_id ||
		    PM_MIG(&list[i], ROLE) != PARTMOB_MIG_SOURCE)
			continue;
		if (!found || !strcmp(list[i].name, h->region))
			found = &list[i];
	}
	if (!found)
		r->outcome = PARTMOB_HS_OUTCOME_UNKNOWN;
	else if (PM_MIG(found, STATE) == PARTMOB_MIG_S_COMMITTED ||
		 PM_MIG(found, STATE) == PARTMOB_MIG_S_COMPLETED)
		r->outcome = PARTMOB_HS_OUTCOME_COMMITTED;
	else if (PM_MIG(found, STATE) == PARTMOB_MIG_S_FAILED)
		r->outcome = PARTMOB_HS_OUTCOME_ABORTED;
	else
		r->outcome = PARTMOB_HS_OUTCOME_RUNNING;
	snprintf(why, sizeof(why), "migration %016" PRIx64 " %s%s%s%s",
		 h->mig_id, pm_hs_outcome_name(r->outcome),
		 found ? " (source region " : ": no such migration here",
		 found ? found->name : "", found ? ")" : "");
	lg("%s from %s: query: %s", h->region, c->peer, why);
	reply(c, r, PARTMOB_HS_OK, why);
	pm_hs_close_gently(c->fd);
	free(list);
}

/* ---- receiving ------------------------------------------------------------- */

/* --once: tell the parent how the one migration ended. */
static void tell_outcome(const struct conn *c, int code)
{
	unsigned char b = (unsigned char)code;

	if (c->lo->once && write(c->outcome_fd, &b, 1) != 1)
		lg("reporting the outcome: %s", strerror(errno));
}

/*
 * Fork the child of a hook: standard input from /dev/null, standard
 * output to our standard error (the log), SIGPIPE as usual. Return: the
 * pid in the parent, 0 in the child, -1 with errno.
 */
static pid_t hook_fork(void)
{
	pid_t pid = fork();
	int fd;

	if (pid)
		return pid;
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != STDIN_FILENO) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	dup2(STDERR_FILENO, STDOUT_FILENO);
	signal(SIGPIPE, SIG_DFL);
	return 0;
}

static void hook_exec(const char *cmd) __attribute__((noreturn));
static void hook_exec(const char *cmd)
{
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

/* Wait for the hook @pid: 0 with its @status, or -1 with errno. */
static int hook_wait(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static void run_hook(const char *cmd, const char *name, uint64_t id,
		     const char *peer, const char *who)
{
	char dev[PARTMOB_REGION_NAME_MAX + 24 + 16], idt[20];
	int status;
	pid_t pid;

	snprintf(dev, sizeof(dev), "/dev/partmob/%s", name);
	snprintf(idt, sizeof(idt), "%016" PRIx64, id);
	pid = hook_fork();
	if (pid < 0) {
		lg("%s: on-resume hook: fork: %s", who, strerror(errno));
		return;
	}
	if (!pid) {
		if (setenv("PARTMOB_REGION", name, 1) ||
		    setenv("PARTMOB_DEVICE", dev, 1) ||
		    setenv("PARTMOB_MIGRATION_ID", idt, 1) ||
		    setenv("PARTMOB_PEER", peer, 1))
			_exit(127);
		hook_exec(cmd);
	}
	if (hook_wait(pid, &status)) {
		lg("%s: on-resume hook: waitpid: %s", who, strerror(errno));
		return;
	}
	if (WIFEXITED(status))
		lg("%s: on-resume hook exited with status %d", who,
		   WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		lg("%s: on-resume hook killed by signal %d", who,
		   WTERMSIG(status));
}

/*
 * Handed-over markers: STATE_DIR/resumed-MIGID exists once this host's
 * listener has run the on-resume hook for an incoming migration (or had
 * none to run). A restarted listener runs the hook for every completed
 * incoming migration without one. STATE_DIR is on a tmpfs (/run), which a
 * reboot clears together with the module's state.
 */
static void marker_path(const struct listen_opts *lo, uint64_t id, char *p,
			size_t n)
{
	snprintf(p, n, "%s/resumed-%016" PRIx64, lo->state_dir, id);
}

static bool handed_over(const struct listen_opts *lo, uint64_t id)
{
	char p[PATH_MAX];

	marker_path(lo, id, p, sizeof(p));
	return !access(p, F_OK);
}

static void hand_over(const struct listen_opts *lo, const char *name,
		      uint64_t id, const char *peer, const char *who)
{
	char p[PATH_MAX];
	int fd;

	marker_path(lo, id, p, sizeof(p));
	if (mkdir(lo->state_dir, 0700) && errno != EEXIST)
		lg("%s: %s: %s (a restarted listener would run the hook again)",
		   who, lo->state_dir, strerror(errno));
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return;		/* somebody handed it over already */
	if (fd < 0)
		lg("%s: %s: %s", who, p, strerror(errno));
	else
		close(fd);
	if (lo->on_resume)
		run_hook(lo->on_resume, name, id, peer, who);
}

static int start_errno_status(int err)
{
	switch (err) {
	case EEXIST:
		return PARTMOB_HS_E_EXISTS;
	case ENOMEM:
		return PARTMOB_HS_E_MEMORY;
	case EOPNOTSUPP:
		return PARTMOB_HS_E_FEATURES;
	}
	return PARTMOB_HS_E_INTERNAL;
}

/*
 * MIGRATE, checked: start the kernel side, then answer OK, then watch.
 * Return: the child's exit code (0 completed, 6 failed, 7 in doubt), or
 * -1 when nothing was started (a refusal).
 */
static int receive(struct conn *c, struct pm_nl *nl,
		   const struct pm_hs_hello *h, struct pm_hs_reply *r)
{
	struct pm_region_attrs ra = {
		.size = h->region_size, .flags = h->region_flags,
		.uid = h->uid, .gid = h->gid, .mode = h->mode,
	};
	struct pm_mig_start ms = {
		.name = h->region, .role = PARTMOB_MIG_DEST, .fd = c->fd,
		.mig_id = h->mig_id, .peer = c->peer,
		.peer_boot_id = h->boot_id, .region = &ra,
		/* A VMM's RAM: writable once prepared, for its device state. */
		.flags = h->op == PARTMOB_HS_OP_MIGRATE_HELD ?
			 PARTMOB_MIG_F_HOLD : 0,
		.timeout_ms = (uint32_t)c->lo->link_ms,
		.streams = h->streams,
	};
	struct pollfd p;
	struct pm_mig m = { 0 }, last = { 0 };
	char who[PARTMOB_REGION_NAME_MAX + INET6_ADDRSTRLEN + 16];
	char err[320], why[400], b[2][32];
	int expected = 0, ctl, ret, pr;
	bool have = false, gone = false, ended = false, doubt = false;
	bool read_failed = false;
	uint64_t cnt, state;
	size_t len;

	snprintf(who, sizeof(who), "%s from %s", h->region, c->peer);
	if (c->lo->once &&
	    !atomic_compare_exchange_strong(c->slot, &expected, (int)getpid())) {
		refuse(c, r, h->region, NULL, PARTMOB_HS_E_INTERNAL,
		       "this listener (--once) is already receiving a migration");
		return -1;
	}
	ret = pm_mig_start(nl, &ms, &ctl);
	if (ret < 0) {
		if (c->lo->once)
			atomic_store(c->slot, 0);
		snprintf(why, sizeof(why), "cannot start receiving: %s",
			 pm_nl_why(nl, ret, err, sizeof(err)));
		refuse(c, r, h->region, NULL,
		       nl->err ? start_errno_status(nl->err) :
		       PARTMOB_HS_E_INTERNAL, why);
		return -1;
	}
	snprintf(why, sizeof(why), "receiving %s as %s",
		 pm_human(h->region_size, b[0], sizeof(b[0])), h->region);
	r->status = PARTMOB_HS_OK;
	len = strnlen(why, sizeof(r->message) - 1);
	memcpy(r->message, why, len);
	r->message[len] = '\0';
	ret = pm_hs_send_reply(c->fd, r, PM_HS_TIMEOUT_MS);
	/* The module holds its own reference to the socket. */
	close(c->fd);
	if (ret) {
		lg("%s: sending the reply: %s; aborting", who,
		   ret == -ETIMEDOUT ? "timed out" : strerror(-ret));
		close(ctl);	/* before the decision: aborts */
		tell_outcome(c, PM_EXIT_MIGFAIL);
		return PM_EXIT_MIGFAIL;
	}
	lg("%s: receiving %s (%" PRIu64 " bytes), migration %016" PRIx64, who,
	   b[0], h->region_size, h->mig_id);

	p = (struct pollfd){ .fd = ctl, .events = POLLIN };
	for (;;) {
		pr = poll(&p, 1, WATCH_MS);
		if (pr < 0 && errno != EINTR) {
			lg("%s: poll: %s", who, strerror(errno));
			break;
		}
		ended = pr > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL));
		if (pr > 0 && (p.revents & POLLIN) &&
		    read(ctl, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN &&
		    errno != EINTR && !ended)
			lg("%s: reading the control file: %s", who,
			   strerror(errno));
		ret = pm_mig_get_fd(nl, ctl, &m);
		if (ret < 0 && nl->err == ENOENT) {
			gone = true;	/* the module forgot it: failed */
			break;
		}
		if (ret < 0) {
			if (!read_failed)
				lg("%s: reading the migration's state: %s", who,
				   pm_nl_why(nl, ret, err, sizeof(err)));
			read_failed = true;
			if (ended)
				break;
			continue;
		}
		if (PM_MIG(&m, ID) != h->mig_id) {
			lg("%s: the control file reports migration %016" PRIx64,
			   who, PM_MIG(&m, ID));
			gone = true;
			break;
		}
		last = m;
		have = true;
		state = PM_MIG(&m, STATE);
		if (state == PARTMOB_MIG_S_IN_DOUBT && !doubt) {
			doubt = true;
			lg("%s: in doubt: every page is here but the link to the source failed before its decision; the region stays frozen until '%s recover %s'",
			   who, pm_prog, h->region);
			if (c->lo->once)
				break;
		}
		if (ended || state == PARTMOB_MIG_S_COMPLETED ||
		    state == PARTMOB_MIG_S_FAILED)
			break;
	}
	close(ctl);

	state = have ? PM_MIG(&last, STATE) : 0;
	if (gone || state == PARTMOB_MIG_S_FAILED) {
		b[1][0] = '\0';
		if (have && last.has[PARTMOB_A_MIG_TOTAL_NS])
			snprintf(b[1], sizeof(b[1]), " after %" PRIu64 " ms",
				 PM_MIG(&last, TOTAL_NS) / 1000000);
		lg("%s: failed%s: %s", who, b[1],
		   last.error[0] ? last.error : gone ?
		   "the module no longer knows the migration" :
		   "no reason given");
		tell_outcome(c, PM_EXIT_MIGFAIL);
		return PM_EXIT_MIGFAIL;
	}
	if (state == PARTMOB_MIG_S_COMPLETED) {
		lg("%s: completed in %" PRIu64 " ms, downtime %" PRIu64 " ms",
		   who, PM_MIG(&last, TOTAL_NS) / 1000000,
		   PM_MIG(&last, DOWNTIME_NS) / 1000000);
		/* --once exits now; a hook may run for long (a guest). */
		tell_outcome(c, PM_EXIT_OK);
		hand_over(c->lo, h->region, h->mig_id, c->peer, who);
		return PM_EXIT_OK;
	}
	if (state == PARTMOB_MIG_S_IN_DOUBT) {
		tell_outcome(c, PM_EXIT_INDOUBT);
		return PM_EXIT_INDOUBT;
	}
	lg("%s: stopped watching in state %s", who,
	   pm_mig_state_name(state));
	tell_outcome(c, PM_EXIT_FAIL);
	return PM_EXIT_FAIL;
}

/* ---- a guest's device state (PARTMOB_HS_OP_DEVICE_STATE, vm.h) ---------- */

#define VM_REGIONS_MAX	PARTMOB_HS_PATHS_MAX
#define VM_TICK_MS	10

struct vm_in {
	struct conn *c;
	struct pm_nl *nl;
	const struct pm_hs_hello *h;
	char who[INET6_ADDRSTRLEN + 64];
	char names[VM_REGIONS_MAX][PARTMOB_REGION_NAME_MAX + 1];
	unsigned int n;
	char qmp[PATH_MAX];
};

/* Each path a region migrating in here under the hello's id. */
static int vm_check(struct vm_in *v, char *why, size_t n)
{
	static const char prefix[] = "/dev/partmob/";
	const struct pm_hs_hello *h = v->h;
	struct pm_mig m;
	unsigned int i;
	const char *name;

	for (i = 0; i < h->npaths; i++) {
		if (strncmp(h->paths[i].path, prefix, sizeof(prefix) - 1)) {
			snprintf(why, n, "%.200s is not a region's device",
				 h->paths[i].path);
			return PARTMOB_HS_E_PATH;
		}
		name = h->paths[i].path + sizeof(prefix) - 1;
		if (pm_hs_bad_name(name)) {
			snprintf(why, n, "%.200s: %s", h->paths[i].path,
				 pm_hs_bad_name(name));
			return PARTMOB_HS_E_PATH;
		}
		if (pm_mig_get(v->nl, name, &m) < 0 ||
		    PM_MIG(&m, ROLE) != PARTMOB_MIG_DEST ||
		    PM_MIG(&m, ID) != h->mig_id ||
		    PM_MIG(&m, STATE) == PARTMOB_MIG_S_FAILED ||
		    PM_MIG(&m, STATE) == PARTMOB_MIG_S_COMPLETED) {
			snprintf(why, n,
				 "region %s is not migrating in here under migration %016" PRIx64,
				 name, h->mig_id);
			return PARTMOB_HS_E_PATH;
		}
		snprintf(v->names[i], sizeof(v->names[i]), "%s", name);
	}
	v->n = h->npaths;
	return PARTMOB_HS_OK;
}

/*
 * Run the --vm-hook, which starts the guest's QEMU in the background
 * (-incoming defer -S, QMP at PARTMOB_VM_QMP). Return: 0, or -1 with @why.
 */
static int vm_hook(struct vm_in *v, char *why, size_t n)
{
	char devs[VM_REGIONS_MAX * (PARTMOB_HS_PATH_MAX + 1)] = "";
	char names[VM_REGIONS_MAX * (PARTMOB_REGION_NAME_MAX + 1)] = "";
	char sizes[VM_REGIONS_MAX * 21] = "", idt[20];
	int status;
	unsigned int i;
	pid_t pid;

	for (i = 0; i < v->n; i++) {
		snprintf(devs + strlen(devs), sizeof(devs) - strlen(devs),
			 "%s%s", i ? " " : "", v->h->paths[i].path);
		snprintf(names + strlen(names), sizeof(names) - strlen(names),
			 "%s%s", i ? " " : "", v->names[i]);
		snprintf(sizes + strlen(sizes), sizeof(sizes) - strlen(sizes),
			 "%s%" PRIu64, i ? " " : "", v->h->paths[i].size);
	}
	snprintf(idt, sizeof(idt), "%016" PRIx64, v->h->mig_id);
	pid = hook_fork();
	if (pid < 0) {
		snprintf(why, n, "the vm hook: fork: %s", strerror(errno));
		return -1;
	}
	if (!pid) {
		if (setenv("PARTMOB_VM_QMP", v->qmp, 1) ||
		    setenv("PARTMOB_VM_DEVICES", devs, 1) ||
		    setenv("PARTMOB_VM_REGIONS", names, 1) ||
		    setenv("PARTMOB_VM_SIZES", sizes, 1) ||
		    setenv("PARTMOB_MIGRATION_ID", idt, 1) ||
		    setenv("PARTMOB_PEER", v->c->peer, 1))
			_exit(127);
		hook_exec(v->c->lo->vm_hook);
	}
	if (hook_wait(pid, &status)) {
		snprintf(why, n, "the vm hook: waitpid: %s", strerror(errno));
		return -1;
	}
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return 0;
	if (WIFEXITED(status))
		snprintf(why, n, "the vm hook exited with status %d",
			 WEXITSTATUS(status));
	else
		snprintf(why, n, "the vm hook was killed by signal %d",
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}

static int region_delete(struct pm_nl *nl, const char *name)
{
	struct nl_msg *msg = pm_nl_msg(nl, PARTMOB_CMD_REGION_DEL, 0);

	if (!msg)
		return -ENOMEM;
	if (nla_put_string(msg, PARTMOB_A_REGION_NAME, name)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return pm_nl_request(nl, msg, NULL, NULL);
}

/*
 * The migration failed before the decision: quit our QEMU, then delete
 * the regions it mapped (the module deletes a failed incoming region
 * itself only when nobody maps it).
 */
static void vm_discard(struct vm_in *v, struct pm_vm *vm)
{
	struct timespec tick = { 0, 100 * 1000000L };
	char err[400];
	unsigned int i, tries;
	int ret;

	if (pm_vm_quit(vm, err, sizeof(err)))
		lg("%s: quitting QEMU: %s", v->who, err);
	for (i = 0; i < v->n; i++) {
		for (tries = 0; tries < 100; tries++) {
			ret = region_delete(v->nl, v->names[i]);
			if (ret != -EBUSY)
				break;
			nanosleep(&tick, NULL);	/* QEMU still exiting */
		}
		if (ret && ret != -ENOENT)
			lg("%s: deleting %s: %s", v->who, v->names[i],
			   strerror(-ret));
	}
}

/* Return: 1 all completed, -1 one failed, 0 still going. */
static int vm_regions(struct vm_in *v, bool *doubt)
{
	struct pm_mig m;
	unsigned int i, done = 0;
	uint64_t state;

	for (i = 0; i < v->n; i++) {
		if (pm_mig_get(v->nl, v->names[i], &m) < 0 ||
		    PM_MIG(&m, ID) != v->h->mig_id)
			return -1;	/* a failed region is deleted */
		state = PM_MIG(&m, STATE);
		if (state == PARTMOB_MIG_S_FAILED)
			return -1;
		if (state == PARTMOB_MIG_S_COMPLETED)
			done++;
		if (state == PARTMOB_MIG_S_IN_DOUBT && !*doubt) {
			*doubt = true;
			lg("%s: %s is in doubt; the guest waits, paused, for '%s recover %s'",
			   v->who, v->names[i], pm_prog, v->names[i]);
		}
	}
	return done == v->n;
}

static void serve_vm(struct conn *c, struct pm_nl *nl,
		     const struct pm_hs_hello *h, struct pm_hs_reply *r)
{
	struct timespec tick = { 0, VM_TICK_MS * 1000000L };
	struct vm_in v = { .c = c, .nl = nl, .h = h };
	const char *dir = c->lo->state_dir ? c->lo->state_dir : "/run/partmob";
	struct pm_vm vm;
	char why[800];
	bool doubt = false;
	int st, ret;

	snprintf(v.who, sizeof(v.who), "guest %016" PRIx64 " from %s",
		 h->mig_id, c->peer);
	if (!c->lo->vm_hook) {
		refuse(c, r, v.who, "device-state", PARTMOB_HS_E_INTERNAL,
		       "this listener starts no guests (it has no --vm-hook)");
		return;
	}
	st = vm_check(&v, why, sizeof(why));
	if (st != PARTMOB_HS_OK) {
		refuse(c, r, v.who, "device-state", st, why);
		return;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(why, sizeof(why), "%s: %s", dir, strerror(errno));
		refuse(c, r, v.who, "device-state", PARTMOB_HS_E_INTERNAL, why);
		return;
	}
	snprintf(v.qmp, sizeof(v.qmp), "%s/vm-%016" PRIx64 ".qmp", dir,
		 h->mig_id);
	unlink(v.qmp);
	if (vm_hook(&v, why, sizeof(why))) {
		refuse(c, r, v.who, "device-state", PARTMOB_HS_E_INTERNAL, why);
		return;
	}
	ret = pm_vm_open(&vm, v.qmp, false, PM_VM_QMP_TIMEOUT_MS, why,
			 sizeof(why));
	if (!ret && strcmp(vm.status, "inmigrate")) {
		snprintf(why, sizeof(why),
			 "the QEMU the vm hook started is %s, not waiting for an incoming migration (-incoming defer)",
			 vm.status);
		ret = -EINVAL;
	}
	if (!ret)
		ret = pm_vm_incoming(&vm, c->fd, why, sizeof(why));
	if (ret) {
		if (vm.open)
			pm_vm_quit(&vm, why + strlen(why),
				   sizeof(why) - strlen(why));
		pm_vm_close(&vm);
		refuse(c, r, v.who, "device-state", PARTMOB_HS_E_INTERNAL, why);
		return;
	}
	lg("%s: QEMU waits for the device state of %u region(s)", v.who,
	   v.n);
	reply(c, r, PARTMOB_HS_OK, "QEMU waits for the device state");

	for (;;) {
		ret = vm_regions(&v, &doubt);
		if (ret)
			break;
		nanosleep(&tick, NULL);
	}
	if (ret < 0) {
		lg("%s: the memory migration failed; quitting QEMU", v.who);
		vm_discard(&v, &vm);
		pm_vm_close(&vm);
		close(c->fd);
		return;
	}
	/* Decided and thawed: run the guest, then tell the source. */
	ret = pm_vm_cont(&vm, why, sizeof(why));
	if (ret) {
		lg("%s: the memory is here but the guest does not run: %s",
		   v.who, why);
	} else {
		lg("%s: running here", v.who);
		r->outcome = PARTMOB_HS_OUTCOME_COMMITTED;
		reply(c, r, PARTMOB_HS_OK, "the guest runs here");
	}
	pm_vm_close(&vm);
	pm_hs_close_gently(c->fd);
}

/* ---- one connection --------------------------------------------------------- */

/* Return: the child's exit code; -1 unless a migration was started. */
/*
 * STREAM: one more connection of a migration this listener receives
 * (start --streams): handed to the module, which receives on it at once.
 */
static void attach_stream(struct conn *c, struct pm_nl *nl,
			  const struct pm_hs_hello *h, struct pm_hs_reply *r)
{
	char why[400], err[320];
	int ret;

	ret = pm_mig_attach(nl, h->region, h->mig_id, h->streams, c->fd);
	if (ret < 0) {
		snprintf(why, sizeof(why),
			 "cannot add connection %u to migration %016" PRIx64
			 ": %s", h->streams + 1, h->mig_id,
			 pm_nl_why(nl, ret, err, sizeof(err)));
		refuse(c, r, h->region, "stream", ret == -ENOENT ||
		       ret == -ESRCH ? PARTMOB_HS_E_BAD_REQUEST :
		       PARTMOB_HS_E_INTERNAL, why);
		return;
	}
	snprintf(why, sizeof(why), "connection %u of migration %016" PRIx64,
		 h->streams + 1, h->mig_id);
	lg("%s from %s: %s", h->region, c->peer, why);
	reply(c, r, PARTMOB_HS_OK, why);
	/* The module holds its own reference to the socket. */
	close(c->fd);
}

static int serve(struct conn *c)
{
	struct pm_hs_reply r = { 0 };
	struct pm_hs_hello h;
	struct pm_nl nl;
	char why[400], nlwhy[256];
	const char *op;
	int st, ret;

	pm_boot_id(r.boot_id, sizeof(r.boot_id));
	r.mem_available = pm_mem_available();

	/* Nothing is read from a peer that has not authenticated. */
	if (c->lo->ctx) {
		char id[PM_TLS_PEER_MAX];

		ret = pm_tls_accept(c->lo->ctx, c->fd, PM_HS_TIMEOUT_MS, id,
				    sizeof(id), why, sizeof(why));
		if (ret) {
			lg("connection from %s: refused: %s", c->peer, why);
			close(c->fd);
			return -1;
		}
		lg("connection from %s: authenticated with %s", c->peer, id);
	}
	st = pm_hs_recv_hello(c->fd, &h, PM_HS_TIMEOUT_MS, why, sizeof(why));
	if (st < 0) {
		lg("connection from %s: %s", c->peer, why);
		close(c->fd);
		return -1;
	}
	if (st != PARTMOB_HS_OK) {
		refuse(c, &r, "connection", NULL, st, why);
		return -1;
	}
	op = h.op == PARTMOB_HS_OP_MIGRATE || h.op == PARTMOB_HS_OP_MIGRATE_HELD ?
	     NULL : pm_hs_op_name(h.op);

	ret = pm_nl_open_why(&nl, nlwhy, sizeof(nlwhy));
	if (ret == PM_EXIT_NOMODULE) {
		refuse(c, &r, h.region, op, PARTMOB_HS_E_INTERNAL,
		       "the partmob kernel module is not loaded on this host");
		return -1;
	}
	if (ret) {
		snprintf(why, sizeof(why), "partmob is not usable on this host: %s",
			 nlwhy);
		refuse(c, &r, h.region, op, PARTMOB_HS_E_INTERNAL, why);
		return -1;
	}
	if (h.op == PARTMOB_HS_OP_QUERY) {
		answer_query(c, &nl, &h, &r);
		pm_nl_close(&nl);
		return -1;
	}
	if (h.op == PARTMOB_HS_OP_DEVICE_STATE) {
		serve_vm(c, &nl, &h, &r);
		pm_nl_close(&nl);
		return -1;
	}
	if (h.op == PARTMOB_HS_OP_STREAM) {
		attach_stream(c, &nl, &h, &r);
		pm_nl_close(&nl);
		return -1;
	}
	st = check_hello(&nl, &h, &r, why, sizeof(why));
	if (st != PARTMOB_HS_OK) {
		refuse(c, &r, h.region, op, st, why);
		pm_nl_close(&nl);
		return -1;
	}
	if (h.op == PARTMOB_HS_OP_VALIDATE) {
		snprintf(why, sizeof(why), "%s would be accepted here",
			 h.region);
		lg("%s from %s: validate: accepted", h.region, c->peer);
		reply(c, &r, PARTMOB_HS_OK, why);
		pm_hs_close_gently(c->fd);
		pm_nl_close(&nl);
		return -1;
	}
	ret = receive(c, &nl, &h, &r);
	pm_nl_close(&nl);
	return ret;
}

/* ---- the service ------------------------------------------------------------ */

static void listen_help(FILE *f)
{
	fprintf(f,
		"Usage: %s listen (--psk-file F | --cert C --key K --ca A | --insecure)\n"
		"                  [--peer-name N]... [--address A] [--port P]\n"
		"                  [--on-resume CMD] [--once] [--state-dir DIR]\n"
		"                  [--vm-hook CMD] [--link-timeout MS]\n"
		"\n"
		"Receive migrations: the destination's service. Every connection is\n"
		"served by a child process: the source's hello is checked (versions,\n"
		"architecture, page size, features, size, free memory, that no region\n"
		"of the name exists, required paths); 'validate' gets the verdict,\n"
		"'start' a region that the module fills, 'recover' the outcome of a\n"
		"migration this host was the source of. One log line per outcome on\n"
		"standard error.\n"
		"\n"
		"  --psk-file F    accept only peers that know a key of F (lines of\n"
		"                  IDENTITY:HEXKEY, at least 32 hex digits, mode 0600):\n"
		"                  TLS 1.3 with that pre-shared key, then the migration\n"
		"                  encrypted through kernel TLS (the tls module)\n"
		"  --cert C --key K --ca A\n"
		"                  or accept only peers with a certificate of a CA of A\n"
		"                  (PEM), presenting C (PEM, with its chain) and its key\n"
		"                  K (PEM, mode 0600, no passphrase); give the listener\n"
		"                  a CA of its own, or --peer-name\n"
		"  --peer-name N   with certificates: the peer's must name N (a DNS name\n"
		"                  or an address; up to 8 times: any of them)\n"
		"  --insecure      plain TCP: anyone who can connect may migrate here\n"
		"  --address A     listen on this address (default every address, IPv6\n"
		"                  and IPv4)\n"
		"  --port P        TCP port (default %d; 0 picks a free one, logged)\n"
		"  --on-resume CMD run 'sh -c CMD' after a migration has completed here,\n"
		"                  with PARTMOB_REGION, PARTMOB_DEVICE (/dev/partmob/NAME),\n"
		"                  PARTMOB_MIGRATION_ID and PARTMOB_PEER in its environment\n"
		"  --vm-hook CMD   receive QEMU guests ('start --qmp'): when a source sends\n"
		"                  a guest's device state, run 'sh -c CMD', which must start\n"
		"                  QEMU in the background with the guest's configuration,\n"
		"                  its memory backends on the regions named in\n"
		"                  PARTMOB_VM_DEVICES (with PARTMOB_VM_REGIONS, _SIZES),\n"
		"                  '-incoming defer -S' and '-qmp unix:$PARTMOB_VM_QMP,\n"
		"                  server=on,wait=off', and exit 0; the listener then\n"
		"                  feeds QEMU the device state and runs the guest ('cont')\n"
		"                  once the regions are committed, or quits QEMU if they\n"
		"                  fail\n"
		"  --once          receive one migration, then exit as soon as its outcome\n"
		"                  is known: 0 completed, 6 failed, 7 in doubt (validations,\n"
		"                  queries and refused migrations do not count); a hook\n"
		"                  goes on running\n"
		"  --state-dir DIR where to note the migrations whose hook ran (default\n"
		"                  /run/partmob); without --once, a (re)started listener\n"
		"                  picks up every incoming migration not noted there: it\n"
		"                  runs the hook of those completed meanwhile and follows\n"
		"                  those still running\n"
		"  --link-timeout MS\n"
		"                  how long a source may stay silent before an\n"
		"                  incoming migration fails, or is in doubt once\n"
		"                  prepared (default %d)\n"
		"\n"
		"Needs CAP_NET_ADMIN and CAP_SYS_ADMIN.\n", pm_prog, PARTMOB_HS_PORT,
		PARTMOB_MIG_TIMEOUT_MS_DEFAULT);
}

static int listen_opt(void *ctx, int opt, const char *arg)
{
	struct listen_opts *lo = ctx;
	char *end;
	unsigned long v;

	switch (opt) {
	case OPT_ADDRESS:
		lo->address = arg;
		return -1;
	case OPT_PORT:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (!arg[0] || *end || errno || v > 65535 || arg[0] == '-' ||
		    arg[0] == '+')
			return pm_usage_error("listen",
					      "--port: '%s' is not a port (0 to 65535)",
					      arg);
		lo->port = arg;
		return -1;
	case OPT_ON_RESUME:
		lo->on_resume = arg;
		return -1;
	case OPT_VM_HOOK:
		lo->vm_hook = arg;
		return -1;
	case OPT_ONCE:
		lo->once = true;
		return -1;
	case OPT_LINK_TIMEOUT:
		return pm_link_timeout_opt("listen", arg, &lo->link_ms);
	case OPT_STATE_DIR:
		if (arg[0] != '/')
			return pm_usage_error("listen",
					      "--state-dir: '%s' is not an absolute path",
					      arg);
		lo->state_dir = arg;
		return -1;
	}
	return pm_tls_opt("listen", &lo->tls, opt, arg);
}

static int bind_listen(int family, const struct sockaddr *sa, socklen_t sl)
{
	int one = 1, zero = 0, fd, err;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)	/* "::" takes IPv4 too */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, sa, sl) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Return: the listening socket, or -errno with @why set. */
static int listen_socket(const struct listen_opts *lo, char *text, size_t n,
			 char *why, size_t wn)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo *res, *ai;
	char host[INET6_ADDRSTRLEN];
	unsigned int port;
	int fd = -EADDRNOTAVAIL, ret;

	if (!lo->address) {
		struct sockaddr_in6 in6 = {
			.sin6_family = AF_INET6,
			.sin6_addr = IN6ADDR_ANY_INIT,
			.sin6_port = htons((uint16_t)atoi(lo->port)),
		};
		struct sockaddr_in in = {
			.sin_family = AF_INET,
			.sin_addr.s_addr = htonl(INADDR_ANY),
			.sin_port = htons((uint16_t)atoi(lo->port)),
		};

		fd = bind_listen(AF_INET6, (struct sockaddr *)&in6,
				 sizeof(in6));
		if (fd == -EAFNOSUPPORT)	/* a kernel without IPv6 */
			fd = bind_listen(AF_INET, (struct sockaddr *)&in,
					 sizeof(in));
	} else {
		ret = getaddrinfo(lo->address, lo->port, &hints, &res);
		if (ret) {
			snprintf(why, wn, "--address %s: %s", lo->address,
				 ret == EAI_SYSTEM ? strerror(errno) :
				 gai_strerror(ret));
			return -EINVAL;
		}
		for (ai = res; ai; ai = ai->ai_next) {
			fd = bind_listen(ai->ai_family, ai->ai_addr,
					 ai->ai_addrlen);
			if (fd >= 0)
				break;
		}
		freeaddrinfo(res);
	}
	if (fd < 0) {
		snprintf(why, wn, "cannot listen on %s port %s: %s",
			 lo->address ? lo->address : "any address", lo->port,
			 strerror(-fd));
		return fd;
	}
	if (!getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		pm_addr_text(&ss, sl, host, sizeof(host), &port);
		if (ss.ss_family == AF_INET6 && !lo->address)
			snprintf(host, sizeof(host), "::");
		snprintf(text, n, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
			 port);
	}
	return fd;
}

/*
 * A child of a restarted listener: follow an incoming migration that
 * nobody watches any more, by name, and hand it over once it completes.
 */
static int follow(const struct listen_opts *lo, const struct pm_mig *start)
{
	struct timespec ts = { 0, 250000000 };
	uint64_t id = PM_MIG(start, ID);
	char who[PARTMOB_REGION_NAME_MAX + PARTMOB_MIG_PEER_MAX + 16];
	struct pm_mig m = *start;
	struct pm_nl nl;
	uint32_t state;
	char why[320];

	snprintf(who, sizeof(who), "%s from %s", start->name, start->peer);
	if (pm_nl_open_why(&nl, why, sizeof(why))) {
		lg("%s: %s", who, why);
		return PM_EXIT_FAIL;
	}
	for (;;) {
		state = PM_MIG(&m, STATE);
		if (PM_MIG(&m, ID) != id || state == PARTMOB_MIG_S_FAILED) {
			lg("%s: failed: %s", who,
			   m.error[0] ? m.error : "it is gone");
			break;
		}
		if (state == PARTMOB_MIG_S_COMPLETED) {
			lg("%s: completed (picked up after a restart)", who);
			hand_over(lo, m.name, id, m.peer, who);
			break;
		}
		nanosleep(&ts, NULL);
		if (pm_mig_get(&nl, start->name, &m)) {
			lg("%s: it is gone", who);
			break;
		}
	}
	pm_nl_close(&nl);
	return PM_EXIT_OK;
}

/* At start: pick up incoming migrations an earlier listener left. */
static void pick_up(const struct listen_opts *lo, const sigset_t *old,
		    int lfd, int sfd)
{
	struct pm_mig *list = NULL;
	struct pm_nl nl;
	uint32_t state;
	size_t i, n = 0;
	char why[320];
	pid_t pid;

	if (pm_nl_open_why(&nl, why, sizeof(why)))
		return;
	if (pm_mig_dump(&nl, &list, &n)) {
		pm_nl_close(&nl);
		return;
	}
	pm_nl_close(&nl);
	for (i = 0; i < n; i++) {
		if (PM_MIG(&list[i], ROLE) != PARTMOB_MIG_DEST ||
		    handed_over(lo, PM_MIG(&list[i], ID)))
			continue;
		state = PM_MIG(&list[i], STATE);
		if (state == PARTMOB_MIG_S_FAILED)
			continue;
		if (state == PARTMOB_MIG_S_IN_DOUBT) {
			lg("%s from %s: in doubt; '%s recover %s' settles it",
			   list[i].name, list[i].peer, pm_prog, list[i].name);
			continue;
		}
		lg("%s from %s: picking up an incoming migration (%s)",
		   list[i].name, list[i].peer, pm_mig_state_name(state));
		fflush(NULL);
		pid = fork();
		if (pid < 0)
			lg("%s: fork: %s", list[i].name, strerror(errno));
		if (!pid) {
			close(lfd);
			close(sfd);
			sigprocmask(SIG_SETMASK, old, NULL);
			_exit(follow(lo, &list[i]));
		}
	}
	free(list);
}

int cmd_listen(int argc, char **argv, struct pm_opts *o)
{
	static const struct option opts[] = {
		{ "address", required_argument, NULL, OPT_ADDRESS },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "on-resume", required_argument, NULL, OPT_ON_RESUME },
		{ "vm-hook", required_argument, NULL, OPT_VM_HOOK },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "link-timeout", required_argument, NULL, OPT_LINK_TIMEOUT },
		PM_TLS_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	char defport[8], text[INET6_ADDRSTRLEN + 16] = "?", why[320];
	struct listen_opts lo = { 0 };
	struct signalfd_siginfo si;
	struct sockaddr_storage ss;
	struct pollfd pfd[3];
	int opipe[2] = { -1, -1 };
	unsigned char code;
	sigset_t set, old;
	atomic_int *slot;
	struct pm_nl nl;
	struct conn c;
	socklen_t sl;
	char *args[1];
	int lfd, sfd, cfd, nargs, status, ret = -1;
	pid_t pid;

	snprintf(defport, sizeof(defport), "%d", PARTMOB_HS_PORT);
	lo.port = defport;
	lo.state_dir = "/run/partmob";
	ret = pm_mig_parse(argc, argv, "listen", o, opts, listen_help,
			   listen_opt, &lo, 0, 0, args, &nargs);
	if (ret >= 0)
		return ret;
	ret = pm_tls_opts_check("listen", &lo.tls);
	if (ret >= 0)
		return ret;
	if (pm_tls_new(&lo.tls, true, &lo.ctx, why, sizeof(why))) {
		fprintf(stderr, "%s: listen: %s\n", pm_prog, why);
		return PM_EXIT_FAIL;
	}

	lfd = listen_socket(&lo, text, sizeof(text), why, sizeof(why));
	if (lfd < 0) {
		fprintf(stderr, "%s: listen: %s\n", pm_prog, why);
		pm_tls_free(lo.ctx);
		return lfd == -EACCES ? PM_EXIT_PERM : PM_EXIT_FAIL;
	}
	slot = mmap(NULL, sizeof(*slot), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slot == MAP_FAILED) {
		fprintf(stderr, "%s: listen: mmap: %s\n", pm_prog,
			strerror(errno));
		ret = PM_EXIT_FAIL;
		goto err_lfd;
	}
	atomic_init(slot, 0);
	if (lo.once && pipe2(opipe, O_CLOEXEC | O_NONBLOCK)) {
		fprintf(stderr, "%s: listen: pipe: %s\n", pm_prog,
			strerror(errno));
		ret = PM_EXIT_FAIL;
		goto err_slot;
	}

	/* Signals arrive as reads of sfd, between accepts. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, &old);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "%s: listen: signalfd: %s\n", pm_prog,
			strerror(errno));
		ret = PM_EXIT_FAIL;
		goto err_mask;
	}
	signal(SIGPIPE, SIG_IGN);

	lg("listening on %s%s%s%s%s", text,
	   !lo.ctx ? ", plain TCP (insecure)" : lo.tls.cert_file ?
	   ", TLS with certificates" : ", TLS with pre-shared keys",
	   lo.once ? ", for one migration" : "",
	   lo.on_resume ? ", on resume: " : "",
	   lo.on_resume ? lo.on_resume : "");
	if (pm_nl_open_why(&nl, why, sizeof(why)))
		lg("warning: %s; every request is refused until it is", why);
	else
		pm_nl_close(&nl);
	/* Children inherit the signal mask; the reaper below collects them. */
	if (!lo.once)
		pick_up(&lo, &old, lfd, sfd);

	pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = opipe[0], .events = POLLIN };
	ret = -1;
	while (ret < 0) {
		if (poll(pfd, lo.once ? 3 : 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			lg("poll: %s", strerror(errno));
			ret = PM_EXIT_FAIL;
			break;
		}
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
				lg("stopping on %s",
				   si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
				ret = lo.once ? PM_EXIT_FAIL : PM_EXIT_OK;
			}
		}
		if (lo.once && read(opipe[0], &code, 1) == 1)
			ret = code;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (!lo.once || pid != atomic_load(slot) || ret >= 0)
				continue;
			if (WIFEXITED(status)) {
				ret = WEXITSTATUS(status);
			} else {
				lg("the migration's child was killed by signal %d",
				   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
				ret = PM_EXIT_FAIL;
			}
		}
		if (ret >= 0 || !(pfd[1].revents & POLLIN))
			continue;

		sl = sizeof(ss);
		cfd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				struct timespec ts = { 0, 100000000 };

				lg("accept: %s", strerror(errno));
				nanosleep(&ts, NULL);
			} else if (errno != EINTR && errno != EAGAIN &&
				   errno != ECONNABORTED) {
				lg("accept: %s", strerror(errno));
			}
			continue;
		}
		c = (struct conn){ .fd = cfd, .lo = &lo, .slot = slot,
				   .outcome_fd = opipe[1] };
		pm_addr_text(&ss, sl, c.peer, sizeof(c.peer), NULL);
		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			lg("connection from %s: fork: %s", c.peer,
			   strerror(errno));
			close(cfd);
			continue;
		}
		if (!pid) {
			close(lfd);
			close(sfd);
			if (opipe[0] >= 0)
				close(opipe[0]);
			sigprocmask(SIG_SETMASK, &old, NULL);
			ret = serve(&c);
			_exit(ret < 0 ? PM_EXIT_OK : ret);
		}
		close(cfd);
	}

	close(sfd);
err_mask:
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (opipe[0] >= 0) {
		close(opipe[0]);
		close(opipe[1]);
	}
err_slot:
	munmap(slot, sizeof(*slot));
err_lfd:
	close(lfd);
	pm_tls_free(lo.ctx);
	return ret;
}
