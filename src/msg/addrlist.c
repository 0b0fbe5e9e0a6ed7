/*
 * addrlist.c - an address-list scanner and a header walker. Not a full RFC 5322 parser:
 * it finds addresses and field boundaries, and never rewrites what it does not understand.
 */
#include "addrlist.h"

#include <string.h>

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Trim whitespace and report one mailbox's address from [s, e): the part in <> when there is
 * one, else the whole thing without comments. 1 when one was reported, 0 when there was none
 * (an empty group member, a bare name), -1 when it is too long to be an address. */
static int emit_mailbox(const char *s, const char *e, void (*fn)(void *, const char *, size_t), void *arg)
{
	const char *lt = NULL, *gt = NULL, *p;
	char buf[ADDRLIST_ADDR_MAX + 1];
	size_t n = 0;
	int quote = 0, comment = 0;

	for (p = s; p < e; p++) {
		if (quote) {
			if (*p == '\\' && p + 1 < e)
				p++;
			else if (*p == '"')
				quote = 0;
		} else if (comment) {
			if (*p == '\\' && p + 1 < e)
				p++;
			else if (*p == '(')
				comment++;
			else if (*p == ')')
				comment--;
		} else if (*p == '"')
			quote = 1;
		else if (*p == '(')
			comment = 1;
		else if (*p == '<')
			lt = p;
		else if (*p == '>' && lt)
			gt = p;
	}
	if (lt && gt && gt > lt) {
		s = lt + 1;
		e = gt;
	}
	/* Copy without comments (nested, with quoted-pairs: RFC 5322 3.2.2) and folding whitespace
	 * (an addr-spec has no spaces outside quoted local parts). */
	quote = comment = 0;
	for (p = s; p < e; p++) {
		if (comment) {
			if (*p == '\\' && p + 1 < e)
				p++;
			else if (*p == '(')
				comment++;
			else if (*p == ')')
				comment--;
			continue;
		}
		if (!quote && *p == '(') {
			comment = 1;
			continue;
		}
		if (!quote && is_ws(*p))
			continue;
		if (n + 2 > ADDRLIST_ADDR_MAX)
			return -1;
		if (quote && *p == '\\' && p + 1 < e) {
			buf[n++] = *p++;        /* a quoted-pair stays as it is, and does not end the quote */
		} else if (*p == '"')
			quote = !quote;
		buf[n++] = *p;
	}
	/* cppcheck-suppress uninitvar ; buf[0..n) was written above, and n == 0 stops here */
	if (n == 0 || memchr(buf, '@', n) == NULL)
		return 0;               /* an empty group member, or a bare name: nothing to send to */
	buf[n] = '\0';
	fn(arg, buf, n);
	return 1;
}

int addrlist_parse(const char *value, size_t len, void (*fn)(void *arg, const char *addr, size_t len),
                   void *arg)
{
	const char *p = value, *end = value + len, *start = value;
	int quote = 0, comment = 0, angle = 0, found = 0;

	for (; p < end; p++) {
		char c = *p;
		if (quote) {
			if (c == '\\' && p + 1 < end)
				p++;
			else if (c == '"')
				quote = 0;
			continue;
		}
		if (comment) {
			if (c == '\\' && p + 1 < end)
				p++;
			else if (c == '(')
				comment++;
			else if (c == ')')
				comment--;
			continue;
		}
		if (c == '"')
			quote = 1;
		else if (c == '(')
			comment = 1;
		else if (c == '<')
			angle++;
		else if (c == '>') {
			if (angle-- == 0)
				return -1;
		} else if (!angle && c == ':') {
			start = p + 1;          /* "group-name:" starts a group */
		} else if (!angle && (c == ',' || c == ';')) {
			int r = emit_mailbox(start, p, fn, arg);
			if (r < 0)
				return -1;
			found += r;
			start = p + 1;
		}
	}
	if (quote || comment || angle)
		return -1;
	int r = emit_mailbox(start, end, fn, arg);
	return r < 0 ? -1 : found + r;
}

size_t header_walk(const char *msg, size_t len,
                   void (*fn)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen,
                              size_t start, size_t end),
                   void *arg)
{
	size_t i = 0;

	while (i < len) {
		size_t start = i, colon, vstart, lend;
		const char *lf;

		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
			return i + 2;           /* the empty line: the body follows */
		if (msg[i] == '\n')
			return i + 1;
		lf = memchr(msg + i, '\n', len - i);
		colon = i;
		while (colon < len && msg[colon] != ':' && msg[colon] != '\n')
			colon++;
		if (colon >= len || msg[colon] != ':')
			return start;           /* not a header line: the body starts here */
		vstart = colon + 1;
		/* the field ends at the first line end not followed by whitespace (folding) */
		lend = lf ? (size_t)(lf - msg) + 1 : len;
		while (lend < len && (msg[lend] == ' ' || msg[lend] == '\t')) {
			lf = memchr(msg + lend, '\n', len - lend);
			lend = lf ? (size_t)(lf - msg) + 1 : len;
		}
		size_t vend = lend;
		while (vend > vstart && (msg[vend - 1] == '\n' || msg[vend - 1] == '\r'))
			vend--;
		fn(arg, msg + start, colon - start, msg + vstart, vend - vstart, start, lend);
		i = lend;
	}
	return len;
}
