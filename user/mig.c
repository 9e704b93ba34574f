// SPDX-License-Identifier: GPL-2.0
/*
 * partmobctl's migration commands, and what listen.c shares with them.
 *
 *   partmobctl validate NAME --to HOST[:PORT] [--dest-name N] [--require-path P]...
 *   partmobctl start NAME --to HOST[:PORT] [--dest-name N] [--downtime-limit MS]
 *                    [--max-bandwidth RATE] [--max-rounds N] [--timeout S]
 *                    [--on-stall abort|switchover] [--freeze-cgroup PATH]
 *                    [--require-path P]... [--json]
 *   partmobctl status [NAME] [--json]
 *   partmobctl abort NAME
 *   partmobctl wait NAME [--timeout S]
 *   partmobctl recover NAME [--resume-here|--discard] [--source HOST[:PORT]]
 *
 * The source runs the handshake (handshake.c) with the destination's
 * `partmobctl listen` (listen.c), hands the socket to its module with
 * PARTMOB_CMD_MIG_START and keeps the control file the module returns open
 * until the migration has ended: closing it before the decision aborts.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netlink/genl/genl.h>

#include "mig.h"
#include "vm.h"

#define POLL_MS		250	/* progress refresh and policy tick */
#define CGROUP_FREEZE_MS 10000	/* how long a cgroup may take to freeze */

/* ---- units ------------------------------------------------------------- */

uint64_t pm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* 16G, 256M, 1.5G, 4096: binary units, at most one decimal. */
const char *pm_human(uint64_t v, char *buf, size_t n)
{
	static const char units[] = "KMGTPE";
	unsigned int i;

	if (v < 1024) {
		snprintf(buf, n, "%" PRIu64, v);
		return buf;
	}
	for (i = 0; i < sizeof(units) - 2 && v >= (1ULL << (10 * (i + 2)));
	     i++)
		;
	if (!(v & ((1ULL << (10 * (i + 1))) - 1)))
		snprintf(buf, n, "%" PRIu64 "%c", v >> (10 * (i + 1)),
			 units[i]);
	else
		snprintf(buf, n, "%.1f%c",
			 (double)v / (double)(1ULL << (10 * (i + 1))), units[i]);
	return buf;
}

/* Milliseconds of @ns for people: "12 ms", "3.4 ms", "0.2 ms". */
static const char *ms_text(uint64_t ns, char *buf, size_t n)
{
	if (ns < 10000000ULL)
		snprintf(buf, n, "%.1f ms", (double)ns / 1e6);
	else
		snprintf(buf, n, "%" PRIu64 " ms", (ns + 500000) / 1000000);
	return buf;
}

static uint64_t ns_to_ms(uint64_t ns)
{
	return (ns + 500000) / 1000000;
}

/* A decimal number in [min, max]. Return: 0 or -1. */
static int parse_uint(const char *s, uint64_t min, uint64_t max,
		      uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * --link-timeout of start and listen: milliseconds within the module's
 * range for PARTMOB_A_MIG_TIMEOUT_MS. Return: -1 (parsed) or the usage
 * exit status, as an option callback does.
 */
int pm_link_timeout_opt(const char *cmd, const char *arg, uint64_t *ms)
{
	if (parse_uint(arg, 100, 3600000, ms))
		return pm_usage_error(cmd,
			"--link-timeout: '%s' is not a number of milliseconds from 100 to 3600000",
			arg);
	return -1;
}

/* ---- this host --------------------------------------------------------- */

int pm_boot_id(char *buf, size_t n)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	size_t len;

	buf[0] = '\0';
	if (!f)
		return -errno;
	if (!fgets(buf, (int)n, f)) {
		fclose(f);
		buf[0] = '\0';
		return -EIO;
	}
	fclose(f);
	len = strcspn(buf, "\n");
	buf[len] = '\0';
	return pm_hs_boot_id_ok(buf) ? 0 : -EINVAL;
}

uint64_t pm_mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb;
	char line[128];
	uint64_t v = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
			v = kb > UINT64_MAX / 1024 ? UINT64_MAX : kb * 1024;
			break;
		}
	}
	fclose(f);
	return v;
}

int pm_path_size(const char *path, uint64_t *size, char *why, size_t n)
{
	struct stat st;
	int fd, err;

	if (stat(path, &st)) {
		err = errno;
		snprintf(why, n, "%s: %s", path, strerror(err));
		return -err;
	}
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (!S_ISBLK(st.st_mode)) {
		*size = 0;
		return 0;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		snprintf(why, n, "%s: %s", path, strerror(err));
		return -err;
	}
	if (ioctl(fd, BLKGETSIZE64, size)) {
		err = errno;
		close(fd);
		snprintf(why, n, "%s: BLKGETSIZE64: %s", path, strerror(err));
		return -err;
	}
	close(fd);
	return 0;
}

/* ---- netlink ------------------------------------------------------------ */

