// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile netlink input: every command of the partmob family with
 * attributes of the wrong type or length, out of range, unknown, not taken
 * by the command, or missing; a bad generic netlink header; callers without
 * CAP_NET_ADMIN, with CAP_NET_ADMIN but not CAP_SYS_ADMIN, and root of a
 * user namespace (EPERM); and the family used from a network namespace
 * other than the initial one (it works there, regions being global).
 *
 * Each refusal is checked for its exact errno, for extack text, and for
 * the attribute the kernel blames: the offset of the bad attribute
 * (NLMSGERR_ATTR_OFFS, set by the policy checks and NL_SET_ERR_MSG_ATTR)
 * or the type of the missing one (NLMSGERR_ATTR_MISS_TYPE, from
 * GENL_REQ_ATTR_CHECK). The rules are those of lib/nlattr.c under strict
 * validation: a wrong length -EINVAL, a NUL-terminated string without its
 * NUL within the limit (too long, or no NUL at all) -EINVAL, an integer
 * out of its range -ERANGE, a bit outside a mask -EINVAL, an attribute the
 * command does not take or an unknown type -EINVAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/genetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netlink/genl/genl.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "mig_lib.h"

#define PFX "nh-"
#define REGION PFX "r"		/* exists during every test */
#define NOPE PFX "nope"		/* never exists */
#define NONE (-1)		/* no attribute blamed */
#define ANY (-2)		/* the kernel may or may not blame one */
#define CORE (-3)		/* the genetlink core refuses: no text */

enum kind { END, U8, U32, U64, STR, BYTES, NEST, NEST_END };

/* One attribute of a request. */
struct attr {
	enum kind kind;
	uint16_t type;
	uint64_t v;		/* U8, U32, U64; BYTES: length */
	const char *s;		/* STR (sent with its NUL), BYTES */
};

#define A_END		{ END, 0, 0, NULL }
#define A_U8(t, x)	{ U8, t, x, NULL }
#define A_U32(t, x)	{ U32, t, x, NULL }
#define A_U64(t, x)	{ U64, t, x, NULL }
#define A_STR(t, x)	{ STR, t, 0, x }
#define A_BYTES(t, n, x) { BYTES, t, n, x }
#define A_NAME		A_STR(PARTMOB_A_REGION_NAME, REGION)
#define A_NEST(t)	{ NEST, t, 0, NULL }	/* up to the next A_NEST_END */
#define A_NEST_END	{ NEST_END, 0, 0, NULL }

/* A request and the refusal it must get. */
struct bad {
	const char *what;
	uint8_t cmd;
	int dump;
	struct attr a[8];
	int err;		/* negative errno */
	int bad_type;		/* attribute at NLMSGERR_ATTR_OFFS, NONE, ANY */
	int miss_type;		/* NLMSGERR_ATTR_MISS_TYPE, NONE, ANY, CORE */
};

static char long_name[PARTMOB_REGION_NAME_MAX + 2];	/* one too many */
static char long_peer[PARTMOB_MIG_PEER_MAX + 2];
static char long_boot[PARTMOB_BOOT_ID_MAX + 2];
static long psz;

static struct nl_msg *build(struct tnl *t, uint8_t cmd, int dump,
			    const struct attr *a)
{
	struct nl_msg *m = tnl_msg(t, cmd, dump ? NLM_F_DUMP : 0);
	struct nlattr *nest = NULL;

	for (; m && a->kind != END; a++) {
		int ret = 0;

		switch (a->kind) {
		case U8:
			ret = nla_put_u8(m, a->type, (uint8_t)a->v);
			break;
		case U32:
			ret = nla_put_u32(m, a->type, (uint32_t)a->v);
			break;
		case U64:
			ret = nla_put_u64(m, a->type, a->v);
			break;
		case STR:
			ret = nla_put_string(m, a->type, a->s);
			break;
		case BYTES:
			ret = nla_put(m, a->type, (int)a->v, a->s);
			break;
		case NEST:
			nest = nla_nest_start(m, a->type);
			ret = nest ? 0 : -1;
			break;
		case NEST_END:
			ret = nest ? nla_nest_end(m, nest) : -1;
			break;
		case END:
			break;
		}
		if (ret) {
			nlmsg_free(m);
			return NULL;
		}
	}
	return m;
}

/* The type of the attribute at byte @off of the request @req (-1: none). */
static int attr_at(const unsigned char *req, size_t len, unsigned int off)
{
	const struct nlattr *nla;

	if (!off || off + sizeof(*nla) > len)
		return NONE;
	nla = (const struct nlattr *)(req + off);
	return nla->nla_type & NLA_TYPE_MASK;
}

/*
 * Send @b's request on @t; check errno, extack text and the attribute
 * blamed. Returns the number of mismatches (each logged).
 */
static int refused(struct __test_metadata *_metadata, struct tnl *t,
		   const struct bad *b)
{
	static unsigned char req[16384];
	struct nl_msg *m = build(t, b->cmd, b->dump, b->a);
	size_t len;
	int ret, bad, fails = 0;

	if (!m) {
		TH_LOG("%s: cannot build the request", b->what);
		return 1;
	}
	len = nlmsg_hdr(m)->nlmsg_len;
	memcpy(req, nlmsg_hdr(m), len < sizeof(req) ? len : sizeof(req));
	ret = b->dump ? tnl_dump(t, m, NULL, NULL) : tnl_request(t, m);
	bad = attr_at(req, len, t->bad_off);
	if (ret != b->err) {
		TH_LOG("%s: errno %d, expected %d (%s)", b->what, ret, b->err,
		       t->extack);
		fails++;
	}
	if (b->miss_type != CORE && !t->extack[0]) {
		TH_LOG("%s: no extack text", b->what);
		fails++;
	}
	if (b->bad_type != ANY && bad != b->bad_type) {
		TH_LOG("%s: blames attribute %d, expected %d (%s)", b->what,
		       bad, b->bad_type, t->extack);
		fails++;
	}
	if (b->miss_type >= NONE && t->miss_type != b->miss_type) {
		TH_LOG("%s: missing attribute %d, expected %d (%s)", b->what,
		       t->miss_type, b->miss_type, t->extack);
		fails++;
	}
	return fails;
}

