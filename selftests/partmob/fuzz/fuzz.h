/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the fuzz target (frame_fuzz.c) and its replay driver. */
#ifndef PARTMOB_FUZZ_H
#define PARTMOB_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_PS		64		/* bytes in a page of the model */
#define FUZZ_MIG_ID	0x1234ULL	/* the id when byte 1 bit 0 is set */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
