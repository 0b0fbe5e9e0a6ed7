/*
 * main.c - one binary, verbs: dispatch argv to the verb's entry point.
 * Not option parsing for the verbs beyond what each needs; each verb owns its flags.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "../auth/auth.h"
#include "../auth/users.h"
#include "../conf/config.h"
#include "../deliver/agent.h"
#include "../net/server.h"
#include "check.h"
#include "send.h"

#define MAILPORT_VERSION "0.1.0"
#define DEFAULT_CONFIG "/etc/mailport/mailport.conf"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport serve --config FILE [--check-config]\n"
	        "       mailport serve --defaults\n"
	        "       mailport send [options] [recipient ...] < message   (also as \"sendmail\")\n"
	        "       mailport check [options] HOST | user@domain\n"
	        "       mailport queue [--config FILE] list | show ID | flush | delete ID | bounce ID\n"
	        "       mailport passwd\n"
	        "       mailport version\n"
	        "\n"
	        "serve   run the SMTP server in the foreground (logs on stderr).\n"
	        "        --check-config  load FILE and the users file, print \"configuration OK\"\n"
	        "                        or every error as file:line (exit 78).\n"
	        "        --defaults      print every parameter with its default and meaning.\n"
	        "send    submit a message over 465 (implicit TLS) or 587 (STARTTLS), certificate\n"
	        "        always verified; `mailport send --help` lists its options.\n"
	        "check   which port and which encryption to use for HOST (or for an address): probes\n"
	        "        465, 587 and 25, TLS versions and certificate; `mailport check --help`.\n"
	        "queue   list the queue, show one message, retry everything now, delete a message or\n"
	        "        return it to its sender; talks to the running server (spool/control.sock).\n"
	        "passwd  read a password on standard input (twice, without echo, on a terminal) and\n"
	        "        print its yescrypt hash for the users file.\n");
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

static int cmd_queue(int argc, char **argv)
{
	static const char *verbs[][2] = { { "list", "LIST" }, { "show", "SHOW" }, { "flush", "FLUSH" },
	                                   { "delete", "DELETE" }, { "bounce", "BOUNCE" } };
	const char *config = DEFAULT_CONFIG, *verb = NULL;
	struct errlist errs = { 0 };
	struct sockaddr_un sun;
	struct config *c;
	char line[128], buf[4096];
	int i = 1, fd, error = 0;
	ssize_t n;

	if (argc > 2 && strcmp(argv[1], "--config") == 0) {
		config = argv[2];
		i = 3;
	}
	if (i >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	for (size_t k = 0; k < sizeof(verbs) / sizeof(verbs[0]); k++)
		if (strcmp(argv[i], verbs[k][0]) == 0)
			verb = verbs[k][1];
	int needs_id = verb && (strcmp(verb, "SHOW") == 0 || strcmp(verb, "DELETE") == 0 || strcmp(verb, "BOUNCE") == 0);
	if (verb == NULL || (needs_id ? i + 2 != argc : i + 1 != argc)) {
		usage(stderr);
		return EX_USAGE;
	}
	c = config_load(config, &errs);
	if (c == NULL) {
		errlist_print(&errs, stderr);
		errlist_free(&errs);
		return EX_CONFIG;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/control.sock", c->spool);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "mailport queue: no running mailport server for spool %s (%s: %s).\n"
		        "Start it with: mailport serve --config %s\n", c->spool, sun.sun_path, strerror(errno), config);
		config_free(c);
		if (fd >= 0)
			close(fd);
		return EX_UNAVAILABLE;
	}
	config_free(c);
	snprintf(line, sizeof(line), "%s%s%s\n", verb, needs_id ? " " : "", needs_id ? argv[i + 1] : "");
	if (write(fd, line, strlen(line)) < 0) {
		close(fd);
		return EX_IOERR;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (n >= 6 && memcmp(buf, "error:", 6) == 0)
			error = 1;
		fwrite(buf, 1, (size_t)n, error ? stderr : stdout);
	}
	close(fd);
	return error ? 1 : 0;
}

/* Read one line without its newline; no echo when stdin is a terminal. */
static int read_secret(const char *prompt, char *buf, size_t len)
{
	struct termios old, noecho;
	int tty = isatty(STDIN_FILENO), r = 0;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &old);
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	}
	if (fgets(buf, (int)len, stdin) == NULL)
		r = -1;
	else
		buf[strcspn(buf, "\r\n")] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	return r;
}

static int cmd_passwd(void)
{
	char pw[1024], again[1024];
	char *hash;

	if (read_secret("Password: ", pw, sizeof(pw)) < 0 || pw[0] == '\0') {
		fprintf(stderr, "mailport passwd: no password given\n");
		return EX_DATAERR;
	}
	if (isatty(STDIN_FILENO)) {
		if (read_secret("Again: ", again, sizeof(again)) < 0 || strcmp(pw, again) != 0) {
			explicit_bzero(pw, sizeof(pw));
			explicit_bzero(again, sizeof(again));
			fprintf(stderr, "mailport passwd: the passwords differ\n");
			return EX_DATAERR;
		}
		explicit_bzero(again, sizeof(again));
	}
	hash = auth_hash_password(pw);
	explicit_bzero(pw, sizeof(pw));
	if (hash == NULL) {
		fprintf(stderr, "mailport passwd: hashing failed\n");
		return EX_SOFTWARE;
	}
	printf("%s\n", hash);
	free(hash);
	return 0;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');

	base = base ? base + 1 : argv[0];
	/* Called as sendmail (a symlink, as every MTA provides): behave as `mailport send`. */
	if (strcmp(base, "sendmail") == 0)
		return send_main(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return EX_USAGE;
	}
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	/* Not for people: the Maildir writer `serve` starts (deliver/agent.h). */
	if (strcmp(argv[1], "deliver-agent") == 0)
		return agent_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "passwd") == 0)
		return cmd_passwd();
	if (strcmp(argv[1], "send") == 0)
		return send_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return check_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "queue") == 0)
		return cmd_queue(argc - 1, argv + 1);
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
