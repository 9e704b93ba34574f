// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family and PARTMOB_CMD_GET_INFO: the family resolves,
 * the values are right for this kernel, privilege is enforced, malformed
 * requests get an extack error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "lib.h"
#include "kselftest_harness.h"

FIXTURE(nl) {
	struct tnl t;
};

FIXTURE_SETUP(nl)
{
	if (!pm_module_loaded())
		SKIP(return, "partmob.ko is not loaded");
	ASSERT_EQ(0, tnl_open(&self->t));
}

FIXTURE_TEARDOWN(nl)
{
	tnl_close(&self->t);
}

TEST_F(nl, family_resolves)
{
	EXPECT_GT(self->t.family, 0);
}

TEST_F(nl, get_info_values)
{
	struct utsname u;
	char modver[64] = "";
	FILE *f;

	ASSERT_EQ(0, uname(&u));
	ASSERT_EQ(0, tnl_request(&self->t,
				 tnl_msg(&self->t, PARTMOB_CMD_GET_INFO, 0)));
	ASSERT_NE(NULL, self->t.tb[PARTMOB_A_INFO_PAGE_SIZE]);
	ASSERT_NE(NULL, self->t.tb[PARTMOB_A_INFO_WIRE_VERSION]);
	ASSERT_NE(NULL, self->t.tb[PARTMOB_A_INFO_ARCH]);
	ASSERT_NE(NULL, self->t.tb[PARTMOB_A_INFO_FEATURES]);
	ASSERT_NE(NULL, self->t.tb[PARTMOB_A_INFO_MODULE_VERSION]);
	ASSERT_NE(NULL, self->t.tb[PARTMOB_A_INFO_KERNEL_RELEASE]);

	EXPECT_EQ((unsigned long)sysconf(_SC_PAGESIZE),
		  nla_get_u32(self->t.tb[PARTMOB_A_INFO_PAGE_SIZE]));
#if defined(__powerpc64__)
	/* Debian's ppc64el 6.1 uses 64 KiB pages, its 6.12 4 KiB. */
	if (!strncmp(u.release, "6.1.", 4))
		EXPECT_EQ(65536,
			  nla_get_u32(self->t.tb[PARTMOB_A_INFO_PAGE_SIZE]));
#elif defined(__x86_64__)
	EXPECT_EQ(4096, nla_get_u32(self->t.tb[PARTMOB_A_INFO_PAGE_SIZE]));
#endif
	EXPECT_EQ(PARTMOB_WIRE_VERSION,
		  nla_get_u32(self->t.tb[PARTMOB_A_INFO_WIRE_VERSION]));
	EXPECT_STREQ(u.machine,
		     nla_get_string(self->t.tb[PARTMOB_A_INFO_ARCH]));
	EXPECT_STREQ(u.release,
		     nla_get_string(self->t.tb[PARTMOB_A_INFO_KERNEL_RELEASE]));
	EXPECT_TRUE(nla_get_u64(self->t.tb[PARTMOB_A_INFO_FEATURES]) &
		    PARTMOB_F_INFO);
	EXPECT_EQ(0, nla_get_u64(self->t.tb[PARTMOB_A_INFO_FEATURES]) &
		     ~(uint64_t)__PARTMOB_F_ALL);

	f = fopen("/sys/module/partmob/version", "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(modver, sizeof(modver), f));
	fclose(f);
	modver[strcspn(modver, "\n")] = '\0';
	EXPECT_STREQ(modver,
		     nla_get_string(self->t.tb[PARTMOB_A_INFO_MODULE_VERSION]));
}

TEST_F(nl, unprivileged_eperm)
{
	pid_t pid;
	int status;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct tnl u;

		if (pm_drop_privileges())
			_exit(10);
		/* Resolving the family is allowed; the command is not. */
		if (tnl_open(&u))
			_exit(11);
		if (tnl_request(&u, tnl_msg(&u, PARTMOB_CMD_GET_INFO, 0)) !=
		    -EPERM)
			_exit(12);
		if (u.tb[PARTMOB_A_INFO_PAGE_SIZE])
			_exit(13);
		tnl_close(&u);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F(nl, unknown_attribute_rejected)
{
	struct nl_msg *m = tnl_msg(&self->t, PARTMOB_CMD_GET_INFO, 0);

	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, nla_put_u32(m, PARTMOB_A_MAX + 1, 1));
	EXPECT_EQ(-EINVAL, tnl_request(&self->t, m));
	EXPECT_NE(0, self->t.extack[0]);
	EXPECT_NE(NULL, strstr(self->t.extack, "Unknown attribute"));
	EXPECT_EQ(NULL, self->t.tb[PARTMOB_A_INFO_PAGE_SIZE]);
}

TEST_F(nl, unsupported_attribute_rejected)
{
	struct nl_msg *m = tnl_msg(&self->t, PARTMOB_CMD_GET_INFO, 0);

	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_INFO_ARCH, "x"));
	EXPECT_EQ(-EINVAL, tnl_request(&self->t, m));
	EXPECT_NE(0, self->t.extack[0]);
	TH_LOG("extack: %s", self->t.extack);
	EXPECT_EQ(NULL, self->t.tb[PARTMOB_A_INFO_PAGE_SIZE]);
}

TEST_F(nl, truncated_attribute_rejected)
{
	struct nl_msg *m = tnl_msg(&self->t, PARTMOB_CMD_GET_INFO, 0);
	/* An attribute header claiming 64 bytes followed by 4. */
	unsigned char bad[8] = { 64, 0, PARTMOB_A_INFO_PAGE_SIZE, 0, 1, 2, 3, 4 };

	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, nlmsg_append(m, bad, sizeof(bad), NLMSG_ALIGNTO));
	EXPECT_EQ(-EINVAL, tnl_request(&self->t, m));
	EXPECT_NE(0, self->t.extack[0]);
	TH_LOG("extack: %s", self->t.extack);
}

TEST_F(nl, unknown_command_rejected)
{
	EXPECT_EQ(-EOPNOTSUPP,
		  tnl_request(&self->t, tnl_msg(&self->t, 200, 0)));
}

TEST_F(nl, get_info_is_not_a_dump)
{
	EXPECT_EQ(-EOPNOTSUPP,
		  tnl_request(&self->t, tnl_msg(&self->t, PARTMOB_CMD_GET_INFO,
						NLM_F_DUMP)));
}

TEST_HARNESS_MAIN
