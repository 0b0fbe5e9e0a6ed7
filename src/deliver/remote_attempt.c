/*
 * remote_attempt.c - one delivery attempt to one server: the client core driven over the blocking
 * transport, the body streamed from the spool with dot-stuffing. Not the retry policy
 * (runner.c decides when to try again and when to bounce).
 */
#include "remote_attempt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "../net/transport.h"
#include "../smtp/data.h"
#include "../tls/inspect.h"


int relay_parse_url(const char *url, struct relay_conf *rc, const char **why)
{
	static const struct { const char *prefix; enum relay_scheme scheme; const char *port; } schemes[] = {
		{ "smtps://", RELAY_SMTPS, "465" },
		{ "smtp+starttls://", RELAY_STARTTLS, "587" },
		{ "smtp://", RELAY_PLAIN, "25" },
	};
	const char *rest = NULL, *defport = NULL, *colon;

	for (size_t i = 0; i < 3; i++)
		if (strncmp(url, schemes[i].prefix, strlen(schemes[i].prefix)) == 0) {
			rc->scheme = schemes[i].scheme;
			rest = url + strlen(schemes[i].prefix);
			defport = schemes[i].port;
		}
	if (rest == NULL) {
		*why = "must start with smtps:// (implicit TLS), smtp+starttls:// (STARTTLS required) or smtp:// (plaintext)";
		return -1;
	}
	if (*rest == '[') {
		const char *rb = strchr(rest, ']');
		if (rb == NULL) {
			*why = "unterminated [IPv6] address";
			return -1;
		}
		rc->host = strndup(rest + 1, (size_t)(rb - rest - 1));
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = strchr(rest, ':');
		rc->host = colon ? strndup(rest, (size_t)(colon - rest)) : strdup(rest);
	}
	rc->port = strdup(colon ? colon + 1 : defport);
	if (rc->host == NULL || rc->port == NULL || rc->host[0] == '\0' || strchr(rc->host, '/') ||
	    strspn(rc->port, "0123456789") != strlen(rc->port) || atoi(rc->port) < 1 || atoi(rc->port) > 65535) {
		*why = "expected scheme://host[:port] with a port from 1 to 65535";
		return -1;
	}
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

void relay_conf_clear(struct relay_conf *rc)
{
	free(rc->host);
	free(rc->port);
	free(rc->user);
	if (rc->password) {
		explicit_bzero(rc->password, strlen(rc->password));
		free(rc->password);
	}
	free(rc->ca_file);
	free(rc->helo);
	free(rc->resolver);
	free(rc->mx_port);
	memset(rc, 0, sizeof(*rc));
}

int relay_conf_copy(struct relay_conf *dst, const struct relay_conf *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->scheme = src->scheme;
	dst->timeout = src->timeout;
	dst->host = dup_or_null(src->host);
	dst->port = dup_or_null(src->port);
	dst->user = dup_or_null(src->user);
	dst->password = dup_or_null(src->password);
	dst->ca_file = dup_or_null(src->ca_file);
	dst->helo = dup_or_null(src->helo);
	dst->resolver = dup_or_null(src->resolver);
	dst->mx_port = dup_or_null(src->mx_port);
	return 0;
}

/* Keep a connection only after a transaction the server accepted for someone. */
static int delivered_any(const struct smtp_client *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (smtp_client_rcpt_result(c, i)->code == 250)
			return 1;
	return 0;
}

/* RFC 5321 4.1.1.10: send QUIT and wait for its reply before closing. */
static void quit(struct transport *t)
{
	struct smtp_reply r;

	if (transport_write(t, "QUIT\r\n", 6) == 0)
		(void)transport_read_reply(t, &r);
}

void relay_cache_close(struct relay_cache *cache)
{
	if (cache == NULL || !cache->open)
		return;
	quit(cache->t);
	transport_close(cache->t);
	free(cache->t);
	smtp_client_free(cache->last);
	explicit_bzero(cache->password, sizeof(cache->password));
	cache->t = NULL;
	cache->last = NULL;
	cache->open = 0;
}

int relay_start_tls(struct transport *t, const struct tls_policy *tls)
{
	/* MTA-STS testing: the chain verified against the CAs and the name sent as SNI, as enforce
	 * would, but inspected after the handshake instead of failing it (RFC 8461 5). */
	int testing = tls->sts_testing && tls->level == TLS_LEVEL_MAY && tls->match != NULL;
	struct transport_tls_opts o = { tls->level == TLS_LEVEL_VERIFY || testing ? tls->match : NULL, tls->ca_file, 0,
	                                testing, tls->level == TLS_LEVEL_DANE ? tls->dane : NULL, NULL, NULL };
	return transport_tls_ex(t, &o);
}

/* ---- what TLS-RPT counts (RFC 8460 4.3) ------------------------------------------------- */

static void rpt_set(struct relay_tlsrpt *rpt, const char *result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void rpt_set(struct relay_tlsrpt *rpt, const char *result, const char *fmt, ...)
{
	va_list ap;

	if (rpt == NULL || rpt->result != NULL)
		return;                 /* the first failure of a session is the one reported */
	rpt->result = result;
	va_start(ap, fmt);
	vsnprintf(rpt->reason, sizeof(rpt->reason), fmt, ap);
	va_end(ap);
}

/* The result-type of a certificate OpenSSL's chain check refused with vr. */
static const char *cert_result(long vr)
{
	switch (vr) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "certificate-host-mismatch";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate-expired";
	default:
		return "certificate-not-trusted";
	}
}

/* A handshake that failed with tr (transport.h) under tls. */
static void rpt_tls_failed(struct relay_tlsrpt *rpt, struct transport *t, const struct tls_policy *tls, int tr)
{
	SSL *ssl = transport_ssl(t);

	if (tr == TRANSPORT_EVERIFY && tls->level == TLS_LEVEL_DANE)
		rpt_set(rpt, "tlsa-invalid", "%s", t->err);
	else if (tr == TRANSPORT_EVERIFY)
		rpt_set(rpt, cert_result(ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK), "%s", t->err);
	else
		rpt_set(rpt, "validation-failure", "%s", t->err);
}

/* MTA-STS testing, after a handshake that went through: what enforce would have said of the
 * certificate. The message goes either way. */
static void rpt_testing_verdict(struct relay_tlsrpt *rpt, struct transport *t, const struct tls_policy *tls)
{
	struct tls_peer p;
	SSL *ssl = transport_ssl(t);

	if (!tls->sts_testing || tls->match == NULL || ssl == NULL)
		return;
	tls_inspect(ssl, tls->match, time(NULL), &p);
	if (!p.have_cert)
		rpt_set(rpt, "certificate-not-trusted", "%s showed no certificate (MTA-STS testing: delivered anyway)",
		        t->peer);
	else if (p.expired || p.chain_error == X509_V_ERR_CERT_HAS_EXPIRED)
		rpt_set(rpt, "certificate-expired", "certificate of %s expired on %s (MTA-STS testing: delivered anyway)",
		        t->peer, p.not_after);
	else if (!p.chain_ok)
		rpt_set(rpt, "certificate-not-trusted", "certificate of %s not trusted: %s (MTA-STS testing: delivered "
		        "anyway)", t->peer, p.chain_reason);
	else if (!p.host_ok)
		rpt_set(rpt, "certificate-host-mismatch", "certificate of %s is not for %s: hostname mismatch (MTA-STS "
		        "testing: delivered anyway)", t->peer, tls->match);
}

/* Under MTA-STS testing the client core goes on in plaintext when STARTTLS is refused or not
 * offered: enforce would have refused the host, so it is counted. Only once EHLO (or HELO after
 * a refused EHLO) was answered: a session lost before that says nothing about TLS. */
static void rpt_testing_plaintext(struct relay_tlsrpt *rpt, const struct smtp_client *c, const struct tls_policy *tls,
                                  const char *peer, size_t n)
{
	const struct smtp_client_result *st = smtp_client_starttls_result(c);
	int seen_caps = smtp_client_esmtp(c);

	if (!tls->sts_testing || rpt == NULL || rpt->tls)
		return;
	for (size_t i = 0; i < n && !seen_caps; i++)
		seen_caps = smtp_client_rcpt_result(c, i)->code != 0;
	if (st->code != 0)
		rpt_set(rpt, "starttls-not-supported", "%s: STARTTLS refused: %d %s %s (MTA-STS testing: delivered in "
		        "plaintext)", peer, st->code, st->esc, st->text);
	else if (seen_caps)
		rpt_set(rpt, "starttls-not-supported", "%s does not offer STARTTLS (MTA-STS testing: delivered in "
		        "plaintext)", peer);
}

/* Talk to the server until the transaction ends. Returns 0 when the server saw it through (the
 * connection may be kept), -1 on failure, RELAY_ETLS when the TLS handshake failed. */
static int converse(const struct tls_policy *tls, struct transport *t, struct smtp_client *c,
                    const struct spool_entry *e, struct smtp_client_out *out, int keep, char *err, size_t errlen,
                    struct relay_tlsrpt *rpt)
{
	struct smtp_reply reply;

	for (;;) {
		if (out->len > 0 && out->step != SC_DONE && transport_write(t, out->buf, out->len) != 0) {
			snprintf(err, errlen, "%s", t->err);
			return -1;
		}
		if (out->step == SC_FAIL) {
			const struct smtp_client_result *f = smtp_client_failure(c);
			transport_write(t, out->buf, out->len);       /* QUIT */
			snprintf(err, errlen, "%s: %s%s%d %s %s", t->peer, f->stage, f->code ? " refused: " : ": ",
			         f->code, f->esc, f->text);
			/* TLS required and not to be had: refused (454) or not offered alike. */
			if (strcmp(f->stage, "starttls") == 0)
				rpt_set(rpt, "starttls-not-supported", "%s", err);
			return -1;
		}
		if (out->step == SC_DONE) {
			if (!keep)
				quit(t);
			return 0;
		}
		explicit_bzero(out->buf, sizeof(out->buf));       /* may have held AUTH */
		if (out->step == SC_BODY) {
			if (transport_send_body(t, e->fd, e->body_off, e->body_len) != 0) {
				snprintf(err, errlen, "%s", t->err);
				return -1;
			}
		}
		if (transport_read_reply(t, &reply) != 0) {
			snprintf(err, errlen, "%s", t->err);
			return -1;
		}
		smtp_client_reply(c, &reply, out);
		if (out->step == SC_STARTTLS) {
			int tr = relay_start_tls(t, tls);
			if (tr != 0) {
				snprintf(err, errlen, "%s", t->err);
				rpt_tls_failed(rpt, t, tls, tr);
				return tr == TRANSPORT_ETLS ? RELAY_ETLS : -1;
			}
			if (rpt != NULL)
				rpt->tls = 1;
			rpt_testing_verdict(rpt, t, tls);
			smtp_client_tls_started(c, out);
		}
	}
}

static int is_utf8(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* The envelope of recipients idx[0..n) of e (rcpts: n slots); SMTPUTF8 when any address needs
 * it, REQUIRETLS when the message was tagged with it. */
static struct smtp_client_envelope envelope_of(const struct spool_entry *e, const size_t *idx, size_t n,
                                               const char **rcpts)
{
	int smtputf8 = is_utf8(e->sender);

	for (size_t i = 0; i < n; i++) {
		rcpts[i] = e->rcpts[idx[i]].target;
		smtputf8 |= is_utf8(rcpts[i]);
	}
	/* RFC 8689 4.2.1: a bounce (null reverse-path) of a REQUIRETLS message is not held to it. */
	return (struct smtp_client_envelope){ e->sender, rcpts, n, e->body_len, smtputf8, 1,
	                                      (e->flags & SPOOL_F_REQUIRETLS) && e->sender[0] };
}

/* The client settings of a new connection: in the cache's own strings when it may be kept
 * (the cache outlives rc), else rc's. */
static void fresh_conf(const struct relay_conf *rc, const struct tls_policy *policy, struct relay_cache *cache,
                       struct smtp_client_conf *cconf)
{
	if (cache) {
		snprintf(cache->helo, sizeof(cache->helo), "%s", rc->helo ? rc->helo : "localhost");
		snprintf(cache->user, sizeof(cache->user), "%s", rc->user ? rc->user : "");
		snprintf(cache->password, sizeof(cache->password), "%s", rc->password ? rc->password : "");
		*cconf = (struct smtp_client_conf){ cache->helo, SC_TLS_NONE, rc->user ? cache->user : NULL,
		                                    rc->password ? cache->password : NULL, 0, 0, NULL, 0, 0, 0 };
	} else
		*cconf = (struct smtp_client_conf){ rc->helo, SC_TLS_NONE, rc->user, rc->password, 0, 0, NULL, 0, 0, 0 };
	cconf->tls = policy->implicit ? SC_TLS_IMPLICIT : policy->level >= TLS_LEVEL_ENCRYPT ? SC_TLS_REQUIRED :
	             policy->level == TLS_LEVEL_MAY ? SC_TLS_OPPORTUNISTIC : SC_TLS_NONE;
}

void relay_tlspolicy_conf(const struct relay_conf *rc, struct tlspolicy_conf *out)
{
	*out = (struct tlspolicy_conf){ .resolver = rc->resolver,
	                                .mx_port = rc->mx_port ? (unsigned)strtoul(rc->mx_port, NULL, 10) : 25,
	                                .timeout_ms = rc->timeout * 1000L };
	if (rc->scheme == RELAY_NONE)
		return;
	out->smarthost = rc->host;
	out->smarthost_level = rc->scheme == RELAY_PLAIN ? TLS_LEVEL_NONE : TLS_LEVEL_VERIFY;
	out->smarthost_implicit = rc->scheme == RELAY_SMTPS;
	out->smarthost_ca_file = rc->ca_file;
}

/* One call of relay_deliver(): its arguments, and what its steps share. */
struct attempt {
	const struct relay_conf *rc;
	const struct tls_policy *policy;
	const struct spool_entry *e;
	size_t n;
	struct smtp_client_envelope env;
	struct smtp_client_result *results;
	char *err, *tls;
	size_t errlen, tlslen;
	struct relay_cache *cache;      /* NULL: nothing kept */
	struct relay_tlsrpt *rpt;       /* NULL: not wanted */
	char key[600];                  /* the destination, as kept connections are matched */
	long long now;
};

static void copy_results(const struct attempt *a, const struct smtp_client *c)
{
	for (size_t i = 0; i < a->n; i++)
		a->results[i] = *smtp_client_rcpt_result(c, i);
}

/* The transaction on the cache's kept connection, after RSET. 1 when the connection carried it
 * (*r: converse()'s answer; the connection kept again if the server accepted someone, else
 * closed), 0 when there was none to use or it went stale before anything was decided (then it
 * is closed and a fresh connection follows). */
static int deliver_kept(struct attempt *a, int *r)
{
	struct relay_cache *cache = a->cache;
	struct smtp_client_out out;
	struct smtp_client *c;

	if (cache == NULL)
		return 0;
	if (cache->open && (strcmp(cache->key, a->key) != 0 || a->now - cache->used > RELAY_CACHE_IDLE))
		relay_cache_close(cache);
	if (!cache->open)
		return 0;
	/* The cache may have been moved (pooled): point its conf at its own strings again. */
	cache->conf.helo = cache->helo;
	cache->conf.user = cache->user[0] ? cache->user : NULL;
	cache->conf.password = cache->user[0] ? cache->password : NULL;
	memset(&out, 0, sizeof(out));
	if ((c = smtp_client_reuse(cache->last, &cache->conf, &a->env, &out)) != NULL) {
		snprintf(a->tls, a->tlslen, "%s", cache->tls_desc);
		if (a->rpt != NULL)
			*a->rpt = cache->rpt;   /* the session's TLS is the one it was made with */
		*r = converse(a->policy, cache->t, c, a->e, &out, 1, a->err, a->errlen, a->rpt);
		int decided = 0;
		for (size_t i = 0; i < a->n; i++)
			decided |= smtp_client_rcpt_result(c, i)->code != 0;
		if (*r == 0 || decided) {
			copy_results(a, c);
			if (*r == 0 && delivered_any(c, a->n)) {
				smtp_client_free(cache->last);
				cache->last = c;
				cache->used = a->now;
			} else {
				relay_cache_close(cache);
				smtp_client_free(c);
			}
			return 1;
		}
		/* The kept connection went stale before anything was decided: start afresh. */
		smtp_client_free(c);
		if (a->rpt != NULL)
			memset(a->rpt, 0, sizeof(*a->rpt));
	}
	relay_cache_close(cache);
	return 0;
}

/* A new connection on t: connected (*connected: t is to be closed), TLS first when the policy
 * says implicit, and the client core in *c. 0, or -1 with err. */
static int open_session(struct attempt *a, struct transport *t, struct smtp_client_conf *cconf,
                        struct smtp_client **c, int *connected)
{
	fresh_conf(a->rc, a->policy, a->cache, cconf);
	if (transport_connect_as(t, a->rc->name, a->rc->host, a->rc->port, a->rc->timeout) != 0) {
		snprintf(a->err, a->errlen, "%s", t->err);
		return -1;
	}
	*connected = 1;
	if (a->rpt != NULL)
		snprintf(a->rpt->local, sizeof(a->rpt->local), "%s", t->local);
	if (a->policy->implicit) {
		int tr = relay_start_tls(t, a->policy);
		if (tr != 0) {
			snprintf(a->err, a->errlen, "%s", t->err);
			rpt_tls_failed(a->rpt, t, a->policy, tr);
			return -1;
		}
		if (a->rpt != NULL)
			a->rpt->tls = 1;
		rpt_testing_verdict(a->rpt, t, a->policy);
	}
	if ((*c = smtp_client_new(cconf, &a->env)) == NULL) {
		snprintf(a->err, a->errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Keep the session on t with c for the next message to this destination. */
static void keep(struct attempt *a, struct transport *t, struct smtp_client *c)
{
	struct relay_cache *cache = a->cache;

	cache->open = 1;
	cache->t = t;
	cache->last = c;
	snprintf(cache->key, sizeof(cache->key), "%s", a->key);
	snprintf(cache->tls_desc, sizeof(cache->tls_desc), "%s", a->tls);
	if (a->rpt != NULL)
		cache->rpt = *a->rpt;
	else
		memset(&cache->rpt, 0, sizeof(cache->rpt));
	cache->used = a->now;
}

/* The transaction on a new connection, kept afterwards when there is a cache and the server
 * accepted someone. converse()'s answer, or -1. */
static int deliver_fresh(struct attempt *a)
{
	struct smtp_client_conf local_conf = { 0 }, *cconf = a->cache ? &a->cache->conf : &local_conf;
	struct transport local_t, *t = &local_t;
	struct smtp_client_out out;
	struct smtp_client *c = NULL;
	int r = -1, connected = 0;

	if (a->cache && (t = calloc(1, sizeof(*t))) == NULL) {   /* a kept one outlives the call */
		snprintf(a->err, a->errlen, "out of memory");
		return -1;
	}
	if (open_session(a, t, cconf, &c, &connected) == 0) {
		memset(&out, 0, sizeof(out));
		out.step = SC_WRITE;    /* nothing to write: read the greeting first */
		r = converse(a->policy, t, c, a->e, &out, a->cache != NULL, a->err, a->errlen, a->rpt);
		rpt_testing_plaintext(a->rpt, c, a->policy, t->peer, a->n);
		if (t->dane_match[0])
			snprintf(a->tls, a->tlslen, "%s, TLSA %s", t->tls_desc, t->dane_match);
		else
			snprintf(a->tls, a->tlslen, "%s", t->tls_desc);
	}
	if (c != NULL)
		copy_results(a, c);
	if (a->cache && r == 0 && delivered_any(c, a->n)) {
		keep(a, t, c);
		return 0;
	}
	if (a->cache && r == 0)
		quit(t);                /* after a refusal, the next message gets a fresh connection */
	if (connected)
		transport_close(t);
	if (t != &local_t)
		free(t);
	smtp_client_free(c);
	return r;
}

int relay_deliver(const struct relay_conf *rc, const struct tls_policy *policy, const struct spool_entry *e,
                  const size_t *idx, size_t n,
                  struct smtp_client_result *results, char *err, size_t errlen, char *tls, size_t tlslen,
                  struct relay_cache *cache, struct relay_tlsrpt *rpt)
{
	struct attempt a = { .rc = rc, .policy = policy, .e = e, .n = n, .results = results, .err = err, .tls = tls,
	                     .errlen = errlen, .tlslen = tlslen, .cache = cache, .rpt = rpt,
	                     .now = (long long)time(NULL) };
	const char **rcpts = calloc(n, sizeof(*rcpts));
	int r;

	err[0] = '\0';
	tls[0] = '\0';
	if (rpt != NULL)
		memset(rpt, 0, sizeof(*rpt));
	memset(results, 0, n * sizeof(*results));
	if (rcpts == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	a.env = envelope_of(e, idx, n, rcpts);
	snprintf(a.key, sizeof(a.key), "%d%d%d|%s|%s|%s", (int)policy->level, policy->implicit, policy->sts_testing,
	         rc->host, rc->port, rc->user ? rc->user : "");
	if (!deliver_kept(&a, &r))
		r = deliver_fresh(&a);
	free(rcpts);
	return r;
}
