/*
 * discover.c - from an e-mail address to the servers worth probing. Not probing: the
 * targets found here go to probe.c like any host given on the command line.
 */
#include "discover.h"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../net/https.h"
#include "../route/mx.h"
#include "../net/dns.h"

#define AUTOCONFIG_MAX (256 * 1024)

static int host_ok(const char *h)
{
	if (*h == '\0')
		return 0;
	for (; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
		      *h == '.' || *h == '-' || *h == '_' || *h == ':'))
			return 0;
	return 1;
}

/* DNS names and HTTP answers are not ours: nothing but printable ASCII reaches a terminal or
 * the JSON. */
static void ascii_only(char *s)
{
	for (unsigned char *c = (unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c >= 0x7f)
			*c = '?';
}

static void step(struct discovery *d, const char *source, const char *query, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void step(struct discovery *d, const char *source, const char *query, const char *fmt, ...)
{
	struct discover_step *s;
	va_list ap;

	if (d->nsteps == DISCOVER_MAX_STEPS)
		return;
	s = &d->steps[d->nsteps++];
	snprintf(s->source, sizeof(s->source), "%s", source);
	snprintf(s->query, sizeof(s->query), "%s", query);
	va_start(ap, fmt);
	vsnprintf(s->result, sizeof(s->result), fmt, ap);
	va_end(ap);
	ascii_only(s->query);
	ascii_only(s->result);
}

static void target(struct discovery *d, const char *host, unsigned port, enum check_role role, const char *source)
{
	struct check_target *t;
	size_t hl = strlen(host);

	if (hl > 1 && host[hl - 1] == '.')
		hl--;                   /* SRV and MX names end in the root's dot */
	for (size_t i = 0; i < d->ntargets; i++)
		if (d->targets[i].port == port && strncasecmp(d->targets[i].host, host, hl) == 0 &&
		    d->targets[i].host[hl] == '\0')
			return;
	if (d->ntargets == DISCOVER_MAX_TARGETS || hl == 0 || hl >= sizeof(t->host) || !host_ok(host))
		return;
	t = &d->targets[d->ntargets++];
	snprintf(t->host, sizeof(t->host), "%.*s", (int)hl, host);
	t->port = port;
	t->role = role;
	snprintf(t->source, sizeof(t->source), "%s", source);
}

/* ---- RFC 6186 SRV --------------------------------------------------------------------- */

static void srv(struct discovery *d, struct dns *dns, const char *service, enum check_role role)
{
	char name[300], err[256] = "", list[380] = "";
	struct dns_srv recs[8];
	size_t n = 0, o = 0;
	int r;

	snprintf(name, sizeof(name), "%s.%s", service, d->domain);
	r = dns_srv(dns, name, recs, 8, &n, err, sizeof(err));
	if (r == DNS_NXDOMAIN || (r == DNS_OK && n == 0)) {
		step(d, "srv", name, "no record");
		return;
	}
	if (r != DNS_OK) {
		step(d, "srv", name, "%s", err);
		if (d->dns_failed++ == 0)
			snprintf(d->dns_error, sizeof(d->dns_error), "%s", err);
		return;
	}
	if (n == 1 && strcmp(recs[0].target, ".") == 0) {
		step(d, "srv", name, "\".\": the domain says this service is not offered");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (o < sizeof(list))
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s port %u (priority %u, weight %u)",
			                      i ? "; " : "", recs[i].target, recs[i].port, recs[i].priority, recs[i].weight);
	step(d, "srv", name, "%s", list);
	/* The first in RFC 2782 order is what a client would use: probe that one. */
	for (size_t i = 0; i < n; i++)
		if (strcmp(recs[i].target, ".") != 0) {
			target(d, recs[i].target, recs[i].port, role, "srv");
			break;
		}
}

/* ---- autoconfig ------------------------------------------------------------------------- */

static const xmlNode *child(const xmlNode *n, const char *name)
{
	for (const xmlNode *c = n ? n->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

static void text_of(const xmlNode *n, char *buf, size_t len)
{
	xmlChar *t = n ? xmlNodeGetContent(n) : NULL;
	const char *s = (const char *)t, *e;

	buf[0] = '\0';
	if (t == NULL)
		return;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	snprintf(buf, len, "%.*s", (int)(e - s), s);
	xmlFree(t);
}

int autoconfig_parse(const char *xml, size_t len, const char *domain, struct check_target *out, size_t max,
                     size_t *n)
{
	xmlDoc *doc;
	const xmlNode *root;

	*n = 0;
	if (len > AUTOCONFIG_MAX || len > (size_t)INT32_MAX)
		return -1;
	/* No network, no entity substitution, no DTD loading: only the element tree. */
	doc = xmlReadMemory(xml, (int)len, "config-v1.1.xml", NULL,
	                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
	if (doc == NULL)
		return -1;
	root = xmlDocGetRootElement(doc);
	/* An autoconfig file has no DTD; one that brings its own entities is refused outright. */
	if (root == NULL || doc->intSubset != NULL || strcmp((const char *)root->name, "clientConfig") != 0) {
		xmlFreeDoc(doc);
		return -1;
	}
	for (const xmlNode *prov = root->children; prov != NULL; prov = prov->next) {
		if (prov->type != XML_ELEMENT_NODE || strcmp((const char *)prov->name, "emailProvider") != 0)
			continue;
		for (const xmlNode *s = prov->children; s != NULL && *n < max; s = s->next) {
			char host[256], port[16], sock[32], type[16] = "";
			xmlChar *ty;
			char *end;
			unsigned long pn;
			const char *ph;
			if (s->type != XML_ELEMENT_NODE || strcmp((const char *)s->name, "outgoingServer") != 0)
				continue;
			if ((ty = xmlGetProp(s, (const xmlChar *)"type")) != NULL) {
				snprintf(type, sizeof(type), "%s", (const char *)ty);
				xmlFree(ty);
			}
			if (strcasecmp(type, "smtp") != 0)
				continue;
			text_of(child(s, "hostname"), host, sizeof(host));
			text_of(child(s, "port"), port, sizeof(port));
			text_of(child(s, "socketType"), sock, sizeof(sock));
			if ((ph = strstr(host, "%EMAILDOMAIN%")) != NULL) {
				char sub[256];
				snprintf(sub, sizeof(sub), "%.*s%s%s", (int)(ph - host), host, domain, ph + 13);
				snprintf(host, sizeof(host), "%s", sub);
			}
			pn = strtoul(port, &end, 10);
			if (!host_ok(host) || *end != '\0' || pn == 0 || pn > 65535)
				continue;
			memset(&out[*n], 0, sizeof(out[*n]));
			snprintf(out[*n].host, sizeof(out[*n].host), "%s", host);
			out[*n].port = (unsigned)pn;
			/* socketType SSL = implicit TLS; STARTTLS; "plain" is judged by probing like any other. */
			out[*n].role = strcasecmp(sock, "SSL") == 0 ? ROLE_SUBMISSIONS : ROLE_SUBMISSION;
			out[*n].published_plain = strcasecmp(sock, "plain") == 0;
			snprintf(out[*n].source, sizeof(out[*n].source), "autoconfig");
			(*n)++;
		}
	}
	xmlFreeDoc(doc);
	return 0;
}

/* Fetch one autoconfig URL; 0 when it gave servers. */
static int fetch(struct discovery *d, const struct discover_opts *o, const char *host, const char *url)
{
	char err[400] = "", addrs[8][DNS_ADDR_LEN];
	struct check_target found[DISCOVER_MAX_TARGETS];
	struct https_resp resp = { 0 };
	size_t naddrs = 0, nfound = 0;
	int rc = -1, mapped = 0;

	for (size_t i = 0; i < o->nconnect_to; i++)
		if (strncasecmp(o->connect_to[i], host, strlen(host)) == 0 && o->connect_to[i][strlen(host)] == ':')
			mapped = 1;
	if (!mapped) {
		/* Resolve with our resolver too, so DNS answers are the same for SRV, MX and HTTPS. */
		struct dns *dns = dns_new(o->resolver, DNS_HOSTS | DNS_ASK_ALL, err, sizeof(err));
		if (dns != NULL)
			dns_set_timeout(dns, o->timeout_ms);
		int r = dns ? dns_addrs(dns, host, addrs, 8, &naddrs, err, sizeof(err)) : DNS_TEMP;
		dns_free(dns);
		if (r != DNS_OK || naddrs == 0) {
			step(d, "autoconfig", url, "%s", r == DNS_NXDOMAIN ? "the host does not exist" :
			     r == DNS_OK ? "the host has no address" : err);
			return -1;
		}
	}
	struct https_req req = { url, host, 443, (const char (*)[46])addrs, naddrs, o->cafile, o->timeout_ms,
	                         AUTOCONFIG_MAX, 1, "mailport-check", o->connect_to, o->nconnect_to, NULL, 0, NULL };
	if (https_get(&req, &resp, err, sizeof(err)) != 0) {
		step(d, "autoconfig", url, "%s", err);
		return -1;
	}
	if (resp.status != 200) {
		step(d, "autoconfig", url, "HTTP status %ld", resp.status);
		goto out;
	}
	if (autoconfig_parse(resp.body, resp.len, d->domain, found, DISCOVER_MAX_TARGETS, &nfound) != 0) {
		step(d, "autoconfig", url, "not an autoconfig document (not well-formed, or no clientConfig)");
		goto out;
	}
	if (nfound == 0) {
		step(d, "autoconfig", url, "no SMTP server in the document");
		goto out;
	}
	{
		char list[380] = "";
		size_t lo = 0;
		for (size_t i = 0; i < nfound; i++) {
			target(d, found[i].host, found[i].port, found[i].role, "autoconfig");
			if (lo < sizeof(list))
				lo += (size_t)snprintf(list + lo, sizeof(list) - lo, "%s%s port %u (%s)", i ? "; " : "",
				                       found[i].host, found[i].port,
				                       found[i].role == ROLE_SUBMISSIONS ? "SSL" : "STARTTLS");
		}
		step(d, "autoconfig", url, "%s", list);
	}
	rc = 0;
out:
	free(resp.body);
	return rc;
}

void check_discover(const char *address, const struct discover_opts *o, struct discovery *d)
{
	const char *at = strrchr(address, '@');
	struct mx_host mx[MX_MAX_HOSTS];
	size_t nmx = 0;
	char err[256] = "", url[600], host[300];
	struct dns *dns;
	int r;

	memset(d, 0, sizeof(*d));
	snprintf(d->domain, sizeof(d->domain), "%s", at ? at + 1 : address);
	snprintf(d->source, sizeof(d->source), "none");
	if ((dns = dns_new(o->resolver, DNS_ASK_ALL, err, sizeof(err))) == NULL) {
		step(d, "srv", d->domain, "%s", err);
		d->dns_failed = 1;
		snprintf(d->dns_error, sizeof(d->dns_error), "%s", err);
		return;
	}
	dns_set_timeout(dns, o->timeout_ms);
	/* RFC 8314 5.1: _submissions (implicit TLS) alongside _submission (STARTTLS). */
	srv(d, dns, "_submissions._tcp", ROLE_SUBMISSIONS);
	srv(d, dns, "_submission._tcp", ROLE_SUBMISSION);
	dns_free(dns);
	if (d->dns_failed == 2) {
		/* Neither answered: every further step would wait for the same silent resolver. */
		step(d, "dns", d->domain, "stopped here: the DNS server does not answer");
		return;
	}
	if (d->ntargets > 0)
		snprintf(d->source, sizeof(d->source), "srv");
	else {
		char *q = curl_easy_escape(NULL, address, 0);
		snprintf(host, sizeof(host), "autoconfig.%s", d->domain);
		snprintf(url, sizeof(url), "https://%s/mail/config-v1.1.xml?emailaddress=%s", host, q ? q : "");
		curl_free(q);
		if (fetch(d, o, host, url) != 0) {
			snprintf(url, sizeof(url), "https://%s/.well-known/autoconfig/mail/config-v1.1.xml", d->domain);
			fetch(d, o, d->domain, url);
		}
		if (d->ntargets > 0)
			snprintf(d->source, sizeof(d->source), "autoconfig");
	}
	r = mx_lookup(o->resolver, o->timeout_ms, d->domain, mx, &nmx, err, sizeof(err));
	if (r != MX_OK || nmx == 0) {
		step(d, "mx", d->domain, "%s", err[0] ? err : "no mail server");
		if (r == MX_NXDOMAIN)
			d->nxdomain = 1;
		else if (r == MX_TEMP && d->dns_failed++ == 0)
			snprintf(d->dns_error, sizeof(d->dns_error), "%s", err);
		return;
	}
	{
		char list[380] = "";
		size_t lo = 0;
		for (size_t i = 0; i < nmx && lo < sizeof(list); i++)
			lo += (size_t)snprintf(list + lo, sizeof(list) - lo, "%s%s (preference %u)", i ? "; " : "", mx[i].name,
			                       mx[i].preference);
		step(d, "mx", d->domain, "%s", list);
	}
	if (d->ntargets == 0) {
		/* Nothing published: the MX host is the best guess for submission too. */
		target(d, mx[0].name, 465, ROLE_SUBMISSIONS, "mx");
		target(d, mx[0].name, 587, ROLE_SUBMISSION, "mx");
		snprintf(d->source, sizeof(d->source), "mx");
	}
	target(d, mx[0].name, 25, ROLE_SMTP, "mx");
}
