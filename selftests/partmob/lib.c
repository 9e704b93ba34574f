// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "extack.h"
#include "lib.h"

struct ctx {
	struct tnl *t;
	int done;
	tnl_dump_cb dump_cb;
	void *dump_arg;
	int cb_err;
};

static int on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct ctx *c = arg;

	(void)who;
	c->done = 1;
	c->t->err = e->error;
	pm_extack_error(e, c->t->extack, sizeof(c->t->extack));
	pm_extack_error_attr(e, &c->t->bad_off, &c->t->miss_type);
	return NL_STOP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct ctx *c = arg;

	(void)msg;
	c->done = 1;
	return NL_STOP;
}

/* NLMSG_DONE: a dump ended; an error hit while dumping travels here. */
static int on_finish(struct nl_msg *msg, void *arg)
{
	struct ctx *c = arg;
	int err;

	c->done = 1;
	err = pm_extack_done(nlmsg_hdr(msg), c->t->extack,
			     sizeof(c->t->extack));
	if (err)
		c->t->err = err;
	return NL_STOP;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct ctx *c = arg;

	if (c->dump_cb) {
		struct nlattr *tb[PARTMOB_A_MAX + 1];
		int ret;

		c->t->nreplies++;
		if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, PARTMOB_A_MAX, NULL)) {
			c->t->err = -EBADMSG;
			return NL_STOP;
		}
		ret = c->dump_cb(tb, c->dump_arg);
		if (ret < 0) {
			c->cb_err = ret;
			return NL_SKIP;	/* read the rest of the dump */
		}
		return NL_OK;
	}
	c->t->nreplies++;
	if (c->t->reply)
		nlmsg_free(c->t->reply);
	nlmsg_get(msg);
	c->t->reply = msg;
	if (genlmsg_parse(nlmsg_hdr(msg), 0, c->t->tb, PARTMOB_A_MAX, NULL))
		c->t->err = -EBADMSG;
	return NL_OK;
}

