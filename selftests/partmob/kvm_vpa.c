// SPDX-License-Identifier: GPL-2.0
/*
 * A real kernel writer behind the dirty log: KVM HV on ppc64 pins each
 * vCPU's VPA (lppaca) with get_user_pages(FOLL_WRITE), a plain reference,
 * and writes it through the kernel mapping on every guest entry and exit
 * (yield_count, dispatch fields). Those writes take no fault, so the page
 * must stay logged at every harvest while KVM holds it.
 *
 * A tiny VMM runs one vCPU of a KVM HV guest (nested KVM HV in the
 * pseries test guest) whose memory is a region: real-mode code that stores
 * a count and makes an hcall KVM leaves to userspace, and a VPA
 * registered with KVM_REG_PPC_VPA_ADDR. Other targets skip.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <endian.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <linux/kvm.h>

#include "lib.h"
#include "mig_lib.h"
#include "kselftest_harness.h"

#define NAME "kst-kvm-vpa"
#define DST NAME "-dst"		/* the migration's destination */
/*
 * Guest physical layout (the memory slot is the region, at 0), in 64 KiB
 * steps whatever the page size (64 KiB on Debian's 6.1, 4 KiB on 6.12).
 */
#define SIZE 0x40000
#define CODE_OFF 0		/* exception vectors, then the loop */
#define CODE_ENTRY 0x2000
#define CODE_END (CODE_ENTRY + 0x20)
#define VPA_OFF 0x10000		/* the lppaca (KVM_REG_PPC_VPA_ADDR) */
#define CNT_OFF 0x20000		/* a count the guest stores */
/* hcall numbers KVM does not implement, so KVM_RUN returns them. */
#define H_PM_LOOP 0x7f00
#define H_PM_TRAP 0x7e00
/* struct lppaca (arch/powerpc/include/asm/lppaca.h), big-endian. */
#define LPPACA_EYECATCHER 0xd397d781u
#define LPPACA_SIZE 0x400
#define LPPACA_YIELD_COUNT 0x100
/* Seconds one KVM_RUN may take before the test gives up on it. */
#define RUN_TIMEOUT 60

#if defined(__powerpc64__) && defined(KVM_REG_PPC_VPA_ADDR)

#define MSR_SF (1ULL << 63)
#define MSR_ME (1ULL << 12)
#define MSR_RI (1ULL << 1)
#define MSR_LE (1ULL << 0)
#define LPCR_ILE (1ULL << 25)

struct vmm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	unsigned char *mem;	/* the region, guest physical 0 */
	char why[200];		/* why setup failed */
};

static void on_alarm(int sig)
{
	(void)sig;		/* only interrupts KVM_RUN */
}

/* PowerPC instruction encodings (D-form, and b). */
static uint32_t d_form(uint32_t op, uint32_t rt, uint32_t ra, uint32_t d)
{
	return op << 26 | rt << 21 | ra << 16 | (d & 0xffff);
}

#define ADDI(rt, ra, si)	d_form(14, rt, ra, si)
#define LI(rt, si)		ADDI(rt, 0, si)
#define LIS(rt, si)		d_form(15, rt, 0, si)
#define ORI(ra, rs, ui)		d_form(24, rs, ra, ui)
#define STW(rs, d, ra)		d_form(36, rs, ra, d)
#define SC1			0x44000022u
#define B(off)			(18u << 26 | ((uint32_t)(off) & 0x03fffffc))

/*
 * Guest code, little-endian, run in real mode: every 16 bytes of the
 * vector area an "hcall H_PM_TRAP(vector)" (an unexpected interrupt shows
 * up as such an exit), then at CODE_ENTRY a loop that stores a count (r6)
 * to CNT_OFF and makes hcall H_PM_LOOP. The guest only stores to CNT_OFF:
 * a guest read of a page not yet written, then a write to it, makes
 * 6.1's kvmppc_create_pte() WARN, because the partition-scoped PTE copies
 * _PAGE_SOFT_DIRTY from the host PTE, which the write-notify fault has set
 * in between.
 */
