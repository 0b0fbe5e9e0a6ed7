/*
 * send.c - the submission client: options and account file, reading and completing the
 * message, choosing the port and TLS mode (RFC 8314: implicit TLS first), and explaining every
 * failure in words. The SMTP conversation itself is smtp/client.c's, the bytes transport.c's.
 */
#include "send.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "../client/transport.h"
#include "../msg/addrlist.h"
#include "../smtp/client.h"
#include "../smtp/data.h"
#include "../smtp/parse.h"
#include "../util/fsutil.h"

#define MSG_MAX (64u * 1024 * 1024)
#define MAX_RCPTS 1000

enum tls_mode { TLS_AUTO, TLS_IMPLICIT, TLS_STARTTLS, TLS_NONE };

struct send_opts {
	char *host, *port, *user, *password_file, *password_command, *cafile, *from, *account, *config;
	enum tls_mode tls;
	int tls_set;
	int timeout;
	int extract, dot_ends, verbose;
	char *fullname;
	char auto_ports[2][8];          /* --tls auto: implicit TLS port, then STARTTLS port */
};

struct msg {
	char *buf;
	size_t len;
	const char *rcpts[MAX_RCPTS];
	size_t nrcpts;
	char *owned[MAX_RCPTS];
	size_t nowned;
	int bad_rcpt;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mailport send: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- account file ----------------------------------------------------------------------- */

struct acct_ctx {
	struct send_opts *o;
	const char *want;
	const char *file;
	int line;
	int in_section, found, errors;
	FILE *fp;
};

static char *acct_reader(char *str, int num, void *stream)
{
	struct acct_ctx *a = stream;
	char *r = fgets(str, num, a->fp);

	if (r)
		a->line++;
	return r;
}

static void set_if_unset(char **dst, const char *v)
{
	if (*dst == NULL)
		*dst = strdup(v);
}

static int acct_handler(void *user, const char *section, const char *name, const char *value)
{
	struct acct_ctx *a = user;
	struct send_opts *o = a->o;
	char want[300];

	snprintf(want, sizeof(want), "account %s", a->want ? a->want : "default");
	if (strcmp(section, want) != 0)
		return 1;
	a->found = 1;
	if (strcmp(name, "host") == 0) set_if_unset(&o->host, value);
	else if (strcmp(name, "port") == 0) set_if_unset(&o->port, value);
	else if (strcmp(name, "user") == 0) set_if_unset(&o->user, value);
	else if (strcmp(name, "password_file") == 0) set_if_unset(&o->password_file, value);
	else if (strcmp(name, "password_command") == 0) set_if_unset(&o->password_command, value);
	else if (strcmp(name, "cafile") == 0) set_if_unset(&o->cafile, value);
	else if (strcmp(name, "from") == 0) set_if_unset(&o->from, value);
	else if (strcmp(name, "tls") == 0) {
		if (!o->tls_set) {
			if (strcmp(value, "auto") == 0) o->tls = TLS_AUTO;
			else if (strcmp(value, "implicit") == 0) o->tls = TLS_IMPLICIT;
			else if (strcmp(value, "starttls") == 0) o->tls = TLS_STARTTLS;
			else if (strcmp(value, "none") == 0) o->tls = TLS_NONE;
			else {
				fprintf(stderr, "mailport send: %s:%d: tls must be auto, implicit, starttls or none\n", a->file, a->line);
				a->errors++;
			}
		}
	} else {
		fprintf(stderr, "mailport send: %s:%d: unknown key \"%s\" in [%s]\n", a->file, a->line, name, section);
		a->errors++;
	}
	return 1;
}

/* Returns 0, or EX_CONFIG after printing every error as file:line. */
static int load_account(struct send_opts *o)
{
	char home[1024] = "";
	const char *candidates[3];
	size_t n = 0;
	struct acct_ctx a = { o, o->account, NULL, 0, 0, 0, 0, NULL };

	if (o->config)
		candidates[n++] = o->config;
	else {
		if (getenv("HOME")) {
			snprintf(home, sizeof(home), "%s/.config/mailport/send.conf", getenv("HOME"));
			candidates[n++] = home;
		}
		candidates[n++] = "/etc/mailport/send.conf";
	}
	for (size_t i = 0; i < n; i++) {
		a.fp = fopen(candidates[i], "r");
		if (a.fp == NULL) {
			if (o->config) {
				say("cannot read %s: %s", o->config, strerror(errno));
				return EX_CONFIG;
			}
			continue;
		}
		a.file = candidates[i];
		int r = ini_parse_stream(acct_reader, &a, acct_handler, &a);
		fclose(a.fp);
		if (r > 0) {
			fprintf(stderr, "mailport send: %s:%d: syntax error\n", a.file, r);
			a.errors++;
		}
		if (a.errors)
			return EX_CONFIG;
		if (o->account && !a.found) {
			say("%s has no [account %s]", a.file, o->account);
			return EX_CONFIG;
		}
		return 0;
	}
	if (o->account) {
		say("--account %s given, but no account file (~/.config/mailport/send.conf or /etc/mailport/send.conf)",
		    o->account);
		return EX_CONFIG;
	}
	return 0;
}

/* ---- the password: a file or a command, never the command line ---------------------------- */

static char *get_password(const struct send_opts *o)
{
	char *pw = NULL;

	if (o->password_file) {
		size_t len;
		pw = fs_read_file(o->password_file, 4096, &len, 0);
		if (pw == NULL) {
			say("cannot read password_file %s: %s", o->password_file, strerror(errno));
			return NULL;
		}
	} else if (o->password_command) {
		FILE *p = popen(o->password_command, "r");
		char buf[1024];
		if (p == NULL || fgets(buf, sizeof(buf), p) == NULL) {
			say("password_command gave no password");
			if (p)
				pclose(p);
			return NULL;
		}
		pclose(p);
		pw = strdup(buf);
		explicit_bzero(buf, sizeof(buf));
	}
	if (pw)
		pw[strcspn(pw, "\r\n")] = '\0';
	return pw;
}

/* ---- the message ------------------------------------------------------------------------- */

/* Read stdin: LF or CRLF lines become CRLF; without -i a line of one "." ends the input. */
static int read_message(struct msg *m, int dot_ends)
{
	char *line = NULL;
	size_t cap = 0, bufcap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		size_t l = (size_t)n;
		if (memchr(line, '\0', l)) {
			say("the message contains a NUL byte; refusing it (not valid in mail)");
			free(line);
			return EX_DATAERR;
		}
		while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
			l--;
		if (dot_ends && l == 1 && line[0] == '.')
			break;
		if (m->len + l + 2 > MSG_MAX) {
			say("the message is larger than %u MiB", MSG_MAX >> 20);
			free(line);
			return EX_DATAERR;
		}
		if (m->len + l + 3 > bufcap) {
			bufcap = (m->len + l + 3) * 2;
			char *nb = realloc(m->buf, bufcap);
			if (nb == NULL) {
				free(line);
				return EX_OSERR;
			}
			m->buf = nb;
		}
		memcpy(m->buf + m->len, line, l);
		m->len += l;
		m->buf[m->len++] = '\r';
		m->buf[m->len++] = '\n';
	}
	free(line);
	if (m->buf == NULL && (m->buf = malloc(1)) == NULL)
		return EX_OSERR;
	return 0;
}

