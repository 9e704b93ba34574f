// SPDX-License-Identifier: GPL-2.0
/*
 * The generic netlink family "partmob": the only place that speaks netlink.
 * Commands and attributes are documented in include/uapi/linux/partmob.h.
 */

#include <linux/bitmap.h>
#include <linux/capability.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/utsname.h>
#include <linux/vmalloc.h>
#include <net/genetlink.h>
#include <uapi/linux/partmob.h>

#include "partmob.h"

/*
 * GET_INFO takes no attributes: every slot is NLA_UNSPEC, which strict
 * validation rejects ("Unsupported attribute"), and anything above
 * PARTMOB_A_MAX is an "Unknown attribute type".
 */
static const struct nla_policy partmob_region_new_policy[PARTMOB_A_MAX + 1] = {
	[PARTMOB_A_REGION_NAME] = { .type = NLA_NUL_STRING,
				    .len = PARTMOB_REGION_NAME_MAX },
	[PARTMOB_A_REGION_SIZE] = { .type = NLA_U64 },
	[PARTMOB_A_REGION_FLAGS] = { .type = NLA_U32 },
	[PARTMOB_A_REGION_UID] = { .type = NLA_U32 },
	[PARTMOB_A_REGION_GID] = { .type = NLA_U32 },
	/* devtmpfs would turn mode 0 into 0600. */
	[PARTMOB_A_REGION_MODE] = NLA_POLICY_RANGE(NLA_U32, 1, 0777),
};

static const struct nla_policy partmob_region_name_policy[PARTMOB_A_MAX + 1] = {
	[PARTMOB_A_REGION_NAME] = { .type = NLA_NUL_STRING,
				    .len = PARTMOB_REGION_NAME_MAX },
};

static const struct nla_policy partmob_region_dirty_policy[PARTMOB_A_MAX + 1] = {
	[PARTMOB_A_REGION_NAME] = { .type = NLA_NUL_STRING,
				    .len = PARTMOB_REGION_NAME_MAX },
	[PARTMOB_A_DIRTY_FLAGS] = { .type = NLA_U32 },
};

static const struct nla_policy partmob_get_info_policy[PARTMOB_A_MAX + 1] = {
};

static struct netlink_range_validation mig_timeout_range = {
	.min = 100,
	.max = 3600000,
};

static struct netlink_range_validation mig_fd_range = {
	.max = INT_MAX,
};

static const struct nla_policy partmob_mig_start_policy[PARTMOB_A_MAX + 1] = {
	[PARTMOB_A_REGION_NAME] = { .type = NLA_NUL_STRING,
				    .len = PARTMOB_REGION_NAME_MAX },
	[PARTMOB_A_REGION_SIZE] = { .type = NLA_U64 },
	[PARTMOB_A_REGION_FLAGS] = { .type = NLA_U32 },
	[PARTMOB_A_REGION_UID] = { .type = NLA_U32 },
	[PARTMOB_A_REGION_GID] = { .type = NLA_U32 },
	[PARTMOB_A_REGION_MODE] = NLA_POLICY_RANGE(NLA_U32, 1, 0777),
	[PARTMOB_A_MIG_ROLE] = NLA_POLICY_RANGE(NLA_U32, PARTMOB_MIG_SOURCE,
						PARTMOB_MIG_DEST),
	[PARTMOB_A_MIG_FD] = NLA_POLICY_FULL_RANGE(NLA_U32, &mig_fd_range),
	[PARTMOB_A_MIG_ID] = { .type = NLA_U64 },
	[PARTMOB_A_MIG_PEER] = { .type = NLA_NUL_STRING,
				 .len = PARTMOB_MIG_PEER_MAX },
	[PARTMOB_A_MIG_PEER_BOOT_ID] = { .type = NLA_NUL_STRING,
					 .len = PARTMOB_BOOT_ID_MAX },
	[PARTMOB_A_MIG_MAX_BANDWIDTH] = { .type = NLA_U64 },
	[PARTMOB_A_MIG_FLAGS] = NLA_POLICY_MASK(NLA_U32, __PARTMOB_MIG_F_ALL),
	[PARTMOB_A_MIG_TIMEOUT_MS] =
		NLA_POLICY_FULL_RANGE(NLA_U32, &mig_timeout_range),
	[PARTMOB_A_MIG_STREAMS] =
		NLA_POLICY_RANGE(NLA_U32, 1, PARTMOB_MIG_STREAMS_MAX),
};

static const struct nla_policy partmob_mig_attach_policy[PARTMOB_A_MAX + 1] = {
	[PARTMOB_A_REGION_NAME] = { .type = NLA_NUL_STRING,
				    .len = PARTMOB_REGION_NAME_MAX },
	[PARTMOB_A_MIG_ID] = { .type = NLA_U64 },
	[PARTMOB_A_MIG_STREAM] =
		NLA_POLICY_RANGE(NLA_U32, 1, PARTMOB_MIG_STREAMS_MAX - 1),
	[PARTMOB_A_MIG_FD] = NLA_POLICY_FULL_RANGE(NLA_U32, &mig_fd_range),
};

