/*
 * probe.c - the sessions `mailport check` holds with a server. Not judgement: what the
 * findings mean is verdict.c's. Every connection lives within one deadline.
 */
#include "probe.h"

#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../net/transport.h"
#include "../net/dns.h"
#include "../smtp/client.h"
#include "../smtp/parse.h"

#define MAX_ADDRS 8

struct deadline {
	struct timespec end;
};

static void deadline_start(struct deadline *d, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, &d->end);
	d->end.tv_sec += ms / 1000;
	d->end.tv_nsec += (ms % 1000) * 1000000L;
	if (d->end.tv_nsec >= 1000000000L) {
		d->end.tv_sec++;
		d->end.tv_nsec -= 1000000000L;
	}
}

static long remaining(const struct deadline *d)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(d->end.tv_sec - now.tv_sec) * 1000 + (d->end.tv_nsec - now.tv_nsec) / 1000000L;
	return ms > 0 ? ms : 1;
}

/* Truncating copy into a fixed field (the fields are for reports; a cut sentence is fine). */
static void put(char *dst, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *dst, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, len, fmt, ap);
	va_end(ap);
}

static enum check_reach reach_of(int code)
{
	return code == TRANSPORT_EREFUSED ? REACH_REFUSED : code == TRANSPORT_ETIMEOUT ? REACH_TIMEOUT :
	       code == TRANSPORT_EDNS ? REACH_DNS : REACH_ERROR;
}

/* Resolve (our resolver, so tests and split DNS see the same names as discovery) and connect
 * to the first address that answers. On failure p->reach and p->error say why. */
static int connect_any(struct check_port *p, const struct check_opts *o, struct transport *t,
                       const struct deadline *dl, char *addr_out, size_t addr_len)
{
	char addrs[MAX_ADDRS][DNS_ADDR_LEN], err[256] = "", port[8];
	size_t n = 0;
	struct dns *d = NULL;
	int r = DNS_OK, worst = 0;

	if (p->address[0] != '\0') {
		/* Again (a reconnect, a TLS version probe): the same server, no second lookup. */
		put(addrs[0], sizeof(addrs[0]), "%s", p->address);
		n = 1;
	} else if ((d = dns_new(o->resolver, DNS_HOSTS | DNS_ASK_ALL, err, sizeof(err))) != NULL) {
		dns_set_timeout(d, remaining(dl));
		r = dns_addrs(d, p->connect_host, addrs, MAX_ADDRS, &n, err, sizeof(err));
	} else
		r = DNS_TEMP;
	dns_free(d);
	if (r != DNS_OK || n == 0) {
		if (addr_out == p->address) {
			p->reach = REACH_DNS;
			p->dns_failed = r == DNS_TEMP;
			if (p->dns_failed)
				put(p->error, sizeof(p->error), "%s", err);
			else
				put(p->error, sizeof(p->error), "%s has no address: %s", p->connect_host,
				    r == DNS_OK ? "no A or AAAA record" : err);
		}
		return -1;
	}
	snprintf(port, sizeof(port), "%u", p->connect_port);
	for (size_t i = 0; i < n; i++) {
		long ms = remaining(dl);
		r = transport_connect(t, addrs[i], port, (int)((ms + 999) / 1000));
		if (r == TRANSPORT_OK) {
			transport_set_timeout_ms(t, remaining(dl));
			put(addr_out, addr_len, "%s", addrs[i]);
			return 0;
		}
		/* Report the most telling failure: a timeout over a refusal over the rest. */
		if (worst == 0 || r == TRANSPORT_ETIMEOUT || (r == TRANSPORT_EREFUSED && worst != TRANSPORT_ETIMEOUT)) {
			worst = r;
			put(err, sizeof(err), "%s", t->err);
		}
		transport_close(t);
	}
	if (addr_out == p->address) {
		p->reach = reach_of(worst);
		put(p->error, sizeof(p->error), "%s", err);
	} else
		put(t->err, sizeof(t->err), "%s", err);
	return -1;
}

static int handshake(struct check_port *p, const struct check_opts *o, struct transport *t, int version,
                     const struct deadline *dl)
{
	struct transport_tls_opts to = { p->host, o->cafile, version, 1, NULL, NULL, NULL };

	transport_set_timeout_ms(t, remaining(dl));
	return transport_tls_ex(t, &to);
}