/* Copy @src into @dst of @n bytes, cut if need be. */
static void copy_str(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(src, n - 1);

	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void nla_str(char *dst, size_t n, const struct nlattr *a)
{
	size_t len = strnlen(nla_data(a), (size_t)nla_len(a));

	if (len >= n)
		len = n - 1;
	memcpy(dst, nla_data(a), len);
	dst[len] = '\0';
}

const char *pm_nl_why(const struct pm_nl *nl, int ret, char *buf, size_t n)
{
	if (!nl->err && ret == -EBADMSG)
		snprintf(buf, n,
			 "the module's answer is malformed or lacks required attributes");
	else if (!nl->err)
		snprintf(buf, n, "%s", strerror(-ret));
	else
		snprintf(buf, n, "%s%s%s", strerror(nl->err),
			 nl->extack[0] ? ": " : "", nl->extack);
	return buf;
}

/*
 * Report a failed request of command @what and return its exit code, with
 * the hints a migration command can need.
 */
static int nl_fail(const char *what, const struct pm_nl *nl, int ret)
{
	char why[320];

	if (!nl->err) {
		fprintf(stderr, "%s: %s: %s\n", pm_prog, what,
			pm_nl_why(nl, ret, why, sizeof(why)));
		return PM_EXIT_FAIL;
	}
	if ((nl->err == EPERM || nl->err == EACCES) && !nl->extack[0]) {
		fprintf(stderr,
			"%s: %s: permission denied: migrations need CAP_NET_ADMIN and CAP_SYS_ADMIN in the initial user namespace (run as root)\n",
			pm_prog, what);
		return PM_EXIT_PERM;
	}
	ret = pm_nl_report(nl, what);
	if (nl->err == EOPNOTSUPP && !nl->extack[0])
		fprintf(stderr,
			"%s: hint: the loaded partmob module may be too old for migrations\n",
			pm_prog);
	return ret;
}

static int parse_info(struct nlattr **tb, void *arg)
{
	struct pm_local *l = arg;

	if (!tb[PARTMOB_A_INFO_MODULE_VERSION] ||
	    !tb[PARTMOB_A_INFO_WIRE_VERSION] ||
	    !tb[PARTMOB_A_INFO_PAGE_SIZE] || !tb[PARTMOB_A_INFO_ARCH] ||
	    !tb[PARTMOB_A_INFO_FEATURES] ||
	    nla_len(tb[PARTMOB_A_INFO_WIRE_VERSION]) < 4 ||
	    nla_len(tb[PARTMOB_A_INFO_PAGE_SIZE]) < 4 ||
	    nla_len(tb[PARTMOB_A_INFO_FEATURES]) < 8)
		return -EBADMSG;
	nla_str(l->module_version, sizeof(l->module_version),
		tb[PARTMOB_A_INFO_MODULE_VERSION]);
	nla_str(l->arch, sizeof(l->arch), tb[PARTMOB_A_INFO_ARCH]);
	l->wire_version = nla_get_u32(tb[PARTMOB_A_INFO_WIRE_VERSION]);
	l->page_size = nla_get_u32(tb[PARTMOB_A_INFO_PAGE_SIZE]);
	l->features = nla_get_u64(tb[PARTMOB_A_INFO_FEATURES]);
	return 1;
}

/* The callback of pm_nl_request() returns >= 0 to go on; 1 marks "seen". */
struct once {
	int (*parse)(struct nlattr **tb, void *arg);
	void *arg;
	int seen;
};

static int parse_once(struct nlattr **tb, void *arg)
{
	struct once *o = arg;
	int ret;

	if (o->seen)
		return 0;	/* one answer is expected; ignore extras */
	ret = o->parse(tb, o->arg);
	if (ret < 0)
		return ret;
	o->seen = 1;
	return 0;
}

/* Send @msg and take exactly one answer through @parse. */
static int request_one(struct pm_nl *nl, struct nl_msg *msg,
		       int (*parse)(struct nlattr **, void *), void *arg)
{
	struct once o = { .parse = parse, .arg = arg };
	int ret;

	ret = pm_nl_request(nl, msg, parse_once, &o);
	if (ret < 0)
		return ret;
	if (!o.seen) {
		nl->err = 0;
		return -EBADMSG;
	}
	return 0;
}

int pm_local_get(struct pm_nl *nl, struct pm_local *l)
{
	struct nl_msg *msg;

	memset(l, 0, sizeof(*l));
	msg = pm_nl_msg(nl, PARTMOB_CMD_GET_INFO, 0);
	if (!msg)
		return -ENOMEM;
	return request_one(nl, msg, parse_info, l);
}

static int parse_region_attrs(struct nlattr **tb, void *arg)
{
	struct pm_region_attrs *r = arg;
	static const int u32s[] = {
		PARTMOB_A_REGION_FLAGS, PARTMOB_A_REGION_UID,
		PARTMOB_A_REGION_GID, PARTMOB_A_REGION_MODE,
	};
	uint32_t *dst[] = { &r->flags, &r->uid, &r->gid, &r->mode };
	size_t i;

	if (!tb[PARTMOB_A_REGION_SIZE] ||
	    nla_len(tb[PARTMOB_A_REGION_SIZE]) < 8)
		return -EBADMSG;
	r->size = nla_get_u64(tb[PARTMOB_A_REGION_SIZE]);
	r->mode = 0600;		/* the defaults of REGION_NEW */
	for (i = 0; i < sizeof(u32s) / sizeof(u32s[0]); i++) {
		struct nlattr *a = tb[u32s[i]];

		if (!a)
			continue;
		if (nla_len(a) < 4)
			return -EBADMSG;
		*dst[i] = nla_get_u32(a);
	}
	return 1;
}

int pm_region_attrs_get(struct pm_nl *nl, const char *name,
			struct pm_region_attrs *r)
{
	struct nl_msg *msg;

	memset(r, 0, sizeof(*r));
	msg = pm_nl_msg(nl, PARTMOB_CMD_REGION_GET, 0);
	if (!msg)
		return -ENOMEM;
	if (nla_put_string(msg, PARTMOB_A_REGION_NAME, name)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return request_one(nl, msg, parse_region_attrs, r);
}

static int parse_ctl_fd(struct nlattr **tb, void *arg)
{
	struct nlattr *a = tb[PARTMOB_A_MIG_CTL_FD];

	if (!a || nla_len(a) < 4 || nla_get_u32(a) > INT_MAX)
		return -EBADMSG;
	*(int *)arg = (int)nla_get_u32(a);
	return 1;
}

int pm_mig_start(struct pm_nl *nl, const struct pm_mig_start *a, int *ctl_fd)
{
	const struct pm_region_attrs *r = a->region;
	struct nl_msg *msg;
	int ret;

	*ctl_fd = -1;
	msg = pm_nl_msg(nl, PARTMOB_CMD_MIG_START, 0);
	if (!msg)
		return -ENOMEM;
	if (nla_put_string(msg, PARTMOB_A_REGION_NAME, a->name) ||
	    nla_put_u32(msg, PARTMOB_A_MIG_ROLE, a->role) ||
	    nla_put_u32(msg, PARTMOB_A_MIG_FD, (uint32_t)a->fd) ||
	    nla_put_u64(msg, PARTMOB_A_MIG_ID, a->mig_id) ||
	    (a->peer && a->peer[0] &&
	     nla_put_string(msg, PARTMOB_A_MIG_PEER, a->peer)) ||
	    (a->peer_boot_id && a->peer_boot_id[0] &&
	     nla_put_string(msg, PARTMOB_A_MIG_PEER_BOOT_ID,
			    a->peer_boot_id)) ||
	    (a->role == PARTMOB_MIG_SOURCE && a->max_bandwidth &&
	     nla_put_u64(msg, PARTMOB_A_MIG_MAX_BANDWIDTH, a->max_bandwidth)) ||
	    (a->flags &&
	     nla_put_u32(msg, PARTMOB_A_MIG_FLAGS, a->flags)) ||
	    (a->timeout_ms &&
	     nla_put_u32(msg, PARTMOB_A_MIG_TIMEOUT_MS, a->timeout_ms)) ||
	    (a->streams > 1 &&
	     nla_put_u32(msg, PARTMOB_A_MIG_STREAMS, a->streams)) ||
	    (r && (nla_put_u64(msg, PARTMOB_A_REGION_SIZE, r->size) ||
		   nla_put_u32(msg, PARTMOB_A_REGION_FLAGS, r->flags) ||
		   nla_put_u32(msg, PARTMOB_A_REGION_UID, r->uid) ||
		   nla_put_u32(msg, PARTMOB_A_REGION_GID, r->gid) ||
		   nla_put_u32(msg, PARTMOB_A_REGION_MODE, r->mode)))) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	ret = request_one(nl, msg, parse_ctl_fd, ctl_fd);
	if (ret < 0 && *ctl_fd >= 0) {
		close(*ctl_fd);
		*ctl_fd = -1;
	}
	return ret;
}

int pm_mig_attach(struct pm_nl *nl, const char *name, uint64_t id,
		  uint32_t index, int fd)
{
	struct nl_msg *msg;

	msg = pm_nl_msg(nl, PARTMOB_CMD_MIG_ATTACH, 0);
	if (!msg)
		return -ENOMEM;
	if (nla_put_string(msg, PARTMOB_A_REGION_NAME, name) ||
	    nla_put_u64(msg, PARTMOB_A_MIG_ID, id) ||
	    nla_put_u32(msg, PARTMOB_A_MIG_STREAM, index) ||
	    nla_put_u32(msg, PARTMOB_A_MIG_FD, (uint32_t)fd)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return pm_nl_request(nl, msg, NULL, NULL);
}

/* Every number of a MIG_GET answer, with its --json member. */
static const struct {
	int attr;
	bool u64;
	const char *key;
} mig_fields[] = {
	{ PARTMOB_A_MIG_ID, true, NULL },	/* printed as hex text */
	{ PARTMOB_A_MIG_ROLE, false, NULL },	/* printed as a name */
	{ PARTMOB_A_MIG_STATE, false, NULL },	/* printed as a name */
	{ PARTMOB_A_MIG_ROUND, false, "round" },
	{ PARTMOB_A_MIG_TOTAL_BYTES, true, "total_bytes" },
	{ PARTMOB_A_MIG_TRANSFERRED, true, "transferred_bytes" },
	{ PARTMOB_A_MIG_REMAINING, true, "remaining_bytes" },
	{ PARTMOB_A_MIG_PAGES_NORMAL, true, "pages_normal" },
	{ PARTMOB_A_MIG_PAGES_ZERO, true, "pages_zero" },
	{ PARTMOB_A_MIG_ROUND_BYTES, true, "round_bytes" },
	{ PARTMOB_A_MIG_ROUND_NS, true, "round_ns" },
	{ PARTMOB_A_MIG_ROUND_DIRTIED, true, "round_dirtied_pages" },
	{ PARTMOB_A_MIG_THROUGHPUT, true, "throughput_bps" },
	{ PARTMOB_A_MIG_DIRTY_RATE, true, "dirty_rate_bps" },
	{ PARTMOB_A_MIG_SETUP_NS, true, "setup_ns" },
	{ PARTMOB_A_MIG_TOTAL_NS, true, "total_ns" },
	{ PARTMOB_A_MIG_DOWNTIME_NS, true, "downtime_ns" },
	{ PARTMOB_A_MIG_VERIFY_NS, true, "verify_ns" },
	{ PARTMOB_A_MIG_HARVEST_NS, true, "harvest_ns" },
	{ PARTMOB_A_MIG_SOCK_NS, true, "sock_ns" },
	{ PARTMOB_A_MIG_WAIT_NS, true, "wait_ns" },
	{ PARTMOB_A_MIG_STREAMS, false, "streams" },
	{ PARTMOB_A_MIG_ERRNO, false, "errno" },
};

static int parse_mig_into(struct nlattr **tb, struct pm_mig *m)
{
	struct nlattr *name = tb[PARTMOB_A_REGION_NAME];
	size_t i;

	memset(m, 0, sizeof(*m));
	if (!tb[PARTMOB_A_MIG_STATE] || !tb[PARTMOB_A_MIG_ROLE])
		return -EBADMSG;
	if (name)
		nla_str(m->name, sizeof(m->name), name);
	for (i = 0; i < sizeof(mig_fields) / sizeof(mig_fields[0]); i++) {
		struct nlattr *a = tb[mig_fields[i].attr];

		if (!a)
			continue;
		if (nla_len(a) < (mig_fields[i].u64 ? 8 : 4))
			return -EBADMSG;
		m->val[mig_fields[i].attr] = mig_fields[i].u64 ?
			nla_get_u64(a) : nla_get_u32(a);
		m->has[mig_fields[i].attr] = true;
	}
	if (tb[PARTMOB_A_MIG_PEER])
		nla_str(m->peer, sizeof(m->peer), tb[PARTMOB_A_MIG_PEER]);
	if (tb[PARTMOB_A_MIG_PEER_BOOT_ID])
		nla_str(m->peer_boot_id, sizeof(m->peer_boot_id),
			tb[PARTMOB_A_MIG_PEER_BOOT_ID]);
	if (tb[PARTMOB_A_MIG_ERROR])
		nla_str(m->error, sizeof(m->error), tb[PARTMOB_A_MIG_ERROR]);
	return 1;
}

static int parse_mig(struct nlattr **tb, void *arg)
{
	return parse_mig_into(tb, arg);
}

int pm_mig_get(struct pm_nl *nl, const char *name, struct pm_mig *m)
{
	struct nl_msg *msg;

	msg = pm_nl_msg(nl, PARTMOB_CMD_MIG_GET, 0);
	if (!msg)
		return -ENOMEM;
	if (nla_put_string(msg, PARTMOB_A_REGION_NAME, name)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return request_one(nl, msg, parse_mig, m);
}

int pm_mig_get_fd(struct pm_nl *nl, int ctl_fd, struct pm_mig *m)
{
	struct nl_msg *msg;

	msg = pm_nl_msg(nl, PARTMOB_CMD_MIG_GET, 0);
	if (!msg)
		return -ENOMEM;
	if (nla_put_u32(msg, PARTMOB_A_MIG_CTL_FD, (uint32_t)ctl_fd)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return request_one(nl, msg, parse_mig, m);
}

struct mig_list {
	struct pm_mig *m;
	size_t n, cap;
};

static int parse_mig_list(struct nlattr **tb, void *arg)
{
	struct mig_list *l = arg;
	int ret;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct pm_mig *m = realloc(l->m, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		l->m = m;
		l->cap = cap;
	}
	ret = parse_mig_into(tb, &l->m[l->n]);
	if (ret < 0 || !l->m[l->n].name[0])
		return -EBADMSG;
	l->n++;
	return 0;
}

int pm_mig_dump(struct pm_nl *nl, struct pm_mig **list, size_t *n)
{
	struct mig_list l = { 0 };
	struct nl_msg *msg;
	int ret;

	*list = NULL;
	*n = 0;
	msg = pm_nl_msg(nl, PARTMOB_CMD_MIG_GET, NLM_F_DUMP);
	if (!msg)
		return -ENOMEM;
	ret = pm_nl_request(nl, msg, parse_mig_list, &l);
	if (ret < 0) {
		free(l.m);
		return ret;
	}
	*list = l.m;
	*n = l.n;
	return 0;
}

int pm_mig_control(struct pm_nl *nl, const char *name, uint32_t action)
{
	struct nl_msg *msg;

	msg = pm_nl_msg(nl, PARTMOB_CMD_MIG_CONTROL, 0);
	if (!msg)
		return -ENOMEM;
	if (nla_put_string(msg, PARTMOB_A_REGION_NAME, name) ||
	    nla_put_u32(msg, PARTMOB_A_MIG_ACTION, action)) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	return pm_nl_request(nl, msg, NULL, NULL);
}

int pm_mig_commit(struct pm_nl *nl, const char *const *names, int n)
{
	struct nlattr *nest;
	struct nl_msg *msg;
	int i;

	msg = pm_nl_msg(nl, PARTMOB_CMD_MIG_COMMIT, 0);
	if (!msg)
		return -ENOMEM;
	nest = nla_nest_start(msg, PARTMOB_A_MIG_GROUP);
	if (!nest)
		goto err;
	for (i = 0; i < n; i++)
		if (nla_put_string(msg, PARTMOB_A_REGION_NAME, names[i]))
			goto err;
	nla_nest_end(msg, nest);
	return pm_nl_request(nl, msg, NULL, NULL);
err:
	nlmsg_free(msg);
	return -ENOMEM;
}

const char *pm_mig_state_name(uint64_t state)
{
	switch (state) {
	case PARTMOB_MIG_S_SETUP:
		return "setup";
	case PARTMOB_MIG_S_ROUND:
		return "round";
	case PARTMOB_MIG_S_WAITING:
		return "waiting";
	case PARTMOB_MIG_S_STOP_COPY:
		return "stop-copy";
	case PARTMOB_MIG_S_PREPARING:
		return "preparing";
	case PARTMOB_MIG_S_PREPARED:
		return "prepared";
	case PARTMOB_MIG_S_COMMITTED:
		return "committed";
	case PARTMOB_MIG_S_IN_DOUBT:
		return "in-doubt";
	case PARTMOB_MIG_S_COMPLETED:
		return "completed";
	case PARTMOB_MIG_S_FAILED:
		return "failed";
	}
	return "unknown";
}

const char *pm_mig_role_name(uint64_t role)
{
	switch (role) {
	case PARTMOB_MIG_SOURCE:
		return "source";
	case PARTMOB_MIG_DEST:
		return "destination";
	}
	return "unknown";
}

/* Before the decision: ABORT still applies (source states). */
static bool before_decision(uint64_t state)
{
	return state == PARTMOB_MIG_S_SETUP || state == PARTMOB_MIG_S_ROUND ||
	       state == PARTMOB_MIG_S_WAITING ||
	       state == PARTMOB_MIG_S_STOP_COPY ||
	       state == PARTMOB_MIG_S_PREPARING;
}

/*
 * Remaining / throughput in ms; UINT64_MAX when it cannot be told. The
 * rate is the slower of the whole migration's and the last round's, once
 * a round after the first pass has been answered: the last round sends
 * dirty pages, scattered like those of that round, at a lower rate than a
 * first pass of contiguous pages, and its time includes the answer's
 * round trip, as the stop-copy round's does.
 */
static uint64_t expected_downtime_ms(const struct pm_mig *m)
{
	uint64_t rem = PM_MIG(m, REMAINING), tp = PM_MIG(m, THROUGHPUT);
	uint64_t rb = PM_MIG(m, ROUND_BYTES), rns = PM_MIG(m, ROUND_NS);
	double last;

	if (!m->has[PARTMOB_A_MIG_REMAINING])
		return UINT64_MAX;
	if (PM_MIG(m, ROUND) >= 2 && rb && rns) {
		last = (double)rb * 1e9 / (double)rns;
		if (last < (double)tp)
			tp = last < 1 ? 1 : (uint64_t)last;
	}
	if (!rem)
		return 0;
	if (!tp)
		return UINT64_MAX;
	if (rem > UINT64_MAX / 1000)
		return UINT64_MAX;
	return (rem * 1000 + tp - 1) / tp;
}

static void mig_id_text(uint64_t id, char *buf, size_t n)
{
	snprintf(buf, n, "%016" PRIx64, id);
}

void pm_mig_json(struct json *j, const struct pm_mig *m)
{
	char id[20];
	size_t i;
	uint64_t exp;

	json_open(j, NULL);
	json_str(j, "name", m->name);
	if (m->has[PARTMOB_A_MIG_ID]) {
		mig_id_text(PM_MIG(m, ID), id, sizeof(id));
		json_str(j, "mig_id", id);
	}
	json_str(j, "role", pm_mig_role_name(PM_MIG(m, ROLE)));
	json_str(j, "state", pm_mig_state_name(PM_MIG(m, STATE)));
	if (m->peer[0])
		json_str(j, "peer", m->peer);
	if (m->peer_boot_id[0])
		json_str(j, "peer_boot_id", m->peer_boot_id);
	for (i = 0; i < sizeof(mig_fields) / sizeof(mig_fields[0]); i++)
		if (mig_fields[i].key && m->has[mig_fields[i].attr])
			json_u64(j, mig_fields[i].key,
				 m->val[mig_fields[i].attr]);
	exp = expected_downtime_ms(m);
	if (PM_MIG(m, ROLE) == PARTMOB_MIG_SOURCE && exp != UINT64_MAX &&
	    before_decision(PM_MIG(m, STATE)))
		json_u64(j, "expected_downtime_ms", exp);
	if (m->error[0])
		json_str(j, "error", m->error);
	json_close(j);
}

/* ---- TCP ---------------------------------------------------------------- */

int pm_split_hostport(const char *s, char *host, size_t hn, char *port,
		      size_t pn, char *why, size_t wn)
{
	const char *colon = strchr(s, ':'), *p = NULL, *orig = s;
	size_t len;
	uint64_t v;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || (end[1] && end[1] != ':')) {
			snprintf(why, wn, "'%s': expected [ADDRESS]:PORT", s);
			return -EINVAL;
		}
		len = (size_t)(end - s - 1);
		s++;
		if (end[1] == ':')
			p = end + 2;
	} else if (colon && !strchr(colon + 1, ':')) {
		len = (size_t)(colon - s);	/* host:port */
		p = colon + 1;
	} else {
		len = strlen(s);	/* a host, or a bare IPv6 address */
	}
	if (!len || len >= hn) {
		snprintf(why, wn, "'%s': bad host", orig);
		return -EINVAL;
	}
	memcpy(host, s, len);
	host[len] = '\0';
	if (p && parse_uint(p, 1, 65535, &v)) {
		snprintf(why, wn, "'%s': the port must be 1 to 65535", orig);
		return -EINVAL;
	}
	snprintf(port, pn, "%" PRIu64, p ? v : (uint64_t)PARTMOB_HS_PORT);
	return 0;
}

void pm_addr_text(const void *sa, unsigned int len, char *host, size_t n,
		  unsigned int *port)
{
	const struct sockaddr *s = sa;

	snprintf(host, n, "?");
	if (port)
		*port = 0;
	if (s->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = sa;

		inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)n);
		if (port)
			*port = ntohs(in->sin_port);
	} else if (s->sa_family == AF_INET6 &&
		   len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], host,
				  (socklen_t)n);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, host,
				  (socklen_t)n);
		if (port)
			*port = ntohs(in6->sin6_port);
	}
}

/* Connect within @deadline. Return: the fd (blocking) or -errno. */
static int connect_one(const struct addrinfo *ai, uint64_t deadline_ns)
{
	struct pollfd p;
	socklen_t len = sizeof(int);
	int fd, err = 0, ret;
	uint64_t now;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
		err = -errno;
		goto err_fd;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	for (;;) {
		now = pm_now_ns();
		if (now >= deadline_ns) {
			err = -ETIMEDOUT;
			goto err_fd;
		}
		ret = poll(&p, 1, (int)((deadline_ns - now) / 1000000 + 1));
		if (ret > 0)
			break;
		if (ret < 0 && errno != EINTR) {
			err = -errno;
			goto err_fd;
		}
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)) {
		err = -errno;
		goto err_fd;
	}
	if (err) {
		err = -err;
		goto err_fd;
	}
	/* The module gets the socket as connect() left it: blocking. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;

err_fd:
	close(fd);
	return err;
}

int pm_hs_exchange(const char *host, const char *port, struct pm_tls *tls,
		   const struct pm_hs_hello *h, struct pm_hs_reply *r,
		   int *fd_out, char *addr, size_t an, char *why, size_t wn)
{
	return pm_hs_exchange_wait(host, port, tls, h, r, fd_out, addr, an,
				   why, wn, PM_HS_TIMEOUT_MS);
}

int pm_hs_exchange_wait(const char *host, const char *port,
			struct pm_tls *tls,
			const struct pm_hs_hello *h, struct pm_hs_reply *r,
			int *fd_out, char *addr, size_t an, char *why,
			size_t wn, int reply_ms)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV,
	};
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint64_t deadline = pm_now_ns() + PM_HS_TIMEOUT_MS * 1000000ULL;
	struct addrinfo *res, *ai;
	char text[INET6_ADDRSTRLEN];
	unsigned int p;
	int fd = -ENOENT, ret;

	if (fd_out)
		*fd_out = -1;
	snprintf(addr, an, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host,
		 port);
	ret = getaddrinfo(host, port, &hints, &res);
	if (ret) {
		snprintf(why, wn, "cannot resolve %s: %s", host,
			 ret == EAI_SYSTEM ? strerror(errno) : gai_strerror(ret));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, deadline);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(why, wn, "cannot connect to %s port %s: %s", host, port,
			 strerror(-fd));
		return fd;
	}
	if (!getpeername(fd, (struct sockaddr *)&ss, &sl)) {
		pm_addr_text(&ss, sl, text, sizeof(text), &p);
		snprintf(addr, an, strchr(text, ':') ? "[%s]:%u" : "%s:%u",
			 text, p);
	}
	if (tls) {
		char inner[256];

		ret = pm_tls_connect(tls, fd, host, PM_HS_TIMEOUT_MS, inner,
				     sizeof(inner));
		if (ret) {
			snprintf(why, wn, "%s: %s", addr, inner);
			close(fd);
			return ret;
		}
	}
	ret = pm_hs_send_hello(fd, h, PM_HS_TIMEOUT_MS);
	if (ret) {
		snprintf(why, wn, "sending the hello to %s: %s", addr,
			 ret == -ETIMEDOUT ? "timed out" : strerror(-ret));
		close(fd);
		return ret;
	}
	ret = pm_hs_recv_reply(fd, r, reply_ms, why, wn);
	if (ret) {
		char inner[256];

		if (ret != -EIO || !tls ||
		    pm_tls_peer_alert(fd, inner, sizeof(inner)))
			snprintf(inner, sizeof(inner), "%s", why);
		snprintf(why, wn, "the reply of %s: %s", addr, inner);
		close(fd);
		return ret;
	}
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return 0;
}

/* ---- option parsing ------------------------------------------------------ */

