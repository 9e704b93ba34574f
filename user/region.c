// SPDX-License-Identifier: GPL-2.0
/*
 * partmobctl region: create, delete, list and show regions, harvest their
 * dirty logs, freeze and thaw their writers.
 *
 *   partmobctl region create NAME SIZE [--overcommit] [--owner UID|USER]
 *                            [--group GID|GROUP] [--mode OCTAL]
 *   partmobctl region delete NAME
 *   partmobctl region [list] [--json]
 *   partmobctl region show NAME [--json]
 *   partmobctl region dirty NAME [--json] [--count]
 *   partmobctl region freeze NAME
 *   partmobctl region thaw NAME
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netlink/genl/genl.h>

#include <linux/partmob.h>

#include "json.h"
#include "nl.h"
#include "partmobctl.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* ---- what the kernel reports about a region ---------------------------- */

enum field_type { F_U8, F_U32, F_U64 };

/* Every numeric attribute of a PARTMOB_CMD_REGION_GET answer. */
static const struct {
	int attr;
	enum field_type type;
	const char *key;	/* --json member */
} fields[] = {
	{ PARTMOB_A_REGION_SIZE, F_U64, "size" },
	{ PARTMOB_A_REGION_FLAGS, F_U32, "flags" },
	{ PARTMOB_A_REGION_UID, F_U32, "uid" },
	{ PARTMOB_A_REGION_GID, F_U32, "gid" },
	{ PARTMOB_A_REGION_MODE, F_U32, "mode" },
	{ PARTMOB_A_REGION_USERS, F_U32, "users" },
	{ PARTMOB_A_REGION_FROZEN, F_U8, "frozen" },
	{ PARTMOB_A_REGION_DIRTY, F_U64, "dirty" },
	{ PARTMOB_A_REGION_STAT_FAULTS, F_U64, "faults" },
	{ PARTMOB_A_REGION_STAT_DIRTIED, F_U64, "dirtied" },
	{ PARTMOB_A_REGION_STAT_HARVESTS, F_U64, "harvests" },
	{ PARTMOB_A_REGION_STAT_HARVESTED, F_U64, "harvested" },
	{ PARTMOB_A_REGION_STAT_FROZEN_WAITS, F_U64, "frozen_waits" },
	{ PARTMOB_A_REGION_STAT_PINNED, F_U64, "pinned" },
	{ PARTMOB_A_REGION_STAT_REMOVED, F_U64, "removed" },
};

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

struct region {
	char name[PARTMOB_REGION_NAME_MAX + 1];
	uint64_t val[PARTMOB_A_MAX + 1];	/* indexed by attribute */
	bool has[PARTMOB_A_MAX + 1];
};

struct region_list {
	struct region *r;
	size_t n, cap;
};

static int get_num(const struct nlattr *a, enum field_type t, uint64_t *v)
{
	switch (t) {
	case F_U8:
		if (nla_len(a) < 1)
			return -EBADMSG;
		*v = nla_get_u8((struct nlattr *)a);
		return 0;
	case F_U32:
		if (nla_len(a) < 4)
			return -EBADMSG;
		*v = nla_get_u32((struct nlattr *)a);
		return 0;
	case F_U64:
		if (nla_len(a) < 8)
			return -EBADMSG;
		*v = nla_get_u64((struct nlattr *)a);
		return 0;
	}
	return -EBADMSG;
}

static int parse_region(struct nlattr **tb, struct region *r)
{
	struct nlattr *name = tb[PARTMOB_A_REGION_NAME];
	size_t i;

	memset(r, 0, sizeof(*r));
	if (!name || !tb[PARTMOB_A_REGION_SIZE] || nla_len(name) < 1)
		return -EBADMSG;
	snprintf(r->name, sizeof(r->name), "%.*s", nla_len(name),
		 (const char *)nla_data(name));
	for (i = 0; i < N_FIELDS; i++) {
		struct nlattr *a = tb[fields[i].attr];

		if (!a)
			continue;
		if (get_num(a, fields[i].type, &r->val[fields[i].attr]))
			return -EBADMSG;
		r->has[fields[i].attr] = true;
	}
	return 0;
}

static int parse_region_list(struct nlattr **tb, void *arg)
{
	struct region_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct region *r = realloc(l->r, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		l->r = r;
		l->cap = cap;
	}
	if (parse_region(tb, &l->r[l->n]))
		return -EBADMSG;
	l->n++;
	return 0;
}

/* ---- argument parsing -------------------------------------------------- */

