/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Migrations: what mig.c (the source, validate, status, abort, wait,
 * recover) and listen.c (the destination) share: the migration requests of
 * the netlink family, this host's identity for a hello, TCP endpoints, and
 * units for people.
 */
#ifndef PARTMOBCTL_MIG_H
#define PARTMOBCTL_MIG_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/partmob.h>

#include "handshake.h"
#include "json.h"
#include "nl.h"
#include "partmobctl.h"
#include "tls.h"

/* The answer of PARTMOB_CMD_MIG_GET for one region. */
struct pm_mig {
	char name[PARTMOB_REGION_NAME_MAX + 1];
	char peer[PARTMOB_MIG_PEER_MAX + 1];
	char peer_boot_id[PARTMOB_BOOT_ID_MAX + 1];
	char error[PARTMOB_MIG_ERROR_MAX + 1];
	uint64_t val[PARTMOB_A_MAX + 1];	/* numbers, by attribute */
	bool has[PARTMOB_A_MAX + 1];
};

#define PM_MIG(m, a)	((m)->val[PARTMOB_A_MIG_##a])

/* What a hello says about this host, from GET_INFO and /proc. */
struct pm_local {
	uint32_t wire_version;
	uint32_t page_size;
	uint64_t features;
	char arch[16];
	char module_version[32];
	char boot_id[PARTMOB_BOOT_ID_MAX + 4];
};

/* What a destination region is created with, from REGION_GET. */
struct pm_region_attrs {
	uint64_t size;
	uint32_t flags, uid, gid, mode;
};

struct pm_mig_start {
	const char *name;
	uint32_t role;			/* enum partmob_mig_role */
	int fd;				/* the connected socket */
	uint64_t mig_id;
	const char *peer;		/* may be NULL */
	const char *peer_boot_id;	/* may be NULL */
	uint64_t max_bandwidth;		/* source; 0: unlimited */
	uint32_t flags;			/* enum partmob_mig_flags (dest: hold) */
	uint32_t timeout_ms;		/* the link's timeouts; 0: the module's */
	uint32_t streams;		/* connections; 0 or 1: one */
	const struct pm_region_attrs *region;	/* destination */
};

/*
 * Netlink, on an open session. Each returns 0 or a negative errno; a
 * kernel error leaves nl->err and nl->extack set, -EBADMSG with
 * nl->err == 0 means a malformed answer.
 */
/* GET_INFO into @l; l->boot_id is left empty (see pm_boot_id()). */
int pm_local_get(struct pm_nl *nl, struct pm_local *l);
int pm_region_attrs_get(struct pm_nl *nl, const char *name,
			struct pm_region_attrs *r);
int pm_mig_start(struct pm_nl *nl, const struct pm_mig_start *a, int *ctl_fd);
int pm_mig_get(struct pm_nl *nl, const char *name, struct pm_mig *m);
/* The migration of a control file, also after its region is gone. */
int pm_mig_get_fd(struct pm_nl *nl, int ctl_fd, struct pm_mig *m);
int pm_mig_dump(struct pm_nl *nl, struct pm_mig **list, size_t *n);
int pm_mig_control(struct pm_nl *nl, const char *name, uint32_t action);
/* PARTMOB_CMD_MIG_ATTACH: connection @index (@fd) of migration @id. */
int pm_mig_attach(struct pm_nl *nl, const char *name, uint64_t id,
		  uint32_t index, int fd);
/* PARTMOB_CMD_MIG_COMMIT of the held migrations of @names. */
int pm_mig_commit(struct pm_nl *nl, const char *const *names, int n);
/* nl's last error as one line: "strerror: extack" */
const char *pm_nl_why(const struct pm_nl *nl, int ret, char *buf, size_t n);

const char *pm_mig_state_name(uint64_t state);	/* "waiting", ... */
const char *pm_mig_role_name(uint64_t role);	/* "source", ... */
void pm_mig_json(struct json *j, const struct pm_mig *m);	/* one object */

/* /proc/sys/kernel/random/boot_id without the newline. Return: 0/-errno. */
int pm_boot_id(char *buf, size_t n);
/* MemAvailable of /proc/meminfo in bytes, 0 if unknown. */
uint64_t pm_mem_available(void);
/*
 * The size of a required path as both ends compare it: BLKGETSIZE64 of a
 * block device, st_size of a file, 0 for anything else.
 * Return: 0, or -errno with @why set.
 */
int pm_path_size(const char *path, uint64_t *size, char *why, size_t n);

