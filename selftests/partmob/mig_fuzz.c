// SPDX-License-Identifier: GPL-2.0
/*
 * Random and mutated frame streams thrown at a kernel destination: the
 * test plays the source end of a loopback TCP connection (no handshake,
 * no partmobctl), sends a whole stream, closes its side, and checks how
 * the destination ended against a model of the checks on receipt
 * (fuzz/model.h, written apart from kernel/frame.c):
 *
 *   - a frame the model refuses, a stream cut before END, or ABORT: the
 *     migration failed with an error (EPROTO for a refused frame,
 *     ECONNABORTED for ABORT) and the destination region is gone;
 *   - END and COMMIT accepted: completed, and the region holds exactly
 *     what the PAGES, SCATTER and ZERO frames said;
 *   - END accepted and then anything but COMMIT or ABORT (or nothing):
 *     in doubt, the region kept frozen; the test then resumes it (and
 *     checks its contents) or discards it (and checks it is gone).
 *
 * Streams are built from a seed: a valid stream of a few rounds, then
 * (mostly) damaged: a header byte or field changed to an edge value, a
 * frame dropped, repeated or moved, garbage inserted, the stream cut
 * short, or bytes at random. A guard region filled with a pattern must
 * not change. Every failure names its seed: MIG_FUZZ_SEED=seed and
 * MIG_FUZZ_STREAMS=1 replay one stream (in each of the four tests).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "kselftest_harness.h"
#include "lib.h"
#include "mig_lib.h"
#include "fuzz/model.h"

#define PFX "mf-"
#define DST PFX "dst"
#define GUARD PFX "guard"
#define GUARD_PAGES 4
#define MAX_PAGES 16		/* of a destination region */
#define MIG_ID 0x5eedULL
#define HDR ((int)sizeof(struct partmob_frame))
#define MAX_FRAMES 96

static long psz;

/* splitmix64: the test's only source of randomness, from the seed. */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A stream under construction: frames, each a header and its payload. */
struct frame {
	unsigned char h[HDR];
	uint32_t nlist;		/* SCATTER: distances in @list, sent first */
	uint32_t list[MAX_PAGES];
	uint32_t payload;	/* pages of payload that follow */
	unsigned char fill;	/* the payload's byte */
};

struct stream {
	struct frame f[MAX_FRAMES];
	int n;
	uint64_t npages;
};

static void put(struct stream *s, uint16_t type, uint16_t flags,
		uint32_t count, uint64_t offset, uint64_t arg,
		unsigned char fill)
{
	struct partmob_frame w;
	struct frame *f;

	if (s->n >= MAX_FRAMES)
		return;
	f = &s->f[s->n++];
	pm_frame(&w, type, count, offset, arg);
	w.flags = htons(flags);
	memcpy(f->h, &w, HDR);
	f->payload = type == PARTMOB_FRAME_PAGES ? count : 0;
	f->nlist = 0;
	f->fill = fill;
}

/* A SCATTER frame of the pages after @off that @seed picks, at least one. */
static uint64_t put_scatter(struct stream *s, uint64_t off, uint64_t *seed)
{
	uint32_t list[MAX_PAGES], n = 0, d;
	struct frame *f;

	for (d = 0; d < s->npages - off; d++)
		if (rnd(seed) % 2 || (!n && d == s->npages - off - 1))
			list[n++] = d;
	if (s->n >= MAX_FRAMES)
		return 0;
	put(s, PARTMOB_FRAME_SCATTER, 0, n, off, 0,
	    (unsigned char)(1 + rnd(seed) % 255));
	f = &s->f[s->n - 1];
	memcpy(f->list, list, sizeof(list));
	f->nlist = n;
	f->payload = n;
	return n;
}

/* A valid stream: HELLO, 1 to 3 rounds, END, and mostly COMMIT. */
static void valid_stream(struct stream *s, uint64_t *seed)
{
	uint64_t sent = 0, off, cnt;
	int rounds = 1 + rnd(seed) % 3, r, k, n;

	s->n = 0;
	s->npages = 1 + rnd(seed) % MAX_PAGES;
	put(s, PARTMOB_FRAME_HELLO, 0, psz, MIG_ID, s->npages, 0);
	for (r = 1; r <= rounds; r++) {
		n = rnd(seed) % 5;
		for (k = 0; k < n; k++) {
			off = rnd(seed) % s->npages;
			cnt = 1 + rnd(seed) % (s->npages - off);
			if (rnd(seed) % 4 == 0) {
				sent += put_scatter(s, off, seed);
			} else if (rnd(seed) % 3) {
				put(s, PARTMOB_FRAME_PAGES, 0, cnt, off, 0,
				    (unsigned char)(1 + rnd(seed) % 255));
				sent += cnt;
			} else {
				put(s, PARTMOB_FRAME_ZERO, 0, cnt, off, 0, 0);
			}
		}
		if (r < rounds)
			put(s, PARTMOB_FRAME_ROUND, 0, 0, 0, r, 0);
	}
	put(s, PARTMOB_FRAME_END, rnd(seed) % 4 ? 0 : PARTMOB_FRAME_F_VERIFY,
	    0, 0, sent, 0);
	if (rnd(seed) % 8)
		put(s, PARTMOB_FRAME_COMMIT, 0, 0, 0, 0, 0);
}

