/*
 * records.c - the records of records.h, computed from the configuration: addresses of the
 * listeners, DKIM public keys from the key files, TLSA digests from the certificates. Not the
 * printing (cli/cmd_dns.c) and not the comparison with DNS (check/domain.c).
 */
#include "records.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../conf/config.h"
#include "../conf/listener.h"
#include "../msg/dkimsign.h"
#include "../publish/publish.h"

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

int records_tlsa_311(const char *file, char *hex, size_t hexlen)
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

static struct dns_rec *add(struct dns_rec *out, size_t max, size_t *n, enum rec_kind kind, int publish,
                           const char *name, const char *type)
{
	if (*n >= max)
		return NULL;
	struct dns_rec *r = &out[(*n)++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->publish = publish;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->type, sizeof(r->type), "%s", type);
	return r;
}

static void warn_line(char *warn, size_t warnlen, const char *text)
{
	size_t l = strlen(warn);
	if (l < warnlen)
		snprintf(warn + l, warnlen - l, "%s\n", text);
}

/* What records_for is building: the records so far and the warnings. */
struct recs {
	const struct config *c;
	const char *domain;
	char host[300];                 /* the host name, absolute (with its final dot) */
	struct dns_rec *out;
	size_t max, n;
	char *warn;
	size_t warnlen;
};

static struct dns_rec *rec_add(struct recs *rs, enum rec_kind kind, int publish, const char *name, const char *type)
{
	return add(rs->out, rs->max, &rs->n, kind, publish, name, type);
}

static void add_mx(struct recs *rs)
{
	const struct config *c = rs->c;
	char name[600];
	struct dns_rec *r;

	snprintf(name, sizeof(name), "%s.", rs->domain);
	if ((r = rec_add(rs, REC_MX, 1, name, "MX")) != NULL) {
		snprintf(r->data, sizeof(r->data), "10 %s", rs->host);
		snprintf(r->value, sizeof(r->value), "%s", c->hostname);
		snprintf(r->why, sizeof(r->why), "MX: mail for %s is delivered to %s", rs->domain, c->hostname);
	}
}

/* A and AAAA: the first public address of each family a listener is bound to, or a placeholder. */
static void add_addrs(struct recs *rs)
{
	const struct config *c = rs->c;
	struct dns_rec *r;
	int have[2] = { 0, 0 };

	for (int role = 0; role < ROLE_COUNT; role++)
		for (size_t i = 0; i < c->nlisten[role]; i++) {
			char a[64];
			int v6;
			if (!public_addr(&c->listen[role][i], a, sizeof(a), &v6) || have[v6])
				continue;
			have[v6] = 1;
			if ((r = rec_add(rs, REC_ADDR, 1, rs->host, v6 ? "AAAA" : "A")) == NULL)
				continue;
			snprintf(r->data, sizeof(r->data), "%s", a);
			snprintf(r->value, sizeof(r->value), "%s", a);
			snprintf(r->why, sizeof(r->why), "%s: the address of %s that other servers and mail clients connect to",
			         v6 ? "AAAA" : "A", c->hostname);
		}
	if (!have[0] && (r = rec_add(rs, REC_ADDR, 0, rs->host, "A")) != NULL) {
		snprintf(r->data, sizeof(r->data), "192.0.2.1");
		snprintf(r->why, sizeof(r->why), "A: the public IPv4 address of this server (it listens on a wildcard or "
		         "loopback address, so it cannot know it): put it here");
	}
}

static void add_spf(struct recs *rs)
{
	const struct config *c = rs->c;
	char name[600];
	struct dns_rec *r;

	snprintf(name, sizeof(name), "%s.", rs->domain);
	if ((r = rec_add(rs, REC_SPF, 1, name, "TXT")) != NULL) {
		snprintf(r->data, sizeof(r->data), "%s", c->smarthost ? "\"v=spf1 mx ?all\"" : "\"v=spf1 mx -all\"");
		snprintf(r->why, sizeof(r->why), "SPF (RFC 7208): only the MX host sends mail from %s; everything else "
		         "fails%s%s", rs->domain, c->smarthost ? ". Mail leaves through the smarthost " : "",
		         c->smarthost ? c->smarthost : "");
	}
}