int tnl_open(struct tnl *t)
{
	int one = 1;

	memset(t, 0, sizeof(*t));
	t->sk = nl_socket_alloc();
	if (!t->sk)
		return -ENOMEM;
	if (genl_connect(t->sk))
		goto err;
	setsockopt(nl_socket_get_fd(t->sk), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	setsockopt(nl_socket_get_fd(t->sk), SOL_NETLINK, NETLINK_CAP_ACK,
		   &one, sizeof(one));
	t->family = genl_ctrl_resolve(t->sk, PARTMOB_GENL_NAME);
	if (t->family < 0) {
		nl_socket_free(t->sk);
		t->sk = NULL;
		return -ENOENT;
	}
	return 0;
err:
	nl_socket_free(t->sk);
	t->sk = NULL;
	return -EIO;
}

void tnl_close(struct tnl *t)
{
	if (t->reply)
		nlmsg_free(t->reply);
	t->reply = NULL;
	if (t->sk)
		nl_socket_free(t->sk);
	t->sk = NULL;
}

struct nl_msg *tnl_msg(struct tnl *t, uint8_t cmd, int flags)
{
	/* Room for the oversized attributes the tests send. */
	struct nl_msg *msg = nlmsg_alloc_size(65536);

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, t->family, 0,
				flags, cmd, PARTMOB_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

static int request(struct tnl *t, struct nl_msg *msg, tnl_dump_cb cb,
		   void *arg)
{
	struct ctx c = { .t = t, .dump_cb = cb, .dump_arg = arg };
	struct nl_cb *nlcb = nl_cb_alloc(NL_CB_DEFAULT);
	int ret;

	t->err = 0;
	t->nreplies = 0;
	t->extack[0] = '\0';
	t->bad_off = 0;
	t->miss_type = -1;
	memset(t->tb, 0, sizeof(t->tb));
	if (t->reply)
		nlmsg_free(t->reply);
	t->reply = NULL;
	if (!msg || !nlcb) {
		if (msg)
			nlmsg_free(msg);
		if (nlcb)
			nl_cb_put(nlcb);
		return t->err = -ENOMEM;
	}
	nl_cb_err(nlcb, NL_CB_CUSTOM, on_error, &c);
	nl_cb_set(nlcb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &c);
	nl_cb_set(nlcb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, &c);
	nl_cb_set(nlcb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &c);
	ret = nl_send_auto(t->sk, msg);
	nlmsg_free(msg);
	if (ret < 0) {
		t->err = -EIO;
		goto out;
	}
	while (!c.done && !t->err) {
		ret = nl_recvmsgs(t->sk, nlcb);
		if (ret < 0 && !c.done && !t->err)
			t->err = -EIO;
	}
	if (!t->err && c.cb_err)
		t->err = c.cb_err;
out:
	nl_cb_put(nlcb);
	return t->err;
}

int tnl_request(struct tnl *t, struct nl_msg *msg)
{
	return request(t, msg, NULL, NULL);
}

int tnl_dump(struct tnl *t, struct nl_msg *msg, tnl_dump_cb cb, void *arg)
{
	return request(t, msg, cb, arg);
}

/* ---- regions ------------------------------------------------------------ */

int pm_region_create(struct tnl *t, const char *name, uint64_t size,
		     int64_t flags, int64_t uid, int64_t gid, int64_t mode)
{
	struct nl_msg *m = tnl_msg(t, PARTMOB_CMD_REGION_NEW, 0);

	if (m && ((name && nla_put_string(m, PARTMOB_A_REGION_NAME, name)) ||
		  nla_put_u64(m, PARTMOB_A_REGION_SIZE, size) ||
		  (flags >= 0 &&
		   nla_put_u32(m, PARTMOB_A_REGION_FLAGS, (uint32_t)flags)) ||
		  (uid >= 0 &&
		   nla_put_u32(m, PARTMOB_A_REGION_UID, (uint32_t)uid)) ||
		  (gid >= 0 &&
		   nla_put_u32(m, PARTMOB_A_REGION_GID, (uint32_t)gid)) ||
		  (mode >= 0 &&
		   nla_put_u32(m, PARTMOB_A_REGION_MODE, (uint32_t)mode)))) {
		nlmsg_free(m);
		m = NULL;
	}
	return tnl_request(t, m);
}

int pm_region_cmd(struct tnl *t, uint8_t cmd, const char *name)
{
	struct nl_msg *m = tnl_msg(t, cmd, 0);

	if (m && nla_put_string(m, PARTMOB_A_REGION_NAME, name)) {
		nlmsg_free(m);
		m = NULL;
	}
	return tnl_request(t, m);
}

int pm_region_delete(struct tnl *t, const char *name)
{
	return pm_region_cmd(t, PARTMOB_CMD_REGION_DEL, name);
}

static void fill_info(struct nlattr **tb, struct pm_region_info *ri)
{
	memset(ri, 0, sizeof(*ri));
	if (tb[PARTMOB_A_REGION_NAME])
		snprintf(ri->name, sizeof(ri->name), "%s",
			 nla_get_string(tb[PARTMOB_A_REGION_NAME]));
#define U64(a, f) if (tb[a]) ri->f = nla_get_u64(tb[a])
#define U32(a, f) if (tb[a]) ri->f = nla_get_u32(tb[a])
	U64(PARTMOB_A_REGION_SIZE, size);
	U32(PARTMOB_A_REGION_FLAGS, flags);
	U32(PARTMOB_A_REGION_UID, uid);
	U32(PARTMOB_A_REGION_GID, gid);
	U32(PARTMOB_A_REGION_MODE, mode);
	U32(PARTMOB_A_REGION_USERS, users);
	U64(PARTMOB_A_REGION_STAT_FAULTS, faults);
	U64(PARTMOB_A_REGION_STAT_DIRTIED, dirtied);
	U64(PARTMOB_A_REGION_STAT_HARVESTS, harvests);
	U64(PARTMOB_A_REGION_STAT_HARVESTED, harvested);
	U64(PARTMOB_A_REGION_STAT_FROZEN_WAITS, frozen_waits);
	U64(PARTMOB_A_REGION_STAT_PINNED, pinned);
	U64(PARTMOB_A_REGION_STAT_REMOVED, removed);
	U64(PARTMOB_A_REGION_DIRTY, dirty);
#undef U64
#undef U32
	if (tb[PARTMOB_A_REGION_FROZEN])
		ri->frozen = nla_get_u8(tb[PARTMOB_A_REGION_FROZEN]);
	ri->have_all = tb[PARTMOB_A_REGION_NAME] && tb[PARTMOB_A_REGION_SIZE] &&
		tb[PARTMOB_A_REGION_FLAGS] && tb[PARTMOB_A_REGION_UID] &&
		tb[PARTMOB_A_REGION_GID] && tb[PARTMOB_A_REGION_MODE] &&
		tb[PARTMOB_A_REGION_USERS] && tb[PARTMOB_A_REGION_FROZEN] &&
		tb[PARTMOB_A_REGION_STAT_FAULTS] &&
		tb[PARTMOB_A_REGION_STAT_DIRTIED] &&
		tb[PARTMOB_A_REGION_STAT_HARVESTS] &&
		tb[PARTMOB_A_REGION_STAT_HARVESTED] &&
		tb[PARTMOB_A_REGION_STAT_FROZEN_WAITS] &&
		tb[PARTMOB_A_REGION_STAT_PINNED] &&
		tb[PARTMOB_A_REGION_STAT_REMOVED] && tb[PARTMOB_A_REGION_DIRTY];
}

int pm_region_get(struct tnl *t, const char *name, struct pm_region_info *ri)
{
	int ret = pm_region_cmd(t, PARTMOB_CMD_REGION_GET, name);

	if (!ret)
		fill_info(t->tb, ri);
	return ret;
}

struct list_ctx {
	struct pm_region_info *ri;
	int max, n;
};

static int list_cb(struct nlattr **tb, void *arg)
{
	struct list_ctx *l = arg;

	if (l->n < l->max)
		fill_info(tb, &l->ri[l->n]);
	l->n++;
	return 0;
}

int pm_region_list(struct tnl *t, struct pm_region_info *ri, int max)
{
	struct list_ctx l = { .ri = ri, .max = max };
	int ret;

	ret = tnl_dump(t, tnl_msg(t, PARTMOB_CMD_REGION_GET, NLM_F_DUMP),
		       list_cb, &l);
	return ret ? ret : l.n;
}

struct find_ctx {
	const char *name;
	int found;
};

static int find_cb(struct nlattr **tb, void *arg)
{
	struct find_ctx *f = arg;

	if (tb[PARTMOB_A_REGION_NAME] &&
	    !strcmp(nla_get_string(tb[PARTMOB_A_REGION_NAME]), f->name))
		f->found++;
	return 0;
}

int pm_region_exists(const char *name)
{
	struct find_ctx f = { .name = name };
	struct tnl t;
	int ret;

	ret = tnl_open(&t);
	if (ret)
		return ret;
	ret = tnl_dump(&t, tnl_msg(&t, PARTMOB_CMD_REGION_GET, NLM_F_DUMP),
		       find_cb, &f);
	tnl_close(&t);
	return ret ? ret : f.found;
}

int pm_region_count(void)
{
	struct tnl t;
	int ret;

	ret = tnl_open(&t);
	if (ret)
		return ret;
	ret = pm_region_list(&t, NULL, 0);
	tnl_close(&t);
	return ret;
}

struct harvest_ctx {
	unsigned long *bitmap;
	uint64_t npages;
	long pages;
	int bad;
};

static int harvest_cb(struct nlattr **tb, void *arg)
{
	struct harvest_ctx *h = arg;
	const unsigned char *b;
	uint64_t off, p;
	int i, len;

	if (!tb[PARTMOB_A_DIRTY_OFFSET] || !tb[PARTMOB_A_DIRTY_BITMAP]) {
		h->bad = 1;
		return -EBADMSG;
	}
	off = nla_get_u64(tb[PARTMOB_A_DIRTY_OFFSET]);
	len = nla_len(tb[PARTMOB_A_DIRTY_BITMAP]);
	b = nla_data(tb[PARTMOB_A_DIRTY_BITMAP]);
	if (len > PARTMOB_DIRTY_CHUNK_BYTES) {
		h->bad = 1;
		return -EBADMSG;
	}
	for (i = 0; i < len * 8; i++) {
		if (!b[i / 8]) {
			i += 7;		/* a whole clean byte */
			continue;
		}
		if (!h->bitmap && b[i / 8] == 0xff && off + i + 8 <= h->npages) {
			h->pages += 8;	/* a whole dirty byte */
			i += 7;
			continue;
		}
		if (!(b[i / 8] & (1U << (i % 8))))
			continue;
		p = off + i;
		if (p >= h->npages) {
			h->bad = 1;
			return -ERANGE;
		}
		if (h->bitmap)
			h->bitmap[p / PM_BITS_PER_LONG] |=
				1UL << (p % PM_BITS_PER_LONG);
		h->pages++;
	}
	return 0;
}

long pm_region_harvest(struct tnl *t, const char *name, int64_t flags,
		       unsigned long *bitmap, uint64_t npages)
{
	struct harvest_ctx h = { .bitmap = bitmap, .npages = npages };
	struct nl_msg *m = tnl_msg(t, PARTMOB_CMD_REGION_DIRTY, NLM_F_DUMP);
	int ret;

	if (m && (nla_put_string(m, PARTMOB_A_REGION_NAME, name) ||
		  (flags >= 0 &&
		   nla_put_u32(m, PARTMOB_A_DIRTY_FLAGS, (uint32_t)flags)))) {
		nlmsg_free(m);
		m = NULL;
	}
	ret = tnl_dump(t, m, harvest_cb, &h);
	return ret ? ret : h.pages;
}

int pm_regions_supported(struct tnl *t)
{
	int ret = tnl_request(t, tnl_msg(t, PARTMOB_CMD_GET_INFO, 0));

	if (ret)
		return ret;
	if (!t->tb[PARTMOB_A_INFO_FEATURES])
		return -EBADMSG;
	return !!(nla_get_u64(t->tb[PARTMOB_A_INFO_FEATURES]) &
		  PARTMOB_F_REGIONS);
}

int pm_write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	if (n < 0)
		return -errno;
	return n == (ssize_t)strlen(val) ? 0 : -EIO;
}

int pm_regions_cleanup(const char *prefix)
{
	struct pm_region_info ri[256];
	struct tnl t;
	int i, n, left = 0;

	if (tnl_open(&t))
		return -ENOENT;
	n = pm_region_list(&t, ri, 256);
	for (i = 0; i < n && i < 256; i++) {
		if (strncmp(ri[i].name, prefix, strlen(prefix)))
			continue;
		if (ri[i].frozen)
			pm_region_cmd(&t, PARTMOB_CMD_REGION_THAW, ri[i].name);
		if (pm_region_delete(&t, ri[i].name))
			left++;
	}
	tnl_close(&t);
	return left;
}

const char *pm_ko_path(void)
{
	const char *p = getenv("PARTMOB_KO");

	return p ? p : "/lib/partmob/partmob.ko";
}

int pm_module_loaded(void)
{
	return access("/sys/module/partmob", F_OK) == 0;
}

int pm_module_load(void)
{
	int fd = open(pm_ko_path(), O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

int pm_module_unload(void)
{
	int i;

	/* A socket just closed may still hold the module for an instant. */
	for (i = 0; i < 50; i++) {
		if (!syscall(SYS_delete_module, "partmob", O_NONBLOCK))
			return 0;
		if (errno != EAGAIN && errno != EBUSY)
			return -errno;
		usleep(100000);
	}
	return -errno;
}

int pm_drop_privileges(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2] = { { 0 } };

	if (setgroups(0, NULL) || setresgid(NOBODY_UID, NOBODY_UID, NOBODY_UID) ||
	    setresuid(NOBODY_UID, NOBODY_UID, NOBODY_UID))
		return -errno;
	/* After setresuid from root every set is empty; make sure. */
	if (syscall(SYS_capset, &h, d))
		return -errno;
	return 0;
}

static void slurp(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += r;
	buf[n] = '\0';
}

int pm_run_ctl(struct run_result *r, int unprivileged, const char *const *argv)
{
	const char *ctl = getenv("PARTMOBCTL");
	char *args[32];
	int out[2], err[2];
	int status, i;
	pid_t pid;

	if (!ctl)
		ctl = "/usr/sbin/partmobctl";
	args[0] = (char *)ctl;
	for (i = 0; argv[i] && i < 30; i++)
		args[i + 1] = (char *)argv[i];
	args[i + 1] = NULL;

	if (pipe(out) || pipe(err))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		if (unprivileged && pm_drop_privileges())
			_exit(126);
		execv(ctl, args);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	/* Outputs are small: read stdout fully, then stderr. */
	slurp(out[0], r->out, sizeof(r->out));
	slurp(err[0], r->err, sizeof(r->err));
	close(out[0]);
	close(err[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) :
		    128 + WTERMSIG(status);
	return 0;
}

const char *pm_inner_accel(const char **why)
{
	static const char *accel, *reason;
	const char *env = getenv("PARTMOB_INNER_ACCEL");

	if (accel)
		goto out;
	if (env && (!strcmp(env, "tcg") || !strcmp(env, "kvm"))) {
		accel = env;
		reason = "PARTMOB_INNER_ACCEL";
		goto out;
	}
	/*
	 * Nested SVM, or nested KVM HV on ppc64le: KVM inside this guest if
	 * the CPU (machine) offers it.
	 */
#ifdef __powerpc64__
	if (system("modprobe kvm_hv >/dev/null 2>&1"))
		reason = "kvm_hv did not load";
#else
	if (system("modprobe kvm_amd >/dev/null 2>&1"))
		reason = "kvm_amd did not load";
#endif
	else if (access("/dev/kvm", R_OK | W_OK))
		reason = "no usable /dev/kvm";
	else
		reason = "nested KVM available";
	accel = access("/dev/kvm", R_OK | W_OK) ? "tcg" : "kvm";
out:
	if (why)
		*why = reason;
	return accel;
}

pid_t pm_host_spawn(const char *const *argv, const char *log)
{
	static const char *const binds[] = { "/dev", "/proc", "/sys", "/tmp" };
	char dst[64];
	unsigned int i;
	pid_t pid;
	int fd;

	pid = fork();
	if (pid)
		return pid < 0 ? -errno : pid;
	setsid();
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != STDIN_FILENO) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	if (log) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			_exit(119);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		_exit(120);
	for (i = 0; i < sizeof(binds) / sizeof(binds[0]); i++) {
		snprintf(dst, sizeof(dst), PM_HOST "%s", binds[i]);
		if (mount(binds[i], dst, NULL, MS_BIND | MS_REC, NULL))
			_exit(121);
	}
	if (chroot(PM_HOST) || chdir("/"))
		_exit(122);
	execv(argv[0], (char *const *)argv);
	_exit(123);
}

int pm_qemu_argv_begin(const char **argv, const char *qemu, const char *ram)
{
	int n = 0;

	argv[n++] = qemu;
	argv[n++] = "-accel";
	argv[n++] = pm_inner_accel(NULL);
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-nodefaults";
	argv[n++] = "-no-user-config";
	argv[n++] = "-m";
	argv[n++] = ram;
	return n;
}

int pm_qemu_argv_end(const char **argv, int n, const char *qmp, char *qmpbuf,
		     int incoming)
{
	snprintf(qmpbuf, 160, "unix:%s,server=on,wait=off", qmp);
	argv[n++] = "-qmp";
	argv[n++] = qmpbuf;
	if (incoming) {
		argv[n++] = "-incoming";
		argv[n++] = "defer";
		argv[n++] = "-S";
	}
	argv[n] = NULL;
	return n;
}
