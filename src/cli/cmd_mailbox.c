/*
 * cmd_mailbox.c - mailboxes added, given a new password, deleted and listed in the directory the
 * configuration names (cmd_mailbox.h). In PostgreSQL: one statement each, which every node sees at
 * once (LISTEN/NOTIFY). In the users file: the file rewritten whole and durably (temp, fsync,
 * rename, fsync of the directory), other lines and comments kept; the server reads it at its
 * next reload (SIGHUP).
 */
#include "cmd_mailbox.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "../auth/auth.h"
#include "../auth/pgdir.h"
#include "../conf/config.h"
#include "../util/errlist.h"
#include "../util/fsutil.h"
#include "secret.h"

#define PROG "mailport user"

static int address_ok(const char *a)
{
	const char *at = strchr(a, '@');

	if (at == NULL || at == a || at[1] == '\0' || strchr(at + 1, '@') != NULL || strlen(a) > 254)
		return 0;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == ':' || *p == ',' || *p == 0x7f)
			return 0;
	return 1;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* ---- policy words ----------------------------------------------------------------------------
 * `mailport user policy ADDRESS auth=... login=...`: the users file's OPTION words (users.h),
 * the same in both backends. */

static int policy_word_ok(const char *w)
{
	static const char *const ok[] = { "auth=password", "auth=certificate", "auth=certificate+password",
	                                  "login=any", "login=app-passwords" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(w, ok[i]) == 0)
			return 1;
	return 0;
}

/* "auth=X login=Y" (either, both, any order) into their values. */
static void policy_words(const char *words, char *auth, size_t alen, char *login, size_t llen)
{
	char buf[128], *sv = NULL;

	snprintf(buf, sizeof(buf), "%s", words);
	for (char *t = strtok_r(buf, " ", &sv); t != NULL; t = strtok_r(NULL, " ", &sv)) {
		if (strncmp(t, "auth=", 5) == 0)
			snprintf(auth, alen, "%s", t + 5);
		else if (strncmp(t, "login=", 6) == 0)
			snprintf(login, llen, "%s", t + 6);
	}
}

/* The users-file line addr:hash[:aliases[:options]] with words in place of its auth= and
 * login= options, into out; its length. */
static size_t policy_line(char *out, size_t cap, const char *line, size_t ll, const char *words)
{
	const char *f[4] = { line, NULL, NULL, NULL }, *end = line + ll;
	size_t flen[4] = { 0 }, nf = 1, n;
	char auth[32] = "", login[32] = "";

	for (const char *p = line; p < end && nf < 4; p++)
		if (*p == ':')
			f[nf++] = p + 1;
	for (size_t i = 0; i < nf; i++)
		flen[i] = (size_t)((i + 1 < nf ? f[i + 1] - 1 : end) - f[i]);
	policy_words(words, auth, sizeof(auth), login, sizeof(login));
	n = (size_t)snprintf(out, cap, "%.*s:%.*s:%.*s:", (int)flen[0], f[0], (int)flen[1], f[1] ? f[1] : "",
	                     (int)flen[2], f[2] ? f[2] : "");
	/* the options it had, but the ones replaced */
	for (const char *p = f[3]; p != NULL && p < end;) {
		size_t wl = strcspn(p, " \n");
		if (p + wl > end)
			wl = (size_t)(end - p);
		int replaced = (auth[0] && strncmp(p, "auth=", 5) == 0) || (login[0] && strncmp(p, "login=", 6) == 0);
		if (wl > 0 && !replaced)
			n += (size_t)snprintf(out + n, cap - n, "%s%.*s", out[n - 1] == ':' ? "" : " ", (int)wl, p);
		p += wl + 1;
	}
	if (auth[0])
		n += (size_t)snprintf(out + n, cap - n, "%sauth=%s", out[n - 1] == ':' ? "" : " ", auth);
	if (login[0])
		n += (size_t)snprintf(out + n, cap - n, "%slogin=%s", out[n - 1] == ':' ? "" : " ", login);
	out[n++] = '\n';
	return n;
}

/* ---- PostgreSQL ------------------------------------------------------------------------------ */

int mailbox_sql(const struct config *c, const char *sql, const char *const *p, int n, long *rows, char *out,
                size_t outlen)
{
	if (pgdir_admin(c->pg_conninfo, c->pg_password, sql, p, n, out, outlen, rows) < 0) {
		fprintf(stderr, PROG ": PostgreSQL: %s\n", out);
		return EX_TEMPFAIL;
	}
	return 0;
}

