// SPDX-License-Identifier: GPL-2.0
/*
 * vm: QEMU's part of a guest's migration, over QMP. See vm.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vm.h"

static int fail(struct pm_vm *vm, int ret, const char *what, char *why,
		size_t n)
{
	snprintf(why, n, "QEMU %s: %s", what,
		 vm->q.error[0] ? vm->q.error : strerror(-ret));
	return ret;
}

static int exec0(struct pm_vm *vm, const char *cmd, const char *args,
		 char *why, size_t n)
{
	int ret = qmp_execute(&vm->q, cmd, args, NULL);

	return ret ? fail(vm, ret, cmd, why, n) : 0;
}

int pm_vm_open(struct pm_vm *vm, const char *path, bool source, int timeout_ms,
	       char *why, size_t n)
{
	char caps[256], *ret = NULL;
	int err;

	memset(vm, 0, sizeof(*vm));
	vm->q.fd = -1;
	err = qmp_open(&vm->q, path, timeout_ms);
	if (err) {
		snprintf(why, n, "QMP at %s: %s", path,
			 vm->q.error[0] ? vm->q.error : strerror(-err));
		return err;
	}
	vm->open = true;
	err = qmp_execute(&vm->q, "query-status", NULL, &ret);
	if (!err)
		err = qmp_json_string(ret, "status", vm->status,
				      sizeof(vm->status));
	free(ret);
	if (err)
		goto fail;
	snprintf(caps, sizeof(caps),
		 "{\"capabilities\": [{\"capability\": \"x-ignore-shared\", \"state\": true}%s]}",
		 source ? ", {\"capability\": \"return-path\", \"state\": true}"
		 ", {\"capability\": \"pause-before-switchover\", \"state\": true}" :
		 "");
	err = qmp_execute(&vm->q, "migrate-set-capabilities", caps, NULL);
	if (err)
		goto fail;
	return 0;
fail:
	fail(vm, err, "setup", why, n);
	pm_vm_close(vm);
	return err;
}

void pm_vm_close(struct pm_vm *vm)
{
	if (vm->open)
		qmp_close(&vm->q);
	vm->open = false;
}

int pm_vm_stop(struct pm_vm *vm, char *why, size_t n)
{
	int ret = exec0(vm, "stop", NULL, why, n);

	if (!ret)
		vm->stopped = true;
	return ret;
}

int pm_vm_cont(struct pm_vm *vm, char *why, size_t n)
{
	int ret = exec0(vm, "cont", NULL, why, n);

	if (!ret)
		vm->stopped = false;
	return ret;
}

int pm_vm_quit(struct pm_vm *vm, char *why, size_t n)
{
	int ret = qmp_execute(&vm->q, "quit", NULL, NULL);

	/* QEMU may close the connection before or after it answers. */
	if (ret == -ECONNRESET)
		ret = 0;
	return ret ? fail(vm, ret, "quit", why, n) : 0;
}

static int pass_fd(struct pm_vm *vm, int fd, char *why, size_t n)
{
	int ret;

	/* A name left by an earlier attempt would make getfd replace it. */
	ret = qmp_execute_fd(&vm->q, "getfd",
			     "{\"fdname\": \"" PM_VM_FDNAME "\"}", fd, NULL);
	return ret ? fail(vm, ret, "getfd", why, n) : 0;
}

int pm_vm_migrate(struct pm_vm *vm, int fd, char *why, size_t n)
{
	int ret = pass_fd(vm, fd, why, n);

	if (ret)
		return ret;
	ret = exec0(vm, "migrate", "{\"uri\": \"fd:" PM_VM_FDNAME "\"}", why,
		    n);
	if (!ret)
		vm->migrating = true;
	return ret;
}

int pm_vm_incoming(struct pm_vm *vm, int fd, char *why, size_t n)
{
	int ret = pass_fd(vm, fd, why, n);

	if (ret)
		return ret;
	return exec0(vm, "migrate-incoming",
		     "{\"uri\": \"fd:" PM_VM_FDNAME "\"}", why, n);
}

void pm_vm_cancel(struct pm_vm *vm)
{
	if (vm->migrating)
		qmp_execute(&vm->q, "migrate_cancel", NULL, NULL);
	vm->migrating = false;
}

int pm_vm_migration(struct pm_vm *vm, char *status, size_t sn, char *why,
		    size_t n)
{
	char *ret = NULL;
	int err;

	err = qmp_execute(&vm->q, "query-migrate", NULL, &ret);
	if (err)
		return fail(vm, err, "query-migrate", why, n);
	if (qmp_json_string(ret, "status", status, sn))
		snprintf(status, sn, "none");
	if (qmp_json_string(ret, "error-desc", why, n))
		snprintf(why, n, "QEMU's migration is %s", status);
	free(ret);
	return 0;
}

int pm_vm_continue(struct pm_vm *vm, char *why, size_t n)
{
	return exec0(vm, "migrate-continue", "{\"state\": \"pre-switchover\"}",
		     why, n);
}

int pm_vm_wait_migration(struct pm_vm *vm, const char *want, int timeout_ms,
			 char *why, size_t n)
{
	struct timespec tick = { 0, 5 * 1000000L };
	char status[32];
	int ret, waited;

	for (waited = 0; waited <= timeout_ms; waited += 5) {
		ret = pm_vm_migration(vm, status, sizeof(status), why, n);
		if (ret)
			return ret;
		if (!strcmp(status, want)) {
			if (!strcmp(want, "completed"))
				vm->migrating = false;
			return 0;
		}
		if (!strcmp(status, "failed") || !strcmp(status, "cancelled") ||
		    !strcmp(status, "none"))
			return -ECANCELED;
		nanosleep(&tick, NULL);
	}
	snprintf(why, n, "QEMU's migration of the device state was not %s within %d ms",
		 want, timeout_ms);
	return -ETIMEDOUT;
}
