// SPDX-License-Identifier: GPL-2.0
/*
 * pmguest: the tiny KVM guest of the vm selftest and of `make demo`. A
 * 32-bit multiboot kernel (qemu-system-x86_64 -kernel pmguest.elf), paging
 * off. It counts in guest RAM, writes the count into one page of a 16 MiB
 * area per step (so its memory keeps changing), and prints "C <count>" on
 * the serial port every PMGUEST_STEP steps; "PMGUEST BOOT" once at start.
 * A guest that migrated correctly goes on counting from where it stopped:
 * its first line on the destination is the source's last plus the step.
 */
#define PMGUEST_STEP	(1u << 14)
#define COUNTER		((volatile unsigned int *)0x200000)
#define AREA		0x400000u
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

void pmguest_main(void);
void pmguest_main(void)
{
	unsigned int c;

	puts_serial("PMGUEST BOOT\n");
	for (;;) {
		c = ++*COUNTER;
		*(volatile unsigned int *)(AREA + (c % AREA_PAGES) * 4096u) = c;
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
