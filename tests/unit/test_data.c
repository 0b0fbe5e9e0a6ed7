/* test_data.c - the DATA decoder: unstuffing, the only end marker, smuggling flags;
 * every case fed whole and one octet at a time must give the same result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "msg/hdrscan.h"
#include "smtp/data.h"

struct out {
	char buf[4096];
	size_t len;
};

static void sink(void *ctx, const char *p, size_t n)
{
	struct out *o = ctx;
	assert_true(o->len + n <= sizeof(o->buf));
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

struct data_case {
	const char *name;
	const char *in;
	size_t inlen;               /* 0: strlen */
	int done;                   /* end marker expected */
	const char *out;            /* decoded content */
	size_t rest;                /* octets left after the end marker */
	unsigned flags;
};

#define S(x) x, sizeof(x) - 1
static const struct data_case cases[] = {
	{ "empty message", S(".\r\n"), 1, "", 0, 0 },
	{ "one line", S("hello\r\n.\r\n"), 1, "hello\r\n", 0, 0 },
	{ "two lines", S("a\r\nb\r\n.\r\n"), 1, "a\r\nb\r\n", 0, 0 },
	{ "stuffed dot", S("..hidden\r\n.\r\n"), 1, ".hidden\r\n", 0, 0 },
	{ "stuffed lone dot", S("..\r\n.\r\n"), 1, ".\r\n", 0, 0 },
	{ "dot mid line", S("a.b\r\n.\r\n"), 1, "a.b\r\n", 0, 0 },
	{ "pipelined rest", S("x\r\n.\r\nQUIT\r\n"), 1, "x\r\n", 6, 0 },
	{ "no end yet", S("x\r\n.\r"), 0, "x\r\n", 0, 0 },
	{ "dot CR then data", S(".\rx\r\n.\r\n"), 1, "\rx\r\n", 0, SMTP_DATA_BARE_CR },
	/* smuggling payloads: none of these ends the data */
	{ "LF.LF", S("a\n.\nMAIL FROM:<x@y>\r\n.\r\n"), 1, "a\r\n.\r\nMAIL FROM:<x@y>\r\n", 0, SMTP_DATA_BARE_LF },
	{ "CRLF.LF", S("a\r\n.\nb\r\n.\r\n"), 1, "a\r\n\r\nb\r\n", 0, SMTP_DATA_BARE_LF },
	{ "LF.CRLF", S("a\n.\r\nb\r\n.\r\n"), 1, "a\r\n.\r\nb\r\n", 0, SMTP_DATA_BARE_LF },
	{ "CR.CRLF", S("a\r.\r\nb\r\n.\r\n"), 1, "a\r.\r\nb\r\n", 0, SMTP_DATA_BARE_CR },
	{ "CR.CR", S("a\r.\rb\r\n.\r\n"), 1, "a\r.\rb\r\n", 0, SMTP_DATA_BARE_CR },
	{ "bare LF only", S("a\nb\n.\n"), 0, "a\r\nb\r\n.\r\n", 0, SMTP_DATA_BARE_LF },
	{ "LF lines then CRLF end", S("a\nb\n\r\n.\r\n"), 1, "a\r\nb\r\n\r\n", 0, SMTP_DATA_BARE_LF },
	{ "NUL", S("a\0b\r\n.\r\n"), 1, "a\0b\r\n", 0, SMTP_DATA_NUL },
	{ "CRCRLF", S("a\r\r\n.\r\n"), 1, "a\r\r\n", 0, SMTP_DATA_BARE_CR },
	{ "8bit", S("caf\xc3\xa9\r\n.\r\n"), 1, "caf\xc3\xa9\r\n", 0, 0 },
	{ "dot dot CRLF end", S("..\r\n..\r\n.\r\n"), 1, ".\r\n.\r\n", 0, 0 },
};

/* Cases where out has embedded NULs give its length explicitly after it; others use strlen. */
static size_t out_len(const struct data_case *c)
{
	if (c->flags & SMTP_DATA_NUL)
		return 5;  /* "a\0b\r\n" */
	return strlen(c->out);
}

static void run(const struct data_case *c, size_t step, struct out *o, size_t *consumed, int *done,
                unsigned *flags)
{
	struct smtp_data d;
	size_t i = 0;

	smtp_data_init(&d);
	memset(o, 0, sizeof(*o));
	*done = 0;
	while (i < c->inlen && !*done) {
		size_t n = step ? (c->inlen - i < step ? c->inlen - i : step) : c->inlen - i;
		i += smtp_data_feed(&d, c->in + i, n, done, sink, o);
	}
	*consumed = i;
	*flags = d.flags;
	assert_int_equal(d.octets, o->len);
}

static void test_cases(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct data_case *c = &cases[k];
		size_t steps[] = { 0, 1, 2, 3, 7 };
		for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			struct out o;
			size_t consumed;
			int done;
			unsigned flags;
			run(c, steps[s], &o, &consumed, &done, &flags);
			if (done != c->done)
				fail_msg("%s step %zu: done %d", c->name, steps[s], done);
			if (o.len != out_len(c) || memcmp(o.buf, c->out, o.len) != 0)
				fail_msg("%s step %zu: output \"%.*s\"", c->name, steps[s], (int)o.len, o.buf);
			if (done && c->inlen - consumed != c->rest)
				fail_msg("%s step %zu: rest %zu", c->name, steps[s], c->inlen - consumed);
			if (flags != c->flags)
				fail_msg("%s step %zu: flags %u", c->name, steps[s], flags);
		}
	}
}

/* RFC 8689 5: "TLS-Required: No" tags the message, in any case and chunking; other values, the
 * field in the body, or a longer name do not. */
static void test_tls_required(void **state)
{
	static const struct { const char *msg; unsigned seen; } tr[] = {
		{ "Subject: x\r\nTLS-Required: No\r\n\r\nbody\r\n", HDR_TLS_OPTIONAL },
		{ "tls-required:no  \r\nDate: x\r\n\r\n", HDR_TLS_OPTIONAL | HDR_DATE },
		{ "TLS-Required: Yes\r\n\r\n", 0 },
		{ "TLS-Required: Nope\r\n\r\n", 0 },
		{ "TLS-Required: No thanks\r\n\r\n", 0 },
		{ "X-TLS-Required: No\r\n\r\n", 0 },
		{ "Subject: x\r\n\r\nTLS-Required: No\r\n", 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(tr) / sizeof(tr[0]); i++)
		for (size_t step = 1; step <= 64; step *= 4) {
			struct hdrscan h;
			const char *m = tr[i].msg;
			size_t len = strlen(m);
			memset(&h, 0, sizeof(h));
			for (size_t off = 0; off < len; off += step)
				(void)hdrscan_feed(&h, m + off, len - off < step ? len - off : step);
			if (h.seen != tr[i].seen)
				fail_msg("case %zu step %zu: seen %u", i, step, h.seen);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_tls_required),
	};
	return cmocka_run_group_tests_name("data", tests, NULL, NULL);
}
