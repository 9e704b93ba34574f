/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the migration selftests: two "hosts" in one guest (network
 * namespaces joined by a veth pair, set up with hand-written rtnetlink
 * messages: the guests have no iproute2), processes run inside a
 * namespace with their output in files, the migration netlink commands,
 * and builders of handshake hellos and stream frames.
 */
#ifndef PARTMOB_MIG_LIB_H
#define PARTMOB_MIG_LIB_H

#include <stdint.h>
#include <sys/types.h>

#include "lib.h"

#define PM_HOST_A_ADDR "10.77.0.1"	/* the source "host" */
#define PM_HOST_B_ADDR "10.77.0.2"	/* the destination "host" */

/* Two network namespaces joined by veth pmA (A) <-> pmB (B). */
struct pm_hosts {
	int orig;		/* the namespace the test started in */
	int ns[2];		/* A, B */
	char err[160];		/* why setup failed */
};

/* 0, or -errno with @h->err saying which step failed. */
int pm_hosts_setup(struct pm_hosts *h);
void pm_hosts_close(struct pm_hosts *h);
/* A socket created inside the namespace @nsfd (-1: the current one). */
int pm_ns_socket(int orig, int nsfd, int domain, int type);
/* A TCP connection from namespace @nsfd to @ip:@port: fd or -errno. */
int pm_tcp_connect(int orig, int nsfd, const char *ip, int port,
		   int timeout_ms);
/*
 * A TCP connection from namespace @ns_a (fds[0]) to @addr_b, a free port,
 * in namespace @ns_b (fds[1]; -1: the current namespace): 0 or -errno.
 */
int pm_tcp_link(int orig, int ns_a, int ns_b, const char *addr_b,
		int fds[2]);
/* A connected pair of TCP sockets over 127.0.0.1 in namespace @nsfd. */
int pm_tcp_pair(int orig, int nsfd, int fds[2]);

/* ---- processes ---- */

struct pm_proc {
	pid_t pid;
	int status;		/* exit code, or 128 + signal, once reaped */
	int reaped;
	char outpath[64], errpath[64];
	char out[8192], err[8192];	/* filled by pm_proc_wait() */
};

struct pm_spawn_opts {
	int netns;		/* enter this network namespace (-1: no) */
	/* A private mount namespace with an empty tmpfs over this dir. */
	const char *hide_dir;
	/* ... holding this file (in the fresh tmpfs) of this size. */
	const char *hide_file;
	long hide_file_size;
};

/* Run partmobctl (from $PARTMOBCTL) with @argv, NULL-terminated. */
int pm_spawn_ctl(struct pm_proc *p, const struct pm_spawn_opts *o,
		 const char *const *argv);
/* Wait up to @timeout_ms: 0 once reaped (p->status, p->out, p->err). */
int pm_proc_wait(struct pm_proc *p, int timeout_ms);
/* Is it still running (not reaped and not a zombie)? */
int pm_proc_alive(struct pm_proc *p);
/* Signal, reap, remove the output files. */
void pm_proc_stop(struct pm_proc *p, int sig);
/* Re-read the output files so far into p->out / p->err. */
void pm_proc_read(struct pm_proc *p);
/* SIGKILL every other process of our process group (spawned helpers). */
void pm_kill_group_members(void);
/* A live child of @parent (the first found): its pid, or -ESRCH. */
pid_t pm_child_of(pid_t parent);

/* Wait until process @pid has a TCP socket listening on @port. */
int pm_wait_listening(pid_t pid, int port, int timeout_ms);
int pm_ctl_has(const char *cmd);	/* does partmobctl know "cmd"? */

/* ---- migrations through the kernel ---- */

struct pm_mig_args {
	const char *name;
	uint32_t role;
	int fd;
	uint64_t id;			/* 0: leave out */
	const char *peer, *peer_boot_id;
	uint64_t max_bandwidth;		/* 0: leave out */
	uint32_t timeout_ms;		/* 0: leave out */
	uint32_t mig_flags;		/* PARTMOB_A_MIG_FLAGS; 0: leave out */
	uint32_t streams;		/* PARTMOB_A_MIG_STREAMS; 0: leave out */
	/* destination only */
	uint64_t size;
	int64_t flags, uid, gid, mode;	/* < 0: leave out */
};

struct pm_mig_info {
	char name[PARTMOB_REGION_NAME_MAX + 1];
	char peer[PARTMOB_MIG_PEER_MAX + 1];
	char peer_boot_id[PARTMOB_BOOT_ID_MAX + 1];
	char error[PARTMOB_MIG_ERROR_MAX + 1];
	uint64_t id;
	uint32_t role, state, round, err_no;
	uint64_t total_bytes, transferred, remaining, pages_normal, pages_zero,
		 round_bytes, round_ns, round_dirtied, throughput, dirty_rate,
		 setup_ns, total_ns, downtime_ns, verify_ns, harvest_ns,
		 sock_ns, wait_ns;
	uint32_t streams;
	int have_state, have_round;
};

/* PARTMOB_CMD_MIG_START: the control fd, or -errno (t->extack). */
int pm_mig_start(struct tnl *t, const struct pm_mig_args *a);
int pm_mig_get(struct tnl *t, const char *name, struct pm_mig_info *mi);
/* The same by control fd: works after the region is gone. */
int pm_mig_get_fd(struct tnl *t, int ctlfd, struct pm_mig_info *mi);
int pm_mig_control(struct tnl *t, const char *name, uint32_t action);
/* PARTMOB_CMD_MIG_ATTACH; @fd < 0 or @index 0 leave the attribute out. */
int pm_mig_attach(struct tnl *t, const char *name, uint64_t id,
		  uint32_t index, int fd);