static int run_cases(struct __test_metadata *_metadata, struct tnl *t,
		     const struct bad *cases, size_t n)
{
	int fails = 0;
	size_t i;

	for (i = 0; i < n; i++)
		fails += refused(_metadata, t, &cases[i]);
	TH_LOG("%zu requests, %d mismatches", n, fails);
	return fails;
}

#define RUN(cases) \
	EXPECT_EQ(0, run_cases(_metadata, &self->t, cases, \
			       sizeof(cases) / sizeof(cases[0]))) \
		TH_LOG("%zu cases", sizeof(cases) / sizeof(cases[0]))

FIXTURE(nlh) {
	struct tnl t;
	int before;
};

FIXTURE_SETUP(nlh)
{
	psz = sysconf(_SC_PAGESIZE);
	memset(long_name, 'n', sizeof(long_name) - 1);
	memset(long_peer, 'p', sizeof(long_peer) - 1);
	memset(long_boot, 'b', sizeof(long_boot) - 1);
	pm_regions_cleanup(PFX);
	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, pm_region_create(&self->t, REGION, 16 * psz, -1, -1, -1,
				      -1)) TH_LOG("%s", self->t.extack);
	self->before = pm_region_count();
}

FIXTURE_TEARDOWN(nlh)
{
	pm_regions_cleanup(PFX);
	tnl_close(&self->t);
}

/* Nothing a refused request could have left behind. */
static void nothing_left(struct __test_metadata *_metadata, int before)
{
	EXPECT_EQ(before, pm_region_count());
	EXPECT_EQ(1, pm_region_exists(REGION));
	EXPECT_EQ(0, pm_region_exists(NOPE));
}

TEST_F(nlh, get_info)
{
	const struct bad cases[] = {
		{ "unknown type", PARTMOB_CMD_GET_INFO, 0,
		  { A_U32(PARTMOB_A_MAX + 1, 1) }, -EINVAL, PARTMOB_A_MAX + 1,
		  NONE },
		{ "attribute type 0", PARTMOB_CMD_GET_INFO, 0,
		  { A_U32(0, 1) }, -EINVAL, 0, NONE },
		{ "an attribute it does not take", PARTMOB_CMD_GET_INFO, 0,
		  { A_NAME }, -EINVAL, PARTMOB_A_REGION_NAME, NONE },
		{ "a reply attribute", PARTMOB_CMD_GET_INFO, 0,
		  { A_U32(PARTMOB_A_INFO_PAGE_SIZE, 4096) }, -EINVAL,
		  PARTMOB_A_INFO_PAGE_SIZE, NONE },
	};

	RUN(cases);
}

TEST_F(nlh, region_new)
{
	const struct bad cases[] = {
		{ "no name", PARTMOB_CMD_REGION_NEW, 0,
		  { A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EINVAL, NONE,
		  PARTMOB_A_REGION_NAME },
		{ "no size", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE) }, -EINVAL, NONE,
		  PARTMOB_A_REGION_SIZE },
		{ "name without NUL", PARTMOB_CMD_REGION_NEW, 0,
		  { A_BYTES(PARTMOB_A_REGION_NAME, 4, "nh-x"),
		    A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EINVAL,
		  PARTMOB_A_REGION_NAME, NONE },
		{ "name as u32", PARTMOB_CMD_REGION_NEW, 0,
		  { A_U32(PARTMOB_A_REGION_NAME, 0x41414141),
		    A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EINVAL,
		  PARTMOB_A_REGION_NAME, NONE },
		{ "name too long", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, long_name),
		    A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EINVAL,
		  PARTMOB_A_REGION_NAME, NONE },
		{ "empty name", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, ""),
		    A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EINVAL,
		  PARTMOB_A_REGION_NAME, NONE },
		{ "name with a slash", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, "nh-a/b"),
		    A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EINVAL,
		  PARTMOB_A_REGION_NAME, NONE },
		{ "size as u32", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U32(PARTMOB_A_REGION_SIZE, psz) }, -EINVAL,
		  PARTMOB_A_REGION_SIZE, NONE },
		{ "size 0", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, 0) }, -EINVAL,
		  PARTMOB_A_REGION_SIZE, NONE },
		{ "size not a page multiple", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz + 1) }, -EINVAL,
		  PARTMOB_A_REGION_SIZE, NONE },
		{ "size above the limit", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE,
			  PARTMOB_REGION_SIZE_MAX + psz) }, -EINVAL,
		  PARTMOB_A_REGION_SIZE, NONE },
		{ "size 2^64 - page", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, -(uint64_t)psz) }, -EINVAL,
		  PARTMOB_A_REGION_SIZE, NONE },
		{ "unknown flag", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U32(PARTMOB_A_REGION_FLAGS, 1U << 30) }, -EOPNOTSUPP,
		  PARTMOB_A_REGION_FLAGS, NONE },
		{ "flags as u64", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U64(PARTMOB_A_REGION_FLAGS, 0) }, -EINVAL,
		  PARTMOB_A_REGION_FLAGS, NONE },
		{ "mode 0", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U32(PARTMOB_A_REGION_MODE, 0) }, -ERANGE,
		  PARTMOB_A_REGION_MODE, NONE },
		{ "mode 01000", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U32(PARTMOB_A_REGION_MODE, 01000) }, -ERANGE,
		  PARTMOB_A_REGION_MODE, NONE },
		{ "uid as u8", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U8(PARTMOB_A_REGION_UID, 0) }, -EINVAL,
		  PARTMOB_A_REGION_UID, NONE },
		{ "uid -1", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U32(PARTMOB_A_REGION_UID, UINT32_MAX) }, -EINVAL,
		  PARTMOB_A_REGION_UID, NONE },
		{ "gid -1", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U32(PARTMOB_A_REGION_GID, UINT32_MAX) }, -EINVAL,
		  PARTMOB_A_REGION_GID, NONE },
		{ "a reply attribute", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U8(PARTMOB_A_REGION_FROZEN, 1) }, -EINVAL,
		  PARTMOB_A_REGION_FROZEN, NONE },
		{ "an attribute of MIG_START", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_DEST) }, -EINVAL,
		  PARTMOB_A_MIG_ROLE, NONE },
		{ "unknown type", PARTMOB_CMD_REGION_NEW, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U32(PARTMOB_A_MAX + 7, 0) }, -EINVAL, PARTMOB_A_MAX + 7,
		  NONE },
		{ "name in use", PARTMOB_CMD_REGION_NEW, 0,
		  { A_NAME, A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EEXIST, ANY,
		  NONE },
		{ "as a dump", PARTMOB_CMD_REGION_NEW, 1,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EOPNOTSUPP, NONE,
		  CORE },
	};

	RUN(cases);
	nothing_left(_metadata, self->before);
}

