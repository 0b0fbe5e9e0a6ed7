/*
 * send_explain.c - why an attempt failed, in words a user can act on, and the sysexits code
 * that goes with it (msmtp's smtp_exitcode, one layer at a time): the connection, the TLS
 * handshake (and which obsolete version a server insists on), the stage a server refused, each
 * recipient. It reads results; it never talks to the server except through check's probe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "../check/probe.h"
#include "../net/transport.h"
#include "../smtp/client.h"
#include "send_int.h"

static void why_add(struct attempt *a, const char *s)
{
	strncat(a->why, s, sizeof(a->why) - strlen(a->why) - 1);
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

int send_explain_transport(struct attempt *a, struct transport *t, int err, int implicit, const char *port)
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
void send_explain_old_tls(struct attempt *a, const struct send_opts *o, const struct transport *t,
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
void send_explain_failure(struct attempt *a, const struct smtp_client_result *f, const struct transport *t)
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
void send_judge_transaction(struct attempt *a, const struct send_opts *o, const struct smtp_client *c,
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
		send_say("<%s>: %d %s %s%s", env->rcpts[i], res->code, res->esc, res->text,
		    res->code == 552 ? " (the message is too large for this server)" :
		    strcmp(res->esc, "5.7.30") == 0 && strcmp(res->stage, "local") == 0 ?
		    " (nothing was sent: without --requiretls the server delivers as it can)" : "");
	}
	a->exit = perm ? EX_UNAVAILABLE : temp ? EX_TEMPFAIL : 0;
	if (a->exit)
		snprintf(a->why, sizeof(a->why), "%zu of %zu recipient%s refused%s", perm + temp, env->nrcpts,
		         env->nrcpts == 1 ? "" : "s", ok ? "; the others received the message" : "");
	else if (o->verbose)
		fprintf(stderr, "mailport send: sent to %zu recipient%s via %s (%s)\n", ok, ok == 1 ? "" : "s", t->peer,
		        t->tls_desc[0] ? t->tls_desc : "plaintext");
}
