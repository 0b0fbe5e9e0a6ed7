/*
 * export.c - the queue export format; see export.h.
 */
#include "export.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define HEAD_MAX 32             /* "T 18446744073709551615\n" */

struct out {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->oom || n == 0)
		return;
	if (o->p == NULL || o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n)
			cap *= 2;
		char *np = realloc(o->p, cap);
		if (np == NULL) {
			o->oom = 1;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

static void rec(struct out *o, char type, const void *p, size_t n)
{
	char head[HEAD_MAX];
	int hl = snprintf(head, sizeof(head), "%c %zu\n", type, n);

	put(o, head, (size_t)hl);
	put(o, p, n);
	put(o, "\n", 1);
}

static void rec_str(struct out *o, char type, const char *s) { rec(o, type, s, strlen(s)); }

static void rec_num(struct out *o, char type, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);

	rec(o, type, num, (size_t)n);
}

char *export_format(const struct export_msg *m, size_t *len)
{
	struct out o = { 0 };
	char sum[9];

	rec_str(&o, 'X', m->origin);
	rec_num(&o, 'T', m->arrival);
	rec_num(&o, 'P', (long long)m->flags);
	rec_str(&o, 'S', m->sender);
	for (size_t i = 0; i < m->nrcpts; i++) {
		const struct export_rcpt *r = &m->rcpts[i];
		rec_str(&o, 'R', r->target);
		rec_str(&o, 'O', r->orig);
		rec_num(&o, 'L', r->local ? 1 : 0);
		if (r->fail_code) {
			char f[600];
			snprintf(f, sizeof(f), "%d %s", r->fail_code, r->fail_text ? r->fail_text : "5.0.0 failed");
			rec_str(&o, 'F', f);
		}
	}
	rec(&o, 'M', m->body, m->body_len);
	if (o.oom) {
		free(o.p);
		return NULL;
	}
	snprintf(sum, sizeof(sum), "%08lx", (unsigned long)crc32(0L, (const Bytef *)o.p, (uInt)o.len));
	rec(&o, 'K', sum, 8);
	rec(&o, 'E', "", 0);
	if (o.oom) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}

/* The record at buf: its type, payload offset and length; 0 more needed, -1 malformed, else
 * the record's whole length. */
static long record(const char *buf, size_t len, char *type, size_t *off, size_t *plen)
{
	const char *lf = memchr(buf, '\n', len < HEAD_MAX ? len : HEAD_MAX);
	char *end;

	if (lf == NULL)
		return len < HEAD_MAX ? 0 : -1;
	if (lf - buf < 3 || buf[1] != ' ' || buf[2] < '0' || buf[2] > '9' || (buf[2] == '0' && lf - buf > 3))
		return -1;
	errno = 0;
	unsigned long long n = strtoull(buf + 2, &end, 10);
	if (errno || end != lf || n > (1ULL << 40))
		return -1;
	*type = buf[0];
	*off = (size_t)(lf - buf) + 1;
	*plen = (size_t)n;
	if (*off + *plen + 1 > len)
		return 0;
	if (buf[*off + *plen] != '\n')
		return -1;
	return (long)(*off + *plen + 1);
}

long export_length(const char *buf, size_t len, size_t max)
{
	size_t at = 0;

	for (;;) {
		char type;
		size_t off, plen;
		long r;
		if (at >= len)
			return at > max ? -1 : 0;
		r = record(buf + at, len - at, &type, &off, &plen);
		if (r < 0 || (r == 0 && len - at > max))
			return -1;
		if (r == 0)
			return at + (len - at) > max ? -1 : 0;
		if (strchr("XTPSROLFMKE", type) == NULL)
			return -1;
		at += (size_t)r;
		if (at > max)
			return -1;
		if (type == 'E')
			return (long)at;
	}
}

static int number(const char *p, size_t n, long long *v)
{
	char tmp[24], *end;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	errno = 0;
	*v = strtoll(tmp, &end, 10);
	return errno || *end != '\0' ? -1 : 0;
}

