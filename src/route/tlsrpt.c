/*
 * tlsrpt.c - TLS-RPT (tlsrpt.h): the day files, the aggregate JSON, the gzip, and the two ways
 * a report leaves (a queued message, an HTTPS POST).
 */
#include "tlsrpt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <unbound.h>
#include <zlib.h>

#include "../net/https.h"
#include "../net/dns.h"
#include "../queue/spool.h"
#include "../util/base64.h"
#include "../util/fsutil.h"
#include "../util/log.h"

#define DNS_T_TXT 16
#define DAY_MAX (8L * 1024 * 1024)      /* a day file past this is not read whole */
#define FIELDS 9                /* domain, type, strings, patterns, mx, ip, result, reason, sending ip */
#define FIELDS_OLD 8            /* a line written before the sending ip was kept */

/* ---- the day files ----------------------------------------------------------------------- */

int tlsrpt_day(const char *word, char out[11])
{
	time_t t = time(NULL);
	struct tm tm;

	if (strcmp(word, "today") == 0 || strcmp(word, "yesterday") == 0) {
		if (word[0] == 'y')
			t -= 86400;
		gmtime_r(&t, &tm);
		strftime(out, 11, "%Y-%m-%d", &tm);
		return 0;
	}
	if (strlen(word) != 10 || strspn(word, "0123456789-") != 10 || word[4] != '-' || word[7] != '-')
		return -1;
	memcpy(out, word, 11);
	return 0;
}

/* s into out with the separators this format uses (tab, newline, '|') made spaces. */
static size_t clean(char *out, size_t outlen, const char *s)
{
	size_t n = 0;

	for (; s && *s && n + 1 < outlen; s++)
		out[n++] = (*s == '\t' || *s == '\n' || *s == '\r' || *s == '|') ? ' ' :
		           ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f) ? '?' : *s;
	out[n] = '\0';
	return n;
}

static size_t join(char *out, size_t outlen, const char *const *v, size_t n)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && o + 2 < outlen; i++) {
		if (i)
			out[o++] = '|';
		o += clean(out + o, outlen - o, v[i]);
	}
	return o;
}

void tlsrpt_note(const char *dir, const struct tlsrpt_session *s)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static int warned;
	char path[4096], day[11], line[8192], f[FIELDS][1024];
	int fd, n;

	if (dir == NULL || tlsrpt_day("today", day) != 0)
		return;
	clean(f[0], sizeof(f[0]), s->domain);
	clean(f[1], sizeof(f[1]), s->type);
	join(f[2], sizeof(f[2]), s->strings, s->nstrings);
	join(f[3], sizeof(f[3]), s->mx_patterns, s->npatterns);
	clean(f[4], sizeof(f[4]), s->mx_host);
	clean(f[5], sizeof(f[5]), s->ip);
	clean(f[6], sizeof(f[6]), s->result ? s->result : "-");
	clean(f[7], sizeof(f[7]), s->reason);
	clean(f[8], sizeof(f[8]), s->sending_ip);
	n = snprintf(line, sizeof(line), "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f[0], f[1], f[2], f[3], f[4], f[5],
	             f[6], f[7], f[8]);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, day);
	pthread_mutex_lock(&mu);
	(void)mkdir(dir, 0700);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, line, (size_t)n) != n) {
		if (!warned++)
			log_warn(NULL, "tlsrpt: cannot record a session in %s", path);
	}
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&mu);
}

const char *tlsrpt_classify(const char *err)
{
	static const struct { const char *needle, *type; } map[] = {
		{ "does not offer STARTTLS", "starttls-not-supported" },
		{ "does not offer it", "starttls-not-supported" },
		{ "STARTTLS is required but", "starttls-not-supported" },
		{ "TLSA record", "tlsa-invalid" },
		{ "bogus", "dnssec-invalid" },
		{ "certificate has expired", "certificate-expired" },
		{ "mismatch", "certificate-host-mismatch" },
		{ "not one of the MX hosts", "validation-failure" },
		{ "certificate of", "certificate-not-trusted" },
		{ "TLS handshake", "validation-failure" },
	};
	for (size_t i = 0; err && i < sizeof(map) / sizeof(map[0]); i++)
		if (strstr(err, map[i].needle) != NULL)
			return map[i].type;
	return NULL;
}

