/*
 * relay.c - one delivery attempt to one server: the client core driven over the blocking
 * transport, the body streamed from the spool with dot-stuffing. Not the retry policy
 * (runner.c decides when to try again and when to bounce).
 */
#include "relay.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../client/transport.h"

#define BODY_CHUNK (32 * 1024)

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

/* Send the stored message with dot-stuffing (RFC 5321 4.5.2) and the end marker. The stored
 * message has CRLF line ends only (the receiver normalised bare LF and refused bare CR). */
static int send_body(struct transport *t, const struct spool_entry *e)
{
	char in[BODY_CHUNK], out[2 * BODY_CHUNK + 8];
	size_t left = e->body_len, o;
	off_t off = e->body_off;
	int bol = 1, r;
	char last = '\n';

	while (left > 0) {
		ssize_t n = pread(e->fd, in, left < sizeof(in) ? left : sizeof(in), off);
		if (n <= 0) {
			snprintf(t->err, sizeof(t->err), "cannot read the queue file: %s", n < 0 ? strerror(errno) : "short");
			return TRANSPORT_ENET;
		}
		o = 0;
		for (ssize_t i = 0; i < n; i++) {
			if (bol && in[i] == '.')
				out[o++] = '.';
			out[o++] = in[i];
			bol = in[i] == '\n';
		}
		last = in[n - 1];
		if ((r = transport_write(t, out, o)) != 0)
			return r;
		off += n;
		left -= (size_t)n;
	}
	if (e->body_len > 0 && last != '\n')
		return transport_write(t, "\r\n.\r\n", 5);
	return transport_write(t, ".\r\n", 3);
}

int relay_deliver(const struct relay_conf *rc, const struct spool_entry *e, const size_t *idx, size_t n,
                  struct smtp_client_result *results, char *err, size_t errlen, char *tls, size_t tlslen)
{
	const char **rcpts = calloc(n, sizeof(*rcpts));
	struct smtp_client_conf cconf = { rc->helo, SC_TLS_NONE, rc->user, rc->password };
	struct smtp_client_envelope env;
	struct smtp_client *c = NULL;
	struct smtp_client_out out;
	struct smtp_reply reply;
	struct transport t;
	int r = -1, smtputf8 = 0;

	err[0] = '\0';
	tls[0] = '\0';
	memset(results, 0, n * sizeof(*results));
	if (rcpts == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		rcpts[i] = e->rcpts[idx[i]].target;
		for (const char *p = rcpts[i]; *p; p++)
			if ((unsigned char)*p >= 0x80)
				smtputf8 = 1;
	}
	for (const char *p = e->sender; *p; p++)
		if ((unsigned char)*p >= 0x80)
			smtputf8 = 1;
	env = (struct smtp_client_envelope){ e->sender, rcpts, n, e->body_len, smtputf8, 1 };
	cconf.tls = rc->scheme == RELAY_SMTPS ? SC_TLS_IMPLICIT :
	            rc->scheme == RELAY_STARTTLS ? SC_TLS_REQUIRED :
	            rc->scheme == RELAY_OPPORTUNISTIC ? SC_TLS_OPPORTUNISTIC : SC_TLS_NONE;
	/* Opportunistic TLS encrypts without authenticating: an MX has no name we could check
	 * against without DANE or MTA-STS. */
	const char *verify = rc->scheme == RELAY_OPPORTUNISTIC ? NULL : rc->host;
	if (transport_connect(&t, rc->host, rc->port, rc->timeout) != 0) {
		snprintf(err, errlen, "%s", t.err);
		goto out;
	}
	if (rc->scheme == RELAY_SMTPS && transport_tls(&t, verify, rc->ca_file) != 0) {
		snprintf(err, errlen, "%s", t.err);
		goto out;
	}
	c = smtp_client_new(&cconf, &env);
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (;;) {
		if (transport_read_reply(&t, &reply) != 0) {
			snprintf(err, errlen, "%s", t.err);
			goto out;
		}
		smtp_client_reply(c, &reply, &out);
		if (out.step == SC_STARTTLS) {
			int tr = transport_tls(&t, verify, rc->ca_file);
			if (tr != 0) {
				snprintf(err, errlen, "%s", t.err);
				if (tr == TRANSPORT_ETLS)
					r = RELAY_ETLS;
				goto out;
			}
			smtp_client_tls_started(c, &out);
		}
		if (out.step == SC_BODY) {
			if (send_body(&t, e) != 0) {
				snprintf(err, errlen, "%s", t.err);
				goto out;
			}
			continue;
		}
		if (out.len > 0 && transport_write(&t, out.buf, out.len) != 0 && out.step != SC_DONE &&
		    out.step != SC_FAIL) {
			snprintf(err, errlen, "%s", t.err);
			goto out;
		}
		explicit_bzero(out.buf, sizeof(out.buf));   /* may have held AUTH */
		if (out.step == SC_FAIL) {
			const struct smtp_client_result *f = smtp_client_failure(c);
			snprintf(err, errlen, "%s: %s%s%d %s %s", t.peer, f->stage, f->code ? " refused: " : ": ",
			         f->code, f->esc, f->text);
			goto out;
		}
		if (out.step == SC_DONE)
			break;
	}
	r = 0;
out:
	if (c != NULL)
		for (size_t i = 0; i < n; i++)
			results[i] = *smtp_client_rcpt_result(c, i);
	snprintf(tls, tlslen, "%s", t.tls_desc);
	smtp_client_free(c);
	transport_close(&t);
	free(rcpts);
	return r;
}
