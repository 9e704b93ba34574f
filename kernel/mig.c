// SPDX-License-Identifier: GPL-2.0
/*
 * Migration objects: starting one, its state machine, the control file
 * that ties it to the helper that started it, and the actions userspace
 * takes on it (PARTMOB_CMD_MIG_CONTROL).
 *
 * The decision (brief.md G3): the source's receipt of the destination's
 * prepared frame is the decision to commit. partmob_mig_decide() and an
 * abort exclude each other under @lock: once decided nothing aborts, and
 * once aborted the receipt of prepared is ignored. Before the decision any
 * failure thaws the source; after it the source region is retired for
 * good.
 *
 * A source started with PARTMOB_MIG_F_HOLD takes no decision itself: it
 * holds in PREPARED until PARTMOB_CMD_MIG_COMMIT decides it together with
 * the other members of its group (partmob_mig_commit_group()). One group's
 * decision must be all or nothing, so decision_mutex serialises group
 * commits against every abort of a held migration: a commit sees each
 * member either aborted or still abortable, never changing under it.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <net/net_namespace.h>
#include <net/sock.h>
#include <net/netlink.h>

#include "mig.h"

/*
 * Serialises partmob_mig_commit_group() against mig_abort() of migrations
 * with PARTMOB_MIG_F_HOLD. Taken before any @m->lock, never inside one.
 */
static DEFINE_MUTEX(decision_mutex);

static void mig_free(struct kref *ref)
{
	struct partmob_mig *m = container_of(ref, struct partmob_mig, ref);

	if (m->sock)
		sockfd_put(m->sock);
	put_net(m->net);
	mem_cgroup_put(m->memcg);
	kfree(m);
}

/**
 * partmob_mig_put() - drop a reference on a migration
 * @m: the migration
 */
void partmob_mig_put(struct partmob_mig *m)
{
	kref_put(&m->ref, mig_free);
}

static bool state_final(u32 state)
{
	return state == PARTMOB_MIG_S_COMPLETED ||
	       state == PARTMOB_MIG_S_FAILED;
}

/* Ended for the control file: final, or waiting for an operator. */
static bool state_ended(u32 state)
{
	return state_final(state) || state == PARTMOB_MIG_S_IN_DOUBT;
}

/**
 * partmob_mig_set_state() - move to a state and tell the control file
 * @m: the migration
 * @state: enum partmob_mig_state
 */
void partmob_mig_set_state(struct partmob_mig *m, u32 state)
{
	spin_lock(&m->lock);
	m->state = state;
	spin_unlock(&m->lock);
	partmob_mig_notify(m);
}

static void snapshot(struct partmob_mig *m, struct partmob_mig_snap *s);

/**
 * partmob_mig_notify() - something changed: wake the control file's
 *	pollers and send an event to the "events" multicast group
 * @m: the migration
 *
 * Context: process context, no spinlock held.
 */
void partmob_mig_notify(struct partmob_mig *m)
{
	struct partmob_mig_snap *s;

	spin_lock(&m->lock);
	m->events++;
	spin_unlock(&m->lock);
	wake_up_all(&m->wq);
	s = kmalloc(sizeof(*s), GFP_KERNEL);
	if (s) {
		snapshot(m, s);
		partmob_netlink_mig_event(m->net, s);
		kfree(s);
	}
}

/**
 * partmob_mig_fail() - record why a migration fails
 * @m: the migration
 * @err: negative errno
 * @fmt: printf format of the reason, for the operator
 *
 * The first reason wins, and an abort's reason comes before the error it
 * provoked (a shut-down socket).
 */
void partmob_mig_fail(struct partmob_mig *m, int err, const char *fmt, ...)
{
	va_list ap;

	spin_lock(&m->lock);
	if (!m->err) {
		m->err = err;
		va_start(ap, fmt);
		vscnprintf(m->errmsg, sizeof(m->errmsg), fmt, ap);
		va_end(ap);
	}
	spin_unlock(&m->lock);
}

/**
 * partmob_mig_aborted() - has the migration been told to fail?
 * @m: the migration
 *
 * Return: 0 or the negative errno of the abort.
 */
