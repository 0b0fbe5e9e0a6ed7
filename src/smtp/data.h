/*
 * data.h - DATA phase decoder: dot-unstuffing and end-of-data detection (RFC 5321 §4.5.2).
 *
 * The only end of data is CR LF "." CR LF, where the first CR LF ends the previous line (the
 * line that carried "DATA" counts as a previous line). A bare LF or bare CR never ends data and
 * never starts a line (SMTP smuggling, CVE-2023-51764 class), and both are reported in flags.
 * A bare LF is passed on as CR LF: many real clients (curl -T with a Unix file) send LF line
 * ends, and normalising them means the stored message has only CRLF line ends, so a "."
 * line that followed a bare LF is plain content that any later relay dot-stuffs. A bare CR is
 * passed on unchanged and NUL octets are reported too; the session refuses both.
 *
 * Usage: zero-fill or smtp_data_init(), then smtp_data_feed() repeatedly. Decoded octets are
 * delivered through the sink as slices of the input (or of a static one-octet string for a
 * held CR); a slice is valid only during the sink call. No allocation.
 */
#ifndef MAILPORT_SMTP_DATA_H
#define MAILPORT_SMTP_DATA_H

#include <stddef.h>

#define SMTP_DATA_BARE_LF  0x01  /* seen and normalised to CRLF */
#define SMTP_DATA_BARE_CR  0x02
#define SMTP_DATA_NUL      0x04

struct smtp_data {
	int state;           /* internal */
	unsigned flags;      /* SMTP_DATA_* seen so far */
	size_t octets;       /* decoded octets delivered to the sink */
};

typedef void (*smtp_data_sink)(void *ctx, const char *p, size_t n);

void smtp_data_init(struct smtp_data *d);

/* Decode up to len octets. Returns the octets consumed; when the end-of-data marker has been
 * consumed, *done is set to 1 and the rest of buf (after the returned count) is the next
 * command. Decoded content is given with CRLF line ends intact and stuffing dots removed. */
size_t smtp_data_feed(struct smtp_data *d, const char *buf, size_t len, int *done,
                      smtp_data_sink sink, void *ctx);

/* The sending side: dot-stuffing (RFC 5321 4.5.2). Zero-fill, then feed the message in any
 * chunks; out needs room for 2 * n octets. Returns the octets written to out. Lines are CRLF
 * terminated; a line start is after LF. smtp_stuff_end() writes the end marker (with a CRLF
 * first when the message did not end with one) into out (room for 5) and returns its length. */
struct smtp_stuff {
	int mid_line;
};

size_t smtp_stuff(struct smtp_stuff *st, const char *in, size_t n, char *out);
size_t smtp_stuff_end(const struct smtp_stuff *st, char *out);

#endif
