// SPDX-License-Identifier: GPL-2.0
/*
 * qmp.c: a small QMP client (see qmp.h). QEMU writes one JSON object per
 * message; messages are framed here by scanning complete JSON values, not
 * lines, so that pretty-printed output (-qmp ...,pretty=on) works too.
 * The JSON reader validates what it walks and never allocates.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "qmp.h"

#define JSON_DEPTH_MAX 64
#define MSG_MAX (64u << 20)	/* a larger message is not QMP */
#define KEY_MAX 256

/* ---- the JSON reader -------------------------------------------------------- */

static const char *ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Skip the string starting at @p (its opening quote). Returns the first
 * character after it, or NULL with *@err -EAGAIN (the text ends first)
 * or -EPROTO (not a valid string).
 */
static const char *skip_string(const char *p, const char *end, int *err)
{
	int i;

	for (p++; p < end; p++) {
		if (*p == '"')
			return p + 1;
		if ((unsigned char)*p < 0x20)
			goto bad;
		if (*p != '\\')
			continue;
		if (++p == end)
			break;
		if (*p == 'u') {
			for (i = 1; i <= 4; i++) {
				if (p + i >= end)
					goto again;
				if (hexval(p[i]) < 0)
					goto bad;
			}
			p += 4;
		} else if (!strchr("\"\\/bfnrt", *p)) {
			goto bad;
		}
	}
again:
	*err = -EAGAIN;
	return NULL;
bad:
	*err = -EPROTO;
	return NULL;
}

static const char *skip_value(const char *p, const char *end, int depth,
			      int *err);

/* Skip the object or array at @p (its opening bracket), like skip_string. */
static const char *skip_container(const char *p, const char *end, int depth,
				  int *err)
{
	char close = *p == '{' ? '}' : ']';
	int first = 1;

	if (depth >= JSON_DEPTH_MAX) {
		*err = -EPROTO;
		return NULL;
	}
	for (p++;; first = 0) {
		p = ws(p, end);
		if (p == end)
			goto again;
		if (*p == close)
			return p + 1;
		if (!first) {
			if (*p != ',')
				goto bad;
			p = ws(p + 1, end);
			if (p == end)
				goto again;
		}
		if (close == '}') {
			if (*p != '"')
				goto bad;
			p = skip_string(p, end, err);
			if (!p)
				return NULL;
			p = ws(p, end);
			if (p == end)
				goto again;
			if (*p != ':')
				goto bad;
			p++;
		}
		p = skip_value(p, end, depth + 1, err);
		if (!p)
			return NULL;
	}
again:
	*err = -EAGAIN;
	return NULL;
bad:
	*err = -EPROTO;
	return NULL;
}

/* Skip the literal @word at @p. */
static const char *skip_word(const char *p, const char *end,
			     const char *word, int *err)
{
	size_t n = strlen(word), have = (size_t)(end - p);

	if (memcmp(p, word, have < n ? have : n)) {
		*err = -EPROTO;
		return NULL;
	}
	if (have < n) {
		*err = -EAGAIN;
		return NULL;
	}
	return p + n;
}

static const char *skip_number(const char *p, const char *end, int *err)
{
	const char *s = p;
	int digits = 0;

	if (p < end && *p == '-')
		p++;
	for (; p < end && strchr("0123456789.eE+-", *p); p++)
		digits += *p >= '0' && *p <= '9';
	if (p == end) {
		*err = -EAGAIN;		/* more digits may follow */
		return NULL;
	}
	if (!digits || p == s) {
		*err = -EPROTO;
		return NULL;
	}
	return p;
}

/*
 * Skip the JSON value at @p (after whitespace). Returns the first
 * character after it, or NULL with *@err -EAGAIN if the text ends before
 * the value does, -EPROTO if it is not JSON.
 */
static const char *skip_value(const char *p, const char *end, int depth,
			      int *err)
{
	p = ws(p, end);
	if (p == end) {
		*err = -EAGAIN;
		return NULL;
	}
	switch (*p) {
	case '{':
	case '[':
		return skip_container(p, end, depth, err);
	case '"':
		return skip_string(p, end, err);
	case 't':
		return skip_word(p, end, "true", err);
	case 'f':
		return skip_word(p, end, "false", err);
	case 'n':
		return skip_word(p, end, "null", err);
	default:
		if (*p == '-' || (*p >= '0' && *p <= '9'))
			return skip_number(p, end, err);
		*err = -EPROTO;
		return NULL;
	}
}

