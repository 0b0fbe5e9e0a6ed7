/*
 * fuzzdns.h - msg/lookup.h's questions answered for the harnesses of the sender checks: every
 * TXT question with the record under test (fuzz_record), addresses, MX and PTR names made up
 * from the name asked, so that the same input always meets the same DNS.
 */
#ifndef MAILPORT_FUZZ_FUZZDNS_H
#define MAILPORT_FUZZ_FUZZDNS_H

#include <stdio.h>
#include <string.h>

#include "msg/lookup.h"

static const char *fuzz_record;

static int f_txt(void *arg, const char *name, char *buf, size_t buflen, size_t *n)
{
	(void)arg;
	(void)name;
	*n = 0;
	if (strlen(fuzz_record) + 1 < buflen) {
		strcpy(buf, fuzz_record);
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
		snprintf(out[(*n)++], LOOKUP_NAME_MAX, "mx%zu.%.200s", i, name);
	return LOOKUP_OK;
}

#endif
