/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The destination's frame parser: checks one frame header from the source
 * against what the stream has carried so far and says what it asks for.
 *
 * Pure: no sockets, no pages, no allocation, no locks, no sleeping. The
 * state belongs to its caller (recv.c: the receiving thread, alone). The
 * same frame.c is built in userspace by the fuzz harness
 * (selftests/partmob/fuzz/), with a shim for the few kernel helpers it
 * uses; keep it to <linux/types.h>, <linux/errno.h>, the byte order
 * helpers, snprintf() and the uapi header.
 */

#ifndef _PARTMOB_FRAME_H
#define _PARTMOB_FRAME_H

#include <linux/types.h>
#include <uapi/linux/partmob.h>

/**
 * enum partmob_rx_phase - where the destination is in the stream
 * @PARTMOB_RX_HELLO: the next frame must be HELLO
 * @PARTMOB_RX_ROUNDS: PAGES, SCATTER, ZERO and ROUND frames until END (or
 *	ABORT)
 * @PARTMOB_RX_DECISION: END was accepted (the caller sends PREPARED): the
 *	next frame must be COMMIT or ABORT
 * @PARTMOB_RX_DONE: the stream is over (COMMIT, ABORT or a bad frame);
 *	every further frame is refused
 */
enum partmob_rx_phase {
	PARTMOB_RX_HELLO,
	PARTMOB_RX_ROUNDS,
	PARTMOB_RX_DECISION,
	PARTMOB_RX_DONE,
};

/**
 * struct partmob_rx_state - what the parser knows of one incoming stream
 * @npages: pages in the destination region
 * @page_size: the page size HELLO must repeat
 * @mig_id: the migration id HELLO must carry; 0 accepts any
 * @phase: enum partmob_rx_phase
 * @round: rounds closed so far (ROUND and END frames accepted)
 * @received: pages announced by the PAGES frames and SCATTER lists
 *	accepted, all rounds
 */
struct partmob_rx_state {
	u64 npages;
	u32 page_size;
	u64 mig_id;
	u32 phase;
	u32 round;
	u64 received;
};

/**
 * struct partmob_rx_frame - an accepted frame, in host order
 * @type: enum partmob_frame_type
 * @flags: 0, or PARTMOB_FRAME_F_VERIFY on END
 * @count: PAGES, SCATTER, ZERO: pages, 1 to the limit, inside the region
 * @offset: PAGES, SCATTER, ZERO: first page
 * @arg: as the frame carried it (ROUND: the round; END: pages sent;
 *	ABORT: the source's errno)
 */
struct partmob_rx_frame {
	u16 type;
	u16 flags;
	u32 count;
	u64 offset;
	u64 arg;
};

void partmob_frame_init(struct partmob_rx_state *st, u64 npages,
			u32 page_size, u64 mig_id);
int partmob_frame_check(struct partmob_rx_state *st,
			const struct partmob_frame *f,
			struct partmob_rx_frame *out, char *why, size_t n);
int partmob_frame_check_list(struct partmob_rx_state *st,
			     const struct partmob_rx_frame *f,
			     const __be32 *list, u64 *pages, char *why,
			     size_t n);

#endif /* _PARTMOB_FRAME_H */
