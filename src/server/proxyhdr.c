/*
 * proxyhdr.c - PROXY protocol v1 and v2 headers (proxyhdr.h). Strict: a balancer we trust
 * writes them, so anything out of shape is an error to log, never a guess.
 */
#include "proxyhdr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const unsigned char v2sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };
static const char v1sig[] = "PROXY ";

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

long proxyhdr_length(const unsigned char *p, size_t n, const char **why)
{
	if (n == 0)
		return 0;
	if (p[0] == v2sig[0]) {
		if (memcmp(p, v2sig, min_size(n, sizeof(v2sig))) != 0) {
			*why = "not a PROXY header (bad v2 signature)";
			return -1;
		}
		if (n < 16)
			return 0;
		if ((p[12] >> 4) != 2) {
			*why = "PROXY v2 header with an unknown version";
			return -1;
		}
		long total = 16 + ((long)p[14] << 8 | p[15]);
		if (total > PROXYHDR_MAX) {
			*why = "PROXY v2 header longer than 1 KiB of addresses and TLVs";
			return -1;
		}
		return total;
	}
	if (memcmp(p, v1sig, min_size(n, sizeof(v1sig) - 1)) != 0) {
		*why = "not a PROXY header (the balancer must send one first: proxy_protocol = yes)";
		return -1;
	}
	const unsigned char *lf = memchr(p, '\n', min_size(n, PROXYHDR_V1_MAX));
	if (lf == NULL) {
		if (n >= PROXYHDR_V1_MAX) {
			*why = "PROXY v1 header without CRLF in its first 107 octets";
			return -1;
		}
		return 0;
	}
	if (lf == p || lf[-1] != '\r') {
		*why = "PROXY v1 header ends in a bare LF";
		return -1;
	}
	return lf - p + 1;
}

/* Decimal 0..65535 without sign or leading zero, as the spec writes ports. */
static int parse_port(const char *s, unsigned *out)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Text to binary and back: the address logged is the canonical form, whatever was sent. */
static int parse_addr(int af, const char *s, char *out, size_t outlen)
{
	unsigned char bin[16];

	if (inet_pton(af, s, bin) != 1)
		return -1;
	return inet_ntop(af, bin, out, (socklen_t)outlen) == NULL ? -1 : 0;
}

static int parse_v1(const unsigned char *p, size_t n, struct proxyhdr *h, const char **why)
{
	char line[PROXYHDR_V1_MAX + 1], *f[7], *save = NULL;
	size_t nf = 0;

	if (n < 8 || n > PROXYHDR_V1_MAX) {
		*why = "PROXY v1 header of a wrong length";
		return -1;
	}
	memcpy(line, p, n - 2);
	line[n - 2] = '\0';
	for (size_t i = 0; i < n - 2; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e) {
			*why = "PROXY v1 header with a control character";
			return -1;
		}
	/* Single spaces only: a double one would make an empty field, which the spec has not. */
	if (strstr(line, "  ") != NULL || line[n - 3] == ' ') {
		*why = "PROXY v1 header with an empty field";
		return -1;
	}
	for (char *t = strtok_r(line, " ", &save); t != NULL && nf < 7; t = strtok_r(NULL, " ", &save))
		f[nf++] = t;
	h->version = 1;
	if (nf >= 2 && strcmp(f[1], "UNKNOWN") == 0) {
		h->local = 1;               /* the rest of the line, if any, is to be ignored */
		return 0;
	}
	if (nf != 6 || (strcmp(f[1], "TCP4") != 0 && strcmp(f[1], "TCP6") != 0)) {
		*why = "PROXY v1 header is not \"PROXY TCP4|TCP6 SRC DST SPORT DPORT\"";
		return -1;
	}
	int af = f[1][3] == '4' ? AF_INET : AF_INET6;
	if (parse_addr(af, f[2], h->src, sizeof(h->src)) < 0 || parse_addr(af, f[3], h->dst, sizeof(h->dst)) < 0) {
		*why = "PROXY v1 header with an address not of its family";
		return -1;
	}
	if (parse_port(f[4], &h->src_port) < 0 || parse_port(f[5], &h->dst_port) < 0) {
		*why = "PROXY v1 header with a bad port";
		return -1;
	}
	return 0;
}

static int parse_v2(const unsigned char *p, size_t n, struct proxyhdr *h, const char **why)
{
	size_t len = (size_t)p[14] << 8 | p[15];
	int cmd = p[12] & 0x0f, fam = p[13];

	if (n != 16 + len) {
		*why = "PROXY v2 header of a wrong length";
		return -1;
	}
	h->version = 2;
	if (cmd == 0 || (cmd == 1 && fam == 0x00)) {
		h->local = 1;               /* LOCAL (a health check), or PROXY over an unspecified protocol */
		return 0;
	}
	if (cmd != 1) {
		*why = "PROXY v2 header with an unknown command";
		return -1;
	}
	if (fam == 0x11 && len >= 12) {
		inet_ntop(AF_INET, p + 16, h->src, sizeof(h->src));
		inet_ntop(AF_INET, p + 20, h->dst, sizeof(h->dst));
		h->src_port = (unsigned)p[24] << 8 | p[25];
		h->dst_port = (unsigned)p[26] << 8 | p[27];
		return 0;
	}
	if (fam == 0x21 && len >= 36) {
		inet_ntop(AF_INET6, p + 16, h->src, sizeof(h->src));
		inet_ntop(AF_INET6, p + 32, h->dst, sizeof(h->dst));
		h->src_port = (unsigned)p[48] << 8 | p[49];
		h->dst_port = (unsigned)p[50] << 8 | p[51];
		return 0;
	}
	*why = fam == 0x11 || fam == 0x21 ? "PROXY v2 header too short for its addresses"
	                                  : "PROXY v2 header for a protocol other than TCP";
	return -1;
}

int proxyhdr_parse(const unsigned char *p, size_t n, struct proxyhdr *h, const char **why)
{
	const char *w = "";
	long total = proxyhdr_length(p, n, &w);

	memset(h, 0, sizeof(*h));
	if (total <= 0 || (size_t)total != n) {
		*why = total < 0 ? w : "incomplete PROXY header";
		return -1;
	}
	return p[0] == v2sig[0] ? parse_v2(p, n, h, why) : parse_v1(p, n, h, why);
}
