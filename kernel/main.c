// SPDX-License-Identifier: GPL-2.0
/*
 * partmob: live partition mobility for Linux KVM hosts.
 *
 * Module init and exit only; see the other files for each concern.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/init.h>
#include <net/genetlink.h>
#include <uapi/linux/partmob.h>

#include "partmob.h"

static int __init partmob_init(void)
{
	int ret;

	ret = partmob_backing_init();
	if (ret)
		goto err_backing;
	ret = partmob_region_init();
	if (ret)
		goto err_region;
	ret = partmob_netlink_init();
	if (ret)
		goto err_netlink;

	pr_info("version %s loaded, wire protocol %u\n", PARTMOB_VERSION,
		PARTMOB_WIRE_VERSION);
	return 0;

err_netlink:
	partmob_region_exit();
err_region:
	partmob_backing_exit();
err_backing:
	return ret;
}

static void __exit partmob_exit(void)
{
	partmob_netlink_exit();
	partmob_region_exit();
	partmob_backing_exit();
}

module_init(partmob_init);
module_exit(partmob_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("partmob: live partition mobility for KVM hosts");
MODULE_VERSION(PARTMOB_VERSION);
MODULE_ALIAS_GENL_FAMILY(PARTMOB_GENL_NAME);
