// SPDX-License-Identifier: GPL-2.0
/*
 * A QEMU guest moves (partmobctl start --qmp, listen --vm-hook): the tiny
 * counter guest (guest/pmguest.c) runs under KVM (nested SVM: the test
 * guest has -cpu max; TCG if /dev/kvm cannot be had) in the host's
 * qemu-system-x86_64, with its RAM on a region, between two network
 * namespaces. On the destination it goes on counting from exactly where
 * it stopped, never boots again, finds its memory intact, and the source
 * QEMU quits; a destination whose QEMU cannot start refuses, and the guest
 * runs on at the source. Built three times: vm (one memory backend),
 * vm_group (PM_VM_GROUP=1: two backends as NUMA nodes, two regions with
 * one decision; and an abort during pre-copy), and vm_linux
 * (PM_VM_GROUP=2: a small Linux guest, the target's kernel with a busybox
 * initramfs and kvmclock, whose uptime and a file in its tmpfs must
 * survive the move; and a source host, such a guest with partmob.ko, that
 * reboots while the destination is in doubt).
 *
 * On ppc64le the guest is guest/pmguest_ppc.c, a pseries guest (VOF, no
 * SLOF) run by Debian's ppc64el qemu-system-ppc64, which the harness
 * offers at /host (deps.sh, lib.sh), under KVM HV nested in the test
 * guest (cap-nested-hv=on, kvm_hv loaded by /init). It also registers a
 * VPA, which KVM HV pins and writes at every dispatch without a fault (a
 * page partmob must keep sending while KVM holds it); under KVM the test
 * checks that KVM counted dispatches in it at the source and counts on in
 * the moved page at the destination (QEMU carries the VPA's address; KVM
 * restarts the count from 1 when it takes the VPA on). Its memory backends
 * are preallocated, at start on the source (prealloc=on) and by
 * dest_prealloc() on the destination: KVM HV copies the host PTE's
 * bits into its partition-scoped PTE, and a guest page that KVM first maps
 * for a read fault through the write-notify mapping of a region (clean,
 * read-only) and then for a write (now dirty and soft-dirty) trips a
 * WARN_ON_ONCE in kvmppc_create_pte() (soft-dirty differs; KVM then merges
 * the bits). Pages QEMU has written before KVM maps them are soft-dirty
 * from the start and keep it when partmob write-protects them, so no page
 * of a preallocated backend hits it. vm_linux boots the target's own
 * kernel there (the harness offers it at /kboot), console hvc0,
 * clocksource timebase. pseries wants its RAM in 256 MiB blocks and an
 * RMA of 80 MiB: 256 MiB, and two nodes of 256 MiB in vm_group.
 *
 * The test binary is also the --vm-hook: run as "vm --dest-qemu" it
 * starts the destination QEMU from the hook's environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include "mig_lib.h"
#include "qmp.h"
#include "kselftest_harness.h"

#define TDIR "/tmp/kst-vm"
#define SRC "vm-src"
#define DST "vm-dst"
#define SRC2 "vm-src2"
#define DST2 "vm-dst2"
#ifdef __powerpc64__
#define PPC 1
#define QEMU_BIN "/usr/bin/qemu-system-ppc64"
#define RAM_MB 256
#define HALF_MB 256		/* vm_group: per node */
#define GROUP_RAM "512M"
#define GUEST_ELF (PM_VM_GROUP == 1 ? "pmguest_group.elf" : "pmguest.elf")
/*
 * pseries under VOF; the Spectre mitigations that the test guest's machine
 * does not offer (lib.sh) cannot be offered nested. With 4 KiB host pages
 * (Debian's 6.12) KVM HV cannot back 64 KiB guest pages: the guest's
 * largest HPT page is then 4 KiB (it uses no HPT anyway).
 */
#define PSERIES "pseries,x-vof=on,cap-cfpc=broken,cap-sbbc=broken," \
	"cap-ibs=broken,cap-ccf-assist=off"
#define PSERIES_4K ",cap-hpt-max-page-size=4k"
#define PREALLOC ",prealloc=on"
#else
#define PPC 0
#define QEMU_BIN PM_HOST_QEMU
#define RAM_MB 64
#define HALF_MB 32
#define GROUP_RAM "64M"
#define GUEST_ELF "pmguest.elf"
#define PREALLOC ""
#endif
/* ppc64le: the destination's prealloc (dest_prealloc()) */
#define PREALLOC_QMP TDIR "/dst-prealloc.qmp"
#define PREALLOC_QMP2 TDIR "/dst-prealloc2.qmp"
#define PREALLOC_DONE TDIR "/dst-prealloc"
#define NO_PREALLOC TDIR "/no-dst-prealloc"
#define MB_STR(x) #x "M"
#define MB(x) MB_STR(x)
#define PORT "7791"
#define STEP (1u << 14)	/* PMGUEST_STEP */

static char self_path[256];
static char linux_kernel[320];	/* vm_linux: the kernel, as QEMU sees it */
static int linux_kernel_own;	/* ... and it is this kernel's release */

#define LINUX (PM_VM_GROUP == 2)
#define LINUX_RAM "256M"
/* linux_source_host_reboots: the source host, its region and ports */
#define RB_SRC "vm-rb-src"
#define RB_DST "vm-rb-dst"
#define RB_SIZE (4u << 20)
#define RB_PORT 7795		/* the destination's socket, 127.0.0.1 here */
#define RB_FWD "7796"		/* forwarded to the source host's listener */
#define RB_ID 0x7265626f6f740001ULL
#define RB_BOOT_LEN 40		/* a boot id, zero-padded, each way */
#if PPC
#define RB_NIC "spapr-vlan,netdev=n"
#define RB_NIC_MOD "ibmveth"
#else
#define RB_NIC "virtio-net-pci,netdev=n,romfile="
#define RB_NIC_MOD "virtio_net"
#endif
/* Where its kernel is found (find_linux_kernel()), and its console. */
#if PPC
#define KERNEL_DIR "/kboot"
#define KERNEL_PREFIX "vmlinux-"
#define KERNEL_CONSOLE "console=hvc0"
#else
#define KERNEL_DIR PM_HOST "/boot"
#define KERNEL_PREFIX "vmlinuz-"
#define KERNEL_CONSOLE "console=ttyS0"
#endif

/* The inner Linux guest's /init: a mark in its tmpfs, then a line a second. */
static const char linux_init[] =
	"#!/bin/busybox sh\n"
	"/bin/busybox --install -s /bin\n"
	"mount -t proc proc /proc\n"
	"mount -t sysfs sys /sys\n"
	"mount -t tmpfs tmpfs /tmp\n"
	"echo LG BOOT\n"
	"cat /proc/sys/kernel/random/uuid > /tmp/mark\n"
	"cs=/sys/devices/system/clocksource/clocksource0/current_clocksource\n"
	"while true; do\n"
	"  echo \"LG up=$(cut -d' ' -f1 /proc/uptime) mark=$(cat /tmp/mark) cs=$(cat $cs)\"\n"
	"  sleep 1\n"
	"done\n";

