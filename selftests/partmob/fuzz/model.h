/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A model of the destination's checks on receipt (Documentation/
 * wire-protocol.rst, "Checks on receipt"), written apart from
 * kernel/frame.c, as the oracle of the fuzz target (frame_fuzz.c) and of
 * the guest test that throws streams at a kernel destination (mig_fuzz.c).
 */
#ifndef PARTMOB_FUZZ_MODEL_H
#define PARTMOB_FUZZ_MODEL_H

#include <stdint.h>
#include <linux/partmob.h>

enum { PM_M_HELLO, PM_M_ROUNDS, PM_M_DECISION, PM_M_OVER };

struct pm_model {
	int phase;		/* PM_M_* */
	uint64_t round;		/* ROUND and END frames accepted */
	uint64_t received;	/* pages of the PAGES frames accepted */
	uint64_t npages;	/* the region */
	uint32_t page_size;
	uint64_t mig_id;	/* 0: any */
};

/* A frame header, decoded byte by byte. */
struct pm_model_frame {
	uint64_t type, flags, count, offset, arg;
};

static inline uint64_t pm_model_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

/* [offset, offset + count) inside [0, npages), in 128-bit arithmetic. */
static inline int pm_model_inside(uint64_t offset, uint64_t count,
				  uint64_t npages)
{
	return count >= 1 &&
	       (unsigned __int128)offset + count <= (unsigned __int128)npages;
}

/*
 * The next 24-byte header @b of the stream: 1 if the destination accepts
 * it, else 0 (and the stream is over). @m moves on either way.
 */
static inline int pm_model_step(struct pm_model *m, const unsigned char *b,
				struct pm_model_frame *f)
{
	int ok = 0;

	f->type = pm_model_be(b, 2);
	f->flags = pm_model_be(b + 2, 2);
	f->count = pm_model_be(b + 4, 4);
	f->offset = pm_model_be(b + 8, 8);
	f->arg = pm_model_be(b + 16, 8);
	if (m->phase == PM_M_OVER)
		return 0;
	if (f->flags && !(f->type == PARTMOB_FRAME_END &&
			  f->flags == PARTMOB_FRAME_F_VERIFY)) {
		m->phase = PM_M_OVER;
		return 0;
	}
	switch (m->phase) {
	case PM_M_HELLO:
		ok = f->type == PARTMOB_FRAME_HELLO &&
		     f->count == m->page_size && f->arg == m->npages &&
		     (!m->mig_id || f->offset == m->mig_id);
		m->phase = ok ? PM_M_ROUNDS : PM_M_OVER;
		return ok;
	case PM_M_ROUNDS:
		if (f->type == PARTMOB_FRAME_PAGES) {
			ok = f->count <= PARTMOB_FRAME_PAGES_MAX &&
			     pm_model_inside(f->offset, f->count, m->npages);
			m->received += ok ? f->count : 0;
		} else if (f->type == PARTMOB_FRAME_SCATTER) {
			/* its pages count once its list is accepted */
			ok = f->count <= PARTMOB_FRAME_PAGES_MAX &&
			     pm_model_inside(f->offset, f->count, m->npages);
		} else if (f->type == PARTMOB_FRAME_ZERO) {
			ok = pm_model_inside(f->offset, f->count, m->npages);
		} else if (f->type == PARTMOB_FRAME_ROUND) {
			ok = f->arg == m->round + 1;
			m->round += ok;
		} else if (f->type == PARTMOB_FRAME_END) {
			ok = f->arg == m->received;
			m->round += ok;
			if (ok)
				m->phase = PM_M_DECISION;
		} else if (f->type == PARTMOB_FRAME_ABORT) {
			ok = 1;
			m->phase = PM_M_OVER;
		}
		if (!ok)
			m->phase = PM_M_OVER;
		return ok;
	default:
		ok = f->type == PARTMOB_FRAME_COMMIT ||
		     f->type == PARTMOB_FRAME_ABORT;
		m->phase = PM_M_OVER;
		return ok;
	}
}

/*
 * The list of f->count big-endian 32-bit distances @b that follows an
 * accepted SCATTER frame @f: 1 if the destination accepts it (strictly
 * increasing, every page inside the region), else 0 (the stream is over).
 */
static inline int pm_model_list(struct pm_model *m,
				const struct pm_model_frame *f,
				const unsigned char *b)
{
	uint64_t i, d, prev = 0;

	for (i = 0; i < f->count; i++) {
		d = pm_model_be(b + 4 * i, 4);
		if ((i && d <= prev) ||
		    !pm_model_inside(f->offset + d, 1, m->npages)) {
			m->phase = PM_M_OVER;
			return 0;
		}
		prev = d;
	}
	m->received += f->count;
	return 1;
}

#endif