static void write_code(struct vmm *v)
{
	uint32_t *c = (uint32_t *)v->mem;
	uint64_t cnt = CNT_OFF;
	unsigned int off, i;

	for (off = 0; off < CODE_ENTRY; off += 16) {
		i = off / 4;
		c[i] = LI(3, H_PM_TRAP);
		c[i + 1] = LI(4, off);
		c[i + 2] = SC1;
		c[i + 3] = B(-12);
	}
	i = CODE_ENTRY / 4;
	c[i++] = LIS(4, cnt >> 16);
	c[i++] = ORI(4, 4, cnt & 0xffff);
	c[i++] = ADDI(6, 6, 1);
	c[i++] = STW(6, 0, 4);
	c[i++] = LI(3, H_PM_LOOP);
	c[i++] = SC1;
	c[i] = B(-4 * (int)(i - CODE_ENTRY / 4));
}

static uint32_t yield_count(struct vmm *v)
{
	uint32_t be;

	memcpy(&be, v->mem + VPA_OFF + LPPACA_YIELD_COUNT, sizeof(be));
	return be32toh(be);
}

static uint32_t counter(struct vmm *v)
{
	return __atomic_load_n((uint32_t *)(v->mem + CNT_OFF),
			       __ATOMIC_RELAXED);
}

static int set_one_reg(struct vmm *v, uint64_t id, uint64_t val)
{
	struct kvm_one_reg r = { .id = id, .addr = (uintptr_t)&val };

	return ioctl(v->vcpu, KVM_SET_ONE_REG, &r);
}

/*
 * Run the vCPU until its next H_PM_LOOP hcall: 0, or -1 with @v->why.
 * The hcall "returns" H_SUCCESS on the next KVM_RUN.
 */
static int vcpu_step(struct vmm *v)
{
	struct kvm_regs regs;
	int ret;

	for (;;) {
		v->run->papr_hcall.ret = 0;
		alarm(RUN_TIMEOUT);
		ret = ioctl(v->vcpu, KVM_RUN, 0);
		alarm(0);
		if (ret < 0) {
			snprintf(v->why, sizeof(v->why), "KVM_RUN: %s%s",
				 strerror(errno), errno == EINTR ?
				 " (no exit within the timeout)" : "");
			return -1;
		}
		if (v->run->exit_reason != KVM_EXIT_PAPR_HCALL) {
			memset(&regs, 0, sizeof(regs));
			ioctl(v->vcpu, KVM_GET_REGS, &regs);
			snprintf(v->why, sizeof(v->why),
				 "exit reason %u (hw %#llx), pc %#llx msr %#llx",
				 v->run->exit_reason,
				 (unsigned long long)v->run->hw.hardware_exit_reason,
				 (unsigned long long)regs.pc,
				 (unsigned long long)regs.msr);
			return -1;
		}
		if (v->run->papr_hcall.nr == H_PM_LOOP)
			return 0;
		memset(&regs, 0, sizeof(regs));
		ioctl(v->vcpu, KVM_GET_REGS, &regs);
		snprintf(v->why, sizeof(v->why),
			 "hcall %#llx arg %#llx: srr0 %#llx srr1 %#llx",
			 (unsigned long long)v->run->papr_hcall.nr,
			 (unsigned long long)v->run->papr_hcall.args[0],
			 (unsigned long long)regs.srr0,
			 (unsigned long long)regs.srr1);
		return -1;
	}
}

static int vcpu_steps(struct vmm *v, int n)
{
	while (n--)
		if (vcpu_step(v))
			return -1;
	return 0;
}

/*
 * Load KVM HV and set up a VM on @mem: 0, 1 (not available here: skip,
 * @v->why says why) or -1 (failed, @v->why says how).
 */
