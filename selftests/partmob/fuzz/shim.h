/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel helpers kernel/frame.c uses, for building it in userspace
 * (the fuzz harness): passed with -include before frame.c. The headers
 * frame.c names (<linux/types.h>, <linux/errno.h>, <linux/kernel.h>,
 * <asm/byteorder.h>) resolve to the system's uapi headers, which lack
 * these.
 */
#ifndef PARTMOB_FUZZ_SHIM_H
#define PARTMOB_FUZZ_SHIM_H

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef unsigned long long u64;		/* as the kernel's, for %llu */
typedef long long s64;

#define be16_to_cpu(x) ((u16)be16toh(x))
#define be32_to_cpu(x) ((u32)be32toh(x))
#define be64_to_cpu(x) ((u64)be64toh(x))
#define cpu_to_be16(x) htobe16(x)
#define cpu_to_be32(x) htobe32(x)
#define cpu_to_be64(x) htobe64(x)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
