/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's answer to a failed netlink request: the errno and the
 * extended ACK text, from an NLMSG_ERROR or from the NLMSG_DONE that ends
 * a dump. Shared by partmobctl and the selftests.
 */
#ifndef PARTMOB_EXTACK_H
#define PARTMOB_EXTACK_H

#include <stdio.h>
#include <string.h>
#include <linux/netlink.h>
#include <netlink/attr.h>

/* Parse the extack attributes at @off of @nlh: 0, or -1 if there are none. */
static inline int pm_extack_tb(const struct nlmsghdr *nlh, int off,
			       struct nlattr **tb)
{
	int len = (int)nlh->nlmsg_len - off;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || len <= 0 ||
	    nla_parse(tb, NLMSGERR_ATTR_MAX,
		      (struct nlattr *)((char *)nlh + off), len, NULL))
		return -1;
	return 0;
}

/* Format the extack attributes at @off of @nlh into @buf ("" if none). */
static inline void pm_extack_parse(const struct nlmsghdr *nlh, int off,
				   char *buf, size_t size)
{
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];

	buf[0] = '\0';
	if (pm_extack_tb(nlh, off, tb))
		return;
	if (tb[NLMSGERR_ATTR_MSG])
		snprintf(buf, size, "%s", nla_get_string(tb[NLMSGERR_ATTR_MSG]));
	else if (tb[NLMSGERR_ATTR_MISS_TYPE])	/* GENL_REQ_ATTR_CHECK */
		snprintf(buf, size, "the request lacks required attribute %u",
			 nla_get_u32(tb[NLMSGERR_ATTR_MISS_TYPE]));
}

/* The NLMSG_ERROR whose payload is @e, and where its extack starts. */
static inline const struct nlmsghdr *pm_extack_error_nlh(const struct nlmsgerr *e,
							 int *off)
{
	const struct nlmsghdr *nlh =
		(const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);

	*off = NLMSG_HDRLEN + sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		*off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	return nlh;
}

/* Extack text of an NLMSG_ERROR whose payload is @e. */
static inline void pm_extack_error(const struct nlmsgerr *e, char *buf,
				   size_t size)
{
	int off;
	const struct nlmsghdr *nlh = pm_extack_error_nlh(e, &off);

	pm_extack_parse(nlh, off, buf, size);
}

/*
 * The attribute an NLMSG_ERROR blames: the offset of the bad attribute in
 * the request (NLMSGERR_ATTR_OFFS, 0 if none) and the type of a missing
 * one (NLMSGERR_ATTR_MISS_TYPE, -1 if none).
 */
static inline void pm_extack_error_attr(const struct nlmsgerr *e,
					unsigned int *bad_off, int *miss_type)
{
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	int off;
	const struct nlmsghdr *nlh = pm_extack_error_nlh(e, &off);

	*bad_off = 0;
	*miss_type = -1;
	if (pm_extack_tb(nlh, off, tb))
		return;
	if (tb[NLMSGERR_ATTR_OFFS])
		*bad_off = nla_get_u32(tb[NLMSGERR_ATTR_OFFS]);
	if (tb[NLMSGERR_ATTR_MISS_TYPE])
		*miss_type = (int)nla_get_u32(tb[NLMSGERR_ATTR_MISS_TYPE]);
}

/*
 * The error that ends a dump travels in NLMSG_DONE (a negative errno as
 * payload, then the extack attributes). Returns it, or 0.
 */
static inline int pm_extack_done(const struct nlmsghdr *nlh, char *buf,
				 size_t size)
{
	int err = 0;

	buf[0] = '\0';
	if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
		memcpy(&err, (const char *)nlh + NLMSG_HDRLEN, sizeof(err));
	if (err < 0)
		pm_extack_parse(nlh, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(int)),
				buf, size);
	return err < 0 ? err : 0;
}

#endif
