/*
 * base64.h - RFC 4648 base64, as SMTP AUTH (RFC 4954) uses it: no line breaks, padding
 * required. Pure; knows nothing of SMTP.
 */
#ifndef MAILPORT_BASE64_H
#define MAILPORT_BASE64_H

#include <stddef.h>

/* Decode len chars of in into out (room for len / 4 * 3). Returns the decoded length, or -1
 * when in is not canonical base64 (bad character, bad length, bad padding). */
long base64_decode(const char *in, size_t len, unsigned char *out);
/* Encode len octets; out needs room for 4 * ((len + 2) / 3) + 1. Returns the length. */
size_t base64_encode(const unsigned char *in, size_t len, char *out);

#endif