/* ---- the report (RFC 8460 4) ------------------------------------------------------------- */

static json_t *split(const char *field)
{
	json_t *a = json_array();
	const char *p = field;

	while (a && *p) {
		size_t n = strcspn(p, "|");
		json_array_append_new(a, json_stringn(p, n));
		p += n + (p[n] == '|');
	}
	return a;
}

/* The policies entry for (type, strings, patterns), made on first sight. */
static json_t *policy_of(json_t *policies, const char *domain, char *const f[FIELDS])
{
	char key[4096];
	size_t i;
	json_t *p;

	snprintf(key, sizeof(key), "%s\t%s\t%s", f[1], f[2], f[3]);
	json_array_foreach(policies, i, p) {
		const char *k = json_string_value(json_object_get(json_object_get(p, "policy"), "x-key"));
		if (k && strcmp(k, key) == 0)
			return p;
	}
	json_t *pol = json_pack("{s:s, s:o, s:s, s:s}", "policy-type", f[1], "policy-string", split(f[2]), "policy-domain",
	                        domain, "x-key", key);
	if (pol && strcmp(f[1], "sts") == 0)
		json_object_set_new(pol, "mx-host", split(f[3]));
	p = json_pack("{s:o, s:{s:I, s:I}, s:[]}", "policy", pol, "summary", "total-successful-session-count",
	              (json_int_t)0, "total-failure-session-count", (json_int_t)0, "failure-details");
	json_array_append_new(policies, p);
	return p;
}

static void bump(json_t *obj, const char *key)
{
	json_object_set_new(obj, key, json_integer(json_integer_value(json_object_get(obj, key)) + 1));
}

/* A string member of a failure-details entry, "" when absent (an optional one left out). */
static const char *member(const json_t *d, const char *key)
{
	const char *v = json_string_value(json_object_get(d, key));
	return v ? v : "";
}

static void add_failure(json_t *entry, char *const f[FIELDS])
{
	json_t *details = json_object_get(entry, "failure-details"), *d;
	size_t i;

	json_array_foreach(details, i, d) {
		if (strcmp(member(d, "result-type"), f[6]) == 0 && strcmp(member(d, "receiving-mx-hostname"), f[4]) == 0 &&
		    strcmp(member(d, "receiving-ip"), f[5]) == 0 && strcmp(member(d, "sending-mta-ip"), f[8]) == 0 &&
		    strcmp(member(d, "failure-reason-code"), f[7]) == 0) {
			bump(d, "failed-session-count");
			return;
		}
	}
	d = json_pack("{s:s, s:s, s:s, s:I, s:s}", "result-type", f[6], "receiving-mx-hostname", f[4], "receiving-ip",
	              f[5], "failed-session-count", (json_int_t)1, "failure-reason-code", f[7]);
	/* RFC 8460 4.3: sending-mta-ip is optional; a line from before it was kept has none. */
	if (d != NULL && f[8][0])
		json_object_set_new(d, "sending-mta-ip", json_string(f[8]));
	json_array_append_new(details, d);
}