int pm_tls_opt(const char *cmd, struct pm_tls_opts *t, int opt,
	       const char *arg)
{
	switch (opt) {
	case OPT_PSK_FILE:
		t->psk_file = arg;
		return -1;
	case OPT_INSECURE:
		t->insecure = true;
		return -1;
	case OPT_CERT:
		t->cert_file = arg;
		return -1;
	case OPT_KEY:
		t->key_file = arg;
		return -1;
	case OPT_CA:
		t->ca_file = arg;
		return -1;
	case OPT_PEER_NAME:
		if (!arg[0] || strlen(arg) > 253)
			return pm_usage_error(cmd,
					      "--peer-name: a host name or address of 1 to 253 characters");
		if (t->nnames == PM_TLS_NAMES_MAX)
			return pm_usage_error(cmd,
					      "--peer-name: at most %d of them",
					      PM_TLS_NAMES_MAX);
		t->names[t->nnames++] = arg;
		return -1;
	}
	return PM_EXIT_USAGE;
}

int pm_mig_parse(int argc, char **argv, const char *cmd, struct pm_opts *o,
		 const struct option *extra, void (*help)(FILE *),
		 pm_opt_fn fn, void *ctx, int nargs_min, int nargs_max,
		 char **args, int *nargs)
{
	struct option longopts[24];
	int i, n = 0, opt, ret;

	longopts[n++] = (struct option){ "json", no_argument, NULL, 'j' };
	longopts[n++] = (struct option){ "pretty", no_argument, NULL, 'p' };
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	for (i = 0; extra && extra[i].name && n < 23; i++)
		longopts[n++] = extra[i];
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };

	/* 0, not 1: re-initialise getopt, main() parsed in "+" order. */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":jph", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			o->json = true;
			break;
		case 'p':
			o->json = true;
			o->pretty = true;
			break;
		case 'h':
			help(stdout);
			return PM_EXIT_OK;
		case ':':
			return pm_usage_error(cmd,
					      "option '%s' needs an argument",
					      argv[optind - 1]);
		case '?':
			return pm_usage_error(cmd, "unknown option '%s'",
					      argv[optind - 1]);
		default:
			ret = fn ? fn(ctx, opt, optarg) : PM_EXIT_USAGE;
			if (ret >= 0)
				return ret;
		}
	}
	n = argc - optind;
	if (n < nargs_min)
		return pm_usage_error(cmd, "missing NAME");
	if (n > nargs_max)
		return pm_usage_error(cmd, "unexpected argument '%s'",
				      argv[optind + nargs_max]);
	for (i = 0; i < n; i++)
		args[i] = argv[optind + i];
	*nargs = n;
	return -1;
}

static int check_name(const char *cmd, const char *what, const char *name)
{
	const char *bad = pm_hs_bad_name(name);

	if (bad)
		return pm_usage_error(cmd, "bad %s '%s': %s", what, name, bad);
	return -1;
}

/* ---- the source: validate and start -------------------------------------- */

struct src_opts {
	const char *cmd;		/* "start", "validate" */
	const char *to, *dest_name, *cgroup, *qmp;
	const char *dest_names[PARTMOB_HS_PATHS_MAX];	/* one per region */
	int ndest;
	struct pm_tls_opts tls;
	struct pm_tls *ctx;		/* of tls: NULL with --insecure */
	uint64_t downtime_ms, bandwidth, max_rounds, timeout_s, link_ms;
	uint64_t streams;
	bool stall_switchover, verify;
	uint32_t npaths;
	struct pm_hs_path paths[PARTMOB_HS_PATHS_MAX];
	char host[256], port[8];
};

static int src_opt(void *ctx, int opt, const char *arg)
{
	struct src_opts *so = ctx;
	const char *err;
	char why[PARTMOB_HS_PATH_MAX + 64], file[PATH_MAX];
	int ret;

	switch (opt) {
	case OPT_TO:
		so->to = arg;
		return -1;
	case OPT_PSK_FILE:
	case OPT_INSECURE:
	case OPT_CERT:
	case OPT_KEY:
	case OPT_CA:
	case OPT_PEER_NAME:
		return pm_tls_opt(so->cmd, &so->tls, opt, arg);
	case OPT_VERIFY:
		so->verify = true;
		return -1;
	case OPT_QMP:
		so->qmp = arg;
		return -1;
	case OPT_DEST_NAME:
		if (so->ndest == PARTMOB_HS_PATHS_MAX)
			return pm_usage_error(so->cmd,
					      "at most %d --dest-name options",
					      PARTMOB_HS_PATHS_MAX);
		so->dest_names[so->ndest++] = arg;
		return check_name(so->cmd, "--dest-name", arg);
	case OPT_DOWNTIME:
		if (parse_uint(arg, 0, 86400000, &so->downtime_ms))
			return pm_usage_error(so->cmd,
				"--downtime-limit: '%s' is not a number of milliseconds",
				arg);
		return -1;
	case OPT_BANDWIDTH:
		err = pm_parse_bytes(arg, true, &so->bandwidth);
		if (err)
			return pm_usage_error(so->cmd, "--max-bandwidth '%s': %s",
					      arg, err);
		return -1;
	case OPT_ROUNDS:
		if (parse_uint(arg, 1, 1000000, &so->max_rounds))
			return pm_usage_error(so->cmd,
				"--max-rounds: '%s' is not a number from 1 to 1000000",
				arg);
		return -1;
	case OPT_TIMEOUT:
		if (parse_uint(arg, 1, 31536000, &so->timeout_s))
			return pm_usage_error(so->cmd,
				"--timeout: '%s' is not a number of seconds (at least 1)",
				arg);
		return -1;
	case OPT_LINK_TIMEOUT:
		return pm_link_timeout_opt(so->cmd, arg, &so->link_ms);
	case OPT_STREAMS:
		if (parse_uint(arg, 1, PARTMOB_MIG_STREAMS_MAX, &so->streams))
			return pm_usage_error(so->cmd,
				"--streams: '%s' is not a number from 1 to %d",
				arg, PARTMOB_MIG_STREAMS_MAX);
		return -1;
	case OPT_STALL:
		if (!strcmp(arg, "abort"))
			so->stall_switchover = false;
		else if (!strcmp(arg, "switchover"))
			so->stall_switchover = true;
		else
			return pm_usage_error(so->cmd,
				"--on-stall: '%s' is neither abort nor switchover",
				arg);
		return -1;
	case OPT_CGROUP:
		snprintf(file, sizeof(file), "%s/cgroup.freeze", arg);
		if (access(file, W_OK))
			return pm_usage_error(so->cmd,
				"--freeze-cgroup: %s: %s (a cgroup v2 directory is needed)",
				file, strerror(errno));
		so->cgroup = arg;
		return -1;
	case OPT_REQUIRE:
		if (so->npaths == PARTMOB_HS_PATHS_MAX)
			return pm_usage_error(so->cmd,
				"at most %d --require-path options",
				PARTMOB_HS_PATHS_MAX);
		if (arg[0] != '/')
			return pm_usage_error(so->cmd,
				"--require-path: '%s' is not an absolute path",
				arg);
		if (strlen(arg) >= PARTMOB_HS_PATH_MAX)
			return pm_usage_error(so->cmd,
				"--require-path: paths are at most %d characters",
				PARTMOB_HS_PATH_MAX - 1);
		snprintf(so->paths[so->npaths].path, PARTMOB_HS_PATH_MAX, "%s",
			 arg);
		ret = pm_path_size(arg, &so->paths[so->npaths].size, why,
				   sizeof(why));
		if (ret)
			return pm_usage_error(so->cmd, "--require-path %s", why);
		so->npaths++;
		return -1;
	}
	return PM_EXIT_USAGE;
}

static const struct option src_longopts[] = {
	{ "to", required_argument, NULL, OPT_TO },
	PM_TLS_LONGOPTS,
	{ "dest-name", required_argument, NULL, OPT_DEST_NAME },
	{ "require-path", required_argument, NULL, OPT_REQUIRE },
	{ "downtime-limit", required_argument, NULL, OPT_DOWNTIME },
	{ "max-bandwidth", required_argument, NULL, OPT_BANDWIDTH },
	{ "max-rounds", required_argument, NULL, OPT_ROUNDS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "on-stall", required_argument, NULL, OPT_STALL },
	{ "freeze-cgroup", required_argument, NULL, OPT_CGROUP },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "qmp", required_argument, NULL, OPT_QMP },
	{ "link-timeout", required_argument, NULL, OPT_LINK_TIMEOUT },
	{ "streams", required_argument, NULL, OPT_STREAMS },
	{ NULL, 0, NULL, 0 },
};

/* validate takes the first five; start all. */
#define VALIDATE_LONGOPTS 9

static int src_parse_n(int argc, char **argv, struct src_opts *so,
		       struct pm_opts *o, void (*help)(FILE *), char **names,
		       int max, int *n);

static int src_parse(int argc, char **argv, struct src_opts *so,
		     struct pm_opts *o, void (*help)(FILE *), char **name)
{
	int n;

	return src_parse_n(argc, argv, so, o, help, name, 1, &n);
}

static int src_parse_n(int argc, char **argv, struct src_opts *so,
		       struct pm_opts *o, void (*help)(FILE *), char **names,
		       int max, int *n)
{
	struct option opts[sizeof(src_longopts) / sizeof(src_longopts[0])];
	char why[320];
	int ret, k;
	size_t i, no = sizeof(src_longopts) / sizeof(src_longopts[0]) - 1;

	if (!strcmp(so->cmd, "validate"))
		no = VALIDATE_LONGOPTS;
	for (i = 0; i < no; i++)
		opts[i] = src_longopts[i];
	opts[no] = (struct option){ NULL, 0, NULL, 0 };
	ret = pm_mig_parse(argc, argv, so->cmd, o, opts, help, src_opt, so, 1,
			   max, names, n);
	if (ret >= 0)
		return ret;
	for (k = 0; k < *n; k++) {
		ret = check_name(so->cmd, "region name", names[k]);
		if (ret >= 0)
			return ret;
	}
	if (!so->to)
		return pm_usage_error(so->cmd, "missing --to HOST[:PORT]");
	if (pm_split_hostport(so->to, so->host, sizeof(so->host), so->port,
			      sizeof(so->port), why, sizeof(why)))
		return pm_usage_error(so->cmd, "--to %s", why);
	if (*n > 1 && !so->qmp)
		return pm_usage_error(so->cmd,
				      "several regions move together only as the memory of one QEMU guest (--qmp)");
	if (so->ndest && so->ndest != *n)
		return pm_usage_error(so->cmd,
				      "%d --dest-name for %d regions: give one per region, in order",
				      so->ndest, *n);
	for (k = 0; k < *n; k++)
		so->dest_names[k] = so->ndest ? so->dest_names[k] : names[k];
	so->dest_name = so->dest_names[0];
	return pm_tls_opts_check(so->cmd, &so->tls);
}

/* so->ctx from --psk-file (NULL for --insecure). Return: -1 or exit. */
static int src_tls(struct src_opts *so, const char *name)
{
	char why[400];

	if (pm_tls_new(&so->tls, false, &so->ctx, why, sizeof(why))) {
		fprintf(stderr, "%s: %s %s: %s\n", pm_prog, so->cmd, name, why);
		return PM_EXIT_FAIL;
	}
	return -1;
}

/*
 * The hello of the source for region @name: this host from GET_INFO, the
 * region from REGION_GET. Return: -1 to go on, or the exit code (reported).
 */
static int src_hello(struct pm_nl *nl, struct src_opts *so, const char *name,
		     uint16_t op, struct pm_hs_hello *h)
{
	struct pm_region_attrs ra;
	struct pm_local l;
	char what[64];
	ssize_t got;
	int ret;

	snprintf(what, sizeof(what), "%s %s", so->cmd, name);
	ret = pm_local_get(nl, &l);
	if (ret < 0)
		return nl_fail(what, nl, ret);
	ret = pm_boot_id(l.boot_id, sizeof(l.boot_id));
	if (ret < 0) {
		fprintf(stderr, "%s: %s: cannot read this host's boot id: %s\n",
			pm_prog, what, strerror(-ret));
		return PM_EXIT_FAIL;
	}
	if (!(l.features & PARTMOB_F_MIGRATION)) {
		fprintf(stderr,
			"%s: %s: the loaded partmob module (version %s) does not support migration\n",
			pm_prog, what, l.module_version);
		return PM_EXIT_FAIL;
	}
	ret = pm_region_attrs_get(nl, name, &ra);
	if (ret == -ENOENT && nl->err == ENOENT) {
		fprintf(stderr, "%s: %s: no region %s on this host\n", pm_prog,
			what, name);
		return PM_EXIT_FAIL;
	}
	if (ret < 0)
		return nl_fail(what, nl, ret);

	memset(h, 0, sizeof(*h));
	h->op = op;
	h->wire_version = l.wire_version;
	h->page_size = l.page_size;
	h->features = l.features;
	h->region_size = ra.size;
	h->uid = ra.uid;
	h->gid = ra.gid;
	h->mode = ra.mode;
	h->region_flags = ra.flags;
	h->npaths = so->npaths;
	memcpy(h->paths, so->paths, sizeof(h->paths));
	snprintf(h->arch, sizeof(h->arch), "%s", l.arch);
	snprintf(h->module_version, sizeof(h->module_version), "%s",
		 l.module_version);
	snprintf(h->region, sizeof(h->region), "%s", so->dest_name);
	snprintf(h->boot_id, sizeof(h->boot_id), "%s", l.boot_id);
	do {
		got = getrandom(&h->mig_id, sizeof(h->mig_id), 0);
	} while ((got < 0 && errno == EINTR) || (got == sizeof(h->mig_id) &&
						 !h->mig_id));
	if (got != sizeof(h->mig_id)) {
		fprintf(stderr, "%s: %s: getrandom: %s\n", pm_prog, what,
			got < 0 ? strerror(errno) : "short read");
		return PM_EXIT_FAIL;
	}
	return -1;
}