/* The commands that take only a region name. */
TEST_F(nlh, region_name_commands)
{
	static const uint8_t cmds[] = {
		PARTMOB_CMD_REGION_DEL, PARTMOB_CMD_REGION_GET,
		PARTMOB_CMD_REGION_FREEZE, PARTMOB_CMD_REGION_THAW,
	};
	size_t i;

	for (i = 0; i < sizeof(cmds); i++) {
		const struct bad cases[] = {
			{ "no name", cmds[i], 0, { A_END }, -EINVAL, NONE,
			  PARTMOB_A_REGION_NAME },
			{ "no such region", cmds[i], 0,
			  { A_STR(PARTMOB_A_REGION_NAME, NOPE) }, -ENOENT,
			  ANY, NONE },
			{ "name as u64", cmds[i], 0,
			  { A_U64(PARTMOB_A_REGION_NAME, 0x4141414141414141) },
			  -EINVAL, PARTMOB_A_REGION_NAME, NONE },
			{ "name too long", cmds[i], 0,
			  { A_STR(PARTMOB_A_REGION_NAME, long_name) },
			  -EINVAL, PARTMOB_A_REGION_NAME, NONE },
			{ "size it does not take", cmds[i], 0,
			  { A_NAME, A_U64(PARTMOB_A_REGION_SIZE, psz) },
			  -EINVAL, PARTMOB_A_REGION_SIZE, NONE },
			{ "dirty flags it does not take", cmds[i], 0,
			  { A_NAME, A_U32(PARTMOB_A_DIRTY_FLAGS, 0) },
			  -EINVAL, PARTMOB_A_DIRTY_FLAGS, NONE },
			{ "unknown type", cmds[i], 0,
			  { A_NAME, A_U32(PARTMOB_A_MAX + 1, 0) }, -EINVAL,
			  PARTMOB_A_MAX + 1, NONE },
		};

		TH_LOG("command %u", cmds[i]);
		RUN(cases);
	}
	/* The dump of REGION_GET is validated with the same policy. */
	{
		const struct bad cases[] = {
			{ "dump with size", PARTMOB_CMD_REGION_GET, 1,
			  { A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EINVAL,
			  PARTMOB_A_REGION_SIZE, NONE },
			{ "thaw of a thawed region", PARTMOB_CMD_REGION_THAW,
			  0, { A_NAME }, -EALREADY, NONE, NONE },
		};

		RUN(cases);
	}
	nothing_left(_metadata, self->before);
}

TEST_F(nlh, region_dirty)
{
	const struct bad cases[] = {
		{ "as a do", PARTMOB_CMD_REGION_DIRTY, 0, { A_NAME },
		  -EOPNOTSUPP, NONE, CORE },
		{ "flags as u64", PARTMOB_CMD_REGION_DIRTY, 1,
		  { A_NAME, A_U64(PARTMOB_A_DIRTY_FLAGS, 0) }, -EINVAL,
		  PARTMOB_A_DIRTY_FLAGS, NONE },
		{ "name too long", PARTMOB_CMD_REGION_DIRTY, 1,
		  { A_STR(PARTMOB_A_REGION_NAME, long_name) }, -EINVAL,
		  PARTMOB_A_REGION_NAME, NONE },
		{ "size it does not take", PARTMOB_CMD_REGION_DIRTY, 1,
		  { A_NAME, A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EINVAL,
		  PARTMOB_A_REGION_SIZE, NONE },
		/* Checked inside the dump: the error comes in NLMSG_DONE. */
		{ "no name", PARTMOB_CMD_REGION_DIRTY, 1, { A_END },
		  -EINVAL, NONE, NONE },
		{ "unknown flag", PARTMOB_CMD_REGION_DIRTY, 1,
		  { A_NAME, A_U32(PARTMOB_A_DIRTY_FLAGS, 1U << 20) },
		  -EOPNOTSUPP, ANY, NONE },
		{ "no such region", PARTMOB_CMD_REGION_DIRTY, 1,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE) }, -ENOENT, ANY,
		  NONE },
	};

	RUN(cases);
	nothing_left(_metadata, self->before);
}