/*
 * Start QEMU with its RAM on region @name, or on regions @name and
 * @name2 as two NUMA nodes; -incoming defer -S if @incoming.
 */
static pid_t qemu(const char *name, const char *name2, const char *qmp,
		  const char *serial, const char *log, int incoming)
{
	char mem[160], mem2[160], qmpa[160], ser[128], elf[128];
	char machine[160] __attribute__((unused));
	const char *argv[48];
	int n;

	snprintf(mem, sizeof(mem),
		 "memory-backend-file,id=m,mem-path=/dev/partmob/%s,size=%s,share=on%s",
		 name, name2 ? MB(HALF_MB) : LINUX ? LINUX_RAM : MB(RAM_MB),
		 incoming ? "" : PREALLOC);
	snprintf(mem2, sizeof(mem2),
		 "memory-backend-file,id=m2,mem-path=/dev/partmob/%s,size="
		 MB(HALF_MB) ",share=on%s", name2 ? name2 : "",
		 incoming ? "" : PREALLOC);
	snprintf(ser, sizeof(ser), "file:%s", serial);
	snprintf(elf, sizeof(elf), TDIR "/pmguest.elf");
	n = pm_qemu_argv_begin(argv, QEMU_BIN, name2 ? GROUP_RAM :
			       LINUX ? LINUX_RAM : MB(RAM_MB));
	argv[n++] = "-object";
	argv[n++] = mem;
	if (name2) {
		argv[n++] = "-object";
		argv[n++] = mem2;
		argv[n++] = "-numa";
		argv[n++] = "node,memdev=m";
		argv[n++] = "-numa";
		argv[n++] = "node,memdev=m2";
	}
#if PPC
	snprintf(machine, sizeof(machine), "%s%s%s", PSERIES,
		 sysconf(_SC_PAGESIZE) < 65536 ? PSERIES_4K : "",
		 name2 ? "" : ",memory-backend=m");
	argv[n++] = "-machine";
	argv[n++] = machine;
	argv[n++] = "-cpu";
	argv[n++] = strcmp(pm_inner_accel(NULL), "kvm") ? "power10" : "host";
	argv[n++] = "-L";
	argv[n++] = "/usr/share/qemu";
	if (incoming) {
		/* dest_prealloc()'s monitors, before the listener's */
		argv[n++] = "-qmp";
		argv[n++] = "unix:" PREALLOC_QMP ",server=on,wait=off";
		if (name2) {
			argv[n++] = "-qmp";
			argv[n++] = "unix:" PREALLOC_QMP2 ",server=on,wait=off";
		}
	}
#else
	if (!name2) {
		argv[n++] = "-machine";
		argv[n++] = "pc,memory-backend=m";
	}
#endif
	argv[n++] = "-kernel";
	if (LINUX) {
		argv[n++] = linux_kernel;
		argv[n++] = "-initrd";
		argv[n++] = TDIR "/lg.cpio";
		argv[n++] = "-append";
		argv[n++] = KERNEL_CONSOLE " quiet panic=-1";
	} else {
		argv[n++] = elf;
	}
	argv[n++] = "-serial";
	argv[n++] = ser;
	pm_qemu_argv_end(argv, n, qmp, qmpa, incoming);
	return pm_host_spawn(argv, log);
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in, out, ret = 0;

	in = open(from, O_RDONLY);
	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0) {
		close(in);
		return -errno;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n)
			ret = -EIO;
	close(in);
	close(out);
	return ret;
}

/*
 * The Linux guest's kernel: the target's own image, which the harness
 * offers at /kboot, copied to TDIR where the chrooted QEMU sees it (once:
 * the destination's hook finds the copy); without it, on x86_64, one in
 * the host's /boot. linux_kernel_own says whether it is this kernel's
 * release, so that this guest's partmob.ko loads there. 0, or -ENOENT.
 */
static int find_linux_kernel(void)
{
	char p[320] = "";
	struct utsname u;
	struct dirent *e;
	DIR *d;

	snprintf(linux_kernel, sizeof(linux_kernel), TDIR "/vmlinux");
	if (!access(linux_kernel, R_OK))
		return 0;
	uname(&u);
	snprintf(p, sizeof(p), "/kboot/" KERNEL_PREFIX "%s", u.release);
	if (!access(p, R_OK)) {
		linux_kernel_own = 1;
		return copy_file(p, linux_kernel) ? -ENOENT : 0;
	}
	snprintf(p, sizeof(p), KERNEL_DIR "/" KERNEL_PREFIX "%s", u.release);
	if (access(p, R_OK)) {
		p[0] = '\0';
		d = opendir(KERNEL_DIR);
		if (!d)
			return -ENOENT;
		while ((e = readdir(d)))
			if (!strncmp(e->d_name, KERNEL_PREFIX,
				     strlen(KERNEL_PREFIX))) {
				snprintf(p, sizeof(p), KERNEL_DIR "/%s",
					 e->d_name);
				break;
			}
		closedir(d);
		if (!p[0])
			return -ENOENT;
	} else {
		linux_kernel_own = 1;
	}
	if (PPC)
		return copy_file(p, linux_kernel) ? -ENOENT : 0;
	snprintf(linux_kernel, sizeof(linux_kernel), "%s",
		 p + strlen(PM_HOST));
	return 0;
}

/* Directory TDIR/@name with /init @init, as the initramfs TDIR/@name.cpio. */
static int pack_initramfs(const char *name, const char *init)
{
	char path[160], cmd[320];
	FILE *f;

	snprintf(path, sizeof(path), TDIR "/%s/init", name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(init, f);
	if (fclose(f) || chmod(path, 0755))
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "cd " TDIR "/%s && find . | cpio -o -H newc > " TDIR
		 "/%s.cpio 2>/dev/null", name, name);
	return system(cmd) ? -1 : 0;
}

/* The Linux guest's initramfs, TDIR/lg.cpio: busybox and linux_init. */
static int build_linux_initramfs(void)
{
	if (system("mkdir -p " TDIR "/lg/bin " TDIR "/lg/proc " TDIR "/lg/sys "
		   TDIR "/lg/tmp " TDIR "/lg/dev && cp /bin/busybox " TDIR
		   "/lg/bin/busybox && mknod " TDIR "/lg/dev/console c 5 1"))
		return -1;
	return pack_initramfs("lg", linux_init);
}

