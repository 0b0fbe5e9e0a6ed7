/*
 * send.c - the submission client: its options, the ports and TLS modes it tries (RFC 8314:
 * implicit TLS first, never plaintext) and one attempt's conversation. The account file is
 * send_account.c's, the message send_msg.c's, the words for a failure send_explain.c's; the SMTP
 * state machine is smtp/client.c's, the bytes transport.c's.
 */
#include "send.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sysexits.h>
#include <unistd.h>

#include "../check/probe.h"
#include "../net/transport.h"
#include "../msg/addrlist.h"
#include "../smtp/client.h"
#include "../smtp/data.h"
#include "../util/base64.h"
#include "cmd_control.h"
#include "send_int.h"
#include "version.h"


/* ---- talking to the server ---------------------------------------------------------------- */

static void verbose_line(const struct send_opts *o, const char *dir, const char *buf, size_t len)
{
	static const char *safe[] = { "EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "DATA", "QUIT", "RSET" };
	int known = 0;

	if (!o->verbose || len == 0)
		return;
	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (len >= strlen(safe[i]) && strncasecmp(buf, safe[i], strlen(safe[i])) == 0)
			known = 1;
	/* AUTH's data and its base64 continuation lines carry credentials: never shown; the
	 * mechanism is (the word after AUTH, letters, digits and '-' only). */
	if (!known && len >= 5 && strncasecmp(buf, "AUTH ", 5) == 0) {
		size_t m = strspn(buf + 5, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");
		fprintf(stderr, "%s AUTH %.*s ********\n", dir, (int)(m < 32 ? m : 32), buf + 5);
	} else if (!known)
		fprintf(stderr, "%s  ********\n", dir);
	else
		fprintf(stderr, "%s %.*s\n", dir, (int)(len >= 2 ? len - 2 : len), buf);
}

/* -v: the server's lines exactly as they came ("250-" stays "250-"); controls shown as '?'. */
static void trace_server(void *arg, const char *line, size_t len)
{
	(void)arg;
	fputs("<- ", stderr);
	for (size_t i = 0; i < len; i++)
		fputc((unsigned char)line[i] < 0x20 || line[i] == 0x7f ? '?' : line[i], stderr);
	fputc('\n', stderr);
}

static int write_body(struct transport *t, const char *data, size_t len)
{
	char *buf = malloc(2 * len + 8);
	struct smtp_stuff st = { 0 };
	size_t n;
	int r;

	if (buf == NULL)
		return TRANSPORT_ENET;
	n = smtp_stuff(&st, data, len, buf);
	n += smtp_stuff_end(&st, buf + n);
	r = transport_write(t, buf, n);
	free(buf);
	return r;
}

/* --tls auto on a port other than 465/587: a greeting within CHECK_GUESS_GREETING_MS means
 * plaintext (STARTTLS then required; the greeting is in reply), silence means TLS from the first
 * byte. TLS_DETECT when the connection failed (explained in a). */
static enum tls_mode detect_mode(const struct send_opts *o, struct transport *t, const char *port,
                                 struct smtp_reply *reply, int *have_greeting, struct attempt *a)
{
	int r;

	transport_set_timeout_ms(t, CHECK_GUESS_GREETING_MS < o->timeout * 1000L ? CHECK_GUESS_GREETING_MS :
	                            o->timeout * 1000L);
	r = transport_read_reply(t, reply);
	transport_set_timeout_ms(t, o->timeout * 1000L);
	if (r == 0)
		*have_greeting = 1;
	else if (r != TRANSPORT_ETIMEOUT) {
		send_explain_transport(a, t, r, 0, port);
		return TLS_DETECT;
	}
	if (o->verbose)
		fprintf(stderr, "mailport send: port %s %s\n", port, *have_greeting ?
		        "greeted in plaintext: STARTTLS required" : "stayed silent: trying TLS from the first byte");
	return *have_greeting ? TLS_STARTTLS : TLS_IMPLICIT;
}

/* What one attempt's conversation needs besides the client: the options, the connection, the
 * TLS it asks for, the message, and where its outcome goes. */
struct conv {
	const struct send_opts *o;
	struct transport *t;
	const struct transport_tls_opts *to;
	const char *port, *helo;
	const char *data;
	size_t len;
	struct attempt *a;
};

#define CONV_NO_GREETING (-2)

/* The client's replies and the server's, until SC_DONE or SC_FAIL (returned), or -1 when the
 * connection failed (explained in v->a), CONV_NO_GREETING when that was a timeout before any
 * greeting. have_greeting: reply holds the greeting already. */
static int converse(const struct conv *v, struct smtp_client *c, enum tls_mode mode, int have_greeting,
                    struct smtp_reply *reply)
{
	const struct send_opts *o = v->o;
	struct transport *t = v->t;
	struct attempt *a = v->a;
	struct smtp_client_out out;
	unsigned char cb[32];
	int r, greeted = 0;

	for (;;) {
		if (have_greeting)
			have_greeting = 0;      /* already read by the detection */
		else if ((r = transport_read_reply(t, reply)) != 0) {
			send_explain_transport(a, t, r, mode == TLS_IMPLICIT, v->port);
			return r == TRANSPORT_ETIMEOUT && !greeted && mode != TLS_IMPLICIT ? CONV_NO_GREETING : -1;
		}
		greeted = 1;
		smtp_client_reply(c, reply, &out);
		if (out.step == SC_STARTTLS) {
			if ((r = transport_tls_ex(t, v->to)) != 0) {
				send_explain_transport(a, t, r, 0, v->port);
				if (r == TRANSPORT_ETLS)
					send_explain_old_tls(a, o, t, v->port, 1, v->helo);
				a->try_next = 0;
				return -1;
			}
			if (o->verbose)
				fprintf(stderr, "mailport send: TLS established: %s\n", t->tls_desc);
			smtp_client_tls_binding(c, transport_channel_binding(t, cb) == 0 ? cb : NULL);
			smtp_client_tls_started(c, &out);
		}
		if (out.step == SC_BODY) {
			if ((r = write_body(t, v->data, v->len)) != 0) {
				send_explain_transport(a, t, r, 1, v->port);
				return -1;
			}
			if (o->verbose)
				fprintf(stderr, "-> (message, %zu octets)\n", v->len);
			continue;
		}
		verbose_line(o, "->", out.buf, out.len);
		if (out.len > 0 && transport_write(t, out.buf, out.len) != 0 && out.step != SC_DONE && out.step != SC_FAIL) {
			send_explain_transport(a, t, TRANSPORT_ENET, 1, v->port);
			return -1;
		}
		explicit_bzero(out.buf, sizeof(out.buf));
		if (out.step == SC_FAIL || out.step == SC_DONE)
			return (int)out.step;
	}
}

/* This host's name for EHLO, or localhost when it is not a valid domain. */
static void helo_name(char *helo, size_t len)
{
	gethostname(helo, len);
	if (!smtp_domain_valid(helo, strlen(helo), 0))
		snprintf(helo, len, "localhost");
}

/* One session on one port. mode TLS_DETECT: a greeting within CHECK_GUESS_GREETING_MS means
 * plaintext (then STARTTLS is required), silence means TLS from the first byte. */
static void attempt(const struct send_opts *o, const char *port, enum tls_mode mode, const char *password,
                    const struct smtp_client_envelope *env, const char *whence, const char *data, size_t len,
                    struct attempt *a)
{
	struct smtp_client_conf conf = { NULL, SC_TLS_NONE, o->user, password, 0, 0, NULL, o->scram_only,
	                                 o->cert != NULL && o->user == NULL, 0 };
	struct transport_tls_opts to = { o->host, o->cafile, 0, 0, NULL, o->cert, o->key };
	unsigned char cb[32];
	unsigned char rnd[18];
	char nonce[32];
	struct transport t;
	struct smtp_client *c = NULL;
	struct smtp_reply reply;
	char helo[256] = "localhost";
	int r, have_greeting = 0;
	const struct conv v = { o, &t, &to, port, helo, data, len, a };

	memset(a, 0, sizeof(*a));
	helo_name(helo, sizeof(helo));
	conf.helo = helo;
	/* SCRAM-SHA-256 whenever the server offers it: the password then never crosses the network. */
	if (getrandom(rnd, sizeof(rnd), 0) == (ssize_t)sizeof(rnd)) {
		base64_encode(rnd, sizeof(rnd), nonce);
		conf.scram_nonce = nonce;
	}
	if (o->verbose)
		fprintf(stderr, "mailport send: connecting to %s port %s (%s)\n", o->host, port,
		        mode == TLS_IMPLICIT ? "implicit TLS" : mode == TLS_STARTTLS ? "STARTTLS required" :
		        mode == TLS_DETECT ? "finding out whether it speaks TLS first or STARTTLS" : "plaintext");
	if ((r = transport_connect(&t, o->host, port, o->timeout)) != 0) {
		send_explain_transport(a, &t, r, mode == TLS_IMPLICIT, port);
		goto out;
	}
	if (o->verbose) {
		t.trace = trace_server;
		t.trace_arg = NULL;
	}
	if (mode == TLS_DETECT && (mode = detect_mode(o, &t, port, &reply, &have_greeting, a)) == TLS_DETECT)
		goto out;
	conf.tls = mode == TLS_IMPLICIT ? SC_TLS_IMPLICIT : mode == TLS_STARTTLS ? SC_TLS_REQUIRED : SC_TLS_NONE;
	if (mode == TLS_IMPLICIT && (r = transport_tls_ex(&t, &to)) != 0) {
		send_explain_transport(a, &t, r, 1, port);
		if (r == TRANSPORT_ETLS)
			send_explain_old_tls(a, o, &t, port, 0, helo);
		goto out;
	}
	if (mode == TLS_IMPLICIT && o->verbose)
		fprintf(stderr, "mailport send: TLS established: %s\n", t.tls_desc);
	c = smtp_client_new(&conf, env);
	if (c == NULL) {
		a->exit = EX_OSERR;
		goto out;
	}
	/* SCRAM-SHA-256-PLUS ties the login to this TLS connection: a man in the middle with a
	 * certificate we trust still cannot use what it sees */
	if (mode == TLS_IMPLICIT)
		smtp_client_tls_binding(c, transport_channel_binding(&t, cb) == 0 ? cb : NULL);
	r = converse(&v, c, mode, have_greeting, &reply);
	if (r == CONV_NO_GREETING)
		snprintf(a->why, sizeof(a->why), "%s accepted the connection but sent no SMTP greeting in %d s: "
		         "it looks like a port that expects TLS from the first byte (465-style, \"SSL/TLS\"): "
		         "use --tls implicit for it", t.peer, t.timeout);
	else if (r == SC_FAIL)
		send_explain_failure(a, smtp_client_failure(c), &t);
	else if (r == SC_DONE)
		send_judge_transaction(a, o, c, env, &t, whence);
out:
	smtp_client_free(c);
	transport_close(&t);
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport send [options] [recipient ...] < message\n"
	        "       sendmail [options] [recipient ...] < message   (the same program)\n"
	        "  --host HOST --port N --tls auto|implicit|starttls|none   where to submit (auto: 465, then 587;\n"
	        "                  with --port other than those, whatever the port speaks; never plaintext)\n"
	        "  --auto-ports A,B   the ports --tls auto tries (implicit TLS, then STARTTLS); default 465,587\n"
	        "  --user USER --password-file FILE | --password-command CMD\n"
	        "  --cafile FILE   trust this CA (default: the system store); certificates are always verified\n"
	        "  --cert FILE [--key FILE]   a TLS client certificate (PEM; key default: in FILE): without\n"
	        "                  --user it logs in by itself (AUTH EXTERNAL), with --user beside the password\n"
	        "  --account NAME  [account NAME] of ~/.config/mailport/send.conf or /etc/mailport/send.conf\n"
	        "  --config FILE   the account file to read instead\n"
	        "  --from ADDR, -f ADDR   envelope sender (default: the message's From:, else Sender:, else\n"
	        "                  --user when it is an address, else from = of the account)\n"
	        "  -F NAME         display name for an added From:\n"
	        "  --auth any|scram  SCRAM-SHA-256 when the server offers it (the password never crosses the\n"
	        "                  network), else PLAIN or LOGIN inside TLS (any, the default); scram: never\n"
	        "                  send the password itself (also auth = scram in the account file)\n"
	        "  --requiretls    every hop to the recipients must use verified TLS, or the message comes back\n"
	        "                  (RFC 8689; the server must offer REQUIRETLS, else nothing is sent)\n"
	        "  -t   recipients from To/Cc/Bcc (Bcc is removed)   -i, -oi   a lone \".\" line is content\n"
	        "  -v   show the conversation (credentials masked)   --version\n"
	        "  -bp [-C FILE]   list the local server's queue (as mailq); other -o, -B, -N, -R, -V, -L, -U,\n"
	        "                  -m, -n, -e... options of sendmail are accepted and ignored\n"
	        "Exit status: 0 sent, 75 try again later, 69 refused, 77 login refused, 78 configuration,\n"
	        "65 bad message, 64 usage.\n");
}

/* sendmail's -b modes other than -bm (deliver, the default) and -bp (the queue). */
static int refuse_mode(const char *arg)
{
	if (strcmp(arg, "-bs") == 0)
		send_say("-bs (SMTP on standard input) is not supported: mailport send submits one message over the "
		    "network. Point the program at the server's submission port (465 or 587) instead, or pipe the "
		    "message into sendmail without -bs");
	else if (strcmp(arg, "-bd") == 0 || strcmp(arg, "-bD") == 0)
		send_say("%s: the server is `mailport serve --config FILE`, not sendmail -bd", arg);
	else if (strcmp(arg, "-bi") == 0)
		send_say("-bi (newaliases): mailport keeps aliases in its users file; reload the server (SIGHUP) instead");
	else
		send_say("%s is not supported (only -bm, the default, and -bp)", arg);
	return EX_USAGE;
}

/* sendmail's -o<option> and -b<mode> words, before getopt sees them: -oi means -i, other -o
 * options are old delivery switches (ignored, as Postfix's sendmail does); -bm is the default
 * mode, -bp lists the queue; any other mode is refused in words. Returns -1 to go on, else an
 * exit code. */
static int sendmail_words(int argc, char **argv, struct send_opts *o, int *list_queue)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strncmp(argv[i], "-o", 2) == 0 && argv[i][2] != '\0') {
			if (strcmp(argv[i], "-oi") == 0)
				o->dot_ends = 0;
			argv[i] = (char *)"-q";     /* neutralised: ignored below */
		} else if (strncmp(argv[i], "-b", 2) == 0) {
			if (strcmp(argv[i], "-bp") == 0)
				*list_queue = 1;
			else if (strcmp(argv[i], "-bm") != 0)
				return refuse_mode(argv[i]);
			argv[i] = (char *)"-q";
		}
	}
	return -1;
}

