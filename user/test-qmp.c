// SPDX-License-Identifier: GPL-2.0
/*
 * Unit test of qmp.c alone: the JSON reader on valid, tricky and broken
 * text; the client against a scripted QMP server in a child process over
 * a socketpair (greeting, capabilities, answers split into single bytes,
 * pretty-printed, interleaved with events, stale ids, errors, EOF,
 * garbage, deadlines, a file descriptor passed with SCM_RIGHTS); and, if
 * the host has qemu-system-x86_64, against a real QEMU (-M none -S).
 *
 *   make -C user test          (add SANITIZE=1 for ASan + UBSan)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "qmp.h"

#include "check.h"

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 3, " \
		 "\"minor\": 2, \"major\": 7}, \"package\": \"x\"}, "  \
		 "\"capabilities\": [\"oob\"]}}\r\n"

/* ---- the JSON reader ---------------------------------------------------- */

static void test_json(void)
{
	const char *doc =
		"{ \"status\" : \"completed\", \"a\": {\"b\": \"x\"}, "
		"\"b\": {\"c\": 1}, \"str\": \"q\\\"{}\\\\\\n\\u00e9\\ud83d\\ude00\","
		" \"ram\": {\"total\": 1073741824, \"normal\": 262144, "
		"\"mbps\": 3.5e2, \"neg\": -7, \"list\": [1, {\"x\": [2]}, \"]\"]},"
		" \"t\": true, \"f\": false, \"n\": null, \"e\\u0041\": 5 }";
	char buf[64], small[4];
	long long i;
	double d;
	const char *v;
	size_t n;
	int b;

	CHECK(!qmp_json_string(doc, "status", buf, sizeof(buf)) &&
	      !strcmp(buf, "completed"));
	CHECK(!qmp_json_int(doc, "ram.normal", &i) && i == 262144);
	CHECK(!qmp_json_int(doc, "ram.total", &i) && i == 1073741824LL);
	CHECK(!qmp_json_int(doc, "ram.neg", &i) && i == -7);
	CHECK(!qmp_json_number(doc, "ram.mbps", &d) && d == 350.0);
	CHECK(qmp_json_int(doc, "ram.mbps", &i) == -EINVAL);
	/* "b" at the top level, not the one inside "a" */
	CHECK(!qmp_json_int(doc, "b.c", &i) && i == 1);
	CHECK(!qmp_json_string(doc, "a.b", buf, sizeof(buf)) &&
	      !strcmp(buf, "x"));
	/* a key spelt with an escape */
	CHECK(!qmp_json_int(doc, "eA", &i) && i == 5);
	CHECK(!qmp_json_string(doc, "str", buf, sizeof(buf)) &&
	      !strcmp(buf, "q\"{}\\\n\xc3\xa9\xf0\x9f\x98\x80"));
	CHECK(qmp_json_string(doc, "str", small, sizeof(small)) == -ENOSPC);
	CHECK(qmp_json_string(doc, "ram", buf, sizeof(buf)) == -EINVAL);
	CHECK(!qmp_json_bool(doc, "t", &b) && b == 1);
	CHECK(!qmp_json_bool(doc, "f", &b) && b == 0);
	CHECK(qmp_json_bool(doc, "n", &b) == -EINVAL);
	CHECK(!qmp_json_find(doc, "ram.list", &v, &n) &&
	      n == strlen("[1, {\"x\": [2]}, \"]\"]") && !memcmp(v, "[1,", 3));
	CHECK(!qmp_json_find(doc, "", &v, &n) && v == doc && n == strlen(doc));
	CHECK(qmp_json_find(doc, "missing", &v, &n) == -ENOENT);
	CHECK(qmp_json_find(doc, "ram.missing", &v, &n) == -ENOENT);
	CHECK(qmp_json_find(doc, "status.x", &v, &n) == -ENOENT);
	CHECK(qmp_json_find(doc, "ram.list.x", &v, &n) == -ENOENT);
	/* a prefix of a key is not the key */
	CHECK(qmp_json_find(doc, "stat", &v, &n) == -ENOENT);
	CHECK(qmp_json_find(doc, "statuss", &v, &n) == -ENOENT);

	/* broken text before the member is found: -EPROTO */
	CHECK(qmp_json_find("{\"a\": [1,}, \"b\": 1}", "b", &v, &n) == -EPROTO);
	CHECK(qmp_json_find("{\"a\" 1}", "a", &v, &n) == -EPROTO);
	CHECK(qmp_json_find("{\"a\": tru}", "a", &v, &n) == -EPROTO);
	CHECK(qmp_json_find("{\"a\": \"x\\q\"}", "a", &v, &n) == -EPROTO);
	CHECK(qmp_json_find("{\"a\": 1", "b", &v, &n) == -EPROTO);
	CHECK(qmp_json_find("{\"a\": \"\x01\"}", "a", &v, &n) == -EPROTO);
	CHECK(qmp_json_find("", "a", &v, &n) == -EPROTO);

	CHECK(qmp_json_quote("a\"b\\c\n", buf, sizeof(buf)) == 15 &&
	      !strcmp(buf, "\"a\\\"b\\\\c\\u000a\""));
	CHECK(qmp_json_quote("abc", small, sizeof(small)) == -ENOSPC);
	CHECK(qmp_json_quote("a", small, sizeof(small)) == 3 &&
	      !strcmp(small, "\"a\""));
	/* what quote writes, the reader reads back */
	{
		char obj[128], q[64];

		qmp_json_quote("/tmp/x \"y\"\t", q, sizeof(q));
		snprintf(obj, sizeof(obj), "{\"p\": %s}", q);
		CHECK(!qmp_json_string(obj, "p", buf, sizeof(buf)) &&
		      !strcmp(buf, "/tmp/x \"y\"\t"));
	}
}