#if PPC
/*
 * The destination's prealloc (ppc64le, see the top): its QEMU cannot
 * start with prealloc=on, because its regions are frozen until every page
 * is there (writers wait in page_mkwrite), and QEMU must answer the
 * listener meanwhile. So, in the background, once the listener has sent
 * migrate-incoming, set the backends' prealloc property through a monitor
 * of our own (QEMU then preallocates at once, MADV_POPULATE_WRITE: every
 * page write-faulted in QEMU's mapping, its data unchanged). That waits in
 * page_mkwrite until the regions thaw, when every page has arrived, and
 * holds QEMU's main loop meanwhile. Each backend has its monitor, and both
 * requests are in before the thaw: QEMU's dispatcher takes requests from
 * its monitors in turn, in the order they were created, and ours come
 * before the listener's on the command line, so its `cont`, which comes
 * after the thaw, runs only after both. (With one monitor, the second
 * request could go in only after the first's answer, so `cont` could
 * overtake it: the likely way vm_group's guest came to read pages of its
 * second backend before they were written, which KVM HV warns about.) No
 * vCPU runs before every page is mapped writable and soft-dirty.
 * PREALLOC_DONE says how it went. A test whose destination never runs the
 * guest (abort_midway) asks for none with NO_PREALLOC: an aborted
 * migration never thaws the regions, and QEMU would wait there until
 * killed.
 */
static const char *prealloc_one(struct qmp *q, const char *sock,
				const char *set)
{
	char status[32] = "none", *ret;
	int i;

	if (qmp_open(q, sock, 60000))
		return q->error;
	/* The listener's migrate-incoming first: then QEMU may be held. */
	for (i = 0; i < 1200 && !strcmp(status, "none"); i++) {
		if (qmp_execute(q, "query-migrate", NULL, &ret))
			return q->error;
		if (qmp_json_string(ret, "status", status, sizeof(status)))
			snprintf(status, sizeof(status), "none");
		free(ret);
		pm_sleep_ms(50);
	}
	q->timeout_ms = 280000;	/* until the thaw */
	return qmp_execute(q, "qom-set", set, NULL) ? q->error : "";
}

static void dest_prealloc(int two)
{
	static const char *const set[] = {
		"{\"path\": \"/objects/m\", \"property\": \"prealloc\", \"value\": true}",
		"{\"path\": \"/objects/m2\", \"property\": \"prealloc\", \"value\": true}",
	};
	struct qmp q = { .fd = -1 };
	const char *err = "";
	pid_t pid = -1;
	int status;
	FILE *f;

	if (!access(NO_PREALLOC, F_OK)) {
		err = "not asked for";
		goto out;
	}
	if (two) {
		pid = fork();
		if (pid < 0) {
			err = "cannot fork for the second backend's prealloc";
			goto out;
		}
		if (!pid) {
			struct qmp q2 = { .fd = -1 };

			err = prealloc_one(&q2, PREALLOC_QMP2, set[1]);
			qmp_close(&q2);
			_exit(err[0] ? 1 : 0);
		}
	}
	err = prealloc_one(&q, PREALLOC_QMP, set[0]);
	if (pid > 0 && (waitpid(pid, &status, 0) != pid ||
			!WIFEXITED(status) || WEXITSTATUS(status)))
		err = err[0] ? err : "the second backend's prealloc failed";
out:
	f = fopen(PREALLOC_DONE, "w");
	if (f) {
		fprintf(f, "%s\n", err[0] ? err : "ok");
		fclose(f);
	}
	qmp_close(&q);
}
#endif

/* The --vm-hook: start the destination QEMU in the background. */
static int dest_qemu(void)
{
	const char *qmp = getenv("PARTMOB_VM_QMP");
	const char *env = getenv("PARTMOB_VM_REGIONS");
	char regions[160], *second;
	pid_t pid;

	if (!qmp || !env || (LINUX && find_linux_kernel()))
		return 2;
	snprintf(regions, sizeof(regions), "%s", env);
	second = strchr(regions, ' ');
	if (second)
		*second++ = '\0';
	if (!access(TDIR "/hook-fails", F_OK))
		return 3;	/* the test wants a destination not ready */
	pid = qemu(regions, second, qmp, TDIR "/dst.serial", TDIR "/dst.log", 1);
	if (pid < 0)
		return 4;
	FILE *f = fopen(TDIR "/dst.pid", "w");

	if (f) {
		fprintf(f, "%d\n", pid);
		fclose(f);
	}
#if PPC
	/* In the background, without the listener's pipes. */
	pid = fork();
	if (!pid) {
		int fd = open("/dev/null", O_RDWR);

		setsid();
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		dest_prealloc(!!second);
		_exit(0);
	}
#endif
	return 0;
}

/* Lines "C n" of a serial log: the first and last n, how many, boots. */
/*
 * A serial log: its counter lines "C n" (first, last, count), and the
 * text before its first and after its last newline (a line the guest was
 * writing when it stopped at the source ends at the destination: the
 * UART's FIFO moves with the device state).
 */
struct serial {
	unsigned long first, last;
	int count, boots, bad;
	long vpa;	/* ppc64le: H_REGISTER_VPA's return code, -1 if none */
	unsigned long first_y, last_y;	/* ppc64le: "Y n", the VPA's count */
	int ys;
	char first_bad[64];
	char head[64], tail[64];
};

/* The Linux guest's lines "LG up=U mark=M cs=C": first and last. */
struct lg {
	double first_up, last_up;
	char first_mark[64], last_mark[64], cs[32];
	int count, boots;
};

static void read_lg(const char *path, struct lg *l)
{
	char line[256], mark[64], cs[32];
	double up;
	FILE *f;

	memset(l, 0, sizeof(*l));
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "LG BOOT"))
			l->boots++;
		if (sscanf(line, "LG up=%lf mark=%63s cs=%31s", &up, mark,
			   cs) != 3 || !strchr(line, '\n'))
			continue;
		if (!l->count++) {
			l->first_up = up;
			snprintf(l->first_mark, sizeof(l->first_mark), "%s",
				 mark);
		}
		l->last_up = up;
		snprintf(l->last_mark, sizeof(l->last_mark), "%s", mark);
		snprintf(l->cs, sizeof(l->cs), "%s", cs);
	}
	fclose(f);
}

static int wait_lg(const char *path, int n, int timeout_ms, struct lg *l)
{
	uint64_t end = pm_now_ms() + timeout_ms;

	do {
		read_lg(path, l);
		if (l->count >= n)
			return 0;
		pm_sleep_ms(200);
	} while (pm_now_ms() < end);
	return -ETIMEDOUT;
}

