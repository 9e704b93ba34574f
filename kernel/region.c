// SPDX-License-Identifier: GPL-2.0
/*
 * Region objects: create, delete, look up, and their character devices
 * /dev/partmob/NAME.
 *
 * Locking: partmob_regions_lock (a mutex) protects region_idr (minor ->
 * region), the names, and every region's @dead flag and user count
 * increments from opens. Lifetimes are explained at struct partmob_region.
 * A region holds a module reference from create to free, so the module
 * cannot be unloaded while any region exists: a region is guest RAM.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <net/netlink.h>

#include "partmob.h"

static DEFINE_MUTEX(partmob_regions_lock);
static DEFINE_IDR(region_idr);
static dev_t region_devt;
static struct class *region_class;

static void region_free(struct kref *ref)
{
	struct partmob_region *r = container_of(ref, struct partmob_region,
						ref);

	if (r->mig)
		partmob_mig_put(r->mig);
	if (r->backing)
		fput(r->backing);
	partmob_dirty_free(&r->log);
	kfree(r);
	module_put(THIS_MODULE);
}

/**
 * partmob_region_get() - take a reference on a region
 * @r: the region, already referenced by the caller
 */
void partmob_region_get(struct partmob_region *r)
{
	kref_get(&r->ref);
}

/**
 * partmob_region_put() - drop a reference on a region
 * @r: the region
 */
void partmob_region_put(struct partmob_region *r)
{
	kref_put(&r->ref, region_free);
}

/**
 * partmob_region_get_user_by_inode() - become a user of the region whose
 *	backing file has @inode
 * @inode: an inode of the private tmpfs mount
 *
 * Return: the region with a reference and a user count taken, or NULL.
 */
struct partmob_region *partmob_region_get_user_by_inode(struct inode *inode)
{
	struct partmob_region *r;
	int id;

	mutex_lock(&partmob_regions_lock);
	idr_for_each_entry(&region_idr, r, id) {
		if (!r->dead && file_inode(r->backing) == inode) {
			kref_get(&r->ref);
			atomic_inc(&r->users);
			mutex_unlock(&partmob_regions_lock);
			return r;
		}
	}
	mutex_unlock(&partmob_regions_lock);
	return NULL;
}

/**
 * partmob_region_put_user() - stop being a user; the reference stays
 * @r: the region
 */
void partmob_region_put_user(struct partmob_region *r)
{
	atomic_dec(&r->users);
}

static int region_open(struct inode *inode, struct file *file)
{
	struct partmob_region *r;

	mutex_lock(&partmob_regions_lock);
	r = idr_find(&region_idr, iminor(inode));
	/* A stale node of a deleted region may carry a reused minor. */
	if (!r || r->dead || inode->i_cdev != r->cdev) {
		mutex_unlock(&partmob_regions_lock);
		return -ENODEV;
	}
	kref_get(&r->ref);
	atomic_inc(&r->users);
	mutex_unlock(&partmob_regions_lock);
	file->private_data = r;
	return 0;
}

static int region_release(struct inode *inode, struct file *file)
{
	struct partmob_region *r = file->private_data;

	partmob_region_put_user(r);
	partmob_region_put(r);
	return 0;
}

static int region_mmap(struct file *file, struct vm_area_struct *vma)
{
	return partmob_vma_mmap(file->private_data, vma);
}

/* QEMU checks a memory backend's size by seeking to the end. */
static loff_t region_llseek(struct file *file, loff_t offset, int whence)
{
	struct partmob_region *r = file->private_data;

	return fixed_size_llseek(file, offset, whence, r->size);
}

static const struct file_operations region_fops = {
	.owner = THIS_MODULE,
	.open = region_open,
	.release = region_release,
	.mmap = region_mmap,
	.llseek = region_llseek,
};

static char *region_devnode(PARTMOB_DEVNODE_CONST struct device *dev,
			    umode_t *mode, kuid_t *uid, kgid_t *gid)
{
	struct partmob_region *r = dev_get_drvdata(dev);

	if (mode)
		*mode = r->mode;
	if (uid)
		*uid = r->uid;
	if (gid)
		*gid = r->gid;
	return NULL;
}

static void region_dev_release(struct device *dev)
{
	kfree(dev);
}

static const struct device_type region_dev_type = {
	.name = "partmob_region",
	.devnode = region_devnode,
};

static struct partmob_region *find_locked(const char *name)
{
	struct partmob_region *r;
	int id;