/* Returns -1 to go on, else an exit code (--help and --version: 0). */
static int parse_options(int argc, char **argv, struct send_opts *o)
{
	enum { O_HOST = 256, O_PORT, O_TLS, O_USER, O_PWFILE, O_PWCMD, O_CAFILE, O_ACCOUNT, O_CONFIG, O_TIMEOUT,
	       O_AUTOPORTS, O_VERSION, O_REQUIRETLS, O_AUTH, O_CERT, O_KEY };
	static const struct option opts[] = {
		{ "host", required_argument, NULL, O_HOST }, { "port", required_argument, NULL, O_PORT },
		{ "tls", required_argument, NULL, O_TLS }, { "user", required_argument, NULL, O_USER },
		{ "password-file", required_argument, NULL, O_PWFILE },
		{ "password-command", required_argument, NULL, O_PWCMD },
		{ "cafile", required_argument, NULL, O_CAFILE }, { "account", required_argument, NULL, O_ACCOUNT },
		{ "config", required_argument, NULL, O_CONFIG }, { "from", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, O_TIMEOUT }, { "help", no_argument, NULL, 'h' },
		{ "auto-ports", required_argument, NULL, O_AUTOPORTS }, { "version", no_argument, NULL, O_VERSION },
		{ "requiretls", no_argument, NULL, O_REQUIRETLS }, { "auth", required_argument, NULL, O_AUTH },
		{ "cert", required_argument, NULL, O_CERT }, { "key", required_argument, NULL, O_KEY },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "f:F:itvqr:hB:C:N:R:V:L:O:X:GUmne:", opts, NULL)) != -1) {
		switch (ch) {
		case O_HOST: free(o->host); o->host = strdup(optarg); break;
		case O_PORT: free(o->port); o->port = strdup(optarg); break;
		case O_TLS:
			o->tls_set = 1;
			if (send_parse_tls_mode(optarg, &o->tls) != 0) {
				send_say("--tls must be auto, implicit, starttls or none");
				return EX_USAGE;
			}
			break;
		case O_USER: free(o->user); o->user = strdup(optarg); break;
		case O_PWFILE: free(o->password_file); o->password_file = strdup(optarg); break;
		case O_PWCMD: free(o->password_command); o->password_command = strdup(optarg); break;
		case O_CAFILE: free(o->cafile); o->cafile = strdup(optarg); break;
		case O_CERT: free(o->cert); o->cert = strdup(optarg); break;
		case O_KEY: free(o->key); o->key = strdup(optarg); break;
		case O_ACCOUNT: o->account = optarg; break;
		case O_CONFIG: o->config = optarg; break;
		case 'C': o->mta_config = optarg; break;
		case 'f': case 'r': free(o->from); o->from = strdup(optarg); break;
		case 'F': o->fullname = optarg; break;
		case O_TIMEOUT: o->timeout = atoi(optarg) > 0 ? atoi(optarg) : 30; break;
		case O_AUTOPORTS:
			if (sscanf(optarg, "%7[0-9],%7[0-9]", o->auto_ports[0], o->auto_ports[1]) != 2) {
				send_say("--auto-ports takes IMPLICIT,STARTTLS, e.g. 465,587");
				return EX_USAGE;
			}
			break;
		case O_REQUIRETLS: o->requiretls = 1; break;
		case O_AUTH:
			if (send_parse_auth(optarg, &o->scram_only) != 0) {
				send_say("--auth must be any or scram");
				return EX_USAGE;
			}
			o->auth_set = 1;
			break;
		case 'i': o->dot_ends = 0; break;
		case 't': o->extract = 1; break;
		case 'v': o->verbose = 1; break;
		/* sendmail options without a meaning here: body type, DSN, envelope id, syslog label,
		 * -O option=value, traffic log, initial submission, me-too, no aliasing, error mode. */
		case 'q': case 'B': case 'N': case 'R': case 'V': case 'L': case 'O': case 'X': case 'G': case 'U':
		case 'm': case 'n': case 'e': break;
		case O_VERSION: printf("mailport send (sendmail-compatible) %s\n", MAILPORT_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	return -1;
}

/* The recipients and the message, in the order a user would fix things: what to send and to
 * whom first. 0 or an exit code. */
static int take_message(int argc, char **argv, const struct send_opts *o, struct msg *m, struct hdr_state *h)
{
	int rc;

	if (!o->extract && optind == argc) {
		send_say("no recipients: name them after the options, or use -t to take them from To/Cc/Bcc");
		return EX_USAGE;
	}
	for (int i = optind; i < argc; i++)
		send_add_rcpt(m, argv[i], strlen(argv[i]));
	if ((rc = send_read_message(m, o->dot_ends)) != 0)
		return rc;
	h->m = m;
	h->extract = o->extract;
	header_walk(m->buf, m->len, send_on_header, h);
	if (m->bad_rcpt)
		return EX_DATAERR;
	if (m->nrcpts == 0) {
		send_say("no recipients: -t found no address in the message's To, Cc or Bcc header");
		return EX_USAGE;
	}
	return 0;
}

/* Then where, as whom, and how: 0 or an exit code. */
static int check_settings(const struct send_opts *o, const struct hdr_state *h, const char **sender,
                          const char **whence)
{
	if (o->host == NULL) {
		send_say("no server: give --host (or host = in an [account] of send.conf)");
		return EX_CONFIG;
	}
	if ((*sender = send_choose_sender(o, h, whence)) == NULL) {
		send_say("no sender: the message has no From: header with one address; give -f ADDRESS (or from = in "
		         "an [account] of send.conf)");
		return EX_CONFIG;
	}
	if (!send_is_address(*sender)) {
		send_say("the sender \"%s\" (%s) is not an address", *sender, *whence);
		return o->from != NULL ? EX_USAGE : EX_DATAERR;
	}
	if (o->tls == TLS_NONE && (o->user || o->password_file || o->password_command)) {
		send_say("--tls none with a login would send the password in plaintext; refusing");
		return EX_CONFIG;
	}
	if ((o->user != NULL) != (o->password_file != NULL || o->password_command != NULL)) {
		send_say(o->user ? "a user needs --password-file or --password-command (never a password on the command "
		                   "line)" : "a password needs --user");
		return EX_CONFIG;
	}
	if (o->tls == TLS_NONE)
		send_say("warning: --tls none: the message travels unencrypted (only for a relay on this machine)");
	return 0;
}

/* The ports and modes to try, in order, until one works or fails for good. */
static void submit(const struct send_opts *o, const char *password, const struct smtp_client_envelope *env,
                   const char *whence, const char *data, size_t dlen, struct attempt *a)
{
	if (o->tls == TLS_AUTO && o->port == NULL) {
		/* RFC 8314 3: implicit TLS on 465 first, then STARTTLS on 587; never plaintext. */
		attempt(o, o->auto_ports[0], TLS_IMPLICIT, password, env, whence, data, dlen, a);
		if (a->exit != 0 && a->try_next) {
			send_say("port %s: %s; trying port %s with STARTTLS", o->auto_ports[0], a->why, o->auto_ports[1]);
			attempt(o, o->auto_ports[1], TLS_STARTTLS, password, env, whence, data, dlen, a);
		}
		return;
	}
	enum tls_mode mode = o->tls;
	const char *port = o->port;
	if (mode == TLS_AUTO)
		mode = strcmp(port, "465") == 0 ? TLS_IMPLICIT : strcmp(port, "587") == 0 ? TLS_STARTTLS : TLS_DETECT;
	if (port == NULL)
		port = mode == TLS_IMPLICIT ? "465" : mode == TLS_STARTTLS ? "587" : "25";
	attempt(o, port, mode, password, env, whence, data, dlen, a);
	if (mode == TLS_DETECT && a->plaintext) {
		/* Silent at first, then a greeting: a slow plaintext server. */
		send_say("port %s: answered TLS with plaintext; trying STARTTLS", port);
		attempt(o, port, TLS_STARTTLS, password, env, whence, data, dlen, a);
	}
}

int send_main(int argc, char **argv)
{
	struct send_opts o;
	struct msg m;
	struct hdr_state h;
	struct attempt a;
	char *data = NULL, *password = NULL;
	const char *sender, *whence;
	size_t dlen = 0;
	int rc, list_queue = 0, utf8 = 0;

	memset(&o, 0, sizeof(o));
	memset(&m, 0, sizeof(m));
	memset(&h, 0, sizeof(h));
	o.timeout = 30;
	o.dot_ends = 1;
	snprintf(o.auto_ports[0], sizeof(o.auto_ports[0]), "465");
	snprintf(o.auto_ports[1], sizeof(o.auto_ports[1]), "587");
	if ((rc = sendmail_words(argc, argv, &o, &list_queue)) >= 0 || (rc = parse_options(argc, argv, &o)) >= 0)
		goto done;
	if (list_queue) {
		char *qargv[] = { (char *)"mailq", (char *)"--config",
		                  (char *)(o.mta_config ? o.mta_config : MAILPORT_DEFAULT_CONFIG), (char *)"list", NULL };
		rc = queue_main(4, qargv);
		goto done;
	}
	if ((rc = take_message(argc, argv, &o, &m, &h)) != 0 || (rc = send_load_account(&o)) != 0 ||
	    (rc = check_settings(&o, &h, &sender, &whence)) != 0)
		goto done;
	if ((data = send_complete_message(&m, &o, sender, &h, &dlen)) == NULL) {
		rc = EX_OSERR;
		goto done;
	}
	if (o.user && (password = send_get_password(&o)) == NULL) {
		rc = EX_CONFIG;
		goto done;
	}
	for (const char *p = sender; *p; p++)
		utf8 |= (unsigned char)*p >= 0x80;
	struct smtp_client_envelope env = { sender, m.rcpts, m.nrcpts, dlen, utf8, 1, o.requiretls };
	submit(&o, password, &env, whence, data, dlen, &a);
	if (a.exit != 0 && a.why[0])
		send_say("%s", a.why);
	rc = a.exit;
done:
	if (password) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	for (size_t i = 0; i < m.nowned; i++)
		free(m.owned[i]);
	free(m.buf);
	free(data);
	free(o.host); free(o.port); free(o.user); free(o.password_file); free(o.password_command);
	free(o.cafile); free(o.cert); free(o.key); free(o.from); free(o.acct_from);
	return rc;
}
