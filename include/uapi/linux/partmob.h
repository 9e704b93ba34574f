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
 *    Errors: -ENOENT, -EBUSY while the device is open or mapped or a
 *    migration uses the region. A retired region (it migrated away: the
 *    source committed) can be deleted while mapped: its writers, blocked
 *    since the freeze, get SIGBUS, and the memory goes with the last
 *    mapping.
 *
 * PARTMOB_CMD_REGION_GET: do (with PARTMOB_A_REGION_NAME) or dump (all
 *    regions). Each answer carries PARTMOB_A_REGION_NAME, _SIZE, _FLAGS,
 *    _UID, _GID, _MODE, _USERS (NLA_U32: open files plus mappings),
 *    _FROZEN (NLA_U8) and the counters, all NLA_U64:
 *    _STAT_FAULTS (write-notify faults), _STAT_DIRTIED (pages newly
 *    logged), _STAT_HARVESTS, _STAT_HARVESTED (pages handed out),
 *    _STAT_FROZEN_WAITS (writers that waited for a thaw), _STAT_PINNED
 *    (pages found pinned, or held by the kernel through a plain
 *    reference, at a harvest; they stay logged), _STAT_REMOVED
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
 *    Errors: -EBUSY while a migration owns the dirty log.
 *
 * PARTMOB_CMD_REGION_FREEZE: from the return on, no writable mapping of a
 *    page of the region exists and every writer blocks (killably) until
 *    PARTMOB_CMD_REGION_THAW; readers go on. A writer blocked this way
 *    holds its process's mmap_lock for read (or its per-VMA lock), so
 *    mmap, munmap and thread creation in that process wait too: a thaw
 *    must never depend on that process. Errors: -EALREADY, -EBUSY while a
 *    migration owns the region or after it migrated away.
 * PARTMOB_CMD_REGION_THAW: wakes the writers. Errors: -EALREADY, -EBUSY
 *    as for freeze: a retired region is never thawed.
 *
 *
 * Migrations
 * ----------
 *
 * A migration moves the contents of one region to a peer over a TCP
 * socket that userspace connected (or accepted) and ran the handshake on
 * (struct partmob_hs_hello below). Migrating needs CAP_SYS_ADMIN in the
 * initial user namespace. The socket must be an established TCP socket
 * with no upper-layer protocol other than kernel TLS.
 *
 * PARTMOB_CMD_MIG_START: start the kernel side of a migration.
 *    PARTMOB_A_REGION_NAME:   required. Source: an existing region.
 *                             Destination: the region to create; it is
 *                             created frozen with _SIZE, _FLAGS, _UID,
 *                             _GID, _MODE (as for REGION_NEW), and the
 *                             module deletes it again if the migration
 *                             fails before the destination is prepared.
 *    PARTMOB_A_MIG_ROLE:      NLA_U32, required, enum partmob_mig_role
 *    PARTMOB_A_MIG_FD:        NLA_U32, required, the connected socket
 *                             (the module takes its own reference)
 *    PARTMOB_A_MIG_ID:        NLA_U64, optional, chosen by the source and
 *                             exchanged in the handshake
 *    PARTMOB_A_MIG_PEER:      NLA_NUL_STRING, optional, the peer's
 *                             address as text, for status and recovery
 *    PARTMOB_A_MIG_PEER_BOOT_ID: NLA_NUL_STRING, optional, the peer's
 *                             boot id from the handshake
 *    PARTMOB_A_MIG_MAX_BANDWIDTH: NLA_U64, optional, source only, bytes
 *                             per second the sender may not exceed (0:
 *                             unlimited)
 *    PARTMOB_A_MIG_FLAGS:     NLA_U32, optional, enum partmob_mig_flags
 *                             (a destination takes PARTMOB_MIG_F_HOLD only)
 *    PARTMOB_A_MIG_TIMEOUT_MS: NLA_U32, optional, how long a peer may stay
 *                             silent or refuse to take data before the
 *                             migration fails, 100 to 3600000 (default
 *                             30000; it also sets TCP_USER_TIMEOUT and
 *                             keepalive, and bounds how long a source
 *                             waits for PARTMOB_CMD_MIG_CONTROL after a
 *                             round)
 *    PARTMOB_A_MIG_STREAMS:   NLA_U32, optional, 1 to
 *                             PARTMOB_MIG_STREAMS_MAX (default 1): the
 *                             connections the pages travel on. The first
 *                             is PARTMOB_A_MIG_FD; each other one is
 *                             handed over with PARTMOB_CMD_MIG_ATTACH. A
 *                             source sends nothing until all are there; a
 *                             destination fails the migration if one is
 *                             still missing PARTMOB_A_MIG_TIMEOUT_MS after
 *                             the end of the first round.
 *    The answer carries PARTMOB_A_MIG_CTL_FD (NLA_U32), a file descriptor
 *    installed in the caller: the migration is tied to it. Closing it (or
 *    the death of its holder) before the decision aborts the migration,
 *    except on a destination that is prepared or in doubt (only the
 *    source's outcome settles those); after the decision the module
 *    completes on its own. It becomes
 *    readable (poll) whenever the state or the round changes; read(2) of
 *    8 bytes returns the number of changes since the last read (like an
 *    eventfd). POLLHUP once the migration has ended.
 *    Errors: -ENOENT (no such source region), -EEXIST (destination name
 *    in use), -EBUSY (the region is migrating, frozen or retired),
 *    -ENOTSOCK/-EPROTONOSUPPORT/-ENOTCONN (not an established TCP socket),
 *    -ENOKEY (kernel TLS keyed in one direction only).
 *
 * PARTMOB_CMD_MIG_GET: do (PARTMOB_A_REGION_NAME) or dump. The state of
 *    the migration of a region, or of every region that has one; the last
 *    migration of a region stays readable until the region is deleted or
 *    migrates again. A do with PARTMOB_A_MIG_CTL_FD (a control file
 *    descriptor of the caller) instead of the name reads the migration
 *    of that descriptor, also after its region is gone (a failed incoming
 *    migration deletes its region). Fields modelled on QEMU's query-migrate:
 *    _REGION_NAME, _MIG_ID, _MIG_ROLE, _MIG_STATE (enum partmob_mig_state),
 *    _MIG_ROUND (NLA_U32, rounds completed; the first full pass is round
 *    1), _MIG_PEER, _MIG_PEER_BOOT_ID, and NLA_U64: _MIG_TOTAL_BYTES (the
 *    region size), _MIG_TRANSFERRED (page payload bytes sent or
 *    received), _MIG_REMAINING (bytes logged dirty now; source),
 *    _MIG_PAGES_NORMAL, _MIG_PAGES_ZERO (pages sent as a header only:
 *    all-zero pages, and holes after round 1; round 1 skips holes, the
 *    destination starts empty), _MIG_ROUND_BYTES and _MIG_ROUND_NS (the
 *    last completed round), _MIG_ROUND_DIRTIED (pages written during it),
 *    _MIG_THROUGHPUT (bytes per second: payload over the time spent in
 *    rounds, all rounds so far; steadier than one short round),
 *    _MIG_DIRTY_RATE (bytes per second dirtied during the last round),
 *    _MIG_SETUP_NS, _MIG_TOTAL_NS, _MIG_DOWNTIME_NS (source: freeze to
 *    the destination's acknowledgment of its resume; destination: END to
 *    resume; 0 when unknown, e.g. resumed by an operator), _MIG_VERIFY_NS
 *    (source with PARTMOB_MIG_F_VERIFY: the time the comparison added to
 *    the downtime), _MIG_HARVEST_NS, _MIG_SOCK_NS and _MIG_WAIT_NS
 *    (source, all rounds: time spent harvesting the dirty log and
 *    write-protecting its pages, sending page batches into the sockets,
 *    waiting for blocked sends included, and waiting for the
 *    destination's ROUND_DONE, PREPARED and RESUMED; 0 on a
 *    destination), and _MIG_ERROR (NLA_NUL_STRING) with _MIG_ERRNO
 *    (NLA_U32) when something went wrong: a failure, a destination in
 *    doubt, or a COMPLETED source whose destination did not confirm its
 *    resume (it may be in doubt).
 *
 * PARTMOB_CMD_MIG_CONTROL: PARTMOB_A_REGION_NAME and PARTMOB_A_MIG_ACTION
 *    (NLA_U32, enum partmob_mig_action). Errors: -ENOENT (no migration),
 *    -EINVAL (the action does not apply to this role or state: the extack
 *    says which), -EALREADY (already decided or ended).
 *
 * PARTMOB_CMD_MIG_ATTACH: hand over one more connection of a migration
 *    started with PARTMOB_A_MIG_STREAMS above 1 (the handshake's
 *    PARTMOB_HS_OP_STREAM). PARTMOB_A_REGION_NAME, PARTMOB_A_MIG_ID (must
 *    match), PARTMOB_A_MIG_STREAM (NLA_U32, the connection's index, 1 to
 *    streams - 1) and PARTMOB_A_MIG_FD, all required; the socket is checked
 *    as for MIG_START. A destination starts receiving on it at once.
 *    Errors: -ENOENT (no migration of that region), -ESRCH (a different
 *    migration id), -ERANGE (no such index), -EEXIST (that index is
 *    attached already), -EALREADY (the migration has ended or is past its
 *    rounds), and the socket errors of MIG_START.
 *
 * PARTMOB_CMD_MIG_COMMIT: the decision for a group of source migrations
 *    started with PARTMOB_MIG_F_HOLD (a guest with several memory
 *    backends has one region each; they share one decision).
 *    PARTMOB_A_MIG_GROUP: required, nested, 1 to PARTMOB_MIG_GROUP_MAX
 *    PARTMOB_A_REGION_NAME attributes, each a region migrating out. Every
 *    member must be held in PARTMOB_MIG_S_PREPARED, not aborted; then all
 *    are decided at once, and nothing can abort any of them any more
 *    (aborts of held migrations and this command are serialised by one
 *    lock in the module). If any member is not ready, none is decided and
 *    the extack names the first that is not; the caller then aborts the
 *    group. Errors: -ENOENT (no such region or migration), -EINVAL (a
 *    member is not a held source in PREPARED, or is named twice),
 *    -EALREADY (a member was aborted, failed or decided already).
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

#include <linux/types.h>

#define PARTMOB_GENL_NAME	"partmob"
#define PARTMOB_GENL_VERSION	1
#define PARTMOB_MCGRP_EVENTS	"events"

/* Version of the page stream; bumped on any incompatible frame change. */
#define PARTMOB_WIRE_VERSION	4

enum partmob_cmd {
	PARTMOB_CMD_UNSPEC,
	PARTMOB_CMD_GET_INFO,
	PARTMOB_CMD_REGION_NEW,
	PARTMOB_CMD_REGION_DEL,
	PARTMOB_CMD_REGION_GET,
	PARTMOB_CMD_REGION_DIRTY,
	PARTMOB_CMD_REGION_FREEZE,
	PARTMOB_CMD_REGION_THAW,
	PARTMOB_CMD_MIG_START,
	PARTMOB_CMD_MIG_GET,
	PARTMOB_CMD_MIG_CONTROL,
	PARTMOB_CMD_MIG_COMMIT,
	PARTMOB_CMD_MIG_ATTACH,

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
	PARTMOB_A_MIG_ROLE,
	PARTMOB_A_MIG_FD,
	PARTMOB_A_MIG_ID,
	PARTMOB_A_MIG_PEER,
	PARTMOB_A_MIG_PEER_BOOT_ID,
	PARTMOB_A_MIG_MAX_BANDWIDTH,
	PARTMOB_A_MIG_TIMEOUT_MS,
	PARTMOB_A_MIG_CTL_FD,
	PARTMOB_A_MIG_STATE,
	PARTMOB_A_MIG_ROUND,
	PARTMOB_A_MIG_TOTAL_BYTES,
	PARTMOB_A_MIG_TRANSFERRED,
	PARTMOB_A_MIG_REMAINING,
	PARTMOB_A_MIG_PAGES_NORMAL,
	PARTMOB_A_MIG_PAGES_ZERO,
	PARTMOB_A_MIG_ROUND_BYTES,
	PARTMOB_A_MIG_ROUND_NS,
	PARTMOB_A_MIG_ROUND_DIRTIED,
	PARTMOB_A_MIG_THROUGHPUT,
	PARTMOB_A_MIG_DIRTY_RATE,
	PARTMOB_A_MIG_SETUP_NS,
	PARTMOB_A_MIG_TOTAL_NS,
	PARTMOB_A_MIG_DOWNTIME_NS,
	PARTMOB_A_MIG_ERROR,
	PARTMOB_A_MIG_ERRNO,
	PARTMOB_A_MIG_ACTION,
	PARTMOB_A_MIG_FLAGS,
	PARTMOB_A_MIG_VERIFY_NS,
	PARTMOB_A_MIG_GROUP,
	PARTMOB_A_MIG_STREAMS,
	PARTMOB_A_MIG_STREAM,
	PARTMOB_A_MIG_HARVEST_NS,
	PARTMOB_A_MIG_SOCK_NS,
	PARTMOB_A_MIG_WAIT_NS,

	__PARTMOB_A_MAX
};

#define PARTMOB_A_MAX (__PARTMOB_A_MAX - 1)

#define PARTMOB_REGION_NAME_MAX		32	/* characters, without NUL */
#define PARTMOB_REGION_SIZE_MAX		(1ULL << 42)	/* 4 TiB */
#define PARTMOB_DIRTY_CHUNK_BYTES	2048
#define PARTMOB_MIG_PEER_MAX		127	/* characters, without NUL */
#define PARTMOB_BOOT_ID_MAX		36	/* a uuid as text */
#define PARTMOB_MIG_ERROR_MAX		127
#define PARTMOB_MIG_GROUP_MAX		64	/* regions sharing a decision */
#define PARTMOB_MIG_STREAMS_MAX		8	/* connections of one migration */
#define PARTMOB_MIG_TIMEOUT_MS_DEFAULT	30000

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
 * enum partmob_mig_role - PARTMOB_A_MIG_ROLE
 */
enum partmob_mig_role {
	PARTMOB_MIG_SOURCE = 1,
	PARTMOB_MIG_DEST = 2,
};

/**
 * enum partmob_mig_state - PARTMOB_A_MIG_STATE
 * @PARTMOB_MIG_S_SETUP: the kernel side is starting
 * @PARTMOB_MIG_S_ROUND: a round is being sent (source) or received
 *	(destination); round 1 is the full first pass
 * @PARTMOB_MIG_S_WAITING: source: a round is done, the module waits for
 *	PARTMOB_MIG_A_ROUND, _SWITCHOVER or _ABORT
 * @PARTMOB_MIG_S_STOP_COPY: source: the region is frozen (the freeze
 *	starts as this state is entered, and is complete before the first of
 *	the last dirty pages is read) and the last dirty pages are being sent
 * @PARTMOB_MIG_S_PREPARING: source: everything is sent, waiting for the
 *	destination's prepared (its receipt is the decision to commit)
 * @PARTMOB_MIG_S_PREPARED: destination: every page is here, prepared was
 *	sent, waiting for the decision; the region stays frozen. Source
 *	with PARTMOB_MIG_F_HOLD: prepared arrived, and the source holds,
 *	frozen, for PARTMOB_CMD_MIG_COMMIT (or an abort, or the timeout,
 *	which aborts)
 * @PARTMOB_MIG_S_COMMITTED: source: decided; the region is retired for
 *	good (writers stay blocked), the decision is being delivered
 * @PARTMOB_MIG_S_IN_DOUBT: destination: prepared, but the link failed
 *	before the decision arrived; frozen until PARTMOB_MIG_A_RESUME or
 *	_DISCARD (partmobctl recover)
 * @PARTMOB_MIG_S_COMPLETED: source: decided and done; the destination
 *	confirmed its resume unless _MIG_ERROR says otherwise;
 *	destination: the region is thawed and belongs to its new users
 * @PARTMOB_MIG_S_FAILED: ended before the decision: the source region is
 *	thawed and intact, the destination region deleted; see _MIG_ERROR
 */
enum partmob_mig_state {
	PARTMOB_MIG_S_SETUP = 1,
	PARTMOB_MIG_S_ROUND,
	PARTMOB_MIG_S_WAITING,
	PARTMOB_MIG_S_STOP_COPY,
	PARTMOB_MIG_S_PREPARING,
	PARTMOB_MIG_S_PREPARED,
	PARTMOB_MIG_S_COMMITTED,
	PARTMOB_MIG_S_IN_DOUBT,
	PARTMOB_MIG_S_COMPLETED,
	PARTMOB_MIG_S_FAILED,
};

/**
 * enum partmob_mig_flags - PARTMOB_A_MIG_FLAGS
 * @PARTMOB_MIG_F_VERIFY: after the last round both ends hash the whole
 *	region (every page that is not all zero, with its index; xxh64) and
 *	the source commits only if the hashes agree. Costs downtime, which
 *	_MIG_VERIFY_NS reports.
 * @PARTMOB_MIG_F_HOLD: the receipt of prepared is not the decision: the
 *	source holds in PARTMOB_MIG_S_PREPARED until PARTMOB_CMD_MIG_COMMIT
 *	names it (with the other regions of its group), an abort, or
 *	PARTMOB_A_MIG_TIMEOUT_MS, which aborts. For a guest whose device
 *	state moves after its memory, and for groups of regions. On a
 *	destination (the only flag it takes): the region is thawed once
 *	prepared, for the VMM to load the device state, which may write
 *	guest RAM; the VMM keeps the guest paused until the decision. Such
 *	a destination in doubt is not frozen.
 */
enum partmob_mig_flags {
	PARTMOB_MIG_F_VERIFY = 1U << 0,
	PARTMOB_MIG_F_HOLD = 1U << 1,

	__PARTMOB_MIG_F_ALL = PARTMOB_MIG_F_VERIFY | PARTMOB_MIG_F_HOLD
};

/**
 * enum partmob_mig_action - PARTMOB_A_MIG_ACTION
 * @PARTMOB_MIG_A_ROUND: source, waiting: send one more round
 * @PARTMOB_MIG_A_SWITCHOVER: source, waiting: freeze, send the rest and
 *	commit
 * @PARTMOB_MIG_A_ABORT: either side, before the decision: fail the
 *	migration; the source resumes
 * @PARTMOB_MIG_A_RESUME: destination in doubt: the operator knows the
 *	source committed (or is dead): thaw and complete here
 * @PARTMOB_MIG_A_DISCARD: destination in doubt: the source resumed:
 *	fail and delete the destination region
 */
enum partmob_mig_action {
	PARTMOB_MIG_A_ROUND = 1,
	PARTMOB_MIG_A_SWITCHOVER,
	PARTMOB_MIG_A_ABORT,
	PARTMOB_MIG_A_RESUME,
	PARTMOB_MIG_A_DISCARD,
};

/**
 * enum partmob_feature - capability bits reported by PARTMOB_CMD_GET_INFO
 * @PARTMOB_F_INFO: PARTMOB_CMD_GET_INFO (always set)
 * @PARTMOB_F_REGIONS: regions and write-protect dirty logging
 * @PARTMOB_F_MIGRATION: PARTMOB_CMD_MIG_START, _GET, _CONTROL and the
 *	page stream of PARTMOB_WIRE_VERSION
 * @PARTMOB_F_GROUP: PARTMOB_MIG_F_HOLD and PARTMOB_CMD_MIG_COMMIT
 * @PARTMOB_F_STREAMS: PARTMOB_A_MIG_STREAMS and PARTMOB_CMD_MIG_ATTACH
 */
enum partmob_feature {
	PARTMOB_F_INFO = 1ULL << 0,
	PARTMOB_F_REGIONS = 1ULL << 1,
	PARTMOB_F_MIGRATION = 1ULL << 2,
	PARTMOB_F_GROUP = 1ULL << 3,
	PARTMOB_F_STREAMS = 1ULL << 4,

	__PARTMOB_F_ALL = PARTMOB_F_INFO | PARTMOB_F_REGIONS |
			  PARTMOB_F_MIGRATION | PARTMOB_F_GROUP |
			  PARTMOB_F_STREAMS
};

/*
 * The stream
 * ==========
 *
 * All integers are big-endian; structures have no implicit padding.
 *
 * 1. Handshake (userspace, partmobctl on both ends). The source sends a
 *    struct partmob_hs_hello followed by hello.npaths struct
 *    partmob_hs_path records; the destination answers with one struct
 *    partmob_hs_reply. Strings are NUL-padded and must hold a NUL. With
 *    PARTMOB_HS_OP_MIGRATE and status PARTMOB_HS_OK both ends hand the
 *    socket to their module (PARTMOB_CMD_MIG_START) and the frame stream
 *    begins. With PARTMOB_HS_OP_DEVICE_STATE the hello names a guest's
 *    regions at the destination, one path record each
 *    ("/dev/partmob/NAME", its size), all migrating in under hello.mig_id;
 *    the destination starts its VMM on them (the listener's --vm-hook),
 *    answers PARTMOB_HS_OK once the VMM waits for the device state, and
 *    both ends hand the connection to their VMM (QEMU: getfd, migrate /
 *    migrate-incoming "fd:NAME"). After the VMM's stream, once the
 *    destination's guest runs, the destination sends one more struct
 *    partmob_hs_reply (status PARTMOB_HS_OK, outcome
 *    PARTMOB_HS_OUTCOME_COMMITTED) and closes. Any other outcome closes the
 *    connection.
 *
 * 2. Frames (the modules). Every frame starts with struct partmob_frame.
 *    Source to destination: one HELLO, then rounds: PAGES, SCATTER and
 *    ZERO frames in any order, each round closed by a ROUND frame, except the last
 *    (stop-copy) round, closed by END. Destination to source, after END:
 *    PREPARED. Source to destination: COMMIT (the decision). Destination
 *    to source: RESUMED. Either side may send ABORT before the decision and close.
 *    Several connections (hello.streams N > 1): the source opens N - 1
 *    more after the first one's PARTMOB_HS_OK, each with its own hello
 *    (PARTMOB_HS_OP_STREAM, the same mig_id and region, hello.streams its
 *    index 1 to N - 1). Each of them carries HELLO, then PAGES, SCATTER
 *    and ZERO frames, a ROUND frame for every round and END (arg: the
 *    pages sent on that connection), and nothing else; every other frame
 *    travels on the first. Within a round each page is sent once, on any
 *    connection; a round starts only after the previous one's ROUND_DONE,
 *    which, like PREPARED, the destination sends only once every
 *    connection has delivered the whole round. So the pages of a round
 *    never overtake those of an earlier one.
 *    Offsets and counts are in pages of hello.page_size bytes; a frame
 *    outside the region, a count above its limit, an unknown type or a
 *    frame out of order fails the migration.
 */
#define PARTMOB_HS_MAGIC	0x504d4f42	/* "PMOB" */
#define PARTMOB_HS_VERSION	1
#define PARTMOB_HS_PATHS_MAX	16
#define PARTMOB_HS_PATH_MAX	256
#define PARTMOB_HS_PORT		7780		/* default listener port */

enum partmob_hs_op {
	PARTMOB_HS_OP_MIGRATE = 1,	/* check, then stream */
	PARTMOB_HS_OP_VALIDATE = 2,	/* check only (partmobctl validate) */
	PARTMOB_HS_OP_QUERY = 3,	/* outcome of hello.mig_id (recover) */
	PARTMOB_HS_OP_DEVICE_STATE = 4,	/* a VMM's device state (vm.h) */
	PARTMOB_HS_OP_MIGRATE_HELD = 5,	/* a VMM's RAM: held on both ends */
	PARTMOB_HS_OP_STREAM = 6,	/* one more connection of mig_id */
};

enum partmob_hs_status {
	PARTMOB_HS_OK = 0,
	PARTMOB_HS_E_VERSION,		/* protocol or wire version */
	PARTMOB_HS_E_ARCH,
	PARTMOB_HS_E_PAGE_SIZE,
	PARTMOB_HS_E_FEATURES,
	PARTMOB_HS_E_SIZE,		/* region size unacceptable */
	PARTMOB_HS_E_MEMORY,		/* not enough free memory */
	PARTMOB_HS_E_EXISTS,		/* region name in use */
	PARTMOB_HS_E_PATH,		/* a required path is missing/differs */
	PARTMOB_HS_E_BAD_REQUEST,	/* malformed hello */
	PARTMOB_HS_E_INTERNAL,		/* the destination failed */
	PARTMOB_HS_E_AUTH,		/* authentication failed */
};

/* PARTMOB_HS_OP_QUERY answers in partmob_hs_reply.outcome. */
enum partmob_hs_outcome {
	PARTMOB_HS_OUTCOME_UNKNOWN = 0,	/* no such migration here */
	PARTMOB_HS_OUTCOME_COMMITTED,	/* decided: resume the destination */
	PARTMOB_HS_OUTCOME_ABORTED,	/* the source resumed: discard */
	PARTMOB_HS_OUTCOME_RUNNING,	/* not decided yet */
};

struct partmob_hs_hello {
	__be32 magic;		/* PARTMOB_HS_MAGIC */
	__be16 version;		/* PARTMOB_HS_VERSION */
	__be16 op;		/* enum partmob_hs_op */
	__be32 wire_version;	/* PARTMOB_WIRE_VERSION */
	__be32 page_size;
	__be64 features;		/* enum partmob_feature of the source */
	__be64 region_size;	/* bytes */
	__be64 mig_id;		/* random, chosen by the source */
	__be32 uid, gid, mode;	/* of the destination's device node */
	__be32 region_flags;	/* enum partmob_region_flags */
	__be32 npaths;		/* partmob_hs_path records that follow */
	/*
	 * MIGRATE, MIGRATE_HELD: the connections of the page stream (0 or 1:
	 * one); STREAM: this connection's index, 1 to that number - 1;
	 * otherwise zero.
	 */
	__be32 streams;
	char arch[16];
	char module_version[32];
	char region[PARTMOB_REGION_NAME_MAX + 8];	/* at the destination */
	char boot_id[PARTMOB_BOOT_ID_MAX + 4];
};

struct partmob_hs_path {
	__be64 size;		/* bytes, as the source sees it */
	char path[PARTMOB_HS_PATH_MAX];
};

struct partmob_hs_reply {
	__be32 magic;		/* PARTMOB_HS_MAGIC */
	__be16 version;		/* PARTMOB_HS_VERSION */
	__be16 status;		/* enum partmob_hs_status */
	__be64 features;		/* of the destination */
	__be64 mem_available;	/* bytes, the destination's MemAvailable */
	__be32 outcome;		/* enum partmob_hs_outcome (QUERY) */
	__be32 reserved;		/* zero */
	char boot_id[PARTMOB_BOOT_ID_MAX + 4];
	char message[200];	/* why, for the operator */
};

/* Frames of the page stream. */
#define PARTMOB_FRAME_PAGES_MAX	64	/* pages in one PAGES or SCATTER frame */

enum partmob_frame_type {
	/* offset: mig_id, count: page size, arg: pages in the region */
	PARTMOB_FRAME_HELLO = 1,
	PARTMOB_FRAME_PAGES = 2,	/* count pages at offset follow */
	PARTMOB_FRAME_ZERO = 3,		/* count pages at offset read zero */
	PARTMOB_FRAME_ROUND = 4,	/* arg: the round just finished */
	/* arg: pages sent in all; flags: PARTMOB_FRAME_F_VERIFY or 0 */
	PARTMOB_FRAME_END = 5,
	/* destination: all pages are here; arg: the region's hash if asked */
	PARTMOB_FRAME_PREPARED = 6,
	PARTMOB_FRAME_COMMIT = 7,	/* source: the decision */
	PARTMOB_FRAME_RESUMED = 8,	/* destination: running */
	PARTMOB_FRAME_ABORT = 9,	/* arg: errno */
	/*
	 * destination, for each ROUND: every page of round arg is written
	 * here. The source waits for it before it reports the round done,
	 * so a round's time counts the delivery of its pages and a
	 * switch-over never freezes while a round is still on its way.
	 */
	PARTMOB_FRAME_ROUND_DONE = 10,
	/*
	 * count pages (1 to PARTMOB_FRAME_PAGES_MAX) anywhere after offset:
	 * count __be32 distances from offset follow, strictly increasing,
	 * then the pages in that order. For pages that are not contiguous.
	 */
	PARTMOB_FRAME_SCATTER = 11,
};

/* END only: answer PREPARED with the hash of the region (--verify). */
#define PARTMOB_FRAME_F_VERIFY	1

struct partmob_frame {
	__be16 type;		/* enum partmob_frame_type */
	__be16 flags;		/* zero, but PARTMOB_FRAME_F_VERIFY on END */
	__be32 count;
	__be64 offset;
	__be64 arg;
};

#endif /* _UAPI_LINUX_PARTMOB_H */