static void add_rcpt(struct msg *m, const char *addr, size_t len)
{
	struct smtp_path p;
	size_t used;
	char *copy;

	if (m->nrcpts == MAX_RCPTS)
		return;
	if (smtp_parse_path(addr, len, SMTP_PATH_UTF8, &p, &used) != SMTP_PATH_OK || used != len || p.mailbox == NULL) {
		say("\"%.*s\" is not an address", (int)len, addr);
		m->bad_rcpt = 1;
		return;
	}
	for (size_t i = 0; i < m->nrcpts; i++)
		if (strlen(m->rcpts[i]) == p.mailbox_len && strncasecmp(m->rcpts[i], p.mailbox, p.mailbox_len) == 0)
			return;
	if ((copy = strndup(p.mailbox, p.mailbox_len)) == NULL)
		return;
	m->owned[m->nowned++] = copy;
	m->rcpts[m->nrcpts++] = copy;
}

static void header_rcpt(void *arg, const char *addr, size_t len)
{
	add_rcpt(arg, addr, len);
}

struct hdr_state {
	struct msg *m;
	int extract;
	int have_date, have_msgid, have_from;
	size_t bcc_start[64], bcc_end[64];
	size_t nbcc;
};

static void on_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen, size_t start,
                      size_t end)
{
	struct hdr_state *h = arg;
	int to = nlen == 2 && strncasecmp(name, "To", 2) == 0, cc = nlen == 2 && strncasecmp(name, "Cc", 2) == 0;
	int bcc = nlen == 3 && strncasecmp(name, "Bcc", 3) == 0;

	if (nlen == 4 && strncasecmp(name, "Date", 4) == 0) h->have_date = 1;
	if (nlen == 10 && strncasecmp(name, "Message-ID", 10) == 0) h->have_msgid = 1;
	if (nlen == 4 && strncasecmp(name, "From", 4) == 0) h->have_from = 1;
	if (h->extract && (to || cc || bcc) && addrlist_parse(value, vlen, header_rcpt, h->m) < 0) {
		say("cannot read the addresses in %.*s: %.*s", (int)nlen, name, (int)(vlen > 80 ? 80 : vlen), value);
		h->m->bad_rcpt = 1;
	}
	if (bcc && h->nbcc < 64) {          /* Bcc never leaves with the message (RFC 5322 3.6.3) */
		h->bcc_start[h->nbcc] = start;
		h->bcc_end[h->nbcc++] = end;
	}
}

