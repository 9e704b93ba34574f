// SPDX-License-Identifier: GPL-2.0
/*
 * Unit test of handshake.c alone (no libnl, no module, no network beyond a
 * socketpair): encode/decode round trips, every field check, pm_hs_check,
 * the I/O helpers with short writes and deadlines, and a mutation loop that
 * feeds damaged hellos and replies to the decoders.
 *
 *   make -C user test          (add SANITIZE=1 for ASan + UBSan)
 */
#include <endian.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handshake.h"

#include "check.h"

static struct pm_hs_hello good_hello(void)
{
	struct pm_hs_hello h;

	memset(&h, 0, sizeof(h));
	h.op = PARTMOB_HS_OP_MIGRATE;
	h.wire_version = PARTMOB_WIRE_VERSION;
	h.page_size = 65536;
	h.features = PARTMOB_F_INFO | PARTMOB_F_REGIONS | PARTMOB_F_MIGRATION;
	h.region_size = 16ULL << 30;
	h.mig_id = 0x0123456789abcdefULL;
	h.uid = 107;
	h.gid = 108;
	h.mode = 0660;
	h.region_flags = PARTMOB_REGION_F_OVERCOMMIT;
	h.npaths = 2;
	strcpy(h.arch, "ppc64le");
	strcpy(h.module_version, "0.3.0");
	strcpy(h.region, "vm-1.a_b");
	strcpy(h.boot_id, "1ee497bb-443c-47a4-b2dc-7119d5f96428");
	h.paths[0].size = 10ULL << 30;
	strcpy(h.paths[0].path, "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4");
	h.paths[1].size = 0;
	strcpy(h.paths[1].path, "/srv/images");
	return h;
}

static struct pm_hs_local good_local(void)
{
	struct pm_hs_local l = {
		.wire_version = PARTMOB_WIRE_VERSION,
		.page_size = 65536,
		.features = PARTMOB_F_INFO | PARTMOB_F_REGIONS |
			    PARTMOB_F_MIGRATION,
		.mem_available = 64ULL << 30,
	};

	strcpy(l.arch, "ppc64le");
	return l;
}

static void test_round_trip(void)
{
	struct pm_hs_hello h = good_hello(), d;
	struct partmob_hs_hello w;
	struct partmob_hs_path wp;
	struct pm_hs_path p;
	struct pm_hs_reply r = { 0 }, rd;
	struct partmob_hs_reply wr;
	const unsigned char *b = (const unsigned char *)&w;
	char why[256];
	uint32_t i;

	pm_hs_hello_encode(&h, &w);
	/* Big-endian on the wire, whatever the host. */
	CHECK(b[0] == 0x50 && b[1] == 0x4d && b[2] == 0x4f && b[3] == 0x42);
	CHECK(b[4] == 0 && b[5] == 1);			/* version */
	CHECK(b[6] == 0 && b[7] == PARTMOB_HS_OP_MIGRATE);
	CHECK(b[32] == 0x01 && b[39] == 0xef);		/* mig_id */
	CHECK(pm_hs_hello_decode(&w, &d, why, sizeof(why)) == PARTMOB_HS_OK);
	CHECK(d.op == h.op && d.wire_version == h.wire_version &&
	      d.page_size == h.page_size && d.features == h.features &&
	      d.region_size == h.region_size && d.mig_id == h.mig_id &&
	      d.uid == h.uid && d.gid == h.gid && d.mode == h.mode &&
	      d.region_flags == h.region_flags && d.npaths == h.npaths);
	CHECK(!strcmp(d.arch, h.arch) &&
	      !strcmp(d.module_version, h.module_version) &&
	      !strcmp(d.region, h.region) && !strcmp(d.boot_id, h.boot_id));
	for (i = 0; i < h.npaths; i++) {
		pm_hs_path_encode(&h.paths[i], &wp);
		CHECK(pm_hs_path_decode(&wp, &p, why, sizeof(why)) ==
		      PARTMOB_HS_OK);
		CHECK(p.size == h.paths[i].size &&
		      !strcmp(p.path, h.paths[i].path));
	}

	r.status = PARTMOB_HS_E_MEMORY;
	r.features = 7;
	r.mem_available = 123456789012ULL;
	r.outcome = PARTMOB_HS_OUTCOME_RUNNING;
	strcpy(r.boot_id, "b1c2");
	strcpy(r.message, "not enough memory");
	pm_hs_reply_encode(&r, &wr);
	CHECK(pm_hs_reply_decode(&wr, &rd, why, sizeof(why)) == 0);
	CHECK(rd.status == r.status && rd.features == r.features &&
	      rd.mem_available == r.mem_available &&
	      rd.outcome == r.outcome && !strcmp(rd.boot_id, r.boot_id) &&
	      !strcmp(rd.message, r.message));

	/* Strings are cut to their field, NUL included, never overflow. */
	memset(h.module_version, 'v', sizeof(h.module_version) - 1);
	pm_hs_hello_encode(&h, &w);
	CHECK(w.module_version[sizeof(w.module_version) - 1] == '\0');
	CHECK(pm_hs_hello_decode(&w, &d, why, sizeof(why)) == PARTMOB_HS_OK);
}