int partmob_mig_aborted(struct partmob_mig *m)
{
	return READ_ONCE(m->abort_err);
}

/**
 * partmob_mig_decide() - take the receipt of prepared as the decision
 * @m: the source migration
 *
 * Return: true if decided, false if an abort came first.
 */
bool partmob_mig_decide(struct partmob_mig *m)
{
	bool decided;

	spin_lock(&m->lock);
	decided = !m->abort_err;
	if (decided)
		m->decided = true;
	spin_unlock(&m->lock);
	return decided;
}

/*
 * Fail a migration from outside its thread. Refused once decided, and on
 * a destination once it is prepared: from then on only the source knows
 * the outcome.
 */
static int __mig_abort(struct partmob_mig *m, int err, const char *why)
{
	struct socket *sock;
	bool tell;

	spin_lock(&m->lock);
	if (m->decided || m->settling || state_ended(m->state) || !m->sock) {
		spin_unlock(&m->lock);
		return -EALREADY;
	}
	if (m->role == PARTMOB_MIG_DEST &&
	    m->state == PARTMOB_MIG_S_PREPARED) {
		spin_unlock(&m->lock);
		return -EINVAL;
	}
	if (!m->abort_err) {
		m->abort_err = err;
		if (!m->err) {
			m->err = err;
			strscpy(m->errmsg, why, sizeof(m->errmsg));
		}
	}
	/*
	 * A source that sent END sends nothing more but this: the
	 * destination may be prepared, and must learn of the abort rather
	 * than be left in doubt. Earlier, the thread may be inside a send,
	 * and a destination that is not prepared fails on the closed link.
	 */
	tell = m->role == PARTMOB_MIG_SOURCE &&
	       (m->state == PARTMOB_MIG_S_PREPARING ||
		m->state == PARTMOB_MIG_S_PREPARED);
	sock = m->sock;
	get_file(sock->file);
	m->events++;
	spin_unlock(&m->lock);
	wake_up_all(&m->wq);
	if (tell)
		partmob_sock_send_frame(sock, PARTMOB_FRAME_ABORT, 0, 0, 0,
					-err, MSG_DONTWAIT);
	/* Ends any send or receive the threads are blocked in. */
	kernel_sock_shutdown(sock, SHUT_RDWR);
	sockfd_put(sock);
	partmob_stream_shutdown(m);
	return 0;
}

static int mig_abort(struct partmob_mig *m, int err, const char *why)
{
	int ret;

	if (!(m->flags & PARTMOB_MIG_F_HOLD))
		return __mig_abort(m, err, why);
	mutex_lock(&decision_mutex);
	ret = __mig_abort(m, err, why);
	mutex_unlock(&decision_mutex);
	return ret;
}

/**
 * partmob_mig_abort() - fail a migration that is not decided yet
 * @m: the migration
 * @err: negative errno
 * @why: the reason, for status
 *
 * Return: 0, -EALREADY (decided or ended) or -EINVAL (a prepared
 * destination: only its source can abort it).
 */
int partmob_mig_abort(struct partmob_mig *m, int err, const char *why)
{
	return mig_abort(m, err, why);
}

/**
 * partmob_mig_end() - the migration reached a final state
 * @m: the migration
 * @state: PARTMOB_MIG_S_COMPLETED or PARTMOB_MIG_S_FAILED
 *
 * Gives the region back first: it may be harvested, frozen, thawed and
 * deleted again, and a failed incoming migration deletes its region, so
 * that whoever sees the final state sees the region gone. Drops the
 * migration's user count and reference of the region; @m->r is not used
 * afterwards. Runs once; a second call does nothing.
 */
