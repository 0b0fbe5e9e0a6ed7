/*
 * reply.c - multi-line reply assembly and EHLO capability parsing.
 * Not a client: what to send next is client.c's decision.
 */
#include "reply.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void smtp_reply_init(struct smtp_reply_parser *p)
{
	memset(p, 0, sizeof(*p));
}

int smtp_reply_pending(const struct smtp_reply_parser *p)
{
	return p->in_reply || p->len > 0;
}

/* "x.y.z " at the start of text, with 1..3 digits in y and z (RFC 3463), where x is the
 * reply code's class (RFC 2034 §4: they must match; "250 5.0.0" has no enhanced code, and
 * that text must not end up as the status of a delivery report). */
static size_t esc_len(const char *t, size_t n, int code)
{
	size_t i = 0, parts = 0;

	if (n < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[0] != '0' + code / 100 || t[1] != '.')
		return 0;
	i = 2;
	for (parts = 1; parts < 3; parts++) {
		size_t d = 0;
		while (i < n && isdigit((unsigned char)t[i]) && d < 3) {
			i++;
			d++;
		}
		if (d == 0)
			return 0;
		if (parts == 1) {
			if (i >= n || t[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && t[i] != ' ')
		return 0;
	return i;
}

static int line_done(struct smtp_reply_parser *p, struct smtp_reply *out)
{
	char *l = p->line;
	size_t n = p->len;
	int code, last;

	if (n > 0 && l[n - 1] == '\r')
		n--;
	if (n < 3 || !isdigit((unsigned char)l[0]) || !isdigit((unsigned char)l[1]) ||
	    !isdigit((unsigned char)l[2]) || (n > 3 && l[3] != ' ' && l[3] != '-'))
		return -1;
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (code < 200 || code > 599)
		return -1;
	last = n == 3 || l[3] == ' ';
	if (!p->in_reply) {
		memset(&p->cur, 0, sizeof(p->cur));
		p->cur.code = code;
		p->text_len = 0;
		p->in_reply = 1;
	} else if (code != p->cur.code)
		return -1;
	if (++p->cur.nlines > SMTP_REPLY_LINES_MAX)
		return -1;
	const char *t = n > 4 ? l + 4 : "";
	size_t tn = n > 4 ? n - 4 : 0;
	size_t e = esc_len(t, tn, p->cur.code);
	if (e > 0 && p->cur.nlines == 1 && e < sizeof(p->cur.esc)) {
		memcpy(p->cur.esc, t, e);
		p->cur.esc[e] = '\0';
	}
	if (e > 0) {
		t += e;
		tn -= e;
		while (tn > 0 && *t == ' ') {
			t++;
			tn--;
		}
	}
	if (p->text_len > 0 && p->text_len + 1 < sizeof(p->cur.text))
		p->cur.text[p->text_len++] = '\n';
	if (tn > sizeof(p->cur.text) - 1 - p->text_len)
		tn = sizeof(p->cur.text) - 1 - p->text_len;
	memcpy(p->cur.text + p->text_len, t, tn);
	p->text_len += tn;
	p->cur.text[p->text_len] = '\0';
	if (!last)
		return 0;
	*out = p->cur;
	p->in_reply = 0;
	return 1;
}

int smtp_reply_feed(struct smtp_reply_parser *p, const char *buf, size_t len, size_t *used,
                    struct smtp_reply *out)
{
	size_t i = 0;

	while (i < len) {
		const char *lf = memchr(buf + i, '\n', len - i);
		size_t chunk = lf ? (size_t)(lf - (buf + i)) : len - i;

		if (p->len + chunk >= sizeof(p->line))
			return -1;      /* over-long reply line: refuse rather than guess */
		memcpy(p->line + p->len, buf + i, chunk);
		p->len += chunk;
		i += chunk;
		if (lf == NULL)
			break;
		i++;            /* the LF */
		int r = line_done(p, out);
		p->len = 0;
		if (r < 0)
			return -1;
		if (r == 1) {
			*used = i;
			return 1;
		}
	}
	*used = i;
	return 0;
}

static int word_is(const char *w, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(w, kw, n) == 0;
}

void smtp_caps_parse(const struct smtp_reply *ehlo, struct smtp_caps *caps)
{
	const char *line = ehlo->text;

	memset(caps, 0, sizeof(*caps));
	/* The first line is the greeting; each further line is one extension. */
	line = strchr(line, '\n');
	while (line != NULL) {
		const char *next, *w = ++line;
		size_t n;

		next = strchr(line, '\n');
		size_t llen = next ? (size_t)(next - line) : strlen(line);
		n = 0;
		while (n < llen && line[n] != ' ')
			n++;
		if (word_is(w, n, "STARTTLS")) caps->starttls = 1;
		else if (word_is(w, n, "PIPELINING")) caps->pipelining = 1;
		else if (word_is(w, n, "SMTPUTF8")) caps->smtputf8 = 1;
		else if (word_is(w, n, "8BITMIME")) caps->eightbitmime = 1;
		else if (word_is(w, n, "CHUNKING")) caps->chunking = 1;
		else if (word_is(w, n, "REQUIRETLS")) caps->requiretls = 1;
		else if (word_is(w, n, "ENHANCEDSTATUSCODES")) caps->enhancedstatuscodes = 1;
		else if (word_is(w, n, "SIZE")) {
			caps->has_size = 1;
			if (n < llen)
				caps->size = strtoull(w + n + 1, NULL, 10);
		} else if (word_is(w, n, "AUTH")) {
			size_t rest = llen > n + 1 ? llen - n - 1 : 0;
			size_t have = strlen(caps->auth);
			if (rest > 0 && have + rest + 2 < sizeof(caps->auth)) {
				if (have)
					caps->auth[have++] = ' ';
				memcpy(caps->auth + have, w + n + 1, rest);
				caps->auth[have + rest] = '\0';
			}
			for (const char *m = w + n; m < w + llen; ) {
				while (m < w + llen && *m == ' ')
					m++;
				const char *me = m;
				while (me < w + llen && *me != ' ')
					me++;
				if (word_is(m, (size_t)(me - m), "PLAIN")) caps->auth_plain = 1;
				if (word_is(m, (size_t)(me - m), "LOGIN")) caps->auth_login = 1;
				if (word_is(m, (size_t)(me - m), "SCRAM-SHA-256")) caps->auth_scram = 1;
				if (word_is(m, (size_t)(me - m), "SCRAM-SHA-256-PLUS")) caps->auth_scram_plus = 1;
				if (word_is(m, (size_t)(me - m), "EXTERNAL")) caps->auth_external = 1;
				m = me;
			}
		}
		line = next;
	}
}