static const struct nla_policy partmob_mig_get_policy[PARTMOB_A_MAX + 1] = {
	[PARTMOB_A_REGION_NAME] = { .type = NLA_NUL_STRING,
				    .len = PARTMOB_REGION_NAME_MAX },
	[PARTMOB_A_MIG_CTL_FD] = NLA_POLICY_FULL_RANGE(NLA_U32, &mig_fd_range),
};

static const struct nla_policy partmob_mig_control_policy[PARTMOB_A_MAX + 1] = {
	[PARTMOB_A_REGION_NAME] = { .type = NLA_NUL_STRING,
				    .len = PARTMOB_REGION_NAME_MAX },
	[PARTMOB_A_MIG_ACTION] = NLA_POLICY_RANGE(NLA_U32, PARTMOB_MIG_A_ROUND,
						  PARTMOB_MIG_A_DISCARD),
};

static const struct nla_policy partmob_group_policy[PARTMOB_A_MAX + 1] = {
	[PARTMOB_A_REGION_NAME] = { .type = NLA_NUL_STRING,
				    .len = PARTMOB_REGION_NAME_MAX },
};

static const struct nla_policy partmob_mig_commit_policy[PARTMOB_A_MAX + 1] = {
	[PARTMOB_A_MIG_GROUP] = NLA_POLICY_NESTED(partmob_group_policy),
};

static struct genl_family partmob_family;

static int partmob_fill_info(struct sk_buff *skb)
{
	const struct new_utsname *uts = init_utsname();

	if (nla_put_string(skb, PARTMOB_A_INFO_MODULE_VERSION,
			   PARTMOB_VERSION) ||
	    nla_put_u32(skb, PARTMOB_A_INFO_WIRE_VERSION,
			PARTMOB_WIRE_VERSION) ||
	    nla_put_u32(skb, PARTMOB_A_INFO_PAGE_SIZE, PAGE_SIZE) ||
	    nla_put_string(skb, PARTMOB_A_INFO_ARCH, uts->machine) ||
	    nla_put_u64_64bit(skb, PARTMOB_A_INFO_FEATURES, __PARTMOB_F_ALL,
			      PARTMOB_A_PAD) ||
	    nla_put_string(skb, PARTMOB_A_INFO_KERNEL_RELEASE, uts->release))
		return -EMSGSIZE;
	return 0;
}

static int partmob_nl_get_info(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;
	int ret;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;

	hdr = genlmsg_put_reply(msg, info, &partmob_family, 0,
				PARTMOB_CMD_GET_INFO);
	if (!hdr) {
		ret = -EMSGSIZE;
		goto err_msg;
	}

	ret = partmob_fill_info(msg);
	if (ret)
		goto err_msg;

	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_msg:
	nlmsg_free(msg);
	return ret;
}

static bool sys_admin(struct sk_buff *skb, struct netlink_ext_ack *extack)
{
	if (netlink_capable(skb, CAP_SYS_ADMIN))
		return true;
	NL_SET_ERR_MSG_MOD(extack,
			   "needs CAP_SYS_ADMIN in the initial user namespace");
	return false;
}

/* GENL_REQ_ATTR_CHECK() with a message the CLI can show. */
static bool attr_absent(struct genl_info *info, int attr)
{
	if (info->attrs[attr])
		return false;
	GENL_REQ_ATTR_CHECK(info, attr);
	if (attr == PARTMOB_A_REGION_NAME)
		GENL_SET_ERR_MSG(info, "missing region name");
	else if (attr == PARTMOB_A_REGION_SIZE)
		GENL_SET_ERR_MSG(info, "missing region size");
	else if (attr == PARTMOB_A_MIG_ROLE)
		GENL_SET_ERR_MSG(info, "missing migration role");
	else if (attr == PARTMOB_A_MIG_FD)
		GENL_SET_ERR_MSG(info, "missing socket file descriptor");
	else if (attr == PARTMOB_A_MIG_GROUP)
		GENL_SET_ERR_MSG(info, "missing group of regions");
	else if (attr == PARTMOB_A_MIG_ID)
		GENL_SET_ERR_MSG(info, "missing migration id");
	else if (attr == PARTMOB_A_MIG_STREAM)
		GENL_SET_ERR_MSG(info, "missing connection index");
	else
		GENL_SET_ERR_MSG(info, "missing migration action");
	return true;
}