static int cert_valid(const struct check_port *p)
{
	return p->tls.have_cert && p->tls.chain_ok && p->tls.host_ok && !p->tls.expired;
}

static void after_tls(struct check_port *p, struct transport *t, struct smtp_client_conf *conf)
{
	p->tls_ok = 1;
	tls_inspect(transport_ssl(t), p->host, time(NULL), &p->tls);
	if (conf->user != NULL && !cert_valid(p)) {
		/* The password goes only where a verifying client would send it. */
		conf->user = NULL;
		put(p->login_text, sizeof(p->login_text),
		         "the certificate is not valid for %s, so the password was not sent", p->host);
	}
}

/* What a server or certificate says goes to a terminal and into JSON: controls become spaces,
 * ill-formed UTF-8 becomes '?'. */
static void clean(char *s)
{
	unsigned char *p = (unsigned char *)s, *end = p + strlen(s);

	while (p < end) {
		size_t n = *p < 0x80 ? 1 : smtp_utf8_seq(p, end);
		if (n == 0)
			*p++ = '?';
		else if (n == 1 && (*p < 0x20 || *p == 0x7f))
			*p++ = ' ';
		else
			p += n;
	}
}

static void clean_all(struct check_port *p)
{
	char *fields[] = { p->error, p->greeting, p->tls_error, p->login_text, p->relay_text, p->ehlo_plain.auth,
	                   p->ehlo_tls.auth, p->tls.subject, p->tls.issuer, p->tls.names, p->tls.cipher, p->tls.group };

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		clean(fields[i]);
	for (int i = 0; i < CHECK_NVERSIONS; i++)
		clean(p->version_error[i]);
}