static int vmm_setup(struct vmm *v, unsigned char *mem)
{
	struct kvm_userspace_memory_region slot = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	struct sigaction sa = { .sa_handler = on_alarm };
	struct kvm_enable_cap papr = { .cap = KVM_CAP_PPC_PAPR };
	struct kvm_regs regs;
	unsigned char *vpa = mem + VPA_OFF;
	uint32_t be32;
	uint16_t be16;
	int n;

	v->mem = mem;
	if (access("/dev/kvm", F_OK) && system("modprobe kvm_hv >/dev/null 2>&1")) {
		snprintf(v->why, sizeof(v->why), "no /dev/kvm and kvm_hv does not load");
		return 1;
	}
	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0) {
		snprintf(v->why, sizeof(v->why), "/dev/kvm: %s", strerror(errno));
		return 1;
	}
	v->vm = ioctl(v->kvm, KVM_CREATE_VM, KVM_VM_PPC_HV);
	if (v->vm < 0) {
		snprintf(v->why, sizeof(v->why),
			 "KVM_CREATE_VM(KVM_VM_PPC_HV): %s (no KVM HV here)",
			 strerror(errno));
		return 1;
	}
	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &slot)) {
		snprintf(v->why, sizeof(v->why), "KVM_SET_USER_MEMORY_REGION: %s",
			 strerror(errno));
		return -1;
	}
	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	n = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (v->vcpu < 0 || n <= 0) {
		snprintf(v->why, sizeof(v->why), "KVM_CREATE_VCPU: %s", strerror(errno));
		return -1;
	}
	v->run_size = n;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->vcpu, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		snprintf(v->why, sizeof(v->why), "mmap(vcpu): %s", strerror(errno));
		return -1;
	}

	write_code(v);
	/* An lppaca header: eye-catcher and size, as PAPR has it. */
	memset(vpa, 0, LPPACA_SIZE);
	be32 = htobe32(LPPACA_EYECATCHER);
	memcpy(vpa, &be32, sizeof(be32));
	be16 = htobe16(LPPACA_SIZE);
	memcpy(vpa + 4, &be16, sizeof(be16));

	/* Real mode, 64-bit, little-endian; interrupts little-endian too. */
	if (ioctl(v->vcpu, KVM_GET_REGS, &regs)) {
		snprintf(v->why, sizeof(v->why), "KVM_GET_REGS: %s", strerror(errno));
		return -1;
	}
	regs.pc = CODE_ENTRY;
	regs.gpr[6] = 0;
	regs.msr = MSR_SF | MSR_ME | MSR_RI | MSR_LE;
	if (ioctl(v->vcpu, KVM_SET_REGS, &regs)) {
		snprintf(v->why, sizeof(v->why), "KVM_SET_REGS: %s", strerror(errno));
		return -1;
	}
	/* HV KVM runs PAPR guests only (kvmppc_sanity_check). */
	if (ioctl(v->vcpu, KVM_ENABLE_CAP, &papr)) {
		snprintf(v->why, sizeof(v->why), "KVM_ENABLE_CAP(PPC_PAPR): %s",
			 strerror(errno));
		return -1;
	}
	if (set_one_reg(v, KVM_REG_PPC_LPCR_64, LPCR_ILE)) {
		snprintf(v->why, sizeof(v->why), "KVM_SET_ONE_REG(LPCR): %s",
			 strerror(errno));
		return -1;
	}
	/* KVM pins the VPA at the next KVM_RUN. */
	if (set_one_reg(v, KVM_REG_PPC_VPA_ADDR, VPA_OFF)) {
		snprintf(v->why, sizeof(v->why), "KVM_SET_ONE_REG(VPA_ADDR): %s",
			 strerror(errno));
		return -1;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	return 0;
}

static void vmm_teardown(struct vmm *v)
{
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->vcpu >= 0)
		close(v->vcpu);
	if (v->vm >= 0)
		close(v->vm);
	if (v->kvm >= 0)
		close(v->kvm);
}