/* One TXT record per DKIM key of the domain, active or standby; an unreadable key is a warning. */
static void add_dkim(struct recs *rs)
{
	const struct config *c = rs->c;
	const char *domain = rs->domain;
	char name[600];
	struct dns_rec *r;

	for (size_t i = 0; i < c->ndkim; i++) {
		char p[1024], err[300], chunks[1400];
		const char *kt;
		const struct config_dkim *k = &c->dkim[i];
		if (strcasecmp(k->domain, domain) != 0)
			continue;
		if (dkim_key_public(k->path, p, sizeof(p), &kt, err, sizeof(err)) != 0) {
			warn_line(rs->warn, rs->warnlen, err);
			continue;
		}
		snprintf(name, sizeof(name), "%s._domainkey.%s.", k->selector, domain);
		if ((r = rec_add(rs, REC_DKIM, 1, name, "TXT")) == NULL)
			continue;
		/* A TXT string is at most 255 octets (RFC 1035 3.3.14): a 2048-bit key takes two. */
		size_t cn = 0;
		for (size_t off = 0, pl = strlen(p); off < pl && cn + 260 < sizeof(chunks); off += 200)
			cn += (size_t)snprintf(chunks + cn, sizeof(chunks) - cn, " \"%s%.200s\"", off == 0 ? "p=" : "", p + off);
		snprintf(r->data, sizeof(r->data), "( \"v=DKIM1; k=%s;\"%s )", kt, chunks);
		snprintf(r->value, sizeof(r->value), "%s", p);
		snprintf(r->selector, sizeof(r->selector), "%s", k->selector);
		snprintf(r->ktype, sizeof(r->ktype), "%s", kt);
		snprintf(r->why, sizeof(r->why), "DKIM (RFC 6376%s): the public key of selector %s (%s), %s%s",
		         strcmp(kt, "ed25519") ? "" : ", 8463", k->selector, kt, k->active ? "which signs mail from " :
		         "standby (published for a rotation, not signing) for ", domain);
	}
}

static void add_dmarc(struct recs *rs)
{
	char name[600];
	struct dns_rec *r;

	snprintf(name, sizeof(name), "_dmarc.%s.", rs->domain);
	if ((r = rec_add(rs, REC_DMARC, 1, name, "TXT")) != NULL) {
		snprintf(r->data, sizeof(r->data), "\"v=DMARC1; p=quarantine; rua=mailto:postmaster@%s\"", rs->domain);
		snprintf(r->why, sizeof(r->why), "DMARC (RFC 7489): mail that fails SPF and DKIM alignment goes to spam, "
		         "and receivers send daily reports to postmaster; move to p=reject once they are clean");
	}
}

/* SRV for submission on 465 and 587: this host where it listens, "not offered" where not. */
static void add_submission_srv(struct recs *rs)
{
	static const struct { int role; const char *srv, *prio; unsigned port; } srvs[] = {
		{ ROLE_SUBMISSIONS, "_submissions._tcp", "0 1 465", 465 },
		{ ROLE_SUBMISSION, "_submission._tcp", "10 1 587", 587 },
	};
	const struct config *c = rs->c;
	char name[600];
	struct dns_rec *r;

	for (size_t i = 0; i < 2; i++) {
		int on = c->nlisten[srvs[i].role] > 0;
		snprintf(name, sizeof(name), "%s.%s.", srvs[i].srv, rs->domain);
		if ((r = rec_add(rs, REC_SRV, 1, name, "SRV")) == NULL)
			continue;
		if (on)
			snprintf(r->data, sizeof(r->data), "%s %s", srvs[i].prio, rs->host);
		else
			snprintf(r->data, sizeof(r->data), "0 0 0 .");
		snprintf(r->value, sizeof(r->value), "%s", on ? c->hostname : ".");
		r->port = on ? srvs[i].port : 0;
		snprintf(r->why, sizeof(r->why), "SRV (RFC 6186, RFC 8314 5.1): mail clients %s", !on ? "are told this "
		         "service is not offered here" : srvs[i].role == ROLE_SUBMISSIONS ? "submit on 465 with TLS from the "
		         "first byte, preferred" : "may submit on 587 with STARTTLS (second choice)");
	}
}

static void add_tlsrpt(struct recs *rs)
{
	const struct config *c = rs->c;
	char name[600];
	struct dns_rec *r;

	snprintf(name, sizeof(name), "_smtp._tls.%s.", rs->domain);
	if ((r = rec_add(rs, REC_TLSRPT, 1, name, "TXT")) != NULL) {
		snprintf(r->data, sizeof(r->data), "\"v=TLSRPTv1; rua=mailto:%s%s\"", c->tlsrpt_contact ? "" : "postmaster@",
		         c->tlsrpt_contact ? c->tlsrpt_contact : rs->domain);
		snprintf(r->why, sizeof(r->why), "TLS-RPT (RFC 8460): servers that send here report daily how their TLS to "
		         "this MX went");
	}
}

static void add_mtasts(struct recs *rs)
{
	const struct config *c = rs->c;
	const char *domain = rs->domain;
	char name[600];
	struct dns_rec *r;
	time_t now = time(NULL);
	struct tm tm;
	char id[32];

	gmtime_r(&now, &tm);
	strftime(id, sizeof(id), "%Y%m%d%H%M%S", &tm);
	snprintf(name, sizeof(name), "_mta-sts.%s.", domain);
	int https = c->nlisten[ROLE_HTTPS] > 0;
	if ((r = rec_add(rs, REC_MTASTS, https, name, "TXT")) != NULL) {
		snprintf(r->data, sizeof(r->data), "\"v=STSv1; id=%s\"", id);
		if (https)
			snprintf(r->why, sizeof(r->why), "MTA-STS (RFC 8461): senders fetch https://mta-sts.%s/.well-known/"
			         "mta-sts.txt from this server ([https]: mode %s, mx %s); change id whenever the policy changes",
			         domain, c->mta_sts_mode, c->hostname);
		else
			snprintf(r->why, sizeof(r->why), "MTA-STS (RFC 8461): publish only once https://mta-sts.%s/.well-known/"
			         "mta-sts.txt serves the policy (set [https] listen and mailport serves it)", domain);
	}
}