static void read_serial(const char *path, struct serial *s)
{
	char line[128];
	unsigned long v;
	FILE *f;

	memset(s, 0, sizeof(*s));
	s->vpa = -1;
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strchr(line, '\n'))
			snprintf(s->tail, sizeof(s->tail), "%.63s", line);
		else if (!s->head[0])
			snprintf(s->head, sizeof(s->head), "%.*s",
				 (int)strcspn(line, "\n"), line);
		if (!strncmp(line, "PMGUEST BOOT", 12))
			s->boots++;
		if (!strncmp(line, "BAD ", 4) && !s->bad++)
			snprintf(s->first_bad, sizeof(s->first_bad), "%.*s",
				 (int)strcspn(line, "\n"), line);
		if (sscanf(line, "VPA %ld", &s->vpa) == 1)
			continue;
		if (sscanf(line, "Y %lu", &v) == 1 && strchr(line, '\n')) {
			if (!s->ys++)
				s->first_y = v;
			s->last_y = v;
			continue;
		}
		if (sscanf(line, "C %lu", &v) == 1 && strchr(line, '\n')) {
			if (!s->count++)
				s->first = v;
			s->last = v;
		}
	}
	fclose(f);
}

static int wait_lines(const char *path, int n, int timeout_ms,
		      struct serial *s)
{
	uint64_t end = pm_now_ms() + timeout_ms;

	do {
		read_serial(path, s);
		if (s->count >= n)
			return 0;
		pm_sleep_ms(100);
	} while (pm_now_ms() < end);
	return -ETIMEDOUT;
}

static pid_t read_pid(const char *path)
{
	FILE *f = fopen(path, "r");
	int pid = -1;

	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = -1;
		fclose(f);
	}
	return pid;
}

static int exited(pid_t pid, int timeout_ms)
{
	uint64_t end = pm_now_ms() + timeout_ms;

	do {
		if (kill(pid, 0) && errno == ESRCH)
			return 1;
		/* Our own child: reap it. */
		waitpid(pid, NULL, WNOHANG);
		pm_sleep_ms(50);
	} while (pm_now_ms() < end);
	return 0;
}

FIXTURE(vm) {
	struct tnl t;
	struct pm_hosts h;
	struct pm_proc listener;
	pid_t src;
	const char *skip;
};

FIXTURE_SETUP(vm)
{
	struct utsname u;
	char elf[300], hook[300];
	struct pm_spawn_opts o = { .netns = -1 };
	const char *accel, *why;
	const char *argv[12];
	int ret;

	self->src = -1;
	uname(&u);
	if (strcmp(u.machine, PPC ? "ppc64le" : "x86_64"))
		self->skip = "built for another architecture";
	else if (!pm_module_loaded())
		self->skip = "partmob.ko is not loaded";
	else if (access(PM_HOST QEMU_BIN, X_OK))
		self->skip = "no QEMU at " PM_HOST QEMU_BIN " (the harness offers it)";
	if (self->skip)
		return;
	accel = pm_inner_accel(&why);
	TH_LOG("inner guest accelerator: %s (%s)", accel, why);
	/*
	 * A Linux guest under TCG inside the TCG test guest did not boot
	 * within the test's limits (x86_64-6.1, 150 s): it needs nested KVM.
	 */
	if (LINUX && strcmp(accel, "kvm")) {
		self->skip = "the Linux guest needs nested KVM (under TCG inside this TCG guest it does not boot in time)";
		return;
	}
	ASSERT_EQ(0, tnl_open(&self->t));
	pm_regions_cleanup("vm-");
	system("rm -rf " TDIR);
	ASSERT_EQ(0, mkdir(TDIR, 0755));
	snprintf(elf, sizeof(elf), "%s", self_path);
	*strrchr(elf, '/') = '\0';
	strcat(elf, "/");
	strcat(elf, GUEST_ELF);
	ASSERT_EQ(0, copy_file(elf, TDIR "/pmguest.elf")) TH_LOG("%s", elf);
	if (LINUX) {
		if (find_linux_kernel()) {
			self->skip = "no kernel at " KERNEL_DIR " for the Linux guest (the harness offers it)";
			return;
		}
		ASSERT_EQ(0, build_linux_initramfs());
		TH_LOG("inner Linux: %s", linux_kernel);
	}
	ret = pm_hosts_setup(&self->h);
	ASSERT_EQ(0, ret) TH_LOG("hosts: %s", self->h.err);

	snprintf(hook, sizeof(hook), "%s --dest-qemu", self_path);
	argv[0] = "listen";
	argv[1] = "--address";
	argv[2] = PM_HOST_B_ADDR;
	argv[3] = "--port";
	argv[4] = PORT;
	argv[5] = "--vm-hook";
	argv[6] = hook;
	argv[7] = "--state-dir";
	argv[8] = TDIR "/state";
	/* Plain TCP: what is tested here is the guest's move (migrate.c TLS). */
	argv[9] = "--insecure";
	argv[10] = NULL;
	o.netns = self->h.ns[1];
	ASSERT_EQ(0, pm_spawn_ctl(&self->listener, &o, argv));
	ASSERT_EQ(0, pm_wait_listening(self->listener.pid, atoi(PORT), 15000));
}

FIXTURE_TEARDOWN(vm)
{
	pid_t dst;
	int i;

	if (self->skip)
		return;
	if (self->src > 0) {
		kill(self->src, SIGKILL);
		waitpid(self->src, NULL, 0);
	}
	dst = read_pid(TDIR "/dst.pid");
	if (dst > 0)
		kill(dst, SIGKILL);
	pm_proc_stop(&self->listener, SIGTERM);
	if (LINUX && pm_region_frozen(RB_DST) == 1) {
		/* linux_source_host_reboots failed with it in doubt */
		const char *const discard[] = { "recover", RB_DST, "--discard",
						NULL };
		struct run_result r;

		pm_run_ctl(&r, 0, discard);
	}
	/*
	 * A killed QEMU unmaps its RAM as it exits, which takes a while for
	 * a big guest: until then its regions cannot be deleted (and the
	 * module cannot be unloaded).
	 */
	for (i = 0; i < 150; i++) {
		pm_regions_cleanup("vm-");
		if (!pm_region_exists(SRC) && !pm_region_exists(SRC2) &&
		    !pm_region_exists(DST) && !pm_region_exists(DST2))
			break;
		pm_sleep_ms(200);
	}
	pm_hosts_close(&self->h);
	tnl_close(&self->t);
}

