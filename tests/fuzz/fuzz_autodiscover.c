/*
 * fuzz_autodiscover.c - the one network input of the HTTPS listener that is ours to parse: an
 * Autodiscover POX request (libxml2 underneath). Invariants: an address it returns passes
 * publish_email_ok; every document published for it is well-formed XML, and the autoconfig
 * one reads back through check's own parser with the ports we put in.
 */
#include <assert.h>
#include <libxml/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check/discover.h"
#include "publish/publish.h"

static void well_formed(const char *doc, size_t len)
{
	xmlDoc *d = xmlReadMemory(doc, (int)len, "out.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	assert(d != NULL);
	xmlFreeDoc(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct publish_settings ps = { "mail.example.org", 465, 587, "imap.example.org", 993 };
	char email[300], *buf = NULL;
	const char *domain;
	size_t len = 0;

	if (publish_autodiscover_request((const char *)data, size, email, sizeof(email)) < 0)
		return 0;
	assert(publish_email_ok(email, &domain));
	FILE *f = open_memstream(&buf, &len);
	assert(f != NULL && publish_autodiscover(&ps, email, f) == 0);
	fclose(f);
	well_formed(buf, len);
	free(buf);
	f = open_memstream(&buf, &len);
	assert(f != NULL && publish_mobileconfig(&ps, email, f) == 0);
	fclose(f);
	well_formed(buf, len);
	free(buf);
	f = open_memstream(&buf, &len);
	assert(f != NULL && publish_autoconfig(&ps, domain, f) == 0);
	fclose(f);
	well_formed(buf, len);
	struct check_target t[4];
	size_t n = 0;
	assert(autoconfig_parse(buf, len, domain, t, 4, &n) == 0 && n >= 2);
	free(buf);
	return 0;
}
