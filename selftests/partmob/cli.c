// SPDX-License-Identifier: GPL-2.0
/*
 * partmobctl: output, --json, --help, exit codes and error paths.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include "lib.h"
#include "kselftest_harness.h"

static struct run_result r;

#define RUN(unpriv, ...) ({						\
	const char *const argv__[] = { __VA_ARGS__, NULL };		\
	int ret__ = pm_run_ctl(&r, unpriv, argv__);			\
	ret__ ? ret__ : r.status; })

/* Value of "key": N in a JSON text, or -1. */
static long json_num(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(s, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

TEST(info_text)
{
	char want[64];

	if (!pm_module_loaded())
		SKIP(return, "partmob.ko is not loaded");
	ASSERT_EQ(0, RUN(0, "info"));
	snprintf(want, sizeof(want), "page size:      %ld\n",
		 sysconf(_SC_PAGESIZE));
	EXPECT_NE(NULL, strstr(r.out, want));
	EXPECT_EQ(0, r.err[0]);
}

TEST(info_json)
{
	struct utsname u;
	char want[128];

	if (!pm_module_loaded())
		SKIP(return, "partmob.ko is not loaded");
	ASSERT_EQ(0, uname(&u));
	ASSERT_EQ(0, RUN(0, "info", "--json"));
	EXPECT_EQ('{', r.out[0]);
	EXPECT_EQ(sysconf(_SC_PAGESIZE), json_num(r.out, "page_size"));
	EXPECT_EQ(PARTMOB_WIRE_VERSION, json_num(r.out, "wire_version"));
	snprintf(want, sizeof(want), "\"arch\": \"%s\"", u.machine);
	EXPECT_NE(NULL, strstr(r.out, want));
	/* -j before the object means the same. */
	ASSERT_EQ(0, RUN(0, "-j", "info"));
	EXPECT_EQ(sysconf(_SC_PAGESIZE), json_num(r.out, "page_size"));
}

TEST(help_everywhere)
{
	EXPECT_EQ(0, RUN(0, "--help"));
	EXPECT_NE(NULL, strstr(r.out, "Usage:"));
	EXPECT_EQ(0, RUN(0, "info", "--help"));
	EXPECT_NE(NULL, strstr(r.out, "Usage: "));
	EXPECT_NE(NULL, strstr(r.out, " info "));
	EXPECT_EQ(0, RUN(0, "help"));
	EXPECT_EQ(0, RUN(0, "--version"));
	EXPECT_NE(NULL, strstr(r.out, "partmobctl "));
}

TEST(usage_errors)
{
	const char *const none[] = { NULL };

	EXPECT_EQ(2, RUN(0, "no-such-object"));
	EXPECT_NE(NULL, strstr(r.err, "unknown object"));
	EXPECT_EQ(2, RUN(0, "info", "--bogus"));
	EXPECT_NE(NULL, strstr(r.err, "unknown option"));
	EXPECT_EQ(2, RUN(0, "info", "extra"));
	EXPECT_NE(NULL, strstr(r.err, "unexpected argument"));
	EXPECT_EQ(2, RUN(0, "--bogus"));
	ASSERT_EQ(0, pm_run_ctl(&r, 0, none));
	EXPECT_EQ(2, r.status);
}

TEST(unprivileged_exit_code)
{
	if (!pm_module_loaded())
		SKIP(return, "partmob.ko is not loaded");
	EXPECT_EQ(4, RUN(1, "info"));
	EXPECT_NE(NULL, strstr(r.err, "permission denied"));
	EXPECT_NE(NULL, strstr(r.err, "CAP_NET_ADMIN"));
	EXPECT_EQ(0, r.out[0]);
}

TEST(module_not_loaded)
{
	int was_loaded = pm_module_loaded();

	if (was_loaded)
		ASSERT_EQ(0, pm_module_unload());
	EXPECT_EQ(3, RUN(0, "info"));
	EXPECT_NE(NULL, strstr(r.err, "not loaded"));
	EXPECT_EQ(3, RUN(0, "info", "--json"));
	EXPECT_EQ(0, r.out[0]);
	if (was_loaded)
		ASSERT_EQ(0, pm_module_load());
}

TEST_HARNESS_MAIN
