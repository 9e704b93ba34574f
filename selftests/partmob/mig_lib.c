// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers of the migration selftests; see mig_lib.h.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <linux/if_link.h>
#include <linux/tls.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include "mig_lib.h"

uint64_t pm_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pm_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- rtnetlink, by hand --------------------------------------------- */

struct rtreq {
	struct nlmsghdr n;
	char buf[1024];
};

static struct rtattr *rta_put(struct nlmsghdr *n, int type, const void *data,
			      int len)
{
	struct rtattr *rta = (struct rtattr *)((char *)n +
					       NLMSG_ALIGN(n->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

static void rta_end(struct nlmsghdr *n, struct rtattr *nest)
{
	nest->rta_len = (char *)n + n->nlmsg_len - (char *)nest;
}

/* Send @n on a NETLINK_ROUTE socket @fd and read its ack: 0 or -errno. */
static int rtnl_talk(int fd, struct nlmsghdr *n)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[4096];
	ssize_t len;

	n->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	n->nlmsg_seq = 1;
	if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0)
		return -errno;
	for (;;) {
		struct nlmsghdr *h;

		len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0)
			return -errno;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned int)len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
		}
	}
}

/* ip link add pmA type veth peer name pmB netns @peer_ns */
static int veth_add(int rt, const char *name, const char *peer, int peer_ns)
{
	struct rtreq r;
	struct ifinfomsg *ifi, *pifi;
	struct rtattr *li, *data, *pe;
	uint32_t nsfd = peer_ns;

	memset(&r, 0, sizeof(r));
	r.n.nlmsg_len = NLMSG_LENGTH(sizeof(*ifi));
	r.n.nlmsg_type = RTM_NEWLINK;
	r.n.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifi = NLMSG_DATA(&r.n);
	ifi->ifi_family = AF_UNSPEC;
	rta_put(&r.n, IFLA_IFNAME, name, strlen(name) + 1);
	li = rta_put(&r.n, IFLA_LINKINFO, NULL, 0);
	rta_put(&r.n, IFLA_INFO_KIND, "veth", 4);
	data = rta_put(&r.n, IFLA_INFO_DATA, NULL, 0);
	pe = rta_put(&r.n, VETH_INFO_PEER, NULL, 0);
	/* The peer's attributes follow a struct ifinfomsg of its own. */
	pifi = (struct ifinfomsg *)((char *)&r.n + r.n.nlmsg_len);
	memset(pifi, 0, sizeof(*pifi));
	r.n.nlmsg_len += NLMSG_ALIGN(sizeof(*pifi));
	rta_put(&r.n, IFLA_IFNAME, peer, strlen(peer) + 1);
	rta_put(&r.n, IFLA_NET_NS_FD, &nsfd, sizeof(nsfd));
	rta_end(&r.n, pe);
	rta_end(&r.n, data);
	rta_end(&r.n, li);
	return rtnl_talk(rt, &r.n);
}

/* Address @ip/24 on @ifname and bring it and lo up (in this namespace). */
static int if_config(const char *ifname, const char *ip)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	const char *names[2] = { "lo", ifname };
	int fd, i, ret = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sin->sin_addr);
	if (ioctl(fd, SIOCSIFADDR, &ifr)) {
		ret = -errno;
		goto out;
	}
	inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
	if (ioctl(fd, SIOCSIFNETMASK, &ifr)) {
		ret = -errno;
		goto out;
	}
	for (i = 0; i < 2; i++) {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", names[i]);
		if (ioctl(fd, SIOCGIFFLAGS, &ifr)) {
			ret = -errno;
			goto out;
		}
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr)) {
			ret = -errno;
			goto out;
		}
	}
out:
	close(fd);
	return ret;
}