/* MIG_START up to its socket checks: no socket is needed for these. */
TEST_F(nlh, mig_start_attributes)
{
	const struct bad cases[] = {
		{ "no role", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_FD, 0) }, -EINVAL, NONE,
		  PARTMOB_A_MIG_ROLE },
		{ "no fd", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE) },
		  -EINVAL, NONE, PARTMOB_A_MIG_FD },
		{ "role 0", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, 0),
		    A_U32(PARTMOB_A_MIG_FD, 0) }, -ERANGE, PARTMOB_A_MIG_ROLE,
		  NONE },
		{ "role 3", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, 3),
		    A_U32(PARTMOB_A_MIG_FD, 0) }, -ERANGE, PARTMOB_A_MIG_ROLE,
		  NONE },
		{ "role as u8", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U8(PARTMOB_A_MIG_ROLE, 1),
		    A_U32(PARTMOB_A_MIG_FD, 0) }, -EINVAL, PARTMOB_A_MIG_ROLE,
		  NONE },
		{ "fd above INT_MAX", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0x80000000U) }, -ERANGE,
		  PARTMOB_A_MIG_FD, NONE },
		{ "fd as u64", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U64(PARTMOB_A_MIG_FD, 0) }, -EINVAL, PARTMOB_A_MIG_FD,
		  NONE },
		{ "timeout 99 ms", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_U32(PARTMOB_A_MIG_TIMEOUT_MS, 99) }, -ERANGE,
		  PARTMOB_A_MIG_TIMEOUT_MS, NONE },
		{ "timeout above an hour", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_U32(PARTMOB_A_MIG_TIMEOUT_MS, 3600001) }, -ERANGE,
		  PARTMOB_A_MIG_TIMEOUT_MS, NONE },
		{ "unknown migration flag", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_U32(PARTMOB_A_MIG_FLAGS, 1U << 31) }, -EINVAL,
		  PARTMOB_A_MIG_FLAGS, NONE },
		{ "id as u32", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0), A_U32(PARTMOB_A_MIG_ID, 1) },
		  -EINVAL, PARTMOB_A_MIG_ID, NONE },
		{ "bandwidth as u32", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_U32(PARTMOB_A_MIG_MAX_BANDWIDTH, 1) }, -EINVAL,
		  PARTMOB_A_MIG_MAX_BANDWIDTH, NONE },
		{ "peer too long", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_STR(PARTMOB_A_MIG_PEER, long_peer) }, -EINVAL,
		  PARTMOB_A_MIG_PEER, NONE },
		{ "peer without NUL", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_BYTES(PARTMOB_A_MIG_PEER, 3, "1.2") }, -EINVAL,
		  PARTMOB_A_MIG_PEER, NONE },
		{ "boot id too long", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_STR(PARTMOB_A_MIG_PEER_BOOT_ID, long_boot) }, -EINVAL,
		  PARTMOB_A_MIG_PEER_BOOT_ID, NONE },
		{ "a control fd it does not take", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_U32(PARTMOB_A_MIG_CTL_FD, 0) }, -EINVAL,
		  PARTMOB_A_MIG_CTL_FD, NONE },
		{ "an action it does not take", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_U32(PARTMOB_A_MIG_ACTION, PARTMOB_MIG_A_ABORT) },
		  -EINVAL, PARTMOB_A_MIG_ACTION, NONE },
		{ "source without a name", PARTMOB_CMD_MIG_START, 0,
		  { A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0) }, -EINVAL, NONE,
		  PARTMOB_A_REGION_NAME },
		{ "source with a size", PARTMOB_CMD_MIG_START, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EINVAL,
		  PARTMOB_A_REGION_SIZE, NONE },
		{ "destination without a size", PARTMOB_CMD_MIG_START, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_DEST),
		    A_U32(PARTMOB_A_MIG_FD, 0) }, -EINVAL, NONE,
		  PARTMOB_A_REGION_SIZE },
		{ "destination with a bad size", PARTMOB_CMD_MIG_START, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_DEST),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_U64(PARTMOB_A_REGION_SIZE, 3) }, -EINVAL,
		  PARTMOB_A_REGION_SIZE, NONE },
		{ "destination with a bandwidth", PARTMOB_CMD_MIG_START, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_DEST),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U64(PARTMOB_A_MIG_MAX_BANDWIDTH, 1) }, -EINVAL,
		  PARTMOB_A_MIG_MAX_BANDWIDTH, NONE },
		{ "destination with flags", PARTMOB_CMD_MIG_START, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
		    A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_DEST),
		    A_U32(PARTMOB_A_MIG_FD, 0),
		    A_U64(PARTMOB_A_REGION_SIZE, psz),
		    A_U32(PARTMOB_A_MIG_FLAGS, PARTMOB_MIG_F_VERIFY) }, -EINVAL,
		  PARTMOB_A_MIG_FLAGS, NONE },
	};

	RUN(cases);
	nothing_left(_metadata, self->before);
}

/* MIG_START with descriptors that are not an established TCP socket. */
TEST_F(nlh, mig_start_sockets)
{
	int null = open("/dev/null", O_RDWR);
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	int tcp = socket(AF_INET, SOCK_STREAM, 0);
	int unx = socket(AF_UNIX, SOCK_STREAM, 0);
	int pair[2] = { -1, -1 };

	ASSERT_LE(0, null);
	ASSERT_LE(0, udp);
	ASSERT_LE(0, tcp);
	ASSERT_LE(0, unx);
	ASSERT_EQ(0, pm_tcp_pair(-1, -1, pair)) TH_LOG("no TCP pair");
	{
		const struct bad cases[] = {
			{ "fd of a file", PARTMOB_CMD_MIG_START, 0,
			  { A_NAME,
			    A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
			    A_U32(PARTMOB_A_MIG_FD, null) }, -ENOTSOCK, ANY,
			  NONE },
			{ "fd not open", PARTMOB_CMD_MIG_START, 0,
			  { A_NAME,
			    A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
			    A_U32(PARTMOB_A_MIG_FD, 1000000) }, -EBADF, ANY,
			  NONE },
			{ "UDP socket", PARTMOB_CMD_MIG_START, 0,
			  { A_NAME,
			    A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
			    A_U32(PARTMOB_A_MIG_FD, udp) }, -EPROTONOSUPPORT,
			  ANY, NONE },
			{ "unix socket", PARTMOB_CMD_MIG_START, 0,
			  { A_NAME,
			    A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
			    A_U32(PARTMOB_A_MIG_FD, unx) }, -EPROTONOSUPPORT,
			  ANY, NONE },
			{ "TCP socket not connected", PARTMOB_CMD_MIG_START,
			  0, { A_NAME,
			       A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
			       A_U32(PARTMOB_A_MIG_FD, tcp) }, -ENOTCONN, ANY,
			  NONE },
			{ "source region unknown", PARTMOB_CMD_MIG_START, 0,
			  { A_STR(PARTMOB_A_REGION_NAME, NOPE),
			    A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
			    A_U32(PARTMOB_A_MIG_FD, pair[0]) }, -ENOENT, ANY,
			  NONE },
			{ "destination name in use", PARTMOB_CMD_MIG_START, 0,
			  { A_NAME,
			    A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_DEST),
			    A_U32(PARTMOB_A_MIG_FD, pair[1]),
			    A_U64(PARTMOB_A_REGION_SIZE, psz) }, -EEXIST, ANY,
			  NONE },
		};

		RUN(cases);
	}
	close(pair[0]);
	close(pair[1]);
	close(unx);
	close(tcp);
	close(udp);
	close(null);
	nothing_left(_metadata, self->before);
}

