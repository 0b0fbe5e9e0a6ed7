/*
 * mtasts.c - MTA-STS policies (mtasts.h): the TXT record, the policy document and its cache.
 * Not what a policy means for a delivery (tlspolicy.c) and not the HTTPS itself (net/https.c).
 */
#include "mtasts.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unbound.h>

#include "../net/https.h"
#include "../net/dns.h"
#include "../util/fsutil.h"
#include "../util/log.h"
#include "../util/metrics.h"

#define DNS_T_TXT 16

const char *sts_mode_name(enum sts_mode m)
{
	return m == STS_MODE_ENFORCE ? "enforce" : m == STS_MODE_TESTING ? "testing" : "none";
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && isspace((unsigned char)**s))
		(*s)++, (*n)--;
	while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* One "key: value" line into the policy. */
static void policy_line(struct sts_policy *p, const char *k, size_t kn, const char *v, size_t vn, int *version,
                        int *have_mode, int *have_age)
{
	if (kn == 7 && strncmp(k, "version", 7) == 0)
		*version = vn == 5 && strncmp(v, "STSv1", 5) == 0;
	else if (kn == 4 && strncmp(k, "mode", 4) == 0) {
		*have_mode = 1;
		if (vn == 7 && strncmp(v, "enforce", 7) == 0) p->mode = STS_MODE_ENFORCE;
		else if (vn == 7 && strncmp(v, "testing", 7) == 0) p->mode = STS_MODE_TESTING;
		else if (vn == 4 && strncmp(v, "none", 4) == 0) p->mode = STS_MODE_NONE;
		else *have_mode = -1;
	} else if (kn == 2 && strncmp(k, "mx", 2) == 0) {
		if (p->nmx < STS_MAX_MX && vn > 0 && vn < sizeof(p->mx[0])) {
			char *dst = p->mx[p->nmx++];
			for (size_t i = 0; i < vn; i++)
				dst[i] = (char)tolower((unsigned char)v[i]);
			dst[vn] = '\0';
		}
	} else if (kn == 7 && strncmp(k, "max_age", 7) == 0) {
		char num[24];
		char *end;
		snprintf(num, sizeof(num), "%.*s", (int)(vn < 23 ? vn : 23), v);
		long long a = strtoll(num, &end, 10);
		*have_age = vn > 0 && vn < 11 && *end == '\0' && a >= 0 && num[0] != '-' ? 1 : -1;
		p->max_age = a > STS_MAX_AGE_LIMIT ? STS_MAX_AGE_LIMIT : a;
	}
	/* Other keys: ignored (RFC 8461 3.2: extensions). */
}

int sts_parse(const char *text, size_t len, struct sts_policy *out, char *err, size_t errlen)
{
	int version = 0, have_mode = 0, have_age = 0;
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	while (off < len) {
		const char *line = text + off, *nl = memchr(line, '\n', len - off);
		size_t n = nl ? (size_t)(nl - line) : len - off;
		off += n + (nl != NULL);
		const char *colon = memchr(line, ':', n);
		if (colon == NULL)
			continue;
		const char *k = line, *v = colon + 1;
		size_t kn = (size_t)(colon - line), vn = n - kn - 1;
		trim(&k, &kn);
		trim(&v, &vn);
		policy_line(out, k, kn, v, vn, &version, &have_mode, &have_age);
	}
	if (!version)
		snprintf(err, errlen, "not an MTA-STS policy (no \"version: STSv1\")");
	else if (have_mode != 1)
		snprintf(err, errlen, "the policy has %s mode (enforce, testing or none)", have_mode ? "a bad" : "no");
	else if (have_age != 1)
		snprintf(err, errlen, "the policy has %s max_age", have_age ? "a bad" : "no");
	else if (out->mode != STS_MODE_NONE && out->nmx == 0)
		snprintf(err, errlen, "the policy is in mode %s but names no mx", sts_mode_name(out->mode));
	else {
		out->found = 1;
		return 0;
	}
	return -1;
}

int sts_txt_id(const char *txt, size_t len, char *id, size_t idlen)
{
	size_t off = 0;
	int first = 1, have_id = 0;

	while (off < len) {
		const char *f = txt + off, *semi = memchr(f, ';', len - off);
		size_t n = semi ? (size_t)(semi - f) : len - off;
		off += n + (semi != NULL);
		trim(&f, &n);
		if (first) {
			if (n != 7 || strncmp(f, "v=STSv1", 7) != 0)
				return -1;
			first = 0;
			continue;
		}
		if (n > 3 && strncmp(f, "id=", 3) == 0) {
			size_t il = n - 3;
			if (il < 1 || il > 32 || il >= idlen)
				return -1;
			for (size_t i = 0; i < il; i++)
				if (!isalnum((unsigned char)f[3 + i]))
					return -1;
			memcpy(id, f + 3, il);
			id[il] = '\0';
			have_id = 1;
		}
	}
	return have_id ? 0 : -1;
}

