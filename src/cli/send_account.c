/*
 * send_account.c - the [account NAME] sections of send.conf (msmtp's accounts, in ini form) and
 * the password they name: a file or a command, never the command line. Options given on the
 * command line win; this only fills what they left unset.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "secret.h"
#include "send_int.h"

int send_parse_tls_mode(const char *arg, enum tls_mode *mode)
{
	if (strcmp(arg, "auto") == 0) *mode = TLS_AUTO;
	else if (strcmp(arg, "implicit") == 0) *mode = TLS_IMPLICIT;
	else if (strcmp(arg, "starttls") == 0) *mode = TLS_STARTTLS;
	else if (strcmp(arg, "none") == 0) *mode = TLS_NONE;
	else return -1;
	return 0;
}

struct acct_ctx {
	struct send_opts *o;
	const char *want;
	const char *file;
	int line;
	int in_section, found, errors;
	FILE *fp;
};

static char *acct_reader(char *str, int num, void *stream)
{
	struct acct_ctx *a = stream;
	char *r = fgets(str, num, a->fp);

	if (r)
		a->line++;
	return r;
}

static void set_if_unset(char **dst, const char *v)
{
	if (*dst == NULL)
		*dst = strdup(v);
}

static int acct_handler(void *user, const char *section, const char *name, const char *value)
{
	struct acct_ctx *a = user;
	struct send_opts *o = a->o;
	char want[300];

	snprintf(want, sizeof(want), "account %s", a->want ? a->want : "default");
	if (strcmp(section, want) != 0)
		return 1;
	a->found = 1;
	if (strcmp(name, "host") == 0) set_if_unset(&o->host, value);
	else if (strcmp(name, "port") == 0) set_if_unset(&o->port, value);
	else if (strcmp(name, "user") == 0) set_if_unset(&o->user, value);
	else if (strcmp(name, "password_file") == 0) set_if_unset(&o->password_file, value);
	else if (strcmp(name, "password_command") == 0) set_if_unset(&o->password_command, value);
	else if (strcmp(name, "cafile") == 0) set_if_unset(&o->cafile, value);
	else if (strcmp(name, "cert") == 0) set_if_unset(&o->cert, value);
	else if (strcmp(name, "key") == 0) set_if_unset(&o->key, value);
	else if (strcmp(name, "from") == 0) set_if_unset(&o->acct_from, value);
	else if (strcmp(name, "auth") == 0) {
		if (!o->auth_set && send_parse_auth(value, &o->scram_only) != 0) {
			fprintf(stderr, "mailport send: %s:%d: auth must be any or scram\n", a->file, a->line);
			a->errors++;
		}
	} else if (strcmp(name, "tls") == 0) {
		if (!o->tls_set) {
			if (send_parse_tls_mode(value, &o->tls) != 0) {
				fprintf(stderr, "mailport send: %s:%d: tls must be auto, implicit, starttls or none\n", a->file, a->line);
				a->errors++;
			}
		}
	} else {
		fprintf(stderr, "mailport send: %s:%d: unknown key \"%s\" in [%s]\n", a->file, a->line, name, section);
		a->errors++;
	}
	return 1;
}

/* Returns 0, or EX_CONFIG after printing every error as file:line. */
int send_load_account(struct send_opts *o)
{
	char home[1024] = "";
	const char *candidates[3];
	size_t n = 0;
	struct acct_ctx a = { o, o->account, NULL, 0, 0, 0, 0, NULL };

	if (o->config)
		candidates[n++] = o->config;
	else {
		if (getenv("HOME")) {
			snprintf(home, sizeof(home), "%s/.config/mailport/send.conf", getenv("HOME"));
			candidates[n++] = home;
		}
		candidates[n++] = "/etc/mailport/send.conf";
	}
	for (size_t i = 0; i < n; i++) {
		a.fp = fopen(candidates[i], "r");
		if (a.fp == NULL) {
			if (o->config) {
				send_say("cannot read %s: %s", o->config, strerror(errno));
				return EX_CONFIG;
			}
			continue;
		}
		a.file = candidates[i];
		int r = ini_parse_stream(acct_reader, &a, acct_handler, &a);
		fclose(a.fp);
		if (r > 0) {
			fprintf(stderr, "mailport send: %s:%d: syntax error\n", a.file, r);
			a.errors++;
		}
		if (a.errors)
			return EX_CONFIG;
		if (o->account && !a.found) {
			send_say("%s has no [account %s]", a.file, o->account);
			return EX_CONFIG;
		}
		return 0;
	}
	if (o->account) {
		send_say("--account %s given, but no account file (~/.config/mailport/send.conf or /etc/mailport/send.conf)",
		    o->account);
		return EX_CONFIG;
	}
	return 0;
}

char *send_get_password(const struct send_opts *o)
{
	char *pw = NULL;

	if (o->password_file) {
		pw = secret_read_file("mailport send", o->password_file);
		if (pw == NULL) {
			send_say("cannot read password_file %s: %s", o->password_file, strerror(errno));
			return NULL;
		}
		return pw;
	} else if (o->password_command) {
		FILE *p = popen(o->password_command, "r");
		char buf[1024];
		if (p == NULL || fgets(buf, sizeof(buf), p) == NULL) {
			send_say("password_command gave no password");
			if (p)
				pclose(p);
			return NULL;
		}
		pclose(p);
		pw = strdup(buf);
		explicit_bzero(buf, sizeof(buf));
	}
	if (pw)
		pw[strcspn(pw, "\r\n")] = '\0';
	return pw;
}

int send_parse_auth(const char *v, int *scram_only)
{
	if (strcmp(v, "any") == 0 || strcmp(v, "scram") == 0) {
		*scram_only = v[0] == 's';
		return 0;
	}
	return -1;
}
