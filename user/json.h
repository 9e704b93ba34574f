/* SPDX-License-Identifier: GPL-2.0 */
/* Minimal JSON writer for --json output: objects, strings, numbers. */
#ifndef PARTMOBCTL_JSON_H
#define PARTMOBCTL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json {
	FILE *f;
	bool pretty;
	int depth;
	bool first;	/* no member written yet at this depth */
};

void json_init(struct json *j, FILE *f, bool pretty);
void json_open(struct json *j, const char *key);	/* "key": { or { */
void json_close(struct json *j);
void json_open_array(struct json *j, const char *key);
void json_close_array(struct json *j);
void json_str(struct json *j, const char *key, const char *val);
void json_u64(struct json *j, const char *key, uint64_t val);
void json_bool(struct json *j, const char *key, bool val);
void json_end(struct json *j);	/* final newline */

#endif