/* Append code point @c to @buf as UTF-8; returns the bytes it needs. */
static size_t put_utf8(char *buf, size_t room, unsigned int c)
{
	char u[4];
	size_t n;

	if (c < 0x80) {
		u[0] = c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = 0xc0 | c >> 6;
		u[1] = 0x80 | (c & 0x3f);
		n = 2;
	} else if (c < 0x10000) {
		u[0] = 0xe0 | c >> 12;
		u[1] = 0x80 | (c >> 6 & 0x3f);
		u[2] = 0x80 | (c & 0x3f);
		n = 3;
	} else {
		u[0] = 0xf0 | c >> 18;
		u[1] = 0x80 | (c >> 12 & 0x3f);
		u[2] = 0x80 | (c >> 6 & 0x3f);
		u[3] = 0x80 | (c & 0x3f);
		n = 4;
	}
	if (n <= room)
		memcpy(buf, u, n);
	return n;
}

static unsigned int hex4(const char *p)
{
	return hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 |
	       hexval(p[3]);
}

/*
 * Unescape the valid string literal at @p (its opening quote) into @buf.
 * Returns 0 or -ENOSPC.
 */
static int unescape(const char *p, char *buf, size_t size)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	size_t n = 0, k;
	unsigned int c, lo;

	if (!size)
		return -ENOSPC;
	for (p++; *p != '"'; p++) {
		if (*p != '\\') {
			c = (unsigned char)*p;
			k = 1;
			if (n + 1 < size)
				buf[n] = *p;
		} else if (*++p == 'u') {
			c = hex4(p + 1);
			p += 4;
			/* a surrogate pair: \ud83d\ude00 (the text is valid JSON) */
			lo = p[1] == '\\' && p[2] == 'u' ? hex4(p + 3) : 0;
			if (c >= 0xd800 && c < 0xdc00 && lo >= 0xdc00 &&
			    lo < 0xe000) {
				c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			k = put_utf8(buf + n, n < size - 1 ? size - 1 - n : 0,
				     c);
		} else {
			k = 1;
			if (n + 1 < size)
				buf[n] = to[strchr(from, *p) - from];
		}
		n += k;
		if (n >= size)
			return -ENOSPC;
	}
	buf[n] = '\0';
	return 0;
}

int qmp_json_find(const char *json, const char *path, const char **val,
		  size_t *len)
{
	const char *end = json + strlen(json), *p = json, *seg = path, *k, *v;
	char key[KEY_MAX];
	size_t seglen;
	int err = 0, found, first;

	for (;;) {
		p = ws(p, end);
		if (!*seg) {
			v = skip_value(p, end, 0, &err);
			if (!v)
				return -EPROTO;
			*val = p;
			*len = v - p;
			return 0;
		}
		seglen = strcspn(seg, ".");
		if (p == end || *p != '{')
			return p == end ? -EPROTO : -ENOENT;
		found = 0;
		for (p++, first = 1; !found; first = 0) {
			p = ws(p, end);
			if (p < end && *p == '}')
				return -ENOENT;
			if (!first) {
				if (p == end || *p != ',')
					return -EPROTO;
				p = ws(p + 1, end);
			}
			if (p == end || *p != '"')
				return -EPROTO;
			k = p;
			p = skip_string(p, end, &err);
			if (!p)
				return -EPROTO;
			p = ws(p, end);
			if (p == end || *p != ':')
				return -EPROTO;
			p = ws(p + 1, end);
			found = !unescape(k, key, sizeof(key)) &&
				strlen(key) == seglen &&
				!memcmp(key, seg, seglen);
			if (!found) {
				p = skip_value(p, end, 1, &err);
				if (!p)
					return -EPROTO;
			}
		}
		seg += seglen;
		if (*seg == '.')
			seg++;
	}
}

/*
 * The text of the number at @path, NUL-terminated in @num (@size bytes):
 * 0, -ENOENT, -EPROTO, or -EINVAL if it is not a number or too long.
 */
