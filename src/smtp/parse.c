/*
 * parse.c - RFC 5321 command and path grammar, written as straight-line scanners.
 * Not a validator of what a domain means (local or not) or of mailbox existence: policy lives
 * above the protocol core.
 */
#include "parse.h"

#include <arpa/inet.h>
#include <string.h>

static const struct { const char *name; enum smtp_verb verb; } verbs[] = {
	{ "HELO", SMTP_V_HELO }, { "EHLO", SMTP_V_EHLO }, { "MAIL", SMTP_V_MAIL },
	{ "RCPT", SMTP_V_RCPT }, { "DATA", SMTP_V_DATA }, { "BDAT", SMTP_V_BDAT },
	{ "RSET", SMTP_V_RSET }, { "NOOP", SMTP_V_NOOP }, { "QUIT", SMTP_V_QUIT },
	{ "VRFY", SMTP_V_VRFY }, { "EXPN", SMTP_V_EXPN }, { "HELP", SMTP_V_HELP },
	{ "STARTTLS", SMTP_V_STARTTLS }, { "AUTH", SMTP_V_AUTH },
};

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_alpha(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

int smtp_slice_ieq(const char *s, size_t len, const char *word)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (word[i] == '\0' || lower((unsigned char)s[i]) != lower((unsigned char)word[i]))
			return 0;
	return word[i] == '\0';
}

const char *smtp_verb_name(enum smtp_verb v)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "UNKNOWN";
}

int smtp_parse_command(const char *line, size_t len, struct smtp_cmd *cmd)
{
	size_t vlen = 0;

	while (vlen < len && line[vlen] != ' ')
		vlen++;
	cmd->verb = SMTP_V_UNKNOWN;
	cmd->arg = line + len;
	cmd->arglen = 0;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (smtp_slice_ieq(line, vlen, verbs[i].name)) {
			cmd->verb = verbs[i].verb;
			break;
		}
	if (cmd->verb == SMTP_V_UNKNOWN)
		return -1;
	size_t a = vlen;
	while (a < len && line[a] == ' ')
		a++;
	cmd->arg = line + a;
	cmd->arglen = len - a;
	/* Trailing spaces are a common client slip; they carry no meaning (Postfix trims too). */
	while (cmd->arglen > 0 && cmd->arg[cmd->arglen - 1] == ' ')
		cmd->arglen--;
	return 0;
}

size_t smtp_utf8_seq(const unsigned char *p, const unsigned char *end)
{
	size_t n, avail = (size_t)(end - p);
	unsigned cp;

	if (avail == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2; cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3; cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4; cp = p[0] & 0x07;
	} else
		return 0;
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* atext, RFC 5322 §3.2.3 */
static int is_atext(int c)
{
	return is_alpha(c) || is_digit(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Scan one "character" of a class that may be non-ASCII under UTF8. Returns octets, 0 if none. */
static size_t scan_utf8(const char *p, const char *end, int utf8, int *saw8)
{
	size_t n;

	if ((unsigned char)*p < 0x80 || !utf8)
		return 0;
	n = smtp_utf8_seq((const unsigned char *)p, (const unsigned char *)end);
	if (n)
		*saw8 = 1;
	return n;
}

int smtp_domain_valid(const char *s, size_t len, int utf8)
{
	const char *p = s, *end = s + len;
	int saw8 = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return 0;
	while (p < end) {
		const char *label = p;
		int last_hyphen = 0;
		size_t n;

		while (p < end && *p != '.') {
			if (is_alpha((unsigned char)*p) || is_digit((unsigned char)*p)) {
				last_hyphen = 0;
				p++;
			} else if (*p == '-' && p != label) {
				last_hyphen = 1;
				p++;
			} else if ((n = scan_utf8(p, end, utf8, &saw8)) > 0) {
				last_hyphen = 0;
				p += n;
			} else
				return 0;
		}
		if (p == label || last_hyphen || p - label > 63)
			return 0;
		if (p < end) {
			p++;            /* the dot */
			if (p == end)
				return 0;   /* trailing dot */
		}
	}
	return 1;
}

static int literal_valid(const char *s, size_t len)
{
	char buf[64];
	unsigned char addr[16];

	if (len < 2 || s[0] != '[' || s[len - 1] != ']')
		return 0;
	s++;
	len -= 2;
	if (len >= 5 && smtp_slice_ieq(s, 5, "IPv6:")) {
		if (len - 5 >= sizeof(buf))
			return 0;
		memcpy(buf, s + 5, len - 5);
		buf[len - 5] = '\0';
		return inet_pton(AF_INET6, buf, addr) == 1;
	}
	if (len > 0 && is_digit((unsigned char)s[0])) {
		if (len >= sizeof(buf))
			return 0;
		memcpy(buf, s, len);
		buf[len] = '\0';
		return inet_pton(AF_INET, buf, addr) == 1;
	}
	/* General-address-literal: Standardized-tag ":" 1*dcontent (§4.1.3). */
	size_t i = 0;
	while (i < len && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) || s[i] == '-'))
		i++;
	if (i == 0 || s[i - 1] == '-' || i >= len || s[i] != ':' || i + 1 == len)
		return 0;
	for (i++; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 33 && c <= 90) || (c >= 94 && c <= 126)))
			return 0;
	}
	return 1;
}

