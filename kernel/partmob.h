/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared declarations of partmob.ko, grouped by the file that implements
 * them.
 */

#ifndef _PARTMOB_H
#define _PARTMOB_H

#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <uapi/linux/partmob.h>

#include "compat.h"

#define PARTMOB_VERSION "0.2.0"
#define PARTMOB_MAX_REGIONS 1024

/*
 * Kernel-only flags, above the uapi ones: a harvest asked for over
 * netlink (refused while a migration owns the log), and a region created
 * frozen for an incoming migration.
 */
#define PARTMOB_DIRTY_F_NETLINK		BIT(31)
#define PARTMOB_REGION_F_INCOMING	BIT(31)
/* Words of the dirty log handed out by one partmob_dirty_harvest_some(). */
#define PARTMOB_HARVEST_WORDS		64

struct cdev;
struct device;
struct file;
struct inode;
struct netlink_ext_ack;
struct nlattr;
struct partmob_mig;
struct sk_buff;
struct genl_info;
struct net;
struct socket;
struct page;

/**
 * struct partmob_dirty_pcpu - one CPU's counts of a region's write path
 * @faults: page_mkwrite calls
 * @dirtied: page bits set from clear (a page logged again counts again)
 *
 * Written with this_cpu_inc() only; read by summing every possible CPU.
 */
struct partmob_dirty_pcpu {
	u64 faults;
	u64 dirtied;
};

/**
 * struct partmob_dirty_log - which pages were written since the last harvest
 * @bits: one bit per page of the region
 * @summary: one bit per word of @bits that may have a bit set, so that a
 *	harvest costs in proportion to the dirty pages, not the region size
 * @nwords: words in @bits
 * @pcpu: counts of the write path, per CPU so that a write fault does no
 *	atomic operation for them; summed by partmob_dirty_counts()
 * @taken: page bits taken by harvests (atomic; with @pcpu's @dirtied, the
 *	pages logged now, approximate while writers run)
 *
 * Ordering: a writer sets the page bit (fully ordered RMW) before the
 * summary bit; a harvester clears the summary bit before it takes the
 * word with xchg(). A bit set concurrently is therefore either taken by
 * this harvest or leaves its summary bit set for the next one.
 */
struct partmob_dirty_log {
	unsigned long *bits;
	unsigned long *summary;
	unsigned long nwords;
	struct partmob_dirty_pcpu __percpu *pcpu;
	atomic64_t taken;
};

/**
 * struct partmob_stats - per-region counters, reported over netlink
 */
struct partmob_stats {
	atomic64_t harvests;
	atomic64_t harvested;
	atomic64_t frozen_waits;
	atomic64_t pinned;
	atomic64_t removed;
};

/**
 * struct partmob_region - a named piece of guest memory, /dev/partmob/NAME
 * @ref: memory lifetime. One reference is held by the region list from
 *	create to delete, one by each open file of the device or of the
 *	backing file, one by each vma.
 * @users: open files plus vmas. Delete refuses with -EBUSY unless zero.
 *	Increments of a listed region happen under partmob_regions_lock (open)
 *	or from an existing user (vma open on fork/split), so a delete that
 *	sees zero under that lock cannot race with a new user.
 * @dead: set by delete under partmob_regions_lock; no new opens after it.
 * @node: in the region list, under partmob_regions_lock.
 * @backing: the shmem file holding the pages, made by backing.c, with
 *	module-owned file operations. Constant from create to free.
 * @frozen: writers block in page_mkwrite while set. Written under
 *	@harvest_lock; read locklessly by page_mkwrite after it logged the
 *	page, with a full barrier in between (see vma.c).
 * @thaw_wq: writers waiting for a thaw.
 * @harvest_lock: serialises harvests, freeze and thaw.
 * @file_sem: held for read by writers through the backing file (backing.c)
 *	from their frozen check to their logging; a freeze takes it for
 *	write once, after setting @frozen, to wait for them.
 * @migrating: a migration owns the dirty log, freeze and thaw; netlink
 *	harvests, freezes and thaws are refused. Under @harvest_lock.
 * @retired: the region migrated away (the source decided to commit): it
 *	stays frozen for good. Under @harvest_lock.
 * @mig: the current or last migration of the region, with a reference.
 *	Replaced and read under @harvest_lock; dropped when the region is
 *	freed.
 */
