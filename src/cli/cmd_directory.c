/*
 * cmd_directory.c - `mailport directory migrate [--config FILE]` brings the PostgreSQL directory's
 * tables to this version (each migration in its own transaction; nodes migrating at once wait
 * for each other); `mailport directory schema` prints every migration's SQL, for a DBA to read or
 * apply by hand.
 */
#include "cmd_directory.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "../auth/pgdir.h"
#include "../conf/config.h"
#include "../util/errlist.h"
#include "cmd_control.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: mailport directory migrate [--config FILE]\n"
	             "       mailport directory schema\n"
	             "\n"
	             "migrate  create or update the tables of [directory] backend = postgresql (in the database\n"
	             "         [directory] postgresql names); safe to run on every node, and again\n"
	             "schema   print the SQL of every version, in order\n"
	             "FILE defaults to " MAILPORT_DEFAULT_CONFIG ".\n");
}

int directory_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = MAILPORT_DEFAULT_CONFIG;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		if (ch == 'c')
			path = optarg;
		else {
			usage(ch == 'h' ? stdout : stderr);
			return ch == 'h' ? 0 : EX_USAGE;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[optind], "schema") == 0) {
		const char *const *s = pgdir_schema();
		for (int i = 0; s[i] != NULL; i++)
			printf("-- mailport directory schema, version %d\n%s\n", i + 1, s[i]);
		return 0;
	}
	if (strcmp(argv[optind], "migrate") != 0) {
		usage(stderr);
		return EX_USAGE;
	}
	struct errlist errs = { 0 };
	struct config *c = config_load(path, &errs);
	if (c == NULL) {
		errlist_print(&errs, stderr);
		errlist_free(&errs);
		return EX_CONFIG;
	}
	if (strcmp(c->dir_backend, "postgresql") != 0 || c->pg_conninfo == NULL) {
		fprintf(stderr, "mailport directory: %s: [directory] backend is not postgresql (with postgresql = ...)\n",
		        path);
		config_free(c);
		return EX_CONFIG;
	}
	char msg[400];
	int r = pgdir_migrate(c->pg_conninfo, c->pg_password, msg, sizeof(msg));
	config_free(c);
	if (r < 0) {
		fprintf(stderr, "mailport directory migrate: %s\n", msg);
		return EX_TEMPFAIL;
	}
	printf("%s\n", msg);
	return 0;
}