static bool valid_name(const char *name)
{
	const char *p;

	if (!*name || *name == '.' || *name == '-')
		return false;
	for (p = name; *p; p++)
		if (!isalnum(*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

/* The attributes of a new region, for REGION_NEW and an incoming MIG_START. */
static int parse_new_region(struct genl_info *info, const char **name,
			    u64 *size, u32 *flags, kuid_t *kuid, kgid_t *kgid,
			    umode_t *mode)
{
	struct nlattr **attrs = info->attrs;
	u32 uid = 0, gid = 0;

	if (attr_absent(info, PARTMOB_A_REGION_NAME) ||
	    attr_absent(info, PARTMOB_A_REGION_SIZE))
		return -EINVAL;
	*name = nla_data(attrs[PARTMOB_A_REGION_NAME]);
	if (!valid_name(*name)) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[PARTMOB_A_REGION_NAME],
				    "region names are [A-Za-z0-9_.-], not starting with '.' or '-'");
		return -EINVAL;
	}
	*size = nla_get_u64(attrs[PARTMOB_A_REGION_SIZE]);
	if (!*size || !PAGE_ALIGNED(*size) ||
	    *size > PARTMOB_REGION_SIZE_MAX) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[PARTMOB_A_REGION_SIZE],
				    "size must be a non-zero multiple of the page size, at most 4 TiB");
		return -EINVAL;
	}
	*flags = 0;
	if (attrs[PARTMOB_A_REGION_FLAGS])
		*flags = nla_get_u32(attrs[PARTMOB_A_REGION_FLAGS]);
	if (*flags & ~__PARTMOB_REGION_F_ALL) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[PARTMOB_A_REGION_FLAGS],
				    "unknown region flags");
		return -EOPNOTSUPP;
	}
	if (attrs[PARTMOB_A_REGION_UID])
		uid = nla_get_u32(attrs[PARTMOB_A_REGION_UID]);
	if (attrs[PARTMOB_A_REGION_GID])
		gid = nla_get_u32(attrs[PARTMOB_A_REGION_GID]);
	*mode = 0600;
	if (attrs[PARTMOB_A_REGION_MODE])
		*mode = nla_get_u32(attrs[PARTMOB_A_REGION_MODE]);
	*kuid = make_kuid(&init_user_ns, uid);
	if (!uid_valid(*kuid)) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[PARTMOB_A_REGION_UID],
				    "invalid owner");
		return -EINVAL;
	}
	*kgid = make_kgid(&init_user_ns, gid);
	if (!gid_valid(*kgid)) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[PARTMOB_A_REGION_GID],
				    "invalid group");
		return -EINVAL;
	}
	return 0;
}

static int partmob_nl_region_new(struct sk_buff *skb, struct genl_info *info)
{
	const char *name;
	umode_t mode;
	kuid_t kuid;
	kgid_t kgid;
	u32 flags;
	u64 size;
	int ret;

	if (!sys_admin(skb, info->extack))
		return -EPERM;
	ret = parse_new_region(info, &name, &size, &flags, &kuid, &kgid,
			       &mode);
	if (ret)
		return ret;
	return partmob_region_create(name, size, flags, kuid, kgid, mode,
				     info->extack);
}

static int partmob_nl_region_del(struct sk_buff *skb, struct genl_info *info)
{
	if (!sys_admin(skb, info->extack))
		return -EPERM;
	if (attr_absent(info, PARTMOB_A_REGION_NAME))
		return -EINVAL;
	return partmob_region_delete(nla_data(info->attrs[PARTMOB_A_REGION_NAME]),
				     info->extack);
}

static int put_u64(struct sk_buff *skb, int type, s64 val)
{
	return nla_put_u64_64bit(skb, type, val, PARTMOB_A_PAD);
}

static int fill_region(struct sk_buff *skb, struct partmob_region *r)
{
	const struct partmob_stats *st = &r->stats;
	struct partmob_dirty_counts c;

	partmob_dirty_counts(&r->log, &c);
	if (nla_put_string(skb, PARTMOB_A_REGION_NAME, r->name) ||
	    put_u64(skb, PARTMOB_A_REGION_SIZE, r->size) ||
	    nla_put_u32(skb, PARTMOB_A_REGION_FLAGS, r->flags) ||
	    nla_put_u32(skb, PARTMOB_A_REGION_UID,
			from_kuid_munged(&init_user_ns, r->uid)) ||
	    nla_put_u32(skb, PARTMOB_A_REGION_GID,
			from_kgid_munged(&init_user_ns, r->gid)) ||
	    nla_put_u32(skb, PARTMOB_A_REGION_MODE, r->mode) ||
	    nla_put_u32(skb, PARTMOB_A_REGION_USERS, atomic_read(&r->users)) ||
	    nla_put_u8(skb, PARTMOB_A_REGION_FROZEN, READ_ONCE(r->frozen)) ||
	    put_u64(skb, PARTMOB_A_REGION_STAT_FAULTS, c.faults) ||
	    put_u64(skb, PARTMOB_A_REGION_STAT_DIRTIED, c.dirtied) ||
	    put_u64(skb, PARTMOB_A_REGION_STAT_HARVESTS,
		    atomic64_read(&st->harvests)) ||
	    put_u64(skb, PARTMOB_A_REGION_STAT_HARVESTED,
		    atomic64_read(&st->harvested)) ||
	    put_u64(skb, PARTMOB_A_REGION_STAT_FROZEN_WAITS,
		    atomic64_read(&st->frozen_waits)) ||
	    put_u64(skb, PARTMOB_A_REGION_STAT_PINNED,
		    atomic64_read(&st->pinned)) ||
	    put_u64(skb, PARTMOB_A_REGION_STAT_REMOVED,
		    atomic64_read(&st->removed)) ||
	    put_u64(skb, PARTMOB_A_REGION_DIRTY, c.logged))
		return -EMSGSIZE;
	return 0;
}

