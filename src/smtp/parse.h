/*
 * parse.h - SMTP command and path parsing (RFC 5321 §4.1, RFC 6531 for UTF-8).
 *
 * Pure: no allocation, no I/O, no global state. Every result is a (pointer, length) slice into
 * the caller's line and stays valid exactly as long as that line does. The line passed in
 * excludes its CRLF. Callers apply the line-length limit before calling (see SMTP_LINE_MAX).
 */
#ifndef MAILPORT_SMTP_PARSE_H
#define MAILPORT_SMTP_PARSE_H

#include <stddef.h>

/* RFC 5321 §4.5.3.1: limits, all in octets. */
#define SMTP_LINE_MAX     512   /* command line, including CRLF (§4.5.3.1.4) */
#define SMTP_LOCAL_MAX    64    /* local-part (§4.5.3.1.1) */
#define SMTP_DOMAIN_MAX   255   /* domain (§4.5.3.1.2) */
#define SMTP_PATH_MAX     256   /* reverse- or forward-path including "<>" (§4.5.3.1.3) */
#define SMTP_ADDR_MAX     (SMTP_LOCAL_MAX + 1 + SMTP_DOMAIN_MAX)
#define SMTP_PARAMS_MAX   16    /* ESMTP parameters on one MAIL/RCPT; we know of three */

enum smtp_verb {
	SMTP_V_UNKNOWN = 0,
	SMTP_V_HELO, SMTP_V_EHLO, SMTP_V_MAIL, SMTP_V_RCPT, SMTP_V_DATA, SMTP_V_BDAT,
	SMTP_V_RSET, SMTP_V_NOOP, SMTP_V_QUIT, SMTP_V_VRFY, SMTP_V_EXPN, SMTP_V_HELP,
	SMTP_V_STARTTLS, SMTP_V_AUTH,
	SMTP_V_COUNT
};

struct smtp_cmd {
	enum smtp_verb verb;
	const char *arg;        /* after the verb and one or more spaces; "" when none */
	size_t arglen;
};

/* Split a command line into verb and argument. Verbs match case-insensitively.
 * Returns 0, or -1 when the verb is not followed by a space or the end of the line
 * (verb is then SMTP_V_UNKNOWN). */
int smtp_parse_command(const char *line, size_t len, struct smtp_cmd *cmd);
const char *smtp_verb_name(enum smtp_verb v);

/* Path parsing flags. */
#define SMTP_PATH_ALLOW_NULL       0x01  /* "<>" is valid (reverse-path) */
#define SMTP_PATH_ALLOW_POSTMASTER 0x02  /* "<Postmaster>" without domain (RCPT, §4.5.1) */
#define SMTP_PATH_UTF8             0x04  /* RFC 6531: non-ASCII allowed */
#define SMTP_PATH_REQUIRE_BRACKETS 0x08  /* refuse a bare address (strict RFC 5321) */

enum smtp_path_status {
	SMTP_PATH_OK = 0,
	SMTP_PATH_ESYNTAX = -1,   /* not a path */
	SMTP_PATH_ETOOLONG = -2,  /* a §4.5.3.1 limit was exceeded */
	SMTP_PATH_EUTF8 = -3,     /* well-formed, but non-ASCII without SMTPUTF8 */
};

struct smtp_path {
	const char *local;        /* local-part as written (quoted form kept) */
	size_t local_len;
	const char *domain;       /* domain or address literal including brackets */
	size_t domain_len;
	const char *mailbox;      /* "local@domain" as written; NULL for <> and <Postmaster> */
	size_t mailbox_len;
	unsigned is_null : 1;     /* <> */
	unsigned is_postmaster : 1;  /* <Postmaster> with no domain */
	unsigned is_literal : 1;  /* domain is an address literal */
	unsigned has_utf8 : 1;    /* contains non-ASCII octets */
};

/* Parse a path at the start of s. *consumed is set to the octets used (up to, not including,
 * whatever follows the closing '>'). */
enum smtp_path_status smtp_parse_path(const char *s, size_t len, unsigned flags,
                                      struct smtp_path *out, size_t *consumed);

/* Validate a domain (not a literal): RFC 5321 sub-domain syntax, with U-labels under UTF8. */
int smtp_domain_valid(const char *s, size_t len, int utf8);

struct smtp_param {
	const char *key;
	size_t key_len;
	const char *value;        /* NULL when the parameter has no "=value" */
	size_t value_len;
};

/* MAIL FROM / RCPT TO argument: "FROM:" or "TO:" (case-insensitive, optional spaces after
 * the colon, as Postfix tolerates), a path, then SP-separated esmtp-params.
 * Returns SMTP_PATH_OK or a negative status; -10 means the "FROM:"/"TO:" form is wrong,
 * -11 means the parameters are malformed or too many. */
#define SMTP_ARG_EFORM    (-10)
#define SMTP_ARG_EPARAMS  (-11)
int smtp_parse_mail_arg(const char *arg, size_t len, const char *prefix, unsigned flags,
                        struct smtp_path *path, struct smtp_param *params, size_t *nparams);

/* Length of one well-formed UTF-8 sequence at p (1..4), or 0 when ill-formed
 * (overlong, surrogate, > U+10FFFF, truncated). */
size_t smtp_utf8_seq(const unsigned char *p, const unsigned char *end);

/* Case-insensitive compare of a slice with a NUL-terminated ASCII word. */
int smtp_slice_ieq(const char *s, size_t len, const char *word);

#endif