void partmob_mig_end(struct partmob_mig *m, u32 state)
{
	struct partmob_region *r;
	struct socket *sock;

	spin_lock(&m->lock);
	if (m->finished) {
		spin_unlock(&m->lock);
		return;
	}
	m->finished = true;
	r = m->r;
	m->r = NULL;
	sock = m->sock;
	m->sock = NULL;
	spin_unlock(&m->lock);

	/*
	 * Let the connection go now, not when the control file closes: a
	 * failed one is reset (no linger), so that a peer blocked sending
	 * to a receiver that stopped reading learns at once.
	 */
	if (sock) {
		if (state == PARTMOB_MIG_S_FAILED)
			sock_no_linger(sock->sk);
		sockfd_put(sock);
	}
	partmob_stream_release(m, state == PARTMOB_MIG_S_FAILED);

	mutex_lock(&r->harvest_lock);
	r->migrating = false;
	mutex_unlock(&r->harvest_lock);
	partmob_region_put_user(r);
	if (m->role == PARTMOB_MIG_DEST && state == PARTMOB_MIG_S_FAILED)
		partmob_region_delete_unused(r);
	partmob_region_put(r);
	atomic64_set(&m->end_ns, ktime_get_ns());
	partmob_mig_set_state(m, state);
}

/* The control file: its holder's death before the decision aborts. */
static int ctl_release(struct inode *inode, struct file *file)
{
	struct partmob_mig *m = file->private_data;

	mig_abort(m, -ECANCELED,
		  "the control file was closed before the decision (partmobctl exited or was killed)");
	partmob_mig_put(m);
	return 0;
}

static __poll_t ctl_poll(struct file *file, poll_table *wait)
{
	struct partmob_mig *m = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &m->wq, wait);
	spin_lock(&m->lock);
	if (m->events)
		mask |= EPOLLIN | EPOLLRDNORM;
	if (state_ended(m->state))
		mask |= EPOLLHUP;
	spin_unlock(&m->lock);
	return mask;
}

static bool ctl_readable(struct partmob_mig *m)
{
	bool ret;

	spin_lock(&m->lock);
	ret = m->events || state_ended(m->state);
	spin_unlock(&m->lock);
	return ret;
}

static ssize_t ctl_read(struct file *file, char __user *buf, size_t len,
			loff_t *ppos)
{
	struct partmob_mig *m = file->private_data;
	u64 events;
	int ret;

	if (len < sizeof(events))
		return -EINVAL;
	if (!(file->f_flags & O_NONBLOCK)) {
		ret = wait_event_interruptible(m->wq, ctl_readable(m));
		if (ret)
			return ret;
	}
	spin_lock(&m->lock);
	events = m->events;
	m->events = 0;
	spin_unlock(&m->lock);
	if (!events && (file->f_flags & O_NONBLOCK))
		return -EAGAIN;
	if (copy_to_user(buf, &events, sizeof(events)))
		return -EFAULT;
	return sizeof(events);
}

static const struct file_operations ctl_fops = {
	.owner = THIS_MODULE,
	.release = ctl_release,
	.poll = ctl_poll,
	.read = ctl_read,
	.llseek = noop_llseek,
};

static struct partmob_mig *mig_alloc(const struct partmob_mig_params *p)
{
	struct partmob_mig *m;

	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m)
		return NULL;
	kref_init(&m->ref);
	m->net = get_net(p->net);
	spin_lock_init(&m->lock);
	init_waitqueue_head(&m->wq);
	m->role = p->role;
	m->id = p->id;
	strscpy(m->name, p->name, sizeof(m->name));
	if (p->peer)
		strscpy(m->peer, p->peer, sizeof(m->peer));
	if (p->peer_boot_id)
		strscpy(m->peer_boot_id, p->peer_boot_id,
			sizeof(m->peer_boot_id));
	m->max_bandwidth = p->max_bandwidth;
	m->flags = p->mig_flags;
	m->timeout_ms = p->timeout_ms ?: PARTMOB_MIG_TIMEOUT_MS_DEFAULT;
	m->nstreams = p->streams ?: 1;
	m->state = PARTMOB_MIG_S_SETUP;
	m->start_ns = ktime_get_ns();
	return m;
}

/*
 * Make @m the migration of @r: refused while another one runs, after the
 * region was retired, and for a source that is frozen by an admin.
 */
static int attach(struct partmob_region *r, struct partmob_mig *m,
		  struct netlink_ext_ack *extack)
{
	struct partmob_mig *old;

