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

/*
 * shmem's file_operations are not exported: backing_fops and
 * backing_inode_fops forward to the ones of the first backing file, saved
 * once under backing_fops_lock and constant afterwards.
 */
static struct vfsmount *backing_mnt;
static const struct file_operations *shmem_fops;
static DEFINE_MUTEX(backing_fops_lock);

/*
 * The region of a backing file is its private_data: set at creation for
 * the region's own file, and by backing_open() for files opened through
 * the inode. (inode->i_private belongs to shmem, which uses it while it
 * punches holes.)
 */
static struct partmob_region *file_region(struct file *file)
{
	return file->private_data;
}

static int backing_open(struct inode *inode, struct file *file)
{
	struct partmob_region *r;
	int ret;

	r = partmob_region_get_user_by_inode(inode);
	if (!r)
		return -ENODEV;
	ret = shmem_fops->open ? shmem_fops->open(inode, file) : 0;
	if (ret)
		goto err_open;
	file->private_data = r;
	return 0;

err_open:
	partmob_region_put_user(r);
	partmob_region_put(r);
	return ret;
}

static int backing_release(struct inode *inode, struct file *file)
{
	struct partmob_region *r = file->private_data;

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
		/* A retired region deleted under its users: never again. */
		if (READ_ONCE(r->dead))
			return -EIO;
		atomic64_inc(&r->stats.frozen_waits);
		if (wait_event_killable(r->thaw_wq, !READ_ONCE(r->frozen) ||
					READ_ONCE(r->dead)))
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

/**
 * partmob_backing_punch() - make pages of a region read as zero, unlogged
 * @r: the region (an incoming migration's, frozen)
 * @first: first page
 * @nr: pages, within the region
 *
 * For the receiver of a migration: the pages become holes without being
 * logged and without waiting for a thaw. Nothing is done for a range that
 * holds no page.
 *
 * Return: 0 or a negative error from shmem.
 */
int partmob_backing_punch(struct partmob_region *r, pgoff_t first,
			  unsigned long nr)
{
	struct address_space *mapping = r->backing->f_mapping;
	unsigned long index = first;

	if (!xa_find(&mapping->i_pages, &index, first + nr - 1, XA_PRESENT))
		return 0;
	return shmem_fops->fallocate(r->backing,
				     FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     (loff_t)first << PAGE_SHIFT,
				     (loff_t)nr << PAGE_SHIFT);
}

static int backing_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* A mapping of the backing file is a tracked region mapping too. */
	return partmob_vma_mmap(file_region(file), vma);
}

static loff_t backing_llseek(struct file *file, loff_t offset, int whence)
{
	return shmem_fops->llseek(file, offset, whence);
}

static ssize_t backing_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	return shmem_fops->read_iter(iocb, to);
}

static ssize_t backing_splice_read(struct file *in, loff_t *ppos,
				   struct pipe_inode_info *pipe, size_t len,
				   unsigned int flags)
{
	return shmem_fops->splice_read(in, ppos, pipe, len, flags);
}

/* The region's own file: made by the module, never opened. */
static const struct file_operations backing_fops = {
	.owner = THIS_MODULE,
	.mmap = backing_mmap,
	.llseek = backing_llseek,
	.read_iter = backing_read_iter,
	.write_iter = backing_write_iter,
	.fsync = noop_fsync,
	.splice_read = backing_splice_read,
	.splice_write = iter_file_splice_write,
	.fallocate = backing_fallocate,
};

/* Files opened through the inode, e.g. /proc/PID/map_files/. */
static const struct file_operations backing_inode_fops = {
	.owner = THIS_MODULE,
	.open = backing_open,
	.release = backing_release,
	.mmap = backing_mmap,
	.llseek = backing_llseek,
	.read_iter = backing_read_iter,
	.write_iter = backing_write_iter,
	.fsync = noop_fsync,
	.splice_read = backing_splice_read,
	.splice_write = iter_file_splice_write,
	.fallocate = backing_fallocate,
};

static int save_fops(const struct file_operations *ops)
{
	int ret = 0;

	/*
	 * What the tables above forward to, and nothing they would lose:
	 * shmem's get_unmapped_area only aligns for huge pages, which
	 * regions do not use; its open (6.12) is called by backing_open().
	 */
	if (!ops->mmap || !ops->llseek || !ops->read_iter ||
	    !ops->write_iter || !ops->splice_read || !ops->fallocate ||
	    ops->release)
		return -EINVAL;
	mutex_lock(&backing_fops_lock);
	if (!shmem_fops)
		shmem_fops = ops;
	else if (shmem_fops != ops)
		ret = -EINVAL;
	mutex_unlock(&backing_fops_lock);
	return ret;
}

/**
 * partmob_backing_shmem_mmap() - let shmem set up a vma of a backing file
 * @file: the backing file
 * @vma: the vma, whose vm_file is @file
 *
 * Return: shmem's answer.
 */
int partmob_backing_shmem_mmap(struct file *file, struct vm_area_struct *vma)
{
	return shmem_fops->mmap(file, vma);
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
	int ret;

	if (r->flags & PARTMOB_REGION_F_OVERCOMMIT)
		vmflags |= VM_NORESERVE;
	file = shmem_file_setup_with_mnt(backing_mnt, r->name, r->size,
					 vmflags);
	if (IS_ERR(file))
		return file;
	ret = save_fops(file->f_op);
	if (WARN_ONCE(ret, "partmob: unexpected shmem file operations\n")) {
		fput(file);
		return ERR_PTR(ret);
	}
	inode = file_inode(file);
	file->private_data = r;
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