static struct partmob_region *find_region(struct genl_info *info)
{
	struct partmob_region *r;

	if (attr_absent(info, PARTMOB_A_REGION_NAME))
		return ERR_PTR(-EINVAL);
	r = partmob_region_find(nla_data(info->attrs[PARTMOB_A_REGION_NAME]));
	if (!r) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[PARTMOB_A_REGION_NAME],
				    "no region of that name");
		return ERR_PTR(-ENOENT);
	}
	return r;
}

static int partmob_nl_region_get(struct sk_buff *skb, struct genl_info *info)
{
	struct partmob_region *r;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	r = find_region(info);
	if (IS_ERR(r))
		return PTR_ERR(r);
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg) {
		ret = -ENOMEM;
		goto err_put;
	}
	hdr = genlmsg_put_reply(msg, info, &partmob_family, 0,
				PARTMOB_CMD_REGION_GET);
	if (!hdr || fill_region(msg, r)) {
		ret = -EMSGSIZE;
		goto err_msg;
	}
	genlmsg_end(msg, hdr);
	partmob_region_put(r);
	return genlmsg_reply(msg, info);

err_msg:
	nlmsg_free(msg);
err_put:
	partmob_region_put(r);
	return ret;
}

/* cb->args[0]: the next minor to look at. */
static int partmob_nl_region_dump(struct sk_buff *skb,
				  struct netlink_callback *cb)
{
	unsigned long pos = cb->args[0];
	struct partmob_region *r;
	void *hdr;
	int ret;

	while ((r = partmob_region_next(&pos))) {
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &partmob_family,
				  NLM_F_MULTI, PARTMOB_CMD_REGION_GET);
		ret = hdr ? fill_region(skb, r) : -EMSGSIZE;
		partmob_region_put(r);
		if (ret) {
			if (hdr)
				genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = pos;
	}
	return skb->len;
}

static int do_freeze_thaw(struct sk_buff *skb, struct genl_info *info,
			  bool freeze)
{
	struct partmob_region *r;
	int ret;

	if (!sys_admin(skb, info->extack))
		return -EPERM;
	r = find_region(info);
	if (IS_ERR(r))
		return PTR_ERR(r);
	ret = freeze ? partmob_region_freeze(r, false) :
		       partmob_region_thaw(r, false);
	if (ret == -EALREADY && freeze)
		NL_SET_ERR_MSG_MOD(info->extack, "region is already frozen");
	else if (ret == -EALREADY)
		NL_SET_ERR_MSG_MOD(info->extack, "region is not frozen");
	else if (ret == -EBUSY)
		NL_SET_ERR_MSG_MOD(info->extack,
				   "region is migrating or was migrated away");
	partmob_region_put(r);
	return ret;
}

static int partmob_nl_region_freeze(struct sk_buff *skb, struct genl_info *info)
{
	return do_freeze_thaw(skb, info, true);
}

static int partmob_nl_region_thaw(struct sk_buff *skb, struct genl_info *info)
{
	return do_freeze_thaw(skb, info, false);
}

/*
 * A dirty dump harvests once, in its first dumpit call (where an extack is
 * available on every kernel; start() has none on 6.1), into a bitmap it
 * then sends in chunks: cb->args[0] the region, [1] the bitmap, [2] the
 * next page.
 */
static int harvest_to_bitmap(struct partmob_region *r, pgoff_t first,
			     unsigned long mask, void *arg)
{
	unsigned long *bitmap = arg;

	/* The harvest hands out whole, aligned words of the log. */
	bitmap[first / BITS_PER_LONG] |= mask;
	return 0;
}

static int dirty_dump_begin(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct nlattr **attrs = partmob_dump_attrs(cb);
	struct netlink_ext_ack *extack = cb->extack;
	struct partmob_region *r;
	unsigned long *bitmap;
	u32 flags = 0;
	int ret;

	if (!sys_admin(cb->skb, extack))
		return -EPERM;
	if (!attrs[PARTMOB_A_REGION_NAME]) {
		NL_SET_ERR_MSG_MOD(extack, "missing region name");
		return -EINVAL;
	}
	if (attrs[PARTMOB_A_DIRTY_FLAGS])
		flags = nla_get_u32(attrs[PARTMOB_A_DIRTY_FLAGS]);
	if (flags & ~__PARTMOB_DIRTY_F_ALL) {
		NL_SET_ERR_MSG_ATTR(extack, attrs[PARTMOB_A_DIRTY_FLAGS],
				    "unknown dirty flags");
		return -EOPNOTSUPP;
	}
	r = partmob_region_find(nla_data(attrs[PARTMOB_A_REGION_NAME]));
	if (!r) {
		NL_SET_ERR_MSG_ATTR(extack, attrs[PARTMOB_A_REGION_NAME],
				    "no region of that name");
		return -ENOENT;
	}
	bitmap = kvcalloc(BITS_TO_LONGS(r->npages), sizeof(long), GFP_KERNEL);
	if (!bitmap) {
		ret = -ENOMEM;
		goto err_put;
	}
	ret = partmob_dirty_harvest(r, flags | PARTMOB_DIRTY_F_NETLINK,
				    harvest_to_bitmap, bitmap);
	if (ret == -EBUSY)
		NL_SET_ERR_MSG_MOD(extack,
				   "a migration owns the dirty log of this region");
	if (ret < 0)
		goto err_bitmap;
	cb->args[0] = (long)r;
	cb->args[1] = (long)bitmap;
	cb->args[2] = 0;
	return 0;

err_bitmap:
	kvfree(bitmap);
err_put:
	partmob_region_put(r);
	return ret;
}

