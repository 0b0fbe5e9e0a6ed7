/*
 * main.c - one binary, verbs: dispatch argv to the verb's entry point.
 * Not option parsing for the verbs beyond what each needs; each verb owns its flags.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "../auth/users.h"
#include "../conf/config.h"
#include "../net/server.h"

#define MAILPORT_VERSION "0.1.0"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport serve --config FILE [--check-config]\n"
	        "       mailport serve --defaults\n"
	        "       mailport version\n"
	        "\n"
	        "serve   run the SMTP server in the foreground (logs on stderr).\n"
	        "        --check-config  load FILE and the users file, print \"configuration OK\"\n"
	        "                        or every error as file:line (exit 78).\n"
	        "        --defaults      print every parameter with its default and meaning.\n");
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'n' },
		{ "defaults", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	int check = 0, ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:nh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'd':
			config_print_defaults(stdout);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (config == NULL || optind != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (check) {
		struct errlist errs = { 0 };
		struct config *c = config_load(config, &errs);
		int ok = c != NULL;
		if (c != NULL) {
			struct users *u = users_load(c->users, &errs);
			ok = u != NULL;
			users_free(u);
		}
		config_free(c);
		errlist_print(&errs, stderr);
		errlist_free(&errs);
		if (!ok)
			return EX_CONFIG;
		printf("configuration OK\n");
		return 0;
	}
	return server_main(config);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("mailport %s\n", MAILPORT_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "mailport: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EX_USAGE;
}