TEST_F(nlh, mig_get_and_control)
{
	int null = open("/dev/null", O_RDONLY);

	ASSERT_LE(0, null) TH_LOG("no /dev/null");
	{
		const struct bad cases[] = {
			{ "get: neither name nor fd", PARTMOB_CMD_MIG_GET, 0,
			  { A_END }, -EINVAL, NONE, PARTMOB_A_REGION_NAME },
			{ "get: no such region", PARTMOB_CMD_MIG_GET, 0,
			  { A_STR(PARTMOB_A_REGION_NAME, NOPE) }, -ENOENT,
			  PARTMOB_A_REGION_NAME, NONE },
			{ "get: a region that never migrated",
			  PARTMOB_CMD_MIG_GET, 0, { A_NAME }, -ENOENT, NONE,
			  NONE },
			{ "get: fd of a file", PARTMOB_CMD_MIG_GET, 0,
			  { A_U32(PARTMOB_A_MIG_CTL_FD, null) }, -EINVAL,
			  PARTMOB_A_MIG_CTL_FD, NONE },
			{ "get: fd not open", PARTMOB_CMD_MIG_GET, 0,
			  { A_U32(PARTMOB_A_MIG_CTL_FD, 1000000) }, -EBADF,
			  PARTMOB_A_MIG_CTL_FD, NONE },
			{ "get: fd above INT_MAX", PARTMOB_CMD_MIG_GET, 0,
			  { A_U32(PARTMOB_A_MIG_CTL_FD, 0xffffffffU) },
			  -ERANGE, PARTMOB_A_MIG_CTL_FD, NONE },
			{ "get: fd as u64", PARTMOB_CMD_MIG_GET, 0,
			  { A_U64(PARTMOB_A_MIG_CTL_FD, 0) }, -EINVAL,
			  PARTMOB_A_MIG_CTL_FD, NONE },
			{ "get: a role it does not take", PARTMOB_CMD_MIG_GET,
			  0, { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, 1) }, -EINVAL,
			  PARTMOB_A_MIG_ROLE, NONE },
			{ "get dump: a name it does not take",
			  PARTMOB_CMD_MIG_GET, 1,
			  { A_U32(PARTMOB_A_MIG_STATE, 1) }, -EINVAL,
			  PARTMOB_A_MIG_STATE, NONE },
			{ "control: no action", PARTMOB_CMD_MIG_CONTROL, 0,
			  { A_NAME }, -EINVAL, NONE, PARTMOB_A_MIG_ACTION },
			{ "control: no name", PARTMOB_CMD_MIG_CONTROL, 0,
			  { A_U32(PARTMOB_A_MIG_ACTION, PARTMOB_MIG_A_ABORT) },
			  -EINVAL, NONE, PARTMOB_A_REGION_NAME },
			{ "control: action 0", PARTMOB_CMD_MIG_CONTROL, 0,
			  { A_NAME, A_U32(PARTMOB_A_MIG_ACTION, 0) }, -ERANGE,
			  PARTMOB_A_MIG_ACTION, NONE },
			{ "control: action past the last",
			  PARTMOB_CMD_MIG_CONTROL, 0,
			  { A_NAME, A_U32(PARTMOB_A_MIG_ACTION,
					  PARTMOB_MIG_A_DISCARD + 1) },
			  -ERANGE, PARTMOB_A_MIG_ACTION, NONE },
			{ "control: action as u64", PARTMOB_CMD_MIG_CONTROL, 0,
			  { A_NAME, A_U64(PARTMOB_A_MIG_ACTION, 1) }, -EINVAL,
			  PARTMOB_A_MIG_ACTION, NONE },
			{ "control: no such region", PARTMOB_CMD_MIG_CONTROL,
			  0, { A_STR(PARTMOB_A_REGION_NAME, NOPE),
			       A_U32(PARTMOB_A_MIG_ACTION,
				     PARTMOB_MIG_A_ABORT) }, -ENOENT,
			  PARTMOB_A_REGION_NAME, NONE },
			{ "control: no migration", PARTMOB_CMD_MIG_CONTROL, 0,
			  { A_NAME, A_U32(PARTMOB_A_MIG_ACTION,
					  PARTMOB_MIG_A_ABORT) }, -ENOENT, ANY,
			  NONE },
			{ "control: as a dump", PARTMOB_CMD_MIG_CONTROL, 1,
			  { A_NAME, A_U32(PARTMOB_A_MIG_ACTION,
					  PARTMOB_MIG_A_ABORT) }, -EOPNOTSUPP,
			  NONE, CORE },
		};

		RUN(cases);
	}
	close(null);
	nothing_left(_metadata, self->before);
}

