/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared declarations of partmob.ko, grouped by the file that implements
 * them.
 */

#ifndef _PARTMOB_H
#define _PARTMOB_H

#include "compat.h"

#define PARTMOB_VERSION "0.1.0"

/* netlink.c: the only file that speaks generic netlink */
int partmob_netlink_init(void);
void partmob_netlink_exit(void);

#endif /* _PARTMOB_H */