/* The source guest: one 64 MiB region, or two of 32 MiB (@group). */
static void source(struct __test_metadata *_metadata, FIXTURE_DATA(vm) *self,
		   int group, struct serial *s)
{
	ASSERT_EQ(0, pm_region_create(&self->t, SRC, (uint64_t)(group ?
				      HALF_MB : LINUX ? 256 : RAM_MB) << 20,
				      -1, -1, -1, 0600));
	if (group)
		ASSERT_EQ(0, pm_region_create(&self->t, SRC2,
					      (uint64_t)HALF_MB << 20, -1, -1,
					      -1, 0600));
	self->src = qemu(SRC, group ? SRC2 : NULL, TDIR "/src.qmp",
			 TDIR "/src.serial", TDIR "/src.log", 0);
	ASSERT_LT(0, self->src);
	if (LINUX) {
		struct lg l;

		ASSERT_EQ(0, wait_lg(TDIR "/src.serial", 3, 150000, &l))
			TH_LOG("the Linux guest does not run at the source");
		return;
	}
	if (wait_lines(TDIR "/src.serial", 2, 120000, s)) {
		char log[600] = "";
		FILE *f = fopen(TDIR "/src.log", "r");

		if (f) {
			log[fread(log, 1, sizeof(log) - 1, f)] = '\0';
			fclose(f);
		}
		ASSERT_EQ(2, s->count)
			TH_LOG("the guest does not count at the source; QEMU: %s; serial: %d boot(s), VPA %ld",
			       log, s->boots, s->vpa);
	}
}

/* partmobctl start --qmp in host A; @wait: until it exits. */
static void start(struct __test_metadata *_metadata, FIXTURE_DATA(vm) *self,
		  struct pm_proc *p, int group, const char *bw, int wait)
{
	struct pm_spawn_opts o = { .netns = self->h.ns[0] };
	const char *argv[24];
	int n = 0;

	argv[n++] = "start";
	argv[n++] = SRC;
	if (group)
		argv[n++] = SRC2;
	argv[n++] = "--to";
	argv[n++] = PM_HOST_B_ADDR ":" PORT;
	argv[n++] = "--dest-name";
	argv[n++] = DST;
	if (group) {
		argv[n++] = "--dest-name";
		argv[n++] = DST2;
	}
	argv[n++] = "--qmp";
	argv[n++] = TDIR "/src.qmp";
	argv[n++] = "--insecure";
	argv[n++] = "--downtime-limit";
	argv[n++] = "500";
	if (bw) {
		argv[n++] = "--max-bandwidth";
		argv[n++] = bw;
	}
	argv[n++] = "--json";
	argv[n] = NULL;
	ASSERT_EQ(0, pm_spawn_ctl(p, &o, argv));
	if (wait)
		ASSERT_EQ(0, pm_proc_wait(p, 250000)) TH_LOG("start hangs");
}

/*
 * Whether the file at @path holds @s: start's --json output, whose last
 * line has the result, outgrows pm_proc's buffer when pre-copy takes many
 * rounds (a loaded machine).
 */
static __attribute__((unused)) int file_has(const char *path, const char *s)
{
	char *buf;
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd, found;

	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) || !(buf = malloc(st.st_size + 1))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (n < (size_t)st.st_size &&
	       (r = read(fd, buf + n, st.st_size - n)) > 0)
		n += r;
	buf[n] = '\0';
	close(fd);
	found = !!strstr(buf, s);
	free(buf);
	return found;
}

/*
 * After a completed move: the source QEMU quit where the guest stopped,
 * and the destination's guest goes on from exactly there, intact.
 */
static __attribute__((unused)) void moved(struct __test_metadata *_metadata,
					 FIXTURE_DATA(vm) *self,
		  struct pm_proc *p)
{
	struct serial s, d;
	unsigned long last, v;
	char line[128];

	if (p->status) {
		pm_proc_read(&self->listener);
		TH_LOG("listener: %s", self->listener.err);
	}
	ASSERT_EQ(0, p->status) TH_LOG("start: %s\n%s", p->out, p->err);
	EXPECT_TRUE(file_has(p->outpath, "\"guest_downtime_ms\""))
		TH_LOG("%s", p->out);
	EXPECT_EQ(1, exited(self->src, 20000));
	self->src = -1;
	read_serial(TDIR "/src.serial", &s);
	ASSERT_LT(0, read_pid(TDIR "/dst.pid"));
	ASSERT_EQ(0, wait_lines(TDIR "/dst.serial", 2, 120000, &d))
		TH_LOG("the guest does not count at the destination");
	EXPECT_EQ(0, d.boots);
	EXPECT_EQ(1, s.boots);
	EXPECT_EQ(0, s.bad + d.bad)
		TH_LOG("source: '%s' (last C %lu), destination: '%s' (first C %lu)",
		       s.first_bad, s.last, d.first_bad, d.first);
	/*
	 * ppc64le: the guest registered its VPA at the source (H_SUCCESS),
	 * and the destination's RAM was preallocated before it ran.
	 */
	if (PPC) {
		FILE *f = fopen(PREALLOC_DONE, "r");

		EXPECT_EQ(0, s.vpa);
		/* KVM HV wrote the VPA here, and writes the moved one there. */
		TH_LOG("VPA yield_count: source %lu to %lu, destination %lu to %lu",
		       s.first_y, s.last_y, d.first_y, d.last_y);
		if (!strcmp(pm_inner_accel(NULL), "kvm")) {
			EXPECT_LT(0, s.last_y);
			EXPECT_LT(d.first_y, d.last_y);
		}
		line[0] = '\0';
		if (f) {
			if (!fgets(line, sizeof(line), f))
				line[0] = '\0';
			fclose(f);
		}
		EXPECT_STREQ("ok\n", line);
	}
	last = s.last;
	if (s.tail[0]) {
		snprintf(line, sizeof(line), "%s%s", s.tail, d.head);
		ASSERT_EQ(1, sscanf(line, "C %lu", &v))
			TH_LOG("line begun at the source: '%s', ended: '%s'",
			       s.tail, d.head);
		EXPECT_EQ(last + STEP, v);
		TH_LOG("line %lu was begun at the source, ended at the destination",
		       v);
		last = v;
	}
	EXPECT_EQ(last + STEP, d.first)
		TH_LOG("source stopped at %lu ('%s'), destination went on at %lu",
		       s.last, s.tail, d.first);
	/* The destination regions are thawed; the source ones retired. */
	EXPECT_EQ(0, pm_region_frozen(DST));
	EXPECT_EQ(-EBUSY, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW,
					SRC));
}

static __attribute__((unused)) void wait_gone(const char *name)
{
	int i;

	/* The destination's module deletes a failed region as it ends. */
	for (i = 0; i < 100 && pm_region_exists(name); i++)
		pm_sleep_ms(100);
}

#if PM_VM_GROUP == 2
/*
 * A Linux guest (kvmclock, a file in its tmpfs) moves: on the destination
 * it goes on with the same tmpfs file, its uptime never goes back, and it
 * never boots again.
 */