	mutex_lock(&r->harvest_lock);
	if (r->migrating) {
		mutex_unlock(&r->harvest_lock);
		NL_SET_ERR_MSG_MOD(extack, "the region is migrating already");
		return -EBUSY;
	}
	if (r->retired) {
		mutex_unlock(&r->harvest_lock);
		NL_SET_ERR_MSG_MOD(extack, "the region was migrated away");
		return -EBUSY;
	}
	if (m->role == PARTMOB_MIG_SOURCE && r->frozen) {
		mutex_unlock(&r->harvest_lock);
		NL_SET_ERR_MSG_MOD(extack, "the region is frozen; thaw it first");
		return -EBUSY;
	}
	r->migrating = true;
	old = r->mig;
	kref_get(&m->ref);
	r->mig = m;
	mutex_unlock(&r->harvest_lock);
	if (old)
		partmob_mig_put(old);
	return 0;
}

/* Undo attach() of a migration that never ran. */
static void detach(struct partmob_region *r)
{
	mutex_lock(&r->harvest_lock);
	r->migrating = false;
	mutex_unlock(&r->harvest_lock);
}

/**
 * partmob_mig_start() - start the kernel side of a migration
 * @p: what userspace asked for
 * @extack: for error messages
 *
 * Context: the caller's process (netlink), which receives the control
 * file descriptor.
 * Return: the control file descriptor, or a negative error.
 */
int partmob_mig_start(const struct partmob_mig_params *p,
		      struct netlink_ext_ack *extack)
{
	bool dest = p->role == PARTMOB_MIG_DEST;
	struct task_struct *task;
	struct partmob_region *r;
	struct partmob_mig *m;
	struct socket *sock;
	struct file *file;
	int fd, ret;

	sock = partmob_sock_lookup(p->fd, extack);
	if (IS_ERR(sock))
		return PTR_ERR(sock);
	m = mig_alloc(p);
	if (!m) {
		ret = -ENOMEM;
		goto err_sock;
	}
	m->sock = sock;
	/* Received pages are charged like the listener's own memory. */
	if (dest)
		m->memcg = get_mem_cgroup_from_mm(current->mm);

	if (dest) {
		ret = partmob_region_create(p->name, p->size,
					    p->flags | PARTMOB_REGION_F_INCOMING,
					    p->uid, p->gid, p->mode, extack);
		if (ret)
			goto err_mig;
	}
	r = partmob_region_find(p->name);
	if (!r) {
		NL_SET_ERR_MSG_MOD(extack, "no region of that name");
		ret = -ENOENT;
		goto err_mig;
	}
	ret = partmob_region_get_user(r);
	if (ret) {
		NL_SET_ERR_MSG_MOD(extack, "the region is being deleted");
		goto err_region;
	}
	ret = attach(r, m, extack);
	if (ret)
		goto err_user;
	m->r = r;
	m->size = r->size;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		ret = fd;
		goto err_attach;
	}
	/* The thread's references: the migration and the module. */
	kref_get(&m->ref);
	__module_get(THIS_MODULE);
	task = kthread_create(dest ? partmob_recv_thread : partmob_send_thread,
			      m, "partmob-%s/%s", dest ? "rx" : "tx", p->name);
	if (IS_ERR(task)) {
		ret = PTR_ERR(task);
		goto err_task;
	}
	kref_get(&m->ref);
	file = anon_inode_getfile("[partmob-migration]", &ctl_fops, m,
				  O_RDWR | O_CLOEXEC);
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		partmob_mig_put(m);
		goto err_file;
	}
	partmob_sock_setup(sock, m->timeout_ms);
	fd_install(fd, file);
	wake_up_process(task);
	/* The region, the thread and the file hold it now. */
	partmob_mig_put(m);
	return fd;

err_file:
	/* The thread never ran: kthread_stop() makes it return at once. */
	kthread_stop(task);
err_task:
	module_put(THIS_MODULE);
	partmob_mig_put(m);
	put_unused_fd(fd);
err_attach:
	/* The region keeps @m as its last migration: a failed one. */
	m->r = NULL;
	m->state = PARTMOB_MIG_S_FAILED;
	m->err = ret;
	strscpy(m->errmsg, "could not start", sizeof(m->errmsg));
	detach(r);
