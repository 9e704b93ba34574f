/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels partmob supports lives here, keyed
 * on LINUX_VERSION_CODE and checked by building against each kernel of the
 * test matrix (make lint): Debian's 6.1 (bookworm) and 6.12
 * (bookworm-backports), x86_64 and ppc64le.
 */

#ifndef _PARTMOB_COMPAT_H
#define _PARTMOB_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "partmob needs Linux 6.1 or newer"
#endif

#endif /* _PARTMOB_COMPAT_H */