int sts_mx_match(const struct sts_policy *p, const char *mx)
{
	size_t ml = strlen(mx);

	if (ml > 0 && mx[ml - 1] == '.')
		ml--;
	for (size_t i = 0; i < p->nmx; i++) {
		const char *pat = p->mx[i];
		size_t pl = strlen(pat);
		if (pl > 2 && pat[0] == '*' && pat[1] == '.') {
			/* "*.example.org": exactly one more label on the left (RFC 8461 4.1). */
			const char *dot = memchr(mx, '.', ml);
			if (dot != NULL && dot > mx && (size_t)(mx + ml - dot) == pl - 1 &&
			    strncasecmp(dot, pat + 1, pl - 1) == 0)
				return 1;
		} else if (pl == ml && strncasecmp(pat, mx, ml) == 0)
			return 1;
	}
	return 0;
}

/* ---- the TXT record ------------------------------------------------------------------------ */

/* 1 with id when _mta-sts.domain announces a policy, 0 when not, -1 when DNS failed. */
static int announced(struct dns *d, const char *domain, char *id, size_t idlen, char *err, size_t errlen)
{
	char name[300];
	struct ub_result *res = NULL;
	int r, found = 0;

	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	r = dns_query(d, name, DNS_T_TXT, &res, err, errlen);
	if (r == DNS_NXDOMAIN || (r == DNS_OK && !res->havedata)) {
		dns_result_free(res);
		return 0;
	}
	if (r != DNS_OK) {
		dns_result_free(res);
		return -1;
	}
	for (int i = 0; res->data[i] != NULL; i++) {
		char txt[1024];
		size_t tl = dns_txt_string(res, i, txt, sizeof(txt));
		if (tl >= 7 && strncmp(txt, "v=STSv1", 7) == 0) {
			if (found++ || sts_txt_id(txt, tl, id, idlen) != 0) {
				found = 2;      /* two records, or a broken one: no policy (RFC 8461 3.1) */
				break;
			}
		}
	}
	dns_result_free(res);
	return found == 1;
}

/* ---- the cache ----------------------------------------------------------------------------- */

static void cache_path(const struct sts_conf *c, const char *domain, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", c->cache_dir, domain);
}

/* "id\nfetched\n" then the document. 0 when a valid policy was read. */
static int cache_load(const struct sts_conf *c, const char *domain, struct sts_policy *p)
{
	char path[600], perr[160], id[33];
	long long fetched;
	size_t len;
	int used = 0;
	char *buf;

	if (c->cache_dir == NULL)
		return -1;
	cache_path(c, domain, path, sizeof(path));
	if ((buf = fs_read_file(path, STS_MAX_BYTES + 128, &len, FS_REGULAR)) == NULL)
		return -1;
	if (sscanf(buf, "%32s\n%lld\n%n", id, &fetched, &used) != 2 || used == 0 ||
	    sts_parse(buf + used, len - (size_t)used, p, perr, sizeof(perr)) != 0) {
		free(buf);
		return -1;
	}
	snprintf(p->id, sizeof(p->id), "%s", id);
	p->fetched = fetched;
	p->from = "cache";
	free(buf);
	return 0;
}

static void cache_store(const struct sts_conf *c, const char *domain, const struct sts_policy *p, const char *doc,
                        size_t len)
{
	char path[600], head[80];
	int hl = snprintf(head, sizeof(head), "%s\n%lld\n", p->id, p->fetched);
	char *buf = malloc((size_t)hl + len);

	if (c->cache_dir == NULL || buf == NULL || strchr(domain, '/') != NULL || domain[0] == '.') {
		free(buf);
		return;
	}
	fs_mkdir_p(c->cache_dir, 0700);
	memcpy(buf, head, (size_t)hl);
	memcpy(buf + hl, doc, len);
	cache_path(c, domain, path, sizeof(path));
	/* A cache that cannot be written costs a fetch next time, nothing else. */
	(void)fs_write_file_durable(path, buf, (size_t)hl + len, 0600);
	free(buf);
}

/* ---- the policy ---------------------------------------------------------------------------- */