static int pg_main(const struct config *c, const char *verb, const char *addr, const char *hash, const char *aliases)
{
	char out[65536];
	long rows = 0;
	int r;

	if (strcmp(verb, "list") == 0) {
		r = mailbox_sql(c, "SELECT m.address || coalesce(' (aliases: ' || string_agg(a.alias, ', ' ORDER BY a.alias) || ')', '')"
		              " FROM mailport_mailboxes m LEFT JOIN mailport_aliases a ON a.mailbox = m.address"
		              " GROUP BY m.address ORDER BY m.address", NULL, 0, &rows, out, sizeof(out));
		if (r == 0)
			fputs(out, stdout);
		return r;
	}
	/* delete, passwd, policy: one statement on the one row of addr */
	const char *sql = NULL, *done = NULL, *p[3] = { addr, NULL, NULL };
	char auth[32] = "", login[32] = "";
	int np = 1;
	if (strcmp(verb, "delete") == 0) {
		sql = "DELETE FROM mailport_mailboxes WHERE address = $1";
		done = "deleted %s (and its aliases and app passwords)\n";
	} else if (strcmp(verb, "passwd") == 0) {
		sql = "UPDATE mailport_mailboxes SET hash = $2 WHERE address = $1";
		p[1] = hash;
		np = 2;
		done = "new password for %s\n";
	} else if (strcmp(verb, "policy") == 0) {
		/* hash carries the words: "auth=X" and/or "login=Y" */
		policy_words(hash, auth, sizeof(auth), login, sizeof(login));
		sql = "UPDATE mailport_mailboxes SET auth = coalesce($2, auth), login = coalesce($3, login) WHERE address = $1";
		p[1] = auth[0] ? auth : NULL;
		p[2] = login[0] ? login : NULL;
		np = 3;
		done = "%s now has %s\n";
	}
	if (sql != NULL) {
		if ((r = mailbox_sql(c, sql, p, np, &rows, out, sizeof(out))) != 0)
			return r;
		if (rows == 0) {
			fprintf(stderr, PROG ": no mailbox %s\n", addr);
			return 1;
		}
		printf(done, addr, hash);
		return 0;
	}
	/* add: the mailbox and its aliases in one statement, so a half-added mailbox never shows */
	p[1] = hash;
	p[2] = aliases ? aliases : "";
	r = mailbox_sql(c, "WITH m AS (INSERT INTO mailport_mailboxes (address, hash) VALUES ($1, $2) RETURNING address)"
	              " INSERT INTO mailport_aliases (alias, mailbox) SELECT a, m.address FROM m,"
	              " unnest(string_to_array(nullif($3, ''), ',')) AS a", p, 3, &rows, out, sizeof(out));
	if (r == 0)
		printf("added %s%s%s\n", addr, aliases ? " with aliases " : "", aliases ? aliases : "");
	return r;
}

/* ---- the users file -------------------------------------------------------------------------- */

/* Is line (up to its end) the mailbox addr's? */
static int line_is(const char *line, size_t len, const char *addr)
{
	const char *colon = memchr(line, ':', len);
	size_t al = strlen(addr);

	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	return colon != NULL && (size_t)(colon - line) == al && strncasecmp(line, addr, al) == 0;
}

static int file_main(const struct config *c, const char *verb, const char *addr, const char *hash, const char *aliases)
{
	size_t len = 0;
	char *buf = fs_read_file(c->users, 16 << 20, &len, FS_REGULAR);
	struct stat st;

	if (buf == NULL || stat(c->users, &st) < 0) {
		fprintf(stderr, PROG ": cannot read %s\n", c->users);
		free(buf);
		return EX_NOINPUT;
	}
	size_t cap = len + strlen(addr) + (hash ? strlen(hash) : 0) + (aliases ? strlen(aliases) : 0) + 64;
	char *out = malloc(cap);
	size_t n = 0;
	int found = 0;
	if (out == NULL) {
		free(buf);
		return EX_OSERR;
	}
	for (char *line = buf; line < buf + len;) {
		char *nl = memchr(line, '\n', (size_t)(buf + len - line));
		size_t ll = nl ? (size_t)(nl - line) : (size_t)(buf + len - line);
		int mine = line[0] != '#' && line_is(line, ll, addr);
		found |= mine;
		if (strcmp(verb, "list") == 0 && line[0] != '#' && memchr(line, ':', ll) != NULL)
			printf("%.*s\n", (int)strcspn(line, ":"), line);
		if (mine && strcmp(verb, "policy") == 0) {
			n += policy_line(out + n, cap - n, line, ll, hash);
		} else if (mine && strcmp(verb, "passwd") == 0) {
			const char *rest = memchr(line, ':', ll);
			rest = memchr(rest + 1, ':', (size_t)(line + ll - rest - 1));
			n += (size_t)snprintf(out + n, cap - n, "%s:%s%.*s\n", addr, hash, rest ? (int)(line + ll - rest) : 0,
			                      rest ? rest : "");
		} else if (!(mine && strcmp(verb, "delete") == 0)) {
			memcpy(out + n, line, ll);
			n += ll;
			out[n++] = '\n';
		}
		line += ll + 1;
	}
	int r = 0;
	if (strcmp(verb, "list") == 0)
		goto done;
	if (strcmp(verb, "add") == 0 && found) {
		fprintf(stderr, PROG ": %s is already a mailbox in %s\n", addr, c->users);
		r = 1;
		goto done;
	}
	if (strcmp(verb, "add") != 0 && !found) {
		fprintf(stderr, PROG ": no mailbox %s in %s\n", addr, c->users);
		r = 1;
		goto done;
	}
	if (strcmp(verb, "add") == 0)
		n += (size_t)snprintf(out + n, cap - n, "%s:%s%s%s\n", addr, hash, aliases ? ":" : "", aliases ? aliases : "");
	/* the same mode; the owner stays (rename keeps the new file ours: give it back as it was) */
	if (fs_write_file_durable(c->users, out, n, st.st_mode & 07777) < 0 ||
	    (chown(c->users, st.st_uid, st.st_gid) < 0 && geteuid() == 0)) {
		fprintf(stderr, PROG ": cannot write %s\n", c->users);
		r = EX_CANTCREAT;
		goto done;
	}
	printf("%s %s%s%s in %s; the server reads it at its next reload (systemctl reload mailport)\n",
	       strcmp(verb, "add") == 0 ? "added" : strcmp(verb, "delete") == 0 ? "deleted" :
	       strcmp(verb, "policy") == 0 ? "set" : "new password for", strcmp(verb, "policy") == 0 ? hash : addr,
	       strcmp(verb, "policy") == 0 ? " for " : "", strcmp(verb, "policy") == 0 ? addr : "", c->users);
done:
	explicit_bzero(buf, len);
	free(buf);
	explicit_bzero(out, cap);
	free(out);
	return r;
}