/* PARTMOB_CMD_MIG_COMMIT of the held source migration of @name alone. */
int pm_mig_commit(struct tnl *t, const char *name);
const char *pm_mig_state_name(uint32_t state);
/* Poll the control fd until POLLHUP: 0, or -ETIMEDOUT. */
int pm_ctl_wait_hup(int ctlfd, int timeout_ms);
/*
 * Wait until the migration of @name is in @state (or in a final state:
 * COMPLETED/FAILED, or IN_DOUBT for a destination). 0 if @state was
 * reached, -EPIPE if it ended elsewhere, -ETIMEDOUT, or -errno.
 */
int pm_mig_wait_state(const char *name, uint32_t state, int timeout_ms,
		      struct pm_mig_info *mi);

/* ---- the stream ---- */

void pm_frame(struct partmob_frame *f, uint16_t type, uint32_t count,
	      uint64_t offset, uint64_t arg);
/* send(2) all of @buf without SIGPIPE: 0 or -errno. */
int pm_send_all(int fd, const void *buf, size_t len);
/* recv(2) exactly @len bytes within @timeout_ms: 0, -EPIPE at EOF, ... */
int pm_recv_all(int fd, void *buf, size_t len, int timeout_ms);
/* Read and throw away until EOF or error, at most @timeout_ms. */
void pm_drain(int fd, int timeout_ms);

/* A hello as partmobctl would send it from this host, for @region. */
int pm_hello_fill(struct tnl *t, struct partmob_hs_hello *h, uint16_t op,
		  const char *region, uint64_t size, uint32_t flags);

/* ---- regions ---- */

/* mmap the whole region MAP_SHARED: the address or MAP_FAILED. */
void *pm_region_map(const char *name, size_t size, int prot);
int pm_region_frozen(const char *name);	/* 1, 0, or -errno */
uint64_t pm_now_ms(void);
void pm_sleep_ms(int ms);
/* Resident pages of a mapping, by mincore(2). */
long pm_resident_pages(void *p, size_t size);
/* The boot id of this kernel. */
void pm_boot_id(char *buf, size_t n);
/*
 * A PSK file for --psk-file (mode 0600) of one key, IDENTITY:HEX, the key
 * derived from @seed. 0 or -errno.
 */
int pm_write_psk(const char *path, const char *id, uint64_t seed);
/*
 * Key one direction (TLS_TX or TLS_RX) of a kTLS socket (TLS 1.3,
 * AES-128-GCM, the tls ULP set already) with test key number @k (the same
 * bytes on both ends of a pair), next record @seq. 0 or -errno.
 */
int pm_ktls_key(int fd, int dir, int k, uint64_t seq);
/*
 * Turn a connected pair into kTLS both ways, as partmobctl does before it
 * hands a socket over: @fds[0] sends with key 0, @fds[1] with key 1.
 * 0, or -errno (-ENOENT and friends without kernel TLS).
 */
int pm_ktls_keys(int fds[2], uint64_t seq);

/* ---- content and writers ---- */

uint64_t pm_xorshift(uint64_t *s);	/* the next of a xorshift64 state */
/* Page @i of a random-content page set from @seed, @page bytes at @p. */
void pm_fill_page(unsigned char *p, long page, uint64_t seed, uint64_t i);
/*
 * The sweeper: word 0 of page i is i and bytes from 16 on a pattern of i,
 * written by pm_sweep_fill(); the sweeper process (pm_sweeper_start())
 * only writes word 1, its generation, of every page, page 0 last, every
 * @delay_us, and counts its sweeps in *@progress (shared memory).
 */
void pm_sweep_fill(unsigned char *p, size_t npages, long page);
/* How many of the @npages pages of @a and @b differ. */
size_t pm_pages_differ(const unsigned char *a, const unsigned char *b,
		       size_t npages, long page);
pid_t pm_sweeper_start(const char *name, size_t npages, long page,
		       volatile uint64_t *progress, int delay_us);
/*
 * Pages whose test-written parts changed, or with a generation the
 * sweeper (progress *@prog, read after the scan) cannot have written yet.
 */
long pm_sweep_damage(const unsigned char *p, size_t npages, long page,
		     volatile uint64_t *prog);
/* 4096 bytes shared with the children forked later (munmap them), or NULL. */
volatile uint64_t *pm_shared_page(void);
uint64_t pm_load64(volatile uint64_t *p);	/* an acquire load */
int pm_advances(volatile uint64_t *p, int ms);	/* does *@p grow in @ms? */
/* SIGKILL @pid and reap it (20 s at most): 0 or -ETIMEDOUT. */
int pm_kill_wait(pid_t pid, int *status);

/* ---- prerequisites ---- */

/* @skip: "" if migrations can be tested here, else why not. */
void pm_mig_prereq(struct tnl *t, char *skip, size_t n, int need_ctl);
/* Delete the regions named @prefix*; one may be busy for an instant. */
void pm_cleanup_regions(const char *prefix);
/* Bring veth pmA (@host 0) or pmB (1) of @h down (@up 0) or up: 0/-errno. */
int pm_link_set(const struct pm_hosts *h, int host, int up);

#endif
