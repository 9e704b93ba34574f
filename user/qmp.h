/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qmp: a small client of QEMU's machine protocol (QMP, QEMU's
 * docs/interop/qmp-spec), for whoever drives a QEMU process: partmobctl's
 * QEMU orchestration, the QEMU peer of `make bench`, tests.
 *
 *   struct qmp q;
 *   char *ret;
 *
 *   qmp_open(&q, "/run/vm1.qmp", 5000);      greeting + qmp_capabilities
 *   qmp_execute(&q, "migrate-set-parameters",
 *               "{\"max-bandwidth\": 1000000000}", NULL);
 *   qmp_execute(&q, "query-migrate", NULL, &ret);
 *   qmp_json_string(ret, "status", buf, sizeof(buf));  "completed"?
 *   free(ret);
 *   qmp_wait_event(&q, "STOP", 10000, NULL);
 *   qmp_close(&q);
 *
 * Blocking I/O, one command at a time, every call bounded by a deadline.
 * Arguments go out as JSON text the caller writes (qmp_json_quote() for
 * strings); answers come back as JSON text, and a minimal reader
 * (qmp_json_*) picks fields out of them by a dotted path. Events that
 * arrive while a command waits for its answer are kept, in order, for
 * qmp_wait_event(). Not thread-safe: one struct qmp per thread.
 *
 * Return values: 0 or a negative errno:
 *   -ETIMEDOUT   the deadline passed
 *   -ECONNRESET  QEMU closed the connection
 *   -EPROTO      QEMU sent something that is not QMP (q->error says what)
 *   -EREMOTEIO   QEMU answered with an error; q->error holds
 *                "CLASS: description"
 *   -ENOMEM, -EINVAL, or the errno of a failed system call
 * q->error describes the last failure in words.
 */
#ifndef PARTMOB_QMP_H
#define PARTMOB_QMP_H

#include <stddef.h>

#define QMP_TIMEOUT_MS 30000	/* default deadline of one call */
#define QMP_EVENTS_MAX 256	/* events kept; the oldest go first */

struct qmp {
	int fd;			/* the connected socket, -1 when closed */
	int timeout_ms;		/* deadline of qmp_execute() */
	unsigned long next_id;	/* "id" of the next command */
	int version[3];		/* QEMU's major, minor, micro (greeting) */
	char *buf;		/* bytes received, not yet parsed */
	size_t len, cap;
	char *events[QMP_EVENTS_MAX];	/* kept events, oldest first */
	size_t nevents;
	char error[512];	/* the last failure, in words */
};

/*
 * Connect to the QMP server listening on unix socket @path, retrying
 * while it does not exist or refuses (QEMU still starting) until
 * @timeout_ms, read the greeting and leave capabilities negotiation.
 * On failure @q is closed (qmp_close() is harmless).
 */
int qmp_open(struct qmp *q, const char *path, int timeout_ms);

/*
 * The same on an already connected stream socket @fd (a socketpair, a
 * socket QEMU inherited with -qmp fd=...). @q owns @fd from then on,
 * failure included.
 */
int qmp_attach(struct qmp *q, int fd, int timeout_ms);

/* Close the connection and free what @q holds. */
void qmp_close(struct qmp *q);

/*
 * Execute @cmd with @args (a JSON object as text, or NULL for none) and
 * wait for its answer. On success, if @ret is not NULL, *@ret is the
 * "return" value as JSON text (malloc'ed; the caller frees it).
 */
int qmp_execute(struct qmp *q, const char *cmd, const char *args,
		char **ret);

/*
 * qmp_execute() passing @fd along with the command (SCM_RIGHTS), as
 * `getfd`, `add-fd` and `migrate` to "fd:NAME" expect. @fd stays open in
 * the caller.
 */
int qmp_execute_fd(struct qmp *q, const char *cmd, const char *args,
		   int fd, char **ret);

/*
 * Wait up to @timeout_ms for event @name (e.g. "MIGRATION", "STOP"),
 * first among the events kept so far. On success the event is no longer
 * kept and, if @event is not NULL, *@event is the whole event object as
 * JSON text (malloc'ed; its "data" member holds the details).
 */
int qmp_wait_event(struct qmp *q, const char *name, int timeout_ms,
		   char **event);

/* Forget the events kept so far. */
void qmp_drop_events(struct qmp *q);

/* ---- the minimal JSON reader --------------------------------------------- */

/*
 * Find the member at @path in the JSON object @json: keys separated by
 * dots ("ram.normal" is json["ram"]["normal"]; "" is @json itself). On
 * success *@val points at the value's first character inside @json and
 * *@len is its length. Returns 0, -ENOENT (no such member, or a step is
 * not an object) or -EPROTO (@json is not valid JSON up to there).
 */
int qmp_json_find(const char *json, const char *path, const char **val,
		  size_t *len);

/* The number at @path. -ENOENT if absent, -EINVAL if not a number. */
int qmp_json_number(const char *json, const char *path, double *v);

/* The integer at @path (no fraction, fits long long), like qmp_json_number. */
int qmp_json_int(const char *json, const char *path, long long *v);

/* The boolean at @path (true/false), like qmp_json_number. */
int qmp_json_bool(const char *json, const char *path, int *v);

/*
 * The string at @path, unescaped into @buf (NUL-terminated; \uXXXX above
 * 0x7f becomes UTF-8). -ENOSPC if it does not fit, -EINVAL if the value is
 * not a string, -ENOENT if absent.
 */
int qmp_json_string(const char *json, const char *path, char *buf,
		    size_t size);

/*
 * @s as a JSON string literal, quotes included, into @buf. Returns the
 * length written, or -ENOSPC if @buf is too small.
 */
int qmp_json_quote(const char *s, char *buf, size_t size);

#endif