/* MIG_ATTACH: its four attributes, each missing, mistyped, out of range. */
TEST_F(nlh, mig_attach)
{
#define ATT_ID A_U64(PARTMOB_A_MIG_ID, 1)
#define ATT_IX A_U32(PARTMOB_A_MIG_STREAM, 1)
#define ATT_FD A_U32(PARTMOB_A_MIG_FD, 0)
	const struct bad cases[] = {
		{ "no name", PARTMOB_CMD_MIG_ATTACH, 0,
		  { ATT_ID, ATT_IX, ATT_FD }, -EINVAL, NONE,
		  PARTMOB_A_REGION_NAME },
		{ "no id", PARTMOB_CMD_MIG_ATTACH, 0,
		  { A_NAME, ATT_IX, ATT_FD }, -EINVAL, NONE,
		  PARTMOB_A_MIG_ID },
		{ "no index", PARTMOB_CMD_MIG_ATTACH, 0,
		  { A_NAME, ATT_ID, ATT_FD }, -EINVAL, NONE,
		  PARTMOB_A_MIG_STREAM },
		{ "no fd", PARTMOB_CMD_MIG_ATTACH, 0,
		  { A_NAME, ATT_ID, ATT_IX }, -EINVAL, NONE,
		  PARTMOB_A_MIG_FD },
		{ "index 0", PARTMOB_CMD_MIG_ATTACH, 0,
		  { A_NAME, ATT_ID, A_U32(PARTMOB_A_MIG_STREAM, 0), ATT_FD },
		  -ERANGE, PARTMOB_A_MIG_STREAM, NONE },
		{ "index past the last", PARTMOB_CMD_MIG_ATTACH, 0,
		  { A_NAME, ATT_ID,
		    A_U32(PARTMOB_A_MIG_STREAM, PARTMOB_MIG_STREAMS_MAX),
		    ATT_FD }, -ERANGE, PARTMOB_A_MIG_STREAM, NONE },
		{ "index as u64", PARTMOB_CMD_MIG_ATTACH, 0,
		  { A_NAME, ATT_ID, A_U64(PARTMOB_A_MIG_STREAM, 1), ATT_FD },
		  -EINVAL, PARTMOB_A_MIG_STREAM, NONE },
		{ "id as u32", PARTMOB_CMD_MIG_ATTACH, 0,
		  { A_NAME, A_U32(PARTMOB_A_MIG_ID, 1), ATT_IX, ATT_FD },
		  -EINVAL, PARTMOB_A_MIG_ID, NONE },
		{ "fd above INT_MAX", PARTMOB_CMD_MIG_ATTACH, 0,
		  { A_NAME, ATT_ID, ATT_IX,
		    A_U32(PARTMOB_A_MIG_FD, 0xffffffffU) }, -ERANGE,
		  PARTMOB_A_MIG_FD, NONE },
		{ "no such region", PARTMOB_CMD_MIG_ATTACH, 0,
		  { A_STR(PARTMOB_A_REGION_NAME, NOPE), ATT_ID, ATT_IX,
		    ATT_FD }, -ENOENT, PARTMOB_A_REGION_NAME, NONE },
		{ "a region without a migration", PARTMOB_CMD_MIG_ATTACH, 0,
		  { A_NAME, ATT_ID, ATT_IX, ATT_FD }, -ENOENT, ANY, NONE },
		{ "as a dump", PARTMOB_CMD_MIG_ATTACH, 1,
		  { A_NAME, ATT_ID, ATT_IX, ATT_FD }, -EOPNOTSUPP, NONE,
		  CORE },
	};
#undef ATT_ID
#undef ATT_IX
#undef ATT_FD

	RUN(cases);
	nothing_left(_metadata, self->before);
}

/* MIG_COMMIT: the group of regions, nested. */
TEST_F(nlh, mig_commit)
{
	const struct bad cases[] = {
		{ "no group", PARTMOB_CMD_MIG_COMMIT, 0, { A_END }, -EINVAL,
		  NONE, PARTMOB_A_MIG_GROUP },
		{ "group not nested", PARTMOB_CMD_MIG_COMMIT, 0,
		  { A_U32(PARTMOB_A_MIG_GROUP, 0) }, -EINVAL,
		  PARTMOB_A_MIG_GROUP, NONE },
		/* libnl drops an empty nest: put it by hand. */
		{ "empty group", PARTMOB_CMD_MIG_COMMIT, 0,
		  { A_BYTES(PARTMOB_A_MIG_GROUP | NLA_F_NESTED, 0, "") },
		  -EINVAL, PARTMOB_A_MIG_GROUP, NONE },
		{ "a size in the group", PARTMOB_CMD_MIG_COMMIT, 0,
		  { A_NEST(PARTMOB_A_MIG_GROUP),
		    A_U64(PARTMOB_A_REGION_SIZE, psz), A_NEST_END }, -EINVAL,
		  PARTMOB_A_REGION_SIZE, NONE },
		{ "a name too long in the group", PARTMOB_CMD_MIG_COMMIT, 0,
		  { A_NEST(PARTMOB_A_MIG_GROUP),
		    A_STR(PARTMOB_A_REGION_NAME, long_name), A_NEST_END },
		  -EINVAL, PARTMOB_A_REGION_NAME, NONE },
		{ "no such region in the group", PARTMOB_CMD_MIG_COMMIT, 0,
		  { A_NEST(PARTMOB_A_MIG_GROUP),
		    A_STR(PARTMOB_A_REGION_NAME, NOPE), A_NEST_END }, -ENOENT,
		  PARTMOB_A_REGION_NAME, NONE },
		{ "a region named twice", PARTMOB_CMD_MIG_COMMIT, 0,
		  { A_NEST(PARTMOB_A_MIG_GROUP), A_NAME, A_NAME, A_NEST_END },
		  -EINVAL, PARTMOB_A_REGION_NAME, NONE },
		{ "a region without a migration", PARTMOB_CMD_MIG_COMMIT, 0,
		  { A_NEST(PARTMOB_A_MIG_GROUP), A_NAME, A_NEST_END },
		  -ENOENT, PARTMOB_A_REGION_NAME, NONE },
		{ "a name beside the group", PARTMOB_CMD_MIG_COMMIT, 0,
		  { A_NAME, A_NEST(PARTMOB_A_MIG_GROUP), A_NAME, A_NEST_END },
		  -EINVAL, PARTMOB_A_REGION_NAME, NONE },
		{ "as a dump", PARTMOB_CMD_MIG_COMMIT, 1,
		  { A_NEST(PARTMOB_A_MIG_GROUP), A_NAME, A_NEST_END },
		  -EOPNOTSUPP, NONE, CORE },
	};

	RUN(cases);
	nothing_left(_metadata, self->before);
}