static int new_ns(int orig)
{
	int fd;

	if (unshare(CLONE_NEWNET))
		return -errno;
	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	if (setns(orig, CLONE_NEWNET) && fd >= 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Carrier of @ifname (in this namespace) within @timeout_ms. */
static int wait_running(const char *ifname, int timeout_ms)
{
	uint64_t end = pm_now_ms() + timeout_ms;
	struct ifreq ifr;
	int fd, ret = -ETIMEDOUT;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do {
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
		if (!ioctl(fd, SIOCGIFFLAGS, &ifr) &&
		    (ifr.ifr_flags & IFF_RUNNING)) {
			ret = 0;
			break;
		}
		pm_sleep_ms(10);
	} while (pm_now_ms() < end);
	close(fd);
	return ret;
}

int pm_hosts_setup(struct pm_hosts *h)
{
	int rt = -1, ret;

	h->err[0] = '\0';
	h->ns[0] = h->ns[1] = -1;
	h->orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (h->orig < 0) {
		ret = -errno;
		snprintf(h->err, sizeof(h->err), "open /proc/self/ns/net: %s",
			 strerror(-ret));
		return ret;
	}
	h->ns[0] = new_ns(h->orig);
	h->ns[1] = h->ns[0] >= 0 ? new_ns(h->orig) : -1;
	if (h->ns[0] < 0 || h->ns[1] < 0) {
		ret = h->ns[0] < 0 ? h->ns[0] : h->ns[1];
		snprintf(h->err, sizeof(h->err),
			 "no network namespaces (unshare: %s)", strerror(-ret));
		return ret;
	}
	if (setns(h->ns[0], CLONE_NEWNET)) {
		ret = -errno;
		snprintf(h->err, sizeof(h->err), "setns: %s", strerror(-ret));
		return ret;
	}
	rt = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (rt < 0) {
		ret = -errno;
		snprintf(h->err, sizeof(h->err), "rtnetlink socket: %s",
			 strerror(-ret));
		goto back;
	}
	ret = veth_add(rt, "pmA", "pmB", h->ns[1]);
	if (ret == -EOPNOTSUPP) {
		/* No autoload here: load veth ourselves and try again. */
		if (!system("modprobe veth >/dev/null 2>&1"))
			ret = veth_add(rt, "pmA", "pmB", h->ns[1]);
	}
	close(rt);
	if (ret) {
		snprintf(h->err, sizeof(h->err), "no veth support (%s)",
			 strerror(-ret));
		goto back;
	}
	ret = if_config("pmA", PM_HOST_A_ADDR);
	if (ret) {
		snprintf(h->err, sizeof(h->err), "configure pmA: %s",
			 strerror(-ret));
		goto back;
	}
	if (setns(h->ns[1], CLONE_NEWNET)) {
		ret = -errno;
		snprintf(h->err, sizeof(h->err), "setns: %s", strerror(-ret));
		goto back;
	}
	ret = if_config("pmB", PM_HOST_B_ADDR);
	if (ret) {
		snprintf(h->err, sizeof(h->err), "configure pmB: %s",
			 strerror(-ret));
		goto back;
	}
	ret = wait_running("pmB", 5000);
	if (ret)
		snprintf(h->err, sizeof(h->err), "veth pmB has no carrier");
back:
	if (setns(h->orig, CLONE_NEWNET) && !ret) {
		ret = -errno;
		snprintf(h->err, sizeof(h->err), "setns back: %s",
			 strerror(-ret));
	}
	return ret;
}

void pm_hosts_close(struct pm_hosts *h)
{
	int i;

	for (i = 0; i < 2; i++)
		if (h->ns[i] >= 0)
			close(h->ns[i]);
	if (h->orig >= 0)
		close(h->orig);
	h->ns[0] = h->ns[1] = h->orig = -1;
}

int pm_ns_socket(int orig, int nsfd, int domain, int type)
{
	int fd, err;

	if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET))
		return -errno;
	fd = socket(domain, type | SOCK_CLOEXEC, 0);
	err = errno;
	if (nsfd >= 0 && setns(orig, CLONE_NEWNET)) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	return fd < 0 ? -err : fd;
}

int pm_tcp_connect(int orig, int nsfd, const char *ip, int port,
		   int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	uint64_t end = pm_now_ms() + timeout_ms;
	int fd, ret;

	inet_pton(AF_INET, ip, &sa.sin_addr);
	for (;;) {
		fd = pm_ns_socket(orig, nsfd, AF_INET, SOCK_STREAM);
		if (fd < 0)
			return fd;
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		ret = -errno;
		close(fd);
		if (ret != -ECONNREFUSED || pm_now_ms() >= end)
			return ret;
		pm_sleep_ms(50);
	}
}

int pm_tcp_link(int orig, int ns_a, int ns_b, const char *addr_b,
		int fds[2])
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int l, ret = 0;

	fds[0] = fds[1] = -1;
	if (inet_pton(AF_INET, addr_b, &sa.sin_addr) != 1)
		return -EINVAL;
	l = pm_ns_socket(orig, ns_b, AF_INET, SOCK_STREAM);
	if (l < 0)
		return l;
	/* Port 0: the kernel picks a free one, reused by nobody else. */
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &len)) {
		ret = -errno;
		goto out;
	}
	fds[0] = pm_ns_socket(orig, ns_a, AF_INET, SOCK_STREAM);
	if (fds[0] < 0) {
		ret = fds[0];
		goto out;
	}
	if (connect(fds[0], (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		goto out;
	}
	fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (fds[1] < 0)
		ret = -errno;
out:
	if (ret) {
		if (fds[0] >= 0)
			close(fds[0]);
		fds[0] = fds[1] = -1;
	}
	close(l);
	return ret;
}

int pm_tcp_pair(int orig, int nsfd, int fds[2])
{
	return pm_tcp_link(orig, nsfd, nsfd, "127.0.0.1", fds);
}

/* ---- processes ------------------------------------------------------- */

static const char *ctl_path(void)
{
	const char *ctl = getenv("PARTMOBCTL");

	return ctl ? ctl : "/usr/sbin/partmobctl";
}

static int hide_dir(const char *dir, const char *file, long size)
{
	char path[256];
	int fd;

	if (unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", dir, "tmpfs", 0, "mode=0755"))
		return -1;
	if (!file)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, size))
		return -1;
	close(fd);
	return 0;
}