TEST_F_TIMEOUT(vm, linux_moves_and_continues, 290)
{
	struct serial s;
	struct pm_proc p;
	struct lg a, b;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	source(_metadata, self, 0, &s);
	start(_metadata, self, &p, 0, NULL, 1);
	if (p.status) {
		pm_proc_read(&self->listener);
		TH_LOG("listener: %s", self->listener.err);
	}
	ASSERT_EQ(0, p.status) TH_LOG("start: %s\n%s", p.out, p.err);
	EXPECT_EQ(1, exited(self->src, 20000));
	self->src = -1;
	read_lg(TDIR "/src.serial", &a);
	ASSERT_EQ(0, wait_lg(TDIR "/dst.serial", 3, 120000, &b))
		TH_LOG("the Linux guest does not run at the destination");
	TH_LOG("source: up %.2f s, clocksource %s; destination: up %.2f to %.2f s",
	       a.last_up, a.cs, b.first_up, b.last_up);
	EXPECT_EQ(1, a.boots);
	EXPECT_EQ(0, b.boots);
	EXPECT_STREQ(a.last_mark, b.first_mark);
	EXPECT_STREQ(a.first_mark, b.last_mark);
	EXPECT_LE(a.last_up, b.first_up);
	EXPECT_LT(b.first_up, b.last_up);
	if (PPC) {
		EXPECT_STREQ("timebase", b.cs);
	} else if (!strcmp(pm_inner_accel(NULL), "kvm")) {
		EXPECT_STREQ("kvm-clock", b.cs);
	}
	EXPECT_EQ(0, pm_region_frozen(DST));
	pm_proc_stop(&p, SIGKILL);
}

/*
 * The source host reboots while the destination is in doubt. The source
 * host is a Linux guest of its own here (the target's kernel, its
 * partmob.ko and partmobctl, in a busybox initramfs, user networking):
 * its region RB_SRC moves to RB_DST in this guest, driven through the
 * kernel at both ends, the source held (PARTMOB_MIG_F_HOLD) in PREPARED.
 * Then the source host loses power (QEMU killed): the destination,
 * prepared and without a decision, is in doubt; recover cannot reach the
 * source and leaves it so. The host boots again (a new boot id, the
 * module loaded afresh, partmobctl listen): recover learns that it
 * rebooted, so its copy is gone, and resumes the region here with every
 * page.
 */

/* The source host's /init: "pmrb=source" runs the source, else listen. */
static const char rb_init[] =
	"#!/bin/busybox sh\n"
	"/bin/busybox --install -s /bin\n"
	"mount -t proc proc /proc\n"
	"mount -t sysfs sys /sys\n"
	"mount -t devtmpfs dev /dev\n"
	"mount -t tmpfs tmpfs /tmp\n"
	"mount -t tmpfs tmpfs /run\n"
	"modprobe virtio_pci 2>/dev/null\n"
	"modprobe " RB_NIC_MOD "\n"
	"ip link set lo up\n"
	"ip link set eth0 up\n"
	"ip addr add 10.0.2.15/24 dev eth0\n"
	"ip route add default via 10.0.2.2\n"
	"insmod /lib/partmob.ko || echo RB FAIL insmod\n"
	"echo \"RB BOOT $(cat /proc/sys/kernel/random/boot_id)\"\n"
	"if grep -q pmrb=source /proc/cmdline; then\n"
	"  /bin/pmvm --inner-source\n"
	"else\n"
	"  partmobctl listen --insecure --port 7780 --state-dir /run/pm &\n"
	"  for i in $(seq 30); do\n"
	"    netstat -ltn | grep -q ':7780 ' && break; sleep 1\n"
	"  done\n"
	"  echo RB LISTENING\n"
	"fi\n"
	"while true; do sleep 10; done\n";

/*
 * TDIR/rb.cpio: busybox, rb_init, this program, partmobctl (both linked
 * statically), partmob.ko and this guest's modules.
 */
static int rb_initramfs(void)
{
	const char *ko = getenv("PARTMOB_KO"), *ctl = getenv("PARTMOBCTL");
	char cmd[2048];
	struct utsname u;

	uname(&u);
	snprintf(cmd, sizeof(cmd),
		 "set -e; r=" TDIR "/rb; rm -rf $r; mkdir -p $r/bin $r/proc $r/sys $r/tmp $r/run $r/dev $r/lib/modules; "
		 "cp /bin/busybox $r/bin/busybox; mknod $r/dev/console c 5 1; "
		 "cp %s $r/lib/partmob.ko; cp %s $r/bin/partmobctl; cp %s $r/bin/pmvm; "
		 "cp -a /lib/modules/%s $r/lib/modules/",
		 ko ? ko : "/lib/partmob/partmob.ko",
		 ctl ? ctl : "/usr/sbin/partmobctl", self_path, u.release);
	if (system(cmd))
		return -1;
	return pack_initramfs("rb", rb_init);
}

/* Boot the source host, as "source" or "listen" (@mode). */
static pid_t rb_qemu(const char *mode, const char *serial, const char *log)
{
	char ser[160], append[160];
	const char *argv[40];
	int n;

	snprintf(ser, sizeof(ser), "file:%s", serial);
	snprintf(append, sizeof(append), KERNEL_CONSOLE " quiet panic=-1 pmrb=%s",
		 mode);
	n = pm_qemu_argv_begin(argv, QEMU_BIN, LINUX_RAM);
#if PPC
	argv[n++] = "-machine";
	argv[n++] = sysconf(_SC_PAGESIZE) < 65536 ? PSERIES PSERIES_4K :
						     PSERIES;
	argv[n++] = "-cpu";
	argv[n++] = strcmp(pm_inner_accel(NULL), "kvm") ? "power10" : "host";
	argv[n++] = "-L";
	argv[n++] = "/usr/share/qemu";
#endif
	argv[n++] = "-netdev";
	argv[n++] = "user,id=n,hostfwd=tcp:127.0.0.1:" RB_FWD "-:7780";
	argv[n++] = "-device";
	argv[n++] = RB_NIC;
	argv[n++] = "-kernel";
	argv[n++] = linux_kernel;
	argv[n++] = "-initrd";
	argv[n++] = TDIR "/rb.cpio";
	argv[n++] = "-append";
	argv[n++] = append;
	argv[n++] = "-serial";
	argv[n++] = ser;
	argv[n] = NULL;
	return pm_host_spawn(argv, log);
}

/* The value of 8-byte word @i of the source's region. */
static uint64_t rb_word(size_t i)
{
	return (i + 1) * 0x9e3779b97f4a7c15ULL;
}

/*
 * One end of linux_source_host_reboots' migration on connection @fd: the
 * hosts' boot ids exchanged first (as the handshake would), then
 * MIG_START of the source RB_SRC (held, to the test guest at 10.0.2.2)
 * or of the destination RB_DST (from the source host, which this guest
 * reaches at 127.0.0.1). @fd is closed. The control fd, or -errno.
 */
