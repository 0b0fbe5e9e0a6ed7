/*
 * config.c - the parameter table and the inih glue that fills struct config.
 * Not the users file (auth/users.c) and not runtime reload policy (server/server.c decides what a
 * reload may change).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <netdb.h>
#include <stddef.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>

#include "targetspec.h"
#include "../smtp/parse.h"
#include "../util/fsutil.h"
#include "../util/netmatch.h"
#include "../util/endpoint.h"
#include "../smtp/session.h"

enum ptype { P_STRING, P_TEXT, P_PATH, P_PATTERN, P_DOMAINS, P_SIZE, P_DURATION, P_UINT, P_LISTEN,
             P_DELIM, P_CERT, P_KEY, P_TLSVER, P_URL, P_SECRET_FILE, P_DURATIONS, P_NETS, P_USER, P_DKIM,
             P_RATE, P_WHERE };

struct param {
	const char *section, *key;
	enum ptype type;
	size_t off;                 /* offset in struct config; for P_LISTEN the role */
	const char *def;            /* default as text; NULL = required or none */
	unsigned long long min, max;
	int required;
	const char *help;
};

#define OFF(f) offsetof(struct config, f)

/* The PROXY protocol keys, the same in each SMTP listener's section. */
#define PROXY_PARAMS(section, role)                                                                            \
	{ section, "proxy_protocol", P_TEXT, OFF(proxy_protocol[role]), "no", 0, 0, 0,                            \
	  "yes: every connection begins with a PROXY protocol header (v1 or v2, HAProxy's) naming the client, " \
	  "which then drives limits, logs and Received:; only from proxy_from" },                                \
	{ section, "proxy_from", P_NETS, OFF(proxy_from[role]), NULL, 0, 0, 0,                                    \
	  "the load balancers allowed to send PROXY headers (addresses or networks; required with "             \
	  "proxy_protocol = yes); any other peer is disconnected" }

