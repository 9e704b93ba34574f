// SPDX-License-Identifier: GPL-2.0
/*
 * The migration handshake: wire structs <-> host order, field checks, and
 * full reads and writes with deadlines. No netlink here (see handshake.h).
 *
 * Nothing is allocated on the peer's say-so: a hello has a fixed size, the
 * path records that follow are bounded by PARTMOB_HS_PATHS_MAX and land in
 * the fixed array of struct pm_hs_hello.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handshake.h"

_Static_assert(sizeof(struct partmob_hs_hello) == 192, "hello layout");
_Static_assert(sizeof(struct partmob_hs_path) == 264, "path layout");
_Static_assert(sizeof(struct partmob_hs_reply) == 272, "reply layout");
_Static_assert(sizeof(((struct pm_hs_hello *)0)->arch) ==
	       sizeof(((struct partmob_hs_hello *)0)->arch), "arch size");
_Static_assert(sizeof(((struct pm_hs_hello *)0)->module_version) ==
	       sizeof(((struct partmob_hs_hello *)0)->module_version),
	       "module_version size");
_Static_assert(sizeof(((struct pm_hs_hello *)0)->region) ==
	       sizeof(((struct partmob_hs_hello *)0)->region), "region size");
_Static_assert(sizeof(((struct pm_hs_hello *)0)->boot_id) ==
	       sizeof(((struct partmob_hs_hello *)0)->boot_id), "boot_id size");
_Static_assert(sizeof(((struct pm_hs_reply *)0)->message) ==
	       sizeof(((struct partmob_hs_reply *)0)->message), "message size");

/* ---- strings ----------------------------------------------------------- */

/*
 * Copy a NUL-padded string of a wire struct: it must hold a NUL within
 * @size and nothing but NULs after it. Return: 0, or -1 with @why set.
 */
static int get_str(char *out, const char *field, size_t size,
		   const char *what, char *why, size_t n)
{
	const char *nul = memchr(field, '\0', size);
	size_t i;

	if (!nul) {
		snprintf(why, n, "%s is not NUL-terminated", what);
		return -1;
	}
	for (i = (size_t)(nul - field); i < size; i++) {
		if (field[i]) {
			snprintf(why, n, "%s has bytes after its NUL", what);
			return -1;
		}
	}
	memcpy(out, field, size);
	return 0;
}

static void put_str(char *field, size_t size, const char *s)
{
	size_t len = strnlen(s, size - 1);

	memset(field, 0, size);
	memcpy(field, s, len);
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static bool arch_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '_' && c != '-')
			return false;
	}
	return true;
}

bool pm_hs_boot_id_ok(const char *s)
{
	size_t len = strlen(s);

	if (!len || len > PARTMOB_BOOT_ID_MAX)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'f') &&
		    !(c >= 'A' && c <= 'F') && c != '-')
			return false;
	}
	return true;
}

const char *pm_hs_bad_name(const char *name)
{
	size_t i, len = strlen(name);

	if (!len)
		return "the name is empty";
	if (len > PARTMOB_REGION_NAME_MAX)
		return "the name is longer than 32 characters";
	if (name[0] == '.' || name[0] == '-')
		return "the name must not start with '.' or '-'";
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '_' && c != '.' && c != '-')
			return "the name may only hold A-Z a-z 0-9 _ . -";
	}
	return NULL;
}

/* ---- names ------------------------------------------------------------- */

const char *pm_hs_status_name(unsigned int status)
{
	static const char *const names[] = {
		[PARTMOB_HS_OK] = "ok",
		[PARTMOB_HS_E_VERSION] = "version",
		[PARTMOB_HS_E_ARCH] = "arch",
		[PARTMOB_HS_E_PAGE_SIZE] = "page-size",
		[PARTMOB_HS_E_FEATURES] = "features",
		[PARTMOB_HS_E_SIZE] = "size",
		[PARTMOB_HS_E_MEMORY] = "memory",
		[PARTMOB_HS_E_EXISTS] = "exists",
		[PARTMOB_HS_E_PATH] = "path",
		[PARTMOB_HS_E_BAD_REQUEST] = "bad-request",
		[PARTMOB_HS_E_INTERNAL] = "internal",
		[PARTMOB_HS_E_AUTH] = "auth",
	};

	if (status < sizeof(names) / sizeof(names[0]) && names[status])
		return names[status];
	return "unknown";
}

