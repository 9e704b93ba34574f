/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vm: the QEMU side of a guest's migration, over QMP (qmp.h).
 *
 * partmob moves the guest's RAM (its memory backends are regions, shared
 * mappings of /dev/partmob/NAME); QEMU's own migration moves only the
 * device state, with capability x-ignore-shared so that it skips the
 * shared RAM, over a second connection to the destination's listener
 * (handshake op PARTMOB_HS_OP_DEVICE_STATE) that both partmobctl ends hand
 * to their QEMU with getfd. The order (Documentation/design.rst, "Moving
 * a QEMU guest"):
 *
 *   source                               destination listener
 *   regions: MIG_START with the hold flag  creates the regions, frozen
 *   device-state hello (the dest paths) -> runs --vm-hook: QEMU -incoming
 *                                          defer -S on the regions;
 *                                          x-ignore-shared, migrate-incoming
 *                                       <- OK (refused if QEMU is not ready)
 *   pre-copy rounds while the guest runs
 *   stop (vCPUs paused BEFORE the freeze)
 *   SWITCHOVER (freeze, last round, END), and meanwhile QEMU's migrate
 *   (pause-before-switchover: it sets up and sends what is not shared,
 *   then waits in "pre-switchover")
 *   held in PREPARED                       prepared: the regions are
 *                                          thawed for QEMU (still -S)
 *   migrate-continue: the device state, after the memory as in QEMU's
 *   own migration (loading it may write guest RAM); return-path: it
 *   completes only once the destination QEMU has loaded it
 *   MIG_COMMIT, the decision               committed: cont
 *                                       <- "running"
 *   quit the source QEMU
 *
 * Before the decision any failure aborts the regions and continues the
 * source QEMU; the destination listener quits its QEMU when a region fails.
 */
#ifndef PARTMOBCTL_VM_H
#define PARTMOBCTL_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qmp.h"

#define PM_VM_FDNAME		"partmob"	/* getfd name of the stream */
#define PM_VM_QMP_TIMEOUT_MS	30000	/* QEMU starting, answering */

struct pm_vm {
	struct qmp q;
	bool open;
	bool stopped;		/* we stopped its vCPUs */
	bool migrating;		/* we started its migrate */
	char status[32];	/* run state when opened ("running", ...) */
};

/*
 * Connect to QMP at @path, read the run state, and set the migration
 * capabilities: x-ignore-shared, and on a source return-path and
 * pause-before-switchover.
 * Return: 0, or -errno with @why set.
 */
int pm_vm_open(struct pm_vm *vm, const char *path, bool source, int timeout_ms,
	       char *why, size_t n);
void pm_vm_close(struct pm_vm *vm);

/* Pause the vCPUs (QMP stop). */
int pm_vm_stop(struct pm_vm *vm, char *why, size_t n);
/* Run the vCPUs (QMP cont). */
int pm_vm_cont(struct pm_vm *vm, char *why, size_t n);
/* Ask QEMU to exit (QMP quit). */
int pm_vm_quit(struct pm_vm *vm, char *why, size_t n);

/* Source: migrate the device state to the connected socket @fd. */
int pm_vm_migrate(struct pm_vm *vm, int fd, char *why, size_t n);
/* Destination: receive the device state from the socket @fd. */
int pm_vm_incoming(struct pm_vm *vm, int fd, char *why, size_t n);
/* Cancel our outgoing migration (QMP migrate_cancel). */
void pm_vm_cancel(struct pm_vm *vm);

/*
 * QEMU's migration status (query-migrate "status": "active",
 * "completed", "failed", ...) into @status; @why gets QEMU's error-desc
 * when it failed. Return: 0 or -errno.
 */
int pm_vm_migration(struct pm_vm *vm, char *status, size_t sn, char *why,
		    size_t n);

/*
 * Poll pm_vm_migration() every few milliseconds until status @want
 * ("pre-switchover", "completed": 0), "failed"/"cancelled" (-ECANCELED,
 * @why set) or @timeout_ms (-ETIMEDOUT).
 */
int pm_vm_wait_migration(struct pm_vm *vm, const char *want, int timeout_ms,
			 char *why, size_t n);

/* Source: let a migration paused in "pre-switchover" send the device state. */
int pm_vm_continue(struct pm_vm *vm, char *why, size_t n);

#endif
