// SPDX-License-Identifier: GPL-2.0
/*
 * pmkvmhold: keep one empty KVM VM for the life of the test guest.
 *
 * Creating the first VM and destroying the last one flips a static key in
 * the scheduler (preempt notifiers), so the kernel patches the text of
 * __schedule() while the other vCPU runs it. Under multi-threaded TCG that
 * patching raced (an int3 oops in __schedule on 6.12, seen during the vm
 * test). /init starts this once at boot, before any test, so that the
 * tests' inner guests never flip the key again.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

int main(void)
{
	int kvm, vm;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		perror("pmkvmhold: /dev/kvm");
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		perror("pmkvmhold: KVM_CREATE_VM");
		return 1;
	}
	printf("pmkvmhold: holding an empty KVM VM\n");
	fflush(stdout);
	for (;;)
		pause();
}
