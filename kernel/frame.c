// SPDX-License-Identifier: GPL-2.0
/*
 * The destination's frame parser (frame.h): every field of a frame header
 * from a peer that may be hostile is checked here, against the phase of
 * the stream and the size of the region, before recv.c acts on it.
 *
 * Documentation/wire-protocol.rst, "Checks on receipt", lists the rules;
 * the messages below are what the migration's error then says.
 */

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/types.h>
#include <asm/byteorder.h>

#include "frame.h"

static const char *frame_name(u16 type)
{
	static const char * const names[] = {
		[PARTMOB_FRAME_HELLO] = "HELLO",
		[PARTMOB_FRAME_PAGES] = "PAGES",
		[PARTMOB_FRAME_ZERO] = "ZERO",
		[PARTMOB_FRAME_ROUND] = "ROUND",
		[PARTMOB_FRAME_END] = "END",
		[PARTMOB_FRAME_PREPARED] = "PREPARED",
		[PARTMOB_FRAME_COMMIT] = "COMMIT",
		[PARTMOB_FRAME_RESUMED] = "RESUMED",
		[PARTMOB_FRAME_ABORT] = "ABORT",
		[PARTMOB_FRAME_ROUND_DONE] = "ROUND_DONE",
		[PARTMOB_FRAME_SCATTER] = "SCATTER",
	};

	if (type < ARRAY_SIZE(names) && names[type])
		return names[type];
	return "unknown";
}

/* Refuse the frame: the stream is over. */
static int refuse(struct partmob_rx_state *st)
{
	st->phase = PARTMOB_RX_DONE;
	return -EPROTO;
}

static int wrong_type(struct partmob_rx_state *st,
		      const struct partmob_rx_frame *f, const char *phase,
		      char *why, size_t n)
{
	snprintf(why, n, "unexpected %s frame (type %u) %s",
		 frame_name(f->type), f->type, phase);
	return refuse(st);
}

/* [offset, offset + count) must lie inside the region, without overflow. */
static int check_range(struct partmob_rx_state *st,
		       const struct partmob_rx_frame *f, u64 max_count,
		       char *why, size_t n)
{
	if (!f->count || f->count > max_count || f->offset >= st->npages ||
	    f->count > st->npages - f->offset) {
		snprintf(why, n, "%s frame out of range: %u pages at page %llu of %llu",
			 frame_name(f->type), f->count, f->offset, st->npages);
		return refuse(st);
	}
	return 0;
}

static int check_hello(struct partmob_rx_state *st,
		       const struct partmob_rx_frame *f, char *why, size_t n)
{
	if (f->type != PARTMOB_FRAME_HELLO)
		return wrong_type(st, f, "before HELLO", why, n);
	if (f->count != st->page_size || f->arg != st->npages ||
	    (st->mig_id && f->offset != st->mig_id)) {
		snprintf(why, n,
			 "HELLO does not match the handshake (page size %u, %llu pages, id %llx)",
			 f->count, f->arg, f->offset);
		return refuse(st);
	}
	st->phase = PARTMOB_RX_ROUNDS;
	return 0;
}

static int check_round_frame(struct partmob_rx_state *st,
			     const struct partmob_rx_frame *f, char *why,
			     size_t n)
{
	int ret;

	switch (f->type) {
	case PARTMOB_FRAME_PAGES:
		ret = check_range(st, f, PARTMOB_FRAME_PAGES_MAX, why, n);
		if (!ret)
			st->received += f->count;
		return ret;
	case PARTMOB_FRAME_SCATTER:
		/* The list's check counts the pages (check_list). */
		return check_range(st, f, PARTMOB_FRAME_PAGES_MAX, why, n);
	case PARTMOB_FRAME_ZERO:
		return check_range(st, f, st->npages, why, n);
	case PARTMOB_FRAME_ROUND:
		if (f->arg != (u64)st->round + 1)
			return wrong_type(st, f, "out of sequence", why, n);
		st->round++;
		return 0;
	case PARTMOB_FRAME_END:
		if (f->arg != st->received) {
			snprintf(why, n,
				 "END says %llu pages were sent, %llu arrived",
				 f->arg, st->received);
			return refuse(st);
		}
		st->round++;
		st->phase = PARTMOB_RX_DECISION;
		return 0;
	case PARTMOB_FRAME_ABORT:
		st->phase = PARTMOB_RX_DONE;
		return 0;
	default:
		return wrong_type(st, f, "during the rounds", why, n);
	}
}

static int check_decision(struct partmob_rx_state *st,
			  const struct partmob_rx_frame *f, char *why,
			  size_t n)
{
	switch (f->type) {
	case PARTMOB_FRAME_COMMIT:
	case PARTMOB_FRAME_ABORT:
		st->phase = PARTMOB_RX_DONE;
		return 0;
	default:
		return wrong_type(st, f, "while waiting for the decision", why,
				  n);
	}
}