char *tlsrpt_json(const struct tlsrpt_report *r, const char *lines, size_t len)
{
	char start[32], end[32], id[512];
	json_t *policies = json_array();
	const char *p = lines, *stop = lines + len;

	if (policies == NULL)
		return NULL;
	while (p < stop) {
		const char *nl = memchr(p, '\n', (size_t)(stop - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(stop - p);
		char buf[8192], *f[FIELDS], none[1] = "";
		size_t nf = 0;
		if (ll < sizeof(buf)) {
			memcpy(buf, p, ll);
			buf[ll] = '\0';
			/* JSON strings are UTF-8, and a reason may quote a server's bytes: ASCII only. */
			for (size_t k = 0; k < ll; k++)
				if ((unsigned char)buf[k] >= 0x7f || ((unsigned char)buf[k] < 0x20 && buf[k] != '\t'))
					buf[k] = '?';
			for (char *q = buf, *tab; nf < FIELDS; q = tab + 1) {
				f[nf++] = q;
				if ((tab = strchr(q, '\t')) == NULL)
					break;
				*tab = '\0';
			}
		}
		p += ll + 1;
		if (nf == FIELDS_OLD)
			f[nf++] = none;
		if (nf != FIELDS || strcasecmp(f[0], r->domain) != 0 ||
		    (strcmp(f[1], "tlsa") != 0 && strcmp(f[1], "sts") != 0))
			continue;       /* another domain's, or a torn line */
		json_t *entry = policy_of(policies, r->domain, f);
		if (entry == NULL)
			continue;
		json_t *sum = json_object_get(entry, "summary");
		if (strcmp(f[6], "-") == 0)
			bump(sum, "total-successful-session-count");
		else {
			bump(sum, "total-failure-session-count");
			add_failure(entry, f);
		}
	}
	size_t i;
	json_t *e;
	json_array_foreach(policies, i, e) {
		json_t *pol = json_object_get(e, "policy");
		json_object_del(pol, "x-key");
		if (json_array_size(json_object_get(e, "failure-details")) == 0)
			json_object_del(e, "failure-details");
	}
	if (json_array_size(policies) == 0) {
		json_decref(policies);
		return NULL;
	}
	snprintf(start, sizeof(start), "%sT00:00:00Z", r->day);
	snprintf(end, sizeof(end), "%sT23:59:59Z", r->day);
	snprintf(id, sizeof(id), "%s_%s@%s", r->day, r->domain, r->org);
	json_t *doc = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:o}", "organization-name", r->org, "date-range",
	                        "start-datetime", start, "end-datetime", end, "contact-info", r->contact, "report-id", id,
	                        "policies", policies);
	char *out = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(doc);
	return out;
}

/* ---- sending ----------------------------------------------------------------------------- */

