/*
 * config_set.c - turns one value of mailport.conf into its field of struct config: a setter per
 * parameter type, each checking its value and reporting what is wrong as file:line.
 * Not the table (config_params.c) nor the file, its sections and the cross-checks (config.c).
 */
#include "config_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "targetspec.h"
#include "../smtp/parse.h"
#include "../util/fsutil.h"
#include "../util/netmatch.h"
#include "../util/endpoint.h"

/* Every setter has its struct load_ctx in lc: an error is at the line being read. */
#define ERR(...) errlist_add(lc->errs, lc->file, lc->line, __VA_ARGS__)

static int parse_uint(const char *v, unsigned long long *out)
{
	char *end;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno || *end != '\0')
		return -1;
	return 0;
}

static int parse_suffixed(const char *v, const char *suffixes, const unsigned long long *mult,
                          unsigned long long *out)
{
	char *end;
	unsigned long long n;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		return -1;
	if (*end != '\0') {
		const char *s = strchr(suffixes, *end);
		if (s == NULL || end[1] != '\0')
			return -1;
		unsigned long long m = mult[s - suffixes];
		if (n > ULLONG_MAX / m)
			return -1;
		n *= m;
	}
	*out = n;
	return 0;
}

int config_parse_listen(const char *text, struct config_listen *l, const char **why)
{
	char host[128], port[16];
	const char *colon;
	struct addrinfo hints, *res = NULL;
	int r;

	if (strlen(text) >= sizeof(l->text)) {
		*why = "too long";
		return -1;
	}
	if (text[0] == '[') {
		const char *rb = strchr(text, ']');
		if (rb == NULL || rb[1] != ':') {
			*why = "expected [IPv6]:PORT";
			return -1;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(rb - text - 1), text + 1);
		colon = rb + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			*why = "expected ADDR:PORT";
			return -1;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
	}
	if (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port) ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) < 1 ||
	    atoi(colon + 1) > 65535) {
		*why = "port must be 1-65535";
		return -1;
	}
	snprintf(port, sizeof(port), "%s", colon + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	r = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port, &hints, &res);
	if (r != 0 || res == NULL) {
		*why = "address must be a numeric IPv4 or [IPv6] address, or *";
		return -1;
	}
	memcpy(&l->ss, res->ai_addr, res->ai_addrlen);
	l->sslen = res->ai_addrlen;
	snprintf(l->text, sizeof(l->text), "%s", text);
	freeaddrinfo(res);
	return 0;
}

/* The next space-, comma- or tab-separated word of *s (advancing *s), or NULL at the end. */
static const char *next_word(const char **s, size_t *len)
{
	const char *w = *s + strspn(*s, " ,\t");

	*len = strcspn(w, " ,\t");
	*s = w + *len;
	return *len ? w : NULL;
}

static char *resolve_path(struct load_ctx *lc, const char *v)
{
	char buf[PATH_MAX];

	if (v[0] == '/' || lc->dir[0] == '\0')
		return strdup(v);
	if ((size_t)snprintf(buf, sizeof(buf), "%s/%s", lc->dir, v) >= sizeof(buf))
		return NULL;
	return strdup(buf);
}

