// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <grp.h>
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

#include "lib.h"

struct ctx {
	struct tnl *t;
	int done;
};

static int on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct ctx *c = arg;
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int off, len;

	(void)who;
	c->done = 1;
	c->t->err = e->error;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	off = NLMSG_HDRLEN + sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	len = (int)nlh->nlmsg_len - off;
	if (len > 0 &&
	    !nla_parse(tb, NLMSGERR_ATTR_MAX,
		       (struct nlattr *)((char *)nlh + off), len, NULL) &&
	    tb[NLMSGERR_ATTR_MSG])
		snprintf(c->t->extack, sizeof(c->t->extack), "%s",
			 nla_get_string(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct ctx *c = arg;

	(void)msg;
	c->done = 1;
	return NL_STOP;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct ctx *c = arg;

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
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, t->family, 0,
				flags, cmd, PARTMOB_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

int tnl_request(struct tnl *t, struct nl_msg *msg)
{
	struct ctx c = { .t = t };
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	int ret;

	t->err = 0;
	t->extack[0] = '\0';
	memset(t->tb, 0, sizeof(t->tb));
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &c);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &c);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_ack, &c);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &c);
	ret = nl_send_auto(t->sk, msg);
	nlmsg_free(msg);
	if (ret < 0) {
		t->err = -EIO;
		goto out;
	}
	while (!c.done && !t->err) {
		ret = nl_recvmsgs(t->sk, cb);
		if (ret < 0 && !c.done && !t->err)
			t->err = -EIO;
	}
out:
	nl_cb_put(cb);
	return t->err;
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