int mailbox_main(const char *config, int n, char **a, const char *aliases, int allow_weak)
{
	const char *verb = a[0];
	char addr[256] = "", pw[1024], al[2048] = "";
	char *hash = NULL;
	struct errlist errs = { 0 };
	int r;

	int policy = strcmp(verb, "policy") == 0;
	char words[128] = "";
	if ((strcmp(verb, "list") == 0) != (n == 1) || (policy ? n < 3 || n > 4 : n > 2)) {
		fprintf(stderr, "usage: mailport user add|passwd|delete ADDRESS | list | policy ADDRESS auth=...|login=... "
		        "[--config FILE]\n");
		return EX_USAGE;
	}
	for (int i = 2; policy && i < n; i++) {
		if (!policy_word_ok(a[i])) {
			fprintf(stderr, PROG ": \"%s\": expected auth=password, auth=certificate, auth=certificate+password, "
			        "login=any or login=app-passwords\n", a[i]);
			return EX_USAGE;
		}
		snprintf(words + strlen(words), sizeof(words) - strlen(words), "%s%s", words[0] ? " " : "", a[i]);
	}
	if (n >= 2) {
		if (!address_ok(a[1])) {
			fprintf(stderr, PROG ": \"%s\" is not a mailbox address\n", a[1]);
			return EX_DATAERR;
		}
		snprintf(addr, sizeof(addr), "%s", a[1]);
		lower(addr);
	}
	if (aliases != NULL) {
		snprintf(al, sizeof(al), "%s", aliases);
		lower(al);
		for (char *sv = NULL, *t = strtok_r(al, ",", &sv); t; t = strtok_r(NULL, ",", &sv))
			if (!address_ok(t)) {
				fprintf(stderr, PROG ": alias \"%s\" is not an address\n", t);
				return EX_DATAERR;
			}
		snprintf(al, sizeof(al), "%s", aliases);
		lower(al);
	}
	struct config *c = config_load(config, &errs);
	if (c == NULL) {
		errlist_print(&errs, stderr);
		errlist_free(&errs);
		return EX_CONFIG;
	}
	int pg = strcmp(c->dir_backend, "postgresql") == 0 && c->pg_conninfo != NULL;
	if (!pg && c->users == NULL) {
		fprintf(stderr, PROG ": %s names neither a users file nor a PostgreSQL directory\n", config);
		config_free(c);
		return EX_CONFIG;
	}
	if (strcmp(verb, "add") == 0 || strcmp(verb, "passwd") == 0) {
		if ((r = secret_new_password(PROG, addr, allow_weak, pw, sizeof(pw))) != 0) {
			config_free(c);
			return r;
		}
		hash = auth_hash_password(pw);
		explicit_bzero(pw, sizeof(pw));
		if (hash == NULL) {
			config_free(c);
			fprintf(stderr, PROG ": hashing failed\n");
			return EX_SOFTWARE;
		}
	}
	const char *h = policy ? words : hash;
	r = pg ? pg_main(c, verb, addr, h, aliases ? al : NULL) : file_main(c, verb, addr, h, aliases ? al : NULL);
	free(hash);
	config_free(c);
	return r;
}
