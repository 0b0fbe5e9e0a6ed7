/*
 * cmd_control.c - `mailport queue` and `mailport auth`: argument checking and one request to the
 * running server. What the answers say is the server's (queue/admin.c, server/control.c).
 */
#include "cmd_control.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../conf/config.h"
#include "../util/errlist.h"
#include "ctlsock.h"
#include "cmd_queuemove.h"

/* [--config FILE | -C FILE] first: returns the index of the first other argument. */
static int config_arg(int argc, char **argv, const char **config)
{
	int i = 1;

	*config = MAILPORT_DEFAULT_CONFIG;
	while (i + 1 < argc && (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-C") == 0)) {
		*config = argv[i + 1];
		i += 2;
	}
	return i;
}

static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "help") == 0)
			return 1;
	return 0;
}

static void queue_usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport queue [--config FILE] list | show ID | flush | delete ID | bounce ID | export | import\n"
	        "       mailq [-C FILE]   and   sendmail -bp [-C FILE]   (the same as list)\n"
	        "\n"
	        "  list        every message: id, age, size, sender; each recipient with its state (a\n"
	        "              deferred one with its last error and next attempt)\n"
	        "  show ID     one message: envelope, every recipient's state, the header section\n"
	        "  flush       retry every deferred message now\n"
	        "  delete ID   remove a message without a bounce\n"
	        "  bounce ID   return a message to its sender now\n"
	        "  export      (server stopped) every message still to be delivered, to stdout, for\n"
	        "              import on another node when this machine is retired\n"
	        "  import      (server running) read an export from stdin into this node's queue; a\n"
	        "              message imported before is skipped, so running it twice is harmless\n"
	        "\n"
	        "  mailport queue --config old.conf export | ssh new mailport queue import\n"
	        "\n"
	        "Talks to the running server over its spool's control.sock (export reads the spool\n"
	        "itself, and refuses while a server holds it). FILE defaults to %s.\n"
	        "Exit status: 0 done, 1 the server refused (unknown id ...), 69 no server running, 75\n"
	        "export: a server holds the spool, 78 config.\n",
	        MAILPORT_DEFAULT_CONFIG);
}

int queue_main(int argc, char **argv)
{
	static const char *verbs[][2] = { { "list", "LIST" }, { "show", "SHOW" }, { "flush", "FLUSH" },
	                                   { "delete", "DELETE" }, { "bounce", "BOUNCE" } };
	const char *config, *verb = NULL;
	char line[128];
	int i;

	if (wants_help(argc, argv)) {
		queue_usage(stdout);
		return 0;
	}
	i = config_arg(argc, argv, &config);
	if (i + 1 == argc && strcmp(argv[i], "export") == 0)
		return queue_export(config);
	if (i + 1 == argc && strcmp(argv[i], "import") == 0)
		return queue_import(config);
	if (i == argc) {
		fprintf(stderr, "mailport queue: which action? (list, show ID, flush, delete ID, bounce ID, export, import)\n");
		queue_usage(stderr);
		return EX_USAGE;
	}
	for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
		if (strcmp(argv[i], verbs[k][0]) == 0)
			verb = verbs[k][1];
	int needs_id = verb && (strcmp(verb, "SHOW") == 0 || strcmp(verb, "DELETE") == 0 || strcmp(verb, "BOUNCE") == 0);
	if (verb == NULL || (needs_id ? i + 2 != argc : i + 1 != argc) ||
	    (needs_id && strcspn(argv[i + 1], " \t\r\n") != strlen(argv[i + 1]))) {
		queue_usage(stderr);
		return EX_USAGE;
	}
	snprintf(line, sizeof(line), "%s%s%.64s", verb, needs_id ? " " : "", needs_id ? argv[i + 1] : "");
	return ctl_request("mailport queue", config, line);
}

static void auth_usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport auth [--config FILE] status | unlock IP | unlock ADDRESS\n"
	        "\n"
	        "  status          the client addresses whose logins are failing or locked out (after\n"
	        "                  [auth] max_failures within failure_window), with the user names they\n"
	        "                  tried and when each lockout ends\n"
	        "  unlock IP       forget the failed logins of that client (an IPv6 address stands for\n"
	        "                  its /64, as the lockout does)\n"
	        "  unlock ADDRESS  forget the failed logins of every client that tried this user\n"
	        "\n"
	        "Talks to the running server over its spool's control.sock. FILE defaults to %s.\n",
	        MAILPORT_DEFAULT_CONFIG);
}

int auth_main(int argc, char **argv)
{
	const char *config;
	char line[320];
	int i;

	if (wants_help(argc, argv)) {
		auth_usage(stdout);
		return 0;
	}
	i = config_arg(argc, argv, &config);
	if (i + 1 == argc && strcmp(argv[i], "status") == 0)
		return ctl_request("mailport auth", config, "AUTH-STATUS");
	if (i + 2 == argc && strcmp(argv[i], "unlock") == 0 && argv[i + 1][0] != '\0' &&
	    strlen(argv[i + 1]) < 256 && strcspn(argv[i + 1], " \t\r\n") == strlen(argv[i + 1])) {
		snprintf(line, sizeof(line), "AUTH-UNLOCK %s", argv[i + 1]);
		return ctl_request("mailport auth", config, line);
	}
	auth_usage(stderr);
	return EX_USAGE;
}

static void tlsrpt_usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport tlsrpt [--config FILE] send [today|yesterday|YYYY-MM-DD]\n"
	        "\n"
	        "Send the TLS-RPT reports (RFC 8460) of one UTC day now: for every domain this server\n"
	        "delivered to under DANE or MTA-STS that day and that publishes _smtp._tls, the day's\n"
	        "aggregate report goes to its rua (mailto: through the queue, https: as a POST). The\n"
	        "server sends yesterday's by itself after midnight UTC; the log says what went where.\n"
	        "The default day is yesterday. Talks to the running server over its spool's\n"
	        "control.sock. FILE defaults to %s.\n", MAILPORT_DEFAULT_CONFIG);
}

int tlsrpt_main(int argc, char **argv)
{
	const char *config;
	char line[64];
	int i;

	if (wants_help(argc, argv)) {
		tlsrpt_usage(stdout);
		return 0;
	}
	i = config_arg(argc, argv, &config);
	if ((i + 1 == argc || i + 2 == argc) && strcmp(argv[i], "send") == 0) {
		const char *day = i + 2 == argc ? argv[i + 1] : "yesterday";
		if (strlen(day) < 32 && strcspn(day, " \t\r\n") == strlen(day)) {
			snprintf(line, sizeof(line), "TLSRPT %s", day);
			return ctl_request("mailport tlsrpt", config, line);
		}
	}
	tlsrpt_usage(stderr);
	return EX_USAGE;
}
