/*
 * dns.c - `mailport dns DOMAIN --config FILE`: every DNS record this server needs for DOMAIN,
 * in zone-file syntax ready to paste, each after a comment line saying why; `--json` for
 * tools. Records that only make sense once something else exists (an address we cannot know,
 * an MTA-STS policy nobody serves yet) are printed commented out, with what to do first.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../conf/config.h"
#include "../conf/listener.h"
#include "../msg/dkim.h"
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

/* An address a listener is bound to that others can reach (not a wildcard, not loopback). */
static int public_addr(const struct config_listen *l, char *out, size_t outlen, int *v6)
{
	if (l->ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&l->ss;
		uint32_t ip = ntohl(a->sin_addr.s_addr);
		*v6 = 0;
		return ip != 0 && (ip >> 24) != 127 && inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)outlen) != NULL;
	}
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&l->ss;
	*v6 = 1;
	return !IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr) && !IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) &&
	       inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)outlen) != NULL;
}

/* TLSA 3 1 1 (DANE-EE, SPKI, SHA-256) of the first certificate in file. */
static int tlsa_311(const char *file, char *hex, size_t hexlen)
{
	FILE *fp = fopen(file, "r");
	X509 *x = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL, md[32];
	int len = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1, r = -1;

	if (fp)
		fclose(fp);
	if (len > 0 && EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL) == 1 && hexlen > 64) {
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		r = 0;
	}
	OPENSSL_free(der);
	X509_free(x);
	return r;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: mailport dns DOMAIN --config FILE [--json]\n"
	             "\n"
	             "Print every DNS record this server needs for DOMAIN, ready for a zone file, each with a\n"
	             "line saying why: MX, the host's addresses, SPF, DKIM (one per [dkim] key), DMARC, the\n"
	             "submission SRV records (RFC 6186/8314, 465 first), TLS-RPT, TLSA for the certificate of\n"
	             "each TLS port, autoconfig; MTA-STS commented out until its policy is served.\n");
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
	char domain[256], host[300], name[600], data[2048], why[600];
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
	snprintf(host, sizeof(host), "%s.", c->hostname);
	if (o.json)
		o.records = json_array();
	else
		printf("; DNS records for %s served by %s (mailport dns, %s)\n\n", domain, c->hostname, config);

	snprintf(name, sizeof(name), "%s.", domain);
	snprintf(data, sizeof(data), "10 %s", host);
	snprintf(why, sizeof(why), "MX: mail for %s is delivered to %s", domain, c->hostname);
	rec(&o, 1, name, "MX", data, why);

	int have[2] = { 0, 0 };
	for (int role = 0; role < ROLE_COUNT; role++)
		for (size_t i = 0; i < c->nlisten[role]; i++) {
			char a[64];
			int v6;
			if (!public_addr(&c->listen[role][i], a, sizeof(a), &v6) || have[v6])
				continue;
			have[v6] = 1;
			snprintf(why, sizeof(why), "%s: the address of %s that other servers and mail clients connect to",
			         v6 ? "AAAA" : "A", c->hostname);
			rec(&o, 1, host, v6 ? "AAAA" : "A", a, why);
		}
	if (!have[0])
		rec(&o, 0, host, "A", "192.0.2.1", "A: the public IPv4 address of this server (it listens on a wildcard "
		                                   "or loopback address, so it cannot know it): put it here");

	snprintf(why, sizeof(why), "SPF (RFC 7208): only the MX host sends mail from %s; everything else fails%s%s",
	         domain, c->smarthost ? ". Mail leaves through the smarthost " : "", c->smarthost ? c->smarthost : "");
	rec(&o, 1, name, "TXT", c->smarthost ? "\"v=spf1 mx ?all\"" : "\"v=spf1 mx -all\"", why);

	for (size_t i = 0; i < c->ndkim; i++) {
		char p[1024], err[300], chunks[1400];
		const char *kt;
		const struct config_dkim *k = &c->dkim[i];
		if (strcasecmp(k->domain, domain) != 0)
			continue;
		if (dkim_key_public(k->path, p, sizeof(p), &kt, err, sizeof(err)) != 0) {
			fprintf(stderr, "mailport dns: %s\n", err);
			continue;
		}
		/* A TXT string is at most 255 octets (RFC 1035 3.3.14): a 2048-bit key takes two. */
		size_t n = 0;
		for (size_t off = 0, pl = strlen(p); off < pl && n + 260 < sizeof(chunks); off += 200)
			n += (size_t)snprintf(chunks + n, sizeof(chunks) - n, " \"%s%.200s\"", off == 0 ? "p=" : "", p + off);
		snprintf(name, sizeof(name), "%s._domainkey.%s.", k->selector, domain);
		snprintf(data, sizeof(data), "( \"v=DKIM1; k=%s;\"%s )", kt, chunks);
		snprintf(why, sizeof(why), "DKIM (RFC 6376%s): the public key of selector %s (%s), %s", strcmp(kt, "ed25519")
		         ? "" : ", 8463", k->selector, kt, k->active ? "which signs mail from " : "standby (published "
		         "for a rotation, not signing) for ");
		strncat(why, domain, sizeof(why) - strlen(why) - 1);
		rec(&o, 1, name, "TXT", data, why);
	}

	snprintf(name, sizeof(name), "_dmarc.%s.", domain);
	snprintf(data, sizeof(data), "\"v=DMARC1; p=quarantine; rua=mailto:postmaster@%s\"", domain);
	rec(&o, 1, name, "TXT", data, "DMARC (RFC 7489): mail that fails SPF and DKIM alignment goes to spam, and "
	                              "receivers send daily reports to postmaster; move to p=reject once they are clean");

	static const struct { int role; const char *srv, *prio; } srvs[] = {
		{ ROLE_SUBMISSIONS, "_submissions._tcp", "0 1 465" }, { ROLE_SUBMISSION, "_submission._tcp", "10 1 587" },
	};
	for (size_t i = 0; i < 2; i++) {
		int on = c->nlisten[srvs[i].role] > 0;
		snprintf(name, sizeof(name), "%s.%s.", srvs[i].srv, domain);
		snprintf(data, sizeof(data), on ? "%s %s" : "0 0 0 .", srvs[i].prio, host);
		snprintf(why, sizeof(why), "SRV (RFC 6186, RFC 8314 5.1): mail clients %s", !on ? "are told this service "
		         "is not offered here" : srvs[i].role == ROLE_SUBMISSIONS ? "submit on 465 with TLS from the first "
		         "byte, preferred" : "may submit on 587 with STARTTLS (second choice)");
		rec(&o, 1, name, "SRV", data, why);
	}

	snprintf(name, sizeof(name), "_smtp._tls.%s.", domain);
	snprintf(data, sizeof(data), "\"v=TLSRPTv1; rua=mailto:%s%s\"", c->tlsrpt_contact ? "" : "postmaster@",
	         c->tlsrpt_contact ? c->tlsrpt_contact : domain);
	rec(&o, 1, name, "TXT", data, "TLS-RPT (RFC 8460): servers that send here report daily how their TLS to "
	                              "this MX went");

	time_t now = time(NULL);
	struct tm tm;
	char id[32];
	gmtime_r(&now, &tm);
	strftime(id, sizeof(id), "%Y%m%d%H%M%S", &tm);
	snprintf(name, sizeof(name), "_mta-sts.%s.", domain);
	snprintf(data, sizeof(data), "\"v=STSv1; id=%s\"", id);
	snprintf(why, sizeof(why), "MTA-STS (RFC 8461): publish only once https://mta-sts.%s/.well-known/mta-sts.txt "
	         "serves \"version: STSv1 / mode: testing / mx: %s / max_age: 604800\" (then mode: enforce)", domain,
	         c->hostname);
	rec(&o, 0, name, "TXT", data, why);

	static const struct { int role; const char *port; } tls_ports[] = {
		{ ROLE_SMTP, "25" }, { ROLE_SUBMISSIONS, "465" }, { ROLE_SUBMISSION, "587" },
	};
	char hex[65];
	if (c->ncerts > 0 && tlsa_311(c->certs[0].cert, hex, sizeof(hex)) != 0)
		fprintf(stderr, "mailport dns: cannot read the certificate %s: no TLSA records\n", c->certs[0].cert);
	else if (c->ncerts > 0)
		for (size_t i = 0; i < 3; i++) {
			if (c->nlisten[tls_ports[i].role] == 0)
				continue;
			snprintf(name, sizeof(name), "_%s._tcp.%s", tls_ports[i].port, host);
			snprintf(data, sizeof(data), "3 1 1 %s", hex);
			snprintf(why, sizeof(why), "TLSA (DANE, RFC 7672): the key of %s's certificate on port %s; only in a "
			         "DNSSEC-signed zone, and changed before the key is", c->hostname, tls_ports[i].port);
			rec(&o, 1, name, "TLSA", data, why);
		}

	snprintf(name, sizeof(name), "autoconfig.%s.", domain);
	rec(&o, 1, name, "CNAME", host, "autoconfig: the host name mail clients (Thunderbird) ask for their settings");

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
