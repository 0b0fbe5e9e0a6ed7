/*
 * runningconf.c - the running configuration: one snapshot of what the config file says, with
 * what it takes to act on it (users, TLS contexts, the relay's settings, each role's session
 * settings). A reload (SIGHUP) loads a new one and swaps it in; sessions keep theirs.
 */
#include "runningconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../publish/publish.h"

struct runconf *runconf_ref(struct runconf *rc)
{
	__atomic_add_fetch(&rc->refs, 1, __ATOMIC_RELAXED);
	return rc;
}

void runconf_unref(struct runconf *rc)
{
	if (rc == NULL || __atomic_sub_fetch(&rc->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	config_free(rc->cfg);
	directory_free(rc->dir);
	authcache_free(rc->authcache);
	tls_server_free(rc->tls);
	clientca_free(rc->clientca);
	relay_conf_clear(&rc->relay);
	dkim_keys_free(rc->dkim);
	free(rc);
}

/* [dkim] sign: every key read and checked now, so a bad one is a config error (file:line, 78),
 * not a failure per message. */
static int load_dkim(struct runconf *rc, const char *path, struct errlist *errs)
{
	struct dkim_key_conf kc[CONFIG_MAX_DKIM];
	const struct config *c = rc->cfg;
	char err[600];
	unsigned line;

	for (size_t i = 0; i < c->ndkim; i++)
		kc[i] = (struct dkim_key_conf){ c->dkim[i].domain, c->dkim[i].selector, c->dkim[i].path, c->dkim[i].active,
		                                c->dkim[i].line };
	if ((rc->dkim = dkim_keys_load(kc, c->ndkim, err, sizeof(err), &line)) == NULL) {
		errlist_add(errs, path, line, "[dkim] sign: %s", err);
		return -1;
	}
	return 0;
}

/* Debian's dns-root-data: the root zone's key, as unbound-anchor keeps it. */
#define SYSTEM_ROOT_KEY "/usr/share/dns/root.key"

/* A yes/no parameter: 0 with *out set, or -1 (file:line in errs). */
static int yes_no(const struct config *c, const char *path, const char *section, const char *key, const char *v,
                  int *out, struct errlist *errs)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "no") == 0) {
		*out = v[0] == 'y';
		return 0;
	}
	errlist_add(errs, path, config_line(c, section, key), "[%s] %s: \"%s\": expected yes or no", section, key, v);
	return -1;
}

