/*
 * dnslookup.c - the callbacks of msg/lookup.h over dns.h: TXT strings joined per record, A or
 * AAAA as text, MX and PTR targets as names. Not what the answers mean.
 */
#include "dnslookup.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unbound.h>

#include "dns.h"

#define DNS_T_TXT 16
#define DNS_T_PTR 12

/* What a NUL octet inside a TXT string becomes: the strings go up as C strings, and no record
 * read through them (SPF, DKIM keys, DMARC) allows either octet, so the record is refused as it
 * should be rather than cut short at the NUL into something that parses (RFC 7208's a-null). */
#define NUL_STANDIN '\x7f'

/* The names at lookup.h are octets as DNS carries them (a macro may put a space or a '%' in
 * one, RFC 7208 7.3); libunbound reads a presentation-format name, so each octet that is not a
 * letter, digit, hyphen, underscore or the dot between labels is written as \DDD. */
static const char *query_name(const char *name, char *out, size_t outlen)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)name; *p && o + 5 < outlen; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\%03u", *p);
	}
	out[o] = '\0';
	return out;
}

/* An uncompressed wire-format name as the octets of its labels joined by dots (the form the
 * rules compare and ask again): 0, or -1 when it is malformed, too long, or has a label holding
 * a dot or a NUL (which the dotted form could not say). Unlike dns_wire_name, which keeps to
 * host names for the hosts mail is sent to, any other octet stays: SPF asks for what it finds. */
static int raw_name(const unsigned char *p, size_t len, char out[LOOKUP_NAME_MAX])
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t l = p[i++];
		if (l == 0) {
			out[o] = '\0';
			return o > 0 ? 0 : -1;
		}
		if (l > 63 || i + l > len || o + l + 2 > LOOKUP_NAME_MAX || memchr(p + i, '.', l) || memchr(p + i, 0, l))
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	return -1;
}

static int status(int r) { return r == DNS_OK ? LOOKUP_OK : r == DNS_NXDOMAIN ? LOOKUP_NXDOMAIN : LOOKUP_TEMP; }

static int lk_txt(void *arg, const char *name, char *buf, size_t buflen, size_t *n)
{
	struct ub_result *res = NULL;
	char err[300];
	char q[LOOKUP_NAME_MAX * 4];
	int r = dns_query(arg, query_name(name, q, sizeof(q)), DNS_T_TXT, &res, err, sizeof(err));
	size_t o = 0;

	*n = 0;
	for (int i = 0; r == DNS_OK && res->havedata && res->data[i]; i++) {
		size_t l = dns_txt_string(res, i, buf + o, buflen - o);
		if (o + l + 1 >= buflen)
			break;
		for (size_t k = 0; k < l; k++)
			if (buf[o + k] == '\0')
				buf[o + k] = NUL_STANDIN;
		o += l + 1;
		(*n)++;
	}
	dns_result_free(res);
	return status(r);
}

static int lk_addrs(void *arg, const char *name, int v6, char out[][LOOKUP_ADDR_MAX], size_t max, size_t *n)
{
	struct ub_result *res = NULL;
	char err[300];
	char q[LOOKUP_NAME_MAX * 4];
	int r = dns_query(arg, query_name(name, q, sizeof(q)), v6 ? DNS_T_AAAA : DNS_T_A, &res, err, sizeof(err));

	*n = 0;
	for (int i = 0; r == DNS_OK && res->havedata && res->data[i] && *n < max; i++)
		if (res->len[i] == (v6 ? 16 : 4))
			inet_ntop(v6 ? AF_INET6 : AF_INET, res->data[i], out[(*n)++], LOOKUP_ADDR_MAX);
	dns_result_free(res);
	return status(r);
}

/* Names in rdata at offset skip (MX: after the preference; PTR: at once). */
static int names(struct dns *d, const char *name, int type, size_t skip, char out[][LOOKUP_NAME_MAX], size_t max,
                 size_t *n)
{
	struct ub_result *res = NULL;
	char err[300];
	char q[LOOKUP_NAME_MAX * 4];
	int r = dns_query(d, query_name(name, q, sizeof(q)), type, &res, err, sizeof(err));

	*n = 0;
	for (int i = 0; r == DNS_OK && res->havedata && res->data[i] && *n < max; i++)
		if ((size_t)res->len[i] > skip &&
		    raw_name((const unsigned char *)res->data[i] + skip, (size_t)res->len[i] - skip, out[*n]) == 0)
			(*n)++;
	dns_result_free(res);
	return status(r);
}

static int lk_mx(void *arg, const char *name, char out[][LOOKUP_NAME_MAX], size_t max, size_t *n)
{
	return names(arg, name, DNS_T_MX, 2, out, max, n);
}

static int lk_ptr(void *arg, const char *ip, char out[][LOOKUP_NAME_MAX], size_t max, size_t *n)
{
	unsigned char b[16];
	char name[80];
	size_t o = 0;

	*n = 0;
	if (inet_pton(AF_INET, ip, b) == 1)
		snprintf(name, sizeof(name), "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
	else if (inet_pton(AF_INET6, ip, b) == 1) {
		for (int i = 15; i >= 0; i--)
			o += (size_t)snprintf(name + o, sizeof(name) - o, "%x.%x.", b[i] & 15, b[i] >> 4);
		snprintf(name + o, sizeof(name) - o, "ip6.arpa");
	} else
		return LOOKUP_NXDOMAIN;
	return names(arg, name, DNS_T_PTR, 0, out, max, n);
}

void dns_lookup_init(struct lookup *lk, struct dns *d)
{
	*lk = (struct lookup){ d, lk_txt, lk_addrs, lk_mx, lk_ptr };
}