static void one_line(char *dst, size_t len, const char *src)
{
	put(dst, len, "%s", src);
	for (char *s = dst; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

/* The SMTP session itself. greeting: already read (plaintext detection), or NULL to read it. */
static void converse(struct check_port *p, const struct check_opts *o, struct transport *t, int implicit,
                     const struct smtp_reply *greeting, const struct deadline *dl)
{
	static const char *const rcpts[1] = { CHECK_RELAY_RCPT };
	struct smtp_client_conf conf = { o->helo, implicit ? SC_TLS_IMPLICIT : SC_TLS_OPPORTUNISTIC, NULL, NULL, 1, 0,
	                                 NULL, 0, 0, 0 };
	struct smtp_client_envelope env = { CHECK_RELAY_SENDER, rcpts, 0, 0, 0, 0, 0 };
	struct smtp_client_out out = { SC_WRITE, "", 0 };
	struct smtp_reply reply;
	struct smtp_client *c;
	const struct smtp_client_result *res;
	int tls = implicit, expect = 0;     /* expect: 1 = EHLO after TLS, 2 = STARTTLS answer */
	const struct smtp_caps *pc;

	if (p->role == ROLE_SMTP && o->relay_test) {
		conf.probe = 0;
		conf.rcpt_only = 1;
		env.nrcpts = 1;
	}
	if (p->role != ROLE_SMTP && o->user != NULL) {
		conf.user = o->user;
		conf.password = o->password;
		if (implicit && !cert_valid(p)) {
			conf.user = NULL;
			put(p->login_text, sizeof(p->login_text),
			         "the certificate is not valid for %s, so the password was not sent", p->host);
		}
	}
	if ((c = smtp_client_new(&conf, &env)) == NULL) {
		put(p->error, sizeof(p->error), "out of memory");
		return;
	}
	if (greeting != NULL)
		smtp_client_reply(c, greeting, &out);
	for (;;) {
		if (out.len > 0) {
			expect = strncmp(out.buf, "EHLO ", 5) == 0 && tls ? 1 : strcmp(out.buf, "STARTTLS\r\n") == 0 ? 2 : 0;
			if (transport_write(t, out.buf, out.len) != 0) {
				if (out.step != SC_DONE && out.step != SC_FAIL)
					put(p->error, sizeof(p->error), "%s", t->err);
				break;
			}
		}
		if (out.step == SC_DONE || out.step == SC_FAIL) {
			if (out.len > 0) {
				transport_set_timeout_ms(t, remaining(dl) < 2000 ? remaining(dl) : 2000);
				(void)transport_read_reply(t, &reply);      /* 221; a server that just closes is fine */
			}
			break;
		}
		transport_set_timeout_ms(t, remaining(dl));
		if (transport_read_reply(t, &reply) != 0) {
			put(p->error, sizeof(p->error), "%s", t->err);
			break;
		}
		if (expect == 1 && reply.code >= 200 && reply.code < 300)
			p->ehlo_tls_seen = 1;
		if (expect == 2)
			p->starttls_code = reply.code;
		expect = 0;
		smtp_client_reply(c, &reply, &out);
		if (out.step == SC_STARTTLS) {
			if (handshake(p, o, t, 0, dl) != 0) {
				put(p->tls_error, sizeof(p->tls_error), "%s", t->err);
				break;
			}
			tls = 1;
			after_tls(p, t, &conf);
			smtp_client_tls_started(c, &out);
		}
	}
	res = smtp_client_greeting(c);
	if (res->code) {
		p->greeting_code = res->code;
		one_line(p->greeting, sizeof(p->greeting), res->text);
	}
	p->esmtp = smtp_client_esmtp(c);
	pc = smtp_client_caps_plain(c, &p->ehlo_plain_seen);
	if (p->ehlo_plain_seen)
		p->ehlo_plain = *pc;
	if (p->ehlo_tls_seen)
		p->ehlo_tls = *smtp_client_caps(c);
	res = smtp_client_auth_result(c);
	if (res->code) {
		p->login_tested = 1;
		p->login_ok = res->code == 235;
		p->login_code = res->code;
		one_line(p->login_text, sizeof(p->login_text), res->text);
	}
	res = smtp_client_failure(c);
	if (conf.user != NULL && !p->login_tested && strcmp(res->stage, "auth") == 0)
		one_line(p->login_text, sizeof(p->login_text), res->text);
	else if ((res->code || res->text[0]) && p->error[0] == '\0' && strcmp(res->stage, "auth") != 0)
		put(p->error, sizeof(p->error), "%s failed: %d %s", res->stage, res->code, res->text);
	if (conf.rcpt_only && (res = smtp_client_rcpt_result(c, 0)) != NULL && res->code) {
		p->relay_tested = 1;
		p->relay_open = res->code == 250;
		p->relay_code = res->code;
		one_line(p->relay_text, sizeof(p->relay_text), res->text);
	}
	smtp_client_free(c);
}

/* A failed handshake still tells whether the server speaks TLS: it answered with TLS records
 * (an alert: no common version or cipher), not with plaintext or silence. */
static int speaks_tls(const struct transport *t)
{
	return t->tls_fail == TLS_FAIL_VERSION || t->tls_fail == TLS_FAIL_OTHER;
}

/* Wait for a plaintext greeting; how long a plaintext server may take before we conclude it
 * waits for us to speak first (TLS). */
static int read_greeting(struct transport *t, const struct deadline *dl, long cap_ms, struct smtp_reply *r)
{
	long ms = remaining(dl) / 2;

	transport_set_timeout_ms(t, ms > cap_ms ? cap_ms : ms);
	return transport_read_reply(t, r);
}

void check_probe(struct check_port *p, const struct check_opts *o)
{
	struct transport t;
	struct smtp_reply greeting;
	struct deadline dl;
	int r;

	deadline_start(&dl, o->timeout_ms);
	memset(&t, 0, sizeof(t));
	t.fd = -1;
	if (connect_any(p, o, &t, &dl, p->address, sizeof(p->address)) != 0)
		goto out;
	p->reach = REACH_CONNECTED;
	if (p->role == ROLE_SUBMISSIONS) {
		/* RFC 8314: TLS from the first byte. */
		if (handshake(p, o, &t, 0, &dl) == 0) {
			p->speaks = SPEAKS_TLS;
			after_tls(p, &t, &(struct smtp_client_conf){ 0 });
			converse(p, o, &t, 1, NULL, &dl);
			goto out;
		}
		put(p->tls_error, sizeof(p->tls_error), "%s", t.err);
		if (speaks_tls(&t)) {
			/* The server answered in TLS (with an alert, e.g. an old protocol version). */
			p->speaks = SPEAKS_TLS;
			goto out;
		}
		/* Is it a plaintext port that a client set to "SSL/TLS" would fail on? */
		transport_close(&t);
		if (connect_any(p, o, &t, &dl, p->address, sizeof(p->address)) != 0)
			goto out;
		if (read_greeting(&t, &dl, 5000, &greeting) == 0) {
			p->speaks = SPEAKS_PLAIN;
			p->tls_error[0] = '\0';
			converse(p, o, &t, 0, &greeting, &dl);
		} else {
			p->speaks = SPEAKS_TLS;     /* it wanted TLS (nothing came) but the handshake failed */
			put(p->error, sizeof(p->error), "%s", p->tls_error);
		}
		goto out;
	}
	/* A port of unknown role is as likely TLS-first: do not wait long before trying that. */
	r = read_greeting(&t, &dl, p->role_guessed ? CHECK_GUESS_GREETING_MS : 5000, &greeting);
	if (r == 0) {
		p->speaks = SPEAKS_PLAIN;
		converse(p, o, &t, 0, &greeting, &dl);
		goto out;
	}
	if (r != TRANSPORT_ETIMEOUT) {
		put(p->error, sizeof(p->error), "%s before any greeting", t.err);
		goto out;
	}
	/* Silence: perhaps a TLS-first port where a STARTTLS one was expected. */
	transport_close(&t);
	if (connect_any(p, o, &t, &dl, p->address, sizeof(p->address)) != 0)
		goto out;
	if (handshake(p, o, &t, 0, &dl) == 0) {
		p->speaks = SPEAKS_TLS;
		after_tls(p, &t, &(struct smtp_client_conf){ 0 });
		converse(p, o, &t, 1, NULL, &dl);
		goto out;
	}
	if (speaks_tls(&t)) {
		p->speaks = SPEAKS_TLS;
		put(p->tls_error, sizeof(p->tls_error), "%s", t.err);
		goto out;
	}
	/* Not TLS either: perhaps only a slow greeter. Give it the rest of the time. */
	put(p->error, sizeof(p->error), "no SMTP greeting, and no TLS handshake either (%s)", t.err);
	transport_close(&t);
	if (connect_any(p, o, &t, &dl, p->address, sizeof(p->address)) != 0)
		goto out;
	transport_set_timeout_ms(&t, remaining(&dl));
	if (transport_read_reply(&t, &greeting) == 0) {
		p->error[0] = '\0';
		p->speaks = SPEAKS_PLAIN;
		converse(p, o, &t, 0, &greeting, &dl);
	}
out:
	transport_close(&t);
	clean_all(p);
}

void check_probe_version(struct check_port *p, int idx, const struct check_opts *o)
{
	static const int versions[CHECK_NVERSIONS] = { TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION };
	struct smtp_client_conf conf = { o->helo, SC_TLS_REQUIRED, NULL, NULL, 1, 0, NULL, 0, 0, 0 };
	struct smtp_client_envelope env = { "", NULL, 0, 0, 0, 0, 0 };
	struct smtp_client_out out = { SC_WRITE, "", 0 };
	struct smtp_client *c = NULL;
	struct smtp_reply reply;
	struct transport t;
	struct deadline dl;
	char addr[DNS_ADDR_LEN];
	char *why = p->version_error[idx];
	size_t whylen = sizeof(p->version_error[idx]);

	deadline_start(&dl, o->timeout_ms);
	memset(&t, 0, sizeof(t));
	t.fd = -1;
	if (connect_any(p, o, &t, &dl, addr, sizeof(addr)) != 0) {
		put(why, whylen, "%s", t.err);
		goto out;
	}
	if (p->speaks == SPEAKS_PLAIN) {
		/* Up to the 220 to STARTTLS, through the same client core as the main probe. */
		if ((c = smtp_client_new(&conf, &env)) == NULL)
			goto out;
		for (;;) {
			if (out.len > 0 && transport_write(&t, out.buf, out.len) != 0)
				break;
			if (out.step != SC_WRITE)
				break;
			transport_set_timeout_ms(&t, remaining(&dl));
			if (transport_read_reply(&t, &reply) != 0)
				break;
			smtp_client_reply(c, &reply, &out);
			if (out.step == SC_STARTTLS)
				break;
		}
		if (out.step != SC_STARTTLS) {
			put(why, whylen, "%s", t.err[0] ? t.err : "the session did not reach STARTTLS");
			goto out;
		}
	}
	if (handshake(p, o, &t, versions[idx], &dl) == 0)
		p->version_ok[idx] = 1;
	else
		put(why, whylen, "%s", t.err);
out:
	smtp_client_free(c);
	transport_close(&t);
	clean(p->version_error[idx]);
}