/* At most 64 pages (4 KiB pages): one word of the bitmap. */
static long harvest(struct tnl *t, long ps, unsigned long *bits)
{
	bits[0] = 0;
	return pm_region_harvest(t, NAME, -1, bits, SIZE / ps);
}

/* The bits of the pages holding [@off, @off + @len). */
static unsigned long pages_of(long ps, unsigned long off, unsigned long len)
{
	unsigned long first = off / ps, last = (off + len - 1) / ps;

	return (~0UL >> (63 - last)) & (~0UL << first);
}

FIXTURE(kvm_vpa) {
	struct tnl t;
	int have_tnl;
	unsigned char *p;
	long ps;
	struct vmm v;
	const char *skip;
	int fds[2], sctl, dctl;	/* the migration's */
};

FIXTURE_SETUP(kvm_vpa)
{
	int fd, ret;

	self->ps = sysconf(_SC_PAGESIZE);
	self->p = MAP_FAILED;
	self->v.kvm = -1;
	self->v.vm = -1;
	self->v.vcpu = -1;
	self->fds[0] = -1;
	self->fds[1] = -1;
	self->sctl = -1;
	self->dctl = -1;
	if (!pm_module_loaded()) {
		self->skip = "partmob.ko is not loaded";
		return;
	}
	ASSERT_EQ(0, tnl_open(&self->t));
	self->have_tnl = 1;
	pm_regions_cleanup(NAME);
	ASSERT_EQ(0, pm_region_create(&self->t, NAME, SIZE,
				      -1, -1, -1, 0600));
	fd = open("/dev/partmob/" NAME, O_RDWR);
	ASSERT_GE(fd, 0);
	self->p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);
	close(fd);
	ASSERT_NE(MAP_FAILED, self->p);
	ret = vmm_setup(&self->v, self->p);
	if (ret > 0)
		self->skip = self->v.why;
	else
		ASSERT_EQ(0, ret) TH_LOG("%s", self->v.why);
}

FIXTURE_TEARDOWN(kvm_vpa)
{
	int i;

	for (i = 0; i < 2; i++)
		if (self->fds[i] >= 0)
			close(self->fds[i]);
	if (self->sctl >= 0)
		close(self->sctl);
	if (self->dctl >= 0)
		close(self->dctl);
	vmm_teardown(&self->v);
	if (self->p != MAP_FAILED)
		munmap(self->p, SIZE);
	if (self->have_tnl) {
		pm_regions_cleanup(NAME);
		tnl_close(&self->t);
	}
}

/*
 * The VPA page is logged at every harvest while KVM holds it, although
 * KVM writes it with no fault; the page the guest only reads is not, the
 * counter page (a guest store, through the fault path) is. Once KVM lets
 * go of the VPA, it leaves the log.
 */
