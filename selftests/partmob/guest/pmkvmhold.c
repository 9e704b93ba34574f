// SPDX-License-Identifier: GPL-2.0
/*
 * pmkvmhold: keep one KVM VM for the life of the test guest.
 *
 * KVM flips static keys when the first VM or vCPU of a kind comes or the
 * last one goes, and the kernel then patches code that the other vCPU of
 * the test guest may be running. Under multi-threaded TCG that patching
 * raced twice on 6.12: an int3 oops in __schedule() (the scheduler's
 * preempt-notifier key, flipped by the first VM and the last), seen
 * during the vm test, and one in KVM's apic_has_pending_timer() during
 * vm_group (apic_sw_disabled: a vCPU's local APIC is software-disabled
 * from its creation until its guest enables it, which the tests' counter
 * guests never do, so each of their vCPUs took the key from 0 to 1 and
 * back). /init starts this once at boot, before any test. It holds a VM
 * and, on x86, one vCPU with an in-kernel local APIC that never runs, so
 * the tests' inner guests never move those keys off or on again.
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
#ifdef __x86_64__
	/* A never-run vCPU with a local APIC, software-disabled at reset. */
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) ||
	    ioctl(vm, KVM_CREATE_VCPU, 0) < 0) {
		perror("pmkvmhold: KVM_CREATE_IRQCHIP/VCPU");
		return 1;
	}
	printf("pmkvmhold: holding a KVM VM with one idle vCPU\n");
#else
	printf("pmkvmhold: holding an empty KVM VM\n");
#endif
	fflush(stdout);
	for (;;)
		pause();
}