/* ---- a scripted server ------------------------------------------------------ */

static int srv_fd;

/* Write @s, one byte per write if @trickle. */
static void srv_send(const char *s, int trickle)
{
	size_t n = strlen(s), i;

	if (!trickle) {
		if (write(srv_fd, s, n) != (ssize_t)n)
			_exit(90);
		return;
	}
	for (i = 0; i < n; i++)
		if (write(srv_fd, s + i, 1) != 1)
			_exit(90);
}

/* Read one request (up to its CRLF); returns its "id" and copies it. */
static long long srv_recv(char *req, size_t size, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} c;
	size_t n = 0;
	long long id = -1;
	struct msghdr m;
	struct iovec iov;
	struct cmsghdr *cm;

	if (fd)
		*fd = -1;
	while (n + 1 < size) {
		memset(&m, 0, sizeof(m));
		iov.iov_base = req + n;
		iov.iov_len = 1;
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = c.buf;
		m.msg_controllen = sizeof(c.buf);
		if (recvmsg(srv_fd, &m, 0) != 1)
			_exit(91);
		for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
			if (cm->cmsg_type == SCM_RIGHTS && fd)
				memcpy(fd, CMSG_DATA(cm), sizeof(int));
		if (req[n++] == '\n')
			break;
	}
	req[n] = '\0';
	qmp_json_int(req, "id", &id);
	return id;
}

/* The greeting, then the capabilities negotiation, checked. */
static void srv_hello(void)
{
	char req[256], cmd[64];
	long long id;

	srv_send(GREETING, 0);
	id = srv_recv(req, sizeof(req), NULL);
	if (qmp_json_string(req, "execute", cmd, sizeof(cmd)) ||
	    strcmp(cmd, "qmp_capabilities"))
		_exit(92);
	snprintf(req, sizeof(req), "{\"return\": {}, \"id\": %lld}\r\n", id);
	srv_send(req, 0);
}