static const uint64_t edges[] = {
	0, 1, 2, 63, 64, 65, 0xffff, 0x7fffffff, 0xffffffff,
	0xffffffffffffffffULL, 0x8000000000000000ULL,
};

/* Damage @s once; says what in @what. */
static void mutate(struct stream *s, uint64_t *seed, char *what, size_t n)
{
	int i = s->n ? rnd(seed) % s->n : 0, j, k;
	struct frame *f = &s->f[i], tmp;
	uint64_t v;

	switch (rnd(seed) % 8) {
	case 0:
		k = rnd(seed) % HDR;
		f->h[k] ^= 1 << (rnd(seed) % 8);
		snprintf(what, n, "bit flipped in byte %d of frame %d", k, i);
		break;
	case 1: {	/* a field set to an edge value, or npages +- 1 */
		static const int at[] = { 0, 2, 4, 8, 16 }, len[] = {
			2, 2, 4, 8, 8 };

		k = rnd(seed) % 5;
		v = rnd(seed) % 3 ? edges[rnd(seed) % 11] :
				    s->npages + rnd(seed) % 3 - 1;
		for (j = len[k] - 1; j >= 0; j--, v >>= 8)
			f->h[at[k] + j] = (unsigned char)v;
		snprintf(what, n, "field at byte %d of frame %d set", at[k], i);
		break;
	}
	case 2:
		if (s->n < 2)
			break;
		memmove(f, f + 1, (s->n - i - 1) * sizeof(*f));
		s->n--;
		snprintf(what, n, "frame %d dropped", i);
		break;
	case 3:
		if (s->n >= MAX_FRAMES)
			break;
		memmove(f + 1, f, (s->n - i) * sizeof(*f));
		s->n++;
		snprintf(what, n, "frame %d repeated", i);
		break;
	case 4:
		j = s->n ? rnd(seed) % s->n : 0;
		tmp = s->f[i];
		s->f[i] = s->f[j];
		s->f[j] = tmp;
		snprintf(what, n, "frames %d and %d swapped", i, j);
		break;
	case 5:		/* a garbage header, claiming no payload */
		if (s->n >= MAX_FRAMES)
			break;
		memmove(f + 1, f, (s->n - i) * sizeof(*f));
		s->n++;
		for (k = 0; k < HDR; k++)
			f->h[k] = (unsigned char)rnd(seed);
		f->payload = 0;
		f->nlist = 0;
		snprintf(what, n, "garbage inserted at frame %d", i);
		break;
	case 6:
		s->n = i;
		snprintf(what, n, "stream cut before frame %d", i);
		break;
	default:	/* a type changed to another (or an unknown one) */
		v = rnd(seed) % 12;
		f->h[0] = 0;
		f->h[1] = (unsigned char)v;
		snprintf(what, n, "frame %d made type %u", i, (unsigned int)v);
		break;
	}
}

/*
 * The bytes on the wire; a frame's list and payload are what put() said,
 * whatever a mutation did to its header.
 */
static size_t serialize(const struct stream *s, unsigned char *buf,
			size_t size, uint64_t *seed, int cut)
{
	size_t len = 0, pl, ll;
	uint32_t k, be;
	int i;

	for (i = 0; i < s->n; i++) {
		pl = (size_t)s->f[i].payload * psz;
		ll = (size_t)s->f[i].nlist * 4;
		if (len + HDR + ll + pl > size)
			break;
		memcpy(buf + len, s->f[i].h, HDR);
		len += HDR;
		for (k = 0; k < s->f[i].nlist; k++, len += 4) {
			be = htonl(s->f[i].list[k]);
			memcpy(buf + len, &be, 4);
		}
		memset(buf + len, s->f[i].fill, pl);
		len += pl;
	}
	if (cut && len)		/* cut inside a header or a payload */
		len -= 1 + rnd(seed) % (len < 64 ? len : 64);
	return len;
}

