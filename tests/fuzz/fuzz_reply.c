/*
 * fuzz_reply.c - what remote servers say: the reply parser (multi-line replies, enhanced
 * status codes of RFC 3463, the text that goes into bounces and DSNs) and EHLO capability
 * parsing (what `mailport check` reports and the client relies on for STARTTLS and AUTH).
 * The first octet picks the chunk size. Invariants: the replies do not depend on how the input
 * is cut; every reply has a code 200..599, an enhanced code that is "" or digit.digits.digits
 * with the class of the reply code, NUL-terminated text within bounds; an error is sticky in
 * the sense that the same input cut differently errs too.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "smtp/reply.h"

#define MAXR 64

struct run {
	int codes[MAXR];
	char esc[MAXR][16];
	unsigned n;
	int error;
};

static void check_reply(const struct smtp_reply *r)
{
	assert(r->code >= 200 && r->code <= 599);
	assert(memchr(r->esc, '\0', sizeof(r->esc)) != NULL);
	assert(memchr(r->text, '\0', sizeof(r->text)) != NULL);
	if (r->esc[0] != '\0') {
		const char *p = r->esc;
		assert(p[0] == '0' + r->code / 100 && p[1] == '.');    /* RFC 3463: class matches */
		int dots = 0;
		for (; *p; p++)
			dots += *p == '.';
		assert(dots == 2);
	}
	struct smtp_caps caps;
	smtp_caps_parse(r, &caps);
	assert(memchr(caps.auth, '\0', sizeof(caps.auth)) != NULL);
}

static void feed(const uint8_t *data, size_t size, size_t step, struct run *out)
{
	struct smtp_reply_parser p;
	static struct smtp_reply r;

	smtp_reply_init(&p);
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < size && !out->error;) {
		size_t n = size - i < step ? size - i : step, used = 0;
		int got = smtp_reply_feed(&p, (const char *)data + i, n, &used, &r);
		if (got < 0) {
			out->error = 1;
			break;
		}
		assert(used <= n);
		if (got == 1) {
			check_reply(&r);
			if (out->n < MAXR) {
				out->codes[out->n] = r.code;
				memcpy(out->esc[out->n], r.esc, sizeof(r.esc));
			}
			out->n++;
		} else
			assert(used == n);
		i += used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, cut;

	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 13 + 1;
	feed(data + 1, size - 1, size, &whole);
	feed(data + 1, size - 1, step, &cut);
	assert(whole.error == cut.error && whole.n == cut.n);
	for (unsigned i = 0; i < whole.n && i < MAXR; i++)
		assert(whole.codes[i] == cut.codes[i] && strcmp(whole.esc[i], cut.esc[i]) == 0);
	return 0;
}
