// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "partmob": the only place that speaks netlink.
 * Commands and attributes are documented in include/uapi/linux/partmob.h.
 */

#include <linux/kernel.h>
#include <linux/utsname.h>
#include <net/genetlink.h>
#include <uapi/linux/partmob.h>

#include "partmob.h"

/*
 * GET_INFO takes no attributes: every slot is NLA_UNSPEC, which strict
 * validation rejects ("Unsupported attribute"), and anything above
 * PARTMOB_A_MAX is an "Unknown attribute type".
 */
static const struct nla_policy partmob_get_info_policy[PARTMOB_A_MAX + 1] = {
};

static struct genl_family partmob_family;

static int partmob_fill_info(struct sk_buff *skb)
{
	const struct new_utsname *uts = init_utsname();

	if (nla_put_string(skb, PARTMOB_A_INFO_MODULE_VERSION,
			   PARTMOB_VERSION) ||
	    nla_put_u32(skb, PARTMOB_A_INFO_WIRE_VERSION,
			PARTMOB_WIRE_VERSION) ||
	    nla_put_u32(skb, PARTMOB_A_INFO_PAGE_SIZE, PAGE_SIZE) ||
	    nla_put_string(skb, PARTMOB_A_INFO_ARCH, uts->machine) ||
	    nla_put_u64_64bit(skb, PARTMOB_A_INFO_FEATURES, __PARTMOB_F_ALL,
			      PARTMOB_A_PAD) ||
	    nla_put_string(skb, PARTMOB_A_INFO_KERNEL_RELEASE, uts->release))
		return -EMSGSIZE;
	return 0;
}

static int partmob_nl_get_info(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;
	int ret;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	hdr = genlmsg_put_reply(msg, info, &partmob_family, 0,
				PARTMOB_CMD_GET_INFO);
	if (!hdr) {
		ret = -EMSGSIZE;
		goto err_msg;
	}

	ret = partmob_fill_info(msg);
	if (ret)
		goto err_msg;

	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_msg:
	nlmsg_free(msg);
	return ret;
}

static const struct genl_ops partmob_ops[] = {
	{
		.cmd = PARTMOB_CMD_GET_INFO,
		.doit = partmob_nl_get_info,
		.policy = partmob_get_info_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
};

static const struct genl_multicast_group partmob_mcgrps[] = {
	{ .name = PARTMOB_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_NET_ADMIN },
};

static struct genl_family partmob_family __ro_after_init = {
	.name = PARTMOB_GENL_NAME,
	.version = PARTMOB_GENL_VERSION,
	.maxattr = PARTMOB_A_MAX,
	.netnsok = true,
	.module = THIS_MODULE,
	.ops = partmob_ops,
	.n_ops = ARRAY_SIZE(partmob_ops),
	.resv_start_op = PARTMOB_CMD_GET_INFO + 1,
	.mcgrps = partmob_mcgrps,
	.n_mcgrps = ARRAY_SIZE(partmob_mcgrps),
};

/**
 * partmob_netlink_init() - register the generic netlink family
 *
 * Return: 0 or a negative errno from genl_register_family().
 */
int __init partmob_netlink_init(void)
{
	return genl_register_family(&partmob_family);
}

/**
 * partmob_netlink_exit() - unregister the generic netlink family
 */
void partmob_netlink_exit(void)
{
	genl_unregister_family(&partmob_family);
}