err_user:
	partmob_region_put_user(r);
	if (dest)
		partmob_region_delete_unused(r);
err_region:
	partmob_region_put(r);
	partmob_mig_put(m);
	return ret;
err_mig:
	kfree(m);
err_sock:
	sockfd_put(sock);
	return ret;
}

static struct partmob_mig *get_mig(struct partmob_region *r)
{
	struct partmob_mig *m;

	mutex_lock(&r->harvest_lock);
	m = r->mig;
	if (m)
		kref_get(&m->ref);
	mutex_unlock(&r->harvest_lock);
	return m;
}

/* An operator settles a destination in doubt. */
static int settle(struct partmob_mig *m, u32 action,
		  struct netlink_ext_ack *extack)
{
	struct partmob_region *r;

	spin_lock(&m->lock);
	if (m->role != PARTMOB_MIG_DEST || m->state != PARTMOB_MIG_S_IN_DOUBT) {
		spin_unlock(&m->lock);
		NL_SET_ERR_MSG_MOD(extack,
				   "only a destination in doubt can be resumed or discarded");
		return -EINVAL;
	}
	if (m->settling) {
		spin_unlock(&m->lock);
		NL_SET_ERR_MSG_MOD(extack, "an operator is settling it already");
		return -EALREADY;
	}
	m->settling = true;
	r = m->r;
	spin_unlock(&m->lock);

	if (action == PARTMOB_MIG_A_RESUME) {
		spin_lock(&m->lock);
		m->decided = true;
		spin_unlock(&m->lock);
		partmob_region_thaw(r, true);
		pr_info("%s: resumed here by the operator\n", m->name);
		partmob_mig_end(m, PARTMOB_MIG_S_COMPLETED);
	} else {
		partmob_mig_fail(m, -ECANCELED,
				 "discarded by the operator (the source kept it)");
		pr_info("%s: discarded by the operator\n", m->name);
		partmob_mig_end(m, PARTMOB_MIG_S_FAILED);
	}
	return 0;
}

/**
 * partmob_mig_attach() - one more connection of the migration of a region
 * @r: the region
 * @id: the migration's id, as the handshake gave it
 * @index: the connection's index, 1 to the migration's streams - 1
 * @fd: the caller's socket descriptor
 * @extack: for error messages
 *
 * Return: 0, -ENOENT (no migration), -ESRCH (another migration), or an
 * error of partmob_stream_attach().
 */
int partmob_mig_attach(struct partmob_region *r, u64 id, u32 index, int fd,
		       struct netlink_ext_ack *extack)
{
	struct partmob_mig *m = get_mig(r);
	int ret;

	if (!m) {
		NL_SET_ERR_MSG_MOD(extack, "the region has no migration");
		return -ENOENT;
	}
	if (m->id != id) {
		NL_SET_ERR_MSG_MOD(extack,
				   "the region's migration has another id");
		ret = -ESRCH;
	} else {
		ret = partmob_stream_attach(m, index, fd, extack);
	}
	partmob_mig_put(m);
	return ret;
}

/**
 * partmob_mig_control() - act on the migration of a region
 * @r: the region
 * @action: enum partmob_mig_action
 * @extack: for error messages
 *
 * Return: 0, -ENOENT (no migration), -EINVAL (not in this role or state),
 * -EALREADY (decided or ended).
 */
int partmob_mig_control(struct partmob_region *r, u32 action,
			struct netlink_ext_ack *extack)
{
	struct partmob_mig *m = get_mig(r);
	int ret = 0;