/* Damage one field of a good wire hello, expect @status. */
#define BAD_HELLO(status, stmt) do {					\
	struct pm_hs_hello h_ = good_hello(), d_;			\
	struct partmob_hs_hello w;					\
	char why_[256];							\
									\
	pm_hs_hello_encode(&h_, &w);					\
	stmt;								\
	CHECK(pm_hs_hello_decode(&w, &d_, why_, sizeof(why_)) == (status)); \
	CHECK((status) == PARTMOB_HS_OK || why_[0] != 0);	\
} while (0)

static void test_bad_hellos(void)
{
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.magic = htobe32(0x47455420));
	BAD_HELLO(PARTMOB_HS_E_VERSION, w.version = htobe16(2));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.op = htobe16(0));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.op = htobe16(7));
	BAD_HELLO(PARTMOB_HS_OK, w.op = htobe16(PARTMOB_HS_OP_MIGRATE_HELD));
	BAD_HELLO(PARTMOB_HS_OK, w.streams = htobe32(PARTMOB_MIG_STREAMS_MAX));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST,
		  w.streams = htobe32(PARTMOB_MIG_STREAMS_MAX + 1));
	/* A stream's index is 1 to streams - 1. */
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.op = htobe16(PARTMOB_HS_OP_STREAM));
	BAD_HELLO(PARTMOB_HS_OK, w.op = htobe16(PARTMOB_HS_OP_STREAM);
		  w.streams = htobe32(1); w.npaths = 0);
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST,
		  w.op = htobe16(PARTMOB_HS_OP_STREAM); w.streams = htobe32(1));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.op = htobe16(PARTMOB_HS_OP_STREAM);
		  w.streams = htobe32(PARTMOB_MIG_STREAMS_MAX));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.op = htobe16(PARTMOB_HS_OP_QUERY);
		  w.streams = htobe32(1));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST,
		  w.npaths = htobe32(PARTMOB_HS_PATHS_MAX + 1));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.npaths = htobe32(UINT32_MAX));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.mig_id = 0);
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.mode = htobe32(01000));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.uid = htobe32(UINT32_MAX));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.gid = htobe32(UINT32_MAX));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST,
		  memset(w.arch, 'x', sizeof(w.arch)));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.arch[0] = '\0');
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, strcpy(w.arch, "x86 64"));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.arch[10] = 'z');
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST,
		  memset(w.module_version, 'v', sizeof(w.module_version)));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.module_version[0] = '\n');
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST,
		  memset(w.region, 'r', sizeof(w.region)));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.region[0] = '\0');
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, strcpy(w.region, "../x"));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, strcpy(w.region, "-x"));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, strcpy(w.region, "a/b"));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST,
		  memset(w.region, 'r', PARTMOB_REGION_NAME_MAX + 1));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.region[30] = 'z');
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST,
		  memset(w.boot_id, 'b', sizeof(w.boot_id)));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.boot_id[0] = '\0');
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST, w.boot_id[0] = 'g');
	/* Validate may carry a zero id; a query carries no paths. */
	BAD_HELLO(PARTMOB_HS_OK, (w.op = htobe16(PARTMOB_HS_OP_VALIDATE),
				  w.mig_id = 0));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST,
		  w.op = htobe16(PARTMOB_HS_OP_QUERY));
	BAD_HELLO(PARTMOB_HS_OK, (w.op = htobe16(PARTMOB_HS_OP_QUERY),
				  w.npaths = 0));
	/* A device-state hello names at least one region (a path). */
	BAD_HELLO(PARTMOB_HS_OK, w.op = htobe16(PARTMOB_HS_OP_DEVICE_STATE));
	BAD_HELLO(PARTMOB_HS_E_BAD_REQUEST,
		  (w.op = htobe16(PARTMOB_HS_OP_DEVICE_STATE), w.npaths = 0));
	/* A region name of exactly 32 characters is fine. */
	BAD_HELLO(PARTMOB_HS_OK, memset(w.region, 'r', PARTMOB_REGION_NAME_MAX));
}