int pm_spawn_ctl(struct pm_proc *p, const struct pm_spawn_opts *o,
		 const char *const *argv)
{
	static int seq;
	char *args[40];
	int i, fd;

	memset(p, 0, sizeof(*p));
	snprintf(p->outpath, sizeof(p->outpath), "/tmp/kst-mig-%d-%d.out",
		 getpid(), seq);
	snprintf(p->errpath, sizeof(p->errpath), "/tmp/kst-mig-%d-%d.err",
		 getpid(), seq++);
	args[0] = (char *)ctl_path();
	for (i = 0; argv[i] && i < 38; i++)
		args[i + 1] = (char *)argv[i];
	args[i + 1] = NULL;
	fflush(stdout);
	fflush(stderr);
	p->pid = fork();
	if (p->pid < 0) {
		p->pid = 0;
		return -errno;
	}
	if (!p->pid) {
		if (o && o->netns >= 0 && setns(o->netns, CLONE_NEWNET))
			_exit(125);
		if (o && o->hide_dir &&
		    hide_dir(o->hide_dir, o->hide_file, o->hide_file_size))
			_exit(124);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		fd = open(p->outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 1);
		fd = open(p->errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		execv(args[0], args);
		_exit(127);
	}
	return 0;
}

static void slurp_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	buf[0] = '\0';
	if (fd < 0)
		return;
	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += r;
	buf[n] = '\0';
	close(fd);
}

void pm_proc_read(struct pm_proc *p)
{
	slurp_file(p->outpath, p->out, sizeof(p->out));
	slurp_file(p->errpath, p->err, sizeof(p->err));
}

int pm_proc_wait(struct pm_proc *p, int timeout_ms)
{
	uint64_t end = pm_now_ms() + timeout_ms;
	int status;
	pid_t r;

	if (!p->pid)
		return -ECHILD;
	while (!p->reaped) {
		r = waitpid(p->pid, &status, WNOHANG);
		if (r < 0)
			return -errno;
		if (r == p->pid) {
			p->reaped = 1;
			p->status = WIFEXITED(status) ? WEXITSTATUS(status) :
				    128 + WTERMSIG(status);
			break;
		}
		if (pm_now_ms() >= end)
			return -ETIMEDOUT;
		pm_sleep_ms(20);
	}
	pm_proc_read(p);
	return 0;
}

int pm_proc_alive(struct pm_proc *p)
{
	if (!p->pid)
		return 0;
	return pm_proc_wait(p, 0) == -ETIMEDOUT;
}

void pm_proc_stop(struct pm_proc *p, int sig)
{
	if (!p->pid)
		return;
	if (!p->reaped) {
		kill(p->pid, sig);
		if (pm_proc_wait(p, 5000)) {
			kill(p->pid, SIGKILL);
			pm_proc_wait(p, 5000);
		}
	}
	unlink(p->outpath);
	unlink(p->errpath);
	p->pid = 0;
}

/* State, parent and group of process @pid from /proc: 0 or -1. */
static int proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp)
{
	char path[64], buf[512], *s;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	slurp_file(path, buf, sizeof(buf));
	/* pid (comm) state ppid pgrp ...; comm may hold ')' */
	s = strrchr(buf, ')');
	if (!s || sscanf(s + 2, "%c %d %d", state, ppid, pgrp) != 3)
		return -1;
	return 0;
}

void pm_kill_group_members(void)
{
	pid_t me = getpid(), pg = getpgrp(), ppid, pgrp;
	struct dirent *d;
	char state;
	DIR *dir;
	int again;

	do {
		again = 0;
		dir = opendir("/proc");
		if (!dir)
			return;
		while ((d = readdir(dir))) {
			pid_t pid = atoi(d->d_name);

			if (pid <= 0 || pid == me ||
			    proc_stat(pid, &state, &ppid, &pgrp))
				continue;
			if (pgrp == pg && state != 'Z') {
				kill(pid, SIGKILL);
				again = 1;
			}
		}
		closedir(dir);
		/* reap our own children among them */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (again)
			pm_sleep_ms(20);
	} while (again);
}