static const struct param params[] = {
	{ "server", "hostname", P_STRING, OFF(hostname), NULL, 0, 0, 0,
	  "name in the greeting, EHLO reply and Received: headers (default: the system host name)" },
	{ "server", "spool", P_PATH, OFF(spool), NULL, 0, 0, 1,
	  "queue directory; must be on one file system (rename is the commit)" },
	{ "server", "local_domains", P_DOMAINS, OFF(local_domains), NULL, 0, 0, 1,
	  "domains delivered here, space separated; the key may be repeated" },
	{ "server", "maildir", P_PATTERN, OFF(maildir), "/var/mail/%d/%u", 0, 0, 0,
	  "Maildir of a user: %d = domain, %u = local part (lower case), %% = %; or lmtp:unix:/run/dovecot/lmtp "
	  "(or lmtp:HOST:PORT): local mail goes to Dovecot (or another LMTP server, RFC 2033); \"discard:\" queues local "
	  "mail durably and then throws it away (sinks, benchmarks)" },
	{ "server", "max_message_size", P_SIZE, OFF(max_message_size), "25M", 1024, 1ULL << 40, 0,
	  "largest message accepted, octets (K, M, G suffixes); announced as SIZE" },
	{ "server", "timeout", P_DURATION, OFF(timeout), "300s", 1, 3600, 0,
	  "idle time allowed to a client (RFC 5321 4.5.3.2 suggests 5 minutes)" },
	{ "server", "max_connections", P_UINT, OFF(max_connections), "1000", 1, 1000000, 0,
	  "concurrent sessions; more get 421 at the greeting" },
	{ "server", "max_connections_per_ip", P_UINT, OFF(max_conn_per_ip), "50", 0, 1000000, 0,
	  "sessions one client address (IPv6: its /64) may hold at once, as Postfix's anvil; 0 = no limit" },
	{ "server", "max_connection_rate_per_ip", P_UINT, OFF(conn_rate_per_ip), "0", 0, 1000000, 0,
	  "new connections per minute from one client address; 0 = no limit (Postfix's default too)" },
	{ "server", "limits_exempt", P_NETS, OFF(limits_exempt), "127.0.0.0/8 ::1", 0, 0, 0,
	  "addresses and networks the per-client limits do not apply to (empty: none)" },
	{ "server", "max_recipients", P_UINT, OFF(max_recipients), "100", SMTP_RCPTS_MIN, 100000, 0,
	  "recipients per message (RFC 5321 4.5.3.1.8 requires at least 100)" },
	/* 20, Postfix's smtpd_hard_error_limit: a sender whose message has a dozen unknown or
	 * refused recipients is still served, a client that only guesses (addresses, commands) is
	 * not; a delivered message starts the count again. */
	{ "server", "max_errors", P_UINT, OFF(max_errors), "20", 1, 1000, 0,
	  "error replies in one session without a delivered message before 421 and close" },
	{ "server", "log", P_TEXT, OFF(log_dest), "stderr", 0, 0, 0,
	  "where log lines go: stderr (the supervisor's stream), syslog (facility mail) or journal (systemd's "
	  "native protocol)" },
	{ "server", "log_format", P_TEXT, OFF(log_format), "text", 0, 0, 0,
	  "text (one line: time, level, id, event, key=value) or json (one object per line, for log shippers)" },
	{ "server", "log_socket", P_PATH, OFF(log_socket), NULL, 0, 0, 0,
	  "the syslog or journal socket; default /dev/log or /run/systemd/journal/socket" },
	{ "server", "user", P_USER, OFF(user), NULL, 0, 0, 0,
	  "started as root: the user to become once the ports are bound (required then: mailport does "
	  "not run as root); the spool is given to it" },
	{ "server", "recipient_delimiter", P_DELIM, OFF(recipient_delimiter), "+", 0, 0, 0,
	  "user+tag@domain delivers to user@domain; empty disables" },
	{ "server", "shutdown_grace", P_DURATION, OFF(shutdown_grace), "10s", 0, 600, 0,
	  "on SIGTERM, time given to sessions in flight before 421 4.3.2" },
	{ "server", "retry_interval", P_DURATION, OFF(retry_interval), "60s", 1, 86400, 0,
	  "time between attempts for a local delivery that failed temporarily" },
	{ "server", "min_free_space", P_SIZE, OFF(min_free_space), "32M", 0, 1ULL << 50, 0,
	  "free space the spool file system keeps; below it new mail gets 452 4.3.1 (0 disables)" },
	{ "auth", "backend", P_TEXT, OFF(auth_backend), "file", 0, 0, 0,
	  "who checks passwords: file (the users file's hashes) or dovecot:SOCKET (Dovecot's auth-client socket, "
	  "e.g. dovecot:/run/dovecot/auth-client, or dovecot:HOST:PORT; as Postfix's smtpd_sasl_type = dovecot); "
	  "the users file still names the mailboxes, with * for the hash" },
	{ "auth", "users", P_PATH, OFF(users), NULL, 0, 0, 0,
	  "users file: address:crypt-hash[:alias,alias...[:login=app-passwords]] per line" },
	{ "auth", "app_passwords", P_PATH, OFF(app_passwords), NULL, 0, 0, 0,
	  "the app passwords (mailport user app-password writes it; read again at the next login when it changes); "
	  "default SPOOL/app-passwords" },
	{ "auth", "scram", P_TEXT, OFF(scram), "no", 0, 0, 0,
	  "yes: offer SCRAM-SHA-256 (RFC 7677: the password never crosses the network) beside PLAIN and LOGIN; "
	  "give every mailbox scram= credentials first (mailport passwd --scram), since a client that picks SCRAM "
	  "does not fall back to PLAIN" },
	{ "auth", "client_ca", P_PATH, OFF(client_ca), NULL, 0, 0, 0,
	  "PEM CA certificate of TLS client certificates: set, the submission ports ask for one and offer EXTERNAL "
	  "(mailport user cert ca creates it, mailport user cert issue a device's certificate)" },
	{ "auth", "client_ca_key", P_PATH, OFF(client_ca_key), NULL, 0, 0, 0,
	  "the client CA's private key, used by mailport user cert issue and revoke (the server never reads it)" },
	{ "auth", "client_crl", P_PATH, OFF(client_crl), NULL, 0, 0, 0,
	  "revoked client certificates (mailport user cert revoke writes it; read again when it changes); "
	  "default SPOOL/client-certs.crl" },
	{ "auth", "max_failures", P_UINT, OFF(max_failures), "5", 1, 1000, 0,
	  "failed AUTH attempts from one client IP before every AUTH from it gets 454 and a close" },
	{ "auth", "failure_window", P_DURATION, OFF(failure_window), "10m", 1, 86400, 0,
	  "how long failures are counted, and how long a lockout lasts" },
	{ "tls", "cert", P_CERT, 0, NULL, 0, 0, 0,
	  "PEM certificate chain (leaf first); repeat cert/key pairs for more names (chosen by SNI, first is the default)" },
	{ "tls", "key", P_KEY, 0, NULL, 0, 0, 0,
	  "PEM private key of the cert given in the same position" },
	{ "tls", "min_version", P_TLSVER, OFF(tls_min_version), "TLSv1.2", 0, 0, 0,
	  "lowest TLS version accepted: TLSv1.2 or TLSv1.3" },
	{ "tls", "ciphers", P_TEXT, OFF(tls_ciphers), NULL, 0, 0, 0,
	  "TLS 1.2 cipher list (OpenSSL syntax); default: ECDHE with AES-GCM or ChaCha20-Poly1305 only" },
	{ "tls", "ciphersuites", P_TEXT, OFF(tls_ciphersuites), NULL, 0, 0, 0,
	  "TLS 1.3 cipher suites (OpenSSL syntax); default: OpenSSL's, all AEAD" },
	{ "relay", "smarthost", P_URL, OFF(smarthost), NULL, 0, 0, 0,
	  "where non-local mail goes: smtps://host:465, smtp+starttls://host:587 or smtp://host:port; unset = direct MX" },
	{ "relay", "user", P_TEXT, OFF(relay_user), NULL, 0, 0, 0,
	  "AUTH user at the smarthost (sent only inside TLS)" },
	{ "relay", "password_file", P_SECRET_FILE, OFF(relay_password), NULL, 0, 0, 0,
	  "file whose first line is the smarthost password" },
	{ "relay", "ca_file", P_PATH, OFF(relay_ca_file), NULL, 0, 0, 0,
	  "CA certificates to verify the smarthost with (default: the system store)" },
	{ "relay", "timeout", P_DURATION, OFF(relay_timeout), "60s", 1, 3600, 0,
	  "per connect, read and write when delivering out" },
	{ "relay", "concurrency", P_UINT, OFF(relay_concurrency), "8", 1, 256, 0,
	  "messages delivered out at the same time" },
	{ "relay", "destination_concurrency", P_UINT, OFF(dest_concurrency), "4", 1, 256, 0,
	  "connections at the same time to one destination (the smarthost, or one domain's MX)" },
	{ "relay", "retry_schedule", P_DURATIONS, OFF(retry), "1m 5m 15m 30m 1h", 1, 7 * 86400, 0,
	  "waits between attempts after a temporary failure; the last one repeats" },
	{ "relay", "max_queue_lifetime", P_DURATION, OFF(max_queue_lifetime), "5d", 60, 90 * 86400, 0,
	  "after this, mail still undelivered is bounced to its sender" },
	{ "relay", "resolver", P_TEXT, OFF(resolver), NULL, 0, 0, 0,
	  "DNS server for MX lookups and the sender checks of [smtp], ADDR or ADDR:PORT (default: /etc/resolv.conf)" },
	{ "relay", "mx_port", P_UINT, OFF(mx_port), "25", 1, 65535, 0,
	  "port of the MX hosts (only tests and special setups change it)" },
	{ "relay", "tls_policy", P_TEXT, OFF(tls_policy), "dane", 0, 0, 0,
	  "TLS to MX hosts: dane (DANE where the MX publishes TLSA records under DNSSEC, else STARTTLS when "
	  "offered), dane-only, encrypt, may or none; then DOMAIN:LEVEL overrides, e.g. dane example.net:dane-only" },
	{ "relay", "dnssec_trust_anchor", P_TEXT, OFF(dnssec_trust_anchor), NULL, 0, 0, 0,
	  "DNSSEC trust anchor file for DANE (DS or DNSKEY records); default: the system root key "
	  "(/usr/share/dns/root.key) when present; none: no DNSSEC, so no DANE" },
	{ "relay", "mta_sts_ca_file", P_PATH, OFF(mta_sts_ca_file), NULL, 0, 0, 0,
	  "CA certificates for MTA-STS: the policy host's and the MX hosts' (default: the system store)" },
	{ "relay", "mta_sts_port", P_UINT, OFF(mta_sts_port), "443", 1, 65535, 0,
	  "HTTPS port of mta-sts.DOMAIN (only tests and special setups change it)" },
	{ "relay", "tlsrpt", P_TEXT, OFF(tlsrpt), "yes", 0, 0, 0,
	  "yes: record the TLS of every delivery under DANE or MTA-STS and send each such domain that "
	  "publishes _smtp._tls a daily report (RFC 8460) to its rua; no: neither" },
	{ "relay", "tlsrpt_contact", P_TEXT, OFF(tlsrpt_contact), NULL, 0, 0, 0,
	  "the address the reports name as contact and come from (default: postmaster@hostname)" },
	{ "dkim", "sign", P_DKIM, 0, NULL, 0, 0, 0,
	  "DOMAIN SELECTOR KEYFILE [active|standby]: mail submitted with a From: of DOMAIN is DKIM-signed "
	  "with every active key of it (rsa-sha256 and ed25519-sha256 side by side; `mailport dkim keygen` "
	  "makes keys); a standby key is published for a rotation but does not sign; repeat for more" },
	{ "directory", "backend", P_TEXT, OFF(dir_backend), "file", 0, 0, 0,
	  "where mailboxes, aliases and app passwords are kept: file ([auth] users and app_passwords) or "
	  "postgresql (shared by every node; `mailport directory migrate` makes the tables)" },
	{ "directory", "postgresql", P_TEXT, OFF(pg_conninfo), NULL, 0, 0, 0,
	  "the libpq connection string, e.g. \"host=db.example.org dbname=mail user=mailport sslmode=verify-full\"" },
	{ "directory", "password_file", P_SECRET_FILE, OFF(pg_password), NULL, 0, 0, 0,
	  "a file whose first line is the database role's password (or use ~/.pgpass, or certificates)" },
	{ "directory", "max_stale", P_DURATION, OFF(pg_max_stale), "5m", 1, 86400, 0,
	  "while the database cannot be reached, the last copy of the directory serves this long; then "
	  "recipients and logins get 451/454 (try again), never 550" },
	{ "limits", "redis", P_WHERE, OFF(shared), NULL, 0, 0, 0,
	  "Redis or Valkey (HOST:PORT or unix:/PATH) where every node counts AUTH failures, new connections per "
	  "client and messages per user together, so spreading over nodes gains an attacker nothing; unset: each "
	  "node counts alone, as it also does (and logs) while the store cannot be reached" },
	{ "limits", "user", P_TEXT, OFF(shared_user), NULL, 0, 0, 0,
	  "the Redis ACL user (Redis 6+), with password_file" },
	{ "limits", "password_file", P_SECRET_FILE, OFF(shared_password), NULL, 0, 0, 0,
	  "a file whose first line is the Redis password (requirepass, or the ACL user's)" },
	{ "limits", "key_prefix", P_TEXT, OFF(shared_prefix), "mailport:", 0, 0, 0,
	  "the start of every key mailport writes in Redis, so that several clusters can share one" },
	{ "limits", "max_messages_per_user", P_RATE, OFF(msgs_per_user), "0", 0, 10000000, 0,
	  "messages one authenticated user may send, as COUNT/PERIOD (500/h, 2000/d; PERIOD s, m, h or d); "
	  "past it MAIL gets 450 4.7.1 until the period ends; 0 = no limit" },
	/* The listeners' words are listener.c's, the one table of their kinds. */
	{ "smtp", "listen", P_LISTEN, ROLE_SMTP, NULL, 0, 0, 0, NULL },
	PROXY_PARAMS("smtp", ROLE_SMTP),
	{ "smtp", "sender_checks", P_TEXT, OFF(sender_checks), "yes", 0, 0, 0,
	  "yes: mail received here is checked with SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 7489) and "
	  "the results added as Authentication-Results: (RFC 8601) before it is delivered; the DNS server is "
	  "[relay] resolver's; no: neither" },
	{ "smtp", "dmarc_reject", P_TEXT, OFF(dmarc_reject), "no", 0, 0, 0,
	  "yes: refuse (550 5.7.1) a message that fails DMARC when its From: domain publishes p=reject (of "
	  "several From: domains, any one; more than 8 are refused unchecked); no: accept it and say so in "
	  "Authentication-Results: (the default: a failure is often a forwarder's)" },
	{ "submissions", "listen", P_LISTEN, ROLE_SUBMISSIONS, NULL, 0, 0, 0, NULL },
	PROXY_PARAMS("submissions", ROLE_SUBMISSIONS),
	{ "submission", "listen", P_LISTEN, ROLE_SUBMISSION, NULL, 0, 0, 0, NULL },
	PROXY_PARAMS("submission", ROLE_SUBMISSION),
	{ "https", "listen", P_LISTEN, ROLE_HTTPS, NULL, 0, 0, 0, NULL },
	{ "https", "imap", P_TEXT, OFF(https_imap), NULL, 0, 0, 0,
	  "the IMAP server mail clients are told about, HOST:PORT (993: implicit TLS, 143: STARTTLS); "
	  "unset: only sending is published (and no Apple profile)" },
	{ "https", "mta_sts_mode", P_TEXT, OFF(mta_sts_mode), "testing", 0, 0, 0,
	  "the MTA-STS policy served at mta-sts.DOMAIN (RFC 8461): testing, enforce or none" },
	{ "https", "mta_sts_max_age", P_DURATION, OFF(mta_sts_max_age), "7d", 86400, 31557600, 0,
	  "how long senders keep the MTA-STS policy (max_age)" },
	{ "metrics", "listen", P_LISTEN, ROLE_METRICS, NULL, 0, 0, 0, NULL },
};