static void test_bad_paths_and_replies(void)
{
	struct partmob_hs_path wp;
	struct partmob_hs_reply wr;
	struct pm_hs_reply r = { 0 }, rd;
	struct pm_hs_path p = { .size = 1 };
	char why[256];

	strcpy(p.path, "/ok");
	pm_hs_path_encode(&p, &wp);
	memset(wp.path, '/', sizeof(wp.path));
	CHECK(pm_hs_path_decode(&wp, &p, why, sizeof(why)) ==
	      PARTMOB_HS_E_BAD_REQUEST);
	memset(wp.path, 0, sizeof(wp.path));
	CHECK(pm_hs_path_decode(&wp, &p, why, sizeof(why)) ==
	      PARTMOB_HS_E_BAD_REQUEST);
	strcpy(wp.path, "rel/ative");
	CHECK(pm_hs_path_decode(&wp, &p, why, sizeof(why)) ==
	      PARTMOB_HS_E_BAD_REQUEST);
	strcpy(wp.path, "/a\tb");
	CHECK(pm_hs_path_decode(&wp, &p, why, sizeof(why)) ==
	      PARTMOB_HS_E_BAD_REQUEST);
	memset(wp.path, 0, sizeof(wp.path));
	strcpy(wp.path, "/ok");
	wp.path[100] = 'x';
	CHECK(pm_hs_path_decode(&wp, &p, why, sizeof(why)) ==
	      PARTMOB_HS_E_BAD_REQUEST);

	strcpy(r.message, "fine");
	pm_hs_reply_encode(&r, &wr);
	wr.magic = 0;
	CHECK(pm_hs_reply_decode(&wr, &rd, why, sizeof(why)) == -EPROTO);
	pm_hs_reply_encode(&r, &wr);
	wr.version = htobe16(9);
	CHECK(pm_hs_reply_decode(&wr, &rd, why, sizeof(why)) == -EPROTO);
	pm_hs_reply_encode(&r, &wr);
	wr.status = htobe16(PARTMOB_HS_E_AUTH + 1);
	CHECK(pm_hs_reply_decode(&wr, &rd, why, sizeof(why)) == -EPROTO);
	pm_hs_reply_encode(&r, &wr);
	wr.outcome = htobe32(PARTMOB_HS_OUTCOME_RUNNING + 1);
	CHECK(pm_hs_reply_decode(&wr, &rd, why, sizeof(why)) == -EPROTO);
	pm_hs_reply_encode(&r, &wr);
	wr.reserved = 1;
	CHECK(pm_hs_reply_decode(&wr, &rd, why, sizeof(why)) == -EPROTO);
	pm_hs_reply_encode(&r, &wr);
	memset(wr.message, 'm', sizeof(wr.message));
	CHECK(pm_hs_reply_decode(&wr, &rd, why, sizeof(why)) == -EPROTO);
	pm_hs_reply_encode(&r, &wr);
	strcpy(wr.boot_id, "not hex!");
	CHECK(pm_hs_reply_decode(&wr, &rd, why, sizeof(why)) == -EPROTO);
	/* A message with control characters is made printable. */
	pm_hs_reply_encode(&r, &wr);
	strcpy(wr.message, "a\033[2Jb");
	CHECK(pm_hs_reply_decode(&wr, &rd, why, sizeof(why)) == 0);
	CHECK(!strcmp(rd.message, "a?[2Jb"));
}

