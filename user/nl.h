/* SPDX-License-Identifier: GPL-2.0 */
/* partmobctl's generic netlink session (libnl-3 / libnl-genl-3). */
#ifndef PARTMOBCTL_NL_H
#define PARTMOBCTL_NL_H

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <stddef.h>
#include <stdint.h>

struct pm_nl {
	struct nl_sock *sk;
	int family;
	int err;		/* positive errno of the last kernel error */
	char extack[256];	/* the kernel's extended ACK text, or "" */
};

/* Called for each reply message; tb is indexed by PARTMOB_A_*. */
typedef int (*pm_nl_parse_t)(struct nlattr **tb, void *arg);

int pm_nl_open(struct pm_nl *nl);
int pm_nl_open_why(struct pm_nl *nl, char *why, size_t n);
void pm_nl_close(struct pm_nl *nl);
struct nl_msg *pm_nl_msg(struct pm_nl *nl, uint8_t cmd, int flags);
int pm_nl_request(struct pm_nl *nl, struct nl_msg *msg, pm_nl_parse_t parse,
		  void *arg);
int pm_nl_report(const struct pm_nl *nl, const char *what);

#endif
