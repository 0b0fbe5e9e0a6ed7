/*
 * reply.h - SMTP reply parsing for the client side (RFC 5321 §4.2, RFC 3463, RFC 2034).
 *
 * Feed the server's octets in any chunks; each complete (possibly multi-line) reply comes out
 * whole. Pure: no I/O, no allocation; the parser copies what it keeps. A reply line longer than
 * SMTP_REPLY_LINE_MAX, a line that does not start with three digits and a space or hyphen, a
 * continuation with another code, or more than SMTP_REPLY_LINES_MAX lines is a protocol error.
 * Zero-fill the parser (or smtp_reply_init) before use.
 */
#ifndef MAILPORT_SMTP_REPLY_H
#define MAILPORT_SMTP_REPLY_H

#include <stddef.h>

#define SMTP_REPLY_LINE_MAX  1024   /* RFC 5321 says 512; real servers exceed it a little */
#define SMTP_REPLY_LINES_MAX 64
#define SMTP_REPLY_TEXT_MAX  4096

struct smtp_reply {
	int code;                       /* 200..599 */
	char esc[16];                   /* enhanced status "x.y.z" of the first line, or "" */
	char text[SMTP_REPLY_TEXT_MAX]; /* the lines' text (after code and esc), joined by '\n' */
	unsigned nlines;
};

struct smtp_reply_parser {
	char line[SMTP_REPLY_LINE_MAX];
	size_t len;
	struct smtp_reply cur;
	size_t text_len;
	int in_reply;
};

void smtp_reply_init(struct smtp_reply_parser *p);

/* Returns 1 when a reply completed (copied to *out; *used octets of buf consumed, the rest is
 * for the next call), 0 when all of buf was consumed without completing a reply, -1 on a
 * protocol error (the connection cannot be trusted any more). */
int smtp_reply_feed(struct smtp_reply_parser *p, const char *buf, size_t len, size_t *used,
                    struct smtp_reply *out);

/* True when the parser holds part of a reply (octets after a reply must be checked for). */
int smtp_reply_pending(const struct smtp_reply_parser *p);

/* EHLO capabilities (RFC 5321 §4.1.1.1 and the extensions' RFCs). */
struct smtp_caps {
	unsigned starttls : 1, pipelining : 1, smtputf8 : 1, eightbitmime : 1, chunking : 1,
	         requiretls : 1, enhancedstatuscodes : 1, auth_plain : 1, auth_login : 1, auth_scram : 1,
	         auth_scram_plus : 1, auth_external : 1, has_size : 1;
	unsigned long long size;        /* SIZE limit, 0 = none announced */
	char auth[256];                 /* the AUTH mechanisms as announced */
};

void smtp_caps_parse(const struct smtp_reply *ehlo, struct smtp_caps *caps);

#endif