static int partmob_nl_dirty_done(struct netlink_callback *cb)
{
	struct partmob_region *r = (struct partmob_region *)cb->args[0];

	kvfree((void *)cb->args[1]);
	if (r)
		partmob_region_put(r);
	return 0;
}

static int partmob_nl_dirty_dump(struct sk_buff *skb,
				 struct netlink_callback *cb)
{
	const unsigned long chunk = PARTMOB_DIRTY_CHUNK_BYTES * BITS_PER_BYTE;
	struct partmob_region *r;
	unsigned long *bitmap;
	unsigned long pos, first, end, i;
	struct nlattr *nla;
	u8 *bytes;
	void *hdr;
	int ret;

	if (!cb->args[0]) {
		ret = dirty_dump_begin(skb, cb);
		if (ret)
			return ret;
	}
	r = (struct partmob_region *)cb->args[0];
	bitmap = (unsigned long *)cb->args[1];
	pos = cb->args[2];
	for (;;) {
		pos = find_next_bit(bitmap, r->npages, pos);
		if (pos >= r->npages)
			break;
		first = rounddown(pos, chunk);
		end = min(first + chunk, (unsigned long)r->npages);
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &partmob_family,
				  NLM_F_MULTI, PARTMOB_CMD_REGION_DIRTY);
		if (!hdr)
			break;
		if (put_u64(skb, PARTMOB_A_DIRTY_OFFSET, first))
			goto cancel;
		nla = nla_reserve(skb, PARTMOB_A_DIRTY_BITMAP,
				  DIV_ROUND_UP(end - first, BITS_PER_BYTE));
		if (!nla)
			goto cancel;
		bytes = nla_data(nla);
		/* Chunks start on a word; bit i is byte i / 8, bit i % 8. */
		for (i = 0; i < nla_len(nla); i++)
			bytes[i] = bitmap[(first + i * BITS_PER_BYTE) /
					  BITS_PER_LONG] >>
				   ((i * BITS_PER_BYTE) % BITS_PER_LONG);
		genlmsg_end(skb, hdr);
		pos = end;
		cb->args[2] = pos;
		continue;
cancel:
		genlmsg_cancel(skb, hdr);
		break;
	}
	return skb->len;
}

/* MIG_START attributes that only the destination takes. */
static const int dest_only[] = {
	PARTMOB_A_REGION_SIZE, PARTMOB_A_REGION_FLAGS, PARTMOB_A_REGION_UID,
	PARTMOB_A_REGION_GID, PARTMOB_A_REGION_MODE,
};

/* The first of the attributes @types present in @attrs, or NULL. */
static struct nlattr *first_of(struct nlattr **attrs, const int *types,
			       size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (attrs[types[i]])
			return attrs[types[i]];
	return NULL;
}

