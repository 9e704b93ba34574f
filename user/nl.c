// SPDX-License-Identifier: GPL-2.0
/*
 * partmobctl's netlink session: resolve the family, send one request, collect
 * the replies, and keep the kernel's errno and extended ACK message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include <linux/partmob.h>

#include "extack.h"
#include "nl.h"
#include "partmobctl.h"

struct req_ctx {
	struct pm_nl *nl;
	pm_nl_parse_t parse;
	void *arg;
	int done;
	int ret;
};

static int on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct req_ctx *ctx = arg;

	(void)who;
	ctx->done = 1;
	ctx->ret = e->error;
	ctx->nl->err = -e->error;
	pm_extack_error(e, ctx->nl->extack, sizeof(ctx->nl->extack));
	return NL_STOP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct req_ctx *ctx = arg;

	(void)msg;
	ctx->done = 1;
	return NL_STOP;
}

/*
 * NLMSG_DONE ends a dump. An error the kernel hit while dumping travels in
 * it (a negative errno as payload, then the extack attributes when
 * NLM_F_ACK_TLVS is set), not in an NLMSG_ERROR.
 */
static int on_finish(struct nl_msg *msg, void *arg)
{
	struct req_ctx *ctx = arg;
	int err;

	ctx->done = 1;
	err = pm_extack_done(nlmsg_hdr(msg), ctx->nl->extack,
			     sizeof(ctx->nl->extack));
	if (err) {
		ctx->ret = err;
		ctx->nl->err = -err;
	}
	return NL_STOP;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct req_ctx *ctx = arg;
	struct nlattr *tb[PARTMOB_A_MAX + 1];
	int ret;

	ret = genlmsg_parse(nlmsg_hdr(msg), 0, tb, PARTMOB_A_MAX, NULL);
	if (ret < 0) {
		ctx->ret = -EBADMSG;
		return NL_STOP;
	}
	if (ctx->parse) {
		ret = ctx->parse(tb, ctx->arg);
		if (ret < 0) {
			ctx->ret = ret;
			return NL_STOP;
		}
	}
	return NL_OK;
}

/**
 * pm_nl_open_why() - pm_nl_open() that prints nothing
 * @nl: session to fill
 * @why: receives the reason of a failure, one line without the program name
 * @n: size of @why
 *
 * For the listener, which logs in its own format.
 * Return: PM_EXIT_OK, PM_EXIT_NOMODULE or PM_EXIT_FAIL.
 */
int pm_nl_open_why(struct pm_nl *nl, char *why, size_t n)
{
	int one = 1;
	int ret;

	memset(nl, 0, sizeof(*nl));
	why[0] = '\0';
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		snprintf(why, n, "out of memory");
		return PM_EXIT_FAIL;
	}
	ret = genl_connect(nl->sk);
	if (ret < 0) {
		snprintf(why, n, "cannot open a generic netlink socket: %s",
			 nl_geterror(ret));
		goto err_sock;
	}
	/* Ask for the kernel's error text, and don't echo requests back. */
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_EXT_ACK,
		   &one, sizeof(one));
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_CAP_ACK,
		   &one, sizeof(one));

	nl->family = genl_ctrl_resolve(nl->sk, PARTMOB_GENL_NAME);
	if (nl->family < 0) {
		if (nl->family == -NLE_OBJ_NOTFOUND) {
			snprintf(why, n,
				 "the partmob kernel module is not loaded (no generic netlink family \"%s\"); load it with 'modprobe partmob' or 'insmod partmob.ko'",
				 PARTMOB_GENL_NAME);
			nl_socket_free(nl->sk);
			nl->sk = NULL;
			return PM_EXIT_NOMODULE;
		}
		snprintf(why, n, "cannot resolve the partmob family: %s",
			 nl_geterror(nl->family));
		goto err_sock;
	}
	return PM_EXIT_OK;

err_sock:
	nl_socket_free(nl->sk);
	nl->sk = NULL;
	return PM_EXIT_FAIL;
}

/**
 * pm_nl_open() - connect to generic netlink and resolve the partmob family
 * @nl: session to fill
 *
 * Return: PM_EXIT_OK, or an exit code after printing why not.
 */
int pm_nl_open(struct pm_nl *nl)
{
	char why[256];
	int ret;

	ret = pm_nl_open_why(nl, why, sizeof(why));
	if (ret)
		fprintf(stderr, "%s: %s\n", pm_prog, why);
	return ret;
}

void pm_nl_close(struct pm_nl *nl)
{
	if (nl->sk)
		nl_socket_free(nl->sk);
	nl->sk = NULL;
}

/**
 * pm_nl_msg() - start a partmob request
 * @nl: open session
 * @cmd: PARTMOB_CMD_*
 * @flags: extra netlink flags (NLM_F_DUMP)
 *
 * Return: the message, or NULL when out of memory.
 */
struct nl_msg *pm_nl_msg(struct pm_nl *nl, uint8_t cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg)
		return NULL;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, flags,
			 cmd, PARTMOB_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

/**
 * pm_nl_request() - send @msg (consumed) and feed every reply to @parse
 * @nl: open session
 * @msg: request from pm_nl_msg(); with NLM_F_DUMP every message of the dump
 *	 goes to @parse, and an error the dump ends with is returned
 * @parse: called per reply message, may be NULL
 * @arg: passed to @parse
 *
 * Return: 0, or a negative errno (the kernel's, with nl->extack set).
 */
int pm_nl_request(struct pm_nl *nl, struct nl_msg *msg, pm_nl_parse_t parse,
		  void *arg)
{
	struct req_ctx ctx = { .nl = nl, .parse = parse, .arg = arg };
	struct nl_cb *cb;
	int ret;

	nl->err = 0;
	nl->extack[0] = '\0';
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, &ctx);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &ctx);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, &ctx);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, &ctx);

	ret = nl_send_auto(nl->sk, msg);
	nlmsg_free(msg);
	if (ret < 0) {
		nl_cb_put(cb);
		nl->err = EIO;
		snprintf(nl->extack, sizeof(nl->extack), "%s",
			 nl_geterror(ret));
		return -EIO;
	}
	while (!ctx.done && ctx.ret == 0) {
		ret = nl_recvmsgs(nl->sk, cb);
		if (ret < 0 && !ctx.done && ctx.ret == 0) {
			ctx.ret = -EIO;
			nl->err = EIO;
			snprintf(nl->extack, sizeof(nl->extack), "%s",
				 nl_geterror(ret));
		}
	}
	nl_cb_put(cb);
	return ctx.ret;
}

/**
 * pm_nl_report() - print the last kernel error of @nl for action @what
 * @nl: session after a failed pm_nl_request()
 * @what: what was attempted, e.g. "get-info"
 *
 * Return: the exit code that fits the error.
 */
int pm_nl_report(const struct pm_nl *nl, const char *what)
{
	if (nl->err == EPERM || nl->err == EACCES) {
		fprintf(stderr,
			"%s: %s: permission denied: %s\n", pm_prog, what,
			nl->extack[0] ? nl->extack :
			"partmob needs CAP_NET_ADMIN in the initial user namespace (run as root)");
		return PM_EXIT_PERM;
	}
	fprintf(stderr, "%s: %s: %s%s%s\n", pm_prog, what, strerror(nl->err),
		nl->extack[0] ? ": " : "", nl->extack);
	return PM_EXIT_FAIL;
}
