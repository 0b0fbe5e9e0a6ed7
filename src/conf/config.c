/*
 * config.c - reads mailport.conf with inih: each key to its row of the table (config_params.c)
 * and its setter (config_set.c), then the checks that span several keys.
 * Not the users file (auth/users.c) and not runtime reload policy (server/server.c decides what a
 * reload may change).
 */
#include "config_int.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../smtp/parse.h"
#include "../util/netmatch.h"

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *lc = user;
	int known_section = 0;

	for (size_t i = 0; i < config_nparams; i++) {
		const struct param *p = &config_params[i];
		if (strcmp(p->section, section) != 0)
			continue;
		known_section = 1;
		if (strcmp(p->key, name) != 0)
			continue;
		if (lc->seen[i] && p->type != P_DOMAINS && p->type != P_LISTEN &&
		    p->type != P_CERT && p->type != P_KEY && p->type != P_DKIM)
			errlist_add(lc->errs, lc->file, lc->line, "[%s] %s given twice", section, name);
		lc->seen[i] = lc->line;
		config_set_param(lc, p, value);
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
		config_set_param(lc, p, p->def);
}

/* lc for reading path into c: the file's directory (absolute), every default, the host name. */
static void load_start(struct load_ctx *lc, struct config *c, const char *path, struct errlist *errs)
{
	const char *slash;

	lc->c = c;
	lc->errs = errs;
	lc->file = path;
	c->path = strdup(path);
	if ((slash = strrchr(path, '/')) != NULL)
		snprintf(lc->dir, sizeof(lc->dir), "%.*s", (int)(slash - path), path);
	else
		snprintf(lc->dir, sizeof(lc->dir), ".");
	/* Absolute, so that what the server hands its delivery agent does not depend on a
	 * working directory (and a log names the real place). */
	char absdir[PATH_MAX];
	if (lc->dir[0] != '\0' && realpath(lc->dir, absdir) != NULL)
		snprintf(lc->dir, sizeof(lc->dir), "%s", absdir);
	for (size_t i = 0; i < config_nparams; i++)
		set_default(lc, &config_params[i]);
	{
		char hn[256];
		if (gethostname(hn, sizeof(hn)) == 0 && smtp_domain_valid(hn, strlen(hn), 0))
			c->hostname = strdup(hn);
		else
			c->hostname = strdup("localhost");
	}
}

/* The file itself, through inih; -1 when it cannot be opened. nerr0: the errors before it. */
static int load_file(struct load_ctx *lc, const char *path, size_t nerr0)
{
	struct errlist *errs = lc->errs;
	int r;

	lc->fp = fopen(path, "r");
	if (lc->fp == NULL) {
		errlist_add(errs, path, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	r = ini_parse_stream(reader, lc, handler, lc);
	fclose(lc->fp);
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
	return 0;
}

/* What no single key can tell: required keys, a listener, pairs that belong together. */
static void check_across(const struct load_ctx *lc, const char *path)
{
	const struct config *c = lc->c;
	struct errlist *errs = lc->errs;

	for (size_t i = 0; i < config_nparams; i++)
		if (config_params[i].required && !lc->seen[i])
			errlist_add(errs, path, 0, "[%s] %s is required (%s)", config_params[i].section,
			            config_params[i].key, config_param_help(&config_params[i]));
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
}

struct config *config_load(const char *path, struct errlist *errs)
{
	struct load_ctx lc;
	struct config *c = calloc(1, sizeof(*c));
	size_t nerr0 = errs->n;

	if (c == NULL)
		return NULL;
	memset(&lc, 0, sizeof(lc));
	/* The lines each key was given on, kept in c->lines once all is well (config_line). */
	if ((lc.seen = calloc(config_nparams, sizeof(*lc.seen))) == NULL)
		goto fail;
	load_start(&lc, c, path, errs);
	if (load_file(&lc, path, nerr0) < 0)
		goto fail;
	check_across(&lc, path);
	if (errs->n > nerr0)
		goto fail;
	c->lines = lc.seen;
	return c;
fail:
	free(lc.seen);
	config_free(c);
	return NULL;
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

