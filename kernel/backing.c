// SPDX-License-Identifier: GPL-2.0
/*
 * The shmem file behind a region.
 *
 * Regions live on a private tmpfs mount with huge=never, so that a VMM's
 * madvise(MADV_HUGEPAGE) cannot bring huge pages back, and are charged
 * like any shmem (memory cgroups, swap). The file's size is sealed, and
 * the paths that change its contents without a write fault through a
 * region mapping (hole punching, write(2) through /proc/PID/map_files)
 * go through module-owned file operations that log the pages they touch.
 *
 * Lifetime: the backing file of a region holds an operations table of
 * this module (backing_fops) and a module reference taken when it was
 * installed, dropped by the core's fops_put() in __fput(). A file opened
 * through the inode (map_files) gets backing_inode_fops, whose owner is
 * this module too, and holds a region user for as long as it is open.
 */

#include <linux/fs.h>
#include <linux/falloc.h>
#include <linux/mount.h>
#include <linux/module.h>
#include <linux/shmem_fs.h>
#include <linux/uio.h>

#include "partmob.h"

static struct vfsmount *backing_mnt;
static const struct file_operations *shmem_fops;
static struct file_operations backing_fops;
static struct file_operations backing_inode_fops;
static DEFINE_MUTEX(backing_fops_lock);

static struct partmob_region *file_region(struct file *file)
{
	return file_inode(file)->i_private;
}

static int backing_open(struct inode *inode, struct file *file)
{
	struct partmob_region *r = inode->i_private;
	int ret;

	if (!r || !partmob_region_get_user(r))
		return -ENODEV;
	ret = shmem_fops->open ? shmem_fops->open(inode, file) : 0;
	if (ret)
		goto err_open;
	return 0;

err_open:
	partmob_region_put_user(r);
	partmob_region_put(r);
	return ret;
}

static int backing_release(struct inode *inode, struct file *file)
{
	struct partmob_region *r = inode->i_private;

	if (shmem_fops->release)
		shmem_fops->release(inode, file);
	partmob_region_put_user(r);
	partmob_region_put(r);
	return 0;
}

/*
 * Writers through the file wait while the region is frozen, and hold
 * file_sem for read from the check to the logging, so that a freeze,
 * which takes it for write once, sees their pages logged.
 */
static int file_write_begin(struct partmob_region *r)
{
	for (;;) {
		if (down_read_killable(&r->file_sem))
			return -EINTR;
		if (!READ_ONCE(r->frozen))
			return 0;
		up_read(&r->file_sem);
		atomic64_inc(&r->stats.frozen_waits);
		if (wait_event_killable(r->thaw_wq, !READ_ONCE(r->frozen)))
			return -EINTR;
	}
}

static ssize_t backing_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct partmob_region *r = file_region(iocb->ki_filp);
	loff_t pos = iocb->ki_pos;
	ssize_t ret;

	ret = file_write_begin(r);
	if (ret)
		return ret;
	ret = shmem_fops->write_iter(iocb, from);
	/* Log after the change, so a harvest cannot read the old bytes. */
	if (ret > 0)
		partmob_dirty_mark(r, pos >> PAGE_SHIFT,
				   ((pos + ret - 1) >> PAGE_SHIFT) -
				   (pos >> PAGE_SHIFT) + 1);
	up_read(&r->file_sem);
	return ret;
}

static long backing_fallocate(struct file *file, int mode, loff_t offset,
			      loff_t len)
{
	struct partmob_region *r = file_region(file);
	pgoff_t first, last;
	long ret;

	if (len <= 0 || offset < 0 || offset >= r->size ||
	    len > r->size - offset)
		return -EINVAL;
	ret = file_write_begin(r);
	if (ret)
		return ret;
	ret = shmem_fops->fallocate(file, mode, offset, len);
	if (!ret && (mode & FALLOC_FL_PUNCH_HOLE)) {
		/* Partly punched pages were zeroed in part: log them too. */
		first = offset >> PAGE_SHIFT;
		last = (offset + len - 1) >> PAGE_SHIFT;
		atomic64_add(last - first + 1, &r->stats.removed);
		partmob_dirty_mark(r, first, last - first + 1);
	}
	up_read(&r->file_sem);
	return ret;
}

static void setup_fops(const struct file_operations *ops)
{
	mutex_lock(&backing_fops_lock);
	if (!shmem_fops) {
		backing_fops = *ops;
		backing_fops.owner = THIS_MODULE;
		backing_fops.write_iter = backing_write_iter;
		backing_fops.fallocate = backing_fallocate;
		backing_inode_fops = backing_fops;
		backing_inode_fops.open = backing_open;
		backing_inode_fops.release = backing_release;
		shmem_fops = ops;
	}
	mutex_unlock(&backing_fops_lock);
}

/**
 * partmob_backing_create() - make the shmem file of a region
 * @r: the region; name, size and flags are set
 *
 * Without PARTMOB_REGION_F_OVERCOMMIT the whole size is reserved against
 * the kernel's overcommit limit, which refuses with -ENOMEM what cannot be
 * backed.
 *
 * Return: the file, or an ERR_PTR.
 */
struct file *partmob_backing_create(struct partmob_region *r)
{
	unsigned long vmflags = 0;
	struct inode *inode;
	struct file *file;

	if (r->flags & PARTMOB_REGION_F_OVERCOMMIT)
		vmflags |= VM_NORESERVE;
	file = shmem_file_setup_with_mnt(backing_mnt, r->name, r->size,
					 vmflags);
	if (IS_ERR(file))
		return file;
	if (WARN_ON_ONCE(!file->f_op->write_iter || !file->f_op->fallocate)) {
		fput(file);
		return ERR_PTR(-EINVAL);
	}
	setup_fops(file->f_op);
	inode = file_inode(file);
	inode->i_private = r;
	/* Neither ftruncate nor a write past the end may change the size. */
	SHMEM_I(inode)->seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	inode->i_fop = &backing_inode_fops;
	/* The core drops this reference in __fput() through fops_put(). */
	__module_get(THIS_MODULE);
	file->f_op = &backing_fops;
	return file;
}

/**
 * partmob_backing_init() - mount the private tmpfs for regions
 *
 * Return: 0 or a negative errno.
 */
int __init partmob_backing_init(void)
{
	struct file_system_type *type = get_fs_type("tmpfs");
	const char *opts = IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) ?
			   "huge=never" : NULL;
	char buf[16];

	if (!type)
		return -ENODEV;
	if (opts)
		strscpy(buf, opts, sizeof(buf));
	backing_mnt = vfs_kern_mount(type, SB_KERNMOUNT, "partmob",
				     opts ? buf : NULL);
	module_put(type->owner);
	if (IS_ERR(backing_mnt))
		return PTR_ERR(backing_mnt);
	return 0;
}

/**
 * partmob_backing_exit() - unmount the private tmpfs
 */
void partmob_backing_exit(void)
{
	kern_unmount(backing_mnt);
}