/* Local-part = Dot-string / Quoted-string. Returns octets scanned or 0. */
static size_t scan_local(const char *p, const char *end, int utf8, int *saw8)
{
	const char *start = p;
	size_t n;

	if (p < end && *p == '"') {
		p++;
		while (p < end && *p != '"') {
			unsigned char c = (unsigned char)*p;
			if (c == '\\') {
				if (p + 1 >= end || (unsigned char)p[1] < 32 || (unsigned char)p[1] > 126)
					return 0;
				p += 2;
			} else if (c >= 32 && c <= 126) {
				p++;
			} else if ((n = scan_utf8(p, end, utf8, saw8)) > 0) {
				p += n;
			} else
				return 0;
		}
		if (p >= end)
			return 0;
		return (size_t)(p + 1 - start);
	}
	for (;;) {
		const char *atom = p;
		while (p < end) {
			if (is_atext((unsigned char)*p))
				p++;
			else if ((n = scan_utf8(p, end, utf8, saw8)) > 0)
				p += n;
			else
				break;
		}
		if (p == atom)
			return 0;
		if (p < end && *p == '.' && p + 1 < end && p[1] != '@') {
			p++;
			continue;
		}
		break;
	}
	return (size_t)(p - start);
}

static int has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

enum smtp_path_status smtp_parse_path(const char *s, size_t len, unsigned flags,
                                      struct smtp_path *out, size_t *consumed)
{
	const char *p = s, *end = s + len, *mb_end;
	int bracket = 0, saw8 = 0, utf8 = (flags & SMTP_PATH_UTF8) != 0;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (p < end && *p == '<') {
		bracket = 1;
		p++;
	} else if (flags & SMTP_PATH_REQUIRE_BRACKETS)
		return SMTP_PATH_ESYNTAX;