static unsigned char *gzip(const char *in, size_t len, size_t *outlen)
{
	z_stream z;
	size_t cap = compressBound((uLong)len) + 64;
	unsigned char *out = malloc(cap);

	memset(&z, 0, sizeof(z));
	if (out == NULL || deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(out);
		return NULL;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	int r = deflate(&z, Z_FINISH);
	*outlen = z.total_out;
	deflateEnd(&z);
	if (r != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	return out;
}

/* RFC 8460 5.3: a multipart/report of type tlsrpt with the gzip'd JSON as its attachment. */
static int queue_mail(const struct tlsrpt_send_conf *c, const char *to, const char *domain, const char *day,
                      const unsigned char *gz, size_t gzlen, char *qid, size_t qidlen)
{
	struct spool_msg *m = spool_msg_begin(c->spool, (long long)time(NULL));
	char head[4096], date[64], *b64 = malloc(gzlen / 3 * 4 + 8);
	time_t now = time(NULL);
	struct tm tm;
	int ok = 0;

	if (m == NULL || b64 == NULL)
		goto out;
	snprintf(qid, qidlen, "%s", spool_msg_qid(m));
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	size_t bl = base64_encode(gz, gzlen, b64);
	int hl = snprintf(head, sizeof(head),
	                  "From: <%s>\r\nTo: <%s>\r\nDate: %s\r\nMessage-ID: <%s.tlsrpt@%s>\r\n"
	                  "Subject: Report Domain: %s Submitter: %s Report-ID: <%s_%s@%s>\r\n"
	                  "TLS-Report-Domain: %s\r\nTLS-Report-Submitter: %s\r\nAuto-Submitted: auto-generated\r\n"
	                  "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
	                  "\tboundary=\"%s/tlsrpt\"\r\n\r\n"
	                  "--%s/tlsrpt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
	                  "This is an aggregate TLS report (RFC 8460) from %s about mail sent to %s on %s (UTC).\r\n\r\n"
	                  "--%s/tlsrpt\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n"
	                  "Content-Disposition: attachment;\r\n\tfilename=\"%s!%s!%sT00:00:00Z!%sT23:59:59Z.json.gz\"\r\n\r\n",
	                  c->contact, to, date, spool_msg_qid(m), c->org, domain, c->org, day, domain, c->org, domain,
	                  c->org, spool_msg_qid(m), spool_msg_qid(m), c->org, domain, day, spool_msg_qid(m), c->org,
	                  domain, day, day);
	if (hl <= 0 || (size_t)hl >= sizeof(head) || spool_msg_sender(m, c->contact) < 0 ||
	    spool_msg_rcpt(m, to, to, 0) < 0 || spool_msg_write(m, head, (size_t)hl) < 0)
		goto out;
	for (size_t o = 0; o < bl; o += 76)
		if (spool_msg_write(m, b64 + o, bl - o < 76 ? bl - o : 76) < 0 || spool_msg_write(m, "\r\n", 2) < 0)
			goto out;
	snprintf(head, sizeof(head), "\r\n--%s/tlsrpt--\r\n", spool_msg_qid(m));
	if (spool_msg_write(m, head, strlen(head)) < 0)
		goto out;
	ok = spool_msg_commit(m) == 0;
	m = NULL;
out:
	spool_msg_abort(m);
	free(b64);
	return ok ? 0 : -1;
}

/* The host and port of an https:// URL: 0, or -1 when it has none. An IPv6 literal comes
 * without its brackets. */
static int url_host(const char *url, char *host, size_t hostlen, unsigned *port)
{
	const char *h = url + 8, *end;
	size_t n;

	*port = 443;
	if (*h == '[') {
		if ((end = strchr(++h, ']')) == NULL)
			return -1;
		n = (size_t)(end - h);
		end++;
	} else {
		n = strcspn(h, ":/?#");
		end = h + n;
	}
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	if (*end == ':') {
		char *stop;
		unsigned long p = strtoul(end + 1, &stop, 10);
		if (p == 0 || p > 65535 || (*stop != '\0' && *stop != '/' && *stop != '?' && *stop != '#'))
			return -1;
		*port = (unsigned)p;
	}
	return 0;
}

/* The POST of the report to url. The host's addresses come from d, the configured resolver,
 * and are pinned for libcurl (CURLOPT_RESOLVE): libcurl's own lookup would ask the system's
 * resolver, which may not know the names [relay] resolver answers (split DNS, the tests), and
 * all DNS goes through one place. Debian's libcurl is not built with c-ares, so
 * CURLOPT_DNS_SERVERS is no way to do it. */
static int post(const struct tlsrpt_send_conf *c, struct dns *d, const char *url, const unsigned char *gz,
                size_t gzlen, char *err, size_t errlen)
{
	struct https_req req = { url, NULL, 0, NULL, 0, c->ca_file, c->timeout_ms, 65536, 0, "mailport (TLS-RPT)",
	                         NULL, 0, gz, gzlen, "application/tlsrpt+gzip" };
	struct https_resp resp;
	char host[256], addrs[8][DNS_ADDR_LEN], derr[300] = "";
	unsigned char bin[16];
	size_t naddrs = 0;

	if (url_host(url, host, sizeof(host), &req.port) != 0) {
		snprintf(err, errlen, "no host name in the URL");
		return -1;
	}
	/* A literal address needs no lookup, and libcurl makes none for it. */
	if (inet_pton(AF_INET, host, bin) != 1 && inet_pton(AF_INET6, host, bin) != 1) {
		if (dns_addrs(d, host, addrs, 8, &naddrs, derr, sizeof(derr)) != DNS_OK || naddrs == 0) {
			snprintf(err, errlen, "cannot resolve %s: %s", host, derr[0] ? derr : "it has no address");
			return -1;
		}
		req.host = host;
		req.addrs = (const char (*)[46])addrs;
		req.naddrs = naddrs;
	}
	if (https_get(&req, &resp, err, errlen) != 0)
		return -1;
	free(resp.body);
	if (resp.status < 200 || resp.status > 299) {
		snprintf(err, errlen, "the server answered HTTP %ld", resp.status);
		return -1;
	}
	return 0;
}

void tlsrpt_rua(struct dns *d, const char *domain, char *rua, size_t rualen)
{
	char name[300], err[300], txt[1024];
	struct ub_result *res = NULL;

	rua[0] = '\0';
	snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
	if (dns_query(d, name, DNS_T_TXT, &res, err, sizeof(err)) == DNS_OK && res->havedata)
		for (int i = 0; res->data[i] != NULL; i++) {
			dns_txt_string(res, i, txt, sizeof(txt));
			if (strncmp(txt, "v=TLSRPTv1", 10) != 0)
				continue;
			const char *r = strstr(txt, "rua=");
			if (r != NULL)
				snprintf(rua, rualen, "%.*s", (int)strcspn(r + 4, "; \t"), r + 4);
			break;
		}
	dns_result_free(res);
}

static int send_domain(const struct tlsrpt_send_conf *c, struct dns *d, const char *day, const char *domain,
                       const char *lines, size_t len)
{
	struct tlsrpt_report r = { c->org, c->contact, day, domain };
	char rua[1024], err[600];
	int sent = 0;

	tlsrpt_rua(d, domain, rua, sizeof(rua));
	if (rua[0] == '\0')
		return 0;
	char *json = tlsrpt_json(&r, lines, len);
	size_t gzlen = 0;
	unsigned char *gz = json ? gzip(json, strlen(json), &gzlen) : NULL;
	for (char *save = NULL, *u = strtok_r(rua, ",", &save); gz && u; u = strtok_r(NULL, ",", &save)) {
		u[strcspn(u, "!")] = '\0';              /* mailto:...!10m: a size limit we stay under */
		if (strncmp(u, "mailto:", 7) == 0) {
			char qid[SPOOL_QID_MAX];
			if (c->spool && queue_mail(c, u + 7, domain, day, gz, gzlen, qid, sizeof(qid)) == 0) {
				log_info(qid, "tlsrpt report domain=%s day=%s to=<%s> queued", domain, day, u + 7);
				if (c->queued)
					c->queued(c->arg, qid);
				sent++;
			} else
				log_warn(NULL, "tlsrpt report domain=%s day=%s to=<%s>: cannot queue it", domain, day, u + 7);
		} else if (strncmp(u, "https://", 8) == 0) {
			if (post(c, d, u, gz, gzlen, err, sizeof(err)) == 0) {
				log_info(NULL, "tlsrpt report domain=%s day=%s posted to %s", domain, day, u);
				sent++;
			} else
				log_warnx(NULL, "tlsrpt report domain=%s day=%s not posted to %s: %s", domain, day, u, err);
		} else
			log_warnx(NULL, "tlsrpt domain=%s: rua %s is neither mailto: nor https:", domain, u);
	}
	free(gz);
	free(json);
	return sent;
}

int tlsrpt_send_day(const struct tlsrpt_send_conf *c, struct dns *d, const char *day, int force)
{
	char path[4096], mark[4200];
	struct stat sb;
	char *text;
	size_t len = 0;
	int sent = 0;

	snprintf(path, sizeof(path), "%s/%s", c->dir, day);
	snprintf(mark, sizeof(mark), "%s.sent", path);
	if ((!force && stat(mark, &sb) == 0) || (text = fs_read_file(path, DAY_MAX, &len, FS_REGULAR)) == NULL)
		return -1;
	/* Each domain once, in the order first seen: one pass over the day for the list (a busy
	 * day has many lines and few policy domains), then one report each. */
	char (*domains)[256] = NULL;
	size_t nd = 0, cap = 0;
	for (const char *p = text; p < text + len;) {
		const char *nl = memchr(p, '\n', (size_t)(text + len - p));
		size_t dl = strcspn(p, "\t\n"), k = 0;
		while (k < nd && !(strlen(domains[k]) == dl && strncasecmp(domains[k], p, dl) == 0))
			k++;
		if (k == nd && dl > 0 && dl < sizeof(domains[0])) {
			if (nd == cap) {
				char (*nd2)[256] = realloc(domains, (cap = cap ? cap * 2 : 16) * sizeof(*domains));
				if (nd2 == NULL)
					break;
				domains = nd2;
			}
			snprintf(domains[nd++], sizeof(domains[0]), "%.*s", (int)dl, p);
		}
		p = nl ? nl + 1 : text + len;
	}
	for (size_t k = 0; k < nd; k++)
		sent += send_domain(c, d, day, domains[k], text, len);
	free(domains);
	free(text);
	if (fs_write_file_durable(mark, "", 0, 0600) < 0)
		log_warn(NULL, "tlsrpt: cannot mark %s as sent", day);
	return sent;
}