/* [relay] tls_policy and dnssec_trust_anchor, checked as the runner will read them. */
static int check_tls_policy(struct runconf *rc, const char *path, struct errlist *errs)
{
	const struct config *c = rc->cfg;
	const char *ta = c->dnssec_trust_anchor;
	struct tlspolicy_conf tc;
	struct tlspolicy *tp;
	char err[300];
	int bad = 0;

	if (ta == NULL)
		rc->trust_anchor = access(SYSTEM_ROOT_KEY, R_OK) == 0 ? SYSTEM_ROOT_KEY : NULL;
	else if (strcmp(ta, "none") == 0)
		rc->trust_anchor = NULL;
	else if (ta[0] != '/' || access(ta, R_OK) != 0) {
		errlist_add(errs, path, config_line(c, "relay", "dnssec_trust_anchor"), "[relay] dnssec_trust_anchor %s: %s",
		            ta, ta[0] != '/' ? "give an absolute path, or none" : strerror(errno));
		bad = 1;
	} else
		rc->trust_anchor = ta;
	snprintf(rc->sts_cache_dir, sizeof(rc->sts_cache_dir), "%s/sts", c->spool);
	int tlsrpt = 0;
	bad |= yes_no(c, path, "relay", "tlsrpt", c->tlsrpt, &tlsrpt, errs) < 0;
	if (tlsrpt)
		snprintf(rc->tlsrpt_dir, sizeof(rc->tlsrpt_dir), "%s/tlsrpt", c->spool);
	bad |= yes_no(c, path, "smtp", "sender_checks", c->sender_checks, &rc->sender_checks, errs) < 0;
	bad |= yes_no(c, path, "smtp", "dmarc_reject", c->dmarc_reject, &rc->dmarc_reject, errs) < 0;
	bad |= yes_no(c, path, "auth", "scram", c->scram, &rc->scram, errs) < 0;
	if (strcmp(c->auth_backend, "file") != 0 && (strncmp(c->auth_backend, "dovecot:", 8) != 0 ||
	                                              c->auth_backend[8] == '\0')) {
		errlist_add(errs, path, config_line(c, "auth", "backend"), "[auth] backend: \"%s\" is not file or "
		            "dovecot:SOCKET (e.g. dovecot:/run/dovecot/auth-client)", c->auth_backend);
		bad = 1;
	} else if (c->auth_backend[0] == 'd' && rc->scram) {
		errlist_add(errs, path, config_line(c, "auth", "scram"), "[auth] scram = yes needs the users file's scram= "
		            "keys, but with backend = dovecot the passwords are Dovecot's: set scram = no");
		bad = 1;
	}
	for (int role = 0; role < ROLE_COUNT; role++) {
		const char *name = listener_kind((enum listener_role)role)->name;
		if (c->proxy_protocol[role] == NULL)
			continue;
		bad |= yes_no(c, path, name, "proxy_protocol", c->proxy_protocol[role], &rc->proxy[role], errs) < 0;
		if (rc->proxy[role] && c->proxy_from[role] == NULL) {
			errlist_add(errs, path, config_line(c, name, "proxy_protocol"), "[%s] proxy_protocol = yes needs "
			            "proxy_from = the load balancers' addresses (anyone else could claim to be any client)", name);
			bad = 1;
		}
	}
	if (strcmp(c->log_dest, "stderr") != 0 && strcmp(c->log_dest, "syslog") != 0 && strcmp(c->log_dest, "journal") != 0) {
		errlist_add(errs, path, config_line(c, "server", "log"), "[server] log: \"%s\" is not stderr, syslog or "
		            "journal", c->log_dest);
		bad = 1;
	}
	if (strcmp(c->log_format, "text") != 0 && strcmp(c->log_format, "json") != 0) {
		errlist_add(errs, path, config_line(c, "server", "log_format"), "[server] log_format: \"%s\" is not text "
		            "or json", c->log_format);
		bad = 1;
	}
	if (strcmp(c->mta_sts_mode, "testing") != 0 && strcmp(c->mta_sts_mode, "enforce") != 0 &&
	    strcmp(c->mta_sts_mode, "none") != 0) {
		errlist_add(errs, path, config_line(c, "https", "mta_sts_mode"),
		            "[https] mta_sts_mode: \"%s\" is not testing, enforce or none", c->mta_sts_mode);
		bad = 1;
	}
	char ih[256];
	unsigned ip;
	if (c->https_imap != NULL && publish_parse_hostport(c->https_imap, ih, sizeof(ih), &ip) < 0) {
		errlist_add(errs, path, config_line(c, "https", "imap"), "[https] imap: \"%s\" is not HOST:PORT "
		            "(e.g. imap.example.org:993)", c->https_imap);
		bad = 1;
	}
	if (c->tlsrpt_contact == NULL)
		snprintf(rc->tlsrpt_contact, sizeof(rc->tlsrpt_contact), "postmaster@%s", c->hostname);
	else if (strchr(c->tlsrpt_contact, '@') == NULL || strpbrk(c->tlsrpt_contact, " <>\t\"") != NULL) {
		errlist_add(errs, path, config_line(c, "relay", "tlsrpt_contact"),
		            "[relay] tlsrpt_contact: \"%s\" is not an address", c->tlsrpt_contact);
		bad = 1;
	} else
		snprintf(rc->tlsrpt_contact, sizeof(rc->tlsrpt_contact), "%s", c->tlsrpt_contact);
	relay_tlspolicy_conf(&rc->relay, &tc);
	tc.mx_policy = c->tls_policy;
	tc.trust_anchor = rc->trust_anchor;
	if ((tp = tlspolicy_new(&tc, err, sizeof(err))) == NULL) {
		errlist_add(errs, path, config_line(c, "relay", "tls_policy"), "[relay] tls_policy: %s", err);
		bad = 1;
	}
	tlspolicy_free(tp);
	return bad ? -1 : 0;
}

