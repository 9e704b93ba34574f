/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the partmob selftests: a small libnl-genl-3 client that
 * keeps the kernel's errno and extack text, module load/unload, running
 * partmobctl and dropping privileges.
 */
#ifndef PARTMOB_SELFTEST_LIB_H
#define PARTMOB_SELFTEST_LIB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include <linux/partmob.h>

#define NOBODY_UID 65534

struct tnl {
	struct nl_sock *sk;
	int family;
	int err;		/* negative errno of the last request */
	char extack[256];
	struct nlattr *tb[PARTMOB_A_MAX + 1];	/* attrs of the last reply */
	struct nl_msg *reply;
};

/* Open a socket and resolve the family: 0, or -ENOENT if it is missing. */
int tnl_open(struct tnl *t);
void tnl_close(struct tnl *t);
struct nl_msg *tnl_msg(struct tnl *t, uint8_t cmd, int flags);
/* Send @msg (consumed); returns 0 or the kernel's negative errno. */
int tnl_request(struct tnl *t, struct nl_msg *msg);

/* Module control through finit_module()/delete_module(). */
int pm_module_load(void);	/* 0 or -errno */
int pm_module_unload(void);	/* 0 or -errno */
int pm_module_loaded(void);
const char *pm_ko_path(void);

/* Drop to uid/gid nobody with no capabilities (in a child only). */
int pm_drop_privileges(void);

struct run_result {
	int status;		/* exit code, or 128 + signal */
	char out[8192];
	char err[8192];
};

/* Run partmobctl with @argv (NULL-terminated, without argv[0]). */
int pm_run_ctl(struct run_result *r, int unprivileged, const char *const *argv);

#endif