/**
 * partmob_frame_init() - the state of a stream before its first frame
 * @st: the state, owned by the caller
 * @npages: pages in the destination region
 * @page_size: the page size HELLO must carry
 * @mig_id: the migration id HELLO must carry, 0 to accept any
 */
void partmob_frame_init(struct partmob_rx_state *st, u64 npages,
			u32 page_size, u64 mig_id)
{
	*st = (struct partmob_rx_state){
		.npages = npages,
		.page_size = page_size,
		.mig_id = mig_id,
		.phase = PARTMOB_RX_HELLO,
	};
}

/**
 * partmob_frame_check() - check the next frame of the stream
 * @st: the stream's state: advanced when the frame is accepted, and set to
 *	PARTMOB_RX_DONE when it is refused
 * @f: the frame header as received (24 bytes, big-endian)
 * @out: the frame in host order, filled whatever the verdict
 * @why: where a refusal is explained, one line
 * @n: size of @why
 *
 * Accepted are, in order: HELLO matching the handshake; then PAGES (1 to
 * PARTMOB_FRAME_PAGES_MAX pages inside the region; the caller must then
 * receive exactly @out->count pages of payload), SCATTER (a count as for
 * PAGES and an offset inside the region; the caller must then receive
 * its list, have partmob_frame_check_list() check it, and receive the
 * pages), ZERO (pages inside the
 * region), ROUND (the next round number) until END (the PAGES pages of
 * all rounds); then COMMIT. ABORT is accepted during the rounds and in
 * place of COMMIT: the source gave up, and the stream is over. No frame
 * carries flags but END, which may carry PARTMOB_FRAME_F_VERIFY.
 *
 * Return: 0 if the frame is acceptable, else -EPROTO with @why set.
 */
int partmob_frame_check(struct partmob_rx_state *st,
			const struct partmob_frame *f,
			struct partmob_rx_frame *out, char *why, size_t n)
{
	out->type = be16_to_cpu(f->type);
	out->flags = be16_to_cpu(f->flags);
	out->count = be32_to_cpu(f->count);
	out->offset = be64_to_cpu(f->offset);
	out->arg = be64_to_cpu(f->arg);

	if (out->flags && !(out->type == PARTMOB_FRAME_END &&
			    out->flags == PARTMOB_FRAME_F_VERIFY)) {
		snprintf(why, n, "frame type %u with flags %#x", out->type,
			 out->flags);
		return refuse(st);
	}
	switch (st->phase) {
	case PARTMOB_RX_HELLO:
		return check_hello(st, out, why, n);
	case PARTMOB_RX_ROUNDS:
		return check_round_frame(st, out, why, n);
	case PARTMOB_RX_DECISION:
		return check_decision(st, out, why, n);
	default:
		return wrong_type(st, out, "after the end of the stream", why,
				  n);
	}
}

/**
 * partmob_frame_check_list() - check the list of a SCATTER frame
 * @st: the stream's state, as partmob_frame_check() left it on accepting
 *	the SCATTER frame @f: the frame's pages are counted when the list is
 *	accepted, and the state set to PARTMOB_RX_DONE when it is refused
 * @f: the SCATTER frame, as partmob_frame_check() decoded it
 * @list: the @f->count distances from @f->offset that followed the frame
 *	header, as received (big-endian)
 * @pages: where the list's pages go, @f->count of them, in host order
 * @why: where a refusal is explained, one line
 * @n: size of @why
 *
 * The distances must increase strictly and stay inside the region, so
 * the pages are distinct, in ascending order (the order recv.c locks them
 * in) and inside the region. The caller must then receive exactly
 * @f->count pages of payload, for @pages in turn.
 *
 * Return: 0 if the list is acceptable, else -EPROTO with @why set.
 */
int partmob_frame_check_list(struct partmob_rx_state *st,
			     const struct partmob_rx_frame *f,
			     const __be32 *list, u64 *pages, char *why,
			     size_t n)
{
	u64 d, prev = 0;
	u32 i;

	if (st->phase != PARTMOB_RX_ROUNDS ||
	    f->type != PARTMOB_FRAME_SCATTER || !f->count ||
	    f->count > PARTMOB_FRAME_PAGES_MAX || f->offset >= st->npages) {
		snprintf(why, n, "a page list without its SCATTER frame");
		return refuse(st);
	}
	for (i = 0; i < f->count; i++) {
		d = be32_to_cpu(list[i]);
		if (i && d <= prev) {
			snprintf(why, n,
				 "SCATTER frame at page %llu: entry %u (+%llu) does not follow +%llu",
				 f->offset, i, d, prev);
			return refuse(st);
		}
		if (d >= st->npages - f->offset) {
			snprintf(why, n,
				 "SCATTER frame out of range: page %llu + %llu of %llu",
				 f->offset, d, st->npages);
			return refuse(st);
		}
		pages[i] = f->offset + d;
		prev = d;
	}
	st->received += f->count;
	return 0;
}