/**
 * pm_parse_bytes() - bytes, or a number with a binary suffix K, M, G or T
 * (optionally followed by "iB" or "B": 16G, 16GiB, 16GB all mean 16 GiB);
 * with @per_second, optionally followed by "/s" (100M, 100MiB/s)
 * @s: the text
 * @per_second: a rate, not a size
 * @out: the value
 *
 * Return: NULL, or an error message.
 */
const char *pm_parse_bytes(const char *s, bool per_second, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return "not a number";
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return "too large";
	switch (*end) {
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case 't': case 'T':
		shift = 40;
		break;
	case '\0':
		break;
	default:
		if (!per_second)
			return "unknown suffix (use bytes, or K, M, G, T)";
	}
	if (shift) {
		end++;
		if (!strncmp(end, "iB", 2))
			end += 2;
		else if (*end == 'B')
			end++;
	}
	if (per_second && !strcmp(end, "/s"))
		end += 2;
	if (*end)
		return per_second ?
		       "trailing characters (use bytes per second, or K, M, G, T)" :
		       "trailing characters (use bytes, or K, M, G, T)";
	if (shift && v > (UINT64_MAX >> shift))
		return "too large";
	*out = (uint64_t)v << shift;
	return NULL;
}

/* human_size() - 16G, 256M, 1.5G, 4096: binary units, at most one decimal. */
static const char *human_size(uint64_t v, char *buf, size_t n)
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

/* An id given as digits; -1 if @s is not all digits, -2 if out of range. */
static long long parse_id(const char *s)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end)
		return -1;
	if (errno || v >= UINT32_MAX)	/* (uid_t)-1 means "no change" */
		return -2;
	return (long long)v;
}

/* The name rules of PARTMOB_CMD_REGION_NEW; NULL if @name is fine. */
static const char *bad_name(const char *name)
{
	size_t i, len = strlen(name);

	if (!len)
		return "the name is empty";
	if (len > PARTMOB_REGION_NAME_MAX)
		return "the name is longer than " STR(PARTMOB_REGION_NAME_MAX)
		       " characters";
	if (name[0] == '.' || name[0] == '-')
		return "the name must not start with '.' or '-'";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!isalnum(c) && c != '_' && c != '.' && c != '-')
			return "the name may only hold A-Z a-z 0-9 _ . -";
	}
	return NULL;
}

/* One region command being run: its name and the options it was given. */
struct cmd_ctx {
	const char *cmd;	/* "region create", for messages */
	struct pm_opts *o;
	bool overcommit, count, have_uid, have_gid, have_mode;
	uint32_t uid, gid, mode;
};

/*
 * --owner / --group: a numeric id, or a user (@group false) or group name
 * looked up through /etc/passwd, /etc/group or NSS. Returns -1 to go on,
 * or the usage error's exit code.
 */
static int resolve_id(struct cmd_ctx *c, const char *opt, const char *arg,
		      bool group, uint32_t *id_out, bool *have)
{
	long long id = parse_id(arg);

	if (id == -2)
		return pm_usage_error(c->cmd, "%s: %s %s is out of range", opt,
				      group ? "gid" : "uid", arg);
	if (id < 0) {
		struct passwd *pw = NULL;
		struct group *gr = NULL;

		errno = 0;
		if (group)
			gr = getgrnam(arg);
		else
			pw = getpwnam(arg);
		if (!pw && !gr)
			return pm_usage_error(c->cmd,
				"%s: no %s '%s'%s%s (the name could not be resolved through %s or NSS; give a numeric %s)",
				opt, group ? "group" : "user", arg,
				errno ? ": " : "", errno ? strerror(errno) : "",
				group ? "/etc/group" : "/etc/passwd",
				group ? "gid" : "uid");
		id = group ? gr->gr_gid : pw->pw_uid;
	}
	*id_out = (uint32_t)id;
	*have = true;
	return -1;
}

static int handle_opt(struct cmd_ctx *c, int opt, const char *arg)
{
	char *end;

	switch (opt) {
	case 'O':
		c->overcommit = true;
		return -1;
	case 'c':
		c->count = true;
		return -1;
	case 'o':
		return resolve_id(c, "--owner", arg, false, &c->uid,
				  &c->have_uid);
	case 'g':
		return resolve_id(c, "--group", arg, true, &c->gid,
				  &c->have_gid);
	case 'm': {
		unsigned long m;

		if (!isdigit((unsigned char)arg[0]))
			return pm_usage_error(c->cmd,
				"--mode: '%s' is not an octal mode", arg);
		errno = 0;
		m = strtoul(arg, &end, 8);
		if (errno || *end)
			return pm_usage_error(c->cmd,
				"--mode: '%s' is not an octal mode", arg);
		if (m > 0777)
			return pm_usage_error(c->cmd,
				"--mode: %s is more than 0777 (only permission bits are allowed)",
				arg);
		c->mode = (uint32_t)m;
		c->have_mode = true;
		return -1;
	}
	}
	return PM_EXIT_USAGE;
}