static int fetch(struct dns *d, const struct sts_conf *c, const char *domain, struct sts_policy *p, char **doc,
                 size_t *doclen, char *err, size_t errlen)
{
	char host[300], url[400], addrs[8][DNS_ADDR_LEN];
	size_t naddrs = 0;
	struct https_resp resp;

	snprintf(host, sizeof(host), "mta-sts.%s", domain);
	if (dns_addrs(d, host, addrs, 8, &naddrs, err, errlen) != DNS_OK || naddrs == 0) {
		if (naddrs == 0 && err[0] == '\0')
			snprintf(err, errlen, "%s has no address", host);
		return -1;
	}
	if (c->https_port == 443)
		snprintf(url, sizeof(url), "https://%s/.well-known/mta-sts.txt", host);
	else
		snprintf(url, sizeof(url), "https://%s:%u/.well-known/mta-sts.txt", host, c->https_port);
	struct https_req req = { url, host, c->https_port, (const char (*)[46])addrs, naddrs, c->ca_file,
	                         c->timeout_ms, STS_MAX_BYTES, 0, "mailport (MTA-STS)", NULL, 0, NULL, 0, NULL };
	char herr[400];
	if (https_get(&req, &resp, herr, sizeof(herr)) != 0) {
		snprintf(err, errlen, "%.250s: %.300s", url, herr);
		return -1;
	}
	if (resp.status != 200 || strncasecmp(resp.content_type, "text/plain", 10) != 0) {
		if (resp.status != 200)
			snprintf(err, errlen, "%s: HTTP status %ld", url, resp.status);
		else
			snprintf(err, errlen, "%s: served as %s, not text/plain", url,
			         resp.content_type[0] ? resp.content_type : "no content type");
		free(resp.body);
		return -1;
	}
	if (sts_parse(resp.body, resp.len, p, err, errlen) != 0) {
		free(resp.body);
		return -1;
	}
	*doc = resp.body;
	*doclen = resp.len;
	return 0;
}

int sts_get(struct dns *d, const struct sts_conf *c, const char *domain, struct sts_policy *out, char *err,
            size_t errlen)
{
	struct sts_policy cached;
	char id[33] = "", ferr[600] = "";
	long long now = (long long)time(NULL);
	int have_cache = cache_load(c, domain, &cached) == 0 && now < cached.fetched + cached.max_age;
	int a = announced(d, domain, id, sizeof(id), err, errlen);
	char *doc = NULL;
	size_t doclen = 0;

	memset(out, 0, sizeof(*out));
	/* A fresh cache serves while the TXT record names its id, or is gone or unanswerable. */
	if (have_cache && (a != 1 || strcmp(cached.id, id) == 0)) {
		*out = cached;
		return 0;
	}
	if (a != 1)
		return 0;               /* no policy announced, none cached */
	if (fetch(d, c, domain, out, &doc, &doclen, ferr, sizeof(ferr)) == 0) {
		snprintf(out->id, sizeof(out->id), "%s", id);
		out->fetched = now;
		out->from = "fetched";
		cache_store(c, domain, out, doc, doclen);
		free(doc);
		return 0;
	}
	memset(out, 0, sizeof(*out));
	metrics_add(MET_POLICY_FETCH_FAILURES, 1);
	if (have_cache) {
		*out = cached;          /* a new id, but the new policy cannot be had: the old one holds */
		return 0;
	}
	snprintf(err, errlen, "MTA-STS policy of %s announced (id %s) but not fetched: %s", domain, id, ferr);
	return -1;
}

int sts_refresh(struct dns *d, const struct sts_conf *c)
{
	DIR *dir = c->cache_dir ? opendir(c->cache_dir) : NULL;
	struct dirent *de;
	int renewed = 0;

	if (dir == NULL)
		return 0;
	while ((de = readdir(dir)) != NULL) {
		struct sts_policy cached, fresh;
		char id[33] = "", err[600] = "";
		long long now = (long long)time(NULL);
		char *doc = NULL;
		size_t doclen = 0;
		if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp.") || cache_load(c, de->d_name, &cached) != 0)
			continue;
		long long due = cached.max_age / 2 < 86400 ? cached.max_age / 2 : 86400;
		if (now >= cached.fetched + cached.max_age || now - cached.fetched < due)
			continue;               /* expired (the next delivery fetches), or not due */
		if (announced(d, de->d_name, id, sizeof(id), err, sizeof(err)) != 1)
			continue;               /* gone, or DNS failed: the cache holds until it expires */
		if (fetch(d, c, de->d_name, &fresh, &doc, &doclen, err, sizeof(err)) != 0) {
			log_info(NULL, "mta-sts refresh domain=%s: %s; the cached policy holds until it expires", de->d_name,
			         err);
			continue;
		}
		snprintf(fresh.id, sizeof(fresh.id), "%s", id);
		fresh.fetched = now;
		cache_store(c, de->d_name, &fresh, doc, doclen);
		free(doc);
		log_info(NULL, "mta-sts refreshed domain=%s id=%s mode=%s max_age=%lld", de->d_name, id,
		         sts_mode_name(fresh.mode), fresh.max_age);
		renewed++;
	}
	closedir(dir);
	return renewed;
}
