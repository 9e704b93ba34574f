/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CHECK() of the unit tests in user/ (test-handshake, test-qmp): counts
 * the checks and the failures, and names a failing one on stderr.
 */
#ifndef PARTMOBCTL_CHECK_H
#define PARTMOBCTL_CHECK_H

#include <stdio.h>

static int failures, checks;

#define CHECK(cond) do {						\
	checks++;							\
	if (!(cond)) {							\
		failures++;						\
		fprintf(stderr, "%s:%d: failed: %s\n", __FILE__,	\
			__LINE__, #cond);				\
	}								\
} while (0)

#endif