/* The generic netlink header itself. */
TEST_F(nlh, header)
{
	struct nl_msg *m;
	uint8_t cmd;

	EXPECT_EQ(-EOPNOTSUPP, tnl_request(&self->t, tnl_msg(&self->t, 200, 0)));
	EXPECT_EQ(-EOPNOTSUPP, tnl_request(&self->t,
					   tnl_msg(&self->t, PARTMOB_CMD_UNSPEC,
						   0)));
	/* Reserved field: checked for every command after GET_INFO. */
	for (cmd = PARTMOB_CMD_REGION_NEW; cmd <= PARTMOB_CMD_MAX; cmd++) {
		m = tnl_msg(&self->t, cmd, 0);
		ASSERT_NE(NULL, m);
		((struct genlmsghdr *)nlmsg_data(nlmsg_hdr(m)))->reserved = 1;
		EXPECT_EQ(-EINVAL, tnl_request(&self->t, m)) TH_LOG("cmd %u", cmd);
		EXPECT_NE(0, self->t.extack[0]) TH_LOG("cmd %u", cmd);
	}
	/* A truncated attribute after a good one, on every command. */
	for (cmd = PARTMOB_CMD_GET_INFO; cmd <= PARTMOB_CMD_MAX; cmd++) {
		unsigned char bad[8] = { 64, 0, PARTMOB_A_REGION_SIZE, 0,
					 1, 2, 3, 4 };
		int dump = cmd == PARTMOB_CMD_REGION_DIRTY;

		m = tnl_msg(&self->t, cmd, dump ? NLM_F_DUMP : 0);
		ASSERT_NE(NULL, m);
		if (cmd != PARTMOB_CMD_GET_INFO)
			ASSERT_EQ(0, nla_put_string(m, PARTMOB_A_REGION_NAME,
						    REGION));
		ASSERT_EQ(0, nlmsg_append(m, bad, sizeof(bad), NLMSG_ALIGNTO));
		EXPECT_EQ(-EINVAL, dump ? tnl_dump(&self->t, m, NULL, NULL) :
			  tnl_request(&self->t, m)) TH_LOG("cmd %u", cmd);
	}
	nothing_left(_metadata, self->before);
}

/* ---- privileges ---------------------------------------------------------- */

/* Every command, each as it would succeed for root: its errno here. */
struct priv_case {
	const char *what;
	uint8_t cmd;
	int dump;
	struct attr a[6];
};

static const struct priv_case every_command[] = {
	{ "GET_INFO", PARTMOB_CMD_GET_INFO, 0, { A_END } },
	{ "REGION_NEW", PARTMOB_CMD_REGION_NEW, 0,
	  { A_STR(PARTMOB_A_REGION_NAME, PFX "new"),
	    A_U64(PARTMOB_A_REGION_SIZE, 65536) } },
	{ "REGION_DEL", PARTMOB_CMD_REGION_DEL, 0, { A_NAME } },
	{ "REGION_GET", PARTMOB_CMD_REGION_GET, 0, { A_NAME } },
	{ "REGION_GET dump", PARTMOB_CMD_REGION_GET, 1, { A_END } },
	{ "REGION_DIRTY", PARTMOB_CMD_REGION_DIRTY, 1, { A_NAME } },
	{ "REGION_FREEZE", PARTMOB_CMD_REGION_FREEZE, 0, { A_NAME } },
	{ "REGION_THAW", PARTMOB_CMD_REGION_THAW, 0, { A_NAME } },
	{ "MIG_START", PARTMOB_CMD_MIG_START, 0,
	  { A_NAME, A_U32(PARTMOB_A_MIG_ROLE, PARTMOB_MIG_SOURCE),
	    A_U32(PARTMOB_A_MIG_FD, 1000000) } },
	{ "MIG_GET", PARTMOB_CMD_MIG_GET, 0, { A_NAME } },
	{ "MIG_GET dump", PARTMOB_CMD_MIG_GET, 1, { A_END } },
	{ "MIG_CONTROL", PARTMOB_CMD_MIG_CONTROL, 0,
	  { A_NAME, A_U32(PARTMOB_A_MIG_ACTION, PARTMOB_MIG_A_ABORT) } },
	{ "MIG_COMMIT", PARTMOB_CMD_MIG_COMMIT, 0,
	  { A_NEST(PARTMOB_A_MIG_GROUP), A_NAME, A_NEST_END } },
	{ "MIG_ATTACH", PARTMOB_CMD_MIG_ATTACH, 0,
	  { A_NAME, A_U64(PARTMOB_A_MIG_ID, 1),
	    A_U32(PARTMOB_A_MIG_STREAM, 1),
	    A_U32(PARTMOB_A_MIG_FD, 1000000) } },
};

#define N_COMMANDS (sizeof(every_command) / sizeof(every_command[0]))

/*
 * Run every command (in a child) and report the errno each got through a
 * pipe: @setup drops privileges first. Returns 0 or -errno of the setup.
 */
