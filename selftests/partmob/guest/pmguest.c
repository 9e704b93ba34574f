// SPDX-License-Identifier: GPL-2.0
/*
 * pmguest: the tiny KVM guest of the vm selftest and of `make demo`. A
 * 32-bit multiboot kernel (qemu-system-x86_64 -kernel pmguest.elf), paging
 * off, 64 MiB of RAM. It counts in guest RAM and, per step, writes the
 * count into one page of each of two 16 MiB areas, one in each half of
 * its RAM (two NUMA nodes, two memory backends, in the group test), after
 * checking that the previous step's pages still hold the previous count:
 * "BAD <count>" on the serial port if not. It prints "C <count>" every
 * PMGUEST_STEP steps, and "PMGUEST BOOT" once at start. A guest that
 * migrated correctly goes on counting from where it stopped (its first
 * line on the destination is the source's last plus the step) and never
 * prints BAD.
 */
#define PMGUEST_STEP	(1u << 14)
#define COUNTER		((volatile unsigned int *)0x200000)
#define AREA1		0x0400000u	/* 4 MiB, first half */
#define AREA2		0x2400000u	/* 36 MiB, second half */
#define AREA_PAGES	4096u
#define COM1		0x3f8

#define MB_MAGIC	0x1badb002u
#define MB_FLAGS	0u

__attribute__((section(".multiboot"), used, aligned(4)))
static const unsigned int multiboot[3] = {
	MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
};

static inline void outb(unsigned short port, unsigned char v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline unsigned char inb(unsigned short port)
{
	unsigned char v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void putc_serial(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, (unsigned char)c);
}

static void puts_serial(const char *s)
{
	while (*s)
		putc_serial(*s++);
}

static void put_uint(unsigned int v)
{
	char buf[12];
	int i = 0;

	do {
		buf[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		putc_serial(buf[--i]);
}

static volatile unsigned int *page(unsigned int area, unsigned int c)
{
	return (volatile unsigned int *)(area + (c % AREA_PAGES) * 4096u);
}

static void check(unsigned int area, unsigned int c)
{
	if (c > 1 && *page(area, c - 1) != c - 1) {
		puts_serial("BAD ");
		put_uint(c);
		putc_serial('\n');
	}
	*page(area, c) = c;
}

void pmguest_main(void);
void pmguest_main(void)
{
	unsigned int c;

	puts_serial("PMGUEST BOOT\n");
	for (;;) {
		c = ++*COUNTER;
		check(AREA1, c);
		check(AREA2, c);
		if (!(c % PMGUEST_STEP)) {
			puts_serial("C ");
			put_uint(c);
			putc_serial('\n');
		}
	}
}

__asm__(".text\n"
	".globl _start\n"
	"_start:\n"
	"	mov $0x180000, %esp\n"
	"	call pmguest_main\n"
	"1:	hlt\n"
	"	jmp 1b\n");
