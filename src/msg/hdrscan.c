/*
 * hdrscan.c - a four-state scanner over header lines. Not a header parser: only field
 * names at line starts are looked at, and the one-word value of TLS-Required.
 */
#include "hdrscan.h"

#include <string.h>
#include <strings.h>

enum { H_BOL = 0, H_NAME, H_REST, H_CR_BOL };

static void name_done(struct hdrscan *h)
{
	if (h->nlen == 4 && strncasecmp(h->name, "date", 4) == 0)
		h->seen |= HDR_DATE;
	else if (h->nlen == 10 && strncasecmp(h->name, "message-id", 10) == 0)
		h->seen |= HDR_MESSAGE_ID;
	else if (h->nlen == 12 && strncasecmp(h->name, "tls-required", 12) == 0) {
		h->in_tlsreq = 1;
		h->vlen = 0;
	}
}

/* The value of TLS-Required is one word, "No" (RFC 8689 5): anything else tags nothing. A
 * folded value is not looked at past its first line. */
static void value_done(struct hdrscan *h)
{
	size_t n = h->vlen;

	while (n > 0 && (h->value[n - 1] == ' ' || h->value[n - 1] == '\t' || h->value[n - 1] == '\r'))
		n--;
	if (n == 2 && strncasecmp(h->value, "no", 2) == 0)
		h->seen |= HDR_TLS_OPTIONAL;
	h->in_tlsreq = 0;
}

size_t hdrscan_feed(struct hdrscan *h, const char *p, size_t n)
{
	size_t i;

	if (h->done)
		return 0;
	for (i = 0; i < n; i++) {
		char c = p[i];
		switch (h->state) {
		case H_BOL:
			if (c == '\r')
				h->state = H_CR_BOL;
			else if (c == ' ' || c == '\t' || c == '\n')
				h->state = c == '\n' ? H_BOL : H_REST;
			else {
				h->nlen = 0;
				h->name[h->nlen++] = c;
				h->state = H_NAME;
			}
			break;
		case H_NAME:
			if (c == ':') {
				name_done(h);
				h->state = H_REST;
			} else if (c == '\n')
				h->state = H_BOL;
			else if (c == ' ' || c == '\t')
				h->state = H_REST;      /* "Name :" is obsolete syntax; not one we add */
			else if (h->nlen < sizeof(h->name))
				h->name[h->nlen++] = c;
			else
				h->state = H_REST;
			break;
		case H_REST:
			if (c == '\n') {
				if (h->in_tlsreq)
					value_done(h);
				h->state = H_BOL;
			} else if (h->in_tlsreq && !((c == ' ' || c == '\t') && h->vlen == 0)) {
				if (h->vlen < sizeof(h->value))
					h->value[h->vlen++] = c;
				else
					h->in_tlsreq = 0;       /* longer than "No": not it */
			}
			break;
		case H_CR_BOL:
			if (c == '\n') {
				h->done = 1;
				h->octets += i + 1;
				return i + 1;
			}
			h->state = H_REST;
			break;
		}
	}
	h->octets += n;
	return n;
}