/* A refusal: one line on stderr, and with --json the result object. */
static int refused(struct src_opts *so, struct pm_opts *o, const char *name,
		   const char *addr, const struct pm_hs_reply *r)
{
	struct json j;

	fprintf(stderr, "%s: %s %s: refused by %s (%s): %s\n", pm_prog,
		so->cmd, name, addr, pm_hs_status_name(r->status),
		r->message[0] ? r->message : "no reason given");
	if (o->json) {
		json_init(&j, stdout, o->pretty);
		json_open(&j, NULL);
		json_str(&j, "result", "refused");
		json_str(&j, "region", name);
		json_str(&j, "peer", addr);
		json_str(&j, "status", pm_hs_status_name(r->status));
		json_str(&j, "message", r->message);
		json_close(&j);
		json_end(&j);
	}
	return PM_EXIT_REFUSED;
}

static void validate_help(FILE *f)
{
	fprintf(f,
		"Usage: %s validate NAME --to HOST[:PORT]\n"
		"                  (--psk-file F | --cert C --key K --ca A | --insecure)\n"
		"                  [--peer-name N]... [--dest-name N] [--require-path P]...\n"
		"                  [-j|--json]\n"
		"\n"
		"Ask the 'partmobctl listen' at HOST (port %d by default) whether it\n"
		"would receive the region NAME: the same handshake as 'start', with\n"
		"nothing migrated.\n"
		"\n"
		"  --to HOST[:PORT]    the destination; [ADDRESS]:PORT for IPv6\n"
		"  --psk-file F        authenticate and encrypt with the first key of F\n"
		"                      (TLS 1.3, IDENTITY:HEXKEY lines, mode 0600)\n"
		"  --cert C --key K --ca A\n"
		"                      or with certificates, as for start\n"
		"  --peer-name N       the listener's certificate must name N, not HOST\n"
		"  --insecure          plain TCP: no authentication, no encryption\n"
		"  --dest-name N       the region's name on the destination (default NAME)\n"
		"  --require-path P    an absolute path that must exist on the destination\n"
		"                      with the size it has here (block devices, files);\n"
		"                      up to %d times\n"
		"\n"
		"Exit status 0 if the destination would accept, 5 with its reason if\n"
		"not. Needs CAP_NET_ADMIN.\n",
		pm_prog, PARTMOB_HS_PORT, PARTMOB_HS_PATHS_MAX);
}

int cmd_validate(int argc, char **argv, struct pm_opts *o)
{
	struct src_opts so = { .cmd = "validate" };
	struct pm_hs_hello h;
	struct pm_hs_reply r;
	struct pm_nl nl;
	struct json j;
	char addr[300], why[400], mem[32];
	char *name;
	int ret;

	ret = src_parse(argc, argv, &so, o, validate_help, &name);
	if (ret >= 0)
		return ret;
	ret = pm_nl_open(&nl);
	if (ret)
		return ret;
	ret = src_hello(&nl, &so, name, PARTMOB_HS_OP_VALIDATE, &h);
	pm_nl_close(&nl);
	if (ret >= 0)
		return ret;
	ret = src_tls(&so, name);
	if (ret >= 0)
		return ret;
	ret = pm_hs_exchange(so.host, so.port, so.ctx, &h, &r, NULL, addr,
			     sizeof(addr), why, sizeof(why));
	pm_tls_free(so.ctx);
	if (ret) {
		fprintf(stderr, "%s: validate %s: %s\n", pm_prog, name, why);
		return PM_EXIT_FAIL;
	}
	if (r.status != PARTMOB_HS_OK)
		return refused(&so, o, name, addr, &r);
	if (o->json) {
		json_init(&j, stdout, o->pretty);
		json_open(&j, NULL);
		json_str(&j, "result", "accepted");
		json_str(&j, "region", name);
		json_str(&j, "dest_name", so.dest_name);
		json_str(&j, "peer", addr);
		json_u64(&j, "mem_available", r.mem_available);
		if (r.message[0])
			json_str(&j, "message", r.message);
		json_close(&j);
		json_end(&j);
	} else {
		printf("%s: %s would accept it as %s (MemAvailable %s)\n", name,
		       addr, so.dest_name,
		       pm_human(r.mem_available, mem, sizeof(mem)));
	}
	return PM_EXIT_OK;
}

/* ---- start: watching and steering the migration -------------------------- */

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

struct run;

/*
 * --qmp: a QEMU guest whose memory backends are the regions of @runs.
 * They share one decision (PARTMOB_CMD_MIG_COMMIT of all of them), one
 * switch-over (when every region's policy would switch over), and one
 * fate: a failure of one aborts all.
 */
struct vmgroup {
	struct run *runs;
	int n;
	struct pm_vm vm;
	int dev_fd;			/* the device-state connection */
	bool switched;			/* vCPUs stopped, SWITCHOVER sent */
	bool commit_sent;		/* MIG_COMMIT done */
	bool aborting;
	bool refused;			/* the destination refused the guest */
	uint64_t stop_ns, prepared_ns, dev_start_ns, dev_done_ns, resumed_ns;
};

struct run {
	const char *name;
	struct src_opts *so;
	struct pm_opts *o;
	struct pm_nl *nl;
	int ctl;
	uint64_t mig_id;
	char peer[300];
	uint64_t t0;			/* ns, at MIG_START */
	struct pm_mig m;		/* the last answer */
	bool have;			/* m holds an answer */
	uint64_t last_state, last_round;
	uint64_t acted_round;		/* WAITING round the policy acted on */
	uint64_t drain_left;		/* remaining at the last drain tick; 0: none */
	bool aborting;			/* we sent ABORT (or tried to) */
	char abort_why[400];
	bool cg_frozen;
	const char *dest_name;
	struct vmgroup *g;		/* --qmp: the guest this region is of */
	bool ready;			/* group: the policy would switch over */
	bool ended;			/* final state read */
	bool progress;			/* a progress line on stdout */
	bool line_shown;
	int signals;
};

/* A source's states before the decision: PREPARED only when held. */
static bool src_before_decision(uint64_t state)
{
	return before_decision(state) || state == PARTMOB_MIG_S_PREPARED;
}

static uint64_t elapsed_ms(const struct run *r)
{
	return (pm_now_ns() - r->t0) / 1000000;
}

static void clear_line(struct run *r)
{
	if (r->line_shown) {
		fputs("\r\033[K", stdout);
		fflush(stdout);
		r->line_shown = false;
	}
}

/* A message on stderr that does not mangle the progress line. */
static void say(struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(struct run *r, const char *fmt, ...)
{
	va_list ap;

	clear_line(r);
	fprintf(stderr, "%s: start %s: ", pm_prog, r->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void json_action(struct run *r, const char *action, const char *why)
{
	struct json j;

	if (!r->o->json)
		return;
	json_init(&j, stdout, r->o->pretty);
	json_open(&j, NULL);
	json_str(&j, "event", "action");
	json_str(&j, "action", action);
	json_u64(&j, "round", PM_MIG(&r->m, ROUND));
	json_u64(&j, "elapsed_ms", elapsed_ms(r));
	if (why && why[0])
		json_str(&j, "reason", why);
	json_close(&j);
	json_end(&j);
}

static void json_state(struct run *r)
{
	const struct pm_mig *m = &r->m;
	uint64_t exp = expected_downtime_ms(m);
	struct json j;

	json_init(&j, stdout, r->o->pretty);
	json_open(&j, NULL);
	json_str(&j, "event", "state");
	json_str(&j, "state", pm_mig_state_name(PM_MIG(m, STATE)));
	json_u64(&j, "round", PM_MIG(m, ROUND));
	json_u64(&j, "elapsed_ms", elapsed_ms(r));
	json_u64(&j, "total_bytes", PM_MIG(m, TOTAL_BYTES));
	json_u64(&j, "transferred_bytes", PM_MIG(m, TRANSFERRED));
	if (m->has[PARTMOB_A_MIG_REMAINING])
		json_u64(&j, "remaining_bytes", PM_MIG(m, REMAINING));
	json_u64(&j, "throughput_bps", PM_MIG(m, THROUGHPUT));
	json_u64(&j, "dirty_rate_bps", PM_MIG(m, DIRTY_RATE));
	if (exp != UINT64_MAX)
		json_u64(&j, "expected_downtime_ms", exp);
	json_close(&j);
	json_end(&j);
}

static void progress_line(struct run *r)
{
	const struct pm_mig *m = &r->m;
	uint64_t exp = expected_downtime_ms(m);
	char line[512], b[6][32];
	struct winsize ws;
	size_t width = 80;

	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 1)
		width = ws.ws_col;
	if (exp == UINT64_MAX)
		snprintf(b[5], sizeof(b[5]), "?");
	else
		snprintf(b[5], sizeof(b[5]), "%" PRIu64 " ms", exp);
	snprintf(line, sizeof(line),
		       "[round %" PRIu64 ", %s] sent %s of %s, remaining %s, %s/s, dirtying %s/s, expected downtime %s, %" PRIu64 " s",
		       PM_MIG(m, ROUND), pm_mig_state_name(PM_MIG(m, STATE)),
		       pm_human(PM_MIG(m, TRANSFERRED), b[0], sizeof(b[0])),
		       pm_human(PM_MIG(m, TOTAL_BYTES), b[1], sizeof(b[1])),
		       pm_human(PM_MIG(m, REMAINING), b[2], sizeof(b[2])),
		       pm_human(PM_MIG(m, THROUGHPUT), b[3], sizeof(b[3])),
		       pm_human(PM_MIG(m, DIRTY_RATE), b[4], sizeof(b[4])),
		       b[5], elapsed_ms(r) / 1000);
	if (strlen(line) >= width)
		line[width - 1] = '\0';
	printf("\r\033[K%s", line);
	fflush(stdout);
	r->line_shown = true;
}

static int cg_write(const char *dir, const char *val, char *why, size_t n)
{
	char file[PATH_MAX];
	int fd, err;

	snprintf(file, sizeof(file), "%s/cgroup.freeze", dir);
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val)) {
		err = errno;
		if (fd >= 0)
			close(fd);
		snprintf(why, n, "writing %s to %s: %s", val, file,
			 strerror(err));
		return -err;
	}
	close(fd);
	return 0;
}

/* 1 if cgroup.events says "frozen 1", 0 if not, -errno. */
static int cg_is_frozen(const char *dir)
{
	char file[PATH_MAX], line[128];
	FILE *f;
	int frozen = 0;

	snprintf(file, sizeof(file), "%s/cgroup.events", dir);
	f = fopen(file, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strcmp(line, "frozen 1\n"))
			frozen = 1;
	fclose(f);
	return frozen;
}

static void cg_thaw(struct run *r)
{
	char why[PATH_MAX + 64];

	if (!r->cg_frozen)
		return;
	if (cg_write(r->so->cgroup, "0", why, sizeof(why)))
		say(r, "cannot thaw the cgroup: %s", why);
	else
		json_action(r, "thaw-cgroup", NULL);
	r->cg_frozen = false;
}

