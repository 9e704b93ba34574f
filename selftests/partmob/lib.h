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
	int nreplies;		/* messages answered to the last request */
	char extack[256];
	unsigned int bad_off;	/* NLMSGERR_ATTR_OFFS of the last error, or 0 */
	int miss_type;		/* NLMSGERR_ATTR_MISS_TYPE of it, or -1 */
	struct nlattr *tb[PARTMOB_A_MAX + 1];	/* attrs of the last reply */
	struct nl_msg *reply;
};

/* Called per message of a dump; a negative return fails the dump. */
typedef int (*tnl_dump_cb)(struct nlattr **tb, void *arg);

/* Open a socket and resolve the family: 0, or -ENOENT if it is missing. */
int tnl_open(struct tnl *t);
void tnl_close(struct tnl *t);
struct nl_msg *tnl_msg(struct tnl *t, uint8_t cmd, int flags);
/*
 * Send @msg (consumed; NULL counts as -ENOMEM); returns 0 or the kernel's
 * negative errno, with t->extack. tnl_request() keeps the last answer in
 * t->tb; tnl_dump() hands every answer to @cb and also returns an error the
 * kernel ends a dump with (in NLMSG_DONE).
 */
int tnl_request(struct tnl *t, struct nl_msg *msg);
int tnl_dump(struct tnl *t, struct nl_msg *msg, tnl_dump_cb cb, void *arg);

/* ---- regions ---- */

#define PM_BITS_PER_LONG (8 * sizeof(unsigned long))

struct pm_region_info {
	char name[PARTMOB_REGION_NAME_MAX + 1];
	uint64_t size;
	uint32_t flags, uid, gid, mode, users;
	int frozen;
	uint64_t faults, dirtied, harvests, harvested, frozen_waits, pinned,
		 removed, dirty;
	int have_all;		/* every documented attribute was there */
};

/*
 * PARTMOB_CMD_REGION_NEW. @name NULL leaves the name out; @flags, @uid,
 * @gid, @mode < 0 leave that attribute out. Returns 0 or -errno.
 */
int pm_region_create(struct tnl *t, const char *name, uint64_t size,
		     int64_t flags, int64_t uid, int64_t gid, int64_t mode);
int pm_region_delete(struct tnl *t, const char *name);
/* A do-request of @cmd carrying only PARTMOB_A_REGION_NAME. */
int pm_region_cmd(struct tnl *t, uint8_t cmd, const char *name);
int pm_region_get(struct tnl *t, const char *name, struct pm_region_info *ri);
/* GET dump: fills up to @max entries, returns the number of regions. */
int pm_region_list(struct tnl *t, struct pm_region_info *ri, int max);
/* Times @name appears in a GET dump (on a fresh socket), or -errno. */
int pm_region_exists(const char *name);
int pm_region_count(void);
/*
 * PARTMOB_CMD_REGION_DIRTY dump: OR the harvested pages into @bitmap
 * (@npages bits, may be NULL) and return how many were reported, or
 * -errno. @flags < 0 sends no PARTMOB_A_DIRTY_FLAGS.
 */
long pm_region_harvest(struct tnl *t, const char *name, int64_t flags,
		       unsigned long *bitmap, uint64_t npages);
/* Does the module implement regions (PARTMOB_F_REGIONS)? 1, 0, or -errno. */
int pm_regions_supported(struct tnl *t);
/* Write @val to the file at @path (sysfs, cgroupfs): 0 or -errno. */
int pm_write_file(const char *path, const char *val);
/* Thaw and delete every region whose name starts with @prefix. */
int pm_regions_cleanup(const char *prefix);

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

/*
 * The host's root, offered by the harness at PM_HOST on x86_64 guests (on
 * ppc64le: a root holding Debian's ppc64el QEMU, see deps.sh):
 * run its @argv[0] (NULL-terminated argv) in a child, chrooted there in a
 * private mount namespace with this guest's /dev, /proc, /sys and /tmp
 * bound in, and in a session of its own. Its standard output and error go
 * to @log (truncated), or stay as they are if NULL. Returns the pid or
 * -errno.
 */
#define PM_HOST "/host"
#define PM_HOST_QEMU "/usr/bin/qemu-system-x86_64"
pid_t pm_host_spawn(const char *const *argv, const char *log);
/*
 * Begin a QEMU command line at @argv[0]: @qemu, the inner guests'
 * accelerator (pm_inner_accel()), no display, no default devices, no
 * user config, @ram ("-m"). Returns the count.
 */
int pm_qemu_argv_begin(const char **argv, const char *qemu, const char *ram);
/*
 * End a QEMU command line at @argv[@n]: "-qmp unix:@qmp,server=on,
 * wait=off" (@qmpbuf holds it, 160 bytes), "-incoming defer -S" if
 * @incoming, and the NULL. Returns the new count.
 */
int pm_qemu_argv_end(const char **argv, int n, const char *qmp, char *qmpbuf,
		     int incoming);
/*
 * The accelerator of the QEMU guests run inside this guest: "tcg" or
 * "kvm" as $PARTMOB_INNER_ACCEL says (the harness sets it per target, see
 * lib.sh pm_inner_accel), else "kvm" once kvm_amd (kvm_hv on ppc64le)
 * loads and /dev/kvm works, "tcg" otherwise. *@why (if not NULL) says how it was chosen.
 */
const char *pm_inner_accel(const char **why);

/* Run partmobctl with @argv (NULL-terminated, without argv[0]). */
int pm_run_ctl(struct run_result *r, int unprivileged, const char *const *argv);

#endif