pid_t pm_child_of(pid_t parent)
{
	pid_t pid, ppid, pgrp, found = -ESRCH;
	struct dirent *d;
	char state;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while (found < 0 && (d = readdir(dir))) {
		pid = atoi(d->d_name);
		if (pid > 0 && !proc_stat(pid, &state, &ppid, &pgrp) &&
		    ppid == parent && state != 'Z')
			found = pid;
	}
	closedir(dir);
	return found;
}

/* Does /proc/PID/net/tcp{,6} (its namespace's) list @port listening? */
static int listening(pid_t pid, int port)
{
	static const char *const files[] = { "tcp", "tcp6" };
	char path[64], line[512];
	int i, found = 0;
	FILE *f;

	for (i = 0; i < 2 && !found; i++) {
		snprintf(path, sizeof(path), "/proc/%d/net/%s", pid, files[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			unsigned int lport, st;
			char *c = strchr(line, ':');

			/* "  0: ADDR:PORT REMADDR:PORT ST ..." */
			if (!c || !(c = strchr(c + 1, ':')))
				continue;
			if (sscanf(c + 1, "%x %*s %x", &lport, &st) == 2 &&
			    (int)lport == port && st == 0x0a)
				found = 1;
		}
		fclose(f);
	}
	return found;
}

int pm_wait_listening(pid_t pid, int port, int timeout_ms)
{
	uint64_t end = pm_now_ms() + timeout_ms;
	int status;

	for (;;) {
		if (listening(pid, port))
			return 0;
		if (waitpid(pid, &status, WNOHANG) == pid)
			return -ECHILD;	/* it exited: the caller has lost it */
		if (pm_now_ms() >= end)
			return -ETIMEDOUT;
		pm_sleep_ms(20);
	}
}

int pm_ctl_has(const char *cmd)
{
	const char *const argv[] = { cmd, "--help", NULL };
	struct run_result *r = malloc(sizeof(*r));
	int ok;

	if (!r)
		return 0;
	ok = !pm_run_ctl(r, 0, argv) && r->status == 0;
	free(r);
	return ok;
}

/* ---- migrations through the kernel ------------------------------------ */

int pm_mig_start(struct tnl *t, const struct pm_mig_args *a)
{
	struct nl_msg *m = tnl_msg(t, PARTMOB_CMD_MIG_START, 0);
	int ret;

	if (m && ((a->name && nla_put_string(m, PARTMOB_A_REGION_NAME, a->name)) ||
		  nla_put_u32(m, PARTMOB_A_MIG_ROLE, a->role) ||
		  (a->fd >= 0 && nla_put_u32(m, PARTMOB_A_MIG_FD, a->fd)) ||
		  (a->id && nla_put_u64(m, PARTMOB_A_MIG_ID, a->id)) ||
		  (a->peer && nla_put_string(m, PARTMOB_A_MIG_PEER, a->peer)) ||
		  (a->peer_boot_id &&
		   nla_put_string(m, PARTMOB_A_MIG_PEER_BOOT_ID,
				  a->peer_boot_id)) ||
		  (a->max_bandwidth &&
		   nla_put_u64(m, PARTMOB_A_MIG_MAX_BANDWIDTH,
			       a->max_bandwidth)) ||
		  (a->timeout_ms &&
		   nla_put_u32(m, PARTMOB_A_MIG_TIMEOUT_MS, a->timeout_ms)) ||
		  (a->mig_flags &&
		   nla_put_u32(m, PARTMOB_A_MIG_FLAGS, a->mig_flags)) ||
		  (a->streams &&
		   nla_put_u32(m, PARTMOB_A_MIG_STREAMS, a->streams)) ||
		  (a->size && nla_put_u64(m, PARTMOB_A_REGION_SIZE, a->size)) ||
		  (a->flags >= 0 &&
		   nla_put_u32(m, PARTMOB_A_REGION_FLAGS, a->flags)) ||
		  (a->uid >= 0 && nla_put_u32(m, PARTMOB_A_REGION_UID, a->uid)) ||
		  (a->gid >= 0 && nla_put_u32(m, PARTMOB_A_REGION_GID, a->gid)) ||
		  (a->mode >= 0 &&
		   nla_put_u32(m, PARTMOB_A_REGION_MODE, a->mode)))) {
		nlmsg_free(m);
		m = NULL;
	}
	ret = tnl_request(t, m);
	if (ret)
		return ret;
	if (!t->tb[PARTMOB_A_MIG_CTL_FD])
		return -EBADMSG;
	return (int)nla_get_u32(t->tb[PARTMOB_A_MIG_CTL_FD]);
}

int pm_mig_attach(struct tnl *t, const char *name, uint64_t id,
		  uint32_t index, int fd)
{
	struct nl_msg *m = tnl_msg(t, PARTMOB_CMD_MIG_ATTACH, 0);

	if (m && ((name && nla_put_string(m, PARTMOB_A_REGION_NAME, name)) ||
		  nla_put_u64(m, PARTMOB_A_MIG_ID, id) ||
		  (index && nla_put_u32(m, PARTMOB_A_MIG_STREAM, index)) ||
		  (fd >= 0 && nla_put_u32(m, PARTMOB_A_MIG_FD, fd)))) {
		nlmsg_free(m);
		m = NULL;
	}
	return tnl_request(t, m);
}

static void str_attr(struct nlattr *a, char *buf, size_t n)
{
	if (a)
		snprintf(buf, n, "%s", nla_get_string(a));
}

static int mig_get(struct tnl *t, const char *name, int ctlfd,
		   struct pm_mig_info *mi)
{
	struct nl_msg *m = tnl_msg(t, PARTMOB_CMD_MIG_GET, 0);
	struct nlattr **tb = t->tb;
	int ret;

	if (m && (name ? nla_put_string(m, PARTMOB_A_REGION_NAME, name) :
		  nla_put_u32(m, PARTMOB_A_MIG_CTL_FD, ctlfd))) {
		nlmsg_free(m);
		m = NULL;
	}
	ret = tnl_request(t, m);
	memset(mi, 0, sizeof(*mi));
	if (ret)
		return ret;
	str_attr(tb[PARTMOB_A_REGION_NAME], mi->name, sizeof(mi->name));
	str_attr(tb[PARTMOB_A_MIG_PEER], mi->peer, sizeof(mi->peer));
	str_attr(tb[PARTMOB_A_MIG_PEER_BOOT_ID], mi->peer_boot_id,
		 sizeof(mi->peer_boot_id));
	str_attr(tb[PARTMOB_A_MIG_ERROR], mi->error, sizeof(mi->error));
#define U64(a, f) if (tb[a]) mi->f = nla_get_u64(tb[a])
#define U32(a, f) if (tb[a]) mi->f = nla_get_u32(tb[a])
	U64(PARTMOB_A_MIG_ID, id);
	U32(PARTMOB_A_MIG_ROLE, role);
	U32(PARTMOB_A_MIG_STATE, state);
	U32(PARTMOB_A_MIG_ROUND, round);
	U32(PARTMOB_A_MIG_ERRNO, err_no);
	U64(PARTMOB_A_MIG_TOTAL_BYTES, total_bytes);
	U64(PARTMOB_A_MIG_TRANSFERRED, transferred);
	U64(PARTMOB_A_MIG_REMAINING, remaining);
	U64(PARTMOB_A_MIG_PAGES_NORMAL, pages_normal);
	U64(PARTMOB_A_MIG_PAGES_ZERO, pages_zero);
	U64(PARTMOB_A_MIG_ROUND_BYTES, round_bytes);
	U64(PARTMOB_A_MIG_ROUND_NS, round_ns);
	U64(PARTMOB_A_MIG_ROUND_DIRTIED, round_dirtied);
	U64(PARTMOB_A_MIG_THROUGHPUT, throughput);
	U64(PARTMOB_A_MIG_DIRTY_RATE, dirty_rate);
	U64(PARTMOB_A_MIG_SETUP_NS, setup_ns);
	U64(PARTMOB_A_MIG_TOTAL_NS, total_ns);
	U64(PARTMOB_A_MIG_DOWNTIME_NS, downtime_ns);
	U64(PARTMOB_A_MIG_VERIFY_NS, verify_ns);
	U64(PARTMOB_A_MIG_HARVEST_NS, harvest_ns);
	U64(PARTMOB_A_MIG_SOCK_NS, sock_ns);
	U64(PARTMOB_A_MIG_WAIT_NS, wait_ns);
	U32(PARTMOB_A_MIG_STREAMS, streams);
#undef U64
#undef U32
	mi->have_state = !!tb[PARTMOB_A_MIG_STATE];
	mi->have_round = !!tb[PARTMOB_A_MIG_ROUND];
	return 0;
}

int pm_mig_get(struct tnl *t, const char *name, struct pm_mig_info *mi)
{
	return mig_get(t, name, -1, mi);
}

int pm_mig_get_fd(struct tnl *t, int ctlfd, struct pm_mig_info *mi)
{
	return mig_get(t, NULL, ctlfd, mi);
}

int pm_mig_commit(struct tnl *t, const char *name)
{
	struct nl_msg *m = tnl_msg(t, PARTMOB_CMD_MIG_COMMIT, 0);
	struct nlattr *nest = m ? nla_nest_start(m, PARTMOB_A_MIG_GROUP) : NULL;

	if (m && (!nest ||
		  nla_put_string(m, PARTMOB_A_REGION_NAME, name))) {
		nlmsg_free(m);
		m = NULL;
	} else if (m) {
		nla_nest_end(m, nest);
	}
	return tnl_request(t, m);
}

int pm_mig_control(struct tnl *t, const char *name, uint32_t action)
{
	struct nl_msg *m = tnl_msg(t, PARTMOB_CMD_MIG_CONTROL, 0);

	if (m && (nla_put_string(m, PARTMOB_A_REGION_NAME, name) ||
		  nla_put_u32(m, PARTMOB_A_MIG_ACTION, action))) {
		nlmsg_free(m);
		m = NULL;
	}
	return tnl_request(t, m);
}

const char *pm_mig_state_name(uint32_t state)
{
	static const char *const names[] = {
		"none", "setup", "round", "waiting", "stop-copy", "preparing",
		"prepared", "committed", "in-doubt", "completed", "failed",
	};

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

int pm_ctl_wait_hup(int ctlfd, int timeout_ms)
{
	uint64_t end = pm_now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = ctlfd, .events = POLLIN };
	uint64_t n;

	for (;;) {
		int left = (int)(end - pm_now_ms());

		if (left <= 0)
			return -ETIMEDOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, left) < 0 && errno != EINTR)
			return -errno;
		if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
			return 0;
		if (pfd.revents & POLLIN) {
			/* consume the change count, or poll spins */
			if (read(ctlfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
				return -errno;
		}
		if (pm_now_ms() >= end)
			return -ETIMEDOUT;
	}
}

static int final_state(uint32_t s, uint32_t role)
{
	return s == PARTMOB_MIG_S_COMPLETED || s == PARTMOB_MIG_S_FAILED ||
	       (role == PARTMOB_MIG_DEST && s == PARTMOB_MIG_S_IN_DOUBT);
}

int pm_mig_wait_state(const char *name, uint32_t state, int timeout_ms,
		      struct pm_mig_info *mi)
{
	uint64_t end = pm_now_ms() + timeout_ms;
	struct tnl t;
	int ret;

	ret = tnl_open(&t);
	if (ret)
		return ret;
	for (;;) {
		ret = pm_mig_get(&t, name, mi);
		if (!ret && mi->state == state)
			break;
		if (!ret && final_state(mi->state, mi->role)) {
			ret = -EPIPE;
			break;
		}
		if (ret && ret != -ENOENT)
			break;
		if (pm_now_ms() >= end) {
			ret = -ETIMEDOUT;
			break;
		}
		pm_sleep_ms(10);
	}
	tnl_close(&t);
	return ret;
}

/* ---- the stream --------------------------------------------------------- */

void pm_frame(struct partmob_frame *f, uint16_t type, uint32_t count,
	      uint64_t offset, uint64_t arg)
{
	f->type = htobe16(type);
	f->flags = 0;
	f->count = htobe32(count);
	f->offset = htobe64(offset);
	f->arg = htobe64(arg);
}

int pm_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int pm_recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	uint64_t end = pm_now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char *p = buf;

	while (len) {
		int left = (int)(end - pm_now_ms());
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

void pm_drain(int fd, int timeout_ms)
{
	uint64_t end = pm_now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[4096];

	for (;;) {
		int left = (int)(end - pm_now_ms());
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;
	}
}

/* A PSK file of one key, IDENTITY:HEX, the key derived from @seed. */
int pm_write_psk(const char *path, const char *id, uint64_t seed)
{
	uint64_t key[4];
	char line[200];
	int fd, n, i;

	pm_fill_page((unsigned char *)key, sizeof(key), 0x7e5, seed);
	n = snprintf(line, sizeof(line), "# test key\n%s:", id);
	for (i = 0; i < (int)sizeof(key); i++)
		n += snprintf(line + n, sizeof(line) - n, "%02x",
			      ((unsigned char *)key)[i]);
	n += snprintf(line + n, sizeof(line) - n, "\n");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, line, n) != n) {
		close(fd);
		return -EIO;
	}
	return close(fd) ? -errno : 0;
}

