/*
 * hdrscan.h - find where an RFC 5322 header section ends and which fields it has, from a
 * stream of CRLF-terminated message octets fed in any chunks. Pure, no allocation.
 * Zero-fill before use. Unfolding is unnecessary: a field's name is on its first line.
 */
#ifndef MAILPORT_HDRSCAN_H
#define MAILPORT_HDRSCAN_H

#include <stddef.h>

#define HDR_DATE        0x01
#define HDR_MESSAGE_ID  0x02
#define HDR_TLS_OPTIONAL 0x04   /* "TLS-Required: No" (RFC 8689 5) */

struct hdrscan {
	int state;
	int done;                   /* the empty line ending the header section was seen */
	unsigned seen;              /* HDR_* */
	char name[16];
	size_t nlen;
	char value[8];              /* the start of a TLS-Required field's value */
	size_t vlen;
	int in_tlsreq;
	size_t octets;              /* header octets up to and including the empty line */
};

/* Feed n octets; returns how many belong to the header section (all of them until done). */
size_t hdrscan_feed(struct hdrscan *h, const char *p, size_t n);

#endif