	lockdep_assert_held(&partmob_regions_lock);
	idr_for_each_entry(&region_idr, r, id)
		if (!strcmp(r->name, name))
			return r;
	return NULL;
}

static int region_add_device(struct partmob_region *r)
{
	struct device *dev;
	int ret;

	r->cdev = cdev_alloc();
	if (!r->cdev)
		return -ENOMEM;
	r->cdev->owner = THIS_MODULE;
	r->cdev->ops = &region_fops;
	ret = cdev_add(r->cdev, MKDEV(MAJOR(region_devt), r->minor), 1);
	if (ret)
		goto err_cdev;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev) {
		ret = -ENOMEM;
		goto err_cdev;
	}
	device_initialize(dev);
	dev->devt = MKDEV(MAJOR(region_devt), r->minor);
	dev->class = region_class;
	dev->type = &region_dev_type;
	dev->release = region_dev_release;
	dev_set_drvdata(dev, r);
	ret = dev_set_name(dev, "partmob!%s", r->name);
	if (ret)
		goto err_dev;
	ret = device_add(dev);
	if (ret)
		goto err_dev;
	r->dev = dev;
	return 0;

err_dev:
	put_device(dev);
err_cdev:
	cdev_del(r->cdev);
	r->cdev = NULL;
	return ret;
}

static void region_del_device(struct partmob_region *r)
{
	device_unregister(r->dev);
	cdev_del(r->cdev);
}

/**
 * partmob_region_create() - create a region and its device node
 * @name: validated name
 * @size: validated size in bytes
 * @flags: enum partmob_region_flags
 * @uid: owner of the node
 * @gid: group of the node
 * @mode: permission bits of the node
 * @extack: for error messages
 *
 * Return: 0 or a negative errno, with @extack set.
 */
int partmob_region_create(const char *name, u64 size, u32 flags, kuid_t uid,
			  kgid_t gid, umode_t mode,
			  struct netlink_ext_ack *extack)
{
	struct partmob_region *r;
	struct file *backing;
	int ret;

	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;
	kref_init(&r->ref);
	atomic_set(&r->users, 0);
	strscpy(r->name, name, sizeof(r->name));
	r->size = size;
	r->npages = size >> PAGE_SHIFT;
	r->flags = flags & ~PARTMOB_REGION_F_INCOMING;
	/* An incoming migration's region is frozen until it completes. */
	r->frozen = !!(flags & PARTMOB_REGION_F_INCOMING);
	r->uid = uid;
	r->gid = gid;
	r->mode = mode;
	init_waitqueue_head(&r->thaw_wq);
	mutex_init(&r->harvest_lock);
	init_rwsem(&r->file_sem);
	ret = partmob_dirty_init(&r->log, r->npages);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "no memory for the dirty log");
		goto err_log;
	}

	mutex_lock(&partmob_regions_lock);
	if (find_locked(name)) {
		NL_SET_ERR_MSG_MOD(extack, "a region of that name exists");
		ret = -EEXIST;
		goto err_name;
	}
	ret = idr_alloc(&region_idr, NULL, 0, PARTMOB_MAX_REGIONS, GFP_KERNEL);
	if (ret < 0) {
		if (ret == -ENOSPC)
			NL_SET_ERR_MSG_MOD(extack, "too many regions");
		goto err_name;
	}
	r->minor = ret;

	backing = partmob_backing_create(r);
	if (IS_ERR(backing)) {
		ret = PTR_ERR(backing);
		if (ret == -ENOMEM)
			NL_SET_ERR_MSG_MOD(extack,
					   "not enough memory to back the whole region (the kernel's overcommit check refused it); use the overcommit flag for sparse regions");
		goto err_backing;
	}
	r->backing = backing;

	ret = region_add_device(r);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "cannot create the device node");
		goto err_device;
	}
	__module_get(THIS_MODULE);
	idr_replace(&region_idr, r, r->minor);
	mutex_unlock(&partmob_regions_lock);
	return 0;

err_device:
	fput(r->backing);
err_backing:
	idr_remove(&region_idr, r->minor);
err_name:
	mutex_unlock(&partmob_regions_lock);
	partmob_dirty_free(&r->log);
err_log:
	kfree(r);
	return ret;
}

/**
 * partmob_region_delete() - delete an unused region
 * @name: its name
 * @extack: for error messages
 *
 * Return: 0, -ENOENT, or -EBUSY while the device or the backing file is
 * open or the region is mapped.
 */