/*
 * parse_args() - options and positional arguments of a region command
 * @argc: argument count
 * @argv: argv[0] is the command ("create", ...)
 * @c: command context; its option fields are set by handle_opt()
 * @extra: the command's own long options (NULL-terminated), or NULL
 * @extra_short: the command's own short options
 * @help: prints the command's help
 * @nargs: positional arguments wanted (NAME [SIZE]); returned in @args
 * @args: receives the positional arguments
 *
 * Return: -1 to go on, or an exit code (help printed, or usage error).
 */
static int parse_args(int argc, char **argv, struct cmd_ctx *c,
		      const struct option *extra, const char *extra_short,
		      void (*help)(FILE *), int nargs, char **args)
{
	struct option longopts[16];
	char optstring[32];
	int i, n = 0, opt, ret;

	longopts[n++] = (struct option){ "json", no_argument, NULL, 'j' };
	longopts[n++] = (struct option){ "pretty", no_argument, NULL, 'p' };
	longopts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	for (i = 0; extra && extra[i].name; i++)
		longopts[n++] = extra[i];
	longopts[n] = (struct option){ NULL, 0, NULL, 0 };
	snprintf(optstring, sizeof(optstring), ":jph%s", extra_short);

	/* 0, not 1: re-initialise getopt, main() parsed in "+" order. */
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'j':
			c->o->json = true;
			break;
		case 'p':
			c->o->json = true;
			c->o->pretty = true;
			break;
		case 'h':
			help(stdout);
			return PM_EXIT_OK;
		case ':':
			return pm_usage_error(c->cmd,
					      "option '%s' needs an argument",
					      argv[optind - 1]);
		case '?':
			return pm_usage_error(c->cmd, "unknown option '%s'",
					      argv[optind - 1]);
		default:
			ret = handle_opt(c, opt, optarg);
			if (ret >= 0)
				return ret;
		}
	}
	for (i = 0; i < nargs; i++) {
		if (optind + i >= argc)
			return pm_usage_error(c->cmd, "missing %s",
					      i == 0 ? "NAME" : "SIZE");
		args[i] = argv[optind + i];
	}
	if (optind + nargs < argc)
		return pm_usage_error(c->cmd, "unexpected argument '%s'",
				      argv[optind + nargs]);
	if (nargs && strlen(args[0]) > PARTMOB_REGION_NAME_MAX)
		return pm_usage_error(c->cmd,
				      "region names are at most %d characters",
				      PARTMOB_REGION_NAME_MAX);
	return -1;
}

/* ---- talking to the module -------------------------------------------- */

/*
 * report() - print a failed request of @c, with a hint for the errors a
 * region command can meet. Return: the exit code.
 */
static int report(struct cmd_ctx *c, struct pm_nl *nl, int ret,
		  const char *name)
{
	char what[96];

	snprintf(what, sizeof(what), "%s%s%s", c->cmd, name ? " " : "",
		 name ? name : "");
	if (ret == -EBADMSG && !nl->err) {
		fprintf(stderr,
			"%s: %s: the module's answer is malformed or lacks required attributes\n",
			pm_prog, what);
		return PM_EXIT_FAIL;
	}
	if (ret == -ENOMEM && !nl->err) {
		fprintf(stderr, "%s: out of memory\n", pm_prog);
		return PM_EXIT_FAIL;
	}
	if ((nl->err == EPERM || nl->err == EACCES) && !nl->extack[0]) {
		fprintf(stderr,
			"%s: %s: permission denied: region commands need CAP_NET_ADMIN and CAP_SYS_ADMIN in the initial user namespace (run as root)\n",
			pm_prog, what);
		return PM_EXIT_PERM;
	}
	ret = pm_nl_report(nl, what);
	if (ret == PM_EXIT_FAIL && nl->err == ENOMEM &&
	    !strcmp(c->cmd, "region create"))
		fprintf(stderr,
			"%s: hint: the kernel would not reserve the whole size; --overcommit creates a sparse region whose pages are charged when touched\n",
			pm_prog);
	else if (ret == PM_EXIT_FAIL && nl->err == EBUSY &&
		 !strcmp(c->cmd, "region delete"))
		fprintf(stderr,
			"%s: hint: a process still has /dev/partmob/%s open or mapped\n",
			pm_prog, name);
	else if (nl->err == EOPNOTSUPP && !nl->extack[0])
		fprintf(stderr,
			"%s: hint: the loaded partmob module may be too old for region commands\n",
			pm_prog);
	return ret;
}

