// SPDX-License-Identifier: GPL-2.0
/* Minimal JSON writer for partmobctl --json. */
#include <inttypes.h>

#include "json.h"

void json_init(struct json *j, FILE *f, bool pretty)
{
	j->f = f;
	j->pretty = pretty;
	j->depth = 0;
	j->first = true;
}

static void put_escaped(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (c < 0x20)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

static void member(struct json *j, const char *key)
{
	if (j->depth > 0) {
		if (!j->first)
			fputc(',', j->f);
		if (j->pretty)
			fprintf(j->f, "\n%*s", 2 * j->depth, "");
		else if (!j->first)
			fputc(' ', j->f);
	}
	j->first = false;
	if (key) {
		put_escaped(j->f, key);
		fputs(": ", j->f);
	}
}

static void open_any(struct json *j, const char *key, char c)
{
	member(j, key);
	fputc(c, j->f);
	j->depth++;
	j->first = true;
}

static void close_any(struct json *j, char c)
{
	bool empty = j->first;

	j->depth--;
	if (j->pretty && !empty)
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	fputc(c, j->f);
	j->first = false;
}

void json_open(struct json *j, const char *key)
{
	open_any(j, key, '{');
}

void json_close(struct json *j)
{
	close_any(j, '}');
}

void json_open_array(struct json *j, const char *key)
{
	open_any(j, key, '[');
}

void json_close_array(struct json *j)
{
	close_any(j, ']');
}

void json_str(struct json *j, const char *key, const char *val)
{
	member(j, key);
	put_escaped(j->f, val);
}

void json_u64(struct json *j, const char *key, uint64_t val)
{
	member(j, key);
	fprintf(j->f, "%" PRIu64, val);
}

void json_bool(struct json *j, const char *key, bool val)
{
	member(j, key);
	fputs(val ? "true" : "false", j->f);
}

void json_end(struct json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}