int partmob_region_delete(const char *name, struct netlink_ext_ack *extack)
{
	struct partmob_region *r;

	mutex_lock(&partmob_regions_lock);
	r = find_locked(name);
	if (!r) {
		mutex_unlock(&partmob_regions_lock);
		NL_SET_ERR_MSG_MOD(extack, "no region of that name");
		return -ENOENT;
	}
	/*
	 * A retired region (migrated away) may go while mapped: its writers
	 * are blocked for good and get SIGBUS; the memory goes with the last
	 * user. Reading ->retired without the harvest lock is fine: it never
	 * goes back to false.
	 */
	if (atomic_read(&r->users) && !READ_ONCE(r->retired)) {
		mutex_unlock(&partmob_regions_lock);
		NL_SET_ERR_MSG_MOD(extack, "region is open, mapped or migrating");
		return -EBUSY;
	}
	WRITE_ONCE(r->dead, true);
	idr_remove(&region_idr, r->minor);
	mutex_unlock(&partmob_regions_lock);

	wake_up_all(&r->thaw_wq);
	region_del_device(r);
	partmob_region_put(r);
	return 0;
}

/**
 * partmob_region_get_user() - become a user of a region (a migration)
 * @r: the region, referenced by the caller
 *
 * Return: 0, or -ENOENT if the region is being deleted.
 */
int partmob_region_get_user(struct partmob_region *r)
{
	int ret = 0;

	mutex_lock(&partmob_regions_lock);
	if (r->dead)
		ret = -ENOENT;
	else
		atomic_inc(&r->users);
	mutex_unlock(&partmob_regions_lock);
	return ret;
}

/**
 * partmob_region_delete_unused() - delete a region if nobody uses it
 * @r: the region, referenced by the caller
 *
 * For a failed incoming migration, whose region nobody else should hold;
 * if somebody opened it meanwhile, it stays and an admin deletes it.
 */
void partmob_region_delete_unused(struct partmob_region *r)
{
	mutex_lock(&partmob_regions_lock);
	if (r->dead || atomic_read(&r->users)) {
		mutex_unlock(&partmob_regions_lock);
		return;
	}
	WRITE_ONCE(r->dead, true);
	idr_remove(&region_idr, r->minor);
	mutex_unlock(&partmob_regions_lock);

	region_del_device(r);
	partmob_region_put(r);
}

/**
 * partmob_region_find() - look a region up by name
 * @name: the name
 *
 * Return: the region with a reference the caller must put, or NULL.
 */
struct partmob_region *partmob_region_find(const char *name)
{
	struct partmob_region *r;

	mutex_lock(&partmob_regions_lock);
	r = find_locked(name);
	if (r)
		kref_get(&r->ref);
	mutex_unlock(&partmob_regions_lock);
	return r;
}

/**
 * partmob_region_next() - iterate over the regions by minor
 * @pos: in: the first minor to look at; out: one past the region found
 *
 * Return: the region with a reference the caller must put, or NULL.
 */
struct partmob_region *partmob_region_next(unsigned long *pos)
{
	struct partmob_region *r;
	int id = *pos;

	mutex_lock(&partmob_regions_lock);
	r = idr_get_next(&region_idr, &id);
	if (r) {
		kref_get(&r->ref);
		*pos = id + 1;
	}
	mutex_unlock(&partmob_regions_lock);
	return r;
}

/**
 * partmob_region_init() - reserve device numbers and the device class
 *
 * Return: 0 or a negative errno.
 */
int __init partmob_region_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&region_devt, 0, PARTMOB_MAX_REGIONS,
				  "partmob");
	if (ret)
		goto err_chrdev;
	region_class = partmob_class_create("partmob");
	if (IS_ERR(region_class)) {
		ret = PTR_ERR(region_class);
		goto err_class;
	}
	return 0;

err_class:
	unregister_chrdev_region(region_devt, PARTMOB_MAX_REGIONS);
err_chrdev:
	return ret;
}

/**
 * partmob_region_exit() - release device numbers and class
 *
 * Every region holds a module reference, so none exists here.
 */
void partmob_region_exit(void)
{
	WARN_ON(!idr_is_empty(&region_idr));
	idr_destroy(&region_idr);
	class_destroy(region_class);
	unregister_chrdev_region(region_devt, PARTMOB_MAX_REGIONS);
}