static void srv_script(int step)
{
	char req[512], out[1024], cmd[64], arg[64], data[64];
	long long id;
	int fd;
	ssize_t n;

	srv_hello();
	switch (step) {
	case 0:	/* answers split, pretty, after events and a stale answer */
		id = srv_recv(req, sizeof(req), NULL);
		if (qmp_json_string(req, "execute", cmd, sizeof(cmd)) ||
		    qmp_json_string(req, "arguments.path", arg, sizeof(arg)))
			_exit(93);
		srv_send("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2},"
			 " \"event\": \"STOP\"}\r\n", 1);
		srv_send("{\"return\": {\"stale\": true}, \"id\": 9999}\r\n", 0);
		srv_send("{\"event\": \"MIGRATION\", \"data\": {\"status\": "
			 "\"setup\"}}\r\n", 0);
		snprintf(out, sizeof(out),
			 "{\n    \"return\": {\n        \"cmd\": \"%s\",\n"
			 "        \"path\": \"%s\", \"brace\": \"}{\"\n    },\n"
			 "    \"id\": %lld\n}\n", cmd, arg, id);
		srv_send(out, 1);
		/* an error answer */
		id = srv_recv(req, sizeof(req), NULL);
		snprintf(out, sizeof(out),
			 "{\"id\": %lld, \"error\": {\"class\": \"GenericError\","
			 " \"desc\": \"no \\\"such\\\" thing\"}}\r\n", id);
		srv_send(out, 0);
		/* an event later, after a while */
		usleep(50 * 1000);
		srv_send("{\"event\": \"MIGRATION\", \"data\": {\"status\": "
			 "\"completed\"}}\r\n", 0);
		/* then wait for the client to go */
		n = read(srv_fd, req, 1);
		_exit(n == 0 ? 0 : 94);
	case 1:	/* a file descriptor with the command */
		id = srv_recv(req, sizeof(req), &fd);
		memset(data, 0, sizeof(data));
		if (fd < 0 || read(fd, data, sizeof(data) - 1) <= 0)
			_exit(95);
		close(fd);
		snprintf(out, sizeof(out), "{\"return\": {\"read\": \"%s\"}, "
			 "\"id\": %lld}\r\n", data, id);
		srv_send(out, 0);
		n = read(srv_fd, req, 1);
		_exit(0);
	case 2:	/* half an answer, then EOF */
		srv_recv(req, sizeof(req), NULL);
		srv_send("{\"return\": {\"x\"", 0);
		_exit(0);
	case 3:	/* garbage */
		srv_recv(req, sizeof(req), NULL);
		srv_send("{\"return\": nope}\r\n", 0);
		n = read(srv_fd, req, 1);
		_exit(0);
	case 4:	/* never answers */
		srv_recv(req, sizeof(req), NULL);
		n = read(srv_fd, req, 1);
		_exit(0);
	}
	_exit(96);
}

/* Start script @step in a child; returns its pid, *@fd our end. */
static pid_t start_server(int step, int *fd)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	pid = fork();
	if (pid < 0)
		abort();
	if (!pid) {
		close(sv[0]);
		srv_fd = sv[1];
		alarm(20);
		srv_script(step);
	}
	close(sv[1]);
	*fd = sv[0];
	return pid;
}