static int number_text(const char *json, const char *path, char *num,
		       size_t size)
{
	const char *s;
	size_t n;
	int ret = qmp_json_find(json, path, &s, &n);

	if (ret)
		return ret;
	if (!(*s == '-' || (*s >= '0' && *s <= '9')) || n >= size)
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	return 0;
}

int qmp_json_number(const char *json, const char *path, double *v)
{
	char *e, num[64];
	int ret = number_text(json, path, num, sizeof(num));

	if (ret)
		return ret;
	*v = strtod(num, &e);
	return *e ? -EINVAL : 0;
}

int qmp_json_int(const char *json, const char *path, long long *v)
{
	char *e, num[32];
	int ret = number_text(json, path, num, sizeof(num));

	if (ret)
		return ret;
	errno = 0;
	*v = strtoll(num, &e, 10);
	return *e || errno ? -EINVAL : 0;
}

int qmp_json_bool(const char *json, const char *path, int *v)
{
	const char *s;
	size_t n;
	int ret = qmp_json_find(json, path, &s, &n);

	if (ret)
		return ret;
	if (n == 4 && !memcmp(s, "true", 4))
		*v = 1;
	else if (n == 5 && !memcmp(s, "false", 5))
		*v = 0;
	else
		return -EINVAL;
	return 0;
}

int qmp_json_string(const char *json, const char *path, char *buf,
		    size_t size)
{
	const char *s;
	size_t n;
	int ret = qmp_json_find(json, path, &s, &n);

	if (ret)
		return ret;
	if (*s != '"')
		return -EINVAL;
	return unescape(s, buf, size);
}

int qmp_json_quote(const char *s, char *buf, size_t size)
{
	size_t n = 0;
	char esc[8];
	int k;

	for (;; s++) {
		if (!*s)
			k = snprintf(esc, sizeof(esc), "\"");
		else if (*s == '"' || *s == '\\')
			k = snprintf(esc, sizeof(esc), "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			k = snprintf(esc, sizeof(esc), "\\u%04x", *s);
		else
			k = snprintf(esc, sizeof(esc), "%c", *s);
		if (n + k + (n == 0) >= size)
			return -ENOSPC;
		if (n == 0)
			buf[n++] = '"';
		memcpy(buf + n, esc, k);
		n += k;
		if (!*s)
			break;
	}
	buf[n] = '\0';
	return n;
}

/* ---- the connection -------------------------------------------------------- */

static void set_error(struct qmp *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));	/* userspace: no __printf */

static void set_error(struct qmp *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->error, sizeof(q->error), fmt, ap);
	va_end(ap);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Wait until @fd is ready for @events or @deadline (now_ms()) passes. */
static int wait_fd(struct qmp *q, short events, long long deadline)
{
	struct pollfd pfd = { .fd = q->fd, .events = events };
	long long left;
	int r;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0) {
			set_error(q, "no answer from QEMU in time");
			return -ETIMEDOUT;
		}
		r = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR) {
			set_error(q, "poll: %s", strerror(errno));
			return -errno;
		}
	}
}

