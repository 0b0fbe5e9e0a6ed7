/*
 * fuzz_autoconfig.c - `mailport check`'s autoconfig parser (libxml2 underneath) and the
 * capability parser it shares with send, on arbitrary input. Invariants: every server found
 * has a non-empty host of allowed characters and a port in 1..65535; the parser never returns
 * more than it was given room for.
 */
#include <assert.h>
#include <libxml/parser.h>
#include <stdint.h>
#include <string.h>

#include "check/discover.h"
#include "smtp/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct check_target t[4];
	struct smtp_reply r;
	struct smtp_caps caps;
	size_t n = 99;

	if (autoconfig_parse((const char *)data, size, "example.org", t, 4, &n) == 0) {
		assert(n <= 4);
		for (size_t i = 0; i < n; i++) {
			assert(t[i].host[0] != '\0' && strlen(t[i].host) < sizeof(t[i].host));
			assert(strspn(t[i].host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") ==
			       strlen(t[i].host));
			assert(t[i].port >= 1 && t[i].port <= 65535);
		}
	} else
		assert(n == 0);
	/* The same bytes as an EHLO reply's text. */
	memset(&r, 0, sizeof(r));
	r.code = 250;
	memcpy(r.text, data, size < sizeof(r.text) - 1 ? size : sizeof(r.text) - 1);
	smtp_caps_parse(&r, &caps);
	assert(strlen(caps.auth) < sizeof(caps.auth));
	return 0;
}