enum outcome { O_FAILED, O_COMPLETED, O_IN_DOUBT };

struct expect {
	enum outcome outcome;
	int err;		/* O_FAILED: EPROTO, ECONNABORTED, or 0: any */
	const char *why;
	unsigned char *image;	/* the region, as the frames wrote it */
};

/* Play the stream through the model, as recv.c reads it. */
static void predict(const unsigned char *buf, size_t len, uint64_t npages,
		    struct expect *e)
{
	struct pm_model m = {
		.npages = npages, .page_size = psz, .mig_id = MIG_ID,
	};
	struct pm_model_frame f;
	size_t at = 0, pl;
	uint64_t k, d;
	int prev;

	memset(e->image, 0, npages * psz);
	e->err = 0;
	for (;;) {
		if (len - at < (size_t)HDR) {
			/* EOF: after END nobody told the outcome. */
			e->outcome = m.phase == PM_M_DECISION ? O_IN_DOUBT :
							     O_FAILED;
			e->why = "the stream ended";
			return;
		}
		prev = m.phase;
		if (!pm_model_step(&m, buf + at, &f)) {
			/* Refused: before END it fails, after it in doubt. */
			e->outcome = prev == PM_M_DECISION ? O_IN_DOUBT :
							    O_FAILED;
			e->err = EPROTO;
			e->why = "a frame is refused";
			return;
		}
		at += HDR;
		switch (f.type) {
		case PARTMOB_FRAME_PAGES:
			pl = f.count * psz;
			if (len - at < pl) {
				e->outcome = O_FAILED;
				e->why = "the stream ended inside PAGES";
				return;
			}
			memcpy(e->image + f.offset * psz, buf + at, pl);
			at += pl;
			break;
		case PARTMOB_FRAME_SCATTER:
			if (len - at < f.count * 4) {
				e->outcome = O_FAILED;
				e->why = "the stream ended inside a list";
				return;
			}
			if (!pm_model_list(&m, &f, buf + at)) {
				e->outcome = O_FAILED;
				e->err = EPROTO;
				e->why = "a SCATTER list is refused";
				return;
			}
			pl = f.count * psz;
			if (len - at - f.count * 4 < pl) {
				e->outcome = O_FAILED;
				e->why = "the stream ended inside SCATTER";
				return;
			}
			for (k = 0; k < f.count; k++) {
				d = pm_model_be(buf + at + 4 * k, 4);
				memcpy(e->image + (f.offset + d) * psz,
				       buf + at + f.count * 4 + k * psz, psz);
			}
			at += f.count * 4 + pl;
			break;
		case PARTMOB_FRAME_ZERO:
			memset(e->image + f.offset * psz, 0, f.count * psz);
			break;
		case PARTMOB_FRAME_COMMIT:
			e->outcome = O_COMPLETED;
			e->why = "COMMIT";
			return;
		case PARTMOB_FRAME_ABORT:
			e->outcome = O_FAILED;
			e->err = ECONNABORTED;
			e->why = "ABORT";
			return;
		}
	}
}

static const char *outcome_name(enum outcome o)
{
	return o == O_COMPLETED ? "completed" :
	       o == O_IN_DOUBT ? "in doubt" : "failed";
}

static int is_final(uint32_t state)
{
	return state == PARTMOB_MIG_S_COMPLETED ||
	       state == PARTMOB_MIG_S_FAILED ||
	       state == PARTMOB_MIG_S_IN_DOUBT;
}

/* Wait (bounded) until the destination stops: its final state, or -errno. */
static int wait_final(struct tnl *t, int ctl, struct pm_mig_info *mi)
{
	struct pollfd p = { .fd = ctl, .events = POLLIN };
	uint64_t end = pm_now_ms() + 20000, n;

	for (;;) {
		if (pm_mig_get_fd(t, ctl, mi))
			return -EIO;
		if (is_final(mi->state))
			return (int)mi->state;
		if (pm_now_ms() > end)
			return -ETIMEDOUT;
		if (poll(&p, 1, 200) > 0 && (p.revents & POLLIN))
			(void)!read(ctl, &n, sizeof(n));
	}
}

static int region_equals(const char *name, const unsigned char *image,
			 size_t size)
{
	unsigned char *p = pm_region_map(name, size, PROT_READ);
	int same;

	if (p == MAP_FAILED)
		return -errno;
	same = !memcmp(p, image, size);
	munmap(p, size);
	return same;
}

FIXTURE(mf) {
	struct tnl t;
	unsigned char *guard;
	unsigned char *buf, *image;
	size_t bufsize;
};