/* Send @len bytes of @buf, @passfd (if >= 0) with the first of them. */
static int send_all(struct qmp *q, const char *buf, size_t len, int passfd,
		    long long deadline)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} c;
	struct iovec iov;
	struct msghdr m;
	struct cmsghdr *cm;
	ssize_t n;
	int ret;

	while (len) {
		memset(&m, 0, sizeof(m));
		iov.iov_base = (void *)buf;
		iov.iov_len = len;
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		if (passfd >= 0) {
			memset(&c, 0, sizeof(c));
			m.msg_control = c.buf;
			m.msg_controllen = sizeof(c.buf);
			cm = CMSG_FIRSTHDR(&m);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
		}
		n = sendmsg(q->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				ret = wait_fd(q, POLLOUT, deadline);
				if (ret)
					return ret;
				continue;
			}
			set_error(q, "send to QEMU: %s", strerror(errno));
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		passfd = -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * The next complete message (a JSON object) from QEMU, malloc'ed in
 * *@msg, reading until @deadline as needed.
 */
static int read_message(struct qmp *q, long long deadline, char **msg)
{
	const char *s, *e;
	size_t skip;
	ssize_t n;
	char *nb;
	int err = 0, ret;

	for (;;) {
		s = ws(q->buf, q->buf + q->len);
		skip = s - q->buf;
		if (skip < q->len) {
			if (*s != '{') {
				set_error(q, "QEMU sent a message that is not a JSON object");
				return -EPROTO;
			}
			e = skip_value(s, q->buf + q->len, 0, &err);
			if (e) {
				*msg = strndup(s, e - s);
				if (!*msg)
					return -ENOMEM;
				q->len -= e - q->buf;
				memmove(q->buf, e, q->len);
				return 0;
			}
			if (err != -EAGAIN) {
				set_error(q, "QEMU sent malformed JSON: %.60s", s);
				return -EPROTO;
			}
		}
		if (q->cap - q->len < 4096) {
			if (q->cap >= MSG_MAX) {
				set_error(q, "QEMU sent a message over %u bytes",
					  MSG_MAX);
				return -EPROTO;
			}
			nb = realloc(q->buf, q->cap ? q->cap * 2 : 16384);
			if (!nb)
				return -ENOMEM;
			q->buf = nb;
			q->cap = q->cap ? q->cap * 2 : 16384;
		}
		ret = wait_fd(q, POLLIN, deadline);
		if (ret)
			return ret;
		n = recv(q->fd, q->buf + q->len, q->cap - q->len, MSG_DONTWAIT);
		if (n == 0) {
			set_error(q, "QEMU closed the QMP connection");
			return -ECONNRESET;
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			set_error(q, "receive from QEMU: %s", strerror(errno));
			return -errno;
		}
		q->len += n;
	}
}

/* Keep event @msg (taking it), dropping the oldest one if full. */
static void keep_event(struct qmp *q, char *msg)
{
	if (q->nevents == QMP_EVENTS_MAX) {
		free(q->events[0]);
		memmove(q->events, q->events + 1,
			--q->nevents * sizeof(q->events[0]));
	}
	q->events[q->nevents++] = msg;
}

static int is_event(const char *msg)
{
	const char *v;
	size_t n;

	return !qmp_json_find(msg, "event", &v, &n);
}

/* @cmd is a QMP command name: letters, digits, '-' and '_' only. */
static int valid_name(const char *cmd)
{
	return *cmd && strspn(cmd, "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") ==
		       strlen(cmd);
}

/* @args is one JSON object and nothing else. */
static int valid_args(const char *args)
{
	const char *end = args + strlen(args), *p = ws(args, end);
	int err = 0;

	if (p == end || *p != '{')
		return 0;
	p = skip_value(p, end, 0, &err);
	return p && ws(p, end) == end;
}

int qmp_execute_fd(struct qmp *q, const char *cmd, const char *args,
		   int fd, char **ret)
{
	long long deadline = now_ms() + q->timeout_ms, id;
	char *req, *msg, cls[128], desc[384];
	unsigned long want = q->next_id++;
	const char *v;
	size_t n;
	int r;

	if (ret)
		*ret = NULL;
	if (q->fd < 0) {
		set_error(q, "not connected");
		return -ENOTCONN;
	}
	if (!valid_name(cmd) || (args && !valid_args(args))) {
		set_error(q, "%s: not a command name with a JSON object of arguments",
			  cmd);
		return -EINVAL;
	}
	if (asprintf(&req, "{\"execute\": \"%s\"%s%s, \"id\": %lu}\r\n", cmd,
		     args ? ", \"arguments\": " : "", args ? args : "",
		     want) < 0)
		return -ENOMEM;
	r = send_all(q, req, strlen(req), fd, deadline);
	free(req);
	if (r)
		return r;
	for (;;) {
		r = read_message(q, deadline, &msg);
		if (r)
			return r;
		if (is_event(msg)) {
			keep_event(q, msg);
			continue;
		}
		/* an answer to an earlier command that timed out: not ours */
		if (qmp_json_int(msg, "id", &id) || id < 0 ||
		    (unsigned long)id != want) {
			free(msg);
			continue;
		}
		break;
	}
	if (!qmp_json_find(msg, "error", &v, &n)) {
		if (qmp_json_string(msg, "error.class", cls, sizeof(cls)))
			snprintf(cls, sizeof(cls), "Error");
		if (qmp_json_string(msg, "error.desc", desc, sizeof(desc)))
			snprintf(desc, sizeof(desc), "(no description)");
		set_error(q, "%s: %s", cls, desc);
		free(msg);
		return -EREMOTEIO;
	}
	r = qmp_json_find(msg, "return", &v, &n);
	if (r) {
		set_error(q, "QEMU answered %s with neither return nor error",
			  cmd);
		free(msg);
		return -EPROTO;
	}
	if (ret) {
		*ret = strndup(v, n);
		if (!*ret)
			r = -ENOMEM;
	}
	free(msg);
	return r;
}

int qmp_execute(struct qmp *q, const char *cmd, const char *args,
		char **ret)
{
	return qmp_execute_fd(q, cmd, args, -1, ret);
}

int qmp_wait_event(struct qmp *q, const char *name, int timeout_ms,
		   char **event)
{
	long long deadline = now_ms() + timeout_ms;
	char ev[128], *msg;
	size_t i;
	int r;

	if (event)
		*event = NULL;
	for (i = 0; i < q->nevents; i++) {
		if (qmp_json_string(q->events[i], "event", ev, sizeof(ev)) ||
		    strcmp(ev, name))
			continue;
		msg = q->events[i];
		memmove(q->events + i, q->events + i + 1,
			(--q->nevents - i) * sizeof(q->events[0]));
		goto found;
	}
	if (q->fd < 0) {
		set_error(q, "not connected");
		return -ENOTCONN;
	}
	for (;;) {
		r = read_message(q, deadline, &msg);
		if (r == -ETIMEDOUT)
			set_error(q, "no %s event in %d ms", name, timeout_ms);
		if (r)
			return r;
		if (!is_event(msg)) {
			free(msg);	/* a late answer: nobody waits for it */
			continue;
		}
		if (!qmp_json_string(msg, "event", ev, sizeof(ev)) &&
		    !strcmp(ev, name))
			break;
		keep_event(q, msg);
	}
found:
	if (event)
		*event = msg;
	else
		free(msg);
	return 0;
}

void qmp_drop_events(struct qmp *q)
{
	while (q->nevents)
		free(q->events[--q->nevents]);
}

int qmp_attach(struct qmp *q, int fd, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms, v[3];
	char *msg;
	int r, i;
	static const char *const part[3] = {
		"QMP.version.qemu.major", "QMP.version.qemu.minor",
		"QMP.version.qemu.micro",
	};

	memset(q, 0, sizeof(*q));
	q->fd = fd;
	q->timeout_ms = QMP_TIMEOUT_MS;
	q->next_id = 1;
	do {
		r = read_message(q, deadline, &msg);
		if (r)
			goto fail;
		if (!is_event(msg))
			break;
		keep_event(q, msg);
	} while (1);
	for (i = 0; i < 3; i++)
		if (qmp_json_int(msg, part[i], &v[i]))
			break;
	free(msg);
	if (i < 3) {
		set_error(q, "no QMP greeting from the other end");
		r = -EPROTO;
		goto fail;
	}
	for (i = 0; i < 3; i++)
		q->version[i] = v[i];
	q->timeout_ms = timeout_ms;
	r = qmp_execute(q, "qmp_capabilities", NULL, NULL);
	q->timeout_ms = QMP_TIMEOUT_MS;
	if (r)
		goto fail;
	return 0;
fail:
	/* keep the reason across the close */
	close(q->fd);
	q->fd = -1;
	qmp_drop_events(q);
	free(q->buf);
	q->buf = NULL;
	q->len = q->cap = 0;
	return r;
}

int qmp_open(struct qmp *q, const char *path, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	int fd, err;

	memset(q, 0, sizeof(*q));
	q->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		set_error(q, "%s: socket path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			set_error(q, "socket: %s", strerror(errno));
			return -errno;
		}
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		err = errno;
		close(fd);
		if ((err != ENOENT && err != ECONNREFUSED && err != EAGAIN) ||
		    now_ms() >= deadline) {
			set_error(q, "connect to %s: %s", path, strerror(err));
			return -err;
		}
		nanosleep(&tick, NULL);
	}
	timeout_ms = deadline - now_ms();
	return qmp_attach(q, fd, timeout_ms > 0 ? timeout_ms : 1);
}

void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	qmp_drop_events(q);
	free(q->buf);
	q->buf = NULL;
	q->len = q->cap = 0;
}