void pm_boot_id(char *buf, size_t n)
{
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t r = -1;

	if (fd >= 0) {
		r = read(fd, buf, n - 1);
		close(fd);
	}
	if (r < 0)
		r = 0;
	buf[r] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

int pm_hello_fill(struct tnl *t, struct partmob_hs_hello *h, uint16_t op,
		  const char *region, uint64_t size, uint32_t flags)
{
	struct utsname u;
	int ret;

	memset(h, 0, sizeof(*h));
	ret = tnl_request(t, tnl_msg(t, PARTMOB_CMD_GET_INFO, 0));
	if (ret)
		return ret;
	uname(&u);
	h->magic = htobe32(PARTMOB_HS_MAGIC);
	h->version = htobe16(PARTMOB_HS_VERSION);
	h->op = htobe16(op);
	h->wire_version = htobe32(PARTMOB_WIRE_VERSION);
	h->page_size = htobe32(sysconf(_SC_PAGESIZE));
	if (t->tb[PARTMOB_A_INFO_FEATURES])
		h->features = htobe64(nla_get_u64(t->tb[PARTMOB_A_INFO_FEATURES]));
	if (t->tb[PARTMOB_A_INFO_MODULE_VERSION])
		snprintf(h->module_version, sizeof(h->module_version), "%s",
			 nla_get_string(t->tb[PARTMOB_A_INFO_MODULE_VERSION]));
	h->region_size = htobe64(size);
	h->mig_id = htobe64(((uint64_t)getpid() << 32) ^ pm_now_ms());
	h->uid = htobe32(0);
	h->gid = htobe32(0);
	h->mode = htobe32(0600);
	h->region_flags = htobe32(flags);
	snprintf(h->arch, sizeof(h->arch), "%.15s", u.machine);
	snprintf(h->region, sizeof(h->region), "%s", region);
	pm_boot_id(h->boot_id, sizeof(h->boot_id));
	return 0;
}

/* ---- regions -------------------------------------------------------------- */

void *pm_region_map(const char *name, size_t size, int prot)
{
	char path[80];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "/dev/partmob/%s", name);
	fd = open(path, ((prot & PROT_WRITE) ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return MAP_FAILED;
	p = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
	close(fd);
	return p;
}

int pm_region_frozen(const char *name)
{
	struct pm_region_info ri;
	struct tnl t;
	int ret;

	ret = tnl_open(&t);
	if (ret)
		return ret;
	ret = pm_region_get(&t, name, &ri);
	tnl_close(&t);
	return ret ? ret : ri.frozen;
}

long pm_resident_pages(void *p, size_t size)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t n = size / ps, i;
	unsigned char *vec = malloc(n);
	long res = 0;

	if (!vec)
		return -ENOMEM;
	if (mincore(p, size, vec)) {
		free(vec);
		return -errno;
	}
	for (i = 0; i < n; i++)
		res += vec[i] & 1;
	free(vec);
	return res;
}

/* ---- content, writers and prerequisites of the migration tests ---- */

uint64_t pm_xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Page @i of a random-content page set from @seed. */
void pm_fill_page(unsigned char *p, long page, uint64_t seed,
			uint64_t i)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ULL + i + 1, *w = (void *)p;
	long k;

	for (k = 0; k < page / 8; k++)
		w[k] = pm_xorshift(&s);
}

