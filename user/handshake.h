/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The userspace handshake of a migration (include/uapi/linux/partmob.h,
 * "The stream", part 1): struct partmob_hs_hello + partmob_hs_path records
 * from the source, one struct partmob_hs_reply from the destination.
 *
 * This file and handshake.c know nothing of netlink or libnl: they turn
 * wire structs into host-order ones and back, check every field, and move
 * bytes over a socket with deadlines. A fuzzer can link handshake.c alone.
 */
#ifndef PARTMOBCTL_HANDSHAKE_H
#define PARTMOBCTL_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/partmob.h>

#define PM_HS_TIMEOUT_MS	10000	/* default for each handshake step */

struct pm_hs_path {
	uint64_t size;			/* bytes, as the source sees it */
	char path[PARTMOB_HS_PATH_MAX];
};

/* struct partmob_hs_hello in host order; magic and version are implied. */
struct pm_hs_hello {
	uint16_t op;			/* enum partmob_hs_op */
	uint32_t wire_version;
	uint32_t page_size;
	uint64_t features;
	uint64_t region_size;
	uint64_t mig_id;
	uint32_t uid, gid, mode;
	uint32_t region_flags;
	uint32_t npaths;
	uint32_t streams;		/* see struct partmob_hs_hello */
	char arch[16];
	char module_version[32];
	char region[PARTMOB_REGION_NAME_MAX + 8];
	char boot_id[PARTMOB_BOOT_ID_MAX + 4];
	struct pm_hs_path paths[PARTMOB_HS_PATHS_MAX];	/* npaths used */
};

/* struct partmob_hs_reply in host order. */
struct pm_hs_reply {
	uint16_t status;		/* enum partmob_hs_status */
	uint64_t features;
	uint64_t mem_available;
	uint32_t outcome;		/* enum partmob_hs_outcome */
	char boot_id[PARTMOB_BOOT_ID_MAX + 4];
	char message[200];
};

/* What the destination offers; pm_hs_check() compares a hello with it. */
struct pm_hs_local {
	uint32_t wire_version;
	uint32_t page_size;
	uint64_t features;
	uint64_t mem_available;		/* bytes */
	char arch[16];
};

/* Every message below is one line of at most @n - 1 characters. */

/* ---- pure: encode, decode, check (no I/O) ------------------------------ */

void pm_hs_hello_encode(const struct pm_hs_hello *h,
			struct partmob_hs_hello *w);
void pm_hs_path_encode(const struct pm_hs_path *p, struct partmob_hs_path *w);
void pm_hs_reply_encode(const struct pm_hs_reply *r,
			struct partmob_hs_reply *w);

/*
 * Decoders check every field of the wire struct and return an enum
 * partmob_hs_status: PARTMOB_HS_OK, PARTMOB_HS_E_VERSION (handshake version)
 * or PARTMOB_HS_E_BAD_REQUEST, with the reason in @why.
 */
int pm_hs_hello_decode(const struct partmob_hs_hello *w,
		       struct pm_hs_hello *h, char *why, size_t n);
int pm_hs_path_decode(const struct partmob_hs_path *w, struct pm_hs_path *p,
		      char *why, size_t n);
/* Return: 0, or -EPROTO with @why set. */
int pm_hs_reply_decode(const struct partmob_hs_reply *w,
		       struct pm_hs_reply *r, char *why, size_t n);

/*
 * The checks of a MIGRATE or VALIDATE hello against this host that need no
 * system call: wire version, arch, page size, features and region flags,
 * size, memory. Return: an enum partmob_hs_status, @why set if not OK.
 */
int pm_hs_check(const struct pm_hs_hello *h, const struct pm_hs_local *l,
		char *why, size_t n);

/* The region name rules of PARTMOB_CMD_REGION_NEW; NULL if @name is fine. */
const char *pm_hs_bad_name(const char *name);
/* A boot id as the handshake carries it: 1 to 36 of [0-9a-fA-F-]. */
bool pm_hs_boot_id_ok(const char *s);

const char *pm_hs_status_name(unsigned int status);	/* "exists", ... */
const char *pm_hs_outcome_name(unsigned int outcome);	/* "committed", ... */
const char *pm_hs_op_name(unsigned int op);		/* "migrate", ... */

/* ---- I/O with a deadline (CLOCK_MONOTONIC, milliseconds) --------------- */

uint64_t pm_hs_deadline(int timeout_ms);

/*
 * Read or write exactly @len bytes, retrying short transfers and EINTR,
 * until @deadline. Return: 0, -ETIMEDOUT, -ENODATA (the peer closed the
 * connection; *@done says after how many bytes), or another -errno.
 */
int pm_hs_read_full(int fd, void *buf, size_t len, uint64_t deadline,
		    size_t *done);
int pm_hs_write_full(int fd, const void *buf, size_t len, uint64_t deadline);

/*
 * Source: send @h and its h->npaths path records. Return: 0 or -errno.
 */
int pm_hs_send_hello(int fd, const struct pm_hs_hello *h, int timeout_ms);

/*
 * Destination: read a hello and its path records, never more than
 * PARTMOB_HS_PATHS_MAX of them. Return: an enum partmob_hs_status (OK, or
 * the refusal to answer with), or a negative errno when the connection
 * failed (nobody to answer); @why says what in both cases.
 */
int pm_hs_recv_hello(int fd, struct pm_hs_hello *h, int timeout_ms,
		     char *why, size_t n);

int pm_hs_send_reply(int fd, const struct pm_hs_reply *r, int timeout_ms);
/* Return: 0, -EPROTO (malformed reply) or another -errno; @why says what. */
int pm_hs_recv_reply(int fd, struct pm_hs_reply *r, int timeout_ms,
		     char *why, size_t n);

/*
 * Close a connection that ends after a reply: shut down our side, then
 * read and drop what the peer still sends (at most ~1 s and 64 KiB), so
 * that unread input does not turn the close into a reset that could
 * destroy the reply before the peer has read it.
 */
void pm_hs_close_gently(int fd);

#endif