static int add_domain(struct config *c, const char *d, size_t n)
{
	char **nd = realloc(c->local_domains, (c->nlocal_domains + 1) * sizeof(*nd));
	char *copy;

	if (nd == NULL)
		return -1;
	c->local_domains = nd;
	if ((copy = malloc(n + 1)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		copy[i] = (char)tolower((unsigned char)d[i]);
	copy[n] = '\0';
	c->local_domains[c->nlocal_domains++] = copy;
	return 0;
}

/* COUNT/PERIOD ("500/h", "100/10m"); a bare COUNT is per hour, a PERIOD without a number is one
 * of its unit. Periods up to a week. */
static int parse_rate(const char *v, unsigned long long *count, unsigned long long *window)
{
	static const unsigned long long mult[] = { 1, 60, 3600, 86400 };
	const char *slash = strchr(v, '/');
	char num[32], per[32];

	*window = 3600;
	snprintf(num, sizeof(num), "%.*s", (int)(slash ? (size_t)(slash - v) : strlen(v)), v);
	if (parse_uint(num, count) < 0)
		return -1;
	if (slash == NULL)
		return 0;
	snprintf(per, sizeof(per), "%s%s", slash[1] >= '0' && slash[1] <= '9' ? "" : "1", slash + 1);
	if (parse_suffixed(per, "smhd", mult, window) < 0 || *window == 0 || *window > 7 * 86400)
		return -1;
	return 0;
}

/* The field a parameter's offset names in struct config. */
static void *field(struct load_ctx *lc, const struct param *p)
{
	return (char *)lc->c + p->off;
}

/* P_DKIM: DOMAIN SELECTOR KEYFILE [active|standby], one more key each time. */
static void set_dkim(struct load_ctx *lc, const struct param *p, const char *v)
{
	struct config *c = lc->c;
	char dom[256], sel[64], file[PATH_MAX], mode[16] = "active";
	struct config_dkim *k = &c->dkim[c->ndkim];
	int nw = sscanf(v, "%255s %63s %4095s %15s", dom, sel, file, mode);

	if (c->ndkim == CONFIG_MAX_DKIM) {
		ERR("[%s] %s: more than %d keys", p->section, p->key, CONFIG_MAX_DKIM);
		return;
	}
	if (nw < 3 || (strcmp(mode, "active") != 0 && strcmp(mode, "standby") != 0)) {
		ERR("[%s] %s: expected DOMAIN SELECTOR KEYFILE [active|standby]", p->section, p->key);
		return;
	}
	if (!smtp_domain_valid(dom, strlen(dom), 0) || strspn(sel, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                                                      "0123456789-.") != strlen(sel)) {
		ERR("[%s] %s: \"%s\" / \"%s\" is not a domain and a selector", p->section, p->key, dom, sel);
		return;
	}
	if ((k->path = resolve_path(lc, file)) == NULL || (k->domain = strdup(dom)) == NULL ||
	    (k->selector = strdup(sel)) == NULL) {
		free(k->path);
		free(k->domain);
		memset(k, 0, sizeof(*k));
		ERR("[%s] %s: out of memory or path too long", p->section, p->key);
		return;
	}
	k->active = strcmp(mode, "active") == 0;
	k->line = lc->line;
	c->ndkim++;
}

/* P_CERT and P_KEY: the next certificate chain or key of [tls], paired by position. */
static void set_cert_key(struct load_ctx *lc, const struct param *p, const char *v)
{
	struct config *c = lc->c;
	size_t *count = p->type == P_CERT ? &c->ncerts : &c->nkeys;
	char *path;

	if (*count == CONFIG_MAX_CERTS) {
		ERR("[%s] %s: more than %d", p->section, p->key, CONFIG_MAX_CERTS);
		return;
	}
	if (*v == '\0' || (path = resolve_path(lc, v)) == NULL) {
		ERR("[%s] %s: empty or too long", p->section, p->key);
		return;
	}
	/* A private key anyone on the machine can read is no longer private (OpenSSH refuses
	 * such keys too). Group access stays possible: Debian's ssl-cert group. */
	struct stat kst;
	if (p->type == P_KEY && stat(path, &kst) == 0 && (kst.st_mode & (S_IROTH | S_IWOTH)) != 0)
		ERR("[%s] %s: %s is readable by every user (mode %04o): chmod o-rwx it (0600 owned by "
		    "the mail user, or 0640 with its group)", p->section, p->key, path,
		    (unsigned)(kst.st_mode & 07777));
	if (p->type == P_CERT) {
		c->certs[*count].cert = path;
		c->certs[*count].line = lc->line;
	} else {
		c->certs[*count].key = path;
		c->certs[*count].key_line = lc->line;
	}
	(*count)++;
}

static void set_url(struct load_ctx *lc, const struct param *p, const char *v)
{
	char **dst = field(lc, p);

	if (strncmp(v, "smtps://", 8) != 0 && strncmp(v, "smtp+starttls://", 16) != 0 &&
	    strncmp(v, "smtp://", 7) != 0) {
		ERR("[%s] %s: \"%s\" must start with smtps:// (implicit TLS), smtp+starttls:// "
		    "(STARTTLS required) or smtp:// (plaintext, for a local relay)", p->section, p->key, v);
		return;
	}
	free(*dst);
	*dst = strdup(v);
}

/* P_SECRET_FILE: the first line of the file named, kept; the old secret is wiped. */
static void set_secret_file(struct load_ctx *lc, const struct param *p, const char *v)
{
	char **dst = field(lc, p);
	char *path = resolve_path(lc, v), *text;
	size_t len;

	if (path == NULL || (text = fs_read_file(path, 4096, &len, FS_REGULAR)) == NULL) {
		ERR("[%s] %s: cannot read %s: %s", p->section, p->key, path ? path : v,
		    errno == EINVAL ? "not a regular file" : strerror(errno));
		free(path);
		return;
	}
	struct stat sst;
	if (stat(path, &sst) == 0 && (sst.st_mode & (S_IROTH | S_IWOTH)) != 0)
		ERR("[%s] %s: %s is readable by every user (mode %04o): chmod o-rwx it", p->section, p->key,
		    path, (unsigned)(sst.st_mode & 07777));
	free(path);
	text[strcspn(text, "\r\n")] = '\0';
	if (*dst) {
		explicit_bzero(*dst, strlen(*dst));
		free(*dst);
	}
	*dst = text;
}

static void set_where(struct load_ctx *lc, const struct param *p, const char *v)
{
	char **dst = field(lc, p), where[300];
	const char *why;

	if (endpoint_parse(v, where, sizeof(where), &why) < 0) {
		ERR("[%s] %s: \"%s\": %s", p->section, p->key, v, why);
		return;
	}
	free(*dst);
	*dst = strdup(v);
}

static void set_rate(struct load_ctx *lc, const struct param *p, const char *v)
{
	struct config_rate *dst = field(lc, p);
	unsigned long long n, window;

	if (parse_rate(v, &n, &window) < 0) {
		ERR("[%s] %s: \"%s\" is not a rate (COUNT/PERIOD: 500/h, 2000/d, 100/10m)", p->section, p->key, v);
		return;
	}
	if (n > p->max) {
		ERR("[%s] %s: %s is out of range (0 to %llu per period)", p->section, p->key, v, p->max);
		return;
	}
	dst->count = (unsigned)n;
	dst->window = (unsigned)window;
}

/* P_DURATIONS: the retry schedule, up to CONFIG_MAX_RETRY durations. */
static void set_durations(struct load_ctx *lc, const struct param *p, const char *v)
{
	static const unsigned long long mult[] = { 1, 60, 3600, 86400 };
	unsigned *dst = field(lc, p);
	const char *s = v, *w;
	size_t len, count = 0;
	unsigned long long n;

	while ((w = next_word(&s, &len)) != NULL) {
		char one[32];
		snprintf(one, sizeof(one), "%.*s", (int)(len < sizeof(one) ? len : sizeof(one) - 1), w);
		if (count == CONFIG_MAX_RETRY || parse_suffixed(one, "smhd", mult, &n) < 0 || n < p->min || n > p->max) {
			ERR("[%s] %s: \"%s\" is not a list of up to %d durations (each 1s to 7d)", p->section, p->key, v,
			    CONFIG_MAX_RETRY);
			return;
		}
		dst[count++] = (unsigned)n;
	}
	if (count == 0) {
		ERR("[%s] %s: empty", p->section, p->key);
		return;
	}
	lc->c->nretry = count;
}

static void set_tlsver(struct load_ctx *lc, const struct param *p, const char *v)
{
	char **dst = field(lc, p);

	if (strcmp(v, "TLSv1.2") != 0 && strcmp(v, "TLSv1.3") != 0) {
		ERR("[%s] %s: \"%s\" is not TLSv1.2 or TLSv1.3 (older versions are not offered)", p->section, p->key, v);
		return;
	}
	free(*dst);
	*dst = strdup(v);
}

static void set_user(struct load_ctx *lc, const struct param *p, const char *v)
{
	struct passwd *pw = getpwnam(v);

	if (pw == NULL) {
		ERR("[%s] %s: no such user \"%s\"", p->section, p->key, v);
		return;
	}
	if (pw->pw_uid == 0) {
		ERR("[%s] %s: \"%s\" is root; name an unprivileged user (e.g. mailport)", p->section, p->key, v);
		return;
	}
	char **dst = field(lc, p);
	free(*dst);
	if ((*dst = strdup(v)) == NULL)
		ERR("out of memory");
}

static void set_nets(struct load_ctx *lc, const struct param *p, const char *v)
{
	struct netmatch **dst = field(lc, p);
	char bad[200];
	struct netmatch *m = netmatch_parse(v, bad, sizeof(bad));

	if (m == NULL) {
		ERR("[%s] %s: %s", p->section, p->key, bad);
		return;
	}
	netmatch_free(*dst);
	*dst = m;
}

/* P_PATTERN: only %d, %u and %% may follow a %. */
static int pattern_valid(struct load_ctx *lc, const struct param *p, const char *v)
{
	for (const char *q = v; *q; q++)
		if (*q == '%' && q[1] != 'd' && q[1] != 'u' && q[1] != '%') {
			ERR("[%s] %s: unknown escape %%%c (use %%d, %%u or %%%%)", p->section, p->key, q[1] ? q[1] : ' ');
			return 0;
		} else if (*q == '%')
			q++;
	return 1;
}

/* P_STRING (a host name), P_TEXT, P_PATH (resolved against the file's directory) and
 * P_PATTERN (a Maildir pattern, or a delivery target such as lmtp: or discard:). */
static void set_string(struct load_ctx *lc, const struct param *p, const char *v)
{
	char **dst = field(lc, p);

	if (*v == '\0') {
		ERR("[%s] %s: empty value", p->section, p->key);
		return;
	}
	if (p->type == P_PATTERN && !pattern_valid(lc, p, v))
		return;
	free(*dst);
	/* "discard:" as in Postfix: local mail is queued durably, then thrown away. */
	*dst = (p->type == P_STRING || p->type == P_TEXT || (p->type == P_PATTERN && !target_has_maildir(v))) ?
	       strdup(v) : resolve_path(lc, v);
	if (p->type == P_PATTERN && strncmp(v, "lmtp:", 5) == 0) {
		char where[256];
		const char *lwhy;
		if (lmtp_parse(v + 5, where, sizeof(where), &lwhy) < 0)
			ERR("[%s] %s: \"%s\": %s", p->section, p->key, v, lwhy);
		return;
	}
	if (p->type == P_STRING && !smtp_domain_valid(v, strlen(v), 0))
		ERR("[%s] %s: \"%s\" is not a valid host name", p->section, p->key, v);
	/* The delivery agent is confined to the directory the pattern names (deliver/agent.h). */
	if (p->type == P_PATTERN && *dst != NULL && target_has_maildir(*dst) && !fs_path_clean(*dst))
		ERR("[%s] %s: \"%s\" has an empty, \".\" or \"..\" path component", p->section, p->key, v);
}

static void set_delim(struct load_ctx *lc, const struct param *p, const char *v)
{
	char **dst = field(lc, p);

	if (strlen(v) > 1 || (*v && (isalnum((unsigned char)*v) || *v == '@' || *v == '.'))) {
		ERR("[%s] %s: must be one character such as + or -, or empty", p->section, p->key);
		return;
	}
	free(*dst);
	*dst = strdup(v);
}

static void set_domains(struct load_ctx *lc, const struct param *p, const char *v)
{
	const char *s = v, *w;
	size_t len;

	while ((w = next_word(&s, &len)) != NULL) {
		if (!smtp_domain_valid(w, len, 1))
			ERR("[%s] %s: \"%.*s\" is not a valid domain", p->section, p->key, (int)len, w);
		else if (add_domain(lc->c, w, len) < 0)
			ERR("out of memory");
	}
}

/* P_SIZE (a size_t field), P_DURATION and P_UINT (unsigned fields), each within p's range. */
static void set_number(struct load_ctx *lc, const struct param *p, const char *v)
{
	static const unsigned long long size_mult[] = { 1024ULL, 1024ULL * 1024, 1024ULL * 1024 * 1024,
	                                                 1024ULL * 1024 * 1024 * 1024 };
	static const unsigned long long dur_mult[] = { 1, 60, 3600, 86400 };
	unsigned long long n = 0;

	if (p->type == P_SIZE && parse_suffixed(v, "KMGT", size_mult, &n) < 0) {
		ERR("[%s] %s: \"%s\" is not a size (e.g. 10240000, 500K, 25M)", p->section, p->key, v);
		return;
	}
	if (p->type == P_DURATION && parse_suffixed(v, "smhd", dur_mult, &n) < 0) {
		ERR("[%s] %s: \"%s\" is not a duration (e.g. 30, 30s, 5m, 1h)", p->section, p->key, v);
		return;
	}
	if (p->type == P_UINT && parse_uint(v, &n) < 0) {
		ERR("[%s] %s: \"%s\" is not a whole number", p->section, p->key, v);
		return;
	}
	if (n < p->min || n > p->max) {
		ERR("[%s] %s: %s is out of range (%llu to %llu)", p->section, p->key, v, p->min, p->max);
		return;
	}
	if (p->type == P_SIZE)
		*(size_t *)field(lc, p) = (size_t)n;
	else
		*(unsigned *)field(lc, p) = (unsigned)n;
}

/* P_LISTEN: more addresses of the listener whose role is p->off. */
static void set_listen(struct load_ctx *lc, const struct param *p, const char *v)
{
	struct config *c = lc->c;
	const char *s = v, *w, *why;
	size_t len;

	while ((w = next_word(&s, &len)) != NULL) {
		char one[160];
		snprintf(one, sizeof(one), "%.*s", (int)(len < sizeof(one) ? len : sizeof(one) - 1), w);
		if (c->nlisten[p->off] == CONFIG_MAX_LISTEN) {
			ERR("[%s] %s: more than %d addresses", p->section, p->key, CONFIG_MAX_LISTEN);
			return;
		}
		if (config_parse_listen(one, &c->listen[p->off][c->nlisten[p->off]], &why) < 0)
			ERR("[%s] %s: \"%s\": %s", p->section, p->key, one, why);
		else
			c->nlisten[p->off]++;
	}
}

void config_set_param(struct load_ctx *lc, const struct param *p, const char *v)
{
	switch (p->type) {
	case P_DKIM:
		set_dkim(lc, p, v);
		return;
	case P_CERT:
	case P_KEY:
		set_cert_key(lc, p, v);
		return;
	case P_URL:
		set_url(lc, p, v);
		return;
	case P_SECRET_FILE:
		set_secret_file(lc, p, v);
		return;
	case P_WHERE:
		set_where(lc, p, v);
		return;
	case P_RATE:
		set_rate(lc, p, v);
		return;
	case P_DURATIONS:
		set_durations(lc, p, v);
		return;
	case P_TLSVER:
		set_tlsver(lc, p, v);
		return;
	case P_USER:
		set_user(lc, p, v);
		return;
	case P_NETS:
		set_nets(lc, p, v);
		return;
	case P_STRING:
	case P_TEXT:
	case P_PATH:
	case P_PATTERN:
		set_string(lc, p, v);
		return;
	case P_DELIM:
		set_delim(lc, p, v);
		return;
	case P_DOMAINS:
		set_domains(lc, p, v);
		return;
	case P_SIZE:
	case P_DURATION:
	case P_UINT:
		set_number(lc, p, v);
		return;
	case P_LISTEN:
		set_listen(lc, p, v);
		return;
	}
}