FIXTURE_SETUP(mf)
{
	psz = sysconf(_SC_PAGESIZE);
	pm_regions_cleanup(PFX);
	ASSERT_EQ(0, tnl_open(&self->t));
	ASSERT_EQ(0, pm_region_create(&self->t, GUARD, GUARD_PAGES * psz, -1,
				      -1, -1, -1)) TH_LOG("%s", self->t.extack);
	self->guard = pm_region_map(GUARD, GUARD_PAGES * psz,
				    PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, self->guard);
	memset(self->guard, 0x5a, GUARD_PAGES * psz);
	/* Room for the payload of 16 full regions; a longer stream is cut. */
	self->bufsize = (size_t)MAX_FRAMES * (HDR + 4 * MAX_PAGES) +
			16 * MAX_PAGES * psz;
	self->buf = malloc(self->bufsize);
	self->image = malloc(MAX_PAGES * psz);
	ASSERT_NE(NULL, self->buf);
	ASSERT_NE(NULL, self->image);
}

FIXTURE_TEARDOWN(mf)
{
	free(self->buf);
	free(self->image);
	if (self->guard != MAP_FAILED)
		munmap(self->guard, GUARD_PAGES * psz);
	pm_regions_cleanup(PFX);
	tnl_close(&self->t);
}

/*
 * One stream: returns 0 if the destination ended as predicted, else 1
 * (logged with the seed). @counts tallies the outcomes.
 */
