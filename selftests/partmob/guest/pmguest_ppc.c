// SPDX-License-Identifier: GPL-2.0
/*
 * pmguest_ppc: the vm selftest's counter guest on ppc64le, the twin of
 * pmguest.c (same checks, same lines). A pseries guest loaded by QEMU's
 * -kernel with -machine x-vof=on: VOF (QEMU's small firmware, no SLOF)
 * enters it at the start of its image at 4 MiB, in 32-bit big-endian
 * mode; it switches to little-endian (FIXUP_ENDIAN, as Linux does) and
 * 64-bit, then runs in real mode with interrupts off. It counts in guest
 * RAM and, per step, writes the count into one page of each of two 16 MiB
 * areas, one in each half of its RAM (the two NUMA nodes, two memory
 * backends, of the group test; built twice, AREA2 set for 256 or 512 MiB),
 * after checking that the previous step's pages still hold the previous
 * count: "BAD <count>" if not. It prints "C <count>" every PMGUEST_STEP
 * steps and "PMGUEST BOOT" once at start, each line in one H_PUT_TERM_CHAR
 * hypercall to the first spapr-vty (QEMU's -serial), so that a line is
 * never split by a move.
 *
 * It also registers a VPA (H_REGISTER_VPA, "VPA <rc>" after the boot
 * line): KVM HV pins that page and bumps its yield_count around every
 * dispatch of the vCPU, writing it without a fault; "Y <yield_count>"
 * precedes every "C" line. (KVM sets yield_count to 1 whenever it takes a
 * VPA on, so on the destination, where QEMU hands the migrated VPA address
 * to KVM, the count starts again from 1.)
 */
#define PMGUEST_STEP	(1u << 14)
#define COUNTER		((volatile unsigned int *)0x600000)
#define VPA		((volatile unsigned char *)0x700000)
#define AREA1		0x0800000u	/* 8 MiB, first half */
#ifndef AREA2
#define AREA2		0x4400000u	/* 68 MiB, second half of 256 MiB */
#endif
#define AREA_PAGES	4096u
#define H_PUT_TERM_CHAR	0x58
#define H_REGISTER_VPA	0xdc
#define H_VPA_REG_VPA	(1ul << 45)
#define VTY_REG		0x71000000u	/* QEMU's first VIO device: -serial */

static unsigned long hcall(unsigned long op, unsigned long a,
			   unsigned long b, unsigned long c, unsigned long d)
{
	register unsigned long r3 __asm__("r3") = op;
	register unsigned long r4 __asm__("r4") = a;
	register unsigned long r5 __asm__("r5") = b;
	register unsigned long r6 __asm__("r6") = c;
	register unsigned long r7 __asm__("r7") = d;

	__asm__ volatile("sc 1"
			 : "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r6), "+r"(r7)
			 :
			 : "r0", "r8", "r9", "r10", "r11", "r12", "ctr",
			   "xer", "cr0", "memory");
	return r3;
}

static void put_line(const char *s)
{
	unsigned long w[2] = { 0, 0 }, len = 0;

	/* Up to 16 characters, packed big-endian into two registers. */
	for (; s[len] && len < 16; len++)
		w[len / 8] |= (unsigned long)(unsigned char)s[len] <<
			      (56 - 8 * (len % 8));
	hcall(H_PUT_TERM_CHAR, VTY_REG, len, w[0], w[1]);
}

/* "@prefix <v>\n" */
static void put_uint_line(const char *prefix, unsigned long v)
{
	char buf[17], digits[11];
	int i = 0, n = 0;

	while (prefix[n])
		buf[n] = prefix[n], n++;
	do {
		digits[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i < 10);
	while (i)
		buf[n++] = digits[--i];
	buf[n++] = '\n';
	buf[n] = '\0';
	put_line(buf);
}

static volatile unsigned int *page(unsigned int area, unsigned int c)
{
	return (volatile unsigned int *)(unsigned long)(area +
							(c % AREA_PAGES) * 4096u);
}

static void check(unsigned int area, unsigned int c)
{
	if (c > 1 && *page(area, c - 1) != c - 1)
		put_uint_line("BAD ", c);
	*page(area, c) = c;
}

/* The VPA's yield_count (big-endian, offset 0x100). */
static unsigned int yield_count(void)
{
	return __builtin_bswap32(*(volatile unsigned int *)(VPA + 0x100));
}

static void register_vpa(void)
{
	unsigned int i;

	for (i = 0; i < 0x400; i++)
		VPA[i] = 0;
	/* The lppaca header: its descriptor and size, big-endian. */
	*(volatile unsigned int *)VPA = __builtin_bswap32(0xd397d781u);
	*(volatile unsigned short *)(VPA + 4) = __builtin_bswap16(0x400);
	put_uint_line("VPA ", hcall(H_REGISTER_VPA, H_VPA_REG_VPA, 0,
				    (unsigned long)VPA, 0));
}

void pmguest_main(void);
void pmguest_main(void)
{
	unsigned int c;

	put_line("PMGUEST BOOT\n");
	register_vpa();
	for (;;) {
		c = ++*COUNTER;
		check(AREA1, c);
		check(AREA2, c);
		if (!(c % PMGUEST_STEP)) {
			put_uint_line("Y ", yield_count());
			put_uint_line("C ", c);
		}
	}
}

/*
 * The first instructions read the same in both byte orders: big-endian,
 * "tdi 0,0,0x48" (no-op) then the trampoline that flips MSR[LE] with rfid;
 * little-endian, "b 191f" over it (Linux's FIXUP_ENDIAN). Then MSR[SF],
 * the stack (below the image) and the TOC pointer.
 */
__asm__(".section .text.start, \"ax\"\n"
	".globl _start\n"
	"_start:\n"
	"	tdi 0,0,0x48\n"
	"	b 191f\n"
	"	.long 0xa600607d\n"	/* mfmsr r11 */
	"	.long 0x01006b69\n"	/* xori r11,r11,1 */
	"	.long 0x00004039\n"	/* li r10,0 */
	"	.long 0x6401417d\n"	/* mtmsrd r10,1 */
	"	.long 0x05009f42\n"	/* bcl 20,31,$+4 */
	"	.long 0xa602487d\n"	/* mflr r10 */
	"	.long 0x14004a39\n"	/* addi r10,r10,20 */
	"	.long 0xa6035a7d\n"	/* mtsrr0 r10 */
	"	.long 0xa6037b7d\n"	/* mtsrr1 r11 */
	"	.long 0x2400004c\n"	/* rfid */
	"191:\n"
	"	mfmsr 11\n"
	"	li 12,1\n"
	"	rldicr 12,12,63,0\n"
	"	or 11,11,12\n"
	"	mtmsrd 11\n"
	"	isync\n"
	"	lis 1,0x3f\n"
	"	ori 1,1,0xff00\n"
	"	li 0,0\n"
	"	std 0,0(1)\n"
	"	lis 2,.TOC.@ha\n"
	"	addi 2,2,.TOC.@l\n"
	"	bl pmguest_main\n"
	"	nop\n"
	"1:	b 1b\n"
	".previous\n");
