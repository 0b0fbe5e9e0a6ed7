/*
 * test_proxyhdr.c - PROXY protocol headers (server/proxyhdr.c): the length known before reading
 * past the header, both versions, and the shapes a trusted balancer never sends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "server/proxyhdr.h"

static long len_of(const char *s)
{
	const char *why = "";
	return proxyhdr_length((const unsigned char *)s, strlen(s), &why);
}

static void test_v1_length_never_past_crlf(void **state)
{
	const char *h = "PROXY TCP4 192.0.2.1 198.51.100.2 40000 25\r\n";
	char buf[200];

	(void)state;
	/* every prefix says "more" until the LF, then the exact length, whatever follows */
	for (size_t i = 1; i < strlen(h); i++) {
		const char *why = "";
		assert_int_equal(proxyhdr_length((const unsigned char *)h, i, &why), 0);
	}
	snprintf(buf, sizeof(buf), "%s\x16\x03\x01", h);     /* a ClientHello right behind */
	assert_int_equal(len_of(buf), (long)strlen(h));
	assert_int_equal(len_of("EHLO x\r\n"), -1);
	assert_int_equal(len_of("PROXY TCP4 1.2.3.4\n"), -1);  /* bare LF */
	memset(buf, 'a', sizeof(buf));
	memcpy(buf, "PROXY ", 6);
	buf[120] = '\0';
	assert_int_equal(len_of(buf), -1);                    /* no CRLF in 107 octets */
}

static void test_v1_parse(void **state)
{
	struct proxyhdr h;
	const char *why = "";
	const char *ok4 = "PROXY TCP4 192.0.2.1 198.51.100.2 40000 25\r\n";
	const char *ok6 = "PROXY TCP6 2001:db8:0:0::1 ::1 65535 587\r\n";
	const char *unk = "PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n";

	(void)state;
	assert_int_equal(proxyhdr_parse((const unsigned char *)ok4, strlen(ok4), &h, &why), 0);
	assert_string_equal(h.src, "192.0.2.1");
	assert_int_equal(h.src_port, 40000);
	assert_int_equal(h.dst_port, 25);
	assert_false(h.local);
	assert_int_equal(proxyhdr_parse((const unsigned char *)ok6, strlen(ok6), &h, &why), 0);
	assert_string_equal(h.src, "2001:db8::1");            /* canonical */
	assert_int_equal(proxyhdr_parse((const unsigned char *)unk, strlen(unk), &h, &why), 0);
	assert_true(h.local);
	const char *bad[] = {
		"PROXY TCP4 192.0.2.1 198.51.100.2 40000\r\n",
		"PROXY TCP4 ::1 198.51.100.2 40000 25\r\n",
		"PROXY TCP6 192.0.2.1 ::1 40000 25\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 040000 25\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 65536 25\r\n",
		"PROXY TCP4 192.0.2.1  198.51.100.2 1 25\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 1 25 \r\n",
		"PROXY UDP4 192.0.2.1 198.51.100.2 1 25\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\x01\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(proxyhdr_parse((const unsigned char *)bad[i], strlen(bad[i]), &h, &why), -1);
}

static size_t v2(unsigned char *b, int cmd, int fam, const unsigned char *addr, size_t alen)
{
	static const unsigned char sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

	memcpy(b, sig, 12);
	b[12] = (unsigned char)(0x20 | cmd);
	b[13] = (unsigned char)fam;
	b[14] = (unsigned char)(alen >> 8);
	b[15] = (unsigned char)alen;
	memcpy(b + 16, addr, alen);
	return 16 + alen;
}

static void test_v2(void **state)
{
	unsigned char b[PROXYHDR_MAX + 64], a[64] = { 192, 0, 2, 1, 198, 51, 100, 2, 0x9c, 0x40, 0, 25 };
	struct proxyhdr h;
	const char *why = "";
	size_t n;

	(void)state;
	n = v2(b, 1, 0x11, a, 12 + 5);                      /* with 5 octets of TLV, ignored */
	for (size_t i = 1; i < 16; i++)
		assert_int_equal(proxyhdr_length(b, i, &why), 0);
	assert_int_equal(proxyhdr_length(b, n + 10, &why), (long)n);
	assert_int_equal(proxyhdr_parse(b, n, &h, &why), 0);
	assert_string_equal(h.src, "192.0.2.1");
	assert_string_equal(h.dst, "198.51.100.2");
	assert_int_equal(h.src_port, 40000);
	assert_int_equal(h.version, 2);

	memset(a, 0, 36);
	a[15] = 1;                                          /* ::1 */
	a[32] = 0x01;
	a[33] = 0xbb;
	n = v2(b, 1, 0x21, a, 36);
	assert_int_equal(proxyhdr_parse(b, n, &h, &why), 0);
	assert_string_equal(h.src, "::1");
	assert_int_equal(h.src_port, 443);

	n = v2(b, 0, 0x00, a, 0);                           /* LOCAL: a health check */
	assert_int_equal(proxyhdr_parse(b, n, &h, &why), 0);
	assert_true(h.local);

	n = v2(b, 1, 0x11, a, 8);                           /* too short for TCP4 */
	assert_int_equal(proxyhdr_parse(b, n, &h, &why), -1);
	n = v2(b, 1, 0x31, a, 12);                          /* AF_UNIX */
	assert_int_equal(proxyhdr_parse(b, n, &h, &why), -1);
	n = v2(b, 2, 0x11, a, 12);                          /* unknown command */
	assert_int_equal(proxyhdr_parse(b, n, &h, &why), -1);
	n = v2(b, 1, 0x11, a, 12);
	b[12] = 0x11;                                       /* version 1 in the v2 format */
	assert_int_equal(proxyhdr_length(b, n, &why), -1);
	b[12] = 0x21;
	b[14] = 0xff;                                       /* 65 KiB of TLVs: refused, not awaited */
	assert_int_equal(proxyhdr_length(b, 16, &why), -1);
	b[3] = 'X';
	assert_int_equal(proxyhdr_length(b, 4, &why), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_length_never_past_crlf),
		cmocka_unit_test(test_v1_parse),
		cmocka_unit_test(test_v2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
