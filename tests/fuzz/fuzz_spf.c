/*
 * fuzz_spf.c - RFC 7208's record parser and check_host() over a record a sender controls. The
 * input is the record; every TXT question is answered with it (so include: and redirect= come
 * back to it until the limits of 4.6.4 stop them), and addresses, MX and PTR names are made
 * up from the name asked. Invariants: no crash, leak or hang; a result inside the enum; a
 * record spf_record_syntax() refuses never evaluates to anything but permerror or none (a
 * record that is not "v=spf1" is not an SPF record at all).
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/spf.h"
#include "fuzzdns.h"

/* A TXT question fails now and then, so temperror is met inside includes and redirects too. */
static int txt_or_temp(void *arg, const char *name, char *buf, size_t buflen, size_t *n)
{
	*n = 0;
	return strlen(name) % 7 == 3 ? LOOKUP_TEMP : f_txt(arg, name, buf, buflen, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *rec = malloc(size + 1), why[300];
	unsigned terms;

	memcpy(rec, data, size);
	rec[size] = '\0';
	fuzz_record = rec;
	int ok = spf_record_syntax(rec, &terms, why, sizeof(why)) == 0;
	struct lookup lk = { NULL, txt_or_temp, f_addrs, f_names, f_names };
	static const char *const ips[] = { "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1" };
	for (size_t i = 0; i < 3; i++) {
		enum spf_result r = spf_check(&lk, ips[i], "example.com", "\"a b\"@example.com", "helo.example", why,
		                              sizeof(why));
		assert(r >= SPF_NONE && r <= SPF_PERMERROR);
		assert(strlen(why) < sizeof(why));
		if (!ok)
			assert(r == SPF_PERMERROR || r == SPF_NONE || r == SPF_TEMPERROR);
	}
	free(rec);
	return 0;
}