/*
 * HOST[:PORT], [V6]:PORT or a bare IPv6 address: split into @host and
 * @port (the default PARTMOB_HS_PORT when none is given).
 * Return: 0, or -EINVAL with @why set.
 */
int pm_split_hostport(const char *s, char *host, size_t hn, char *port,
		      size_t pn, char *why, size_t wn);
/* Numeric text of a socket address, IPv4-mapped IPv6 shown as IPv4. */
void pm_addr_text(const void *sa, unsigned int len, char *host, size_t n,
		  unsigned int *port);

/*
 * One handshake as a client: connect to @host:@port, authenticate and
 * encrypt with @tls (tls.h; NULL: plain TCP, --insecure), send @h, read the
 * reply into @r. @addr receives the address that answered ("10.0.0.2:7780",
 * "[fe80::1]:7780"). With @fd_out the connection is left open there,
 * otherwise closed. Return: 0 (a reply arrived, whatever it says) or
 * -errno with @why set.
 */
int pm_hs_exchange(const char *host, const char *port, struct pm_tls *tls,
		   const struct pm_hs_hello *h, struct pm_hs_reply *r,
		   int *fd_out, char *addr, size_t an, char *why, size_t wn);
/* The same, waiting up to @reply_ms for the reply. */
int pm_hs_exchange_wait(const char *host, const char *port,
			struct pm_tls *tls, const struct pm_hs_hello *h,
			struct pm_hs_reply *r, int *fd_out, char *addr,
			size_t an, char *why, size_t wn, int reply_ms);

uint64_t pm_now_ns(void);		/* CLOCK_MONOTONIC */
const char *pm_human(uint64_t v, char *buf, size_t n);	/* 1.5G, 256M */

/* The options of one migration command, and getopt_long over them. */
typedef int (*pm_opt_fn)(void *ctx, int opt, const char *arg);

/*
 * pm_mig_parse() - -j, -p, -h and @extra options of command @cmd
 * @fn: called for every @extra option; returns -1 to go on or an exit code
 * @nargs_min, @nargs_max: positional arguments allowed; they are returned
 *	in @args (at most @nargs_max) and counted in *@nargs
 *
 * Return: -1 to go on, or an exit code (help printed, or usage error).
 */
int pm_mig_parse(int argc, char **argv, const char *cmd, struct pm_opts *o,
		 const struct option *extra, void (*help)(FILE *),
		 pm_opt_fn fn, void *ctx, int nargs_min, int nargs_max,
		 char **args, int *nargs);

/* --link-timeout MS (start, listen): -1 when parsed, else the exit status. */
int pm_link_timeout_opt(const char *cmd, const char *arg, uint64_t *ms);

/*
 * start --streams: connections per migration unless told (make bench:
 * two receiving threads ran a bulk migration from one to 2.6 times as
 * fast as one, at more CPU per GiB; Documentation/design.rst).
 */
#define PM_STREAMS_DEFAULT	2

/* Long option values of the migration commands (no short forms). */
enum {
	OPT_TO = 256, OPT_DEST_NAME, OPT_DOWNTIME, OPT_BANDWIDTH, OPT_ROUNDS,
	OPT_TIMEOUT, OPT_STALL, OPT_CGROUP, OPT_VERIFY, OPT_REQUIRE, OPT_ADDRESS, OPT_PORT,
	OPT_ON_RESUME, OPT_ONCE, OPT_STATE_DIR, OPT_RESUME_HERE, OPT_DISCARD, OPT_SOURCE,
	OPT_QMP, OPT_VM_HOOK, OPT_LINK_TIMEOUT, OPT_STREAMS,
	OPT_PSK_FILE, OPT_INSECURE, OPT_CERT, OPT_KEY, OPT_CA, OPT_PEER_NAME,
};

/* --psk-file, the certificates and --insecure: pm_tls_opts (tls.h). */
#define PM_TLS_LONGOPTS \
	{ "psk-file", required_argument, NULL, OPT_PSK_FILE }, \
	{ "cert", required_argument, NULL, OPT_CERT }, \
	{ "key", required_argument, NULL, OPT_KEY }, \
	{ "ca", required_argument, NULL, OPT_CA }, \
	{ "peer-name", required_argument, NULL, OPT_PEER_NAME }, \
	{ "insecure", no_argument, NULL, OPT_INSECURE }
/* Return: -1 if @opt was one of them (taken into @t), else PM_EXIT_USAGE. */
int pm_tls_opt(const char *cmd, struct pm_tls_opts *t, int opt,
	       const char *arg);

#endif
