// SPDX-License-Identifier: GPL-2.0
/*
 * partmobctl: control partmob, live partition mobility for KVM hosts.
 *
 *   partmobctl [-j|--json] [-p|--pretty] OBJECT [COMMAND] [ARGS]
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "partmobctl.h"

#define PARTMOBCTL_VERSION "0.1.0"

const char *pm_prog = "partmobctl";

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv, struct pm_opts *o);
	const char *summary;
} commands[] = {
	{ "info", cmd_info, "show the loaded module's version, page size, features" },
	{ "region", cmd_region, "create, list, delete, harvest, freeze and thaw regions" },
	{ "listen", cmd_listen, "receive migrations (the destination's service)" },
	{ "validate", cmd_validate, "ask a destination whether it would receive a region" },
	{ "start", cmd_start, "migrate a region to a destination and watch it" },
	{ "status", cmd_status, "show migrations: state, round, bytes, rates, times" },
	{ "abort", cmd_abort, "abort a migration before its decision" },
	{ "wait", cmd_wait, "wait until a migration has completed, failed or is in doubt" },
	{ "recover", cmd_recover, "settle a destination region left in doubt" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: %s [-j|--json] [-p|--pretty] OBJECT [COMMAND] [ARGS...]\n"
		"       %s OBJECT --help\n"
		"       %s --version\n"
		"\nObjects and commands:\n", pm_prog, pm_prog, pm_prog);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(f,
		"\nExit codes: 0 success, 1 operation failed, 2 usage error,\n"
		"3 partmob module not loaded, 4 permission denied,\n"
		"5 refused by the destination, 6 migration failed or aborted before\n"
		"the decision (the region runs on the source), 7 in doubt (use\n"
		"recover), 8 wait timed out.\n"
		"See partmobctl(8).\n");
}

/**
 * pm_usage_error() - report a command-line error
 * @cmd: the subcommand, for the hint
 * @fmt: printf format of the message
 *
 * Return: PM_EXIT_USAGE.
 */
int pm_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s: ", pm_prog, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", pm_prog, cmd);
	return PM_EXIT_USAGE;
}

/**
 * pm_parse_common() - options every subcommand takes
 * @argc: argument count, argv[0] is the subcommand
 * @argv: arguments
 * @o: options to update
 * @help: prints the subcommand's help
 * @first_arg: set to the index of the first non-option argument
 *
 * Return: -1 to go on, or an exit code (help printed, or usage error).
 */
int pm_parse_common(int argc, char **argv, struct pm_opts *o,
		    void (*help)(FILE *), int *first_arg)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jph", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'p':
			o->json = true;
			o->pretty = true;
			break;
		case 'h':
			help(stdout);
			return PM_EXIT_OK;
		default:
			return pm_usage_error(argv[0], "unknown option '%s'",
					      argv[optind - 1]);
		}
	}
	*first_arg = optind;
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct pm_opts o = { 0 };
	size_t i;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jphV", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 'p':
			o.json = true;
			o.pretty = true;
			break;
		case 'h':
			usage(stdout);
			return PM_EXIT_OK;
		case 'V':
			printf("partmobctl %s\n", PARTMOBCTL_VERSION);
			return PM_EXIT_OK;
		default:
			fprintf(stderr, "%s: unknown option '%s'\n", pm_prog,
				argv[optind - 1]);
			usage(stderr);
			return PM_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return PM_EXIT_USAGE;
	}
	if (!strcmp(argv[optind], "help")) {
		usage(stdout);
		return PM_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[optind], commands[i].name))
			return commands[i].fn(argc - optind, argv + optind, &o);

	fprintf(stderr, "%s: unknown object '%s'\n", pm_prog, argv[optind]);
	usage(stderr);
	return PM_EXIT_USAGE;
}
