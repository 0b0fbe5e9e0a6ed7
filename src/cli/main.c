/*
 * main.c - one binary, verbs: dispatch argv to the verb's entry point.
 * Not option parsing for the verbs beyond what each needs; each verb owns its flags.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "../auth/auth.h"
#include "../auth/pwquality.h"
#include "../sasl/scram.h"
#include "../conf/config.h"
#include "../deliver/agent.h"
#include "../server/server.h"
#include "cmd_check.h"
#include "cmd_control.h"
#include "cmd_dkim.h"
#include "cmd_directory.h"
#include "cmd_dns.h"
#include "secret.h"
#include "send.h"
#include "cmd_user.h"
#include "version.h"


static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport serve [--config FILE] [--check-config]\n"
	        "       mailport serve --defaults\n"
	        "       mailport send [options] [recipient ...] < message   (also as \"sendmail\")\n"
	        "       mailport check [options] HOST | user@domain\n"
	        "       mailport queue [--config FILE] list | show ID | flush | delete ID | bounce ID\n"
	        "       mailport auth [--config FILE] status | unlock IP|ADDRESS\n"
	        "       mailport tlsrpt [--config FILE] send [today|yesterday|YYYY-MM-DD]\n"
	        "       mailport dkim keygen DOMAIN SELECTOR [--type rsa|ed25519]\n"
	        "       mailport dns DOMAIN --config FILE [--json]\n"
	        "       mailport passwd [--user ADDRESS] [--allow-weak]\n"
	        "       mailport user app-password add|list|revoke ... [--config FILE]\n"
	        "       mailport directory migrate [--config FILE] | schema\n"
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
	        "        Also as \"mailq\" and \"sendmail -bp\".\n"
	        "auth    failed logins and lockouts per client address; unlock one.\n"
	        "tlsrpt  send one day's TLS-RPT reports (RFC 8460) now; the server does it daily.\n"
	        "dkim    make a DKIM signing key and print the TXT record to publish.\n"
	        "dns     every DNS record DOMAIN needs for this server, ready for a zone file.\n"
	        "user    a mailbox's app passwords: add (generated, shown once), list, revoke.\n"
	        "directory  the PostgreSQL directory's tables: migrate (create or update), schema.\n"
	        "passwd  read a password on standard input (twice, without echo, on a terminal) and\n"
	        "        print its yescrypt hash for the users file; a weak one is refused, with why.\n"
	        "\n"
	        "Every verb takes --help.\n");
}

static void serve_usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport serve [--config FILE] [--check-config]\n"
	        "       mailport serve --defaults\n"
	        "\n"
	        "Runs the SMTP server in the foreground, logging as [server] log says (stderr by\n"
	        "default): 465 (implicit TLS), 587 (STARTTLS required), 25 (MX), as [submissions],\n"
	        "[submission] and [smtp] listen say. FILE defaults to " MAILPORT_DEFAULT_CONFIG ".\n"
	        "SIGHUP reloads the configuration, users file and certificates; SIGTERM stops.\n"
	        "Under systemd (Type=notify) it says when it is ready, reloading and stopping.\n"
	        "  --check-config  load FILE as serve would (users file, certificates and keys, spool,\n"
	        "                  Maildir root, user) and print \"configuration OK\", or every error\n"
	        "                  as file:line (exit 78)\n"
	        "  --defaults      print every parameter with its default and meaning\n");
}

static int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'n' },
		{ "defaults", no_argument, NULL, 'd' },
		{ "mdoc", no_argument, NULL, 'm' },
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
		case 'm':               /* the parameter list of mailport.conf(5); make man */
			config_print_mdoc(stdout);
			return 0;
		case 'h':
			serve_usage(stdout);
			return 0;
		default:
			serve_usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		serve_usage(stderr);
		return EX_USAGE;
	}
	if (config == NULL)
		config = MAILPORT_DEFAULT_CONFIG;
	if (check)
		return server_check_config(config);
	return server_main(config);
}

