/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared declarations of partmob.ko, grouped by the file that implements
 * them.
 */

#ifndef _PARTMOB_H
#define _PARTMOB_H

#include <linux/atomic.h>
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

struct cdev;
struct device;
struct file;
struct inode;
struct netlink_ext_ack;

/**
 * struct partmob_dirty_log - which pages were written since the last harvest
 * @bits: one bit per page of the region
 * @summary: one bit per word of @bits that may have a bit set, so that a
 *	harvest costs in proportion to the dirty pages, not the region size
 * @nwords: words in @bits
 * @logged: pages whose bit is set now (approximate while writers run)
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
	atomic64_t logged;
};

/**
 * struct partmob_stats - per-region counters, reported over netlink
 */
struct partmob_stats {
	atomic64_t faults;
	atomic64_t dirtied;
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

/* vma.c: mmap of a region and write-notify */
int partmob_vma_mmap(struct partmob_region *r, struct vm_area_struct *vma);

/* dirty.c: the dirty log, harvest, freeze and thaw */
int partmob_dirty_init(struct partmob_dirty_log *log, pgoff_t npages);
void partmob_dirty_free(struct partmob_dirty_log *log);
void partmob_dirty_mark(struct partmob_region *r, pgoff_t first,
			unsigned long nr);
/* Pages @first + i for every bit i set in @mask were harvested. */
typedef int (*partmob_harvest_fn)(struct partmob_region *r, pgoff_t first,
				  unsigned long mask, void *arg);
int partmob_dirty_harvest(struct partmob_region *r, u32 flags,
			  partmob_harvest_fn fn, void *arg);
int partmob_region_freeze(struct partmob_region *r);
int partmob_region_thaw(struct partmob_region *r);

/* netlink.c: the only file that speaks generic netlink */
int partmob_netlink_init(void);
void partmob_netlink_exit(void);

#endif /* _PARTMOB_H */
