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
 *              bytes of payload, written into the region; each SCATTER
 *              frame by count 4-byte distances (its list), and if the
 *              parser accepts them, count * PS bytes written at the pages
 *              they name. The stream ends where the input does (a short
 *              list or payload: the connection failed).
 *
 * Asserted for every frame: the verdict (0 or -EPROTO) and the state after
 * it equal those of an independent model of Documentation/wire-protocol.rst
 * (model.h); the decoded fields equal the bytes; the same frame from the same
 * state gets the same verdict; a refusal says why in a NUL-terminated,
 * printable line and ends the stream (every later frame is refused);
 * an accepted PAGES, ZERO or SCATTER list lies inside the region, and a
 * SCATTER list's pages ascend. The region and the
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
#include "model.h"

static const int model_phase[] = {
	[PM_M_HELLO] = PARTMOB_RX_HELLO,
	[PM_M_ROUNDS] = PARTMOB_RX_ROUNDS,
	[PM_M_DECISION] = PARTMOB_RX_DECISION,
	[PM_M_OVER] = PARTMOB_RX_DONE,
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
	struct pm_model_frame mf;
	u64 offs[PARTMOB_FRAME_PAGES_MAX];
	__be32 list[PARTMOB_FRAME_PAGES_MAX];
	uint32_t i;
	struct pm_model m = { 0 };
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
	m.npages = npages;
	m.page_size = FUZZ_PS;
	m.mig_id = mig_id;
	assert(st.phase == PARTMOB_RX_HELLO && !st.round && !st.received);

	while (size >= hdr) {
		memcpy(&w, data, hdr);
		expect = pm_model_step(&m, data, &mf);
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
		assert(f.type == mf.type && f.flags == mf.flags &&
		       f.count == mf.count && f.offset == mf.offset &&
		       f.arg == mf.arg);
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
		} else if (f.type == PARTMOB_FRAME_SCATTER) {
			assert(f.count >= 1 &&
			       f.count <= PARTMOB_FRAME_PAGES_MAX &&
			       f.offset < npages);
			need = (size_t)f.count * 4;
			if (size < need)
				break;		/* the connection failed */
			expect = pm_model_list(&m, &mf, data);
			memset(why, 'x', whyn);
			memcpy(list, data, need);	/* as recv.c: aligned */
			ret = partmob_frame_check_list(&st, &f, list, offs,
						       why, whyn);
			data += need;
			size -= need;
			assert(ret == 0 || ret == -EPROTO);
			assert((ret == 0) == expect);
			assert(st.phase == (uint32_t)model_phase[m.phase]);
			assert(st.received == m.received);
			if (ret) {
				check_why(why, whyn);
				continue;
			}
			for (i = 0; i < f.count; i++)
				assert(offs[i] < npages &&
				       (!i || offs[i] > offs[i - 1]));
			need = (size_t)f.count * FUZZ_PS;
			if (size < need)
				break;
			for (i = 0; i < f.count; i++)
				memcpy(region + offs[i] * FUZZ_PS,
				       data + i * FUZZ_PS, FUZZ_PS);
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
