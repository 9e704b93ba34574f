// SPDX-License-Identifier: GPL-2.0
/*
 * mmap of a region and write-notify.
 *
 * The vma is pointed at the region's shmem file and set up by shmem's own
 * mmap; then it gets region_vm_ops, which forward to shmem's and add
 * page_mkwrite. With page_mkwrite present the core maps read faults read-only and
 * calls page_mkwrite on the first write to a page, and again only after
 * the page was write-protected by a harvest (dirty.c).
 *
 * Each vma holds a reference and a user count of its region, taken in
 * mmap and in vm_ops->open (fork, split) and dropped in vm_ops->close.
 */

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>

#include "partmob.h"

/*
 * shmem's vm_operations are not exported: region_vm_ops forwards to the
 * ones shmem installed on the first region vma, saved once under
 * vm_ops_lock and constant afterwards.
 */
static DEFINE_MUTEX(vm_ops_lock);
static const struct vm_operations_struct *shmem_vm_ops;

static void region_vm_open(struct vm_area_struct *vma)
{
	struct partmob_region *r = vma->vm_private_data;

	partmob_region_get(r);
	atomic_inc(&r->users);
	if (shmem_vm_ops->open)
		shmem_vm_ops->open(vma);
}

static void region_vm_close(struct vm_area_struct *vma)
{
	struct partmob_region *r = vma->vm_private_data;

	if (shmem_vm_ops->close)
		shmem_vm_ops->close(vma);
	partmob_region_put_user(r);
	partmob_region_put(r);
}

static vm_fault_t region_fault(struct vm_fault *vmf)
{
	return shmem_vm_ops->fault(vmf);
}

static vm_fault_t region_map_pages(struct vm_fault *vmf, pgoff_t start,
				   pgoff_t end)
{
	return shmem_vm_ops->map_pages(vmf, start, end);
}

static vm_fault_t region_page_mkwrite(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct partmob_region *r = vma->vm_private_data;
	struct folio *folio = page_folio(vmf->page);
	pgoff_t first;
	unsigned long nr;

	this_cpu_inc(r->log.pcpu->faults);
again:
	folio_lock(folio);
	if (folio->mapping != vma->vm_file->f_mapping) {
		/* Truncated or punched meanwhile: let the fault start over. */
		folio_unlock(folio);
		return VM_FAULT_NOPAGE;
	}
	/*
	 * A large folio can be mapped writable whole by one fault: log all
	 * of its pages. vmf->pgoff is right for tail pages, page->index not.
	 */
	if (folio_test_large(folio)) {
		first = folio->index;
		nr = folio_nr_pages(folio);
	} else {
		first = vmf->pgoff;
		nr = 1;
	}
	partmob_dirty_mark(r, first, nr);
	/* Pairs with the barrier in partmob_region_freeze(). */
	smp_mb();
	if (unlikely(READ_ONCE(r->frozen))) {
		folio_unlock(folio);
		atomic64_inc(&r->stats.frozen_waits);
		/*
		 * This sleeps with mmap_lock (or the per-VMA lock) held for
		 * read: documented in the uapi header. A killed writer gets
		 * SIGBUS, which also ends a kernel-mode copy with -EFAULT
		 * instead of faulting again forever.
		 */
		if (wait_event_killable(r->thaw_wq, !READ_ONCE(r->frozen) ||
					READ_ONCE(r->dead)))
			return VM_FAULT_SIGBUS;
		/* A retired region deleted under its users: never again. */
		if (READ_ONCE(r->dead) && READ_ONCE(r->frozen))
			return VM_FAULT_SIGBUS;
		goto again;
	}
	return VM_FAULT_LOCKED;
}

static const struct vm_operations_struct region_vm_ops = {
	.open = region_vm_open,
	.close = region_vm_close,
	.fault = region_fault,
	.map_pages = region_map_pages,
	.page_mkwrite = region_page_mkwrite,
};

static int save_vm_ops(const struct vm_operations_struct *ops)
{
	int ret = 0;

	/* What region_vm_ops forwards to, and nothing it would lose. */
	if (!ops->fault || !ops->map_pages || ops->page_mkwrite ||
	    ops->open || ops->close || ops->huge_fault || ops->pfn_mkwrite)
		return -EINVAL;
	mutex_lock(&vm_ops_lock);
	if (!shmem_vm_ops)
		shmem_vm_ops = ops;
	else if (shmem_vm_ops != ops)
		ret = -EINVAL;
	mutex_unlock(&vm_ops_lock);
	return ret;
}

/**
 * partmob_vma_mmap() - map a region
 * @r: the region, held by the caller's open file
 * @vma: the new vma
 *
 * Only MAP_SHARED mappings that lie inside the region are accepted.
 *
 * Return: 0 or a negative errno.
 */
int partmob_vma_mmap(struct partmob_region *r, struct vm_area_struct *vma)
{
	unsigned long pages = vma_pages(vma);
	int ret;

	/* A read-only MAP_SHARED mapping has VM_MAYSHARE without VM_SHARED. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff >= r->npages || pages > r->npages - vma->vm_pgoff)
		return -EINVAL;

	vma_set_file(vma, r->backing);
	ret = partmob_backing_shmem_mmap(r->backing, vma);
	if (ret)
		return ret;
	ret = vma->vm_ops ? save_vm_ops(vma->vm_ops) : -EINVAL;
	if (WARN_ONCE(ret, "partmob: unexpected shmem vm_ops\n"))
		return ret;

	partmob_vm_flags_set(vma, VM_DONTEXPAND | VM_NOHUGEPAGE);
	vma->vm_private_data = r;
	vma->vm_ops = &region_vm_ops;
	partmob_region_get(r);
	atomic_inc(&r->users);
	return 0;
}
