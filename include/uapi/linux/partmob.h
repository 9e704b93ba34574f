/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * partmob: live partition mobility for Linux KVM hosts.
 *
 * Documentation/netlink/specs/partmob.yaml is the machine-readable form of
 * this comment; Documentation/wire-protocol.rst describes the stream.
 *
 * Generic netlink family
 * ======================
 *
 * Family name PARTMOB_GENL_NAME ("partmob"), version PARTMOB_GENL_VERSION.
 * The module is autoloaded when the family is resolved
 * (MODULE_ALIAS_GENL_FAMILY). Every command requires CAP_NET_ADMIN in the
 * initial user namespace (GENL_ADMIN_PERM); callers without it get -EPERM.
 * Attributes are validated strictly: an attribute the command does not
 * take, a wrong length, a value out of range or trailing garbage gets
 * -EINVAL (or -ERANGE) and an extended ACK message naming the problem.
 *
 * PARTMOB_CMD_GET_INFO
 * --------------------
 *
 * Takes no attributes. Answers with one message carrying:
 *
 *    PARTMOB_A_INFO_MODULE_VERSION: NLA_NUL_STRING, the module's version
 *    PARTMOB_A_INFO_WIRE_VERSION:   NLA_U32, PARTMOB_WIRE_VERSION of the
 *                                   stream this module speaks
 *    PARTMOB_A_INFO_PAGE_SIZE:      NLA_U32, the kernel's PAGE_SIZE in
 *                                   bytes: the unit of dirty tracking and
 *                                   of transfer; both ends must agree
 *    PARTMOB_A_INFO_ARCH:           NLA_NUL_STRING, utsname machine
 *                                   ("x86_64", "ppc64le", ...)
 *    PARTMOB_A_INFO_FEATURES:       NLA_U64, a mask of enum
 *                                   partmob_feature bits this module
 *                                   implements
 *    PARTMOB_A_INFO_KERNEL_RELEASE: NLA_NUL_STRING, utsname release
 *
 * PARTMOB_A_PAD only aligns 64-bit attributes and is never sent alone.
 *
 * Multicast group
 * ===============
 *
 * PARTMOB_MCGRP_EVENTS ("events") carries progress events. Multicast can
 * drop messages under pressure (ENOBUFS on the listener): a policy reads
 * statistics, it never relies on every event arriving.
 */

#ifndef _UAPI_LINUX_PARTMOB_H
#define _UAPI_LINUX_PARTMOB_H

#define PARTMOB_GENL_NAME	"partmob"
#define PARTMOB_GENL_VERSION	1
#define PARTMOB_MCGRP_EVENTS	"events"

/* Version of the page stream; bumped on any incompatible frame change. */
#define PARTMOB_WIRE_VERSION	1

enum partmob_cmd {
	PARTMOB_CMD_UNSPEC,
	PARTMOB_CMD_GET_INFO,

	__PARTMOB_CMD_MAX
};
#define PARTMOB_CMD_MAX (__PARTMOB_CMD_MAX - 1)

enum partmob_attr {
	PARTMOB_A_UNSPEC,
	PARTMOB_A_PAD,
	PARTMOB_A_INFO_MODULE_VERSION,
	PARTMOB_A_INFO_WIRE_VERSION,
	PARTMOB_A_INFO_PAGE_SIZE,
	PARTMOB_A_INFO_ARCH,
	PARTMOB_A_INFO_FEATURES,
	PARTMOB_A_INFO_KERNEL_RELEASE,

	__PARTMOB_A_MAX
};
#define PARTMOB_A_MAX (__PARTMOB_A_MAX - 1)

/**
 * enum partmob_feature - capability bits reported by PARTMOB_CMD_GET_INFO
 * @PARTMOB_F_INFO: PARTMOB_CMD_GET_INFO (always set)
 */
enum partmob_feature {
	PARTMOB_F_INFO = 1ULL << 0,

	__PARTMOB_F_ALL = PARTMOB_F_INFO
};

#endif /* _UAPI_LINUX_PARTMOB_H */