/* Remove Bcc, add From/Date/Message-ID when missing. Returns the new message (caller frees). */
static char *complete_message(struct msg *m, const struct send_opts *o, struct hdr_state *h, size_t *outlen)
{
	size_t body = header_walk(m->buf, m->len, on_header, h);
	char extra[1024], date[64], host[256] = "localhost", rnd[16];
	unsigned char r[6];
	size_t n = 0, o_len = 0;
	time_t now = time(NULL);
	struct tm tm;
	char *out;

	(void)body;
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	gethostname(host, sizeof(host));
	RAND_bytes(r, sizeof(r));
	snprintf(rnd, sizeof(rnd), "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
	if (!h->have_from) {
		if (o->fullname)
			n += (size_t)snprintf(extra + n, sizeof(extra) - n, "From: \"%s\" <%s>\r\n", o->fullname, o->from);
		else
			n += (size_t)snprintf(extra + n, sizeof(extra) - n, "From: <%s>\r\n", o->from);
	}
	if (!h->have_date)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, "Date: %s\r\n", date);
	if (!h->have_msgid) {
		const char *at = strrchr(o->from, '@');
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, "Message-ID: <%lld.%s@%s>\r\n", (long long)now, rnd,
		                      at ? at + 1 : host);
	}
	out = malloc(m->len + n + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, extra, n);
	o_len = n;
	size_t from = 0;
	for (size_t k = 0; k < h->nbcc; k++) {
		memcpy(out + o_len, m->buf + from, h->bcc_start[k] - from);
		o_len += h->bcc_start[k] - from;
		from = h->bcc_end[k];
	}
	memcpy(out + o_len, m->buf + from, m->len - from);
	o_len += m->len - from;
	*outlen = o_len;
	return out;
}

/* ---- talking to the server ---------------------------------------------------------------- */

struct attempt {
	int exit;               /* sysexits code of this attempt */
	int try_next;           /* auto mode: the next port may work */
	char why[1024];
};

static void verbose_line(const struct send_opts *o, const char *dir, const char *buf, size_t len)
{
	static const char *safe[] = { "EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "DATA", "QUIT", "RSET" };
	int known = 0;

	if (!o->verbose || len == 0)
		return;
	for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++)
		if (len >= strlen(safe[i]) && strncasecmp(buf, safe[i], strlen(safe[i])) == 0)
			known = 1;
	/* AUTH and its base64 continuation lines carry credentials: never shown. */
	if (!known)
		fprintf(stderr, "%s %s ********\n", dir, len >= 4 && strncasecmp(buf, "AUTH", 4) == 0 ? "AUTH" : "");
	else
		fprintf(stderr, "%s %.*s\n", dir, (int)(len >= 2 ? len - 2 : len), buf);
}

