// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target of the destination's frame parser (kernel/frame.c, built
 * here in userspace with shim.h): a stream of frames against a region of
 * N pages, played the way kernel/recv.c plays it.
 *
 * Input:
 *   byte 0     the region has byte 0 + 1 pages (1 to 256) of PS bytes
 *   byte 1     bit 0: the destination was given mig_id FUZZ_MIG_ID (else
 *              any id goes); bit 1: a 16-byte buffer for the refusal
 *              message (else PARTMOB_MIG_ERROR_MAX + 1, as in the kernel)
 *   then       frame headers (struct partmob_frame, big-endian); each
 *              PAGES frame the parser accepts is followed by count * PS
 *              bytes of payload, written into the region. The stream ends
 *              where the input does (a short payload: the connection
 *              failed).
 *
 * Asserted for every frame: the verdict (0 or -EPROTO) and the state after
 * it equal those of an independent model of Documentation/wire-protocol.rst
 * below; the decoded fields equal the bytes; the same frame from the same
 * state gets the same verdict; a refusal says why in a NUL-terminated,
 * printable line and ends the stream (every later frame is refused);
 * an accepted PAGES or ZERO lies inside the region. The region and the
 * message buffer are heap blocks of exactly their size, so a write
 * outside them is an AddressSanitizer report.
 *
 * Built with libFuzzer (make fuzz) or with replay.c (make check).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "fuzz.h"

/* ---- the model: the rules of wire-protocol.rst, written apart --------- */

struct model {
	int phase;		/* 0 hello, 1 rounds, 2 decision, 3 over */
	uint64_t round, received;
};

static uint64_t get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

/* [offset, offset + count) inside [0, npages), in 128-bit arithmetic. */
static int inside(uint64_t offset, uint64_t count, uint64_t npages)
{
	return count >= 1 &&
	       (unsigned __int128)offset + count <= (unsigned __int128)npages;
}

/* 1 if the model accepts the frame at @b; @m moves on either way. */
static int model_step(struct model *m, const unsigned char *b,
		      uint64_t npages, uint64_t mig_id)
{
	uint64_t type = get_be(b, 2), flags = get_be(b + 2, 2);
	uint64_t count = get_be(b + 4, 4), offset = get_be(b + 8, 8);
	uint64_t arg = get_be(b + 16, 8);
	int ok = 0;

	if (m->phase == 3)
		return 0;
	if (flags && !(type == PARTMOB_FRAME_END &&
		       flags == PARTMOB_FRAME_F_VERIFY)) {
		m->phase = 3;
		return 0;
	}
	switch (m->phase) {
	case 0:
		ok = type == PARTMOB_FRAME_HELLO && count == FUZZ_PS &&
		     arg == npages && (!mig_id || offset == mig_id);
		m->phase = ok ? 1 : 3;
		return ok;
	case 1:
		if (type == PARTMOB_FRAME_PAGES) {
			ok = count <= PARTMOB_FRAME_PAGES_MAX &&
			     inside(offset, count, npages);
			m->received += ok ? count : 0;
		} else if (type == PARTMOB_FRAME_ZERO) {
			ok = inside(offset, count, npages);
		} else if (type == PARTMOB_FRAME_ROUND) {
			ok = arg == m->round + 1;
			m->round += ok;
		} else if (type == PARTMOB_FRAME_END) {
			ok = arg == m->received;
			m->round += ok;
			if (ok)
				m->phase = 2;
		} else if (type == PARTMOB_FRAME_ABORT) {
			ok = 1;
			m->phase = 3;
		}
		if (!ok)
			m->phase = 3;
		return ok;
	default:
		ok = type == PARTMOB_FRAME_COMMIT ||
		     type == PARTMOB_FRAME_ABORT;
		m->phase = 3;
		return ok;
	}
}

static const int model_phase[] = {
	PARTMOB_RX_HELLO, PARTMOB_RX_ROUNDS, PARTMOB_RX_DECISION,
	PARTMOB_RX_DONE,
};

static void check_why(const char *why, size_t n)
{
	const char *nul = memchr(why, '\0', n);
	const char *s;

	assert(nul && nul > why);
	for (s = why; s < nul; s++)
		assert(*s >= 0x20 && *s < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t hdr = sizeof(struct partmob_frame);
	struct partmob_rx_state st, again;
	struct partmob_rx_frame f, f2;
	struct partmob_frame w;
	struct model m = { 0 };
	uint64_t npages, mig_id;
	unsigned char *region;
	size_t whyn, need;
	char *why, *why2;
	int ret, ret2, expect;

	if (size < 2)
		return 0;
	npages = (uint64_t)data[0] + 1;
	mig_id = data[1] & 1 ? FUZZ_MIG_ID : 0;
	whyn = data[1] & 2 ? 16 : PARTMOB_MIG_ERROR_MAX + 1;
	data += 2;
	size -= 2;

	region = malloc(npages * FUZZ_PS);
	why = malloc(whyn);
	why2 = malloc(whyn);
	assert(region && why && why2);
	memset(region, 0xa5, npages * FUZZ_PS);
	partmob_frame_init(&st, npages, FUZZ_PS, mig_id);
	assert(st.phase == PARTMOB_RX_HELLO && !st.round && !st.received);

	while (size >= hdr) {
		memcpy(&w, data, hdr);
		expect = model_step(&m, data, npages, mig_id);
		data += hdr;
		size -= hdr;

		again = st;
		memset(why, 'x', whyn);
		ret = partmob_frame_check(&st, &w, &f, why, whyn);
		ret2 = partmob_frame_check(&again, &w, &f2, why2, whyn);
		assert(ret == 0 || ret == -EPROTO);
		assert(ret == ret2 && st.phase == again.phase &&
		       st.round == again.round &&
		       st.received == again.received);
		assert((ret == 0) == expect);
		assert(st.phase == (uint32_t)model_phase[m.phase]);
		assert(st.round == m.round && st.received == m.received);
		assert(f.type == get_be((const void *)&w.type, 2) &&
		       f.flags == get_be((const void *)&w.flags, 2) &&
		       f.count == get_be((const void *)&w.count, 4) &&
		       f.offset == get_be((const void *)&w.offset, 8) &&
		       f.arg == get_be((const void *)&w.arg, 8));
		if (ret) {
			check_why(why, whyn);
			assert(!strcmp(why, why2));
			continue;	/* later frames must be refused */
		}
		if (f.type == PARTMOB_FRAME_PAGES) {
			assert(f.count >= 1 &&
			       f.count <= PARTMOB_FRAME_PAGES_MAX &&
			       f.offset < npages &&
			       f.count <= npages - f.offset);
			need = (size_t)f.count * FUZZ_PS;
			if (size < need)
				break;		/* the connection failed */
			memcpy(region + f.offset * FUZZ_PS, data, need);
			data += need;
			size -= need;
		} else if (f.type == PARTMOB_FRAME_ZERO) {
			assert(f.count >= 1 && f.offset < npages &&
			       f.count <= npages - f.offset);
			memset(region + f.offset * FUZZ_PS, 0,
			       (size_t)f.count * FUZZ_PS);
		}
	}
	free(why2);
	free(why);
	free(region);
	return 0;
}