/* An R record: the next recipient, its target and (until an O record) original address. */
static int add_rcpt(struct export_msg *m, size_t *cap, char *p)
{
	if (m->nrcpts == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct export_rcpt *nr = realloc(m->rcpts, nc * sizeof(*nr));
		if (nr == NULL)
			return -1;
		m->rcpts = nr;
		*cap = nc;
	}
	memset(&m->rcpts[m->nrcpts], 0, sizeof(m->rcpts[0]));
	m->rcpts[m->nrcpts].target = m->rcpts[m->nrcpts].orig = p;
	m->nrcpts++;
	return 0;
}

/* An O (original address) or F (failed: "5XY text") record of the last recipient. */
static int rcpt_detail(struct export_msg *m, char type, char *p)
{
	if (m->nrcpts == 0)
		return -1;
	if (type == 'O') {
		m->rcpts[m->nrcpts - 1].orig = p;
		return 0;
	}
	char *sp = strchr(p, ' ');
	int code = atoi(p);
	if (sp == NULL || code < 500 || code > 599)
		return -1;
	m->rcpts[m->nrcpts - 1].fail_code = code;
	m->rcpts[m->nrcpts - 1].fail_text = sp + 1;
	return 0;
}

int export_parse(const char *buf, size_t len, struct export_msg *m, char **store, const char **why)
{
	char *s = malloc(len + 1);
	size_t at = 0, cap = 0;
	int seen_m = 0, seen_k = 0;

	memset(m, 0, sizeof(*m));
	*store = s;
	if (s == NULL) {
		*why = "out of memory";
		return -1;
	}
	memcpy(s, buf, len);
	s[len] = '\0';
	*why = "malformed record";
	while (at < len) {
		char type;
		size_t off, plen;
		long r = record(s + at, len - at, &type, &off, &plen);
		long long v;
		if (r <= 0)
			goto bad;
		char *p = s + at + off;
		if (type != 'M' && memchr(p, '\0', plen) != NULL) {
			*why = "a NUL in an envelope record";
			goto bad;
		}
		if (seen_k && type != 'E') {
			*why = "records after the checksum";
			goto bad;
		}
		switch (type) {
		case 'X': p[plen] = '\0'; m->origin = p; break;
		case 'T':
		case 'P':
		case 'L':
			if (number(p, plen, &v) < 0)
				goto bad;
			if (type == 'T')
				m->arrival = v;
			else if (type == 'P')
				m->flags = (unsigned)v;
			else if (m->nrcpts == 0 || (v != 0 && v != 1))
				goto bad;
			else
				m->rcpts[m->nrcpts - 1].local = (int)v;
			break;
		case 'S': p[plen] = '\0'; m->sender = p; break;
		case 'R':
			p[plen] = '\0';
			if (add_rcpt(m, &cap, p) < 0) {
				*why = "out of memory";
				goto bad;
			}
			break;
		case 'O':
		case 'F':
			p[plen] = '\0';
			if (rcpt_detail(m, type, p) < 0)
				goto bad;
			break;
		case 'M':
			m->body = p;
			m->body_len = plen;
			seen_m = 1;
			break;
		case 'K': {
			char want[9];
			/* over the octets as they came: the copy has NULs where the records ended */
			snprintf(want, sizeof(want), "%08lx", (unsigned long)crc32(0L, (const Bytef *)buf, (uInt)at));
			if (plen != 8 || memcmp(p, want, 8) != 0) {
				*why = "checksum mismatch: the message was damaged on its way";
				goto bad;
			}
			seen_k = 1;
			break;
		}
		case 'E':
			if (!seen_k || !seen_m || m->origin == NULL || m->sender == NULL || m->nrcpts == 0 || m->arrival <= 0 ||
			    at + (size_t)r != len) {
				*why = "incomplete message (no origin, sender, recipient, body or checksum)";
				goto bad;
			}
			return 0;
		default:
			goto bad;
		}
		at += (size_t)r;
	}
	*why = "no end record: the stream was cut";
bad:
	free(m->rcpts);
	m->rcpts = NULL;
	free(s);
	*store = NULL;
	return -1;
}