static void test_check(void)
{
	struct pm_hs_hello h = good_hello();
	struct pm_hs_local l = good_local();
	char why[256];

#define EXPECT(status, stmt) do {					\
	h = good_hello();						\
	l = good_local();						\
	stmt;								\
	CHECK(pm_hs_check(&h, &l, why, sizeof(why)) == (status));	\
} while (0)
	EXPECT(PARTMOB_HS_OK, (void)0);
	EXPECT(PARTMOB_HS_E_VERSION, h.wire_version = PARTMOB_WIRE_VERSION + 1);
	EXPECT(PARTMOB_HS_E_VERSION, h.wire_version = PARTMOB_WIRE_VERSION - 1);
	EXPECT(PARTMOB_HS_E_ARCH, strcpy(l.arch, "x86_64"));
	EXPECT(PARTMOB_HS_E_PAGE_SIZE, l.page_size = 4096);
	EXPECT(PARTMOB_HS_E_FEATURES, l.features = PARTMOB_F_REGIONS);
	EXPECT(PARTMOB_HS_E_FEATURES, h.features = PARTMOB_F_REGIONS);
	EXPECT(PARTMOB_HS_E_FEATURES, h.region_flags = 2);
	EXPECT(PARTMOB_HS_E_SIZE, h.region_size = 0);
	EXPECT(PARTMOB_HS_E_SIZE, h.region_size = 65536 + 4096);
	EXPECT(PARTMOB_HS_E_SIZE, h.region_size = PARTMOB_REGION_SIZE_MAX +
						 65536);
	EXPECT(PARTMOB_HS_OK, h.region_size = PARTMOB_REGION_SIZE_MAX);
	/* Memory is checked only without the overcommit flag. */
	EXPECT(PARTMOB_HS_OK, l.mem_available = 1);
	EXPECT(PARTMOB_HS_E_MEMORY, (l.mem_available = 1,
				     h.region_flags = 0));
	EXPECT(PARTMOB_HS_OK, (l.mem_available = h.region_size,
			       h.region_flags = 0));
#undef EXPECT
}

static void test_io(void)
{
	struct pm_hs_hello h = good_hello(), d;
	struct pm_hs_reply r = { 0 }, rd;
	int sv[2], buf = 64, status;
	char why[256];
	size_t got;
	char c;

	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	/* Tiny buffers: the writes and reads are short and retried. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (!fork()) {
		close(sv[1]);
		_exit(pm_hs_send_hello(sv[0], &h, 5000) ? 1 : 0);
	}
	CHECK(pm_hs_recv_hello(sv[1], &d, 5000, why, sizeof(why)) ==
	      PARTMOB_HS_OK);
	CHECK(wait(&status) > 0 && WIFEXITED(status) && !WEXITSTATUS(status));
	CHECK(d.npaths == 2 && !strcmp(d.paths[1].path, "/srv/images"));

	strcpy(r.message, "ok");
	CHECK(!pm_hs_send_reply(sv[1], &r, 1000));
	CHECK(!pm_hs_recv_reply(sv[0], &rd, 1000, why, sizeof(why)));
	CHECK(!strcmp(rd.message, "ok"));

	/* Nothing comes: the deadline. */
	CHECK(pm_hs_read_full(sv[1], &c, 1, pm_hs_deadline(200), &got) ==
	      -ETIMEDOUT && got == 0);
	/* Half a hello, then the peer closes: refused, not hung. */
	CHECK(write(sv[0], "PMOB", 4) == 4);
	close(sv[0]);
	CHECK(pm_hs_recv_hello(sv[1], &d, 1000, why, sizeof(why)) ==
	      PARTMOB_HS_E_BAD_REQUEST);
	CHECK(strstr(why, "after 4 of 192") != NULL);
	close(sv[1]);

	/* Closed without a byte: nobody to answer. */
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	close(sv[0]);
	CHECK(pm_hs_recv_hello(sv[1], &d, 1000, why, sizeof(why)) ==
	      -ENODATA);
	close(sv[1]);
}