	if (bracket && p < end && *p == '>') {
		if (!(flags & SMTP_PATH_ALLOW_NULL))
			return SMTP_PATH_ESYNTAX;
		out->is_null = 1;
		*consumed = 2;
		return SMTP_PATH_OK;
	}
	if (bracket && (flags & SMTP_PATH_ALLOW_POSTMASTER) && end - p >= 11 &&
	    smtp_slice_ieq(p, 11, "postmaster>")) {
		out->is_postmaster = 1;
		out->local = p;
		out->local_len = 10;
		*consumed = 12;
		return SMTP_PATH_OK;
	}
	/* A-d-l (source route): "@dom,@dom:" is accepted and ignored, §4.1.2 and Appendix C. */
	if (bracket && p < end && *p == '@') {
		for (;;) {
			const char *d;
			p++;
			d = p;
			while (p < end && *p != ',' && *p != ':' && *p != '>')
				p++;
			if (p >= end || !smtp_domain_valid(d, (size_t)(p - d), utf8))
				return SMTP_PATH_ESYNTAX;
			if (*p == ':') {
				p++;
				break;
			}
			if (*p != ',' || p + 1 >= end || p[1] != '@')
				return SMTP_PATH_ESYNTAX;
			p++;
		}
	}
	out->mailbox = p;
	n = scan_local(p, end, 1, &saw8);
	if (n == 0)
		return SMTP_PATH_ESYNTAX;
	out->local = p;
	out->local_len = n;
	p += n;
	if (p >= end || *p != '@')
		return SMTP_PATH_ESYNTAX;
	p++;
	out->domain = p;
	if (p < end && *p == '[') {
		while (p < end && *p != ']')
			p++;
		if (p >= end)
			return SMTP_PATH_ESYNTAX;
		p++;
		out->is_literal = 1;
		out->domain_len = (size_t)(p - out->domain);
		if (!literal_valid(out->domain, out->domain_len))
			return SMTP_PATH_ESYNTAX;
	} else {
		while (p < end && *p != '>' && *p != ' ')
			p++;
		out->domain_len = (size_t)(p - out->domain);
		/* Validate as UTF-8-capable first so that a non-ASCII domain reports EUTF8, not ESYNTAX. */
		if (!smtp_domain_valid(out->domain, out->domain_len, 1))
			return out->domain_len > SMTP_DOMAIN_MAX ? SMTP_PATH_ETOOLONG : SMTP_PATH_ESYNTAX;
	}
	mb_end = p;
	if (bracket) {
		if (p >= end || *p != '>')
			return SMTP_PATH_ESYNTAX;
		p++;
	}
	out->mailbox_len = (size_t)(mb_end - out->mailbox);
	if (out->local_len > SMTP_LOCAL_MAX || out->domain_len > SMTP_DOMAIN_MAX ||
	    (size_t)(p - s) + (bracket ? 0 : 2) > SMTP_PATH_MAX)
		return SMTP_PATH_ETOOLONG;
	out->has_utf8 = saw8 || has_8bit(out->domain, out->domain_len);
	if (out->has_utf8 && !utf8)
		return SMTP_PATH_EUTF8;
	*consumed = (size_t)(p - s);
	return SMTP_PATH_OK;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-");
 * esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 under RFC 6531. */
static int parse_params(const char *p, const char *end, struct smtp_param *params, size_t *nparams)
{
	size_t max = *nparams, count = 0;

	while (p < end) {
		struct smtp_param *prm;
		const char *k;

		if (*p != ' ')
			return SMTP_ARG_EPARAMS;
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		if (count == max)
			return SMTP_ARG_EPARAMS;
		prm = &params[count++];
		k = p;
		if (!is_alpha((unsigned char)*p) && !is_digit((unsigned char)*p))
			return SMTP_ARG_EPARAMS;
		while (p < end && (is_alpha((unsigned char)*p) || is_digit((unsigned char)*p) || *p == '-'))
			p++;
		prm->key = k;
		prm->key_len = (size_t)(p - k);
		prm->value = NULL;
		prm->value_len = 0;
		if (p < end && *p == '=') {
			const char *v = ++p;
			while (p < end && *p != ' ') {
				unsigned char c = (unsigned char)*p;
				size_t n;
				if (c >= 33 && c <= 126 && c != '=')
					p++;
				else if (c >= 0x80 && (n = smtp_utf8_seq((const unsigned char *)p,
				                                         (const unsigned char *)end)) > 0)
					p += n;
				else
					return SMTP_ARG_EPARAMS;
			}
			if (p == v)
				return SMTP_ARG_EPARAMS;
			prm->value = v;
			prm->value_len = (size_t)(p - v);
		}
	}
	*nparams = count;
	return 0;
}

int smtp_parse_mail_arg(const char *arg, size_t len, const char *prefix, unsigned flags,
                        struct smtp_path *path, struct smtp_param *params, size_t *nparams)
{
	size_t plen = strlen(prefix), used = 0;
	const char *p = arg, *end = arg + len;
	int r;

	if (len < plen || !smtp_slice_ieq(arg, plen, prefix)) {
		*nparams = 0;
		return SMTP_ARG_EFORM;
	}
	p += plen;
	while (p < end && *p == ' ')
		p++;
	if (p == end) {
		*nparams = 0;
		return SMTP_ARG_EFORM;
	}
	/* Parameters can carry SMTPUTF8, which decides how the path is judged: look ahead. */
	r = smtp_parse_path(p, (size_t)(end - p), flags | SMTP_PATH_UTF8, path, &used);
	if (r != SMTP_PATH_OK) {
		*nparams = 0;
		return r;
	}
	r = parse_params(p + used, end, params, nparams);
	if (r != 0)
		return r;
	if (path->has_utf8 && !(flags & SMTP_PATH_UTF8)) {
		int declared = 0;
		for (size_t i = 0; i < *nparams; i++)
			if (smtp_slice_ieq(params[i].key, params[i].key_len, "SMTPUTF8"))
				declared = 1;
		if (!declared)
			return SMTP_PATH_EUTF8;
	}
	return 0;
}