static int reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_protocol(void)
{
	struct qmp q;
	char *ret, *ev, buf[64];
	int fd, p[2];
	long long v;
	pid_t pid;

	pid = start_server(0, &fd);
	CHECK(!qmp_attach(&q, fd, 5000));
	CHECK(q.version[0] == 7 && q.version[1] == 2 && q.version[2] == 3);
	CHECK(!qmp_execute(&q, "test-cmd", "{\"path\": \"/a b\"}", &ret));
	CHECK(ret && !qmp_json_string(ret, "cmd", buf, sizeof(buf)) &&
	      !strcmp(buf, "test-cmd"));
	CHECK(ret && !qmp_json_string(ret, "path", buf, sizeof(buf)) &&
	      !strcmp(buf, "/a b"));
	CHECK(ret && !qmp_json_string(ret, "brace", buf, sizeof(buf)) &&
	      !strcmp(buf, "}{"));
	/* the stale answer (id 9999) was not taken for ours */
	CHECK(ret && qmp_json_find(ret, "stale", &(const char *){ 0 },
				   &(size_t){ 0 }) == -ENOENT);
	free(ret);
	/* the events that came before the answer were kept, in order */
	CHECK(q.nevents == 2);
	CHECK(qmp_execute(&q, "fail", NULL, &ret) == -EREMOTEIO && !ret);
	CHECK(!strcmp(q.error, "GenericError: no \"such\" thing"));
	CHECK(!qmp_wait_event(&q, "MIGRATION", 5000, &ev));
	CHECK(ev && !qmp_json_string(ev, "data.status", buf, sizeof(buf)) &&
	      !strcmp(buf, "setup"));
	free(ev);
	CHECK(!qmp_wait_event(&q, "STOP", 5000, &ev));
	CHECK(ev && !qmp_json_int(ev, "timestamp.microseconds", &v) && v == 2);
	free(ev);
	/* not kept: read from the socket when it comes */
	CHECK(!qmp_wait_event(&q, "MIGRATION", 5000, &ev));
	CHECK(ev && !qmp_json_string(ev, "data.status", buf, sizeof(buf)) &&
	      !strcmp(buf, "completed"));
	free(ev);
	CHECK(q.nevents == 0);
	CHECK(qmp_wait_event(&q, "RESUME", 100, NULL) == -ETIMEDOUT);
	/* bad names and arguments never reach the wire */
	CHECK(qmp_execute(&q, "x\", \"y", NULL, NULL) == -EINVAL);
	CHECK(qmp_execute(&q, "", NULL, NULL) == -EINVAL);
	CHECK(qmp_execute(&q, "x", "[1]", NULL) == -EINVAL);
	CHECK(qmp_execute(&q, "x", "{\"a\": 1} {", NULL) == -EINVAL);
	CHECK(qmp_execute(&q, "x", "{\"a\": }", NULL) == -EINVAL);
	qmp_close(&q);
	CHECK(reap(pid) == 0);
	CHECK(qmp_execute(&q, "x", NULL, NULL) == -ENOTCONN);

	pid = start_server(1, &fd);
	CHECK(!qmp_attach(&q, fd, 5000));
	CHECK(!pipe(p) && write(p[1], "hello-fd", 8) == 8);
	CHECK(!qmp_execute_fd(&q, "getfd", "{\"fdname\": \"f\"}", p[0], &ret));
	CHECK(ret && !qmp_json_string(ret, "read", buf, sizeof(buf)) &&
	      !strcmp(buf, "hello-fd"));
	free(ret);
	/* still ours */
	CHECK(fcntl(p[0], F_GETFD) >= 0);
	close(p[0]);
	close(p[1]);
	qmp_close(&q);
	CHECK(reap(pid) == 0);

	pid = start_server(2, &fd);
	CHECK(!qmp_attach(&q, fd, 5000));
	CHECK(qmp_execute(&q, "x", NULL, NULL) == -ECONNRESET);
	qmp_close(&q);
	CHECK(reap(pid) == 0);

	pid = start_server(3, &fd);
	CHECK(!qmp_attach(&q, fd, 5000));
	CHECK(qmp_execute(&q, "x", NULL, NULL) == -EPROTO);
	qmp_close(&q);
	CHECK(reap(pid) == 0);

	pid = start_server(4, &fd);
	CHECK(!qmp_attach(&q, fd, 5000));
	q.timeout_ms = 100;
	CHECK(qmp_execute(&q, "x", NULL, NULL) == -ETIMEDOUT);
	qmp_close(&q);
	CHECK(reap(pid) == 0);
}

/* A peer that is not QMP: no greeting, or not JSON. */
static void test_no_greeting(void)
{
	static const char *const bad[] = {
		"{\"hello\": 1}\r\n", "220 smtp ready\r\n", "",
	};
	struct qmp q;
	unsigned int i;
	int sv[2];

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			abort();
		CHECK(write(sv[1], bad[i], strlen(bad[i])) ==
		      (ssize_t)strlen(bad[i]));
		if (!bad[i][0])
			close(sv[1]);
		CHECK(qmp_attach(&q, sv[0], 200) ==
		      (bad[i][0] ? -EPROTO : -ECONNRESET));
		CHECK(q.fd == -1 && q.error[0]);
		qmp_close(&q);
		if (bad[i][0])
			close(sv[1]);
	}
}

