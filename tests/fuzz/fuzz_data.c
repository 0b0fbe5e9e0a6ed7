/*
 * fuzz_data.c - the DATA decoder: fed whole and fed one octet at a time must agree on the
 * output, the flags, the octet count and where the end marker is; the end marker is only
 * ever CRLF.CRLF; the output never holds a bare LF.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/data.h"

struct out {
	unsigned char *buf;
	size_t len;
};

static void sink(void *ctx, const char *p, size_t n)
{
	struct out *o = ctx;

	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static size_t run(const uint8_t *in, size_t size, size_t step, struct out *o, unsigned *flags, int *done)
{
	struct smtp_data d;
	size_t i = 0;

	smtp_data_init(&d);
	*done = 0;
	while (i < size && !*done) {
		size_t n = size - i < step ? size - i : step;
		i += smtp_data_feed(&d, (const char *)in + i, n, done, sink, o);
	}
	*flags = d.flags;
	assert(d.octets == o->len);
	return i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a bare LF becomes CRLF: output is at most twice the input */
	struct out a = { malloc(2 * size + 1), 0 }, b = { malloc(2 * size + 1), 0 };
	unsigned fa, fb;
	int da, db;
	size_t ua, ub;

	ua = run(data, size, size ? size : 1, &a, &fa, &da);
	ub = run(data, size, 1, &b, &fb, &db);
	assert(ua == ub && da == db && fa == fb && a.len == b.len);
	assert(a.len == 0 || memcmp(a.buf, b.buf, a.len) == 0);
	for (size_t i = 0; i < a.len; i++)
		if (a.buf[i] == '\n')
			assert(i > 0 && a.buf[i - 1] == '\r');
	assert(a.len <= 2 * size);
	if (da) {
		/* the marker is ".\r\n" right after a CRLF or at the very start */
		assert(ua >= 3 && memcmp(data + ua - 3, ".\r\n", 3) == 0);
		assert(ua == 3 || (ua >= 5 && memcmp(data + ua - 5, "\r\n", 2) == 0));
	}
	free(a.buf);
	free(b.buf);
	return 0;
}