/* Bytes waiting to be read on @fd, without blocking. */
static size_t pending(int fd)
{
	char buf[4096];
	size_t n = 0;
	ssize_t r;

	while ((r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		n += (size_t)r;
	return n;
}

/*
 * Send @len bytes on a fresh socketpair and return the reader's end; the
 * writer's end is closed (@close_after) or left open (silence) until exit.
 */
static int peer_sends(const void *buf, size_t len, int close_after)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	if (write(sv[0], buf, len) != (ssize_t)len) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (close_after)
		close(sv[0]);
	return sv[1];
}

/*
 * Hostile peers: garbage, unknown versions, oversize counts and values.
 * Each is refused with a message that says what was wrong, and nothing
 * is read (or allocated) beyond what the fixed structs hold.
 */
static void test_hostile_peers(void)
{
	struct pm_hs_hello h = good_hello(), d;
	struct pm_hs_local l = good_local();
	struct {
		struct partmob_hs_hello hello;
		struct partmob_hs_path paths[3];
		char tail[100];
	} w;
	struct partmob_hs_reply wr;
	struct pm_hs_reply r = { 0 }, rd;
	static const uint16_t versions[] = { 0, 2, 0x100, 0xffff };
	char junk[sizeof(struct partmob_hs_hello) + 64], why[256];
	unsigned int i;
	int fd;

	/* An HTTP request and a TLS ClientHello are not partmob peers. */
	memset(junk, 'x', sizeof(junk));
	memcpy(junk, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	fd = peer_sends(junk, sizeof(junk), 1);
	CHECK(fd >= 0);
	CHECK(pm_hs_recv_hello(fd, &d, 1000, why, sizeof(why)) ==
	      PARTMOB_HS_E_BAD_REQUEST);
	CHECK(strstr(why, "not a partmob peer") != NULL);
	CHECK(pending(fd) == sizeof(junk) - sizeof(w.hello));
	close(fd);
	memset(junk, 0, sizeof(junk));
	memcpy(junk, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
	fd = peer_sends(junk, sizeof(junk), 1);
	CHECK(pm_hs_recv_hello(fd, &d, 1000, why, sizeof(why)) ==
	      PARTMOB_HS_E_BAD_REQUEST);
	CHECK(strstr(why, "not a partmob peer") != NULL);
	close(fd);

	/* Unknown handshake versions, both ways; the message says so. */
	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		pm_hs_hello_encode(&h, &w.hello);
		w.hello.version = htobe16(versions[i]);
		CHECK(pm_hs_hello_decode(&w.hello, &d, why, sizeof(why)) ==
		      PARTMOB_HS_E_VERSION);
		CHECK(strstr(why, "version") != NULL);
		pm_hs_reply_encode(&r, &wr);
		wr.version = htobe16(versions[i]);
		CHECK(pm_hs_reply_decode(&wr, &rd, why, sizeof(why)) ==
		      -EPROTO);
		CHECK(strstr(why, "version") != NULL);
	}

	/*
	 * 2^32 - 1 path records announced: refused after the hello, and not
	 * one byte more is read on the peer's say-so.
	 */
	pm_hs_hello_encode(&h, &w.hello);
	w.hello.npaths = htobe32(UINT32_MAX);
	memset(w.paths, 'p', sizeof(w.paths) + sizeof(w.tail));
	fd = peer_sends(&w, sizeof(w), 1);
	CHECK(pm_hs_recv_hello(fd, &d, 1000, why, sizeof(why)) ==
	      PARTMOB_HS_E_BAD_REQUEST);
	CHECK(strstr(why, "at most") != NULL);
	CHECK(pending(fd) == sizeof(w) - sizeof(w.hello));
	close(fd);

	/* One record announced, three sent: exactly one is read. */
	h.npaths = 1;
	pm_hs_hello_encode(&h, &w.hello);
	for (i = 0; i < 3; i++)
		pm_hs_path_encode(&h.paths[0], &w.paths[i]);
	fd = peer_sends(&w, sizeof(w), 1);
	CHECK(pm_hs_recv_hello(fd, &d, 1000, why, sizeof(why)) ==
	      PARTMOB_HS_OK);
	CHECK(d.npaths == 1);
	CHECK(pending(fd) == sizeof(w) - sizeof(w.hello) - sizeof(w.paths[0]));
	close(fd);

	/* The most records allowed announced, one sent, then silence. */
	h.npaths = PARTMOB_HS_PATHS_MAX;
	pm_hs_hello_encode(&h, &w.hello);
	fd = peer_sends(&w, sizeof(w.hello) + sizeof(w.paths[0]), 0);
	CHECK(pm_hs_recv_hello(fd, &d, 300, why, sizeof(why)) ==
	      PARTMOB_HS_E_BAD_REQUEST);
	CHECK(strstr(why, "timed out") != NULL &&
	      strstr(why, "required path record 2 of") != NULL);
	close(fd);

	/* Oversize values: refused by the checks, never used as sizes. */
	h = good_hello();
	h.page_size = UINT32_MAX;
	CHECK(pm_hs_check(&h, &l, why, sizeof(why)) == PARTMOB_HS_E_PAGE_SIZE);
	h = good_hello();
	h.region_size = UINT64_MAX;
	CHECK(pm_hs_check(&h, &l, why, sizeof(why)) == PARTMOB_HS_E_SIZE);
	h.region_size = UINT64_MAX - UINT64_MAX % h.page_size;
	CHECK(pm_hs_check(&h, &l, why, sizeof(why)) == PARTMOB_HS_E_SIZE);
	CHECK(strstr(why, "above the limit") != NULL);
	h = good_hello();
	h.wire_version = UINT32_MAX;
	CHECK(pm_hs_check(&h, &l, why, sizeof(why)) == PARTMOB_HS_E_VERSION);
	h.wire_version = 0;
	CHECK(pm_hs_check(&h, &l, why, sizeof(why)) == PARTMOB_HS_E_VERSION);
	h = good_hello();
	h.region_flags = UINT32_MAX;
	CHECK(pm_hs_check(&h, &l, why, sizeof(why)) == PARTMOB_HS_E_FEATURES);
	/* A reply's numbers are only reported: any value decodes. */
	r.features = UINT64_MAX;
	r.mem_available = UINT64_MAX;
	memset(r.message, 'm', sizeof(r.message) - 1);
	r.message[sizeof(r.message) - 1] = '\0';
	pm_hs_reply_encode(&r, &wr);
	CHECK(pm_hs_reply_decode(&wr, &rd, why, sizeof(why)) == 0);
	CHECK(rd.mem_available == UINT64_MAX &&
	      strlen(rd.message) == sizeof(rd.message) - 1);
}

/*
 * A peer that trickles a byte at a time does not extend the deadline: the
 * deadline is for the whole hello, not for each read.
 */
static void test_slow_peer(void)
{
	struct pm_hs_hello d;
	char why[256];
	int sv[2];
	pid_t pid;

	CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	if (!pid) {
		struct partmob_hs_hello w;
		struct pm_hs_hello h = good_hello();
		const char *b = (const char *)&w;
		size_t i;

		close(sv[1]);
		pm_hs_hello_encode(&h, &w);
		for (i = 0; i < sizeof(w); i++) {
			if (write(sv[0], b + i, 1) != 1)
				_exit(0);
			usleep(20000);
		}
		_exit(0);
	}
	close(sv[0]);
	CHECK(pm_hs_recv_hello(sv[1], &d, 300, why, sizeof(why)) ==
	      PARTMOB_HS_E_BAD_REQUEST);
	CHECK(strstr(why, "timed out after") != NULL);
	close(sv[1]);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Random damage to good and random messages: no crash, sane verdicts. */
static void test_mutations(unsigned int rounds)
{
	struct pm_hs_hello h = good_hello(), d;
	struct partmob_hs_hello w, m;
	struct partmob_hs_reply wr;
	struct pm_hs_reply rd;
	struct partmob_hs_path wp;
	struct pm_hs_path p;
	unsigned char *b;
	char why[256];
	unsigned int i, k;
	int st;

	srandom(1);
	pm_hs_hello_encode(&h, &w);
	for (i = 0; i < rounds; i++) {
		m = w;
		b = (unsigned char *)&m;
		for (k = 0; k < 1 + (unsigned int)random() % 4; k++)
			b[random() % sizeof(m)] = (unsigned char)random();
		if (i % 16 == 0)
			for (k = 0; k < sizeof(m); k++)
				b[k] = (unsigned char)random();
		st = pm_hs_hello_decode(&m, &d, why, sizeof(why));
		CHECK(st == PARTMOB_HS_OK || st == PARTMOB_HS_E_VERSION ||
		      st == PARTMOB_HS_E_BAD_REQUEST);
		CHECK(st == PARTMOB_HS_OK || why[0]);
		if (st == PARTMOB_HS_OK) {
			CHECK(d.npaths <= PARTMOB_HS_PATHS_MAX);
			CHECK(memchr(d.region, 0, sizeof(d.region)) != NULL);
			CHECK(!pm_hs_bad_name(d.region));
		}
		b = (unsigned char *)&wp;
		for (k = 0; k < sizeof(wp); k++)
			b[k] = (unsigned char)(random() % 3 ? random() : 0);
		if (i % 2)
			wp.path[0] = '/';
		pm_hs_path_decode(&wp, &p, why, sizeof(why));
		b = (unsigned char *)&wr;
		for (k = 0; k < sizeof(wr); k++)
			b[k] = (unsigned char)random();
		if (i % 2) {
			wr.magic = htobe32(PARTMOB_HS_MAGIC);
			wr.version = htobe16(PARTMOB_HS_VERSION);
		}
		if (!pm_hs_reply_decode(&wr, &rd, why, sizeof(why)))
			CHECK(memchr(rd.message, 0, sizeof(rd.message)) != NULL);
	}
}

int main(int argc, char **argv)
{
	unsigned int rounds = argc > 1 ? (unsigned int)atoi(argv[1]) : 200000;

	test_round_trip();
	test_bad_hellos();
	test_bad_paths_and_replies();
	test_check();
	test_io();
	test_hostile_peers();
	test_slow_peer();
	test_mutations(rounds);
	printf("test-handshake: %d of %d checks failed\n", failures, checks);
	return failures ? 1 : 0;
}
