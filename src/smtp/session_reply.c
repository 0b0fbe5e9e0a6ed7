/*
 * session_reply.c - the server session's replies (RFC 3463 codes on every one, the error
 * count), the end of a transaction, and closing. Below the rest of the session.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/base64.h"
#include "../util/duration.h"
#include "session_int.h"

void sess_reply_raw(struct smtp_session *s, const char *buf, size_t len)
{
	s->cb->reply(s->ctx, buf, len);
}

/* The single place a one-line reply is formatted. Every 4xx/5xx counts toward max_errors,
 * except 452 4.5.3 (too many recipients is the client's normal pacing signal) and 421. */
void sess_reply(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
{
	char buf[SMTP_LINE_MAX];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "%d %s ", code, esc);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if ((size_t)n > sizeof(buf) - 3)
		n = (int)sizeof(buf) - 3;
	buf[n++] = '\r';
	buf[n++] = '\n';
	sess_reply_raw(s, buf, (size_t)n);
	if (code >= 400 && code != 421 && code != 452)
		s->errors++;
}

void sess_close_with(struct smtp_session *s, int code, const char *esc, const char *text)
{
	if (s->state == S_CLOSING)
		return;
	sess_reply(s, code, esc, "%s %s", s->conf->hostname, text);
	sess_enter_closing(s);
}

/* ---- transaction --------------------------------------------------------------------- */

void sess_data_abort(struct smtp_session *s)
{
	if (s->data_open) {
		s->data_open = 0;
		s->cb->data_abort(s->ctx);
	}
}

void sess_tx_free(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;

	sess_data_abort(s);
	if (tx == NULL)
		return;
	for (size_t i = 0; i < tx->nrcpts; i++) {
		free(tx->rcpts[i].addr);
		free(tx->rcpts[i].target);
	}
	free(tx->rcpts);
	free(tx->sender);
	free(tx);
	s->tx = NULL;
}

void sess_enter_closing(struct smtp_session *s)
{
	sess_tx_free(s);
	s->state = S_CLOSING;
}

char *sess_dup_slice(const char *p, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* Out of memory inside a session fails the session, not the process (STYLE §4). */
void sess_oom(struct smtp_session *s)
{
	sess_close_with(s, 421, "4.3.0", "Out of memory, closing connection");
}

void sess_do_not_offered(struct smtp_session *s, const struct smtp_cmd *c)
{
	sess_reply(s, 502, "5.5.1", "%s is not available on this port", smtp_verb_name(c->verb));
}