static int one_stream(struct __test_metadata *_metadata,
		      FIXTURE_DATA(mf) *self, uint64_t seed, int counts[3])
{
	struct pm_mig_args a = {
		.name = DST, .role = PARTMOB_MIG_DEST, .id = MIG_ID,
		.peer = "127.0.0.1", .timeout_ms = 5000,
		.flags = -1, .uid = -1, .gid = -1, .mode = 0600,
	};
	struct timeval tmo = { .tv_sec = 10 };
	struct pm_mig_info mi;
	struct expect e = { .image = self->image };
	struct stream s;
	uint64_t r = seed;
	char what[96] = "none";
	int fds[2], ctl, state, kind, k, fails = 0;
	size_t len;

	valid_stream(&s, &r);
	kind = rnd(&r) % 8;
	if (kind == 0) {		/* bytes at random after a good HELLO */
		s.n = 1;
		len = serialize(&s, self->buf, self->bufsize, &r, 0);
		k = rnd(&r) % 512;
		for (; k > 0 && len < self->bufsize; k--)
			self->buf[len++] = (unsigned char)rnd(&r);
		snprintf(what, sizeof(what), "random bytes after HELLO");
	} else {
		for (k = kind == 1 ? 0 : 1 + rnd(&r) % 3; k > 0; k--)
			mutate(&s, &r, what, sizeof(what));
		len = serialize(&s, self->buf, self->bufsize, &r,
				rnd(&r) % 10 == 0);
	}
	predict(self->buf, len, s.npages, &e);

	if (pm_tcp_pair(-1, -1, fds)) {
		TH_LOG("seed %llu: no TCP pair", (unsigned long long)seed);
		return 1;
	}
	/* A destination that stopped reading must not block the test. */
	setsockopt(fds[0], SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
	a.fd = fds[1];
	a.size = s.npages * psz;
	ctl = pm_mig_start(&self->t, &a);
	close(fds[1]);
	if (ctl < 0) {
		TH_LOG("seed %llu: MIG_START: %d %s", (unsigned long long)seed,
		       ctl, self->t.extack);
		close(fds[0]);
		return 1;
	}
	(void)pm_send_all(fds[0], self->buf, len);
	shutdown(fds[0], SHUT_WR);
	state = wait_final(&self->t, ctl, &mi);
	close(fds[0]);

	if (state < 0) {
		TH_LOG("seed %llu (%s): the destination did not stop (%d, state %s)",
		       (unsigned long long)seed, what, state,
		       pm_mig_state_name(mi.state));
		fails++;
		pm_mig_control(&self->t, DST, PARTMOB_MIG_A_ABORT);
		wait_final(&self->t, ctl, &mi);
	} else if ((e.outcome == O_COMPLETED &&
		    state != PARTMOB_MIG_S_COMPLETED) ||
		   (e.outcome == O_FAILED && state != PARTMOB_MIG_S_FAILED) ||
		   (e.outcome == O_IN_DOUBT &&
		    state != PARTMOB_MIG_S_IN_DOUBT)) {
		TH_LOG("seed %llu (%s; %s): %s, expected %s; error %u \"%s\"",
		       (unsigned long long)seed, what, e.why,
		       pm_mig_state_name(state), outcome_name(e.outcome),
		       mi.err_no, mi.error);
		fails++;
	}
	counts[e.outcome]++;

	if (state == PARTMOB_MIG_S_FAILED) {
		if (!mi.err_no || !mi.error[0] ||
		    (e.err && mi.err_no != (uint32_t)e.err)) {
			TH_LOG("seed %llu (%s): failed with error %u \"%s\", expected %d",
			       (unsigned long long)seed, what, mi.err_no,
			       mi.error, e.err);
			fails++;
		}
		if (pm_region_exists(DST)) {
			TH_LOG("seed %llu (%s): failed, the region is still there",
			       (unsigned long long)seed, what);
			fails++;
		}
	} else if (state == PARTMOB_MIG_S_COMPLETED) {
		if (region_equals(DST, e.image, s.npages * psz) != 1) {
			TH_LOG("seed %llu (%s): completed with other contents",
			       (unsigned long long)seed, what);
			fails++;
		}
	} else if (state == PARTMOB_MIG_S_IN_DOUBT) {
		if (pm_region_frozen(DST) != 1) {
			TH_LOG("seed %llu (%s): in doubt, not frozen",
			       (unsigned long long)seed, what);
			fails++;
		}
		/* The operator settles it: resume (what arrived) or discard. */
		if (seed % 2 &&
		    !pm_mig_control(&self->t, DST, PARTMOB_MIG_A_RESUME)) {
			if (region_equals(DST, e.image, s.npages * psz) != 1) {
				TH_LOG("seed %llu (%s): resumed with other contents",
				       (unsigned long long)seed, what);
				fails++;
			}
		} else if (pm_mig_control(&self->t, DST,
					  PARTMOB_MIG_A_DISCARD) ||
			   pm_region_exists(DST)) {
			TH_LOG("seed %llu (%s): discard failed: %s",
			       (unsigned long long)seed, what,
			       self->t.extack);
			fails++;
		}
	}
	close(ctl);
	pm_regions_cleanup(DST);
	return fails;
}

/*
 * @n streams from seed @first on (MIG_FUZZ_SEED and MIG_FUZZ_STREAMS
 * override both): each ends as the model says, within bounded time, and
 * the guard region is untouched.
 */
static void run_streams(struct __test_metadata *_metadata,
			FIXTURE_DATA(mf) *self, uint64_t first, int n)
{
	const char *e = getenv("MIG_FUZZ_STREAMS");
	const char *sd = getenv("MIG_FUZZ_SEED");
	int streams = e ? atoi(e) : n, counts[3] = { 0 }, fails = 0, i;
	uint64_t seed0 = sd ? strtoull(sd, NULL, 0) : first;
	unsigned char pattern[64];

	for (i = 0; i < streams; i++)
		fails += one_stream(_metadata, self, seed0 + i, counts);
	TH_LOG("%d streams from seed %llu: %d failed, %d completed, %d in doubt; %d mismatches",
	       streams, (unsigned long long)seed0, counts[O_FAILED],
	       counts[O_COMPLETED], counts[O_IN_DOUBT], fails);
	EXPECT_EQ(0, fails);
	/* Every outcome was exercised, so the streams reached each phase. */
	if (streams >= 64) {
		EXPECT_LT(0, counts[O_FAILED]);
		EXPECT_LT(0, counts[O_COMPLETED]);
		EXPECT_LT(0, counts[O_IN_DOUBT]);
	}
	/* Nothing outside the destination regions was written. */
	memset(pattern, 0x5a, sizeof(pattern));
	for (i = 0; i < GUARD_PAGES * psz; i += sizeof(pattern))
		if (memcmp(self->guard + i, pattern, sizeof(pattern)))
			break;
	EXPECT_EQ(GUARD_PAGES * psz, i) TH_LOG("guard region changed at %d", i);
}

/* 4 x 64 streams, seeds 1 to 256. */
TEST_F_TIMEOUT(mf, streams_1_to_64, 150)
{
	run_streams(_metadata, self, 1, 64);
}

TEST_F_TIMEOUT(mf, streams_65_to_128, 150)
{
	run_streams(_metadata, self, 65, 64);
}

TEST_F_TIMEOUT(mf, streams_129_to_192, 150)
{
	run_streams(_metadata, self, 129, 64);
}

TEST_F_TIMEOUT(mf, streams_193_to_256, 150)
{
	run_streams(_metadata, self, 193, 64);
}

TEST_HARNESS_MAIN