static int errnos_as(int (*setup)(void), int errs[N_COMMANDS],
		     char texts[N_COMMANDS][128])
{
	struct { int setup, err[N_COMMANDS]; char text[N_COMMANDS][128]; } r;
	int p[2], status;
	pid_t pid;
	size_t i;

	if (pipe(p))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		struct tnl u;

		memset(&r, 0, sizeof(r));
		close(p[0]);
		r.setup = setup();
		if (!r.setup)
			r.setup = tnl_open(&u);
		for (i = 0; !r.setup && i < N_COMMANDS; i++) {
			const struct priv_case *c = &every_command[i];
			struct nl_msg *m = build(&u, c->cmd, c->dump, c->a);

			r.err[i] = c->dump ? tnl_dump(&u, m, NULL, NULL) :
					     tnl_request(&u, m);
			snprintf(r.text[i], sizeof(r.text[i]), "%.120s",
				 u.extack);
		}
		_exit(write(p[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(p[1]);
	memset(&r, 0, sizeof(r));
	r.setup = -EPIPE;
	if (read(p[0], &r, sizeof(r)) != sizeof(r))
		r.setup = -EPIPE;
	close(p[0]);
	waitpid(pid, &status, 0);
	memcpy(errs, r.err, sizeof(r.err));
	memcpy(texts, r.text, sizeof(r.text));
	return r.setup;
}

static int setup_nobody(void)
{
	return pm_drop_privileges();
}

/* Root with CAP_NET_ADMIN alone (no CAP_SYS_ADMIN). */
static int setup_net_admin_only(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2] = { { 0 } };

	d[CAP_NET_ADMIN / 32].effective = 1U << (CAP_NET_ADMIN % 32);
	d[CAP_NET_ADMIN / 32].permitted = 1U << (CAP_NET_ADMIN % 32);
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/* Root of a new user namespace: every capability, but not in the initial one. */
static int setup_user_ns(void)
{
	return unshare(CLONE_NEWUSER | CLONE_NEWNET) ? -errno : 0;
}

static int setup_net_ns(void)
{
	return unshare(CLONE_NEWNET) ? -errno : 0;
}

static int setup_net_ns_nobody(void)
{
	return unshare(CLONE_NEWNET) ? -errno : pm_drop_privileges();
}

TEST_F(nlh, no_capabilities)
{
	int errs[N_COMMANDS];
	char texts[N_COMMANDS][128];
	size_t i;

	ASSERT_EQ(0, errnos_as(setup_nobody, errs, texts));
	for (i = 0; i < N_COMMANDS; i++) {
		EXPECT_EQ(-EPERM, errs[i]) TH_LOG("%s", every_command[i].what);
	}
	nothing_left(_metadata, self->before);
	EXPECT_EQ(0, pm_region_frozen(REGION));
}

/*
 * CAP_NET_ADMIN without CAP_SYS_ADMIN: reading works, changing a region
 * or a migration is refused, with a message that names the capability.
 */
TEST_F(nlh, net_admin_without_sys_admin)
{
	int errs[N_COMMANDS];
	char texts[N_COMMANDS][128];
	size_t i;

	ASSERT_EQ(0, errnos_as(setup_net_admin_only, errs, texts));
	for (i = 0; i < N_COMMANDS; i++) {
		const struct priv_case *c = &every_command[i];

		switch (c->cmd) {
		case PARTMOB_CMD_GET_INFO:
		case PARTMOB_CMD_REGION_GET:
			EXPECT_EQ(0, errs[i]) TH_LOG("%s: %s", c->what,
						     texts[i]);
			break;
		case PARTMOB_CMD_MIG_GET:
			/* Allowed: the region has no migration to show. */
			EXPECT_EQ(c->dump ? 0 : -ENOENT, errs[i])
				TH_LOG("%s: %s", c->what, texts[i]);
			break;
		default:
			EXPECT_EQ(-EPERM, errs[i]) TH_LOG("%s", c->what);
			EXPECT_NE(NULL, strstr(texts[i], "CAP_SYS_ADMIN"))
				TH_LOG("%s: %s", c->what, texts[i]);
		}
	}
	nothing_left(_metadata, self->before);
	EXPECT_EQ(0, pm_region_frozen(REGION));
}

/* Root of a user namespace has no capability in the initial one. */
TEST_F(nlh, user_namespace_root)
{
	int errs[N_COMMANDS];
	char texts[N_COMMANDS][128];
	size_t i;
	int ret;

	ret = errnos_as(setup_user_ns, errs, texts);
	if (ret == -EPERM || ret == -EINVAL || ret == -ENOSPC)
		SKIP(return, "no user namespaces here (%d)", ret);
	ASSERT_EQ(0, ret);
	for (i = 0; i < N_COMMANDS; i++) {
		EXPECT_EQ(-EPERM, errs[i]) TH_LOG("%s", every_command[i].what);
	}
	nothing_left(_metadata, self->before);
}

/*
 * From another network namespace the family answers as in the initial
 * one (netnsok): regions are global, so the one made there is seen here,
 * and the region of this namespace is there.
 */
TEST_F(nlh, other_network_namespace)
{
	int errs[N_COMMANDS];
	char texts[N_COMMANDS][128];
	size_t i;

	ASSERT_EQ(0, errnos_as(setup_net_ns, errs, texts));
	for (i = 0; i < N_COMMANDS; i++) {
		const struct priv_case *c = &every_command[i];
		int want = 0;

		/* In order: REGION_DEL deletes REGION, so later ones miss it. */
		switch (c->cmd) {
		case PARTMOB_CMD_REGION_GET:
		case PARTMOB_CMD_REGION_DIRTY:
		case PARTMOB_CMD_REGION_FREEZE:
		case PARTMOB_CMD_REGION_THAW:
		case PARTMOB_CMD_MIG_GET:
		case PARTMOB_CMD_MIG_CONTROL:
		case PARTMOB_CMD_MIG_COMMIT:
		case PARTMOB_CMD_MIG_ATTACH:
			want = c->dump && c->cmd != PARTMOB_CMD_REGION_DIRTY ?
			       0 : -ENOENT;
			break;
		case PARTMOB_CMD_MIG_START:	/* no such descriptor */
			want = -EBADF;
			break;
		}
		EXPECT_EQ(want, errs[i]) TH_LOG("%s: %s", c->what, texts[i]);
	}
	/* Made there, seen here; deleted there, gone here. */
	EXPECT_EQ(1, pm_region_exists(PFX "new"));
	EXPECT_EQ(0, pm_region_exists(REGION));

	/* Without capabilities it is refused there too. */
	ASSERT_EQ(0, errnos_as(setup_net_ns_nobody, errs, texts));
	for (i = 0; i < N_COMMANDS; i++) {
		EXPECT_EQ(-EPERM, errs[i]) TH_LOG("%s", every_command[i].what);
	}
	EXPECT_EQ(1, pm_region_exists(PFX "new"));
}

TEST_HARNESS_MAIN