/* TLSA 3 1 1 of the first certificate for each SMTP port listened on; unreadable, a warning. */
static void add_tlsa(struct recs *rs)
{
	static const struct { int role; unsigned port; } tls_ports[] = {
		{ ROLE_SMTP, 25 }, { ROLE_SUBMISSIONS, 465 }, { ROLE_SUBMISSION, 587 },
	};
	const struct config *c = rs->c;
	char name[600], text[700];
	struct dns_rec *r;
	char hex[65];

	if (c->ncerts > 0 && records_tlsa_311(c->certs[0].cert, hex, sizeof(hex)) != 0) {
		snprintf(text, sizeof(text), "cannot read the certificate %s: no TLSA records", c->certs[0].cert);
		warn_line(rs->warn, rs->warnlen, text);
	} else if (c->ncerts > 0)
		for (size_t i = 0; i < 3; i++) {
			if (c->nlisten[tls_ports[i].role] == 0)
				continue;
			snprintf(name, sizeof(name), "_%u._tcp.%s", tls_ports[i].port, rs->host);
			if ((r = rec_add(rs, REC_TLSA, 1, name, "TLSA")) == NULL)
				continue;
			snprintf(r->data, sizeof(r->data), "3 1 1 %s", hex);
			snprintf(r->value, sizeof(r->value), "%s", hex);
			r->port = tls_ports[i].port;
			r->role = tls_ports[i].role;
			snprintf(r->why, sizeof(r->why), "TLSA (DANE, RFC 7672): the key of %s's certificate on port %u; only "
			         "in a DNSSEC-signed zone, and changed before the key is", c->hostname, tls_ports[i].port);
		}
}

/* the names mail clients and MTA-STS senders ask this server's HTTPS listener by */
static void add_web_names(struct recs *rs)
{
	static const struct { const char *label, *what; } webs[] = {
		{ "autoconfig", "Thunderbird-style clients ask it for their settings (autoconfig)" },
		{ "autodiscover", "Outlook asks it for its settings (Autodiscover)" },
		{ "mta-sts", "senders fetch the MTA-STS policy from it" },
	};
	const struct config *c = rs->c;
	int https = c->nlisten[ROLE_HTTPS] > 0;
	char name[600];
	struct dns_rec *r;

	for (size_t i = 0; i < sizeof(webs) / sizeof(webs[0]); i++) {
		snprintf(name, sizeof(name), "%s.%s.", webs[i].label, rs->domain);
		if ((r = rec_add(rs, REC_AUTOCONFIG, https, name, "CNAME")) == NULL)
			continue;
		snprintf(r->data, sizeof(r->data), "%s", rs->host);
		snprintf(r->value, sizeof(r->value), "%s", c->hostname);
		snprintf(r->why, sizeof(r->why), "%s; %s", webs[i].what, https ? "[https] serves it; its certificate must "
		         "name this host too" : "publish once [https] listen is set");
	}
}

/* SRV for the IMAP server of [https] imap, when set. */
static void add_imap_srv(struct recs *rs)
{
	const struct config *c = rs->c;
	char name[600], ih[256];
	unsigned ip;
	struct dns_rec *r;

	if (c->https_imap != NULL && publish_parse_hostport(c->https_imap, ih, sizeof(ih), &ip) == 0) {
		snprintf(name, sizeof(name), "%s.%s.", ip == 993 ? "_imaps._tcp" : "_imap._tcp", rs->domain);
		if ((r = rec_add(rs, REC_SRV, 1, name, "SRV")) != NULL) {
			snprintf(r->data, sizeof(r->data), "0 1 %u %s.", ip, ih);
			snprintf(r->value, sizeof(r->value), "%s", ih);
			r->port = ip;
			snprintf(r->why, sizeof(r->why), "SRV (RFC 6186): mail clients read mail at %s port %u ([https] imap)",
			         ih, ip);
		}
	}
}

size_t records_for(const struct config *c, const char *domain, struct dns_rec *out, size_t max, char *warn,
                   size_t warnlen)
{
	struct recs rs = { .c = c, .domain = domain, .out = out, .max = max, .n = 0, .warn = warn, .warnlen = warnlen };

	warn[0] = '\0';
	snprintf(rs.host, sizeof(rs.host), "%s.", c->hostname);
	add_mx(&rs);
	add_addrs(&rs);
	add_spf(&rs);
	add_dkim(&rs);
	add_dmarc(&rs);
	add_submission_srv(&rs);
	add_tlsrpt(&rs);
	add_mtasts(&rs);
	add_tlsa(&rs);
	add_web_names(&rs);
	add_imap_srv(&rs);
	return rs.n;
}