static int partmob_nl_mig_start(struct sk_buff *skb, struct genl_info *info)
{
	struct partmob_mig_params p = { };
	struct nlattr **attrs = info->attrs;
	struct nlattr *bad;
	struct sk_buff *msg;
	void *hdr;
	int fd, ret;

	if (!sys_admin(skb, info->extack))
		return -EPERM;
	if (attr_absent(info, PARTMOB_A_MIG_ROLE) ||
	    attr_absent(info, PARTMOB_A_MIG_FD))
		return -EINVAL;
	p.net = genl_info_net(info);
	p.role = nla_get_u32(attrs[PARTMOB_A_MIG_ROLE]);
	p.fd = nla_get_u32(attrs[PARTMOB_A_MIG_FD]);
	if (p.role == PARTMOB_MIG_DEST) {
		ret = parse_new_region(info, &p.name, &p.size, &p.flags, &p.uid,
				       &p.gid, &p.mode);
		if (ret)
			return ret;
		bad = attrs[PARTMOB_A_MIG_MAX_BANDWIDTH];
		if (!bad && attrs[PARTMOB_A_MIG_FLAGS] &&
		    nla_get_u32(attrs[PARTMOB_A_MIG_FLAGS]) & ~PARTMOB_MIG_F_HOLD)
			bad = attrs[PARTMOB_A_MIG_FLAGS];
		if (bad) {
			NL_SET_ERR_MSG_ATTR(info->extack, bad,
					    "the bandwidth cap and the flags but hold apply to the source");
			return -EINVAL;
		}
	} else {
		if (attr_absent(info, PARTMOB_A_REGION_NAME))
			return -EINVAL;
		p.name = nla_data(attrs[PARTMOB_A_REGION_NAME]);
		bad = first_of(attrs, dest_only, ARRAY_SIZE(dest_only));
		if (bad) {
			NL_SET_ERR_MSG_ATTR(info->extack, bad,
					    "region attributes are for the destination only");
			return -EINVAL;
		}
	}
	if (attrs[PARTMOB_A_MIG_ID])
		p.id = nla_get_u64(attrs[PARTMOB_A_MIG_ID]);
	if (attrs[PARTMOB_A_MIG_PEER])
		p.peer = nla_data(attrs[PARTMOB_A_MIG_PEER]);
	if (attrs[PARTMOB_A_MIG_PEER_BOOT_ID])
		p.peer_boot_id = nla_data(attrs[PARTMOB_A_MIG_PEER_BOOT_ID]);
	if (attrs[PARTMOB_A_MIG_MAX_BANDWIDTH])
		p.max_bandwidth = nla_get_u64(attrs[PARTMOB_A_MIG_MAX_BANDWIDTH]);
	if (attrs[PARTMOB_A_MIG_TIMEOUT_MS])
		p.timeout_ms = nla_get_u32(attrs[PARTMOB_A_MIG_TIMEOUT_MS]);
	if (attrs[PARTMOB_A_MIG_FLAGS])
		p.mig_flags = nla_get_u32(attrs[PARTMOB_A_MIG_FLAGS]);
	if (attrs[PARTMOB_A_MIG_STREAMS])
		p.streams = nla_get_u32(attrs[PARTMOB_A_MIG_STREAMS]);

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &partmob_family, 0,
				PARTMOB_CMD_MIG_START);
	if (!hdr) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	/*
	 * From here the migration runs; the descriptor is the caller's even
	 * if the reply is lost (it still ties the migration to the caller).
	 */
	fd = partmob_mig_start(&p, info->extack);
	if (fd < 0) {
		nlmsg_free(msg);
		return fd;
	}
	if (nla_put_u32(msg, PARTMOB_A_MIG_CTL_FD, fd)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int fill_mig(struct sk_buff *skb, const struct partmob_mig_snap *s)
{
	if (nla_put_string(skb, PARTMOB_A_REGION_NAME, s->name) ||
	    put_u64(skb, PARTMOB_A_MIG_ID, s->id) ||
	    nla_put_u32(skb, PARTMOB_A_MIG_ROLE, s->role) ||
	    nla_put_u32(skb, PARTMOB_A_MIG_STATE, s->state) ||
	    nla_put_u32(skb, PARTMOB_A_MIG_ROUND, s->round) ||
	    nla_put_string(skb, PARTMOB_A_MIG_PEER, s->peer) ||
	    nla_put_string(skb, PARTMOB_A_MIG_PEER_BOOT_ID, s->peer_boot_id) ||
	    put_u64(skb, PARTMOB_A_MIG_TOTAL_BYTES, s->total) ||
	    put_u64(skb, PARTMOB_A_MIG_TRANSFERRED, s->transferred) ||
	    put_u64(skb, PARTMOB_A_MIG_REMAINING, s->remaining) ||
	    put_u64(skb, PARTMOB_A_MIG_PAGES_NORMAL, s->pages_normal) ||
	    put_u64(skb, PARTMOB_A_MIG_PAGES_ZERO, s->pages_zero) ||
	    put_u64(skb, PARTMOB_A_MIG_ROUND_BYTES, s->round_bytes) ||
	    put_u64(skb, PARTMOB_A_MIG_ROUND_NS, s->round_ns) ||
	    put_u64(skb, PARTMOB_A_MIG_ROUND_DIRTIED, s->round_dirtied) ||
	    put_u64(skb, PARTMOB_A_MIG_THROUGHPUT, s->throughput) ||
	    put_u64(skb, PARTMOB_A_MIG_DIRTY_RATE, s->dirty_rate) ||
	    put_u64(skb, PARTMOB_A_MIG_SETUP_NS, s->setup_ns) ||
	    put_u64(skb, PARTMOB_A_MIG_TOTAL_NS, s->total_ns) ||
	    put_u64(skb, PARTMOB_A_MIG_DOWNTIME_NS, s->downtime_ns) ||
	    put_u64(skb, PARTMOB_A_MIG_VERIFY_NS, s->verify_ns) ||
	    put_u64(skb, PARTMOB_A_MIG_HARVEST_NS, s->harvest_ns) ||
	    put_u64(skb, PARTMOB_A_MIG_SOCK_NS, s->sock_ns) ||
	    put_u64(skb, PARTMOB_A_MIG_WAIT_NS, s->wait_ns) ||
	    nla_put_u32(skb, PARTMOB_A_MIG_STREAMS, s->streams))
		return -EMSGSIZE;
	if (s->err &&
	    (nla_put_string(skb, PARTMOB_A_MIG_ERROR, s->errmsg) ||
	     nla_put_u32(skb, PARTMOB_A_MIG_ERRNO, -s->err)))
		return -EMSGSIZE;
	return 0;
}

/**
 * partmob_netlink_mig_event() - tell the events group about a migration
 * @net: the network namespace the migration was started from
 * @s: its state
 *
 * Best effort: multicast may drop (a listener's full buffer) and an
 * allocation failure drops the event too; a policy reads the state, it
 * does not count events.
 */
void partmob_netlink_mig_event(struct net *net,
			       const struct partmob_mig_snap *s)
{
	struct sk_buff *skb;
	void *hdr;

	skb = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &partmob_family, 0, PARTMOB_CMD_MIG_GET);
	if (!hdr || fill_mig(skb, s)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&partmob_family, net, skb, 0, 0, GFP_KERNEL);
}