struct partmob_region {
	struct kref ref;
	atomic_t users;
	bool dead;
	struct list_head node;

	char name[PARTMOB_REGION_NAME_MAX + 1];
	u64 size;
	pgoff_t npages;
	u32 flags;
	kuid_t uid;
	kgid_t gid;
	umode_t mode;

	int minor;
	struct cdev *cdev;
	struct device *dev;
	struct file *backing;

	bool frozen;
	wait_queue_head_t thaw_wq;
	struct mutex harvest_lock;	/* see @harvest_lock above */
	struct rw_semaphore file_sem;	/* see @file_sem above */
	bool migrating;
	bool retired;
	struct partmob_mig *mig;

	struct partmob_dirty_log log;
	struct partmob_stats stats;
};

/* region.c: region objects, the list and the character devices */
int partmob_region_init(void);
void partmob_region_exit(void);
int partmob_region_create(const char *name, u64 size, u32 flags, kuid_t uid,
			  kgid_t gid, umode_t mode,
			  struct netlink_ext_ack *extack);
int partmob_region_delete(const char *name, struct netlink_ext_ack *extack);
void partmob_region_delete_unused(struct partmob_region *r);
int partmob_region_get_user(struct partmob_region *r);
struct partmob_region *partmob_region_find(const char *name);
struct partmob_region *partmob_region_next(unsigned long *pos);
void partmob_region_get(struct partmob_region *r);
void partmob_region_put(struct partmob_region *r);
struct partmob_region *partmob_region_get_user_by_inode(struct inode *inode);
void partmob_region_put_user(struct partmob_region *r);

/* backing.c: the shmem file behind a region */
int partmob_backing_init(void);
void partmob_backing_exit(void);
struct file *partmob_backing_create(struct partmob_region *r);
int partmob_backing_shmem_mmap(struct file *file, struct vm_area_struct *vma);
int partmob_backing_punch(struct partmob_region *r, pgoff_t first,
			  unsigned long nr);

/* vma.c: mmap of a region and write-notify */
int partmob_vma_mmap(struct partmob_region *r, struct vm_area_struct *vma);

/* dirty.c: the dirty log, harvest, freeze and thaw */
int partmob_dirty_init(struct partmob_dirty_log *log, pgoff_t npages);
void partmob_dirty_free(struct partmob_dirty_log *log);
void partmob_dirty_mark(struct partmob_region *r, pgoff_t first,
			unsigned long nr);
/* What partmob_dirty_counts() reads of a log. */
struct partmob_dirty_counts {
	u64 faults;	/* page_mkwrite calls */
	u64 dirtied;	/* page bits set from clear */
	u64 logged;	/* pages logged now (approximate while writers run) */
};

void partmob_dirty_counts(struct partmob_dirty_log *log,
			  struct partmob_dirty_counts *c);
/* Pages @first + i for every bit i set in @mask were harvested. */
typedef int (*partmob_harvest_fn)(struct partmob_region *r, pgoff_t first,
				  unsigned long mask, void *arg);
int partmob_dirty_harvest(struct partmob_region *r, u32 flags,
			  partmob_harvest_fn fn, void *arg);
void partmob_dirty_log_word(struct partmob_region *r, pgoff_t first,
			    unsigned long mask);
int partmob_dirty_harvest_some(struct partmob_region *r, u32 flags,
			       unsigned long *cursor, partmob_harvest_fn fn,
			       void *arg);