TEST_F(kvm_vpa, kept_logged_while_kvm_holds_it)
{
	struct vmm *v = &self->v;
	struct tnl *t = &self->t;
	struct pm_region_info ri;
	unsigned long bits[1];
	long ps = self->ps;
	unsigned long code = pages_of(ps, CODE_OFF, CODE_END);
	unsigned long vpa = pages_of(ps, VPA_OFF, LPPACA_SIZE);
	unsigned long cnt = pages_of(ps, CNT_OFF, 4);
	uint32_t y0, y1, c0;
	uint64_t pinned;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	/* Code and VPA header written: logged; then nothing is. */
	EXPECT_EQ(__builtin_popcountl(code | vpa), harvest(t, ps, bits));
	EXPECT_EQ(code | vpa, bits[0]);
	EXPECT_EQ(0, harvest(t, ps, bits));

	/* First run: KVM pins the VPA (a write fault) and writes it. */
	y0 = yield_count(v);
	ASSERT_EQ(0, vcpu_step(v)) TH_LOG("%s", v->why);
	y1 = yield_count(v);
	TH_LOG("first run: yield_count %u -> %u, counter %u", y0, y1,
	       counter(v));
	ASSERT_NE(y0, y1) TH_LOG("KVM did not write the VPA");
	EXPECT_EQ(1, counter(v));
	EXPECT_EQ(2, harvest(t, ps, bits));
	EXPECT_EQ(vpa | cnt, bits[0]);
	ASSERT_EQ(0, pm_region_get(t, NAME, &ri));
	pinned = ri.pinned;

	/*
	 * Re-armed. KVM writes the VPA on each entry and exit through its
	 * own mapping, no fault: the page must be logged all the same.
	 */
	y0 = yield_count(v);
	c0 = counter(v);
	ASSERT_EQ(0, vcpu_steps(v, 8)) TH_LOG("%s", v->why);
	y1 = yield_count(v);
	TH_LOG("8 runs: yield_count %u -> %u", y0, y1);
	EXPECT_LE(y0 + 8, y1);
	EXPECT_EQ(c0 + 8, counter(v));
	EXPECT_EQ(2, harvest(t, ps, bits));
	EXPECT_EQ(vpa | cnt, bits[0]);

	/* Again: still logged, and in the 'pinned' statistic. */
	y0 = yield_count(v);
	ASSERT_EQ(0, vcpu_steps(v, 4)) TH_LOG("%s", v->why);
	EXPECT_NE(y0, yield_count(v));
	EXPECT_EQ(2, harvest(t, ps, bits));
	EXPECT_EQ(vpa | cnt, bits[0]);
	ASSERT_EQ(0, pm_region_get(t, NAME, &ri));
	TH_LOG("pinned statistic %llu -> %llu", (unsigned long long)pinned,
	       (unsigned long long)ri.pinned);
	EXPECT_LE(pinned + 2, ri.pinned);

	/*
	 * Unregister the VPA: KVM unpins it at the next run. Logged once
	 * more (kept at the last harvest), then the log forgets it.
	 */
	ASSERT_EQ(0, set_one_reg(v, KVM_REG_PPC_VPA_ADDR, 0));
	ASSERT_EQ(0, vcpu_step(v)) TH_LOG("%s", v->why);
	y0 = yield_count(v);
	ASSERT_EQ(0, vcpu_steps(v, 2)) TH_LOG("%s", v->why);
	EXPECT_EQ(y0, yield_count(v));
	EXPECT_EQ(2, harvest(t, ps, bits));
	EXPECT_EQ(vpa | cnt, bits[0]);
	EXPECT_EQ(0, harvest(t, ps, bits));
}

/* The source is waiting after round @round: its state, or -errno. */
static int wait_round_done(struct tnl *t, uint32_t round,
			   struct pm_mig_info *mi)
{
	uint64_t end = pm_now_ms() + 60000;
	int ret;

	do {
		ret = pm_mig_get(t, NAME, mi);
		if (ret)
			return ret;
		if (mi->state != PARTMOB_MIG_S_ROUND &&
		    mi->state != PARTMOB_MIG_S_SETUP &&
		    (mi->state != PARTMOB_MIG_S_WAITING || mi->round >= round))
			return mi->state;
		pm_sleep_ms(5);
	} while (pm_now_ms() < end);
	return -ETIMEDOUT;
}

#define MIG_ROUNDS 3

/*
 * Migration: the vCPU runs between the rounds of the pre-copy and is
 * stopped (no more KVM_RUN) before the switchover, as a VMM stops its
 * vCPUs before the regions freeze. KVM wrote the VPA after the page went
 * out in the first pass, without a fault: the destination must still get
 * the source's final VPA, sent again because KVM holds the page.
 */