/* Freeze --freeze-cgroup and wait until it is frozen. Return: 0 or -1. */
static int cg_freeze(struct run *r, char *why, size_t n)
{
	uint64_t deadline = pm_now_ns() + CGROUP_FREEZE_MS * 1000000ULL;
	struct timespec ts = { 0, 10000000 };
	int ret;

	if (cg_write(r->so->cgroup, "1", why, n))
		return -1;
	r->cg_frozen = true;
	json_action(r, "freeze-cgroup", r->so->cgroup);
	for (;;) {
		ret = cg_is_frozen(r->so->cgroup);
		if (ret > 0)
			return 0;
		if (ret < 0) {
			snprintf(why, n, "reading %s/cgroup.events: %s",
				 r->so->cgroup, strerror(-ret));
			return -1;
		}
		if (got_signal) {
			snprintf(why, n, "interrupted by %s while freezing the cgroup",
				 got_signal == SIGTERM ? "SIGTERM" : "SIGINT");
			got_signal = 0;
			r->signals++;
			return -1;
		}
		if (pm_now_ns() >= deadline) {
			snprintf(why, n, "the cgroup %s did not freeze within %d s",
				 r->so->cgroup, CGROUP_FREEZE_MS / 1000);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
}

static void do_abort(struct run *r, const char *why);

/* Send @action; on failure re-read the state and abort if still needed. */
static void control(struct run *r, uint32_t action, const char *name,
		    const char *why)
{
	char err[320];
	struct pm_mig now;
	int ret;

	json_action(r, name, why);
	ret = pm_mig_control(r->nl, r->name, action);
	if (!ret || (ret < 0 && r->nl->err == EALREADY))
		return;
	pm_nl_why(r->nl, ret, err, sizeof(err));
	if (action == PARTMOB_MIG_A_ABORT) {
		say(r, "abort: %s", err);
		return;
	}
	/* The state may have moved under us (the link failed, ...). */
	if (!pm_mig_get_fd(r->nl, r->ctl, &now) &&
	    PM_MIG(&now, STATE) != PARTMOB_MIG_S_WAITING)
		return;
	snprintf(r->abort_why, sizeof(r->abort_why), "%s failed: %s", name,
		 err);
	say(r, "%s", r->abort_why);
	do_abort(r, NULL);
}

static void abort_one(struct run *r, const char *why)
{
	if (why)
		copy_str(r->abort_why, sizeof(r->abort_why), why);
	r->aborting = true;
	control(r, PARTMOB_MIG_A_ABORT, "abort", r->abort_why);
}

/* Abort @r, and with it every other region of its guest. */
static void do_abort(struct run *r, const char *why)
{
	struct vmgroup *g = r->g;
	char other[480];
	int i;

	abort_one(r, why);
	if (!g || g->aborting)
		return;
	g->aborting = true;
	snprintf(other, sizeof(other), "region %s of the guest: %s", r->name,
		 r->abort_why);
	for (i = 0; i < g->n; i++)
		if (&g->runs[i] != r && !g->runs[i].aborting &&
		    !g->runs[i].ended)
			abort_one(&g->runs[i], other);
}

static void switchover(struct run *r, const char *why)
{
	char err[PATH_MAX + 128];

	if (r->g) {
		/* The guest switches over when all its regions would. */
		r->ready = true;
		json_action(r, "ready", why);
		return;
	}
	if (r->so->cgroup && cg_freeze(r, err, sizeof(err))) {
		cg_thaw(r);
		do_abort(r, err);
		return;
	}
	control(r, PARTMOB_MIG_A_SWITCHOVER, "switchover", why);
}

/*
 * Every region of the guest would switch over: the vCPUs pause before
 * the freeze (no vCPU thread may block in page_mkwrite holding KVM's
 * locks), then every region switches over.
 */
static void vm_switchover(struct vmgroup *g)
{
	struct run *r0 = &g->runs[0];
	char err[400];
	int i;

	if (pm_vm_stop(&g->vm, err, sizeof(err))) {
		do_abort(r0, err);
		return;
	}
	g->stop_ns = pm_now_ns();
	g->switched = true;
	json_action(r0, "stop", "every region is ready: the guest's vCPUs are paused");
	for (i = 0; i < g->n && !g->aborting; i++)
		control(&g->runs[i], PARTMOB_MIG_A_SWITCHOVER, "switchover",
			g->runs[i].abort_why);
	/* QEMU sets up and sends what is not shared, then waits. */
	if (!g->aborting && pm_vm_migrate(&g->vm, g->dev_fd, err, sizeof(err)))
		do_abort(r0, err);
}

/*
 * Every region is held in PREPARED (all pages are at the destination):
 * QEMU, waiting in pre-switchover, sends the device state, after the
 * memory as in QEMU's own migration, since loading it may write guest
 * RAM; with return-path it completes once the destination QEMU has loaded
 * it. Then the decision: MIG_COMMIT of every region at once.
 */
static void vm_commit(struct vmgroup *g)
{
	const char *names[PARTMOB_HS_PATHS_MAX];
	struct run *r0 = &g->runs[0];
	char err[400], nlerr[320];
	int i, ret;

	g->prepared_ns = pm_now_ns();
	ret = pm_vm_wait_migration(&g->vm, "pre-switchover",
				   PM_VM_QMP_TIMEOUT_MS, err, sizeof(err));
	g->dev_start_ns = pm_now_ns();
	if (!ret)
		ret = pm_vm_continue(&g->vm, err, sizeof(err));
	if (!ret)
		ret = pm_vm_wait_migration(&g->vm, "completed",
					   PM_VM_QMP_TIMEOUT_MS, err,
					   sizeof(err));
	if (ret) {
		do_abort(r0, err);
		return;
	}
	g->dev_done_ns = pm_now_ns();
	json_action(r0, "commit", "memory prepared and device state loaded");
	for (i = 0; i < g->n; i++)
		names[i] = g->runs[i].name;
	ret = pm_mig_commit(r0->nl, names, g->n);
	if (ret < 0) {
		snprintf(err, sizeof(err), "commit: %s",
			 pm_nl_why(r0->nl, ret, nlerr, sizeof(nlerr)));
		do_abort(r0, err);
		return;
	}
	g->commit_sent = true;
}

/* After the decision: the destination says the guest runs; quit ours. */
static void vm_finish(struct vmgroup *g)
{
	struct run *r0 = &g->runs[0];
	struct pm_hs_reply rep;
	char err[400];
	int ret;

	ret = pm_hs_recv_reply(g->dev_fd, &rep, PM_VM_QMP_TIMEOUT_MS, err,
			       sizeof(err));
	if (!ret && rep.status == PARTMOB_HS_OK)
		g->resumed_ns = pm_now_ns();
	else
		say(r0, "the destination did not confirm that the guest runs there: %s",
		    ret ? err : rep.message);
	ret = pm_vm_quit(&g->vm, err, sizeof(err));
	if (ret)
		say(r0, "quitting the source QEMU: %s", err);
}

/* Before the decision: the guest runs here again. */
static void vm_resume(struct vmgroup *g)
{
	char err[400];

	pm_vm_cancel(&g->vm);
	if (g->vm.stopped && pm_vm_cont(&g->vm, err, sizeof(err)))
		say(&g->runs[0], "continuing the guest here: %s", err);
}

/* The policy, run on every answer before the decision. */
static void policy(struct run *r)
{
	const struct pm_mig *m = &r->m;
	uint64_t state = PM_MIG(m, STATE), round = PM_MIG(m, ROUND);
	uint64_t exp, limit = r->so->downtime_ms;
	bool timed_out = elapsed_ms(r) >= r->so->timeout_s * 1000;
	char why[400], b[3][32], e[32];

	if (state != PARTMOB_MIG_S_WAITING) {
		if (timed_out && !r->so->stall_switchover &&
		    before_decision(state) && state != PARTMOB_MIG_S_STOP_COPY &&
		    state != PARTMOB_MIG_S_PREPARING) {
			snprintf(why, sizeof(why),
				 "timed out after %" PRIu64 " s, in state %s after %" PRIu64 " rounds",
				 r->so->timeout_s, pm_mig_state_name(state),
				 round);
			do_abort(r, why);
		}
		return;
	}
	if (round <= r->acted_round)
		return;
	r->acted_round = round;
	exp = expected_downtime_ms(m);
	if (exp == UINT64_MAX)
		snprintf(e, sizeof(e), "unknown");
	else
		snprintf(e, sizeof(e), "%" PRIu64 " ms", exp);
	if (exp <= limit) {
		snprintf(why, sizeof(why),
			 "expected downtime %s <= limit %" PRIu64 " ms", e,
			 limit);
		switchover(r, why);
		return;
	}
	/*
	 * A round that sent no page leaves only what the socket still holds
	 * (a receiver slower than the link: kTLS in an emulated CPU): another
	 * round would send nothing either. While that shrinks, decide again
	 * at the next tick instead.
	 */
	if (round > 1 && !PM_MIG(m, ROUND_BYTES) && !timed_out &&
	    (!r->drain_left || PM_MIG(m, REMAINING) < r->drain_left)) {
		r->drain_left = PM_MIG(m, REMAINING);
		r->acted_round = round - 1;
		return;
	}
	r->drain_left = 0;
	if (round >= r->so->max_rounds || timed_out) {
		snprintf(why, sizeof(why),
			 "not converging after %" PRIu64 " rounds in %" PRIu64 " s: dirty rate %s/s vs throughput %s/s, %s remaining, expected downtime %s > limit %" PRIu64 " ms",
			 round, elapsed_ms(r) / 1000,
			 pm_human(PM_MIG(m, DIRTY_RATE), b[0], sizeof(b[0])),
			 pm_human(PM_MIG(m, THROUGHPUT), b[1], sizeof(b[1])),
			 pm_human(PM_MIG(m, REMAINING), b[2], sizeof(b[2])), e,
			 limit);
		if (r->so->stall_switchover) {
			say(r, "%s: switching over anyway (--on-stall switchover)",
			    why);
			switchover(r, why);
		} else {
			do_abort(r, why);
		}
		return;
	}
	snprintf(why, sizeof(why), "expected downtime %s > limit %" PRIu64 " ms",
		 e, limit);
	control(r, PARTMOB_MIG_A_ROUND, "round", why);
}

static void on_interrupt(struct run *r)
{
	const char *sig = got_signal == SIGTERM ? "SIGTERM" : "SIGINT";
	char why[64];

	got_signal = 0;
	r->signals++;
	if (!r->aborting &&
	    (!r->have || src_before_decision(PM_MIG(&r->m, STATE)))) {
		snprintf(why, sizeof(why), "interrupted by %s", sig);
		do_abort(r, why);
		return;
	}
	if (r->signals == 1)
		say(r, "%s: the migration is %s; it ends without partmobctl (interrupt again to stop watching)",
		    sig, r->aborting ? "being aborted" : "decided");
}

static void result_json(struct run *r, const char *result)
{
	const struct pm_mig *m = &r->m;
	uint64_t total = PM_MIG(m, TOTAL_NS);
	struct json j;
	char id[20];

	json_init(&j, stdout, r->o->pretty);
	json_open(&j, NULL);
	json_str(&j, "result", result);
	json_str(&j, "region", r->name);
	json_str(&j, "dest_name", r->dest_name);
	mig_id_text(r->mig_id, id, sizeof(id));
	json_str(&j, "mig_id", id);
	json_str(&j, "peer", r->peer);
	json_str(&j, "state", pm_mig_state_name(PM_MIG(m, STATE)));
	json_u64(&j, "downtime_ms", ns_to_ms(PM_MIG(m, DOWNTIME_NS)));
	if (r->so->verify)
		json_u64(&j, "verify_ms", ns_to_ms(PM_MIG(m, VERIFY_NS)));
	json_u64(&j, "total_ms", ns_to_ms(total));
	json_u64(&j, "setup_ms", ns_to_ms(PM_MIG(m, SETUP_NS)));
	json_u64(&j, "harvest_ms", ns_to_ms(PM_MIG(m, HARVEST_NS)));
	json_u64(&j, "sock_ms", ns_to_ms(PM_MIG(m, SOCK_NS)));
	json_u64(&j, "wait_ms", ns_to_ms(PM_MIG(m, WAIT_NS)));
	json_u64(&j, "rounds", PM_MIG(m, ROUND));
	json_u64(&j, "transferred_bytes", PM_MIG(m, TRANSFERRED));
	json_u64(&j, "pages_zero", PM_MIG(m, PAGES_ZERO));
	json_u64(&j, "pages_normal", PM_MIG(m, PAGES_NORMAL));
	json_u64(&j, "throughput_bps", total ? (uint64_t)((double)
		 PM_MIG(m, TRANSFERRED) * 1e9 / (double)total) : 0);
	if (r->g && r->g->resumed_ns) {
		json_u64(&j, "guest_downtime_ms",
			 ns_to_ms(r->g->resumed_ns - r->g->stop_ns));
		json_u64(&j, "memory_ms",
			 ns_to_ms(r->g->prepared_ns - r->g->stop_ns));
		json_u64(&j, "device_state_ms",
			 ns_to_ms(r->g->dev_done_ns - r->g->dev_start_ns));
	}
	if (r->aborting && r->abort_why[0])
		json_str(&j, "reason", r->abort_why);
	if (m->error[0])
		json_str(&j, "error", m->error);
	if (m->has[PARTMOB_A_MIG_ERRNO])
		json_u64(&j, "errno", PM_MIG(m, ERRNO));
	json_close(&j);
	json_end(&j);
}

static void summary(struct run *r, const char *result)
{
	const struct pm_mig *m = &r->m;
	uint64_t total = PM_MIG(m, TOTAL_NS);
	char b[4][32];

	clear_line(r);
	printf("%s -> %s (as %s): %s in %s, downtime %s, %" PRIu64 " rounds, %s transferred (%" PRIu64 " pages, %" PRIu64 " zero pages), %s/s on average\n",
	       r->name, r->peer, r->dest_name, result,
	       ms_text(total, b[0], sizeof(b[0])),
	       ms_text(PM_MIG(m, DOWNTIME_NS), b[1], sizeof(b[1])),
	       PM_MIG(m, ROUND),
	       pm_human(PM_MIG(m, TRANSFERRED), b[2], sizeof(b[2])),
	       PM_MIG(m, PAGES_NORMAL), PM_MIG(m, PAGES_ZERO),
	       pm_human(total ? (uint64_t)((double)PM_MIG(m, TRANSFERRED) *
					   1e9 / (double)total) : 0,
			b[3], sizeof(b[3])));
	if (r->g && r->g->resumed_ns && r == &r->g->runs[r->g->n - 1])
		printf("guest: paused %s (stop here to running there): memory %s, device state %s\n",
		       ms_text(r->g->resumed_ns - r->g->stop_ns, b[0],
			       sizeof(b[0])),
		       ms_text(r->g->prepared_ns - r->g->stop_ns, b[1],
			       sizeof(b[1])),
		       ms_text(r->g->dev_done_ns - r->g->dev_start_ns, b[2],
			       sizeof(b[2])));
	if (r->so->verify && PM_MIG(m, STATE) == PARTMOB_MIG_S_COMPLETED)
		printf("verified: both copies hash alike; the check added %s to the downtime\n",
		       ms_text(PM_MIG(m, VERIFY_NS), b[0], sizeof(b[0])));
	fflush(stdout);
}

/*
 * The device-state connection: the destination's listener starts its
 * QEMU on the regions (which exist there now, frozen) and answers once it
 * waits for the device state. A refusal aborts the migration.
 */
static void vm_connect(struct vmgroup *g, const struct pm_hs_hello *h)
{
	struct run *r0 = &g->runs[0];
	struct pm_hs_hello dh = *h;
	struct pm_hs_reply rep;
	char why[800], addr[300];
	int i, ret;

	dh.op = PARTMOB_HS_OP_DEVICE_STATE;
	dh.streams = 0;
	dh.npaths = (uint32_t)g->n;
	for (i = 0; i < g->n; i++) {
		dh.paths[i].size = PM_MIG(&g->runs[i].m, TOTAL_BYTES);
		snprintf(dh.paths[i].path, sizeof(dh.paths[i].path),
			 "/dev/partmob/%s", g->runs[i].dest_name);
	}
	/* The destination starts QEMU before it answers. */
	ret = pm_hs_exchange_wait(r0->so->host, r0->so->port, r0->so->ctx,
				  &dh, &rep,
				  &g->dev_fd, addr, sizeof(addr), why,
				  sizeof(why), 2 * PM_VM_QMP_TIMEOUT_MS);
	if (ret) {
		do_abort(r0, why);
		return;
	}
	if (rep.status != PARTMOB_HS_OK) {
		snprintf(why, sizeof(why), "%s refused the guest (%s): %s", addr,
			 pm_hs_status_name(rep.status),
			 rep.message[0] ? rep.message : "no reason given");
		g->refused = true;
		do_abort(r0, why);
	}
}

/*
 * Read the state of @r's migration after its control file woke @p (or
 * the tick), report changes. Return: -1 to go on, or an exit code.
 */
static int watch(struct run *r, const struct pollfd *p, int pr)
{
	char err[320];
	uint64_t cnt, state;
	bool ended;
	int ret;

	ended = pr > 0 && (p->revents & (POLLHUP | POLLERR | POLLNVAL));
	if (pr > 0 && (p->revents & POLLIN) &&
	    read(r->ctl, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN &&
	    errno != EINTR && !ended) {
		say(r, "reading the control file: %s", strerror(errno));
		return PM_EXIT_FAIL;
	}
	ret = pm_mig_get_fd(r->nl, r->ctl, &r->m);
	if (ret < 0) {
		say(r, "reading the migration's state: %s%s",
		    pm_nl_why(r->nl, ret, err, sizeof(err)),
		    src_before_decision(PM_MIG(&r->m, STATE)) ?
		    "; giving up aborts it" : "");
		return PM_EXIT_FAIL;
	}
	if (PM_MIG(&r->m, ID) != r->mig_id ||
	    PM_MIG(&r->m, ROLE) != PARTMOB_MIG_SOURCE) {
		if (ended) {
			say(r, "the region's migration is no longer ours");
			return PM_EXIT_FAIL;
		}
		return -1;	/* the previous migration, still */
	}
	state = PM_MIG(&r->m, STATE);
	if (!r->have || state != r->last_state ||
	    PM_MIG(&r->m, ROUND) != r->last_round) {
		if (r->o->json)
			json_state(r);
		r->last_state = state;
		r->last_round = PM_MIG(&r->m, ROUND);
		r->have = true;
	}
	if (r->progress)
		progress_line(r);
	if (ended || state == PARTMOB_MIG_S_COMPLETED ||
	    state == PARTMOB_MIG_S_FAILED)
		r->ended = true;
	return -1;
}

/* The region's result, once ended. Return: the exit code. */
static int finish(struct run *r)
{
	uint64_t state = PM_MIG(&r->m, STATE);

	/* Decided, but the destination's resume was not confirmed. */
	if (state == PARTMOB_MIG_S_COMPLETED && r->m.error[0])
		state = PARTMOB_MIG_S_COMMITTED;
	if (state == PARTMOB_MIG_S_COMPLETED) {
		if (r->o->json)
			result_json(r, "completed");
		else
			summary(r, "completed");
		return PM_EXIT_OK;
	}
	if (state == PARTMOB_MIG_S_FAILED) {
		cg_thaw(r);
		if (r->o->json)
			result_json(r, r->aborting ? "aborted" : "failed");
		else
			summary(r, r->aborting ? "aborted" : "failed");
		if (r->aborting)
			say(r, "aborted: %s; the region runs here",
			    r->abort_why);
		else
			say(r, "the migration failed: %s; the region runs here",
			    r->m.error[0] ? r->m.error : "no reason given");
		return PM_EXIT_MIGFAIL;
	}
	if (state == PARTMOB_MIG_S_COMMITTED) {
		if (r->o->json)
			result_json(r, "committed");
		say(r, "committed, but the destination's confirmation never arrived; the region is retired here: check the destination ('%s status %s' there, and '%s recover %s' if it is in doubt)",
		    pm_prog, r->dest_name, pm_prog, r->dest_name);
		return PM_EXIT_INDOUBT;
	}
	if (r->o->json)
		result_json(r, "error");
	say(r, "the migration ended in state %s", pm_mig_state_name(state));
	return PM_EXIT_FAIL;
}

/*
 * A guest's regions: watch all, steer each with the policy, switch over
 * together, decide together. Return: the exit code.
 */
static int run_group(struct vmgroup *g)
{
	struct pollfd p[PARTMOB_HS_PATHS_MAX];
	int i, pr, ret, ended, ready, prepared, worst = PM_EXIT_OK;
	bool completed = true;

	for (i = 0; i < g->n; i++)
		p[i] = (struct pollfd){ .fd = g->runs[i].ctl, .events = POLLIN };
	for (;;) {
		pr = poll(p, (nfds_t)g->n, POLL_MS);
		if (pr < 0 && errno != EINTR) {
			say(&g->runs[0], "poll: %s", strerror(errno));
			return PM_EXIT_FAIL;
		}
		if (got_signal)
			on_interrupt(&g->runs[0]);
		if (g->runs[0].signals > 1) {
			say(&g->runs[0], "stopped watching; see '%s status'",
			    pm_prog);
			return PM_EXIT_FAIL;
		}
		ended = ready = prepared = 0;
		for (i = 0; i < g->n; i++) {
			struct run *r = &g->runs[i];

			if (!r->ended) {
				ret = watch(r, &p[i], pr);
				if (ret >= 0)
					return ret;
			}
			ended += r->ended;
			if (r->ended &&
			    PM_MIG(&r->m, STATE) != PARTMOB_MIG_S_COMPLETED &&
			    !g->aborting)
				do_abort(r, r->m.error[0] ? r->m.error :
					 "the migration failed");
			if (!r->aborting && !r->ended)
				policy(r);
			ready += r->ready &&
				 PM_MIG(&r->m, STATE) == PARTMOB_MIG_S_WAITING;
			prepared += PM_MIG(&r->m, STATE) ==
				    PARTMOB_MIG_S_PREPARED;
		}
		if (ended == g->n)
			break;
		if (g->aborting)
			continue;
		if (!g->switched && ready == g->n)
			vm_switchover(g);
		else if (g->switched && !g->commit_sent && prepared == g->n)
			vm_commit(g);
	}
	for (i = 0; i < g->n; i++)
		completed &= PM_MIG(&g->runs[i].m, STATE) ==
			     PARTMOB_MIG_S_COMPLETED;
	if (completed)
		vm_finish(g);
	else
		vm_resume(g);
	for (i = 0; i < g->n; i++) {
		ret = finish(&g->runs[i]);
		if (ret > worst)
			worst = ret;
	}
	if (g->refused && worst == PM_EXIT_MIGFAIL)
		worst = PM_EXIT_REFUSED;
	return worst;
}

/* Watch and steer until the end. Return: the exit code. */
static int run_source(struct run *r)
{
	struct pollfd p = { .fd = r->ctl, .events = POLLIN };
	int pr, ret;

	while (!r->ended) {
		pr = poll(&p, 1, POLL_MS);
		if (pr < 0 && errno != EINTR) {
			say(r, "poll: %s", strerror(errno));
			return PM_EXIT_FAIL;
		}
		if (got_signal)
			on_interrupt(r);
		if (r->signals > 1) {
			say(r, "stopped watching; see '%s status %s'", pm_prog,
			    r->name);
			return PM_EXIT_FAIL;
		}
		ret = watch(r, &p, pr);
		if (ret >= 0)
			return ret;
		if (!r->aborting && !r->ended)
			policy(r);
	}
	return finish(r);
}

static void start_help(FILE *f)
{
	fprintf(f,
		"Usage: %s start NAME --to HOST[:PORT]\n"
		"                (--psk-file F | --cert C --key K --ca A | --insecure)\n"
		"                [--peer-name N]... [--dest-name N] [--downtime-limit MS]\n"
		"                [--max-bandwidth RATE]\n"
		"                [--max-rounds N] [--timeout S] [--link-timeout MS]\n"
		"                [--streams N]\n"
		"                [--on-stall abort|switchover] [--freeze-cgroup PATH]\n"
		"                [--require-path P]... [--qmp SOCKET] [-j|--json]\n"
		"                [-p|--pretty]\n"
		"\n"
		"Migrate the region NAME to the 'partmobctl listen' at HOST (port %d\n"
		"by default). Round 1 sends every page; then, after every round, if\n"
		"the remaining dirty bytes divided by the measured throughput (the\n"
		"slower of all rounds' and the last round's) is within the downtime\n"
		"limit, the region is frozen and the rest is sent (switchover);\n"
		"otherwise another round follows.\n"
		"\n"
		"  --to HOST[:PORT]       the destination; [ADDRESS]:PORT for IPv6\n"
		"  --psk-file F           authenticate with the first key of F (IDENTITY:HEXKEY\n"
		"                         lines, mode 0600) in a TLS 1.3 handshake, then\n"
		"                         send the region encrypted through kernel TLS\n"
		"  --cert C --key K --ca A\n"
		"                         or authenticate with certificates: present C (PEM,\n"
		"                         with its chain) and its key K (PEM, mode 0600, no\n"
		"                         passphrase); the listener's certificate must chain\n"
		"                         to a CA of A and name HOST\n"
		"  --peer-name N          the listener's certificate must name N instead of\n"
		"                         HOST (up to 8 times: any of them)\n"
		"  --insecure             plain TCP: no authentication, no encryption\n"
		"  --dest-name N          the region's name on the destination (default NAME)\n"
		"  --downtime-limit MS    switch over when the expected downtime is at\n"
		"                         most MS milliseconds (default 300)\n"
		"  --max-bandwidth RATE   bytes per second, with K, M, G, T (binary) as in\n"
		"                         100M; 0 is unlimited (default)\n"
		"  --max-rounds N         rounds before the migration stalls (default 30)\n"
		"  --timeout S            seconds before it stalls (default 600)\n"
		"  --link-timeout MS      how long the destination may stay silent or\n"
		"                         take no data before the migration fails\n"
		"                         (default %d)\n"
		"  --streams N            send the pages over N connections (1 to %d,\n"
		"                         default %d), received by a kernel thread each on\n"
		"                         the destination: one receiving CPU cannot keep up\n"
		"                         with a fast link\n"
		"  --on-stall abort|switchover\n"
		"                         on a stall, abort (default) or switch over anyway\n"
		"  --freeze-cgroup PATH   freeze this cgroup v2 before the switchover, thaw\n"
		"                         it if the migration fails; left frozen on success\n"
		"  --verify               compare a hash of the whole region on both ends\n"
		"                         before committing; reports what it added to the\n"
		"                         downtime\n"
		"  --require-path P       an absolute path that must exist on the destination\n"
		"                         with the size it has here; up to %d times\n"
		"  --qmp SOCKET           NAME is the RAM of the QEMU guest whose QMP socket\n"
		"                         this is: move the guest. At the switch-over its\n"
		"                         vCPUs stop before the freeze, QEMU sends its device\n"
		"                         state (x-ignore-shared) to the QEMU that the\n"
		"                         destination's 'listen --vm-hook' started, and the\n"
		"                         decision waits for both; the guest then runs there\n"
		"                         and this QEMU quits. On a failure the guest goes on\n"
		"                         here. Reports the guest's pause, split into memory\n"
		"                         and device state\n"
		"  --json                 one JSON object per line for every state or round\n"
		"                         change and action, then one with \"result\"\n"
		"\n"
		"On a terminal a progress line is shown on standard output. SIGINT or\n"
		"SIGTERM before the decision aborts the migration.\n"
		"Exit status: 0 completed, 5 refused by the destination, 6 failed or\n"
		"aborted (the region runs here), 7 committed but unconfirmed.\n"
		"Needs CAP_NET_ADMIN and CAP_SYS_ADMIN.\n",
		pm_prog, PARTMOB_HS_PORT, PARTMOB_MIG_TIMEOUT_MS_DEFAULT,
		PARTMOB_MIG_STREAMS_MAX, PM_STREAMS_DEFAULT,
		PARTMOB_HS_PATHS_MAX);
}

/*
 * Handshake and MIG_START of region @r->name as @r->dest_name; @h is
 * filled. @id: the migration id to use (0: the hello's random one).
 * Return: -1 when started, or the exit code (reported).
 */
/*
 * The connections after the first (--streams): a hello each, naming the
 * migration and the connection's index. Return: 0 with @fds filled, or
 * the exit code (reported; none is left open).
 */
static int open_streams(struct run *r, const struct pm_hs_hello *h,
			int *fds)
{
	struct src_opts *so = r->so;
	struct pm_hs_hello sh = *h;
	struct pm_hs_reply rep;
	char why[400], addr[INET6_ADDRSTRLEN + 16];
	uint32_t k;
	int ret = 0;

	sh.op = PARTMOB_HS_OP_STREAM;
	sh.npaths = 0;
	for (k = 1; k < h->streams; k++) {
		sh.streams = k;
		ret = pm_hs_exchange(so->host, so->port, so->ctx, &sh, &rep,
				     &fds[k], addr, sizeof(addr), why,
				     sizeof(why));
		if (ret) {
			fprintf(stderr, "%s: start %s: connection %u of %u: %s\n",
				pm_prog, r->name, k + 1, h->streams, why);
			ret = PM_EXIT_FAIL;
			break;
		}
		if (rep.status != PARTMOB_HS_OK) {
			close(fds[k]);
			ret = refused(so, r->o, r->name, addr, &rep);
			break;
		}
	}
	if (ret)
		while (--k > 0)
			close(fds[k]);
	return ret;
}

static int start_region(struct run *r, uint16_t op, uint64_t id,
			struct pm_hs_hello *h)
{
	struct src_opts *so = r->so;
	struct pm_mig_start ms = { 0 };
	struct pm_hs_reply rep;
	char why[400], what[64];
	int fd, ret, fds[PARTMOB_MIG_STREAMS_MAX];
	uint32_t k;

	snprintf(what, sizeof(what), "start %s", r->name);
	so->dest_name = r->dest_name;
	ret = src_hello(r->nl, so, r->name, op, h);
	if (ret >= 0)
		return ret;
	if (id)
		h->mig_id = id;
	h->streams = so->streams > 1 ? (uint32_t)so->streams : 0;
	r->mig_id = h->mig_id;
	ret = pm_hs_exchange(so->host, so->port, so->ctx, h, &rep, &fd,
			     r->peer, sizeof(r->peer), why, sizeof(why));
	if (ret) {
		fprintf(stderr, "%s: %s: %s\n", pm_prog, what, why);
		return PM_EXIT_FAIL;
	}
	if (rep.status != PARTMOB_HS_OK) {
		close(fd);
		return refused(so, r->o, r->name, r->peer, &rep);
	}
	/* Closing the first connection fails the destination's side. */
	ret = open_streams(r, h, fds);
	if (ret) {
		close(fd);
		return ret;
	}
	ms.name = r->name;
	ms.role = PARTMOB_MIG_SOURCE;
	ms.fd = fd;
	ms.mig_id = h->mig_id;
	ms.peer = r->peer;
	ms.peer_boot_id = rep.boot_id;
	ms.max_bandwidth = so->bandwidth;
	ms.timeout_ms = (uint32_t)so->link_ms;
	ms.flags = so->verify ? PARTMOB_MIG_F_VERIFY : 0;
	if (op == PARTMOB_HS_OP_MIGRATE_HELD)
		ms.flags |= PARTMOB_MIG_F_HOLD;
	ms.streams = h->streams;
	r->t0 = pm_now_ns();
	ret = pm_mig_start(r->nl, &ms, &r->ctl);
	/* The module holds its own reference to the socket. */
	close(fd);
	for (k = 1; k < h->streams; k++) {
		if (!ret)
			ret = pm_mig_attach(r->nl, r->name, h->mig_id, k, fds[k]);
		close(fds[k]);
	}
	if (ret < 0)
		return nl_fail(what, r->nl, ret);
	/* The first answer, for the device-state hello's sizes. */
	pm_mig_get_fd(r->nl, r->ctl, &r->m);
	return -1;
}

int cmd_start(int argc, char **argv, struct pm_opts *o)
{
	struct src_opts so = {
		.cmd = "start", .downtime_ms = 300, .max_rounds = 30,
		.timeout_s = 600, .streams = PM_STREAMS_DEFAULT,
	};
	struct sigaction sa = { .sa_handler = on_signal };
	struct sigaction old_int, old_term;
	struct run runs[PARTMOB_HS_PATHS_MAX];
	struct vmgroup g = { .runs = runs, .dev_fd = -1 };
	struct pm_hs_hello h;
	struct pm_nl nl;
	char why[400], what[64];
	char *names[PARTMOB_HS_PATHS_MAX];
	int i, n, ret, started = 0;
	uint16_t op;

	ret = src_parse_n(argc, argv, &so, o, start_help, names,
			  PARTMOB_HS_PATHS_MAX, &n);
	if (ret >= 0)
		return ret;
	snprintf(what, sizeof(what), "start %s%s", names[0],
		 n > 1 ? " ..." : "");
	ret = src_tls(&so, names[0]);
	if (ret >= 0)
		return ret;
	ret = pm_nl_open(&nl);
	if (ret) {
		pm_tls_free(so.ctx);
		return ret;
	}
	if (so.qmp) {
		ret = pm_vm_open(&g.vm, so.qmp, true, PM_VM_QMP_TIMEOUT_MS, why,
				 sizeof(why));
		if (ret) {
			fprintf(stderr, "%s: %s: %s\n", pm_prog, what, why);
			ret = PM_EXIT_FAIL;
			goto out_nl;
		}
		if (strcmp(g.vm.status, "running") &&
		    strcmp(g.vm.status, "paused")) {
			fprintf(stderr, "%s: %s: the guest at %s is %s, not running or paused\n",
				pm_prog, what, so.qmp, g.vm.status);
			ret = PM_EXIT_FAIL;
			goto out_vm;
		}
	}

	/* From here on, an interrupt aborts rather than kills. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	signal(SIGPIPE, SIG_IGN);

	op = so.qmp ? PARTMOB_HS_OP_MIGRATE_HELD : PARTMOB_HS_OP_MIGRATE;
	for (i = 0; i < n; i++) {
		runs[i] = (struct run){
			.name = names[i], .dest_name = so.dest_names[i],
			.so = &so, .o = o, .nl = &nl, .ctl = -1,
			.g = so.qmp ? &g : NULL,
			.progress = !o->json && isatty(STDOUT_FILENO) && n == 1,
		};
		ret = start_region(&runs[i], op, i ? runs[0].mig_id : 0, &h);
		if (ret >= 0)
			break;
		started++;
	}
	if (!so.qmp) {
		if (started)
			ret = run_source(&runs[0]);
		goto out_ctl;
	}
	g.n = started;
	if (started < n) {
		/* The guest moves whole or not at all. */
		if (started)
			do_abort(&runs[0], "another region of the guest could not start");
		if (started)
			run_group(&g);
		goto out_ctl;
	}
	vm_connect(&g, &h);
	ret = run_group(&g);
out_ctl:
	/* After the end (or on our failure: then closing aborts). */
	for (i = 0; i < started; i++)
		close(runs[i].ctl);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
out_vm:
	if (g.dev_fd >= 0)
		close(g.dev_fd);
	if (so.qmp)
		pm_vm_close(&g.vm);
out_nl:
	pm_nl_close(&nl);
	pm_tls_free(so.ctx);
	return ret;
}

/* ---- status ------------------------------------------------------------- */

static void status_help(FILE *f)
{
	fprintf(f,
		"Usage: %s status [NAME] [-j|--json] [-p|--pretty]\n"
		"\n"
		"Show the migration of every region that has one (the last migration\n"
		"of a region stays until the region is deleted or migrates again),\n"
		"or of the region NAME: role, state, round, peer, bytes and pages\n"
		"transferred, remaining dirty bytes, the last round, throughput,\n"
		"dirty rate, setup and total time, downtime, the error of a failure.\n"
		"--json prints an array of objects.\n"
		"Needs CAP_NET_ADMIN.\n", pm_prog);
}

static void status_text(const struct pm_mig *m)
{
	char b[4][32], id[20];
	uint64_t exp = expected_downtime_ms(m);

	printf("%s: %s, %s", m->name, pm_mig_role_name(PM_MIG(m, ROLE)),
	       pm_mig_state_name(PM_MIG(m, STATE)));
	if (m->has[PARTMOB_A_MIG_ROUND])
		printf(", round %" PRIu64, PM_MIG(m, ROUND));
	printf("\n");
	if (m->has[PARTMOB_A_MIG_ID]) {
		mig_id_text(PM_MIG(m, ID), id, sizeof(id));
		printf("  id:                %s\n", id);
	}
	if (m->peer[0] || m->peer_boot_id[0])
		printf("  peer:              %s%s%s%s\n",
		       m->peer[0] ? m->peer : "?",
		       m->peer_boot_id[0] ? " (boot id " : "", m->peer_boot_id,
		       m->peer_boot_id[0] ? ")" : "");
	if (m->has[PARTMOB_A_MIG_TOTAL_BYTES])
		printf("  total:             %s (%" PRIu64 " bytes)\n",
		       pm_human(PM_MIG(m, TOTAL_BYTES), b[0], sizeof(b[0])),
		       PM_MIG(m, TOTAL_BYTES));
	if (m->has[PARTMOB_A_MIG_TRANSFERRED])
		printf("  transferred:       %s (%" PRIu64 " bytes; pages: %" PRIu64 " normal, %" PRIu64 " zero)\n",
		       pm_human(PM_MIG(m, TRANSFERRED), b[0], sizeof(b[0])),
		       PM_MIG(m, TRANSFERRED), PM_MIG(m, PAGES_NORMAL),
		       PM_MIG(m, PAGES_ZERO));
	if (m->has[PARTMOB_A_MIG_REMAINING])
		printf("  remaining:         %s (%" PRIu64 " bytes)\n",
		       pm_human(PM_MIG(m, REMAINING), b[0], sizeof(b[0])),
		       PM_MIG(m, REMAINING));
	if (m->has[PARTMOB_A_MIG_ROUND_BYTES])
		printf("  last round:        %s in %s, %" PRIu64 " pages dirtied\n",
		       pm_human(PM_MIG(m, ROUND_BYTES), b[0], sizeof(b[0])),
		       ms_text(PM_MIG(m, ROUND_NS), b[1], sizeof(b[1])),
		       PM_MIG(m, ROUND_DIRTIED));
	if (m->has[PARTMOB_A_MIG_THROUGHPUT])
		printf("  throughput:        %s/s\n",
		       pm_human(PM_MIG(m, THROUGHPUT), b[0], sizeof(b[0])));
	if (m->has[PARTMOB_A_MIG_STREAMS])
		printf("  connections:       %" PRIu64 "\n", PM_MIG(m, STREAMS));
	if (m->has[PARTMOB_A_MIG_DIRTY_RATE])
		printf("  dirty rate:        %s/s\n",
		       pm_human(PM_MIG(m, DIRTY_RATE), b[0], sizeof(b[0])));
	if (PM_MIG(m, ROLE) == PARTMOB_MIG_SOURCE && exp != UINT64_MAX &&
	    before_decision(PM_MIG(m, STATE)))
		printf("  expected downtime: %" PRIu64 " ms\n", exp);
	if (m->has[PARTMOB_A_MIG_SETUP_NS])
		printf("  setup time:        %s\n",
		       ms_text(PM_MIG(m, SETUP_NS), b[0], sizeof(b[0])));
	if (m->has[PARTMOB_A_MIG_TOTAL_NS])
		printf("  total time:        %s\n",
		       ms_text(PM_MIG(m, TOTAL_NS), b[0], sizeof(b[0])));
	if (m->has[PARTMOB_A_MIG_DOWNTIME_NS])
		printf("  downtime:          %s\n",
		       ms_text(PM_MIG(m, DOWNTIME_NS), b[0], sizeof(b[0])));
	if (PM_MIG(m, VERIFY_NS))
		printf("  verify:            %s\n",
		       ms_text(PM_MIG(m, VERIFY_NS), b[0], sizeof(b[0])));
	if (PM_MIG(m, ROLE) == PARTMOB_MIG_SOURCE &&
	    m->has[PARTMOB_A_MIG_HARVEST_NS])
		printf("  time spent:        harvest %s, sending %s, waiting for the destination %s\n",
		       ms_text(PM_MIG(m, HARVEST_NS), b[0], sizeof(b[0])),
		       ms_text(PM_MIG(m, SOCK_NS), b[1], sizeof(b[1])),
		       ms_text(PM_MIG(m, WAIT_NS), b[2], sizeof(b[2])));
	if (m->error[0] || m->has[PARTMOB_A_MIG_ERRNO])
		printf("  error:             %s%s%s%s\n",
		       m->error[0] ? m->error : "",
		       m->has[PARTMOB_A_MIG_ERRNO] ? " (" : "",
		       m->has[PARTMOB_A_MIG_ERRNO] ?
		       strerror((int)PM_MIG(m, ERRNO)) : "",
		       m->has[PARTMOB_A_MIG_ERRNO] ? ")" : "");
	if (PM_MIG(m, STATE) == PARTMOB_MIG_S_IN_DOUBT)
		printf("  hint:              run '%s recover %s'\n", pm_prog,
		       m->name);
}

static int cmp_mig(const void *a, const void *b)
{
	return strcmp(((const struct pm_mig *)a)->name,
		      ((const struct pm_mig *)b)->name);
}

int cmd_status(int argc, char **argv, struct pm_opts *o)
{
	struct pm_mig *list = NULL, one;
	struct pm_nl nl;
	struct json j;
	char *args[1], what[64];
	size_t i, n = 0;
	int nargs, ret;

	ret = pm_mig_parse(argc, argv, "status", o, NULL, status_help, NULL,
			   NULL, 0, 1, args, &nargs);
	if (ret >= 0)
		return ret;
	if (nargs) {
		ret = check_name("status", "region name", args[0]);
		if (ret >= 0)
			return ret;
	}
	ret = pm_nl_open(&nl);
	if (ret)
		return ret;
	if (nargs) {
		snprintf(what, sizeof(what), "status %s", args[0]);
		ret = pm_mig_get(&nl, args[0], &one);
		if (!ret) {
			list = &one;
			n = 1;
		}
	} else {
		snprintf(what, sizeof(what), "status");
		ret = pm_mig_dump(&nl, &list, &n);
	}
	if (ret < 0) {
		if (nargs && nl.err == ENOENT) {
			fprintf(stderr, "%s: %s: %s\n", pm_prog, what,
				nl.extack[0] ? nl.extack :
				"no such region, or it has no migration");
			ret = PM_EXIT_FAIL;
		} else {
			ret = nl_fail(what, &nl, ret);
		}
		pm_nl_close(&nl);
		return ret;
	}
	pm_nl_close(&nl);
	if (n > 1)
		qsort(list, n, sizeof(*list), cmp_mig);
	if (o->json) {
		json_init(&j, stdout, o->pretty);
		json_open_array(&j, NULL);
		for (i = 0; i < n; i++)
			pm_mig_json(&j, &list[i]);
		json_close_array(&j);
		json_end(&j);
	} else {
		for (i = 0; i < n; i++) {
			if (i)
				printf("\n");
			status_text(&list[i]);
		}
	}
	fflush(stdout);
	if (list != &one)
		free(list);
	return PM_EXIT_OK;
}

/* ---- abort ---------------------------------------------------------------- */

static void abort_help(FILE *f)
{
	fprintf(f,
		"Usage: %s abort NAME\n"
		"\n"
		"Abort the migration of the region NAME before its decision: the\n"
		"source region is thawed and runs on, the destination region is\n"
		"deleted. Works on either side; fails (EALREADY) once the migration\n"
		"is decided or has ended.\n"
		"Needs CAP_NET_ADMIN and CAP_SYS_ADMIN.\n", pm_prog);
}

int cmd_abort(int argc, char **argv, struct pm_opts *o)
{
	struct pm_nl nl;
	char *args[1], what[64];
	int nargs, ret;

	ret = pm_mig_parse(argc, argv, "abort", o, NULL, abort_help, NULL,
			   NULL, 1, 1, args, &nargs);
	if (ret >= 0)
		return ret;
	ret = check_name("abort", "region name", args[0]);
	if (ret >= 0)
		return ret;
	snprintf(what, sizeof(what), "abort %s", args[0]);
	ret = pm_nl_open(&nl);
	if (ret)
		return ret;
	ret = pm_mig_control(&nl, args[0], PARTMOB_MIG_A_ABORT);
	if (ret < 0 && nl.err == EALREADY && !nl.extack[0]) {
		fprintf(stderr,
			"%s: %s: the migration is already decided or has ended\n",
			pm_prog, what);
		ret = PM_EXIT_FAIL;
	} else if (ret < 0 && nl.err == ENOENT && !nl.extack[0]) {
		fprintf(stderr, "%s: %s: no migration of region %s\n", pm_prog,
			what, args[0]);
		ret = PM_EXIT_FAIL;
	} else if (ret < 0) {
		ret = nl_fail(what, &nl, ret);
	}
	pm_nl_close(&nl);
	return ret;
}

/* ---- wait ------------------------------------------------------------------ */

static void wait_help(FILE *f)
{
	fprintf(f,
		"Usage: %s wait NAME [--timeout S] [-j|--json] [-p|--pretty]\n"
		"\n"
		"Wait until the migration of the region NAME has completed, failed or\n"
		"is in doubt, and print its state in one line (--json: the object of\n"
		"'status --json').\n"
		"\n"
		"  --timeout S     give up after S seconds (default: wait for ever)\n"
		"\n"
		"Exit status: 0 completed, 6 failed, 7 in doubt (see 'recover'),\n"
		"8 timed out. Needs CAP_NET_ADMIN.\n", pm_prog);
}

struct wait_opts {
	uint64_t timeout_s;
	bool have_timeout;
};

static int wait_opt(void *ctx, int opt, const char *arg)
{
	struct wait_opts *w = ctx;

	if (opt != OPT_TIMEOUT)
		return PM_EXIT_USAGE;
	if (parse_uint(arg, 0, 31536000, &w->timeout_s))
		return pm_usage_error("wait",
				      "--timeout: '%s' is not a number of seconds",
				      arg);
	w->have_timeout = true;
	return -1;
}

static void wait_print(const struct pm_mig *m, struct pm_opts *o)
{
	struct json j;
	char b[2][32];

	if (o->json) {
		json_init(&j, stdout, o->pretty);
		pm_mig_json(&j, m);
		json_end(&j);
		return;
	}
	printf("%s: %s", m->name, pm_mig_state_name(PM_MIG(m, STATE)));
	if (PM_MIG(m, STATE) == PARTMOB_MIG_S_COMPLETED)
		printf(" in %s, downtime %s",
		       ms_text(PM_MIG(m, TOTAL_NS), b[0], sizeof(b[0])),
		       ms_text(PM_MIG(m, DOWNTIME_NS), b[1], sizeof(b[1])));
	if (m->error[0])
		printf(": %s", m->error);
	if (PM_MIG(m, STATE) == PARTMOB_MIG_S_IN_DOUBT)
		printf(" (run '%s recover %s')", pm_prog, m->name);
	printf("\n");
	fflush(stdout);
}

int cmd_wait(int argc, char **argv, struct pm_opts *o)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ NULL, 0, NULL, 0 },
	};
	struct timespec tick = { 0, POLL_MS * 1000000L };
	struct wait_opts w = { 0 };
	struct pm_mig m = { 0 };
	struct pm_nl nl;
	char *args[1], what[64];
	uint64_t deadline, state;
	bool seen = false;
	int nargs, ret;

	ret = pm_mig_parse(argc, argv, "wait", o, opts, wait_help, wait_opt,
			   &w, 1, 1, args, &nargs);
	if (ret >= 0)
		return ret;
	ret = check_name("wait", "region name", args[0]);
	if (ret >= 0)
		return ret;
	snprintf(what, sizeof(what), "wait %s", args[0]);
	ret = pm_nl_open(&nl);
	if (ret)
		return ret;
	deadline = pm_now_ns() + w.timeout_s * 1000000000ULL;
	for (;;) {
		ret = pm_mig_get(&nl, args[0], &m);
		if (ret < 0 && nl.err == ENOENT && seen) {
			/* A failed destination region is deleted. */
			fprintf(stderr,
				"%s: %s: the region is gone: the migration failed here\n",
				pm_prog, what);
			ret = PM_EXIT_MIGFAIL;
			break;
		}
		if (ret < 0 && nl.err == ENOENT) {
			fprintf(stderr, "%s: %s: %s\n", pm_prog, what,
				nl.extack[0] ? nl.extack :
				"no such region, or it has no migration");
			ret = PM_EXIT_FAIL;
			break;
		}
		if (ret < 0) {
			ret = nl_fail(what, &nl, ret);
			break;
		}
		seen = true;
		state = PM_MIG(&m, STATE);
		if (state == PARTMOB_MIG_S_COMPLETED ||
		    state == PARTMOB_MIG_S_FAILED ||
		    state == PARTMOB_MIG_S_IN_DOUBT) {
			wait_print(&m, o);
			ret = state == PARTMOB_MIG_S_COMPLETED ? PM_EXIT_OK :
			      state == PARTMOB_MIG_S_FAILED ? PM_EXIT_MIGFAIL :
			      PM_EXIT_INDOUBT;
			break;
		}
		if (w.have_timeout && pm_now_ns() >= deadline) {
			fprintf(stderr,
				"%s: %s: timed out after %" PRIu64 " s in state %s\n",
				pm_prog, what, w.timeout_s,
				pm_mig_state_name(state));
			ret = PM_EXIT_TIMEOUT;
			break;
		}
		nanosleep(&tick, NULL);
	}
	pm_nl_close(&nl);
	return ret;
}

