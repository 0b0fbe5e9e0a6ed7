/*
 * base64.c - strict base64: refuses what RFC 4648 does not produce, so that one credential
 * has exactly one encoding.
 */
#include "base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

long base64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)                /* data after '=' */
				return -1;
			if ((v[k] = value(c)) < 0)
				return -1;
		}
		unsigned long n = ((unsigned long)v[0] << 18) | ((unsigned long)v[1] << 12) |
		                  ((unsigned long)v[2] << 6) | (unsigned long)v[3];
		/* The bits a padded group does not carry must be zero (canonical encoding). */
		if ((pad == 1 && (n & 0xff)) || (pad == 2 && (n & 0xffff)))
			return -1;
		out[o++] = (unsigned char)(n >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(n >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)n;
	}
	return (long)o;
}

size_t base64_encode(const unsigned char *in, size_t len, char *out)
{
	size_t o = 0, i;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned long n = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];
		out[o++] = alphabet[(n >> 18) & 63];
		out[o++] = alphabet[(n >> 12) & 63];
		out[o++] = alphabet[(n >> 6) & 63];
		out[o++] = alphabet[n & 63];
	}
	if (i < len) {
		unsigned long n = (unsigned long)in[i] << 16;
		if (i + 1 < len)
			n |= (unsigned long)in[i + 1] << 8;
		out[o++] = alphabet[(n >> 18) & 63];
		out[o++] = alphabet[(n >> 12) & 63];
		out[o++] = i + 1 < len ? alphabet[(n >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}