const char *pm_hs_outcome_name(unsigned int outcome)
{
	switch (outcome) {
	case PARTMOB_HS_OUTCOME_UNKNOWN:
		return "unknown";
	case PARTMOB_HS_OUTCOME_COMMITTED:
		return "committed";
	case PARTMOB_HS_OUTCOME_ABORTED:
		return "aborted";
	case PARTMOB_HS_OUTCOME_RUNNING:
		return "running";
	}
	return "invalid";
}

const char *pm_hs_op_name(unsigned int op)
{
	switch (op) {
	case PARTMOB_HS_OP_MIGRATE:
		return "migrate";
	case PARTMOB_HS_OP_VALIDATE:
		return "validate";
	case PARTMOB_HS_OP_QUERY:
		return "query";
	case PARTMOB_HS_OP_DEVICE_STATE:
		return "device-state";
	case PARTMOB_HS_OP_MIGRATE_HELD:
		return "migrate-held";
	case PARTMOB_HS_OP_STREAM:
		return "stream";
	}
	return "invalid";
}

/* ---- encode ------------------------------------------------------------ */

void pm_hs_hello_encode(const struct pm_hs_hello *h,
			struct partmob_hs_hello *w)
{
	memset(w, 0, sizeof(*w));
	w->magic = htobe32(PARTMOB_HS_MAGIC);
	w->version = htobe16(PARTMOB_HS_VERSION);
	w->op = htobe16(h->op);
	w->wire_version = htobe32(h->wire_version);
	w->page_size = htobe32(h->page_size);
	w->features = htobe64(h->features);
	w->region_size = htobe64(h->region_size);
	w->mig_id = htobe64(h->mig_id);
	w->uid = htobe32(h->uid);
	w->gid = htobe32(h->gid);
	w->mode = htobe32(h->mode);
	w->region_flags = htobe32(h->region_flags);
	w->npaths = htobe32(h->npaths);
	w->streams = htobe32(h->streams);
	put_str(w->arch, sizeof(w->arch), h->arch);
	put_str(w->module_version, sizeof(w->module_version),
		h->module_version);
	put_str(w->region, sizeof(w->region), h->region);
	put_str(w->boot_id, sizeof(w->boot_id), h->boot_id);
}

void pm_hs_path_encode(const struct pm_hs_path *p, struct partmob_hs_path *w)
{
	memset(w, 0, sizeof(*w));
	w->size = htobe64(p->size);
	put_str(w->path, sizeof(w->path), p->path);
}

void pm_hs_reply_encode(const struct pm_hs_reply *r,
			struct partmob_hs_reply *w)
{
	memset(w, 0, sizeof(*w));
	w->magic = htobe32(PARTMOB_HS_MAGIC);
	w->version = htobe16(PARTMOB_HS_VERSION);
	w->status = htobe16(r->status);
	w->features = htobe64(r->features);
	w->mem_available = htobe64(r->mem_available);
	w->outcome = htobe32(r->outcome);
	put_str(w->boot_id, sizeof(w->boot_id), r->boot_id);
	put_str(w->message, sizeof(w->message), r->message);
}

/* ---- decode ------------------------------------------------------------ */

int pm_hs_hello_decode(const struct partmob_hs_hello *w,
		       struct pm_hs_hello *h, char *why, size_t n)
{
	uint32_t magic = be32toh(w->magic);
	uint16_t version = be16toh(w->version);
	const char *bad;