static void verbose_reply(const struct send_opts *o, const struct smtp_reply *r)
{
	if (!o->verbose)
		return;
	fprintf(stderr, "<- %d %s%s", r->code, r->esc, r->esc[0] ? " " : "");
	for (const char *p = r->text; *p; p++)
		if (*p == '\n')
			fprintf(stderr, "\n<- %d ", r->code);
		else
			fputc(*p, stderr);
	fputc('\n', stderr);
}

static int explain_transport(struct attempt *a, struct transport *t, int err, int implicit, const char *port)
{
	snprintf(a->why, sizeof(a->why), "%s", t->err);
	switch (err) {
	case TRANSPORT_EDNS:
		a->exit = EX_NOHOST;
		strncat(a->why, " (check the host name)", sizeof(a->why) - strlen(a->why) - 1);
		break;
	case TRANSPORT_EREFUSED:
		a->exit = EX_TEMPFAIL;
		a->try_next = 1;
		break;
	case TRANSPORT_ETIMEOUT:
		a->exit = EX_TEMPFAIL;
		a->try_next = 1;
		if (!implicit && strcmp(port, "465") == 0)
			strncat(a->why, " (port 465 expects TLS from the first byte: use --tls implicit)",
			        sizeof(a->why) - strlen(a->why) - 1);
		break;
	case TRANSPORT_EVERIFY:
		a->exit = EX_UNAVAILABLE;
		strncat(a->why, strstr(t->err, "self-signed") || strstr(t->err, "local issuer") ?
		        " (not signed by a CA we trust: if this is your own CA, pass --cafile FILE)" :
		        strstr(t->err, "expired") ? " (the server's certificate has expired: its admin must renew it)" :
		        strstr(t->err, "mismatch") ? " (the certificate is for another name: use the host name it was "
		                                     "issued for)" : "", sizeof(a->why) - strlen(a->why) - 1);
		break;
	case TRANSPORT_ETLS:
		a->exit = EX_UNAVAILABLE;
		a->try_next = 1;
		if (strstr(t->err, "wrong version number") || strstr(t->err, "packet length too long"))
			snprintf(a->why, sizeof(a->why), "%s expected TLS from the first byte but the server spoke "
			         "plaintext: use --tls starttls (usually port 587)", t->peer);
		else if (strstr(t->err, "protocol version") || strstr(t->err, "unsupported protocol"))
			snprintf(a->why, sizeof(a->why), "%s offers only TLS versions older than 1.2, which are not "
			         "safe: the server must be upgraded", t->peer);
		break;
	case TRANSPORT_EPROTO:
		a->exit = EX_UNAVAILABLE;       /* a server that breaks SMTP will not do better later */
		break;
	default:
		a->exit = EX_TEMPFAIL;
		break;
	}
	return a->exit;
}

static int reply_exit(int code)
{
	return code >= 500 ? EX_UNAVAILABLE : EX_TEMPFAIL;
}