TEST_F(kvm_vpa, migration_carries_the_final_vpa)
{
	struct pm_mig_args a = {
		.name = DST, .role = PARTMOB_MIG_DEST, .id = 0x4b5650,
		.peer = "127.0.0.1", .size = SIZE,
		.flags = -1, .uid = -1, .gid = -1, .mode = 0600,
	};
	struct vmm *v = &self->v;
	struct tnl *t = &self->t;
	struct pm_mig_info mi;
	uint32_t y_first, y_final, round;
	unsigned char *d;
	long ps = self->ps;
	int ret;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	/* KVM pins the VPA at the first run. */
	ASSERT_EQ(0, vcpu_step(v)) TH_LOG("%s", v->why);
	y_first = yield_count(v);

	ASSERT_EQ(0, pm_tcp_pair(-1, -1, self->fds));
	a.fd = self->fds[1];
	self->dctl = pm_mig_start(t, &a);
	ASSERT_LE(0, self->dctl) TH_LOG("destination: %s", t->extack);
	a.name = NAME;
	a.role = PARTMOB_MIG_SOURCE;
	a.fd = self->fds[0];
	a.size = 0;
	a.mode = -1;
	self->sctl = pm_mig_start(t, &a);
	ASSERT_LE(0, self->sctl) TH_LOG("source: %s", t->extack);

	/* Pre-copy: the guest runs after every round. */
	for (round = 1;; round++) {
		ret = wait_round_done(t, round, &mi);
		ASSERT_EQ(PARTMOB_MIG_S_WAITING, ret)
			TH_LOG("round %u: %d, state %s: %s", round, ret,
			       pm_mig_state_name(mi.state), mi.error);
		if (round > MIG_ROUNDS)
			break;
		ASSERT_EQ(0, vcpu_steps(v, 4)) TH_LOG("%s", v->why);
		ASSERT_EQ(0, pm_mig_control(t, NAME, PARTMOB_MIG_A_ROUND))
			TH_LOG("%s", t->extack);
	}
	/* The vCPU stops for good here; then the switchover. */
	y_final = yield_count(v);
	TH_LOG("yield_count %u after the first run, %u at the switchover",
	       y_first, y_final);
	ASSERT_NE(y_first, y_final);
	ASSERT_EQ(0, pm_mig_control(t, NAME, PARTMOB_MIG_A_SWITCHOVER))
		TH_LOG("%s", t->extack);
	ASSERT_EQ(0, pm_ctl_wait_hup(self->sctl, 60000));
	ASSERT_EQ(0, pm_ctl_wait_hup(self->dctl, 60000));
	ASSERT_EQ(0, pm_mig_get_fd(t, self->sctl, &mi));
	ASSERT_EQ(PARTMOB_MIG_S_COMPLETED, mi.state) TH_LOG("source: %s",
							    mi.error);
	ASSERT_EQ(0, pm_mig_get_fd(t, self->dctl, &mi));
	ASSERT_EQ(PARTMOB_MIG_S_COMPLETED, mi.state) TH_LOG("dest: %s",
							    mi.error);

	d = pm_region_map(DST, SIZE, PROT_READ);
	ASSERT_NE(MAP_FAILED, d);
	/* Nothing wrote the source since the vCPU stopped. */
	EXPECT_EQ(y_final, yield_count(v));
	EXPECT_EQ(0, memcmp(self->p + VPA_OFF, d + VPA_OFF, ps))
		TH_LOG("destination yield_count %u, source %u",
		       be32toh(*(uint32_t *)(d + VPA_OFF + LPPACA_YIELD_COUNT)),
		       y_final);
	EXPECT_EQ(0, memcmp(self->p + CNT_OFF, d + CNT_OFF, ps));
	EXPECT_EQ(0, memcmp(self->p, d, CODE_END));
	munmap(d, SIZE);
}

#else /* !__powerpc64__ */

TEST(kept_logged_while_kvm_holds_it)
{
	SKIP(return, "KVM HV (VPA pages) exists on ppc64 only");
}

TEST(migration_carries_the_final_vpa)
{
	SKIP(return, "KVM HV (VPA pages) exists on ppc64 only");
}

#endif

TEST_HARNESS_MAIN
