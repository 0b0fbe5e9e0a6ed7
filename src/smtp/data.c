/*
 * data.c - byte-at-a-time state machine with run emission: ordinary octets are handed to the
 * sink in the longest runs possible so the common case costs one memchr-like scan.
 * Not a message parser: headers and MIME are none of its business.
 */
#include "data.h"

#include <string.h>

enum {
	D_BOL = 0,   /* at the beginning of a line (after CRLF) */
	D_MID,       /* inside a line */
	D_CR,        /* saw CR inside a line (it stays in the run: CRLF is the common case) */
	D_DOT,       /* saw "." at the beginning of a line, held back */
	D_DOT_CR,    /* saw "." CR at the beginning of a line, held back */
	D_END,
};

void smtp_data_init(struct smtp_data *d)
{
	memset(d, 0, sizeof(*d));
}

static void emit(struct smtp_data *d, smtp_data_sink sink, void *ctx, const char *p, size_t n)
{
	if (n == 0)
		return;
	d->octets += n;
	sink(ctx, p, n);
}

size_t smtp_data_feed(struct smtp_data *d, const char *buf, size_t len, int *done,
                      smtp_data_sink sink, void *ctx)
{
	size_t i = 0, run = 0;   /* run: start of the pending run of plain octets */

	*done = 0;
	while (i < len) {
		char c = buf[i];

		switch (d->state) {
		case D_BOL:
			if (c == '.') {
				emit(d, sink, ctx, buf + run, i - run);
				i++;
				run = i;
				d->state = D_DOT;
				continue;
			}
			d->state = D_MID;
			continue;       /* re-examine c as a line octet */
		case D_MID:
			/* Inside a line: on to the next octet that matters, without a turn of the switch
			 * per octet. CR and CRLF stay in the run: a message goes to the sink in one piece
			 * per buffer, not two per line. */
			while (i < len && buf[i] != '\r' && buf[i] != '\n' && buf[i] != '\0')
				i++;
			if (i == len)
				continue;
			c = buf[i];
			if (c == '\r') {
				i++;
				d->state = D_CR;
				continue;
			}
			if (c == '\n') {
				/* Bare LF: written as CRLF, but it stays D_MID: never a line start, so
				 * never part of an end marker and never a place to unstuff a dot. */
				emit(d, sink, ctx, buf + run, i - run);
				emit(d, sink, ctx, "\r\n", 2);
				d->flags |= SMTP_DATA_BARE_LF;
				i++;
				run = i;
				continue;
			}
			if (c == '\0')
				d->flags |= SMTP_DATA_NUL;
			i++;
			continue;
		case D_CR:
			if (c == '\n') {
				i++;
				d->state = D_BOL;
				continue;
			}
			d->flags |= SMTP_DATA_BARE_CR;  /* already in the run, as it came */
			d->state = D_MID;
			continue;
		case D_DOT:
			if (c == '\r') {
				i++;
				run = i;
				d->state = D_DOT_CR;
				continue;
			}
			/* A stuffed dot: drop it; the octet after it is ordinary line content. */
			d->state = D_MID;
			continue;
		case D_DOT_CR:
			if (c == '\n') {
				i++;
				d->state = D_END;
				*done = 1;
				return i;
			}
			/* "." CR x: the dot was stuffing, the CR is bare. */
			d->flags |= SMTP_DATA_BARE_CR;
			emit(d, sink, ctx, "\r", 1);
			d->state = D_MID;
			continue;
		case D_END:
		default:
			*done = 1;
			return i;
		}
	}
	if (d->state == D_MID || d->state == D_BOL || d->state == D_CR)
		emit(d, sink, ctx, buf + run, i - run);
	return i;
}

size_t smtp_stuff(struct smtp_stuff *st, const char *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (!st->mid_line && in[i] == '.')
			out[o++] = '.';
		out[o++] = in[i];
		st->mid_line = in[i] != '\n';
	}
	return o;
}

size_t smtp_stuff_end(const struct smtp_stuff *st, char *out)
{
	if (st->mid_line) {
		memcpy(out, "\r\n.\r\n", 5);
		return 5;
	}
	memcpy(out, ".\r\n", 3);
	return 3;
}
