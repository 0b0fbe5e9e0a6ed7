/*
 * cmd_dns.c - `mailport dns DOMAIN --config FILE`: every DNS record this server needs for DOMAIN,
 * in zone-file syntax ready to paste, each after a comment line saying why; `--json` for
 * tools. Records that only make sense once something else exists (an address we cannot know,
 * an MTA-STS policy nobody serves yet) are printed commented out, with what to do first.
 */
#include "cmd_dns.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <jansson.h>

#include "../conf/config.h"
#include "../check/records.h"
#include "../util/errlist.h"

struct out {
	int json;
	json_t *records;
};

/* One record: zone-file text (name ttl class type data) after "; why", or in the JSON list. */
static void rec(struct out *o, int active, const char *name, const char *type, const char *data, const char *why)
{
	if (o->json) {
		json_array_append_new(o->records, json_pack("{s:s, s:i, s:s, s:s, s:s, s:b}", "name", name, "ttl", 3600,
		                                            "type", type, "data", data, "why", why, "publish", active));
		return;
	}
	printf("; %s\n%s%s 3600 IN %s %s\n\n", why, active ? "" : "; ", name, type, data);
}

static void usage(FILE *out)
{
	fprintf(out, "usage: mailport dns DOMAIN --config FILE [--json]\n"
	             "\n"
	             "Print every DNS record this server needs for DOMAIN, ready for a zone file, each with a\n"
	             "line saying why: MX, the host's addresses, SPF, DKIM (one per [dkim] key), DMARC, the\n"
	             "submission SRV records (RFC 6186/8314, 465 first), TLS-RPT, TLSA for the certificate of\n"
	             "each TLS port, the IMAP SRV record ([https] imap); autoconfig., autodiscover. and mta-sts.\n"
	             "and the MTA-STS record commented out until [https] listen serves them.\n");
}

int dns_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	struct out o = { 0, NULL };
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config = optarg; break;
		case 'j': o.json = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (argc - optind != 1 || config == NULL) {
		usage(stderr);
		return EX_USAGE;
	}
	char domain[256];
	snprintf(domain, sizeof(domain), "%s", argv[optind]);
	for (char *p = domain; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	struct errlist errs = { 0 };
	struct config *c = config_load(config, &errs);
	if (c == NULL) {
		errlist_print(&errs, stderr);
		errlist_free(&errs);
		return EX_CONFIG;
	}
	errlist_free(&errs);
	if (!config_is_local_domain(c, domain, strlen(domain)))
		fprintf(stderr, "mailport dns: note: %s is not in local_domains of %s: mail to it would not be taken\n",
		        domain, config);
	if (o.json)
		o.records = json_array();
	else
		printf("; DNS records for %s served by %s (mailport dns, %s)\n\n", domain, c->hostname, config);
	struct dns_rec *recs = calloc(RECORDS_MAX, sizeof(*recs));
	char warn[2048];
	size_t n = recs ? records_for(c, domain, recs, RECORDS_MAX, warn, sizeof(warn)) : 0;
	if (recs == NULL)
		snprintf(warn, sizeof(warn), "out of memory\n");
	for (const char *w = warn; *w; w += strcspn(w, "\n") + 1)
		fprintf(stderr, "mailport dns: %.*s\n", (int)strcspn(w, "\n"), w);
	for (size_t i = 0; i < n; i++)
		rec(&o, recs[i].publish, recs[i].name, recs[i].type, recs[i].data, recs[i].why);
	free(recs);

	int rc = 0;
	if (o.json) {
		json_t *doc = json_pack("{s:s, s:i, s:s, s:s, s:o}", "schema", "mailport-dns", "version", 1, "domain", domain,
		                        "host", c->hostname, "records", o.records);
		rc = doc && json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 ? 0 : EX_SOFTWARE;
		putchar('\n');
		json_decref(doc);
	}
	config_free(c);
	return rc;
}