/* ---- recover --------------------------------------------------------------- */

static void recover_help(FILE *f)
{
	fprintf(f,
		"Usage: %s recover NAME [--resume-here | --discard]\n"
		"                  [--source HOST[:PORT]]\n"
		"                  [--psk-file F | --cert C --key K --ca A | --insecure]\n"
		"                  [--peer-name N]...\n"
		"\n"
		"Settle a destination region NAME that is in doubt: it received every\n"
		"page and said so, but the link failed before the source's decision\n"
		"arrived. The region stays frozen until this command.\n"
		"\n"
		"Without options, ask the source's 'partmobctl listen' (the peer address\n"
		"of the migration, port %d, or --source) how it ended:\n"
		"  committed                     resume the region here\n"
		"  aborted                       discard it (the source runs it)\n"
		"  the source host has rebooted  resume here (its copy is gone)\n"
		"  running or unknown            stay in doubt\n"
		"\n"
		"  --resume-here   resume here on your word, without asking\n"
		"  --discard       delete the region here on your word, without asking\n"
		"  --source HOST[:PORT]  where the source's listener is\n"
		"  --psk-file F    ask the source over TLS with the first key of F\n"
		"  --cert C --key K --ca A\n"
		"                  or with certificates, as for start\n"
		"  --peer-name N   the source's certificate must name N, not its HOST\n"
		"  --insecure      ask it over plain TCP (one of these is needed to ask)\n"
		"\n"
		"Resuming a region the source also resumed runs it twice; discarding a\n"
		"region the source committed loses it. Use the options only when the\n"
		"source cannot answer and you know how it ended.\n"
		"Exit status: 0 resumed here, 6 discarded, 7 still in doubt.\n"
		"Needs CAP_NET_ADMIN and CAP_SYS_ADMIN.\n", pm_prog, PARTMOB_HS_PORT);
}