static int partmob_nl_mig_get(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *fd_attr = info->attrs[PARTMOB_A_MIG_CTL_FD];
	struct partmob_region *r = NULL;
	struct partmob_mig_snap *s;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	s = kmalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	if (fd_attr) {
		ret = partmob_mig_snapshot_fd(nla_get_u32(fd_attr), s);
		if (ret) {
			NL_SET_ERR_MSG_ATTR(info->extack, fd_attr,
					    "not a migration control file descriptor");
			goto err_snap;
		}
	} else {
		r = find_region(info);
		if (IS_ERR(r)) {
			ret = PTR_ERR(r);
			goto err_snap;
		}
		ret = partmob_mig_snapshot(r, s);
		partmob_region_put(r);
		if (ret) {
			NL_SET_ERR_MSG_MOD(info->extack,
					   "the region has no migration");
			goto err_snap;
		}
	}
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg) {
		ret = -ENOMEM;
		goto err_snap;
	}
	hdr = genlmsg_put_reply(msg, info, &partmob_family, 0,
				PARTMOB_CMD_MIG_GET);
	if (!hdr || fill_mig(msg, s)) {
		ret = -EMSGSIZE;
		goto err_msg;
	}
	genlmsg_end(msg, hdr);
	kfree(s);
	return genlmsg_reply(msg, info);

err_msg:
	nlmsg_free(msg);
err_snap:
	kfree(s);
	return ret;
}

/* cb->args[0]: the next minor to look at. Regions that never migrated
 * are skipped.
 */
static int partmob_nl_mig_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned long pos = cb->args[0];
	struct partmob_mig_snap *s;
	struct partmob_region *r;
	void *hdr;
	int ret;

	s = kmalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	while ((r = partmob_region_next(&pos))) {
		if (partmob_mig_snapshot(r, s)) {
			partmob_region_put(r);
			cb->args[0] = pos;
			continue;
		}
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &partmob_family,
				  NLM_F_MULTI, PARTMOB_CMD_MIG_GET);
		ret = hdr ? fill_mig(skb, s) : -EMSGSIZE;
		partmob_region_put(r);
		if (ret) {
			if (hdr)
				genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = pos;
	}
	kfree(s);
	return skb->len;
}

static int partmob_nl_mig_control(struct sk_buff *skb, struct genl_info *info)
{
	struct partmob_region *r;
	int ret;

	if (!sys_admin(skb, info->extack))
		return -EPERM;
	if (attr_absent(info, PARTMOB_A_MIG_ACTION))
		return -EINVAL;
	r = find_region(info);
	if (IS_ERR(r))
		return PTR_ERR(r);
	ret = partmob_mig_control(r, nla_get_u32(info->attrs[PARTMOB_A_MIG_ACTION]),
				  info->extack);
	partmob_region_put(r);
	return ret;
}

static int partmob_nl_mig_attach(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct partmob_region *r;
	int ret;

	if (!sys_admin(skb, info->extack))
		return -EPERM;
	if (attr_absent(info, PARTMOB_A_MIG_ID) ||
	    attr_absent(info, PARTMOB_A_MIG_STREAM) ||
	    attr_absent(info, PARTMOB_A_MIG_FD))
		return -EINVAL;
	r = find_region(info);
	if (IS_ERR(r))
		return PTR_ERR(r);
	ret = partmob_mig_attach(r, nla_get_u64(attrs[PARTMOB_A_MIG_ID]),
				 nla_get_u32(attrs[PARTMOB_A_MIG_STREAM]),
				 nla_get_u32(attrs[PARTMOB_A_MIG_FD]),
				 info->extack);
	partmob_region_put(r);
	return ret;
}

/*
 * The members of PARTMOB_A_MIG_GROUP, looked up: @rs[i] holds a region
 * reference and @attrs[i] its attribute, for the extack.
 */
struct group {
	struct partmob_region *rs[PARTMOB_MIG_GROUP_MAX];
	const struct nlattr *attrs[PARTMOB_MIG_GROUP_MAX];
	unsigned int n;
};

