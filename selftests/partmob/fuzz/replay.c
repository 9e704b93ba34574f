// SPDX-License-Identifier: GPL-2.0
/*
 * Runs the fuzz target without libFuzzer (any C compiler, with ASan and
 * UBSan): every input file once, then MUTATIONS seeded mutations of each
 * (bytes flipped, overwritten, inserted or cut), for `make check`.
 *
 *   frame_replay [-m MUTATIONS] [-s SEED] FILE...
 *
 * Prints one TAP line for the run. A failed assertion or a sanitizer
 * report (run with ASAN_OPTIONS=abort_on_error=1 and the same for UBSAN)
 * aborts; the handler then names the file, mutation and seed, and writes
 * the input to ./replay-crash (give it to frame_fuzz to reproduce).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#define MAX_INPUT 65536

static struct {
	const char *file;
	long mutation;			/* -1: the file as it is */
	unsigned long long seed;
	const unsigned char *input;
	size_t len;
} cur;

/* SIGABRT: say what failed and keep the input; the process is dying. */
static void on_abort(int sig)
{
	char msg[512];
	int fd, n;

	n = snprintf(msg, sizeof(msg),
		     "not ok 1 - frame parser over the fuzz corpus: %s, mutation %ld, seed %llu; input in ./replay-crash\n",
		     cur.file, cur.mutation, cur.seed);
	if (n > 0)
		(void)!write(1, msg, (size_t)n < sizeof(msg) ? (size_t)n :
			     sizeof(msg) - 1);
	fd = open("replay-crash", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		(void)!write(fd, cur.input, cur.len);
		close(fd);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static unsigned int rnd(unsigned long long *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned int)(*s >> 33);
}

/* Damage @buf (@len bytes, room for MAX_INPUT) a little; the new length. */
static size_t mutate(unsigned char *buf, size_t len, unsigned long long *s)
{
	unsigned int k, n = 1 + rnd(s) % 4;
	size_t at, cnt;

	for (k = 0; k < n && len; k++) {
		at = rnd(s) % len;
		switch (rnd(s) % 5) {
		case 0:
			buf[at] ^= (unsigned char)(1u << (rnd(s) % 8));
			break;
		case 1:
			buf[at] = (unsigned char)rnd(s);
			break;
		case 2:		/* a field set to an edge value */
			buf[at] = rnd(s) % 2 ? 0xff : 0;
			break;
		case 3:		/* insert bytes */
			cnt = 1 + rnd(s) % 24;
			if (len + cnt > MAX_INPUT)
				break;
			memmove(buf + at + cnt, buf + at, len - at);
			for (size_t i = 0; i < cnt; i++)
				buf[at + i] = (unsigned char)rnd(s);
			len += cnt;
			break;
		default:	/* cut the stream short */
			len = at;
			break;
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	static unsigned char orig[MAX_INPUT], buf[MAX_INPUT];
	unsigned long long seed = 1, s;
	unsigned long mutations = 0, runs = 0;
	int opt, i;
	size_t len, mlen;
	FILE *f;

	signal(SIGABRT, on_abort);
	while ((opt = getopt(argc, argv, "m:s:")) != -1) {
		if (opt == 'm')
			mutations = strtoul(optarg, NULL, 0);
		else if (opt == 's')
			seed = strtoull(optarg, NULL, 0);
		else
			return 2;
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: %s [-m MUTATIONS] [-s SEED] FILE...\n",
			argv[0]);
		return 2;
	}
	for (i = optind; i < argc; i++) {
		f = fopen(argv[i], "rb");
		if (!f) {
			perror(argv[i]);
			printf("not ok 1 - frame parser over the fuzz corpus: cannot read %s\n",
			       argv[i]);
			return 1;
		}
		len = fread(orig, 1, sizeof(orig), f);
		fclose(f);
		cur.file = argv[i];
		cur.seed = seed;
		cur.mutation = -1;
		cur.input = orig;
		cur.len = len;
		LLVMFuzzerTestOneInput(orig, len);
		runs++;
		s = seed ^ (unsigned long long)i << 32;
		for (unsigned long k = 0; k < mutations; k++) {
			memcpy(buf, orig, len);
			mlen = mutate(buf, len, &s);
			cur.mutation = (long)k;
			cur.input = buf;
			cur.len = mlen;
			LLVMFuzzerTestOneInput(buf, mlen);
			runs++;
		}
	}
	printf("ok 1 - frame parser over the fuzz corpus (%d inputs, %lu runs, seed %llu)\n",
	       argc - optind, runs, seed);
	return 0;
}
