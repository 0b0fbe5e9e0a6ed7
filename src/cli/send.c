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

#include "../check/probe.h"
#include "../client/transport.h"
#include "../msg/addrlist.h"
#include "../smtp/client.h"
#include "../smtp/data.h"
#include "../smtp/parse.h"
#include "ctl.h"
#include "secret.h"
#include "version.h"

#define MSG_MAX (64u * 1024 * 1024)
#define MAX_RCPTS 1000

/* TLS_DETECT: --tls auto on a port other than 465/587, which speaks whatever it speaks. */
enum tls_mode { TLS_AUTO, TLS_IMPLICIT, TLS_STARTTLS, TLS_NONE, TLS_DETECT };


struct send_opts {
	char *host, *port, *user, *password_file, *password_command, *cafile, *from, *account, *config;
	char *acct_from;                /* from = of the account: the last choice for the sender */
	const char *mta_config;         /* sendmail -C FILE: the server's configuration, for -bp */
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
	else if (strcmp(name, "from") == 0) set_if_unset(&o->acct_from, value);
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
		pw = secret_read_file("mailport send", o->password_file);
		if (pw == NULL) {
			say("cannot read password_file %s: %s", o->password_file, strerror(errno));
			return NULL;
		}
		return pw;
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

/* The addresses of one From: or Sender: field: how many, and the first. */
struct author {
	int n;
	char first[SMTP_PATH_MAX + 1];
};

static void author_addr(void *arg, const char *addr, size_t len)
{
	struct author *a = arg;

	if (a->n++ == 0)
		snprintf(a->first, sizeof(a->first), "%.*s", (int)len, addr);
}

struct hdr_state {
	struct msg *m;
	int extract;
	int have_date, have_msgid, have_from;
	struct author from, sender;
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
	if (nlen == 4 && strncasecmp(name, "From", 4) == 0) {
		h->have_from = 1;
		if (h->from.n == 0 && addrlist_parse(value, vlen, author_addr, &h->from) < 0)
			h->from.n = 0;
	}
	if (nlen == 6 && strncasecmp(name, "Sender", 6) == 0 && h->sender.n == 0 &&
	    addrlist_parse(value, vlen, author_addr, &h->sender) < 0)
		h->sender.n = 0;
	if (h->extract && (to || cc || bcc) && addrlist_parse(value, vlen, header_rcpt, h->m) < 0) {
		say("cannot read the addresses in %.*s: %.*s", (int)nlen, name, (int)(vlen > 80 ? 80 : vlen), value);
		h->m->bad_rcpt = 1;
	}
	if (bcc && h->nbcc < 64) {          /* Bcc never leaves with the message (RFC 5322 3.6.3) */
		h->bcc_start[h->nbcc] = start;
		h->bcc_end[h->nbcc++] = end;
	}
}

static int is_address(const char *s)
{
	struct smtp_path p;
	size_t used, len = strlen(s);

	return smtp_parse_path(s, len, SMTP_PATH_UTF8, &p, &used) == SMTP_PATH_OK && used == len && p.mailbox != NULL;
}

/* The envelope sender when -f is not given, as cron, mutt, git send-email and PHP's mail()
 * call sendmail: the message's author when it names exactly one (RFC 5322 3.6.2), else its
 * Sender:, else the login when it is an address, else the account's from. NULL: none. */
static const char *choose_sender(const struct send_opts *o, const struct hdr_state *h, const char **whence)
{
	if (o->from != NULL) {
		*whence = "given with -f";
		return o->from;
	}
	if (h->from.n == 1 && is_address(h->from.first)) {
		*whence = "taken from the From: header";
		return h->from.first;
	}
	if (h->sender.n == 1 && is_address(h->sender.first)) {
		*whence = "taken from the Sender: header";
		return h->sender.first;
	}
	if (o->user != NULL && is_address(o->user)) {
		*whence = "taken from --user";
		return o->user;
	}
	*whence = "taken from from = in send.conf";
	return o->acct_from;
}

/* Remove Bcc, add From/Date/Message-ID when missing. Returns the new message (caller frees).
 * h holds the header walk's findings. */
static char *complete_message(struct msg *m, const struct send_opts *o, const char *sender, struct hdr_state *h,
                              size_t *outlen)
{
	char extra[1024], date[64], host[256] = "localhost", rnd[16];
	unsigned char r[6];
	size_t n = 0, o_len = 0;
	time_t now = time(NULL);
	struct tm tm;
	char *out;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	gethostname(host, sizeof(host));
	RAND_bytes(r, sizeof(r));
	snprintf(rnd, sizeof(rnd), "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
	if (!h->have_from) {
		if (o->fullname)
			n += (size_t)snprintf(extra + n, sizeof(extra) - n, "From: \"%s\" <%s>\r\n", o->fullname, sender);
		else
			n += (size_t)snprintf(extra + n, sizeof(extra) - n, "From: <%s>\r\n", sender);
	}
	if (!h->have_date)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, "Date: %s\r\n", date);
	if (!h->have_msgid) {
		const char *at = strrchr(sender, '@');
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
	int plaintext;          /* detect mode: TLS was tried, but the port speaks plaintext */
	char why[1024];
};

static void why_add(struct attempt *a, const char *s)
{
	strncat(a->why, s, sizeof(a->why) - strlen(a->why) - 1);
}

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

/* -v: the server's lines exactly as they came ("250-" stays "250-"); controls shown as '?'. */
static void trace_server(void *arg, const char *line, size_t len)
{
	(void)arg;
	fputs("<- ", stderr);
	for (size_t i = 0; i < len; i++)
		fputc((unsigned char)line[i] < 0x20 || line[i] == 0x7f ? '?' : line[i], stderr);
	fputc('\n', stderr);
}

/* The TLS version a server insists on when our handshake (TLS 1.2 or newer) found no common
 * one: asked again with only TLS 1.1, then only 1.0 offered, through check's probe (the same
 * client core), to the address that answered. NULL when neither works either. */
static const char *old_tls_version(const struct send_opts *o, const struct transport *t, const char *port,
                                   int starttls, const char *helo)
{
	static const char *const names[] = { "TLS 1.0", "TLS 1.1" };
	struct check_opts co = { helo, o->cafile, NULL, (long)o->timeout * 1000, NULL, NULL, 0 };
	struct check_port *p = calloc(1, sizeof(*p));
	const char *found = NULL;

	if (p == NULL)
		return NULL;
	snprintf(p->host, sizeof(p->host), "%s", o->host);
	snprintf(p->connect_host, sizeof(p->connect_host), "%s", o->host);
	snprintf(p->address, sizeof(p->address), "%s", t->addr);
	p->port = p->connect_port = (unsigned)strtoul(port, NULL, 10);
	p->speaks = starttls ? SPEAKS_PLAIN : SPEAKS_TLS;
	for (int idx = 1; idx >= 0 && found == NULL; idx--) {
		check_probe_version(p, idx, &co);
		if (p->version_ok[idx])
			found = names[idx];
	}
	free(p);
	return found;
}

static int explain_transport(struct attempt *a, struct transport *t, int err, int implicit, const char *port)
{
	snprintf(a->why, sizeof(a->why), "%s", t->err);
	switch (err) {
	case TRANSPORT_EDNS:
		a->exit = EX_NOHOST;
		why_add(a, " (check the host name)");
		break;
	case TRANSPORT_EREFUSED:
		a->exit = EX_TEMPFAIL;
		a->try_next = 1;
		break;
	case TRANSPORT_ETIMEOUT:
		a->exit = EX_TEMPFAIL;
		a->try_next = 1;
		if (implicit && t->tls_fail == TLS_FAIL_TIMEOUT)
			why_add(a, ": the server accepted the connection but did not answer the TLS handshake");
		else if (!implicit && strcmp(port, "465") == 0)
			why_add(a, " (port 465 expects TLS from the first byte: use --tls implicit)");
		break;
	case TRANSPORT_EVERIFY:
		a->exit = EX_UNAVAILABLE;
		why_add(a, strstr(t->err, "self-signed") || strstr(t->err, "local issuer") ?
		        " (not signed by a CA we trust: if this is your own CA, pass --cafile FILE)" :
		        strstr(t->err, "expired") ? " (the server's certificate has expired: its admin must renew it)" :
		        strstr(t->err, "mismatch") ? " (the certificate is for another name: use the host name it was "
		                                     "issued for)" : "");
		break;
	case TRANSPORT_ETLS:
		a->exit = EX_UNAVAILABLE;
		a->try_next = 1;
		if (t->tls_fail == TLS_FAIL_PLAINTEXT && implicit) {
			a->plaintext = 1;
			snprintf(a->why, sizeof(a->why), "%s expected TLS from the first byte but the server spoke "
			         "plaintext: use --tls starttls (usually port 587)", t->peer);
		}
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

/* A handshake that found no TLS version in common: name the old one the server offers. */
static void explain_old_tls(struct attempt *a, const struct send_opts *o, const struct transport *t,
                            const char *port, int starttls, const char *helo)
{
	const char *v;

	if (t->tls_fail != TLS_FAIL_VERSION && t->tls_fail != TLS_FAIL_OTHER)
		return;
	if ((v = old_tls_version(o, t, port, starttls, helo)) == NULL)
		return;
	a->exit = EX_UNAVAILABLE;
	a->try_next = 1;
	snprintf(a->why, sizeof(a->why), "%s offers only %s, which is obsolete and refused (RFC 8996): nothing was "
	         "sent. The server's admin must enable TLS 1.2 or 1.3", t->peer, v);
}

static int reply_exit(int code)
{
	return code >= 500 ? EX_UNAVAILABLE : EX_TEMPFAIL;
}

/* After SC_FAIL: the stage that stopped the session, in words. */
static void explain_failure(struct attempt *a, const struct smtp_client_result *f, const struct transport *t)
{
	if (strcmp(f->stage, "starttls") == 0) {
		a->exit = EX_UNAVAILABLE;
		snprintf(a->why, sizeof(a->why), "%s did not %s STARTTLS; nothing was sent (no credentials, no "
		         "message). Refusing to continue without TLS%s", t->peer, f->code ? "accept" : "offer",
		         f->code ? "" : " (a server on this port that hides STARTTLS may be under a downgrade attack)");
	} else if (strcmp(f->stage, "auth") == 0 && f->code == 0) {
		a->exit = EX_NOPERM;
		snprintf(a->why, sizeof(a->why), "%s: %s", t->peer, f->text);
	} else if (strcmp(f->stage, "auth") == 0) {
		a->exit = f->code == 535 ? EX_NOPERM : reply_exit(f->code);
		snprintf(a->why, sizeof(a->why), "%s refused the login: %d %s %s%s", t->peer, f->code, f->esc, f->text,
		         f->code == 535 ? " (wrong user name or password?)" :
		         f->code == 454 ? " (the server is refusing logins from your address for now, usually after "
		                          "too many failed ones: wait and try again, or ask its admin to unlock it)" : "");
	} else if (strcmp(f->stage, "greeting") == 0) {
		a->exit = reply_exit(f->code);
		snprintf(a->why, sizeof(a->why), "%s turned the connection away: %d %s %s", t->peer, f->code, f->esc,
		         f->text);
	} else {
		a->exit = reply_exit(f->code);
		snprintf(a->why, sizeof(a->why), "%s refused at %s: %d %s %s", t->peer, f->stage, f->code, f->esc, f->text);
	}
}

/* The transaction ran: judge the sender, then each recipient. */
static void judge_transaction(struct attempt *a, const struct send_opts *o, const struct smtp_client *c,
                              const struct smtp_client_envelope *env, const struct transport *t,
                              const char *whence)
{
	const struct smtp_client_result *first = smtp_client_rcpt_result(c, 0);
	size_t ok = 0, temp = 0, perm = 0;

	if (env->nrcpts > 0 && strcmp(first->stage, "mail") == 0) {
		/* MAIL refused: no recipient was even asked about. */
		a->exit = first->code ? reply_exit(first->code) : EX_TEMPFAIL;
		snprintf(a->why, sizeof(a->why), "%s refused the sender <%s> (%s): %d %s %s%s", t->peer, env->sender,
		         whence, first->code, first->esc, first->text, first->code == 553 || first->code == 550 ?
		         " (the server does not let this login send as that address: give -f ADDRESS, or set from = "
		         "in send.conf, to an address of yours)" : first->code == 552 ?
		         " (the message is too large for this server)" : "");
		return;
	}
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
		say("<%s>: %d %s %s%s", env->rcpts[i], res->code, res->esc, res->text,
		    res->code == 552 ? " (the message is too large for this server)" : "");
	}
	a->exit = perm ? EX_UNAVAILABLE : temp ? EX_TEMPFAIL : 0;
	if (a->exit)
		snprintf(a->why, sizeof(a->why), "%zu of %zu recipient%s refused%s", perm + temp, env->nrcpts,
		         env->nrcpts == 1 ? "" : "s", ok ? "; the others received the message" : "");
	else if (o->verbose)
		fprintf(stderr, "mailport send: sent to %zu recipient%s via %s (%s)\n", ok, ok == 1 ? "" : "s", t->peer,
		        t->tls_desc[0] ? t->tls_desc : "plaintext");
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

/* One session on one port. mode TLS_DETECT: a greeting within CHECK_GUESS_GREETING_MS means
 * plaintext (then STARTTLS is required), silence means TLS from the first byte. */
static void attempt(const struct send_opts *o, const char *port, enum tls_mode mode, const char *password,
                    const struct smtp_client_envelope *env, const char *whence, const char *data, size_t len,
                    struct attempt *a)
{
	struct smtp_client_conf conf = { NULL, SC_TLS_NONE, o->user, password, 0, 0 };
	struct transport t;
	struct smtp_client *c = NULL;
	struct smtp_client_out out;
	struct smtp_reply reply;
	char helo[256] = "localhost";
	int r, have_greeting = 0, greeted = 0;

	memset(a, 0, sizeof(*a));
	gethostname(helo, sizeof(helo));
	if (!smtp_domain_valid(helo, strlen(helo), 0))
		snprintf(helo, sizeof(helo), "localhost");
	conf.helo = helo;
	if (o->verbose)
		fprintf(stderr, "mailport send: connecting to %s port %s (%s)\n", o->host, port,
		        mode == TLS_IMPLICIT ? "implicit TLS" : mode == TLS_STARTTLS ? "STARTTLS required" :
		        mode == TLS_DETECT ? "finding out whether it speaks TLS first or STARTTLS" : "plaintext");
	if ((r = transport_connect(&t, o->host, port, o->timeout)) != 0) {
		explain_transport(a, &t, r, mode == TLS_IMPLICIT, port);
		goto out;
	}
	if (o->verbose) {
		t.trace = trace_server;
		t.trace_arg = NULL;
	}
	if (mode == TLS_DETECT) {
		transport_set_timeout_ms(&t, CHECK_GUESS_GREETING_MS < o->timeout * 1000L ? CHECK_GUESS_GREETING_MS :
		                             o->timeout * 1000L);
		r = transport_read_reply(&t, &reply);
		transport_set_timeout_ms(&t, o->timeout * 1000L);
		if (r == 0)
			have_greeting = 1;
		else if (r != TRANSPORT_ETIMEOUT) {
			explain_transport(a, &t, r, 0, port);
			goto out;
		}
		mode = have_greeting ? TLS_STARTTLS : TLS_IMPLICIT;
		if (o->verbose)
			fprintf(stderr, "mailport send: port %s %s\n", port, have_greeting ?
			        "greeted in plaintext: STARTTLS required" : "stayed silent: trying TLS from the first byte");
	}
	conf.tls = mode == TLS_IMPLICIT ? SC_TLS_IMPLICIT : mode == TLS_STARTTLS ? SC_TLS_REQUIRED : SC_TLS_NONE;
	if (mode == TLS_IMPLICIT && (r = transport_tls(&t, o->host, o->cafile)) != 0) {
		explain_transport(a, &t, r, 1, port);
		if (r == TRANSPORT_ETLS)
			explain_old_tls(a, o, &t, port, 0, helo);
		goto out;
	}
	if (mode == TLS_IMPLICIT && o->verbose)
		fprintf(stderr, "mailport send: TLS established: %s\n", t.tls_desc);
	c = smtp_client_new(&conf, env);
	if (c == NULL) {
		a->exit = EX_OSERR;
		goto out;
	}
	for (;;) {
		if (have_greeting)
			have_greeting = 0;      /* already read by the detection */
		else if ((r = transport_read_reply(&t, &reply)) != 0) {
			explain_transport(a, &t, r, mode == TLS_IMPLICIT, port);
			if (r == TRANSPORT_ETIMEOUT && !greeted && mode != TLS_IMPLICIT)
				snprintf(a->why, sizeof(a->why), "%s accepted the connection but sent no SMTP greeting in %d s: "
				         "it looks like a port that expects TLS from the first byte (465-style, \"SSL/TLS\"): "
				         "use --tls implicit for it", t.peer, t.timeout);
			goto out;
		}
		greeted = 1;
		smtp_client_reply(c, &reply, &out);
		if (out.step == SC_STARTTLS) {
			if ((r = transport_tls(&t, o->host, o->cafile)) != 0) {
				explain_transport(a, &t, r, 0, port);
				if (r == TRANSPORT_ETLS)
					explain_old_tls(a, o, &t, port, 1, helo);
				a->try_next = 0;
				goto out;
			}
			if (o->verbose)
				fprintf(stderr, "mailport send: TLS established: %s\n", t.tls_desc);
			smtp_client_tls_started(c, &out);
		}
		if (out.step == SC_BODY) {
			if ((r = write_body(&t, data, len)) != 0) {
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
	if (out.step == SC_FAIL)
		explain_failure(a, smtp_client_failure(c), &t);
	else
		judge_transaction(a, o, c, env, &t, whence);
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
	        "  --account NAME  [account NAME] of ~/.config/mailport/send.conf or /etc/mailport/send.conf\n"
	        "  --config FILE   the account file to read instead\n"
	        "  --from ADDR, -f ADDR   envelope sender (default: the message's From:, else Sender:, else\n"
	        "                  --user when it is an address, else from = of the account)\n"
	        "  -F NAME         display name for an added From:\n"
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
		say("-bs (SMTP on standard input) is not supported: mailport send submits one message over the "
		    "network. Point the program at the server's submission port (465 or 587) instead, or pipe the "
		    "message into sendmail without -bs");
	else if (strcmp(arg, "-bd") == 0 || strcmp(arg, "-bD") == 0)
		say("%s: the server is `mailport serve --config FILE`, not sendmail -bd", arg);
	else if (strcmp(arg, "-bi") == 0)
		say("-bi (newaliases): mailport keeps aliases in its users file; reload the server (SIGHUP) instead");
	else
		say("%s is not supported (only -bm, the default, and -bp)", arg);
	return EX_USAGE;
}

int send_main(int argc, char **argv)
{
	enum { O_HOST = 256, O_PORT, O_TLS, O_USER, O_PWFILE, O_PWCMD, O_CAFILE, O_ACCOUNT, O_CONFIG, O_TIMEOUT,
	       O_AUTOPORTS, O_VERSION };
	static const struct option opts[] = {
		{ "host", required_argument, NULL, O_HOST }, { "port", required_argument, NULL, O_PORT },
		{ "tls", required_argument, NULL, O_TLS }, { "user", required_argument, NULL, O_USER },
		{ "password-file", required_argument, NULL, O_PWFILE },
		{ "password-command", required_argument, NULL, O_PWCMD },
		{ "cafile", required_argument, NULL, O_CAFILE }, { "account", required_argument, NULL, O_ACCOUNT },
		{ "config", required_argument, NULL, O_CONFIG }, { "from", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, O_TIMEOUT }, { "help", no_argument, NULL, 'h' },
		{ "auto-ports", required_argument, NULL, O_AUTOPORTS }, { "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct send_opts o;
	struct msg m;
	struct hdr_state h;
	char *data = NULL, *password = NULL;
	const char *sender, *whence;
	size_t dlen = 0;
	int ch, rc, list_queue = 0;

	memset(&o, 0, sizeof(o));
	memset(&m, 0, sizeof(m));
	memset(&h, 0, sizeof(h));
	o.timeout = 30;
	o.dot_ends = 1;
	snprintf(o.auto_ports[0], sizeof(o.auto_ports[0]), "465");
	snprintf(o.auto_ports[1], sizeof(o.auto_ports[1]), "587");
	/* sendmail's -o<option> and -b<mode> words: -oi means -i, other -o options are old delivery
	 * switches (ignored, as Postfix's sendmail does); -bm is the default mode, -bp lists the
	 * queue; any other mode is refused in words. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strncmp(argv[i], "-o", 2) == 0 && argv[i][2] != '\0') {
			if (strcmp(argv[i], "-oi") == 0)
				o.dot_ends = 0;
			argv[i] = (char *)"-q";     /* neutralised: ignored below */
		} else if (strncmp(argv[i], "-b", 2) == 0) {
			if (strcmp(argv[i], "-bp") == 0)
				list_queue = 1;
			else if (strcmp(argv[i], "-bm") != 0)
				return refuse_mode(argv[i]);
			argv[i] = (char *)"-q";
		}
	}
	optind = 1;
	while ((ch = getopt_long(argc, argv, "f:F:itvqr:hB:C:N:R:V:L:O:X:GUmne:", opts, NULL)) != -1) {
		switch (ch) {
		case O_HOST: free(o.host); o.host = strdup(optarg); break;
		case O_PORT: free(o.port); o.port = strdup(optarg); break;
		case O_TLS:
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
		case O_USER: free(o.user); o.user = strdup(optarg); break;
		case O_PWFILE: free(o.password_file); o.password_file = strdup(optarg); break;
		case O_PWCMD: free(o.password_command); o.password_command = strdup(optarg); break;
		case O_CAFILE: free(o.cafile); o.cafile = strdup(optarg); break;
		case O_ACCOUNT: o.account = optarg; break;
		case O_CONFIG: o.config = optarg; break;
		case 'C': o.mta_config = optarg; break;
		case 'f': case 'r': free(o.from); o.from = strdup(optarg); break;
		case 'F': o.fullname = optarg; break;
		case O_TIMEOUT: o.timeout = atoi(optarg) > 0 ? atoi(optarg) : 30; break;
		case O_AUTOPORTS:
			if (sscanf(optarg, "%7[0-9],%7[0-9]", o.auto_ports[0], o.auto_ports[1]) != 2) {
				say("--auto-ports takes IMPLICIT,STARTTLS, e.g. 465,587");
				rc = EX_USAGE;
				goto done;
			}
			break;
		case 'i': o.dot_ends = 0; break;
		case 't': o.extract = 1; break;
		case 'v': o.verbose = 1; break;
		/* sendmail options without a meaning here: body type, DSN, envelope id, syslog label,
		 * -O option=value, traffic log, initial submission, me-too, no aliasing, error mode. */
		case 'q': case 'B': case 'N': case 'R': case 'V': case 'L': case 'O': case 'X': case 'G': case 'U':
		case 'm': case 'n': case 'e': break;
		case O_VERSION: printf("mailport send (sendmail-compatible) %s\n", MAILPORT_VERSION); rc = 0; goto done;
		case 'h': usage(stdout); rc = 0; goto done;
		default: usage(stderr); rc = EX_USAGE; goto done;
		}
	}
	if (list_queue) {
		char *qargv[] = { (char *)"mailq", (char *)"--config",
		                  (char *)(o.mta_config ? o.mta_config : MAILPORT_DEFAULT_CONFIG), (char *)"list", NULL };
		rc = queue_main(4, qargv);
		goto done;
	}
	/* In the order a user would fix things: what to send and to whom first, then where. */
	if (!o.extract && optind == argc) {
		say("no recipients: name them after the options, or use -t to take them from To/Cc/Bcc");
		rc = EX_USAGE;
		goto done;
	}
	for (int i = optind; i < argc; i++)
		add_rcpt(&m, argv[i], strlen(argv[i]));
	if ((rc = read_message(&m, o.dot_ends)) != 0)
		goto done;
	h.m = &m;
	h.extract = o.extract;
	header_walk(m.buf, m.len, on_header, &h);
	if (m.bad_rcpt) {
		rc = EX_DATAERR;
		goto done;
	}
	if (m.nrcpts == 0) {
		say("no recipients: -t found no address in the message's To, Cc or Bcc header");
		rc = EX_USAGE;
		goto done;
	}
	if ((rc = load_account(&o)) != 0)
		goto done;
	rc = EX_CONFIG;
	if (o.host == NULL) {
		say("no server: give --host (or host = in an [account] of send.conf)");
		goto done;
	}
	if ((sender = choose_sender(&o, &h, &whence)) == NULL) {
		say("no sender: the message has no From: header with one address; give -f ADDRESS (or from = in "
		    "an [account] of send.conf)");
		goto done;
	}
	if (!is_address(sender)) {
		say("the sender \"%s\" (%s) is not an address", sender, whence);
		rc = o.from != NULL ? EX_USAGE : EX_DATAERR;
		goto done;
	}
	if (o.tls == TLS_NONE && (o.user || o.password_file || o.password_command)) {
		say("--tls none with a login would send the password in plaintext; refusing");
		goto done;
	}
	if ((o.user != NULL) != (o.password_file != NULL || o.password_command != NULL)) {
		say(o.user ? "a user needs --password-file or --password-command (never a password on the command line)" :
		             "a password needs --user");
		goto done;
	}
	if (o.tls == TLS_NONE)
		say("warning: --tls none: the message travels unencrypted (only for a relay on this machine)");
	data = complete_message(&m, &o, sender, &h, &dlen);
	if (data == NULL) {
		rc = EX_OSERR;
		goto done;
	}
	if (o.user && (password = get_password(&o)) == NULL) {
		rc = EX_CONFIG;
		goto done;
	}
	int utf8 = 0;
	for (const char *p = sender; *p; p++)
		utf8 |= (unsigned char)*p >= 0x80;
	struct smtp_client_envelope env = { sender, m.rcpts, m.nrcpts, dlen, utf8, 1 };
	struct attempt a;
	if (o.tls == TLS_AUTO && o.port == NULL) {
		/* RFC 8314 3: implicit TLS on 465 first, then STARTTLS on 587; never plaintext. */
		attempt(&o, o.auto_ports[0], TLS_IMPLICIT, password, &env, whence, data, dlen, &a);
		if (a.exit != 0 && a.try_next) {
			say("port %s: %s; trying port %s with STARTTLS", o.auto_ports[0], a.why, o.auto_ports[1]);
			attempt(&o, o.auto_ports[1], TLS_STARTTLS, password, &env, whence, data, dlen, &a);
		}
	} else {
		enum tls_mode mode = o.tls;
		const char *port = o.port;
		if (mode == TLS_AUTO)
			mode = strcmp(port, "465") == 0 ? TLS_IMPLICIT : strcmp(port, "587") == 0 ? TLS_STARTTLS : TLS_DETECT;
		if (port == NULL)
			port = mode == TLS_IMPLICIT ? "465" : mode == TLS_STARTTLS ? "587" : "25";
		attempt(&o, port, mode, password, &env, whence, data, dlen, &a);
		if (mode == TLS_DETECT && a.plaintext) {
			/* Silent at first, then a greeting: a slow plaintext server. */
			say("port %s: answered TLS with plaintext; trying STARTTLS", port);
			attempt(&o, port, TLS_STARTTLS, password, &env, whence, data, dlen, &a);
		}
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
	free(o.cafile); free(o.from); free(o.acct_from);
	return rc;
}