static int rb_mig_start(struct tnl *t, int fd, int source)
{
	struct pm_mig_args a = { .flags = -1, .uid = -1, .gid = -1,
				 .mode = -1, .id = RB_ID,
				 .timeout_ms = source ? 60000 : 5000 };
	char boot[RB_BOOT_LEN] = "", peer[RB_BOOT_LEN + 1] = "";
	int ret;

	pm_boot_id(boot, sizeof(boot));
	if (write(fd, boot, sizeof(boot)) != sizeof(boot) ||
	    recv(fd, peer, RB_BOOT_LEN, MSG_WAITALL) != RB_BOOT_LEN) {
		close(fd);
		return -EPROTO;
	}
	a.name = source ? RB_SRC : RB_DST;
	a.role = source ? PARTMOB_MIG_SOURCE : PARTMOB_MIG_DEST;
	a.fd = fd;
	a.peer = source ? "10.0.2.2" : "127.0.0.1";
	a.peer_boot_id = peer;
	if (source)
		a.mig_flags = PARTMOB_MIG_F_HOLD;
	else
		a.size = RB_SIZE;
	ret = pm_mig_start(t, &a);
	close(fd);
	return ret;
}

/*
 * The source host's side (run by its /init): RB_SRC filled, its migration
 * to the destination at 10.0.2.2 (this guest, through user networking)
 * started held, brought to PREPARED, "RB PREPARED" said; then it waits
 * for the end (power loss). Boot ids are exchanged on the connection
 * first, as the handshake would.
 */
static int inner_source(void)
{
	struct pm_mig_info mi;
	const char *why = "";
	struct tnl t;
	uint64_t *p;
	size_t i;
	int fd, ctl;

	if (tnl_open(&t) ||
	    pm_region_create(&t, RB_SRC, RB_SIZE, -1, -1, -1, 0600)) {
		why = "region";
		goto fail;
	}
	p = pm_region_map(RB_SRC, RB_SIZE, PROT_READ | PROT_WRITE);
	if (p == MAP_FAILED) {
		why = "mmap";
		goto fail;
	}
	for (i = 0; i < RB_SIZE / sizeof(*p); i++)
		p[i] = rb_word(i);
	munmap(p, RB_SIZE);
	fd = pm_tcp_connect(-1, -1, "10.0.2.2", RB_PORT, 60000);
	if (fd < 0) {
		why = "connect";
		goto fail;
	}
	ctl = rb_mig_start(&t, fd, 1);
	if (ctl < 0) {
		why = t.extack;
		goto fail;
	}
	if (pm_mig_wait_state(RB_SRC, PARTMOB_MIG_S_WAITING, 120000, &mi) ||
	    pm_mig_control(&t, RB_SRC, PARTMOB_MIG_A_SWITCHOVER) ||
	    pm_mig_wait_state(RB_SRC, PARTMOB_MIG_S_PREPARED, 120000, &mi)) {
		why = mi.error;
		goto fail;
	}
	printf("RB PREPARED\n");
	fflush(stdout);
	for (;;)
		pause();
fail:
	printf("RB FAIL %s: %s\n", why, strerror(errno));
	fflush(stdout);
	return 1;
}

/*
 * Whether console @path has a line with @word (1), an "RB FAIL" line
 * (-1), or neither (0); its "RB BOOT <id>" into @id (37 bytes) if given.
 */
static int rb_read(const char *path, const char *word, char *id)
{
	char line[256];
	int found = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (id && sscanf(line, "RB BOOT %36s", id) == 1)
			continue;
		if (!strncmp(line, "RB FAIL", 7))
			found = -1;
		else if (strstr(line, word) && found >= 0)
			found = 1;
	}
	fclose(f);
	return found;
}

/* The tail of console @path, in the test's log. */
static void rb_show(struct __test_metadata *_metadata, const char *path)
{
	char buf[2048];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	if (fseek(f, -(long)sizeof(buf) + 1, SEEK_END))
		rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	TH_LOG("%s: ...%s", path, buf);
}

static int rb_wait(const char *path, const char *word, int timeout_ms)
{
	uint64_t end = pm_now_ms() + timeout_ms;
	int ret;

	do {
		ret = rb_read(path, word, NULL);
		if (ret)
			return ret;
		pm_sleep_ms(200);
	} while (pm_now_ms() < end);
	return 0;
}

TEST_F_TIMEOUT(vm, linux_source_host_reboots, 290)
{
	const char *const recover[] = { "recover", RB_DST, "--source",
					"127.0.0.1:" RB_FWD, "--insecure",
					NULL };
	const char *const status[] = { "status", RB_DST, NULL };
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(RB_PORT) };
	char id1[40] = "", id2[40] = "";
	struct pollfd pfd = { .events = POLLIN };
	struct pm_mig_info mi;
	struct run_result r;
	int l, fd, dctl, one = 1, i, bad = 0;
	uint64_t *p;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	if (!pm_ctl_has("recover"))
		SKIP(return, "partmobctl has no recover command");
	if (!linux_kernel_own)
		SKIP(return, "the source host needs this guest's kernel release, for its partmob.ko (the harness offers it at /kboot)");
	ASSERT_EQ(0, rb_initramfs());
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, l);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ASSERT_EQ(0, bind(l, (struct sockaddr *)&sin, sizeof(sin)));
	ASSERT_EQ(0, listen(l, 1));

	/* The source host boots and connects. */
	self->src = rb_qemu("source", TDIR "/rb1.serial", TDIR "/rb1.log");
	ASSERT_LT(0, self->src);
	pfd.fd = l;
	if (poll(&pfd, 1, 150000) != 1)
		rb_show(_metadata, TDIR "/rb1.serial");
	ASSERT_EQ(1, poll(&pfd, 1, 0)) TH_LOG("the source host did not connect");
	fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	ASSERT_LE(0, fd);
	dctl = rb_mig_start(&self->t, fd, 0);
	ASSERT_LE(0, dctl) TH_LOG("destination: %s", self->t.extack);
	ASSERT_EQ(0, pm_mig_wait_state(RB_DST, PARTMOB_MIG_S_PREPARED, 120000,
				       &mi))
		TH_LOG("destination: %s %s", pm_mig_state_name(mi.state),
		       mi.error);
	/* The source holds in PREPARED: no decision is on its way. */
	if (rb_wait(TDIR "/rb1.serial", "RB PREPARED", 60000) != 1)
		rb_show(_metadata, TDIR "/rb1.serial");
	ASSERT_EQ(1, rb_read(TDIR "/rb1.serial", "RB PREPARED", NULL));

	/* Power loss at the source host: the destination is in doubt. */
	kill(self->src, SIGKILL);
	waitpid(self->src, NULL, 0);
	self->src = -1;
	ASSERT_EQ(0, pm_mig_wait_state(RB_DST, PARTMOB_MIG_S_IN_DOUBT, 60000,
				       &mi))
		TH_LOG("destination: %s %s", pm_mig_state_name(mi.state),
		       mi.error);
	EXPECT_EQ(1, pm_region_frozen(RB_DST));
	ASSERT_EQ(0, pm_run_ctl(&r, 0, status));
	EXPECT_NE(NULL, strstr(r.out, "in-doubt")) TH_LOG("%s", r.out);
	/* Nobody answers at the source: still in doubt. */
	ASSERT_EQ(0, pm_run_ctl(&r, 0, recover));
	EXPECT_EQ(7, r.status) TH_LOG("recover: %s%s", r.out, r.err);
	EXPECT_EQ(1, pm_region_frozen(RB_DST));

	/* It boots again: a new boot id, the module afresh, a listener. */
	self->src = rb_qemu("listen", TDIR "/rb2.serial", TDIR "/rb2.log");
	ASSERT_LT(0, self->src);
	if (rb_wait(TDIR "/rb2.serial", "RB LISTENING", 150000) != 1)
		rb_show(_metadata, TDIR "/rb2.serial");
	ASSERT_EQ(1, rb_read(TDIR "/rb2.serial", "RB LISTENING", NULL))
		TH_LOG("the source host's listener did not start");
	rb_read(TDIR "/rb1.serial", "", id1);
	rb_read(TDIR "/rb2.serial", "", id2);
	TH_LOG("source host boot ids: %s, then %s", id1, id2);
	/* the boot id the destination recorded is the first boot's */
	ASSERT_EQ(0, pm_mig_get(&self->t, RB_DST, &mi));
	EXPECT_STREQ(id1, mi.peer_boot_id);
	EXPECT_STRNE(id1, id2);
	for (i = 0; i < 30; i++) {
		ASSERT_EQ(0, pm_run_ctl(&r, 0, recover));
		if (r.status != 7)
			break;
		pm_sleep_ms(1000);
	}
	EXPECT_EQ(0, r.status) TH_LOG("recover: %s%s", r.out, r.err);
	/* ... because the source host rebooted, as it says */
	EXPECT_TRUE(strstr(r.out, "rebooted") || strstr(r.err, "rebooted"))
		TH_LOG("recover: %s%s", r.out, r.err);
	EXPECT_EQ(0, pm_ctl_wait_hup(dctl, 30000));
	close(dctl);
	EXPECT_EQ(0, pm_region_frozen(RB_DST));

	/* Every page is the source's. */
	p = pm_region_map(RB_DST, RB_SIZE, PROT_READ);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < (int)(RB_SIZE / sizeof(*p)); i++)
		bad += p[i] != rb_word(i);
	munmap(p, RB_SIZE);
	EXPECT_EQ(0, bad);
}
#elif !PM_VM_GROUP
/* The guest moves and goes on counting there; the source QEMU quits. */
TEST_F_TIMEOUT(vm, moves_and_continues, 290)
{
	struct serial s;
	struct pm_proc p;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	source(_metadata, self, 0, &s);
	start(_metadata, self, &p, 0, NULL, 1);
	moved(_metadata, self, &p);
	pm_proc_stop(&p, SIGKILL);
}

