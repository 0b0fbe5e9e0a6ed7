/*
 * config_params.c - the one typed table of every mailport.conf parameter (its default, range
 * and help), and what is printed from it: `serve --defaults` and mailport.conf(5)'s list.
 * Not the parsing of values (config_set.c) nor the reading of the file (config.c).
 */
#include "config_int.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "../smtp/session.h"

#define OFF(f) offsetof(struct config, f)

/* The PROXY protocol keys, the same in each SMTP listener's section. */
#define PROXY_PARAMS(section, role)                                                                            \
	{ section, "proxy_protocol", P_TEXT, OFF(proxy_protocol[role]), "no", 0, 0, 0,                            \
	  "yes: every connection begins with a PROXY protocol header (v1 or v2, HAProxy's) naming the client, " \
	  "which then drives limits, logs and Received:; only from proxy_from" },                                \
	{ section, "proxy_from", P_NETS, OFF(proxy_from[role]), NULL, 0, 0, 0,                                    \
	  "the load balancers allowed to send PROXY headers (addresses or networks; required with "             \
	  "proxy_protocol = yes); any other peer is disconnected" }

const struct param config_params[] = {
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
	{ "server", "workers", P_UINT, OFF(workers), "0", 0, 64, 0,
	  "event loops serving connections, each a thread with its own listeners (SO_REUSEPORT) and sessions; "
	  "0 = one per core" },
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

const size_t config_nparams = sizeof(config_params) / sizeof(config_params[0]);

const char *config_param_help(const struct param *p)
{
	return p->type == P_LISTEN ? listener_kind((enum listener_role)p->off)->help : p->help;
}

int config_line(const struct config *c, const char *section, const char *key)
{
	for (size_t i = 0; i < config_nparams; i++)
		if (strcmp(config_params[i].section, section) == 0 && strcmp(config_params[i].key, key) == 0)
			return c->lines ? c->lines[i] : 0;
	return 0;
}

void config_print_defaults(FILE *out)
{
	const char *section = "";

	for (size_t i = 0; i < config_nparams; i++) {
		const struct param *p = &config_params[i];
		if (strcmp(section, p->section) != 0) {
			fprintf(out, "%s[%s]\n", i ? "\n" : "", p->section);
			section = p->section;
		}
		fprintf(out, "# %s%s\n%s%s = %s\n", config_param_help(p), p->required ? " (required)" : "",
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

	for (size_t i = 0; i < config_nparams; i++) {
		const struct param *p = &config_params[i];
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
		mdoc_text(out, config_param_help(p));
		fputs(p->required ? " (required)\n" : "\n", out);
	}
	fputs(".El\n", out);
}