struct recover_opts {
	bool resume, discard;
	const char *source;
	struct pm_tls_opts tls;
};

static int recover_opt(void *ctx, int opt, const char *arg)
{
	struct recover_opts *ro = ctx;

	switch (opt) {
	case OPT_RESUME_HERE:
		ro->resume = true;
		return -1;
	case OPT_DISCARD:
		ro->discard = true;
		return -1;
	case OPT_SOURCE:
		ro->source = arg;
		return -1;
	}
	return pm_tls_opt("recover", &ro->tls, opt, arg);
}

static void recover_json(struct pm_opts *o, const char *name,
			 const char *action, const char *reason,
			 const struct pm_hs_reply *r, const char *addr)
{
	struct json j;

	if (!o->json)
		return;
	json_init(&j, stdout, o->pretty);
	json_open(&j, NULL);
	json_str(&j, "region", name);
	json_str(&j, "action", action);
	json_str(&j, "reason", reason);
	if (addr)
		json_str(&j, "source", addr);
	if (r) {
		json_str(&j, "source_outcome", pm_hs_outcome_name(r->outcome));
		json_str(&j, "source_boot_id", r->boot_id);
	}
	json_close(&j);
	json_end(&j);
}

/* RESUME or DISCARD the region. Return: 0 or the exit code of a failure. */
static int settle(struct pm_nl *nl, const char *what, const char *name,
		  bool resume)
{
	int ret;

	ret = pm_mig_control(nl, name, resume ? PARTMOB_MIG_A_RESUME :
			     PARTMOB_MIG_A_DISCARD);
	if (ret < 0)
		return nl_fail(what, nl, ret);
	return 0;
}