static void attempt(const struct send_opts *o, const char *port, enum tls_mode mode, const char *password,
                    const struct smtp_client_envelope *env, const char *data, size_t len, struct attempt *a)
{
	struct smtp_client_conf conf = { NULL, SC_TLS_NONE, o->user, password, 0, 0 };
	struct transport t;
	struct smtp_client *c = NULL;
	struct smtp_client_out out;
	struct smtp_reply reply;
	char helo[256] = "localhost";
	int r;

	memset(a, 0, sizeof(*a));
	gethostname(helo, sizeof(helo));
	if (!smtp_domain_valid(helo, strlen(helo), 0))
		snprintf(helo, sizeof(helo), "localhost");
	conf.helo = helo;
	conf.tls = mode == TLS_IMPLICIT ? SC_TLS_IMPLICIT : mode == TLS_STARTTLS ? SC_TLS_REQUIRED : SC_TLS_NONE;
	if (o->verbose)
		fprintf(stderr, "mailport send: connecting to %s port %s (%s)\n", o->host, port,
		        mode == TLS_IMPLICIT ? "implicit TLS" : mode == TLS_STARTTLS ? "STARTTLS required" : "plaintext");
	if ((r = transport_connect(&t, o->host, port, o->timeout)) != 0) {
		explain_transport(a, &t, r, mode == TLS_IMPLICIT, port);
		goto out;
	}
	if (mode == TLS_IMPLICIT && (r = transport_tls(&t, o->host, o->cafile)) != 0) {
		explain_transport(a, &t, r, 1, port);
		goto out;
	}
	c = smtp_client_new(&conf, env);
	if (c == NULL) {
		a->exit = EX_OSERR;
		goto out;
	}
	for (;;) {
		if ((r = transport_read_reply(&t, &reply)) != 0) {
			explain_transport(a, &t, r, mode == TLS_IMPLICIT, port);
			goto out;
		}
		verbose_reply(o, &reply);
		smtp_client_reply(c, &reply, &out);
		if (out.step == SC_STARTTLS) {
			if ((r = transport_tls(&t, o->host, o->cafile)) != 0) {
				explain_transport(a, &t, r, 0, port);
				a->try_next = 0;
				goto out;
			}
			if (o->verbose)
				fprintf(stderr, "mailport send: TLS established: %s\n", t.tls_desc);
			smtp_client_tls_started(c, &out);
		}
		if (out.step == SC_BODY) {
			char *buf = malloc(2 * len + 8);
			struct smtp_stuff st = { 0 };
			size_t n;
			if (buf == NULL) {
				a->exit = EX_OSERR;
				goto out;
			}
			n = smtp_stuff(&st, data, len, buf);
			n += smtp_stuff_end(&st, buf + n);
			r = transport_write(&t, buf, n);
			free(buf);
			if (r != 0) {
				explain_transport(a, &t, r, 1, port);
				goto out;
			}
			if (o->verbose)
				fprintf(stderr, "-> (message, %zu octets)\n", len);
			continue;
		}
		verbose_line(o, "->", out.buf, out.len);
		if (out.len > 0 && transport_write(&t, out.buf, out.len) != 0 && out.step != SC_DONE && out.step != SC_FAIL) {
			explain_transport(a, &t, TRANSPORT_ENET, 1, port);
			goto out;
		}
		explicit_bzero(out.buf, sizeof(out.buf));
		if (out.step == SC_FAIL || out.step == SC_DONE)
			break;
	}
	if (out.step == SC_FAIL) {
		const struct smtp_client_result *f = smtp_client_failure(c);
		if (strcmp(f->stage, "starttls") == 0) {
			a->exit = EX_UNAVAILABLE;
			snprintf(a->why, sizeof(a->why), "%s did not %s STARTTLS; nothing was sent (no credentials, no "
			         "message). Refusing to continue without TLS%s", t.peer, f->code ? "accept" : "offer",
			         f->code ? "" : " (a server on this port that hides STARTTLS may be under a downgrade attack)");
		} else if (strcmp(f->stage, "auth") == 0) {
			a->exit = f->code == 535 || f->code == 0 ? EX_NOPERM : reply_exit(f->code);
			snprintf(a->why, sizeof(a->why), "%s refused the login%s%d %s %s%s", t.peer, f->code ? ": " : "",
			         f->code, f->esc, f->text, f->code == 535 ? " (wrong user name or password?)" : "");
			if (f->code == 0)
				snprintf(a->why, sizeof(a->why), "%s: %s", t.peer, f->text);
		} else {
			a->exit = reply_exit(f->code);
			snprintf(a->why, sizeof(a->why), "%s refused at %s: %d %s %s", t.peer, f->stage, f->code, f->esc, f->text);
		}
		goto out;
	}
	/* The transaction ran: judge the recipients. */
	size_t ok = 0, temp = 0, perm = 0;
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct smtp_client_result *res = smtp_client_rcpt_result(c, i);
		if (res->code == 250) {
			ok++;
			continue;
		}
		if (res->code >= 500)
			perm++;
		else
			temp++;
		const char *hint = res->code == 553 || (res->code >= 550 && strcmp(res->stage, "mail") == 0) ?
		                   " (the server does not let you send as this sender: check -f / from)" :
		                   res->code == 552 ? " (the message is too large for this server)" : "";
		say("<%s>: %d %s %s%s", env->rcpts[i], res->code, res->esc, res->text, hint);
	}
	a->exit = perm ? EX_UNAVAILABLE : temp ? EX_TEMPFAIL : 0;
	if (a->exit)
		snprintf(a->why, sizeof(a->why), "%zu of %zu recipient%s refused%s", perm + temp, env->nrcpts,
		         env->nrcpts == 1 ? "" : "s", ok ? "; the others received the message" : "");
	else if (o->verbose)
		fprintf(stderr, "mailport send: sent to %zu recipient%s via %s (%s)\n", ok, ok == 1 ? "" : "s", t.peer,
		        t.tls_desc[0] ? t.tls_desc : "plaintext");