static void passwd_usage(FILE *out)
{
	fprintf(out, "usage: mailport passwd [--user ADDRESS] [--scram] [--allow-weak] < password\n"
	             "Reads a password on standard input (twice and without echo on a terminal) and prints its\n"
	             "yescrypt hash, for the second field of the users file ([auth] users). A weak password is\n"
	             "refused with the reason: fewer than %d characters, one of the most common passwords or\n"
	             "words, a keyboard pattern, sequence, repetition or date, or (with --user) the address or\n"
	             "domain it is for; zxcvbn's estimate must reach 2^%.0f guesses.\n"
	             "  --user ADDRESS   the mailbox the password is for (its parts are refused in it)\n"
	             "  --scram          also print scram=... (SCRAM-SHA-256 keys of the same password) for\n"
	             "                   the fourth field: ADDRESS:HASH:ALIASES:scram=...\n"
	             "  --allow-weak     hash it anyway, saying why it is weak: for tests only\n",
	        PWQ_MIN_LENGTH, PWQ_MIN_BITS);
}

static int cmd_passwd(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' }, { "allow-weak", no_argument, NULL, 'w' },
		{ "scram", no_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	char pw[1024];
	const char *user = NULL;
	int allow_weak = 0, scram = 0, ch;
	char *hash, scram_text[300] = "";

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'u': user = optarg; break;
		case 'w': allow_weak = 1; break;
		case 's': scram = 1; break;
		case 'h': passwd_usage(stdout); return 0;
		default: passwd_usage(stderr); return EX_USAGE;
		}
	}
	if (optind != argc) {
		passwd_usage(stderr);
		return EX_USAGE;
	}
	int r = secret_new_password("mailport passwd", user, allow_weak, pw, sizeof(pw));
	if (r != 0)
		return r;
	hash = auth_hash_password(pw);
	struct scram_creds sc;
	if (scram && (scram_creds_make(pw, SCRAM_ITER, &sc) < 0 || scram_creds_format(&sc, scram_text,
	                                                                            sizeof(scram_text)) < 0)) {
		free(hash);
		hash = NULL;
	}
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(&sc, sizeof(sc));
	if (hash == NULL) {
		fprintf(stderr, "mailport passwd: hashing failed\n");
		return EX_SOFTWARE;
	}
	printf("%s\n", hash);
	if (scram)
		printf("scram=%s\n", scram_text);
	free(hash);
	return 0;
}

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');

	/* A peer that closes first (a lockout's 454, a server that hangs up) is an error to explain
	 * in words, never a silent death of SIGPIPE: every write checks its result. */
	signal(SIGPIPE, SIG_IGN);
	base = base ? base + 1 : argv[0];
	/* Called as sendmail or mailq (symlinks, as every MTA provides). */
	if (strcmp(base, "sendmail") == 0)
		return send_main(argc, argv);
	if (strcmp(base, "mailq") == 0) {
		char *qargv[5] = { (char *)"mailq", NULL, NULL, NULL, NULL };
		int n = 1;
		if (argc == 3 && strcmp(argv[1], "-C") == 0) {
			qargv[n++] = (char *)"--config";
			qargv[n++] = argv[2];
		} else if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
			return queue_main(argc, argv);
		else if (argc != 1) {
			fprintf(stderr, "usage: mailq [-C FILE]\n");
			return EX_USAGE;
		}
		qargv[n++] = (char *)"list";
		qargv[n] = NULL;
		return queue_main(n, qargv);
	}
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
		return cmd_passwd(argc - 1, argv + 1);
	if (strcmp(argv[1], "send") == 0)
		return send_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return check_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "queue") == 0)
		return queue_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "auth") == 0)
		return auth_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "tlsrpt") == 0)
		return tlsrpt_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "dkim") == 0)
		return dkim_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "user") == 0)
		return user_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "dns") == 0)
		return dns_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "directory") == 0)
		return directory_main(argc - 1, argv + 1);
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
