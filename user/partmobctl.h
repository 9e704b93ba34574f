/* SPDX-License-Identifier: GPL-2.0 */
#ifndef PARTMOBCTL_H
#define PARTMOBCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes, documented in Documentation/partmobctl.8. */
enum {
	PM_EXIT_OK = 0,
	PM_EXIT_FAIL = 1,	/* the operation failed */
	PM_EXIT_USAGE = 2,	/* bad command line */
	PM_EXIT_NOMODULE = 3,	/* partmob.ko not loaded / family missing */
	PM_EXIT_PERM = 4,	/* caller lacks the needed capability */
	PM_EXIT_REFUSED = 5,	/* the destination refused (handshake) */
	PM_EXIT_MIGFAIL = 6,	/* failed or aborted before the decision */
	PM_EXIT_INDOUBT = 7,	/* destination prepared, outcome unknown */
	PM_EXIT_TIMEOUT = 8,	/* wait timed out */
};

struct pm_opts {
	bool json;
	bool pretty;
};

extern const char *pm_prog;

/* info.c */
int cmd_info(int argc, char **argv, struct pm_opts *o);

/* region.c */
int cmd_region(int argc, char **argv, struct pm_opts *o);
const char *pm_parse_bytes(const char *s, bool per_second, uint64_t *out);

/* mig.c */
int cmd_validate(int argc, char **argv, struct pm_opts *o);
int cmd_start(int argc, char **argv, struct pm_opts *o);
int cmd_status(int argc, char **argv, struct pm_opts *o);
int cmd_abort(int argc, char **argv, struct pm_opts *o);
int cmd_wait(int argc, char **argv, struct pm_opts *o);
int cmd_recover(int argc, char **argv, struct pm_opts *o);

/* listen.c */
int cmd_listen(int argc, char **argv, struct pm_opts *o);

/* partmobctl.c */
int pm_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int pm_parse_common(int argc, char **argv, struct pm_opts *o,
		    void (*help)(FILE *), int *first_arg);

#endif