#define NPARAMS (sizeof(params) / sizeof(params[0]))

static const char *param_help(const struct param *p)
{
	return p->type == P_LISTEN ? listener_kind((enum listener_role)p->off)->help : p->help;
}

struct load_ctx {
	struct config *c;
	struct errlist *errs;
	const char *file;
	char dir[PATH_MAX];
	int line;
	int seen[NPARAMS];
	int line_too_long;
	FILE *fp;
};

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

static void set_param(struct load_ctx *lc, const struct param *p, const char *v)
{
	struct config *c = lc->c;
	char *base = (char *)c;
	unsigned long long n;
	static const unsigned long long size_mult[] = { 1024ULL, 1024ULL * 1024, 1024ULL * 1024 * 1024,
	                                                 1024ULL * 1024 * 1024 * 1024 };
	static const unsigned long long dur_mult[] = { 1, 60, 3600, 86400 };
	const char *why;

#define ERR(...) errlist_add(lc->errs, lc->file, lc->line, __VA_ARGS__)
	switch (p->type) {
	case P_DKIM: {
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
		return;
	}
	case P_CERT:
	case P_KEY: {
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
		return;
	}
	case P_URL: {
		char **dst = (char **)(base + p->off);
		if (strncmp(v, "smtps://", 8) != 0 && strncmp(v, "smtp+starttls://", 16) != 0 &&
		    strncmp(v, "smtp://", 7) != 0) {
			ERR("[%s] %s: \"%s\" must start with smtps:// (implicit TLS), smtp+starttls:// "
			    "(STARTTLS required) or smtp:// (plaintext, for a local relay)", p->section, p->key, v);
			return;
		}
		free(*dst);
		*dst = strdup(v);
		return;
	}
	case P_SECRET_FILE: {
		char **dst = (char **)(base + p->off);
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
		return;
	}
	case P_WHERE: {
		char **dst = (char **)(base + p->off), where[300];
		if (endpoint_parse(v, where, sizeof(where), &why) < 0) {
			ERR("[%s] %s: \"%s\": %s", p->section, p->key, v, why);
			return;
		}
		free(*dst);
		*dst = strdup(v);
		return;
	}
	case P_RATE: {
		struct config_rate *dst = (struct config_rate *)(base + p->off);
		unsigned long long window;
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
		return;
	}
	case P_DURATIONS: {
		static const unsigned long long mult[] = { 1, 60, 3600, 86400 };
		unsigned *dst = (unsigned *)(base + p->off);
		const char *s = v, *w;
		size_t len, count = 0;
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
		c->nretry = count;
		return;
	}
	case P_TLSVER: {
		char **dst = (char **)(base + p->off);
		if (strcmp(v, "TLSv1.2") != 0 && strcmp(v, "TLSv1.3") != 0) {
			ERR("[%s] %s: \"%s\" is not TLSv1.2 or TLSv1.3 (older versions are not offered)", p->section, p->key, v);
			return;
		}
		free(*dst);
		*dst = strdup(v);
		return;
	}
	case P_USER: {
		struct passwd *pw = getpwnam(v);
		if (pw == NULL) {
			ERR("[%s] %s: no such user \"%s\"", p->section, p->key, v);
			return;
		}
		if (pw->pw_uid == 0) {
			ERR("[%s] %s: \"%s\" is root; name an unprivileged user (e.g. mailport)", p->section, p->key, v);
			return;
		}
		char **dst = (char **)(base + p->off);
		free(*dst);
		if ((*dst = strdup(v)) == NULL)
			ERR("out of memory");
		return;
	}
	case P_NETS: {
		char bad[200];
		struct netmatch *m = netmatch_parse(v, bad, sizeof(bad));
		if (m == NULL) {
			ERR("[%s] %s: %s", p->section, p->key, bad);
			return;
		}
		netmatch_free(*(struct netmatch **)(base + p->off));
		*(struct netmatch **)(base + p->off) = m;
		return;
	}
	case P_STRING:
	case P_TEXT:
	case P_PATH:
	case P_PATTERN: {
		char **dst = (char **)(base + p->off);
		if (*v == '\0') {
			ERR("[%s] %s: empty value", p->section, p->key);
			return;
		}
		if (p->type == P_PATTERN) {
			for (const char *q = v; *q; q++)
				if (*q == '%' && q[1] != 'd' && q[1] != 'u' && q[1] != '%') {
					ERR("[%s] %s: unknown escape %%%c (use %%d, %%u or %%%%)", p->section, p->key, q[1] ? q[1] : ' ');
					return;
				} else if (*q == '%')
					q++;
		}
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
		return;
	}
	case P_DELIM: {
		char **dst = (char **)(base + p->off);
		if (strlen(v) > 1 || (*v && (isalnum((unsigned char)*v) || *v == '@' || *v == '.'))) {
			ERR("[%s] %s: must be one character such as + or -, or empty", p->section, p->key);
			return;
		}
		free(*dst);
		*dst = strdup(v);
		return;
	}
	case P_DOMAINS: {
		const char *s = v, *w;
		size_t len;
		while ((w = next_word(&s, &len)) != NULL) {
			if (!smtp_domain_valid(w, len, 1))
				ERR("[%s] %s: \"%.*s\" is not a valid domain", p->section, p->key, (int)len, w);
			else if (add_domain(c, w, len) < 0)
				ERR("out of memory");
		}
		return;
	}
	case P_SIZE:
		if (parse_suffixed(v, "KMGT", size_mult, &n) < 0) {
			ERR("[%s] %s: \"%s\" is not a size (e.g. 10240000, 500K, 25M)", p->section, p->key, v);
			return;
		}
		goto range;
	case P_DURATION:
		if (parse_suffixed(v, "smhd", dur_mult, &n) < 0) {
			ERR("[%s] %s: \"%s\" is not a duration (e.g. 30, 30s, 5m, 1h)", p->section, p->key, v);
			return;
		}
		goto range;
	case P_UINT:
		if (parse_uint(v, &n) < 0) {
			ERR("[%s] %s: \"%s\" is not a whole number", p->section, p->key, v);
			return;
		}
	range:
		if (n < p->min || n > p->max) {
			ERR("[%s] %s: %s is out of range (%llu to %llu)", p->section, p->key, v, p->min, p->max);
			return;
		}
		if (p->type == P_SIZE)
			*(size_t *)(base + p->off) = (size_t)n;
		else
			*(unsigned *)(base + p->off) = (unsigned)n;
		return;
	case P_LISTEN: {
		const char *s = v, *w;
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
		return;
	}
	}
#undef ERR
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *lc = user;
	int known_section = 0;

	for (size_t i = 0; i < NPARAMS; i++) {
		if (strcmp(params[i].section, section) != 0)
			continue;
		known_section = 1;
		if (strcmp(params[i].key, name) != 0)
			continue;
		if (lc->seen[i] && params[i].type != P_DOMAINS && params[i].type != P_LISTEN &&
		    params[i].type != P_CERT && params[i].type != P_KEY && params[i].type != P_DKIM)
			errlist_add(lc->errs, lc->file, lc->line, "[%s] %s given twice", section, name);
		lc->seen[i] = lc->line;
		set_param(lc, &params[i], value);
		return 1;
	}
	if (!known_section)
		errlist_add(lc->errs, lc->file, lc->line, "unknown section [%s]", section);
	else
		errlist_add(lc->errs, lc->file, lc->line, "unknown key \"%s\" in [%s]", name, section);
	return 1;
}

