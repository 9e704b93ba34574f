// SPDX-License-Identifier: GPL-2.0
/* partmobctl info: what the loaded module reports about itself. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <linux/partmob.h>

#include "json.h"
#include "nl.h"
#include "partmobctl.h"

struct info {
	char version[64];
	char arch[64];
	char release[128];
	uint32_t wire_version;
	uint32_t page_size;
	uint64_t features;
	int have;
};

static const struct {
	uint64_t bit;
	const char *name;
} features[] = {
	{ PARTMOB_F_INFO, "info" },
	{ PARTMOB_F_REGIONS, "regions" },
	{ PARTMOB_F_MIGRATION, "migration" },
	{ PARTMOB_F_GROUP, "group" },
};

static void copy_str(char *dst, size_t n, struct nlattr *a)
{
	snprintf(dst, n, "%s", a ? nla_get_string(a) : "");
}

static int parse_info(struct nlattr **tb, void *arg)
{
	struct info *in = arg;

	if (!tb[PARTMOB_A_INFO_MODULE_VERSION] ||
	    !tb[PARTMOB_A_INFO_WIRE_VERSION] ||
	    !tb[PARTMOB_A_INFO_PAGE_SIZE] || !tb[PARTMOB_A_INFO_ARCH] ||
	    !tb[PARTMOB_A_INFO_FEATURES])
		return -EBADMSG;
	copy_str(in->version, sizeof(in->version),
		 tb[PARTMOB_A_INFO_MODULE_VERSION]);
	copy_str(in->arch, sizeof(in->arch), tb[PARTMOB_A_INFO_ARCH]);
	copy_str(in->release, sizeof(in->release),
		 tb[PARTMOB_A_INFO_KERNEL_RELEASE]);
	in->wire_version = nla_get_u32(tb[PARTMOB_A_INFO_WIRE_VERSION]);
	in->page_size = nla_get_u32(tb[PARTMOB_A_INFO_PAGE_SIZE]);
	in->features = nla_get_u64(tb[PARTMOB_A_INFO_FEATURES]);
	in->have = 1;
	return 0;
}

static void info_help(FILE *f)
{
	fprintf(f,
		"Usage: %s info [-j|--json] [-p|--pretty]\n"
		"\n"
		"Show what the loaded partmob module reports: module version,\n"
		"wire-protocol version, page size (the unit of dirty tracking),\n"
		"architecture, kernel release and feature bits.\n"
		"Needs CAP_NET_ADMIN.\n", pm_prog);
}

static void print_text(const struct info *in)
{
	size_t i;

	printf("module version: %s\n", in->version);
	printf("wire protocol:  %" PRIu32 "\n", in->wire_version);
	printf("page size:      %" PRIu32 "\n", in->page_size);
	printf("arch:           %s\n", in->arch);
	printf("kernel:         %s\n", in->release);
	printf("features:      ");
	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		if (in->features & features[i].bit)
			printf(" %s", features[i].name);
	if (in->features & ~(uint64_t)__PARTMOB_F_ALL)
		printf(" unknown:0x%" PRIx64,
		       in->features & ~(uint64_t)__PARTMOB_F_ALL);
	printf("\n");
}

static void print_json(const struct info *in, bool pretty)
{
	struct json j;
	size_t i;

	json_init(&j, stdout, pretty);
	json_open(&j, NULL);
	json_str(&j, "module_version", in->version);
	json_u64(&j, "wire_version", in->wire_version);
	json_u64(&j, "page_size", in->page_size);
	json_str(&j, "arch", in->arch);
	json_str(&j, "kernel_release", in->release);
	json_u64(&j, "features_mask", in->features);
	json_open_array(&j, "features");
	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		if (in->features & features[i].bit)
			json_str(&j, NULL, features[i].name);
	json_close_array(&j);
	json_close(&j);
	json_end(&j);
}

int cmd_info(int argc, char **argv, struct pm_opts *o)
{
	struct info in;
	struct pm_nl nl;
	struct nl_msg *msg;
	int first, ret;

	ret = pm_parse_common(argc, argv, o, info_help, &first);
	if (ret >= 0)
		return ret;
	if (first < argc)
		return pm_usage_error("info", "unexpected argument '%s'",
				      argv[first]);

	ret = pm_nl_open(&nl);
	if (ret)
		return ret;
	memset(&in, 0, sizeof(in));
	msg = pm_nl_msg(&nl, PARTMOB_CMD_GET_INFO, 0);
	if (!msg) {
		pm_nl_close(&nl);
		fprintf(stderr, "%s: out of memory\n", pm_prog);
		return PM_EXIT_FAIL;
	}
	ret = pm_nl_request(&nl, msg, parse_info, &in);
	if (ret < 0) {
		if (ret == -EBADMSG && !nl.err) {
			fprintf(stderr,
				"%s: info: the module's answer lacks required attributes\n",
				pm_prog);
			pm_nl_close(&nl);
			return PM_EXIT_FAIL;
		}
		ret = pm_nl_report(&nl, "info");
		pm_nl_close(&nl);
		return ret;
	}
	pm_nl_close(&nl);
	if (!in.have) {
		fprintf(stderr, "%s: info: no answer from the module\n", pm_prog);
		return PM_EXIT_FAIL;
	}
	if (o->json)
		print_json(&in, o->pretty);
	else
		print_text(&in);
	return PM_EXIT_OK;
}