static int group_parse(struct genl_info *info, struct group *g)
{
	const struct nlattr *a;
	unsigned int i;
	int rem;

	nla_for_each_nested(a, info->attrs[PARTMOB_A_MIG_GROUP], rem) {
		/* The nested policy checked the names. */
		if (nla_type(a) != PARTMOB_A_REGION_NAME) {
			NL_SET_ERR_MSG_ATTR(info->extack, a,
					    "a group holds region names only");
			return -EINVAL;
		}
		if (g->n == PARTMOB_MIG_GROUP_MAX) {
			NL_SET_ERR_MSG_ATTR(info->extack, a,
					    "too many regions in the group");
			return -E2BIG;
		}
		for (i = 0; i < g->n; i++) {
			if (!strcmp(nla_data(a), nla_data(g->attrs[i]))) {
				NL_SET_ERR_MSG_ATTR(info->extack, a,
						    "a region is named twice");
				return -EINVAL;
			}
		}
		g->rs[g->n] = partmob_region_find(nla_data(a));
		if (!g->rs[g->n]) {
			NL_SET_ERR_MSG_ATTR(info->extack, a,
					    "no region of that name");
			return -ENOENT;
		}
		g->attrs[g->n++] = a;
	}
	if (!g->n) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[PARTMOB_A_MIG_GROUP],
				    "the group is empty");
		return -EINVAL;
	}
	return 0;
}

static int partmob_nl_mig_commit(struct sk_buff *skb, struct genl_info *info)
{
	struct group *g;
	int ret;

	if (!sys_admin(skb, info->extack))
		return -EPERM;
	if (attr_absent(info, PARTMOB_A_MIG_GROUP))
		return -EINVAL;
	g = kzalloc(sizeof(*g), GFP_KERNEL);
	if (!g)
		return -ENOMEM;
	ret = group_parse(info, g);
	if (ret)
		goto out_put;
	ret = partmob_mig_commit_group(g->rs, g->n, g->attrs, info->extack);
out_put:
	while (g->n--)
		partmob_region_put(g->rs[g->n]);
	kfree(g);
	return ret;
}

static const struct genl_ops partmob_ops[] = {
	{
		.cmd = PARTMOB_CMD_GET_INFO,
		.doit = partmob_nl_get_info,
		.policy = partmob_get_info_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PARTMOB_CMD_REGION_NEW,
		.doit = partmob_nl_region_new,
		.policy = partmob_region_new_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PARTMOB_CMD_REGION_DEL,
		.doit = partmob_nl_region_del,
		.policy = partmob_region_name_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PARTMOB_CMD_REGION_GET,
		.doit = partmob_nl_region_get,
		.dumpit = partmob_nl_region_dump,
		.policy = partmob_region_name_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PARTMOB_CMD_REGION_DIRTY,
		.dumpit = partmob_nl_dirty_dump,
		.done = partmob_nl_dirty_done,
		.policy = partmob_region_dirty_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PARTMOB_CMD_REGION_FREEZE,
		.doit = partmob_nl_region_freeze,
		.policy = partmob_region_name_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PARTMOB_CMD_REGION_THAW,
		.doit = partmob_nl_region_thaw,
		.policy = partmob_region_name_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PARTMOB_CMD_MIG_START,
		.doit = partmob_nl_mig_start,
		.policy = partmob_mig_start_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PARTMOB_CMD_MIG_GET,
		.doit = partmob_nl_mig_get,
		.dumpit = partmob_nl_mig_dump,
		.policy = partmob_mig_get_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PARTMOB_CMD_MIG_CONTROL,
		.doit = partmob_nl_mig_control,
		.policy = partmob_mig_control_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PARTMOB_CMD_MIG_COMMIT,
		.doit = partmob_nl_mig_commit,
		.policy = partmob_mig_commit_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = PARTMOB_CMD_MIG_ATTACH,
		.doit = partmob_nl_mig_attach,
		.policy = partmob_mig_attach_policy,
		.maxattr = PARTMOB_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
};

static const struct genl_multicast_group partmob_mcgrps[] = {
	{ .name = PARTMOB_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_NET_ADMIN },
};

static struct genl_family partmob_family __ro_after_init = {
	.name = PARTMOB_GENL_NAME,
	.version = PARTMOB_GENL_VERSION,
	.maxattr = PARTMOB_A_MAX,
	.netnsok = true,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = partmob_ops,
	.n_ops = ARRAY_SIZE(partmob_ops),
	.resv_start_op = PARTMOB_CMD_GET_INFO + 1,
	.mcgrps = partmob_mcgrps,
	.n_mcgrps = ARRAY_SIZE(partmob_mcgrps),
};

/**
 * partmob_netlink_init() - register the generic netlink family
 *
 * Return: 0 or a negative errno from genl_register_family().
 */
int __init partmob_netlink_init(void)
{
	return genl_register_family(&partmob_family);
}

/**
 * partmob_netlink_exit() - unregister the generic netlink family
 */
void partmob_netlink_exit(void)
{
	genl_unregister_family(&partmob_family);
}