/* A destination whose QEMU cannot start refuses; the guest runs on here. */
TEST_F_TIMEOUT(vm, refused_when_dest_not_ready, 290)
{
	struct serial s0, s1;
	struct pm_proc p;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	source(_metadata, self, 0, &s0);
	ASSERT_LE(0, creat(TDIR "/hook-fails", 0644));
	start(_metadata, self, &p, 0, NULL, 1);
	EXPECT_EQ(5, p.status) TH_LOG("start: %s\n%s", p.out, p.err);
	EXPECT_NE(NULL, strstr(p.err, "vm hook exited with status 3"))
		TH_LOG("%s", p.err);
	/* Still counting here, and the destination kept nothing. */
	ASSERT_EQ(0, wait_lines(TDIR "/src.serial", s0.count + 2, 120000, &s1));
	EXPECT_EQ(1, s1.boots);
	wait_gone(DST);
	EXPECT_EQ(0, pm_region_exists(DST));
	EXPECT_EQ(0, pm_region_frozen(SRC));
	pm_proc_stop(&p, SIGKILL);
}
#else
/* Two memory backends (NUMA nodes), two regions, one decision. */
TEST_F_TIMEOUT(vm, group_moves_together, 290)
{
	struct serial s;
	struct pm_proc p;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	source(_metadata, self, 1, &s);
	start(_metadata, self, &p, 1, NULL, 1);
	moved(_metadata, self, &p);
	EXPECT_EQ(0, pm_region_frozen(DST2));
	EXPECT_EQ(-EBUSY, pm_region_cmd(&self->t, PARTMOB_CMD_REGION_THAW,
					SRC2));
	pm_proc_stop(&p, SIGKILL);
}

/*
 * Interrupted during pre-copy: both regions abort, the guest counts on at
 * the source, and the destination quits its QEMU and deletes the regions.
 */
TEST_F_TIMEOUT(vm, abort_midway, 290)
{
	struct serial s0, s1;
	struct pm_mig_info mi;
	struct pm_proc p;
	pid_t dst;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	source(_metadata, self, 1, &s0);
#if PPC
	/* This destination never runs the guest (dest_prealloc()). */
	ASSERT_LE(0, creat(NO_PREALLOC, 0644));
#endif
	start(_metadata, self, &p, 1, "2M", 0);
	/* Pre-copy is under way, and the destination QEMU waits. */
	ASSERT_EQ(0, pm_mig_wait_state(SRC, PARTMOB_MIG_S_ROUND, 60000, &mi))
		TH_LOG("state %s: %s", pm_mig_state_name(mi.state), mi.error);
	ASSERT_TRUE(pm_proc_alive(&p)) TH_LOG("start ended early: %s", p.err);
	kill(p.pid, SIGINT);
	ASSERT_EQ(0, pm_proc_wait(&p, 60000));
	EXPECT_EQ(6, p.status) TH_LOG("start: %s\n%s", p.out, p.err);
	ASSERT_EQ(0, wait_lines(TDIR "/src.serial", s0.count + 2, 120000, &s1));
	EXPECT_EQ(1, s1.boots);
	EXPECT_EQ(0, s1.bad);
	EXPECT_EQ(0, pm_region_frozen(SRC));
	EXPECT_EQ(0, pm_region_frozen(SRC2));
	wait_gone(DST);
	wait_gone(DST2);
	EXPECT_EQ(0, pm_region_exists(DST));
	EXPECT_EQ(0, pm_region_exists(DST2));
	dst = read_pid(TDIR "/dst.pid");
	if (dst > 0)
		EXPECT_EQ(1, exited(dst, 20000));
	pm_proc_stop(&p, SIGKILL);
}
#endif

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--dest-qemu"))
		return dest_qemu();
#if PM_VM_GROUP == 2
	if (argc > 1 && !strcmp(argv[1], "--inner-source"))
		return inner_source();
#endif
	if (!realpath(argv[0], self_path))
		snprintf(self_path, sizeof(self_path), "%s", argv[0]);
	return test_harness_run(argc, argv);
}
