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

static const char *record;

static int f_txt(void *arg, const char *name, char *buf, size_t buflen, size_t *n)
{
	(void)arg;
	*n = 0;
	if (strlen(name) % 7 == 3)
		return LOOKUP_TEMP;
	if (strlen(record) + 1 < buflen) {
		strcpy(buf, record);
		*n = 1;
	}
	return LOOKUP_OK;
}

static int f_addrs(void *arg, const char *name, int v6, char out[][LOOKUP_ADDR_MAX], size_t max, size_t *n)
{
	(void)arg;
	*n = 0;
	if (max > 0 && strlen(name) % 3 != 0) {
		snprintf(out[0], LOOKUP_ADDR_MAX, "%s", v6 ? "2001:db8::1" : "192.0.2.1");
		*n = 1;
	}
	return strlen(name) % 5 == 0 ? LOOKUP_NXDOMAIN : LOOKUP_OK;
}

static int f_names(void *arg, const char *name, char out[][LOOKUP_NAME_MAX], size_t max, size_t *n)
{
	(void)arg;
	*n = 0;
	for (size_t i = 0; i < max && i < strlen(name) % 13; i++)
		snprintf(out[(*n)++], LOOKUP_NAME_MAX, "h%zu.%.200s", i, name);
	return LOOKUP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *rec = malloc(size + 1), why[300];
	unsigned terms;

	memcpy(rec, data, size);
	rec[size] = '\0';
	record = rec;
	int ok = spf_record_syntax(rec, &terms, why, sizeof(why)) == 0;
	struct lookup lk = { NULL, f_txt, f_addrs, f_names, f_names };
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