	if (!m) {
		NL_SET_ERR_MSG_MOD(extack, "the region has no migration");
		return -ENOENT;
	}
	switch (action) {
	case PARTMOB_MIG_A_ROUND:
	case PARTMOB_MIG_A_SWITCHOVER:
		spin_lock(&m->lock);
		if (m->role != PARTMOB_MIG_SOURCE ||
		    m->state != PARTMOB_MIG_S_WAITING || m->action) {
			ret = -EINVAL;
			NL_SET_ERR_MSG_MOD(extack,
					   "the migration is not a source waiting after a round");
		} else {
			m->action = action;
		}
		spin_unlock(&m->lock);
		wake_up_all(&m->wq);
		break;
	case PARTMOB_MIG_A_ABORT:
		ret = mig_abort(m, -ECANCELED, "aborted by the operator");
		if (ret == -EALREADY)
			NL_SET_ERR_MSG_MOD(extack,
					   "the migration is decided or has ended");
		else if (ret == -EINVAL)
			NL_SET_ERR_MSG_MOD(extack,
					   "the destination is prepared: only the source can abort now");
		break;
	case PARTMOB_MIG_A_RESUME:
	case PARTMOB_MIG_A_DISCARD:
		ret = settle(m, action, extack);
		break;
	default:
		NL_SET_ERR_MSG_MOD(extack, "unknown action");
		ret = -EINVAL;
	}
	partmob_mig_put(m);
	return ret;
}

/*
 * Whether @m can be decided now: 0, or -EINVAL/-EALREADY with the reason
 * in @extack, pointing at @attr. Under @m->lock.
 */
static int committable(struct partmob_mig *m, const struct nlattr *attr,
		       struct netlink_ext_ack *extack)
{
	if (m->role != PARTMOB_MIG_SOURCE || !(m->flags & PARTMOB_MIG_F_HOLD)) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "the migration is not a source started with the hold flag");
		return -EINVAL;
	}
	if (m->decided) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "the migration is decided already");
		return -EALREADY;
	}
	if (m->abort_err || state_ended(m->state)) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "the migration was aborted or has failed");
		return -EALREADY;
	}
	if (m->state != PARTMOB_MIG_S_PREPARED) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "the migration is not prepared yet");
		return -EINVAL;
	}
	return 0;
}

/**
 * partmob_mig_commit_group() - decide a group of held migrations at once
 * @rs: the regions, each migrating out with PARTMOB_MIG_F_HOLD
 * @n: how many (the caller checked 1 to PARTMOB_MIG_GROUP_MAX, distinct)
 * @attrs: the members' attributes, for @extack
 * @extack: for the reason a member refused
 *
 * Under decision_mutex no held migration can be aborted, so checking
 * every member and then deciding every member is one decision: either
 * all are decided or none is.
 *
 * Return: 0, -ENOENT (a region without migration), -EINVAL or -EALREADY
 * (see not_committable()).
 */
int partmob_mig_commit_group(struct partmob_region **rs, unsigned int n,
			     const struct nlattr *const *attrs,
			     struct netlink_ext_ack *extack)
{
	struct partmob_mig **ms;
	unsigned int i, got;
	int ret = 0;

	ms = kcalloc(n, sizeof(*ms), GFP_KERNEL);
	if (!ms)
		return -ENOMEM;
	for (got = 0; got < n; got++) {
		ms[got] = get_mig(rs[got]);
		if (!ms[got]) {
			NL_SET_ERR_MSG_ATTR(extack, attrs[got],
					    "the region has no migration");
			ret = -ENOENT;
			goto out_put;
		}
	}

	mutex_lock(&decision_mutex);
	for (i = 0; i < n && !ret; i++) {
		spin_lock(&ms[i]->lock);
		ret = committable(ms[i], attrs[i], extack);
		spin_unlock(&ms[i]->lock);
	}
	if (!ret) {
		for (i = 0; i < n; i++) {
			spin_lock(&ms[i]->lock);
			ms[i]->decided = true;
			spin_unlock(&ms[i]->lock);
		}
	}
	mutex_unlock(&decision_mutex);
	for (i = 0; i < n && !ret; i++)
		wake_up_all(&ms[i]->wq);

out_put:
	while (got--)
		partmob_mig_put(ms[got]);
	kfree(ms);
	return ret;
}