/* inih hands us no line numbers (Debian builds it without INI_HANDLER_LINENO), so the reader
 * counts them; it also turns lines longer than inih's buffer into one clear error instead of
 * a silently split line. */
static char *reader(char *str, int num, void *stream)
{
	struct load_ctx *lc = stream;

	if (fgets(str, num, lc->fp) == NULL)
		return NULL;
	lc->line++;
	size_t len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n' && !feof(lc->fp)) {
		int ch;
		while ((ch = fgetc(lc->fp)) != EOF && ch != '\n')
			;
		errlist_add(lc->errs, lc->file, lc->line,
		            "line longer than %d characters (repeat the key to continue a list)", num - 2);
		str[0] = '\0';
	}
	return str;
}

static void set_default(struct load_ctx *lc, const struct param *p)
{
	if (p->def != NULL)
		set_param(lc, p, p->def);
}

struct config *config_load(const char *path, struct errlist *errs)
{
	struct load_ctx lc;
	struct config *c = calloc(1, sizeof(*c));
	size_t nerr0 = errs->n;
	const char *slash;
	int r;

	if (c == NULL)
		return NULL;
	memset(&lc, 0, sizeof(lc));
	lc.c = c;
	lc.errs = errs;
	lc.file = path;
	c->path = strdup(path);
	if ((slash = strrchr(path, '/')) != NULL)
		snprintf(lc.dir, sizeof(lc.dir), "%.*s", (int)(slash - path), path);
	else
		snprintf(lc.dir, sizeof(lc.dir), ".");
	/* Absolute, so that what the server hands its delivery agent does not depend on a
	 * working directory (and a log names the real place). */
	char absdir[PATH_MAX];
	if (lc.dir[0] != '\0' && realpath(lc.dir, absdir) != NULL)
		snprintf(lc.dir, sizeof(lc.dir), "%s", absdir);
	for (size_t i = 0; i < NPARAMS; i++)
		set_default(&lc, &params[i]);
	{
		char hn[256];
		if (gethostname(hn, sizeof(hn)) == 0 && smtp_domain_valid(hn, strlen(hn), 0))
			c->hostname = strdup(hn);
		else
			c->hostname = strdup("localhost");
	}
	lc.fp = fopen(path, "r");
	if (lc.fp == NULL) {
		errlist_add(errs, path, 0, "cannot open: %s", strerror(errno));
		goto fail;
	}
	r = ini_parse_stream(reader, &lc, handler, &lc);
	fclose(lc.fp);
	if (r > 0) {
		/* inih reports the first line it could not parse (no '=' or ']'). */
		int dup = 0;
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "%s:%d:", path, r);
		for (size_t i = nerr0; i < errs->n; i++)
			if (strstr(errs->msgs[i], prefix) != NULL)
				dup = 1;
		if (!dup)
			errlist_add(errs, path, r, "syntax error: expected [section] or key = value");
	} else if (r < 0)
		errlist_add(errs, path, 0, "cannot read");
	for (size_t i = 0; i < NPARAMS; i++)
		if (params[i].required && !lc.seen[i])
			errlist_add(errs, path, 0, "[%s] %s is required (%s)", params[i].section,
			            params[i].key, param_help(&params[i]));
	{
		size_t total = 0;
		for (int role = 0; role < ROLE_COUNT; role++)
			if (listener_kind((enum listener_role)role)->proto == LISTENER_PROTO_SMTP)
				total += c->nlisten[role];
		if (total == 0)
			errlist_add(errs, path, 0, "no listener: set [smtp] listen = ADDR:PORT");
	}
	if (c->relay_user != NULL && c->relay_password == NULL)
		errlist_add(errs, path, 0, "[relay] user needs password_file");
	if (c->relay_user != NULL && c->smarthost != NULL && strncmp(c->smarthost, "smtp://", 7) == 0)
		errlist_add(errs, path, 0, "[relay] user with a plaintext smtp:// smarthost would send the password "
		            "in the clear; use smtps:// or smtp+starttls://");
	if (c->ncerts != c->nkeys)
		errlist_add(errs, path, c->ncerts ? c->certs[c->ncerts - 1].line : 0,
		            "[tls] has %zu cert and %zu key entries; give them in pairs", c->ncerts, c->nkeys);
	for (int role = 0; role < ROLE_COUNT; role++)
		if (c->nlisten[role] > 0 && c->ncerts == 0 && (listener_kind((enum listener_role)role)->submission ||
		                                                listener_kind((enum listener_role)role)->tls == LISTENER_TLS_IMPLICIT))
			errlist_add(errs, path, 0, "[%s] needs a certificate: set [tls] cert and key "
			            "(%s never runs without TLS)", listener_kind((enum listener_role)role)->name,
			            listener_kind((enum listener_role)role)->submission ? "submission" : "it");
	if (errs->n > nerr0)
		goto fail;
	if ((c->lines = malloc(sizeof(lc.seen))) == NULL)
		goto fail;
	memcpy(c->lines, lc.seen, sizeof(lc.seen));
	return c;