	memset(h, 0, sizeof(*h));
	why[0] = '\0';
	if (magic != PARTMOB_HS_MAGIC) {
		snprintf(why, n, "not a partmob peer (magic 0x%08x)", magic);
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (version != PARTMOB_HS_VERSION) {
		snprintf(why, n,
			 "handshake version %u, this host speaks version %u",
			 version, PARTMOB_HS_VERSION);
		return PARTMOB_HS_E_VERSION;
	}
	h->op = be16toh(w->op);
	h->wire_version = be32toh(w->wire_version);
	h->page_size = be32toh(w->page_size);
	h->features = be64toh(w->features);
	h->region_size = be64toh(w->region_size);
	h->mig_id = be64toh(w->mig_id);
	h->uid = be32toh(w->uid);
	h->gid = be32toh(w->gid);
	h->mode = be32toh(w->mode);
	h->region_flags = be32toh(w->region_flags);
	h->npaths = be32toh(w->npaths);
	h->streams = be32toh(w->streams);

	if (h->op != PARTMOB_HS_OP_MIGRATE && h->op != PARTMOB_HS_OP_VALIDATE &&
	    h->op != PARTMOB_HS_OP_QUERY &&
	    h->op != PARTMOB_HS_OP_DEVICE_STATE &&
	    h->op != PARTMOB_HS_OP_MIGRATE_HELD &&
	    h->op != PARTMOB_HS_OP_STREAM) {
		snprintf(why, n, "unknown operation %u", h->op);
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (h->op == PARTMOB_HS_OP_STREAM ?
	    !h->streams || h->streams >= PARTMOB_MIG_STREAMS_MAX :
	    h->op == PARTMOB_HS_OP_MIGRATE ||
	    h->op == PARTMOB_HS_OP_MIGRATE_HELD ?
	    h->streams > PARTMOB_MIG_STREAMS_MAX : h->streams != 0) {
		snprintf(why, n, "%u connections (streams) for a %s hello",
			 h->streams, pm_hs_op_name(h->op));
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (h->op == PARTMOB_HS_OP_STREAM && h->npaths) {
		snprintf(why, n, "a stream's hello carries no required paths");
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (h->npaths > PARTMOB_HS_PATHS_MAX) {
		snprintf(why, n, "%u required paths, at most %d are allowed",
			 h->npaths, PARTMOB_HS_PATHS_MAX);
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (h->op == PARTMOB_HS_OP_QUERY && h->npaths) {
		snprintf(why, n, "a query carries no required paths");
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (h->op == PARTMOB_HS_OP_DEVICE_STATE && !h->npaths) {
		snprintf(why, n, "a device-state hello names no region");
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (h->op != PARTMOB_HS_OP_VALIDATE && !h->mig_id) {
		snprintf(why, n, "the migration id is zero");
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (h->mode > 0777) {
		snprintf(why, n, "mode 0%o has more than permission bits",
			 h->mode);
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (h->uid == UINT32_MAX || h->gid == UINT32_MAX) {
		snprintf(why, n, "uid or gid 4294967295 is not an id");
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (get_str(h->arch, w->arch, sizeof(w->arch), "arch", why, n) ||
	    get_str(h->module_version, w->module_version,
		    sizeof(w->module_version), "module_version", why, n) ||
	    get_str(h->region, w->region, sizeof(w->region), "region", why,
		    n) ||
	    get_str(h->boot_id, w->boot_id, sizeof(w->boot_id), "boot_id", why,
		    n))
		return PARTMOB_HS_E_BAD_REQUEST;
	if (!arch_ok(h->arch)) {
		snprintf(why, n, "arch is empty or not [A-Za-z0-9_-]");
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (!printable(h->module_version)) {
		snprintf(why, n, "module_version holds unprintable characters");
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	bad = pm_hs_bad_name(h->region);
	if (bad) {
		snprintf(why, n, "bad region name: %s", bad);
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (!pm_hs_boot_id_ok(h->boot_id)) {
		snprintf(why, n, "boot_id is not 1 to %d of [0-9a-f-]",
			 PARTMOB_BOOT_ID_MAX);
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	return PARTMOB_HS_OK;
}

int pm_hs_path_decode(const struct partmob_hs_path *w, struct pm_hs_path *p,
		      char *why, size_t n)
{
	memset(p, 0, sizeof(*p));
	why[0] = '\0';
	if (get_str(p->path, w->path, sizeof(w->path), "a required path", why,
		    n))
		return PARTMOB_HS_E_BAD_REQUEST;
	if (p->path[0] != '/') {
		snprintf(why, n, "a required path is not absolute");
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	if (!printable(p->path)) {
		snprintf(why, n,
			 "a required path holds unprintable characters");
		return PARTMOB_HS_E_BAD_REQUEST;
	}
	p->size = be64toh(w->size);
	return PARTMOB_HS_OK;
}

int pm_hs_reply_decode(const struct partmob_hs_reply *w,
		       struct pm_hs_reply *r, char *why, size_t n)
{
	uint32_t magic = be32toh(w->magic);
	uint16_t version = be16toh(w->version);
	char *s;

	memset(r, 0, sizeof(*r));
	why[0] = '\0';
	if (magic != PARTMOB_HS_MAGIC) {
		snprintf(why, n, "the peer is not a partmob listener (magic 0x%08x)",
			 magic);
		return -EPROTO;
	}
	if (version != PARTMOB_HS_VERSION) {
		snprintf(why, n,
			 "the peer speaks handshake version %u, this host %u",
			 version, PARTMOB_HS_VERSION);
		return -EPROTO;
	}
	r->status = be16toh(w->status);
	r->features = be64toh(w->features);
	r->mem_available = be64toh(w->mem_available);
	r->outcome = be32toh(w->outcome);
	if (r->status > PARTMOB_HS_E_AUTH) {
		snprintf(why, n, "the reply has unknown status %u", r->status);
		return -EPROTO;
	}
	if (r->outcome > PARTMOB_HS_OUTCOME_RUNNING) {
		snprintf(why, n, "the reply has unknown outcome %u",
			 r->outcome);
		return -EPROTO;
	}
	if (w->reserved) {
		snprintf(why, n, "the reply's reserved field is not zero");
		return -EPROTO;
	}
	if (get_str(r->boot_id, w->boot_id, sizeof(w->boot_id),
		    "the reply's boot_id", why, n) ||
	    get_str(r->message, w->message, sizeof(w->message),
		    "the reply's message", why, n))
		return -EPROTO;
	if (r->boot_id[0] && !pm_hs_boot_id_ok(r->boot_id)) {
		snprintf(why, n, "the reply's boot_id is not [0-9a-f-]");
		return -EPROTO;
	}
	/* The message is only printed: make it harmless for a terminal. */
	for (s = r->message; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
	return 0;
}

/* ---- checks against this host ------------------------------------------ */

static const char *bytes(uint64_t v, char *buf, size_t n)
{
	if (v >= (1ULL << 30))
		snprintf(buf, n, "%.1f GiB", (double)v / (1ULL << 30));
	else if (v >= (1ULL << 20))
		snprintf(buf, n, "%.1f MiB", (double)v / (1ULL << 20));
	else
		snprintf(buf, n, "%llu bytes", (unsigned long long)v);
	return buf;
}

int pm_hs_check(const struct pm_hs_hello *h, const struct pm_hs_local *l,
		char *why, size_t n)
{
	char b1[32], b2[32];

	why[0] = '\0';
	if (h->wire_version != l->wire_version) {
		snprintf(why, n,
			 "wire version %u, this host's module speaks %u",
			 h->wire_version, l->wire_version);
		return PARTMOB_HS_E_VERSION;
	}
	if (strcmp(h->arch, l->arch)) {
		snprintf(why, n, "architecture %s, this host is %s", h->arch,
			 l->arch);
		return PARTMOB_HS_E_ARCH;
	}
	if (h->page_size != l->page_size) {
		snprintf(why, n, "page size %u, this host's is %u",
			 h->page_size, l->page_size);
		return PARTMOB_HS_E_PAGE_SIZE;
	}
	if (!(l->features & PARTMOB_F_MIGRATION)) {
		snprintf(why, n,
			 "this host's partmob module does not support migration");
		return PARTMOB_HS_E_FEATURES;
	}
	if (!(h->features & PARTMOB_F_MIGRATION)) {
		snprintf(why, n,
			 "the source's partmob module does not support migration");
		return PARTMOB_HS_E_FEATURES;
	}
	if (h->region_flags & ~(uint32_t)__PARTMOB_REGION_F_ALL) {
		snprintf(why, n, "region flags 0x%x are unknown here",
			 h->region_flags & ~(uint32_t)__PARTMOB_REGION_F_ALL);
		return PARTMOB_HS_E_FEATURES;
	}
	if (!h->region_size || !h->page_size ||
	    h->region_size % h->page_size) {
		snprintf(why, n,
			 "region size %llu is not a non-zero multiple of the page size",
			 (unsigned long long)h->region_size);
		return PARTMOB_HS_E_SIZE;
	}
	if (h->region_size > PARTMOB_REGION_SIZE_MAX) {
		snprintf(why, n, "region size %s is above the limit of %s",
			 bytes(h->region_size, b1, sizeof(b1)),
			 bytes(PARTMOB_REGION_SIZE_MAX, b2, sizeof(b2)));
		return PARTMOB_HS_E_SIZE;
	}
	if (!(h->region_flags & PARTMOB_REGION_F_OVERCOMMIT) &&
	    l->mem_available < h->region_size) {
		snprintf(why, n,
			 "not enough memory: the region needs %s, MemAvailable is %s (an overcommit region is not checked)",
			 bytes(h->region_size, b1, sizeof(b1)),
			 bytes(l->mem_available, b2, sizeof(b2)));
		return PARTMOB_HS_E_MEMORY;
	}
	return PARTMOB_HS_OK;
}

/* ---- I/O ----------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t pm_hs_deadline(int timeout_ms)
{
	return now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
}

/* Wait for @events on @fd until @deadline. Return: 0 or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	uint64_t now;
	int ret;

	for (;;) {
		now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		ret = poll(&p, 1, (int)(deadline - now > 60000 ? 60000 :
					 deadline - now));
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (ret > 0)
			return 0;
	}
}

int pm_hs_read_full(int fd, void *buf, size_t len, uint64_t deadline,
		    size_t *done)
{
	size_t got = 0;
	ssize_t r;
	int ret = 0;

	while (got < len) {
		ret = wait_fd(fd, POLLIN, deadline);
		if (ret)
			break;
		r = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			ret = -errno;
			break;
		}
		if (r == 0) {
			ret = -ENODATA;
			break;
		}
		got += (size_t)r;
	}
	if (done)
		*done = got;
	return ret;
}

int pm_hs_write_full(int fd, const void *buf, size_t len, uint64_t deadline)
{
	size_t sent = 0;
	ssize_t r;
	int ret;

	while (sent < len) {
		ret = wait_fd(fd, POLLOUT, deadline);
		if (ret)
			return ret;
		r = send(fd, (const char *)buf + sent, len - sent,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		sent += (size_t)r;
	}
	return 0;
}

int pm_hs_send_hello(int fd, const struct pm_hs_hello *h, int timeout_ms)
{
	struct {
		struct partmob_hs_hello hello;
		struct partmob_hs_path paths[PARTMOB_HS_PATHS_MAX];
	} w;
	uint32_t i;

	if (h->npaths > PARTMOB_HS_PATHS_MAX)
		return -EINVAL;
	pm_hs_hello_encode(h, &w.hello);
	for (i = 0; i < h->npaths; i++)
		pm_hs_path_encode(&h->paths[i], &w.paths[i]);
	return pm_hs_write_full(fd, &w, sizeof(w.hello) +
				h->npaths * sizeof(w.paths[0]),
				pm_hs_deadline(timeout_ms));
}

static void io_why(int err, const char *what, size_t got, size_t want,
		   char *why, size_t n)
{
	if (err == -ENODATA && !got)
		snprintf(why, n, "the peer closed the connection before the %s",
			 what);
	else if (err == -ENODATA)
		snprintf(why, n,
			 "the peer closed the connection after %zu of %zu bytes of the %s",
			 got, want, what);
	else if (err == -ETIMEDOUT)
		snprintf(why, n, "timed out after %zu of %zu bytes of the %s",
			 got, want, what);
	else
		snprintf(why, n, "reading the %s: %s", what, strerror(-err));
}

int pm_hs_recv_hello(int fd, struct pm_hs_hello *h, int timeout_ms,
		     char *why, size_t n)
{
	uint64_t deadline = pm_hs_deadline(timeout_ms);
	struct partmob_hs_hello w;
	struct partmob_hs_path wp;
	size_t got;
	uint32_t i;
	int ret, status;

	ret = pm_hs_read_full(fd, &w, sizeof(w), deadline, &got);
	if (ret) {
		io_why(ret, "hello", got, sizeof(w), why, n);
		/*
		 * A silent peer, or one that shut down its side after part
		 * of a hello, may still read why it failed; a peer that
		 * connected and left without a byte (a port probe) may not.
		 */
		if (ret == -ETIMEDOUT || (ret == -ENODATA && got))
			return PARTMOB_HS_E_BAD_REQUEST;
		return ret;
	}
	status = pm_hs_hello_decode(&w, h, why, n);
	if (status != PARTMOB_HS_OK)
		return status;
	for (i = 0; i < h->npaths; i++) {
		ret = pm_hs_read_full(fd, &wp, sizeof(wp), deadline, &got);
		if (ret) {
			char what[64];

			snprintf(what, sizeof(what),
				 "required path record %u of %u", i + 1,
				 h->npaths);
			io_why(ret, what, got, sizeof(wp), why, n);
			if (ret == -ETIMEDOUT || ret == -ENODATA)
				return PARTMOB_HS_E_BAD_REQUEST;
			return ret;
		}
		status = pm_hs_path_decode(&wp, &h->paths[i], why, n);
		if (status != PARTMOB_HS_OK)
			return status;
	}
	return PARTMOB_HS_OK;
}

int pm_hs_send_reply(int fd, const struct pm_hs_reply *r, int timeout_ms)
{
	struct partmob_hs_reply w;

	pm_hs_reply_encode(r, &w);
	return pm_hs_write_full(fd, &w, sizeof(w), pm_hs_deadline(timeout_ms));
}

int pm_hs_recv_reply(int fd, struct pm_hs_reply *r, int timeout_ms,
		     char *why, size_t n)
{
	struct partmob_hs_reply w;
	size_t got;
	int ret;

	ret = pm_hs_read_full(fd, &w, sizeof(w), pm_hs_deadline(timeout_ms),
			      &got);
	if (ret) {
		io_why(ret, "reply", got, sizeof(w), why, n);
		return ret;
	}
	return pm_hs_reply_decode(&w, r, why, n);
}

void pm_hs_close_gently(int fd)
{
	uint64_t deadline = pm_hs_deadline(1000);
	char buf[4096];
	size_t total = 0;
	ssize_t r;

	shutdown(fd, SHUT_WR);
	while (total < 65536 && !wait_fd(fd, POLLIN, deadline)) {
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			break;
		total += (size_t)r;
	}
	close(fd);
}