int partmob_region_freeze(struct partmob_region *r, bool mig);
int partmob_region_thaw(struct partmob_region *r, bool mig);

/* sock.c: the migration socket */
int partmob_sock_check(struct socket *sock);
struct socket *partmob_sock_lookup(int fd, struct netlink_ext_ack *extack);
void partmob_sock_setup(struct socket *sock, u32 timeout_ms);
int partmob_sock_send_frame(struct socket *sock, u16 type, u16 flags,
			    u32 count, u64 offset, u64 arg, int msg_flags);
int partmob_sock_send_pages(struct socket *sock, struct page **pages,
			    unsigned int n, bool more);
int partmob_sock_send(struct socket *sock, const void *buf, size_t len,
		      int msg_flags);
int partmob_sock_recv(struct socket *sock, void *buf, size_t len);
int partmob_sock_recv_pages(struct socket *sock, struct page **pages,
			    unsigned int n);

/* mig.c: migration objects, their state and their control file */

/**
 * struct partmob_mig_params - what PARTMOB_CMD_MIG_START asks for
 *
 * The fields mirror the attributes of the command (uapi header); @size,
 * @flags, @uid, @gid and @mode are for the destination's new region.
 */
struct partmob_mig_params {
	struct net *net;
	const char *name;
	u32 role;
	int fd;
	u64 id;
	const char *peer;
	const char *peer_boot_id;
	u64 max_bandwidth;
	u32 timeout_ms;
	u32 mig_flags;
	u32 streams;
	u64 size;
	u32 flags;
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
};

/**
 * struct partmob_mig_snap - a consistent copy of a migration's state
 *
 * The fields mirror the attributes of PARTMOB_CMD_MIG_GET.
 */
struct partmob_mig_snap {
	char name[PARTMOB_REGION_NAME_MAX + 1];
	u64 id;
	u32 role;
	u32 state;
	u32 round;
	char peer[PARTMOB_MIG_PEER_MAX + 1];
	char peer_boot_id[PARTMOB_BOOT_ID_MAX + 1];
	u64 total;
	u64 transferred;
	u64 remaining;
	u64 pages_normal;
	u64 pages_zero;
	u64 round_bytes;
	u64 round_ns;
	u64 round_dirtied;
	u64 throughput;
	u64 dirty_rate;
	u64 setup_ns;
	u64 total_ns;
	u64 downtime_ns;
	u64 verify_ns;
	u64 harvest_ns;
	u64 sock_ns;
	u64 wait_ns;
	u32 streams;
	int err;
	char errmsg[PARTMOB_MIG_ERROR_MAX + 1];
};

int partmob_mig_start(const struct partmob_mig_params *p,
		      struct netlink_ext_ack *extack);
int partmob_mig_commit_group(struct partmob_region **rs, unsigned int n,
			     const struct nlattr *const *attrs,
			     struct netlink_ext_ack *extack);
int partmob_mig_attach(struct partmob_region *r, u64 id, u32 index, int fd,
		       struct netlink_ext_ack *extack);
int partmob_mig_control(struct partmob_region *r, u32 action,
			struct netlink_ext_ack *extack);
int partmob_mig_snapshot(struct partmob_region *r,
			 struct partmob_mig_snap *snap);
int partmob_mig_snapshot_fd(int fd, struct partmob_mig_snap *snap);
void partmob_mig_put(struct partmob_mig *m);

/* send.c and recv.c: the kernel threads of the two roles */
int partmob_send_thread(void *arg);
int partmob_recv_thread(void *arg);

/* verify.c: --verify */
int partmob_region_hash(struct partmob_region *r, u64 *hash);

/* netlink.c: the only file that speaks generic netlink */
int partmob_netlink_init(void);
void partmob_netlink_exit(void);
void partmob_netlink_mig_event(struct net *net,
			       const struct partmob_mig_snap *s);

#endif /* _PARTMOB_H */