out:
	smtp_client_free(c);
	transport_close(&t);
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport send [options] [recipient ...] < message\n"
	        "  --host HOST --port N --tls auto|implicit|starttls|none   where to submit (auto: 465, then 587)\n"
	        "  --auto-ports A,B   the ports --tls auto tries (implicit TLS, then STARTTLS); default 465,587\n"
	        "  --user USER --password-file FILE | --password-command CMD\n"
	        "  --cafile FILE   trust this CA (default: the system store); certificates are always verified\n"
	        "  --account NAME  [account NAME] of ~/.config/mailport/send.conf or /etc/mailport/send.conf\n"
	        "  --config FILE   the account file to read instead\n"
	        "  --from ADDR, -f ADDR   envelope sender; -F NAME   display name for an added From:\n"
	        "  -t   recipients from To/Cc/Bcc (Bcc is removed)   -i, -oi   a lone \".\" line is content\n"
	        "  -v   show the conversation (credentials masked)\n");
}

int send_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'H' }, { "port", required_argument, NULL, 'P' },
		{ "tls", required_argument, NULL, 'T' }, { "user", required_argument, NULL, 'U' },
		{ "password-file", required_argument, NULL, 'W' }, { "password-command", required_argument, NULL, 'C' },
		{ "cafile", required_argument, NULL, 'A' }, { "account", required_argument, NULL, 'a' },
		{ "config", required_argument, NULL, 'c' }, { "from", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 'O' }, { "help", no_argument, NULL, 'h' },
		{ "auto-ports", required_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 },
	};
	struct send_opts o;
	struct msg m;
	struct hdr_state h;
	char *data = NULL, *password = NULL;
	size_t dlen = 0;
	int ch, rc;

	memset(&o, 0, sizeof(o));
	memset(&m, 0, sizeof(m));
	memset(&h, 0, sizeof(h));
	o.timeout = 30;
	o.dot_ends = 1;
	snprintf(o.auto_ports[0], sizeof(o.auto_ports[0]), "465");
	snprintf(o.auto_ports[1], sizeof(o.auto_ports[1]), "587");
	/* sendmail's -oi / -o<anything>: -oi means -i; the rest are old delivery-mode switches. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strncmp(argv[i], "-o", 2) == 0 && argv[i][2] != '\0') {
			if (strcmp(argv[i], "-oi") == 0)
				o.dot_ends = 0;
			argv[i] = (char *)"-q";     /* neutralised: ignored below */
		} else if (strncmp(argv[i], "-b", 2) == 0 && strcmp(argv[i], "-bm") == 0)
			argv[i] = (char *)"-q";
	}
	optind = 1;
	while ((ch = getopt_long(argc, argv, "f:F:itvqr:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'H': free(o.host); o.host = strdup(optarg); break;
		case 'P': free(o.port); o.port = strdup(optarg); break;
		case 'T':
			o.tls_set = 1;
			if (strcmp(optarg, "auto") == 0) o.tls = TLS_AUTO;
			else if (strcmp(optarg, "implicit") == 0) o.tls = TLS_IMPLICIT;
			else if (strcmp(optarg, "starttls") == 0) o.tls = TLS_STARTTLS;
			else if (strcmp(optarg, "none") == 0) o.tls = TLS_NONE;
			else {
				say("--tls must be auto, implicit, starttls or none");
				rc = EX_USAGE;
				goto done;
			}
			break;
		case 'U': free(o.user); o.user = strdup(optarg); break;
		case 'W': free(o.password_file); o.password_file = strdup(optarg); break;
		case 'C': free(o.password_command); o.password_command = strdup(optarg); break;
		case 'A': free(o.cafile); o.cafile = strdup(optarg); break;
		case 'a': o.account = optarg; break;
		case 'c': o.config = optarg; break;
		case 'f': case 'r': free(o.from); o.from = strdup(optarg); break;
		case 'F': o.fullname = optarg; break;
		case 'O': o.timeout = atoi(optarg) > 0 ? atoi(optarg) : 30; break;
		case 'X':
			if (sscanf(optarg, "%7[0-9],%7[0-9]", o.auto_ports[0], o.auto_ports[1]) != 2) {
				say("--auto-ports takes IMPLICIT,STARTTLS, e.g. 465,587");
				rc = EX_USAGE;
				goto done;
			}
			break;
		case 'i': o.dot_ends = 0; break;
		case 't': o.extract = 1; break;
		case 'v': o.verbose = 1; break;
		case 'q': break;
		case 'h': usage(stdout); rc = 0; goto done;
		default: usage(stderr); rc = EX_USAGE; goto done;
		}
	}
	if ((rc = load_account(&o)) != 0)
		goto done;
	rc = EX_CONFIG;
	if (o.host == NULL) {
		say("no server: give --host (or host = in an [account] of send.conf)");
		goto done;
	}
	if (o.from == NULL) {
		say("no sender: give -f ADDRESS (or from = in an [account] of send.conf)");
		goto done;
	}
	if (o.tls == TLS_NONE && (o.user || o.password_file || o.password_command)) {
		say("--tls none with a login would send the password in plaintext; refusing");
		goto done;
	}
	if (o.tls == TLS_NONE)
		say("warning: --tls none: the message travels unencrypted (only for a relay on this machine)");
	for (int i = optind; i < argc; i++)
		add_rcpt(&m, argv[i], strlen(argv[i]));
	if ((rc = read_message(&m, o.dot_ends)) != 0)
		goto done;
	h.m = &m;
	h.extract = o.extract;
	data = complete_message(&m, &o, &h, &dlen);
	if (data == NULL) {
		rc = EX_OSERR;
		goto done;
	}
	if (m.bad_rcpt) {
		rc = EX_DATAERR;
		goto done;
	}
	if (m.nrcpts == 0) {
		say("no recipients: name them after the options, or use -t to take them from To/Cc/Bcc");
		rc = EX_USAGE;
		goto done;
	}
	if ((o.user != NULL) != (o.password_file != NULL || o.password_command != NULL)) {
		say(o.user ? "a user needs --password-file or --password-command (never a password on the command line)" :
		             "a password needs --user");
		rc = EX_CONFIG;
		goto done;
	}
	if (o.user && (password = get_password(&o)) == NULL) {
		rc = EX_CONFIG;
		goto done;
	}
	int utf8 = 0;
	for (const char *p = o.from; *p; p++)
		utf8 |= (unsigned char)*p >= 0x80;
	struct smtp_client_envelope env = { o.from, m.rcpts, m.nrcpts, dlen, utf8, 1 };
	struct attempt a;
	if (o.tls == TLS_AUTO && o.port == NULL) {
		/* RFC 8314 3: implicit TLS on 465 first, then STARTTLS on 587; never plaintext. */
		attempt(&o, o.auto_ports[0], TLS_IMPLICIT, password, &env, data, dlen, &a);
		if (a.exit != 0 && a.try_next) {
			say("port %s: %s; trying port %s with STARTTLS", o.auto_ports[0], a.why, o.auto_ports[1]);
			attempt(&o, o.auto_ports[1], TLS_STARTTLS, password, &env, data, dlen, &a);
		}
	} else {
		enum tls_mode mode = o.tls;
		const char *port = o.port;
		if (mode == TLS_AUTO)
			mode = port && strcmp(port, "465") == 0 ? TLS_IMPLICIT : TLS_STARTTLS;
		if (port == NULL)
			port = mode == TLS_IMPLICIT ? "465" : mode == TLS_STARTTLS ? "587" : "25";
		attempt(&o, port, mode, password, &env, data, dlen, &a);
	}
	if (a.exit != 0 && a.why[0])
		say("%s", a.why);
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
	free(o.cafile); free(o.from);
	return rc;
}