void runconf_apppw_paths(const struct config *c, char *store, size_t storelen, char *used, size_t usedlen)
{
	if (c->app_passwords != NULL)
		snprintf(store, storelen, "%s", c->app_passwords);
	else
		snprintf(store, storelen, "%s/app-passwords", c->spool);
	snprintf(used, usedlen, "%s/app-passwords.used", c->spool);
}

void runconf_clientca_paths(const struct config *c, char *crl, size_t crllen, char *index, size_t indexlen)
{
	if (c->client_crl != NULL)
		snprintf(crl, crllen, "%s", c->client_crl);
	else
		snprintf(crl, crllen, "%s/client-certs.crl", c->spool);
	snprintf(index, indexlen, "%s/client-certs", c->spool);
}

struct runconf *runconf_load(const char *path, struct errlist *errs)
{
	struct runconf *rc = calloc(1, sizeof(*rc));

	if (rc == NULL)
		return NULL;
	rc->refs = 1;
	rc->cfg = config_load(path, errs);
	if (rc->cfg != NULL) {
		char ap[4200], used[4200];
		runconf_apppw_paths(rc->cfg, ap, sizeof(ap), used, sizeof(used));
		const struct config *c = rc->cfg;
		const char *be = c->auth_backend;
		int pg = strcmp(c->dir_backend, "postgresql") == 0;
		char crl[4200], index[4200];
		runconf_clientca_paths(c, crl, sizeof(crl), index, sizeof(index));
		struct directory_conf dc = { c->users, 0, ap, used, strncmp(be, "dovecot:", 8) == 0 ? be + 8 : NULL,
		                             pg ? c->pg_conninfo : NULL, c->pg_password, c->pg_max_stale,
		                             c->client_ca != NULL ? crl : NULL };
		if (strcmp(c->dir_backend, "file") != 0 && !pg)
			errlist_add(errs, path, config_line(c, "directory", "backend"), "[directory] backend: \"%s\" is not "
			            "file or postgresql", c->dir_backend);
		else if (pg && c->pg_conninfo == NULL)
			errlist_add(errs, path, config_line(c, "directory", "backend"), "[directory] backend = postgresql "
			            "needs postgresql = a libpq connection string");
		else if (!pg && c->users == NULL)
			errlist_add(errs, path, 0, "[auth] users is required (the users file), unless [directory] backend = "
			            "postgresql");
		else if (pg && strncmp(be, "dovecot:", 8) == 0)
			errlist_add(errs, path, config_line(c, "auth", "backend"), "[auth] backend = dovecot names the "
			            "mailboxes in the users file; with [directory] backend = postgresql, keep it file");
		else
			rc->dir = directory_open(&dc, errs);
	}
	/* A minute: long enough for a client that logs in per message, short enough that a
	 * changed password (a reload starts a new cache anyway) does not linger. */
	rc->authcache = authcache_new(60);
	if (rc->cfg != NULL && rc->cfg->ncerts > 0)
		rc->tls = tls_server_new(rc->cfg, errs);
	if (rc->cfg == NULL || rc->dir == NULL || (rc->cfg->ncerts > 0 && rc->tls == NULL)) {
		runconf_unref(rc);
		return NULL;
	}
	if (rc->cfg->client_ca != NULL) {
		char crl[4200], index[4200], why[300];
		runconf_clientca_paths(rc->cfg, crl, sizeof(crl), index, sizeof(index));
		if ((rc->clientca = clientca_new(rc->cfg->client_ca, crl, why, sizeof(why))) == NULL ||
		    rc->tls == NULL) {
			errlist_add(errs, path, config_line(rc->cfg, "auth", "client_ca"), "[auth] client_ca: %s",
			            rc->tls == NULL ? "client certificates need [tls] cert and key" : why);
			runconf_unref(rc);
			return NULL;
		}
	}
	if (rc->cfg->resolver != NULL)
		rc->relay.resolver = strdup(rc->cfg->resolver);
	{
		char port[8];
		snprintf(port, sizeof(port), "%u", rc->cfg->mx_port);
		rc->relay.mx_port = strdup(port);
		rc->relay.helo = strdup(rc->cfg->hostname);
		rc->relay.timeout = (int)rc->cfg->relay_timeout;
	}
	if (rc->cfg->smarthost != NULL) {
		const char *why;
		if (relay_parse_url(rc->cfg->smarthost, &rc->relay, &why) < 0) {
			errlist_add(errs, path, 0, "[relay] smarthost %s: %s", rc->cfg->smarthost, why);
			runconf_unref(rc);
			return NULL;
		}
		rc->relay.user = rc->cfg->relay_user ? strdup(rc->cfg->relay_user) : NULL;
		rc->relay.password = rc->cfg->relay_password ? strdup(rc->cfg->relay_password) : NULL;
		rc->relay.ca_file = rc->cfg->relay_ca_file ? strdup(rc->cfg->relay_ca_file) : NULL;
	}
	if (check_tls_policy(rc, path, errs) < 0 || load_dkim(rc, path, errs) < 0) {
		runconf_unref(rc);
		return NULL;
	}
	for (int role = 0; role < ROLE_COUNT; role++) {
		struct smtp_session_conf *sc = &rc->sconf[role];
		sc->hostname = rc->cfg->hostname;
		sc->max_message_size = rc->cfg->max_message_size;
		sc->max_rcpts = rc->cfg->max_recipients;
		sc->max_errors = rc->cfg->max_errors;
		const struct listener_kind *k = listener_kind((enum listener_role)role);
		sc->policy = k->session_policy;
		if ((sc->policy & SMTP_POLICY_AUTH) && rc->scram)
			sc->policy |= SMTP_POLICY_SCRAM;
		if (k->tls == LISTENER_TLS_OFFERED && rc->tls != NULL)
			sc->policy |= SMTP_POLICY_STARTTLS;   /* opportunistic on port 25 (RFC 3207) */
	}
	return rc;
}