fail:
	config_free(c);
	return NULL;
}

int config_line(const struct config *c, const char *section, const char *key)
{
	for (size_t i = 0; i < NPARAMS; i++)
		if (strcmp(params[i].section, section) == 0 && strcmp(params[i].key, key) == 0)
			return c->lines ? c->lines[i] : 0;
	return 0;
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->lines);
	free(c->hostname);
	free(c->spool);
	for (size_t i = 0; i < c->nlocal_domains; i++)
		free(c->local_domains[i]);
	free(c->local_domains);
	free(c->maildir);
	netmatch_free(c->limits_exempt);
	for (int role = 0; role < ROLE_COUNT; role++) {
		free(c->proxy_protocol[role]);
		netmatch_free(c->proxy_from[role]);
	}
	free(c->user);
	free(c->recipient_delimiter);
	free(c->users);
	free(c->auth_backend);
	free(c->dir_backend);
	free(c->pg_conninfo);
	free(c->shared);
	free(c->shared_user);
	if (c->shared_password)
		explicit_bzero(c->shared_password, strlen(c->shared_password));
	free(c->shared_password);
	free(c->shared_prefix);
	if (c->pg_password)
		explicit_bzero(c->pg_password, strlen(c->pg_password));
	free(c->pg_password);
	for (size_t i = 0; i < CONFIG_MAX_CERTS; i++) {
		free(c->certs[i].cert);
		free(c->certs[i].key);
	}
	free(c->tls_min_version);
	free(c->smarthost);
	free(c->relay_user);
	if (c->relay_password) {
		explicit_bzero(c->relay_password, strlen(c->relay_password));
		free(c->relay_password);
	}
	free(c->relay_ca_file);
	free(c->resolver);
	free(c->tls_policy);
	free(c->dnssec_trust_anchor);
	free(c->mta_sts_ca_file);
	free(c->tlsrpt);
	free(c->tlsrpt_contact);
	free(c->sender_checks);
	free(c->app_passwords);
	free(c->scram);
	free(c->client_ca);
	free(c->client_ca_key);
	free(c->client_crl);
	free(c->https_imap);
	free(c->log_dest);
	free(c->log_format);
	free(c->log_socket);
	free(c->mta_sts_mode);
	free(c->dmarc_reject);
	for (size_t i = 0; i < c->ndkim; i++) {
		free(c->dkim[i].domain);
		free(c->dkim[i].selector);
		free(c->dkim[i].path);
	}
	free(c->tls_ciphers);
	free(c->tls_ciphersuites);
	free(c);
}

