// SPDX-License-Identifier: GPL-2.0
/*
 * Module load and unload: the family comes and goes with the module, a
 * second load is refused, and repeated cycles leave nothing behind.
 */
#include <errno.h>
#include <unistd.h>

#include "lib.h"
#include "kselftest_harness.h"

static int family_present(void)
{
	struct tnl t;
	int ret = tnl_open(&t);

	tnl_close(&t);
	return ret == 0;
}

TEST(unload_and_reload)
{
	if (!pm_module_loaded())
		ASSERT_EQ(0, pm_module_load());
	ASSERT_TRUE(family_present());

	ASSERT_EQ(0, pm_module_unload());
	EXPECT_FALSE(pm_module_loaded());
	EXPECT_FALSE(family_present());

	ASSERT_EQ(0, pm_module_load());
	EXPECT_TRUE(pm_module_loaded());
	EXPECT_TRUE(family_present());
}

TEST(double_load_refused)
{
	if (!pm_module_loaded())
		ASSERT_EQ(0, pm_module_load());
	EXPECT_EQ(-EEXIST, pm_module_load());
	EXPECT_TRUE(family_present());
}

TEST(unload_after_use)
{
	struct tnl t;
	int i;

	for (i = 0; i < 5; i++) {
		if (!pm_module_loaded())
			ASSERT_EQ(0, pm_module_load());
		ASSERT_EQ(0, tnl_open(&t));
		EXPECT_EQ(0, tnl_request(&t, tnl_msg(&t, PARTMOB_CMD_GET_INFO,
						      0)));
		tnl_close(&t);
		ASSERT_EQ(0, pm_module_unload());
	}
	ASSERT_EQ(0, pm_module_load());
	EXPECT_TRUE(family_present());
}

TEST_HARNESS_MAIN