void runconf_runner(const struct runconf *rc, struct runner_conf *out)
{
	const struct config *c = rc->cfg;

	memset(out, 0, sizeof(*out));
	out->maildir = c->maildir;
	out->hostname = c->hostname;
	out->retry_interval = c->retry_interval;
	out->relay = &rc->relay;
	out->retry = c->retry;
	out->nretry = c->nretry;
	out->lifetime = c->max_queue_lifetime;
	out->workers = c->relay_concurrency;
	out->dest_concurrency = c->dest_concurrency;
	out->users_path = c->users;
	if (strcmp(c->dir_backend, "postgresql") == 0) {
		out->users_path = NULL;
		out->pg_conninfo = c->pg_conninfo;
		out->pg_password = c->pg_password;
		out->pg_max_stale = c->pg_max_stale;
	}
	out->local_domains = (const char *const *)c->local_domains;
	out->nlocal_domains = c->nlocal_domains;
	out->delimiter = c->recipient_delimiter;
	out->tls_policy = c->tls_policy;
	out->trust_anchor = rc->trust_anchor;
	out->sts_cache_dir = rc->sts_cache_dir;
	out->sts_ca_file = c->mta_sts_ca_file;
	out->sts_port = c->mta_sts_port;
	out->tlsrpt_dir = rc->tlsrpt_dir[0] ? rc->tlsrpt_dir : NULL;
	out->dkim = rc->dkim;
	out->tlsrpt_contact = rc->tlsrpt_contact;
}