/* ---- the sweeper: dirties every page as fast as it can ----------------- */

/*
 * Word 0 of page i is i and bytes from 16 on are a pattern of i, both
 * written by the test; the sweeper only writes word 1 (its generation) of
 * every page, page 0 last. *progress counts its sweeps.
 */
volatile uint64_t *pm_shared_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

size_t pm_pages_differ(const unsigned char *a, const unsigned char *b,
		       size_t npages, long page)
{
	size_t i, n = 0;

	for (i = 0; i < npages; i++)
		n += !!memcmp(a + i * page, b + i * page, page);
	return n;
}

void pm_sweep_fill(unsigned char *p, size_t npages, long page)
{
	size_t i;

	for (i = 0; i < npages; i++) {
		pm_fill_page(p + i * page, page, 77, i);
		((uint64_t *)(p + i * page))[0] = i;
		((uint64_t *)(p + i * page))[1] = 0;
	}
}

uint64_t pm_load64(volatile uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/*
 * Pages whose test-written parts changed, or with a generation the
 * sweeper (progress *@prog, read after the scan) cannot have written yet.
 */
long pm_sweep_damage(const unsigned char *p, size_t npages, long page,
			 volatile uint64_t *prog)
{
	unsigned char *want = malloc(page);
	uint64_t gen[2];
	long bad = 0;
	size_t i;

	for (i = 0; i < npages; i++) {
		const uint64_t *w = (const uint64_t *)(p + i * page);

		pm_fill_page(want, page, 77, i);
		if (w[0] != i || memcmp(p + i * page + 16, want + 16, page - 16))
			bad++;
	}
	/* Generations: at most one sweep ahead of the finished ones. */
	for (i = 0; i < npages; i++) {
		gen[0] = ((const volatile uint64_t *)(p + i * page))[1];
		gen[1] = pm_load64(prog) + 1;
		if (gen[0] > gen[1])
			bad++;
	}
	free(want);
	return bad;
}

pid_t pm_sweeper_start(const char *name, size_t npages, long page,
			   volatile uint64_t *progress, int delay_us)
{
	pid_t pid = fork();

	if (!pid) {
		unsigned char *p = pm_region_map(name, npages * page,
						 PROT_READ | PROT_WRITE);
		uint64_t gen;
		size_t i;

		if (p == MAP_FAILED)
			_exit(2);
		for (gen = 1;; gen++) {
			for (i = npages; i-- > 0;) {
				((volatile uint64_t *)(p + i * page))[1] = gen;
				if (delay_us)
					usleep(delay_us);
			}
			__atomic_store_n(progress, gen, __ATOMIC_RELEASE);
		}
	}
	return pid;
}

/* Does *@p grow within @ms? */
int pm_advances(volatile uint64_t *p, int ms)
{
	uint64_t v0 = pm_load64(p), end = pm_now_ms() + ms;

	while (pm_now_ms() < end) {
		if (pm_load64(p) != v0)
			return 1;
		pm_sleep_ms(10);
	}
	return 0;
}

int pm_kill_wait(pid_t pid, int *status)
{
	uint64_t end = pm_now_ms() + 20000;
	pid_t r;

	kill(pid, SIGKILL);
	do {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		pm_sleep_ms(10);
	} while (pm_now_ms() < end);
	return -ETIMEDOUT;
}

static uint64_t features(struct tnl *t)
{
	if (tnl_request(t, tnl_msg(t, PARTMOB_CMD_GET_INFO, 0)) ||
	    !t->tb[PARTMOB_A_INFO_FEATURES])
		return 0;
	return nla_get_u64(t->tb[PARTMOB_A_INFO_FEATURES]);
}

/* "" if migrations can be tested here, else why not. */
void pm_mig_prereq(struct tnl *t, char *skip, size_t n, int need_ctl)
{
	const char *ctl = getenv("PARTMOBCTL");

	if (geteuid()) {
		snprintf(skip, n, "needs root");
		return;
	}
	if (!pm_module_loaded()) {
		snprintf(skip, n, "partmob.ko is not loaded");
		return;
	}
	if (tnl_open(t)) {
		snprintf(skip, n, "no partmob generic netlink family");
		return;
	}
	if (!(features(t) & PARTMOB_F_MIGRATION)) {
		snprintf(skip, n, "the module does not implement migration");
		return;
	}
	if (!need_ctl)
		return;
	if (access(ctl ? ctl : "/usr/sbin/partmobctl", X_OK)) {
		snprintf(skip, n, "no partmobctl");
		return;
	}
	if (!pm_ctl_has("listen") || !pm_ctl_has("start") ||
	    !pm_ctl_has("validate") || !pm_ctl_has("abort") ||
	    !pm_ctl_has("wait"))
		snprintf(skip, n, "partmobctl has no migration commands");
}

/* Delete what a test left behind; a region may be busy for an instant. */
void pm_cleanup_regions(const char *prefix)
{
	int i;

	for (i = 0; i < 100 && pm_regions_cleanup(prefix) > 0; i++)
		pm_sleep_ms(100);
}


int pm_link_set(const struct pm_hosts *h, int host, int up)
{
	struct ifreq ifr;
	int fd, ret = 0;

	fd = pm_ns_socket(h->orig, h->ns[host], AF_INET, SOCK_DGRAM);
	if (fd < 0)
		return fd;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", host ? "pmB" : "pmA");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr)) {
		ret = -errno;
		goto out;
	}
	if (up)
		ifr.ifr_flags |= IFF_UP;
	else
		ifr.ifr_flags &= ~IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		ret = -errno;
out:
	close(fd);
	return ret;
}

int pm_ktls_key(int fd, int dir, int k, uint64_t seq)
{
	struct tls12_crypto_info_aes_gcm_128 ci = {
		.info.version = TLS_1_3_VERSION,
		.info.cipher_type = TLS_CIPHER_AES_GCM_128,
	};
	int i;

	memset(ci.key, 0x40 + k, sizeof(ci.key));
	memset(ci.salt, 0x20 + k, sizeof(ci.salt));
	memset(ci.iv, 0x10 + k, sizeof(ci.iv));
	for (i = 0; i < 8; i++)
		ci.rec_seq[i] = seq >> (56 - 8 * i);
	return setsockopt(fd, SOL_TLS, dir, &ci, sizeof(ci)) ? -errno : 0;
}

int pm_ktls_keys(int fds[2], uint64_t seq)
{
	int i, ret = 0;

	for (i = 0; i < 2 && !ret; i++) {
		if (setsockopt(fds[i], SOL_TCP, TCP_ULP, "tls", sizeof("tls")))
			return -errno;
		ret = pm_ktls_key(fds[i], TLS_TX, i, seq);
		if (!ret)
			ret = pm_ktls_key(fds[i], TLS_RX, !i, seq);
	}
	return ret;
}