/*
 * request() - open a session, send @cmd for region @name (may be NULL) with
 * @flags, feed the answers to @parse. @put adds more attributes.
 * Return: PM_EXIT_OK or the exit code of the failure, already reported.
 */
static int request(struct cmd_ctx *c, uint8_t cmd, int flags,
		   const char *name, int (*put)(struct nl_msg *, void *),
		   void *put_arg, pm_nl_parse_t parse, void *arg)
{
	struct pm_nl nl;
	struct nl_msg *msg;
	int ret;

	ret = pm_nl_open(&nl);
	if (ret)
		return ret;
	msg = pm_nl_msg(&nl, cmd, flags);
	if (!msg || (name && nla_put_string(msg, PARTMOB_A_REGION_NAME, name)) ||
	    (put && put(msg, put_arg))) {
		if (msg)
			nlmsg_free(msg);
		pm_nl_close(&nl);
		fprintf(stderr, "%s: out of memory\n", pm_prog);
		return PM_EXIT_FAIL;
	}
	ret = pm_nl_request(&nl, msg, parse, arg);
	if (ret < 0)
		ret = report(c, &nl, ret, name);
	else
		ret = PM_EXIT_OK;
	pm_nl_close(&nl);
	return ret;
}

/* ---- create ------------------------------------------------------------ */

static void create_help(FILE *f)
{
	fprintf(f,
		"Usage: %s region create NAME SIZE [--overcommit] [--owner UID|USER]\n"
		"                  [--group GID|GROUP] [--mode OCTAL]\n"
		"\n"
		"Create the region NAME of SIZE bytes; it appears as /dev/partmob/NAME.\n"
		"\n"
		"  NAME            1 to %d characters of A-Z a-z 0-9 _ . -, not\n"
		"                  starting with '.' or '-'\n"
		"  SIZE            bytes, or with a binary suffix K, M, G, T (256M, 16G);\n"
		"                  a non-zero multiple of the page size (%ld here)\n"
		"  --overcommit    do not reserve the whole size against the kernel's\n"
		"                  overcommit limit (sparse guests)\n"
		"  --owner, -o     owner of /dev/partmob/NAME, a uid or user name (default 0)\n"
		"  --group, -g     group of /dev/partmob/NAME, a gid or group name (default 0)\n"
		"  --mode, -m      permission bits of /dev/partmob/NAME, octal (default 0600)\n"
		"\n"
		"Needs CAP_NET_ADMIN and CAP_SYS_ADMIN.\n",
		pm_prog, PARTMOB_REGION_NAME_MAX, sysconf(_SC_PAGESIZE));
}

struct create_args {
	uint64_t size;
	struct cmd_ctx *c;
};

static int put_create(struct nl_msg *msg, void *arg)
{
	struct create_args *a = arg;
	struct cmd_ctx *c = a->c;

	if (nla_put_u64(msg, PARTMOB_A_REGION_SIZE, a->size))
		return -1;
	if (c->overcommit &&
	    nla_put_u32(msg, PARTMOB_A_REGION_FLAGS,
			PARTMOB_REGION_F_OVERCOMMIT))
		return -1;
	if (c->have_uid && nla_put_u32(msg, PARTMOB_A_REGION_UID, c->uid))
		return -1;
	if (c->have_gid && nla_put_u32(msg, PARTMOB_A_REGION_GID, c->gid))
		return -1;
	if (c->have_mode && nla_put_u32(msg, PARTMOB_A_REGION_MODE, c->mode))
		return -1;
	return 0;
}