int cmd_recover(int argc, char **argv, struct pm_opts *o)
{
	static const struct option opts[] = {
		{ "resume-here", no_argument, NULL, OPT_RESUME_HERE },
		{ "discard", no_argument, NULL, OPT_DISCARD },
		{ "source", required_argument, NULL, OPT_SOURCE },
		PM_TLS_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct recover_opts ro = { 0 };
	struct pm_tls *tls = NULL;
	struct pm_hs_hello h = { 0 };
	struct pm_hs_reply rep;
	struct pm_local l;
	struct pm_mig m;
	struct pm_nl nl;
	char *args[1], what[64], host[256], port[8], addr[300], why[700];
	char reason[600];
	uint64_t state;
	bool resume;
	int nargs, ret;

	ret = pm_mig_parse(argc, argv, "recover", o, opts, recover_help,
			   recover_opt, &ro, 1, 1, args, &nargs);
	if (ret >= 0)
		return ret;
	ret = check_name("recover", "region name", args[0]);
	if (ret >= 0)
		return ret;
	if (ro.resume && ro.discard)
		return pm_usage_error("recover",
				      "--resume-here and --discard exclude each other");
	if (ro.source && (ro.resume || ro.discard))
		return pm_usage_error("recover",
				      "--source asks the source; --resume-here and --discard do not");
	if (ro.source && pm_split_hostport(ro.source, host, sizeof(host), port,
					   sizeof(port), why, sizeof(why)))
		return pm_usage_error("recover", "--source %s", why);
	if (pm_tls_opts_given(&ro.tls) && (ro.resume || ro.discard))
		return pm_usage_error("recover",
				      "--psk-file, the certificate options and --insecure are for asking the source; --resume-here and --discard do not");
	if (!ro.resume && !ro.discard) {
		ret = pm_tls_opts_check("recover", &ro.tls);
		if (ret >= 0)
			return ret;
		if (pm_tls_new(&ro.tls, false, &tls, why, sizeof(why))) {
			fprintf(stderr, "%s: recover %s: %s\n", pm_prog,
				args[0], why);
			return PM_EXIT_FAIL;
		}
	}
	snprintf(what, sizeof(what), "recover %s", args[0]);

	ret = pm_nl_open(&nl);
	if (ret) {
		pm_tls_free(tls);
		return ret;
	}
	ret = pm_mig_get(&nl, args[0], &m);
	if (ret < 0) {
		if (nl.err == ENOENT) {
			fprintf(stderr, "%s: %s: %s\n", pm_prog, what,
				nl.extack[0] ? nl.extack :
				"no such region, or it has no migration");
			ret = PM_EXIT_FAIL;
		} else {
			ret = nl_fail(what, &nl, ret);
		}
		goto out;
	}
	state = PM_MIG(&m, STATE);
	if (PM_MIG(&m, ROLE) != PARTMOB_MIG_DEST ||
	    state != PARTMOB_MIG_S_IN_DOUBT) {
		fprintf(stderr, "%s: %s: not in doubt: the %s is %s%s\n",
			pm_prog, what, pm_mig_role_name(PM_MIG(&m, ROLE)),
			pm_mig_state_name(state),
			state == PARTMOB_MIG_S_PREPARED ?
			" (waiting for the source's decision)" : "");
		ret = state == PARTMOB_MIG_S_COMPLETED ? PM_EXIT_OK :
		      state == PARTMOB_MIG_S_FAILED ? PM_EXIT_MIGFAIL :
		      PM_EXIT_FAIL;
		goto out;
	}

	if (ro.resume || ro.discard) {
		fprintf(stderr,
			"%s: %s: warning: %s on the operator's word, without asking the source: %s\n",
			pm_prog, what, ro.resume ? "resuming here" : "discarding",
			ro.resume ?
			"if the source resumed too, the region now runs twice" :
			"if the source committed, the region is lost");
		ret = settle(&nl, what, args[0], ro.resume);
		if (ret)
			goto out;
		recover_json(o, args[0], ro.resume ? "resume" : "discard",
			     "operator", NULL, NULL);
		if (!o->json)
			printf("%s: %s\n", args[0], ro.resume ?
			       "resumed here" : "discarded");
		ret = ro.resume ? PM_EXIT_OK : PM_EXIT_MIGFAIL;
		goto out;
	}

	if (!ro.source) {
		if (!m.peer[0]) {
			fprintf(stderr,
				"%s: %s: the migration does not name its source; give --source HOST[:PORT]\n",
				pm_prog, what);
			ret = PM_EXIT_INDOUBT;
			goto out;
		}
		if (pm_split_hostport(m.peer, host, sizeof(host), port,
				      sizeof(port), why, sizeof(why))) {
			fprintf(stderr,
				"%s: %s: the source's address '%s' cannot be used (%s); give --source HOST[:PORT]\n",
				pm_prog, what, m.peer, why);
			ret = PM_EXIT_INDOUBT;
			goto out;
		}
		/* The source's listener, not the port it connected from. */
		snprintf(port, sizeof(port), "%d", PARTMOB_HS_PORT);
	}

	ret = pm_local_get(&nl, &l);
	if (ret < 0) {
		ret = nl_fail(what, &nl, ret);
		goto out;
	}
	ret = pm_boot_id(l.boot_id, sizeof(l.boot_id));
	if (ret < 0) {
		fprintf(stderr, "%s: %s: cannot read this host's boot id: %s\n",
			pm_prog, what, strerror(-ret));
		ret = PM_EXIT_FAIL;
		goto out;
	}
	h.op = PARTMOB_HS_OP_QUERY;
	h.wire_version = l.wire_version;
	h.page_size = l.page_size;
	h.features = l.features;
	h.mig_id = PM_MIG(&m, ID);
	snprintf(h.arch, sizeof(h.arch), "%s", l.arch);
	snprintf(h.module_version, sizeof(h.module_version), "%s",
		 l.module_version);
	snprintf(h.region, sizeof(h.region), "%s", args[0]);
	snprintf(h.boot_id, sizeof(h.boot_id), "%s", l.boot_id);

	ret = pm_hs_exchange(host, port, tls, &h, &rep, NULL, addr,
			     sizeof(addr), why, sizeof(why));
	if (ret || rep.status != PARTMOB_HS_OK) {
		if (!ret)
			snprintf(why, sizeof(why), "%s refused the query (%s): %s",
				 addr, pm_hs_status_name(rep.status),
				 rep.message);
		fprintf(stderr,
			"%s: %s: cannot ask the source: %s; staying in doubt (if the source host is gone for good, use --resume-here)\n",
			pm_prog, what, why);
		recover_json(o, args[0], "none", why, NULL, addr);
		ret = PM_EXIT_INDOUBT;
		goto out;
	}

	if (m.peer_boot_id[0] && rep.boot_id[0] &&
	    strcmp(m.peer_boot_id, rep.boot_id)) {
		resume = true;
		snprintf(reason, sizeof(reason),
			 "the source host has rebooted since the migration (boot id %s, was %s): its copy is gone",
			 rep.boot_id, m.peer_boot_id);
	} else if (rep.outcome == PARTMOB_HS_OUTCOME_COMMITTED) {
		resume = true;
		snprintf(reason, sizeof(reason), "the source committed");
	} else if (rep.outcome == PARTMOB_HS_OUTCOME_ABORTED) {
		resume = false;
		snprintf(reason, sizeof(reason),
			 "the source aborted and runs the region");
	} else {
		snprintf(reason, sizeof(reason),
			 "the source says the migration is %s",
			 pm_hs_outcome_name(rep.outcome));
		fprintf(stderr,
			"%s: %s: %s; staying in doubt (run recover again later, or use --resume-here or --discard if you know how it ended)\n",
			pm_prog, what, reason);
		recover_json(o, args[0], "none", reason, &rep, addr);
		ret = PM_EXIT_INDOUBT;
		goto out;
	}
	ret = settle(&nl, what, args[0], resume);
	if (ret)
		goto out;
	recover_json(o, args[0], resume ? "resume" : "discard", reason, &rep,
		     addr);
	if (!o->json)
		printf("%s: %s: %s\n", args[0], reason,
		       resume ? "resumed here" : "discarded here");
	ret = resume ? PM_EXIT_OK : PM_EXIT_MIGFAIL;
out:
	pm_nl_close(&nl);
	pm_tls_free(tls);
	return ret;
}