/* qmp_open: waits for the socket to appear, gives up at its deadline. */
static void test_open(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/test-qmp-XXXXXX", path[128];
	struct qmp q;
	pid_t pid;
	int l, c;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/qmp.sock", dir);
	CHECK(qmp_open(&q, path, 100) == -ENOENT && strstr(q.error, path));
	pid = fork();
	if (!pid) {
		usleep(100 * 1000);	/* QEMU still starting */
		l = socket(AF_UNIX, SOCK_STREAM, 0);
		strcpy(sa.sun_path, path);
		if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
		    listen(l, 1))
			_exit(97);
		c = accept(l, NULL, NULL);
		if (c < 0)
			_exit(98);
		srv_fd = c;
		srv_hello();
		l = read(c, path, 1);
		_exit(0);
	}
	CHECK(!qmp_open(&q, path, 5000));
	CHECK(q.version[0] == 7);
	qmp_close(&q);
	CHECK(reap(pid) == 0);
	unlink(path);
	rmdir(dir);
	memset(path, 'x', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	CHECK(qmp_open(&q, path, 100) == -ENAMETOOLONG);
}

/* The same against the real thing, if the host has it. */
static void test_real_qemu(void)
{
	static const char *const qemu = "/usr/bin/qemu-system-x86_64";
	char dir[] = "/tmp/test-qmp-XXXXXX", path[128], opt[160], buf[64];
	char args[160], *ret, *ev;
	struct qmp q;
	long long v;
	int p[2];
	pid_t pid;

	if (access(qemu, X_OK)) {
		printf("test-qmp: SKIP real QEMU: no %s\n", qemu);
		return;
	}
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/qmp.sock", dir);
	snprintf(opt, sizeof(opt), "unix:%s,server=on,wait=off", path);
	pid = fork();
	if (!pid) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		execl(qemu, qemu, "-M", "none", "-S", "-display", "none",
		      "-nodefaults", "-no-user-config", "-qmp", opt, NULL);
		_exit(127);
	}
	CHECK(!qmp_open(&q, path, 20000));
	if (q.fd < 0) {
		fprintf(stderr, "test-qmp: %s\n", q.error);
		kill(pid, SIGKILL);
		reap(pid);
		return;
	}
	CHECK(q.version[0] >= 2);
	CHECK(!qmp_execute(&q, "query-version", NULL, &ret));
	CHECK(ret && !qmp_json_int(ret, "qemu.major", &v) &&
	      v == q.version[0]);
	free(ret);
	CHECK(!qmp_execute(&q, "query-status", NULL, &ret));
	CHECK(ret && !qmp_json_string(ret, "status", buf, sizeof(buf)) &&
	      !strcmp(buf, "prelaunch"));
	free(ret);
	/* an fd QEMU takes, then closes by name */
	CHECK(!pipe(p));
	CHECK(!qmp_execute_fd(&q, "getfd", "{\"fdname\": \"t\"}", p[0], NULL));
	CHECK(!qmp_execute(&q, "closefd", "{\"fdname\": \"t\"}", NULL));
	CHECK(qmp_execute(&q, "closefd", "{\"fdname\": \"t\"}", NULL) ==
	      -EREMOTEIO && strstr(q.error, "GenericError"));
	/* getfd without an fd is QEMU's error, not ours */
	CHECK(qmp_execute(&q, "getfd", "{\"fdname\": \"u\"}", NULL) ==
	      -EREMOTEIO);
	close(p[0]);
	close(p[1]);
	qmp_json_quote(dir, buf, sizeof(buf));
	snprintf(args, sizeof(args), "{\"path\": %s}", buf);
	CHECK(qmp_execute(&q, "no-such-command", args, NULL) == -EREMOTEIO &&
	      strstr(q.error, "CommandNotFound"));
	CHECK(!qmp_execute(&q, "stop", NULL, NULL));
	CHECK(!qmp_execute(&q, "quit", NULL, NULL));
	CHECK(!qmp_wait_event(&q, "SHUTDOWN", 20000, &ev));
	CHECK(ev && !qmp_json_string(ev, "data.reason", buf, sizeof(buf)) &&
	      !strcmp(buf, "host-qmp-quit"));
	free(ev);
	qmp_close(&q);
	CHECK(reap(pid) == 0);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_json();
	test_protocol();
	test_no_greeting();
	test_open();
	test_real_qemu();
	printf("test-qmp: %d of %d checks failed\n", failures, checks);
	return failures ? 1 : 0;
}