static int region_create(int argc, char **argv, struct cmd_ctx *c)
{
	static const struct option opts[] = {
		{ "overcommit", no_argument, NULL, 'O' },
		{ "owner", required_argument, NULL, 'o' },
		{ "user", required_argument, NULL, 'o' },
		{ "group", required_argument, NULL, 'g' },
		{ "mode", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	struct create_args a = { .c = c };
	long page = sysconf(_SC_PAGESIZE);
	char *args[2];
	const char *err;
	char hs[32];
	int ret;

	ret = parse_args(argc, argv, c, opts, "o:g:m:", create_help, 2, args);
	if (ret >= 0)
		return ret;
	err = bad_name(args[0]);
	if (err)
		return pm_usage_error(c->cmd, "bad region name '%s': %s",
				      args[0], err);
	err = pm_parse_bytes(args[1], false, &a.size);
	if (err)
		return pm_usage_error(c->cmd, "bad SIZE '%s': %s", args[1],
				      err);
	if (!a.size)
		return pm_usage_error(c->cmd, "SIZE must not be zero");
	if (page > 0 && a.size % (uint64_t)page)
		return pm_usage_error(c->cmd,
				      "SIZE %s (%" PRIu64 " bytes) is not a multiple of the page size, %ld bytes",
				      args[1], a.size, page);
	if (a.size > PARTMOB_REGION_SIZE_MAX)
		return pm_usage_error(c->cmd,
				      "SIZE %s is more than the largest region, %s",
				      args[1], human_size(PARTMOB_REGION_SIZE_MAX,
							  hs, sizeof(hs)));
	return request(c, PARTMOB_CMD_REGION_NEW, 0, args[0], put_create, &a,
		       NULL, NULL);
}

/* ---- delete, freeze, thaw ---------------------------------------------- */

static void delete_help(FILE *f)
{
	fprintf(f,
		"Usage: %s region delete NAME\n"
		"\n"
		"Delete the region NAME and its memory. Refused (EBUSY) while a\n"
		"process has /dev/partmob/NAME open or mapped.\n"
		"Needs CAP_NET_ADMIN and CAP_SYS_ADMIN.\n", pm_prog);
}

static void freeze_help(FILE *f)
{
	fprintf(f,
		"Usage: %s region freeze NAME\n"
		"\n"
		"Stop every writer of the region NAME: from the return on no page can\n"
		"be written, writers block (killably) until 'region thaw'; readers go\n"
		"on. A blocked writer holds its process's mmap lock: mmap, munmap and\n"
		"thread creation in that process wait too.\n"
		"Needs CAP_NET_ADMIN and CAP_SYS_ADMIN.\n", pm_prog);
}

static void thaw_help(FILE *f)
{
	fprintf(f,
		"Usage: %s region thaw NAME\n"
		"\n"
		"Let the writers of the frozen region NAME go on.\n"
		"Needs CAP_NET_ADMIN and CAP_SYS_ADMIN.\n", pm_prog);
}

static int simple_cmd(int argc, char **argv, struct cmd_ctx *c, uint8_t cmd,
		      void (*help)(FILE *))
{
	char *name;
	int ret;

	ret = parse_args(argc, argv, c, NULL, "", help, 1, &name);
	if (ret >= 0)
		return ret;
	return request(c, cmd, 0, name, NULL, NULL, NULL, NULL);
}

static int region_delete(int argc, char **argv, struct cmd_ctx *c)
{
	return simple_cmd(argc, argv, c, PARTMOB_CMD_REGION_DEL, delete_help);
}

static int region_freeze(int argc, char **argv, struct cmd_ctx *c)
{
	return simple_cmd(argc, argv, c, PARTMOB_CMD_REGION_FREEZE,
			  freeze_help);
}

static int region_thaw(int argc, char **argv, struct cmd_ctx *c)
{
	return simple_cmd(argc, argv, c, PARTMOB_CMD_REGION_THAW, thaw_help);
}

/* ---- list, show -------------------------------------------------------- */

static void list_help(FILE *f)
{
	fprintf(f,
		"Usage: %s region [list] [-j|--json] [-p|--pretty]\n"
		"\n"
		"List every region: name, size, users (open files plus mappings),\n"
		"whether it is frozen, pages logged dirty now, and the counters of\n"
		"write-notify faults, pages newly logged and harvests.\n"
		"--json prints an array of objects with every attribute.\n"
		"Needs CAP_NET_ADMIN.\n", pm_prog);
}

static void show_help(FILE *f)
{
	fprintf(f,
		"Usage: %s region show NAME [-j|--json] [-p|--pretty]\n"
		"\n"
		"Show every attribute and counter of the region NAME.\n"
		"Needs CAP_NET_ADMIN.\n", pm_prog);
}

static void json_region(struct json *j, const struct region *r)
{
	size_t i;

	json_open(j, NULL);
	json_str(j, "name", r->name);
	for (i = 0; i < N_FIELDS; i++) {
		int a = fields[i].attr;

		if (!r->has[a])
			continue;
		if (a == PARTMOB_A_REGION_FROZEN)
			json_bool(j, fields[i].key, r->val[a]);
		else
			json_u64(j, fields[i].key, r->val[a]);
		if (a == PARTMOB_A_REGION_FLAGS)
			json_bool(j, "overcommit",
				  r->val[a] & PARTMOB_REGION_F_OVERCOMMIT);
	}
	json_close(j);
}

static int cmp_region(const void *a, const void *b)
{
	return strcmp(((const struct region *)a)->name,
		      ((const struct region *)b)->name);
}

/* A counter for the table: "-" when the module did not send it. */
static const char *num(const struct region *r, int attr, char *buf, size_t n)
{
	if (!r->has[attr])
		return "-";
	snprintf(buf, n, "%" PRIu64, r->val[attr]);
	return buf;
}

static int region_list(int argc, char **argv, struct cmd_ctx *c)
{
	struct region_list l = { 0 };
	char b[6][24];
	size_t i, w = 4;
	struct json j;
	int ret;

	ret = parse_args(argc, argv, c, NULL, "", list_help, 0, NULL);
	if (ret >= 0)
		return ret;
	ret = request(c, PARTMOB_CMD_REGION_GET, NLM_F_DUMP, NULL, NULL, NULL,
		      parse_region_list, &l);
	if (ret) {
		free(l.r);
		return ret;
	}
	qsort(l.r, l.n, sizeof(*l.r), cmp_region);
	if (c->o->json) {
		json_init(&j, stdout, c->o->pretty);
		json_open_array(&j, NULL);
		for (i = 0; i < l.n; i++)
			json_region(&j, &l.r[i]);
		json_close_array(&j);
		json_end(&j);
		free(l.r);
		return PM_EXIT_OK;
	}
	for (i = 0; i < l.n; i++)
		if (strlen(l.r[i].name) > w)
			w = strlen(l.r[i].name);
	printf("%-*s %8s %6s %6s %10s %12s %12s %9s\n", (int)w, "NAME", "SIZE",
	       "USERS", "FROZEN", "DIRTY", "FAULTS", "DIRTIED", "HARVESTS");
	for (i = 0; i < l.n; i++) {
		const struct region *r = &l.r[i];

		printf("%-*s %8s %6s %6s %10s %12s %12s %9s\n", (int)w, r->name,
		       human_size(r->val[PARTMOB_A_REGION_SIZE], b[0],
				  sizeof(b[0])),
		       num(r, PARTMOB_A_REGION_USERS, b[1], sizeof(b[1])),
		       !r->has[PARTMOB_A_REGION_FROZEN] ? "-" :
		       r->val[PARTMOB_A_REGION_FROZEN] ? "yes" : "no",
		       num(r, PARTMOB_A_REGION_DIRTY, b[2], sizeof(b[2])),
		       num(r, PARTMOB_A_REGION_STAT_FAULTS, b[3], sizeof(b[3])),
		       num(r, PARTMOB_A_REGION_STAT_DIRTIED, b[4], sizeof(b[4])),
		       num(r, PARTMOB_A_REGION_STAT_HARVESTS, b[5],
			   sizeof(b[5])));
	}
	fflush(stdout);
	free(l.r);
	return PM_EXIT_OK;
}

static void show_text(const struct region *r)
{
	static const struct {
		int attr;
		const char *label;
	} counters[] = {
		{ PARTMOB_A_REGION_DIRTY, "dirty now" },
		{ PARTMOB_A_REGION_STAT_FAULTS, "faults" },
		{ PARTMOB_A_REGION_STAT_DIRTIED, "dirtied" },
		{ PARTMOB_A_REGION_STAT_HARVESTS, "harvests" },
		{ PARTMOB_A_REGION_STAT_HARVESTED, "harvested" },
		{ PARTMOB_A_REGION_STAT_FROZEN_WAITS, "frozen waits" },
		{ PARTMOB_A_REGION_STAT_PINNED, "pinned" },
		{ PARTMOB_A_REGION_STAT_REMOVED, "removed" },
	};
	char hs[32];
	size_t i;

	printf("name:          %s\n", r->name);
	printf("size:          %s (%" PRIu64 " bytes)\n",
	       human_size(r->val[PARTMOB_A_REGION_SIZE], hs, sizeof(hs)),
	       r->val[PARTMOB_A_REGION_SIZE]);
	if (r->has[PARTMOB_A_REGION_FLAGS]) {
		uint64_t fl = r->val[PARTMOB_A_REGION_FLAGS];

		printf("flags:        ");
		if (fl & PARTMOB_REGION_F_OVERCOMMIT)
			printf(" overcommit");
		if (fl & ~(uint64_t)__PARTMOB_REGION_F_ALL)
			printf(" unknown:0x%" PRIx64,
			       fl & ~(uint64_t)__PARTMOB_REGION_F_ALL);
		if (!fl)
			printf(" none");
		printf("\n");
	}
	if (r->has[PARTMOB_A_REGION_UID] && r->has[PARTMOB_A_REGION_GID] &&
	    r->has[PARTMOB_A_REGION_MODE])
		printf("device:        /dev/partmob/%s uid %" PRIu64 " gid %" PRIu64
		       " mode %04" PRIo64 "\n", r->name,
		       r->val[PARTMOB_A_REGION_UID],
		       r->val[PARTMOB_A_REGION_GID],
		       r->val[PARTMOB_A_REGION_MODE]);
	if (r->has[PARTMOB_A_REGION_USERS])
		printf("users:         %" PRIu64 "\n",
		       r->val[PARTMOB_A_REGION_USERS]);
	if (r->has[PARTMOB_A_REGION_FROZEN])
		printf("frozen:        %s\n",
		       r->val[PARTMOB_A_REGION_FROZEN] ? "yes" : "no");
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		char label[32];

		if (!r->has[counters[i].attr])
			continue;
		snprintf(label, sizeof(label), "%s:", counters[i].label);
		printf("%-14s %" PRIu64 "\n", label, r->val[counters[i].attr]);
	}
}

static int region_show(int argc, char **argv, struct cmd_ctx *c)
{
	struct region_list l = { 0 };
	struct json j;
	char *name;
	int ret;

	ret = parse_args(argc, argv, c, NULL, "", show_help, 1, &name);
	if (ret >= 0)
		return ret;
	ret = request(c, PARTMOB_CMD_REGION_GET, 0, name, NULL, NULL,
		      parse_region_list, &l);
	if (ret) {
		free(l.r);
		return ret;
	}
	if (l.n != 1) {
		fprintf(stderr, "%s: %s %s: the module sent %zu answers\n",
			pm_prog, c->cmd, name, l.n);
		free(l.r);
		return PM_EXIT_FAIL;
	}
	if (c->o->json) {
		json_init(&j, stdout, c->o->pretty);
		json_region(&j, &l.r[0]);
		json_end(&j);
	} else {
		show_text(&l.r[0]);
	}
	fflush(stdout);
	free(l.r);
	return PM_EXIT_OK;
}

/* ---- dirty ------------------------------------------------------------- */

static void dirty_help(FILE *f)
{
	fprintf(f,
		"Usage: %s region dirty NAME [--count] [-j|--json] [-p|--pretty]\n"
		"\n"
		"Harvest the dirty log of the region NAME: print the indexes of the\n"
		"pages written since the last harvest, as ranges (\"0-3 17 100-131\").\n"
		"Harvesting re-arms the log: each page is write-protected again and\n"
		"its bit cleared, so it is reported again only after a new write.\n"
		"A page is the kernel's page size (%ld bytes here).\n"
		"\n"
		"  --count, -c     print only the number of dirty pages\n"
		"  --json          {\"name\": NAME, \"pages\": N, \"ranges\": [[first, last], ...]}\n"
		"\n"
		"Needs CAP_NET_ADMIN and CAP_SYS_ADMIN.\n", pm_prog,
		sysconf(_SC_PAGESIZE));
}

struct range {
	uint64_t first, last;
};

struct dirty {
	struct range *r;
	size_t n, cap;
	uint64_t pages;
	bool sorted;
};

static int add_page(struct dirty *d, uint64_t p)
{
	if (d->n && d->r[d->n - 1].last + 1 == p) {
		d->r[d->n - 1].last = p;
	} else {
		if (d->n && p <= d->r[d->n - 1].last)
			d->sorted = false;
		if (d->n == d->cap) {
			size_t cap = d->cap ? 2 * d->cap : 64;
			struct range *r = realloc(d->r, cap * sizeof(*r));

			if (!r)
				return -ENOMEM;
			d->r = r;
			d->cap = cap;
		}
		d->r[d->n++] = (struct range){ p, p };
	}
	d->pages++;
	return 0;
}

static int parse_dirty(struct nlattr **tb, void *arg)
{
	struct nlattr *bm = tb[PARTMOB_A_DIRTY_BITMAP];
	struct dirty *d = arg;
	const unsigned char *b;
	uint64_t off;
	int i, bit, len;

	if (!tb[PARTMOB_A_DIRTY_OFFSET] || !bm ||
	    nla_len(tb[PARTMOB_A_DIRTY_OFFSET]) < 8)
		return -EBADMSG;
	off = nla_get_u64(tb[PARTMOB_A_DIRTY_OFFSET]);
	len = nla_len(bm);
	if (len > PARTMOB_DIRTY_CHUNK_BYTES ||
	    off > UINT64_MAX - 8 * (uint64_t)len)
		return -EBADMSG;
	b = nla_data(bm);
	for (i = 0; i < len; i++) {
		if (!b[i])
			continue;
		for (bit = 0; bit < 8; bit++)
			if ((b[i] >> bit) & 1 &&
			    add_page(d, off + 8 * (uint64_t)i + bit))
				return -ENOMEM;
	}
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Chunks out of order (or repeated): sort, merge, recount. */
static void normalize(struct dirty *d)
{
	size_t i, n = 0;

	if (d->sorted || !d->n)
		return;
	qsort(d->r, d->n, sizeof(*d->r), cmp_range);
	for (i = 1; i < d->n; i++) {
		if (d->r[i].first <= d->r[n].last + 1) {
			if (d->r[i].last > d->r[n].last)
				d->r[n].last = d->r[i].last;
		} else {
			d->r[++n] = d->r[i];
		}
	}
	d->n = n + 1;
	d->pages = 0;
	for (i = 0; i < d->n; i++)
		d->pages += d->r[i].last - d->r[i].first + 1;
}

static int region_dirty(int argc, char **argv, struct cmd_ctx *c)
{
	static const struct option opts[] = {
		{ "count", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct dirty d = { .sorted = true };
	struct json j;
	char *name;
	size_t i;
	int ret;

	ret = parse_args(argc, argv, c, opts, "c", dirty_help, 1, &name);
	if (ret >= 0)
		return ret;
	ret = request(c, PARTMOB_CMD_REGION_DIRTY, NLM_F_DUMP, name, NULL,
		      NULL, parse_dirty, &d);
	if (ret) {
		free(d.r);
		return ret;
	}
	normalize(&d);
	if (c->o->json) {
		json_init(&j, stdout, c->o->pretty);
		json_open(&j, NULL);
		json_str(&j, "name", name);
		json_u64(&j, "pages", d.pages);
		if (!c->count) {
			json_open_array(&j, "ranges");
			for (i = 0; i < d.n; i++) {
				json_open_array(&j, NULL);
				json_u64(&j, NULL, d.r[i].first);
				json_u64(&j, NULL, d.r[i].last);
				json_close_array(&j);
			}
			json_close_array(&j);
		}
		json_close(&j);
		json_end(&j);
	} else if (c->count) {
		printf("%" PRIu64 "\n", d.pages);
	} else {
		for (i = 0; i < d.n; i++) {
			if (d.r[i].first == d.r[i].last)
				printf("%s%" PRIu64, i ? " " : "",
				       d.r[i].first);
			else
				printf("%s%" PRIu64 "-%" PRIu64, i ? " " : "",
				       d.r[i].first, d.r[i].last);
		}
		printf("\n");
	}
	fflush(stdout);
	free(d.r);
	return PM_EXIT_OK;
}

/* ---- dispatch ---------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv, struct cmd_ctx *c);
	const char *summary;
} cmds[] = {
	{ "create", region_create, "create a region: NAME SIZE [--overcommit] [--owner] [--group] [--mode]" },
	{ "delete", region_delete, "delete a region that nobody has open or mapped" },
	{ "list", region_list, "list regions and their counters (the default)" },
	{ "show", region_show, "show one region" },
	{ "dirty", region_dirty, "harvest the dirty log: pages written since the last harvest" },
	{ "freeze", region_freeze, "block every writer of a region" },
	{ "thaw", region_thaw, "let the writers of a frozen region go on" },
};

static void region_help(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: %s region [COMMAND] [ARGS...]\n"
		"       %s region COMMAND --help\n"
		"\nCommands:\n", pm_prog, pm_prog);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f,
		"\nA region is a named, fixed-size piece of guest memory that appears\n"
		"as /dev/partmob/NAME; a VMM maps it MAP_SHARED as guest RAM.\n");
}

int cmd_region(int argc, char **argv, struct pm_opts *o)
{
	char cmdname[32];
	struct cmd_ctx c = { .o = o };
	size_t i;

	if (argc < 2 || argv[1][0] == '-') {
		/* "region", "region --json": list; "region --help": help */
		for (i = 1; i < (size_t)argc; i++)
			if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
				region_help(stdout);
				return PM_EXIT_OK;
			}
		c.cmd = "region list";
		return region_list(argc, argv, &c);
	}
	if (!strcmp(argv[1], "help")) {
		region_help(stdout);
		return PM_EXIT_OK;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		snprintf(cmdname, sizeof(cmdname), "region %s", cmds[i].name);
		c.cmd = cmdname;
		return cmds[i].fn(argc - 1, argv + 1, &c);
	}
	fprintf(stderr, "%s: region: unknown command '%s'\n", pm_prog, argv[1]);
	region_help(stderr);
	return PM_EXIT_USAGE;
}