static void snapshot(struct partmob_mig *m, struct partmob_mig_snap *s)
{
	u64 now = ktime_get_ns(), end, send_ns, start;
	struct partmob_dirty_counts c;
	u32 k;

	memset(s, 0, sizeof(*s));
	memcpy(s->name, m->name, sizeof(s->name));
	s->id = m->id;
	s->role = m->role;
	memcpy(s->peer, m->peer, sizeof(s->peer));
	memcpy(s->peer_boot_id, m->peer_boot_id, sizeof(s->peer_boot_id));
	s->total = m->size;
	s->transferred = atomic64_read(&m->transferred);
	s->pages_normal = atomic64_read(&m->pages_normal);
	s->pages_zero = atomic64_read(&m->pages_zero);
	s->round_bytes = atomic64_read(&m->round_bytes);
	s->round_ns = atomic64_read(&m->round_ns);
	s->round_dirtied = atomic64_read(&m->round_dirtied);
	s->setup_ns = atomic64_read(&m->setup_ns);
	s->downtime_ns = atomic64_read(&m->downtime_ns);
	s->verify_ns = atomic64_read(&m->verify_ns);
	s->harvest_ns = atomic64_read(&m->harvest_ns);
	s->sock_ns = atomic64_read(&m->sock_ns);
	s->wait_ns = atomic64_read(&m->wait_ns);
	s->streams = m->nstreams;
	end = atomic64_read(&m->end_ns);
	s->total_ns = (end ?: now) - m->start_ns;
	/* Bytes per second over the time spent sending, all rounds. */
	send_ns = atomic64_read(&m->send_ns);
	start = atomic64_read(&m->round_start_ns);
	if (start && now > start)
		send_ns += now - start;
	if (send_ns)
		s->throughput = div64_u64(s->transferred * NSEC_PER_SEC,
					  send_ns);
	if (s->round_ns)
		s->dirty_rate = div64_u64(s->round_dirtied * PAGE_SIZE *
					  NSEC_PER_SEC, s->round_ns);

	spin_lock(&m->lock);
	s->state = m->state;
	s->round = m->round;
	s->err = m->err;
	memcpy(s->errmsg, m->errmsg, sizeof(s->errmsg));
	/*
	 * m->r, m->sock and the other connections' sockets are referenced
	 * while set; partmob_mig_end() clears them under the lock.
	 * Remaining: what is logged, what round 1 has still to send, and
	 * what the sockets still hold.
	 */
	if (m->role == PARTMOB_MIG_SOURCE && m->r) {
		partmob_dirty_counts(&m->r->log, &c);
		s->remaining = (c.logged + atomic64_read(&m->pass_left)) <<
			       PAGE_SHIFT;
	}
	if (m->role == PARTMOB_MIG_SOURCE && m->r && m->sock) {
		s->remaining += READ_ONCE(m->sock->sk->sk_wmem_queued);
		for (k = 1; k < m->nstreams; k++)
			if (m->streams[k].sock)
				s->remaining +=
					READ_ONCE(m->streams[k].sock->sk->sk_wmem_queued);
	}
	spin_unlock(&m->lock);
}

/**
 * partmob_mig_snapshot() - copy the state of the migration of a region
 * @r: the region, referenced by the caller
 * @s: where to
 *
 * Return: 0, or -ENOENT if the region never migrated.
 */
int partmob_mig_snapshot(struct partmob_region *r, struct partmob_mig_snap *s)
{
	struct partmob_mig *m = get_mig(r);

	if (!m)
		return -ENOENT;
	snapshot(m, s);
	partmob_mig_put(m);
	return 0;
}

/**
 * partmob_mig_snapshot_fd() - copy the state of the migration behind a
 *	control file descriptor of the caller
 * @fd: the descriptor
 * @s: where to
 *
 * Works after the region is gone (a failed incoming migration), so that
 * the helper holding the descriptor can still learn why.
 *
 * Return: 0, -EBADF, or -EINVAL if @fd is not a migration control file.
 */
int partmob_mig_snapshot_fd(int fd, struct partmob_mig_snap *s)
{
	struct file *file = fget(fd);
	int ret = 0;

	if (!file)
		return -EBADF;
	if (file->f_op == &ctl_fops)
		snapshot(file->private_data, s);
	else
		ret = -EINVAL;
	fput(file);
	return ret;
}