int config_is_local_domain(const struct config *c, const char *domain, size_t len)
{
	for (size_t i = 0; i < c->nlocal_domains; i++)
		if (strlen(c->local_domains[i]) == len && strncasecmp(c->local_domains[i], domain, len) == 0)
			return 1;
	return 0;
}

void config_print_defaults(FILE *out)
{
	const char *section = "";

	for (size_t i = 0; i < NPARAMS; i++) {
		const struct param *p = &params[i];
		if (strcmp(section, p->section) != 0) {
			fprintf(out, "%s[%s]\n", i ? "\n" : "", p->section);
			section = p->section;
		}
		fprintf(out, "# %s%s\n%s%s = %s\n", param_help(p), p->required ? " (required)" : "",
		        p->def ? "" : "# ", p->key, p->def ? p->def : "");
	}
}

/* Text for an mdoc line: a backslash is \e, and a line may not begin with a dot or a quote. */
static void mdoc_text(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s; s++)
		if (*s == '\\')
			fputs("\\e", out);
		else
			fputc(*s, out);
}

void config_print_mdoc(FILE *out)
{
	const char *section = "";

	for (size_t i = 0; i < NPARAMS; i++) {
		const struct param *p = &params[i];
		if (strcmp(section, p->section) != 0) {
			if (i > 0)
				fputs(".El\n", out);
			fprintf(out, ".Ss \\&[%s]\n.Bl -tag -width Ds\n", p->section);
			section = p->section;
		}
		fprintf(out, ".It Cm %s Li =%s", p->key, p->def && *p->def ? " " : "");
		if (p->def && *p->def) {
			fputs("\"", out);
			for (const char *d = p->def; *d; d++) {
				if (*d == '"')
					fputs("\\(dq", out);
				else if (*d == '\\')
					fputs("\\e", out);
				else
					fputc(*d, out);
			}
			fputs("\"", out);
		}
		fputs("\n", out);
		mdoc_text(out, param_help(p));
		fputs(p->required ? " (required)\n" : "\n", out);
	}
	fputs(".El\n", out);
}
