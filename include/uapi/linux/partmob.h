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
 * Regions
 * -------
 *
 * A region is a named, fixed-size piece of guest memory that appears as
 * /dev/partmob/NAME. It is mapped MAP_SHARED by a VMM or a workload; every
 * first write to a page after a re-arm is logged in the region's dirty log.
 * Creating, deleting, harvesting, freezing and thawing need CAP_SYS_ADMIN in
 * the initial user namespace as well (-EPERM otherwise, with extack text).
 *
 * PARTMOB_CMD_REGION_NEW: create a region.
 *    PARTMOB_A_REGION_NAME:  NLA_NUL_STRING, required, 1 to
 *                            PARTMOB_REGION_NAME_MAX characters of
 *                            [A-Za-z0-9_.-], not starting with '.' or '-'
 *    PARTMOB_A_REGION_SIZE:  NLA_U64, required, bytes, a non-zero multiple
 *                            of PAGE_SIZE, at most PARTMOB_REGION_SIZE_MAX
 *    PARTMOB_A_REGION_FLAGS: NLA_U32, optional, enum partmob_region_flags
 *    PARTMOB_A_REGION_UID, PARTMOB_A_REGION_GID: NLA_U32, optional, owner
 *                            of the device node (default 0)
 *    PARTMOB_A_REGION_MODE:  NLA_U32, optional, permission bits of the
 *                            device node, at most 0777 (default 0600)
 *    Errors: -EEXIST (name in use), -EINVAL (bad name or size), -ENOMEM
 *    (the kernel's overcommit check refused to back the whole size; ask
 *    for PARTMOB_REGION_F_OVERCOMMIT), -ENOSPC (too many regions),
 *    -EOPNOTSUPP (unknown flag).
 *
 * PARTMOB_CMD_REGION_DEL: delete a region.
 *    PARTMOB_A_REGION_NAME: required.
 *    Errors: -ENOENT, -EBUSY while the device is open or mapped.
 *
 * PARTMOB_CMD_REGION_GET: do (with PARTMOB_A_REGION_NAME) or dump (all
 *    regions). Each answer carries PARTMOB_A_REGION_NAME, _SIZE, _FLAGS,
 *    _UID, _GID, _MODE, _USERS (NLA_U32: open files plus mappings),
 *    _FROZEN (NLA_U8) and the counters, all NLA_U64:
 *    _STAT_FAULTS (write-notify faults), _STAT_DIRTIED (pages newly
 *    logged), _STAT_HARVESTS, _STAT_HARVESTED (pages handed out),
 *    _STAT_FROZEN_WAITS (writers that waited for a thaw), _STAT_PINNED
 *    (pages found pinned at a harvest; they stay logged), _STAT_REMOVED
 *    (pages logged by hole punching or write(2) on the backing file),
 *    _DIRTY (pages logged now).
 *
 * PARTMOB_CMD_REGION_DIRTY: dump only. Harvests the dirty log of
 *    PARTMOB_A_REGION_NAME: every logged page is write-protected again
 *    (re-armed) and its log bit cleared before it is reported, so a later
 *    write is logged again. Answers with one message per non-empty chunk:
 *      PARTMOB_A_DIRTY_OFFSET: NLA_U64, page index of bit 0 of the chunk
 *      PARTMOB_A_DIRTY_BITMAP: NLA_BINARY, at most
 *                              PARTMOB_DIRTY_CHUNK_BYTES; bit i (byte i / 8,
 *                              bit i % 8, least significant first) is page
 *                              OFFSET + i
 *    PARTMOB_A_DIRTY_FLAGS: NLA_U32, optional, enum partmob_dirty_flags.
 *
 * PARTMOB_CMD_REGION_FREEZE: from the return on, no writable mapping of a
 *    page of the region exists and every writer blocks (killably) until
 *    PARTMOB_CMD_REGION_THAW; readers go on. A writer blocked this way
 *    holds its process's mmap_lock for read (or its per-VMA lock), so
 *    mmap, munmap and thread creation in that process wait too: a thaw
 *    must never depend on that process. Errors: -EALREADY.
 * PARTMOB_CMD_REGION_THAW: wakes the writers. Errors: -EALREADY.
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
	PARTMOB_CMD_REGION_NEW,
	PARTMOB_CMD_REGION_DEL,
	PARTMOB_CMD_REGION_GET,
	PARTMOB_CMD_REGION_DIRTY,
	PARTMOB_CMD_REGION_FREEZE,
	PARTMOB_CMD_REGION_THAW,

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
	PARTMOB_A_REGION_NAME,
	PARTMOB_A_REGION_SIZE,
	PARTMOB_A_REGION_FLAGS,
	PARTMOB_A_REGION_UID,
	PARTMOB_A_REGION_GID,
	PARTMOB_A_REGION_MODE,
	PARTMOB_A_REGION_USERS,
	PARTMOB_A_REGION_FROZEN,
	PARTMOB_A_REGION_STAT_FAULTS,
	PARTMOB_A_REGION_STAT_DIRTIED,
	PARTMOB_A_REGION_STAT_HARVESTS,
	PARTMOB_A_REGION_STAT_HARVESTED,
	PARTMOB_A_REGION_STAT_FROZEN_WAITS,
	PARTMOB_A_REGION_STAT_PINNED,
	PARTMOB_A_REGION_STAT_REMOVED,
	PARTMOB_A_REGION_DIRTY,
	PARTMOB_A_DIRTY_FLAGS,
	PARTMOB_A_DIRTY_OFFSET,
	PARTMOB_A_DIRTY_BITMAP,

	__PARTMOB_A_MAX
};

#define PARTMOB_A_MAX (__PARTMOB_A_MAX - 1)

#define PARTMOB_REGION_NAME_MAX		32	/* characters, without NUL */
#define PARTMOB_REGION_SIZE_MAX		(1ULL << 42)	/* 4 TiB */
#define PARTMOB_DIRTY_CHUNK_BYTES	2048

/**
 * enum partmob_region_flags - PARTMOB_A_REGION_FLAGS
 * @PARTMOB_REGION_F_OVERCOMMIT: do not reserve the whole size against the
 *	kernel's overcommit limit (sparse guests); pages are still charged
 *	to the memory cgroup of whoever touches them
 */
enum partmob_region_flags {
	PARTMOB_REGION_F_OVERCOMMIT = 1U << 0,

	__PARTMOB_REGION_F_ALL = PARTMOB_REGION_F_OVERCOMMIT
};

/**
 * enum partmob_dirty_flags - PARTMOB_A_DIRTY_FLAGS
 * @PARTMOB_DIRTY_F_NO_REARM: clear the log without write-protecting the
 *	pages. Writes after such a harvest are lost to the log: this exists
 *	only so that the selftests can prove they detect lost writes.
 */
enum partmob_dirty_flags {
	PARTMOB_DIRTY_F_NO_REARM = 1U << 0,

	__PARTMOB_DIRTY_F_ALL = PARTMOB_DIRTY_F_NO_REARM
};

/**
 * enum partmob_feature - capability bits reported by PARTMOB_CMD_GET_INFO
 * @PARTMOB_F_INFO: PARTMOB_CMD_GET_INFO (always set)
 * @PARTMOB_F_REGIONS: regions and write-protect dirty logging
 */
enum partmob_feature {
	PARTMOB_F_INFO = 1ULL << 0,
	PARTMOB_F_REGIONS = 1ULL << 1,

	__PARTMOB_F_ALL = PARTMOB_F_INFO | PARTMOB_F_REGIONS
};

#endif /* _UAPI_LINUX_PARTMOB_H */
