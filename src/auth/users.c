/*
 * users.c - load the users file into a sorted index of addresses and aliases.
 * Not password verification (that needs libxcrypt and belongs to the AUTH code).
 */
#include "users.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../smtp/parse.h"
#include "../sasl/scram.h"
#include "../util/fsutil.h"

#define USERS_FILE_MAX (64u * 1024 * 1024)

struct key {
	char *key;          /* lower case address or alias */
	size_t user;        /* index into users */
	int line;
};

struct users {
	struct user *users;
	size_t nusers;
	struct key *keys;
	size_t nkeys;
	unsigned md5_users;             /* mailboxes with an MD5-crypt hash */
	char md5_list[1400];            /* the first five of them */
};

static char *lower_dup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = (char)tolower((unsigned char)s[i]);
	d[n] = '\0';
	return d;
}

/* An address in the users file: local@domain, no brackets, no quotes, nothing a Maildir path
 * expansion could turn into a traversal. */
static int address_ok(const char *s, size_t n)
{
	struct smtp_path p;
	size_t used;

	if (n == 0 || memchr(s, '/', n) || memchr(s, '"', n))
		return 0;
	if (smtp_parse_path(s, n, SMTP_PATH_UTF8, &p, &used) != SMTP_PATH_OK || used != n)
		return 0;
	return !p.is_literal && !(p.local_len == 1 && p.local[0] == '.') &&
	       !(p.local_len == 2 && memcmp(p.local, "..", 2) == 0);
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct key *)a)->key, ((const struct key *)b)->key);
}

static int add_key(struct users *u, char *key, size_t user, int line)
{
	struct key *nk = realloc(u->keys, (u->nkeys + 1) * sizeof(*nk));

	if (nk == NULL)
		return -1;
	u->keys = nk;
	u->keys[u->nkeys].key = key;
	u->keys[u->nkeys].user = user;
	u->keys[u->nkeys].line = line;
	u->nkeys++;
	return 0;
}

struct users *users_load(const char *path, struct errlist *errs)
{
	size_t len;
	char *buf = fs_read_file(path, USERS_FILE_MAX, &len, FS_REGULAR);

	if (buf == NULL) {
		errlist_add(errs, path, 0, "cannot read users file: %s", errno == EINVAL ? "not a regular file" : strerror(errno));
		return NULL;
	}
	return users_parse(path, buf, errs);
}

/* Splits line at its first three colons into f[0..3]; returns how many fields there are. */
static int split_fields(char *line, char *f[4])
{
	int nf = 0;

	for (char *p = line; nf < 4; ) {
		f[nf++] = p;
		if (nf == 4)
			break;
		p = strchr(p, ':');
		if (p == NULL)
			break;
		*p++ = '\0';
	}
	return nf;
}

/* The fourth field's options (opts may be NULL) into usr's app_only, has_scram, cert and scram;
 * -1 after adding an error for an option it does not know. */
static int parse_options(char *opts, struct user *usr, const char *path, int lineno, struct errlist *errs)
{
	usr->app_only = 0;
	usr->has_scram = 0;
	usr->cert = USER_CERT_NO;
	memset(&usr->scram, 0, sizeof(usr->scram));
	for (char *sv = NULL, *o = opts ? strtok_r(opts, " \t", &sv) : NULL; o != NULL;
	     o = strtok_r(NULL, " \t", &sv)) {
		if (strcmp(o, "login=app-passwords") == 0)
			usr->app_only = 1;
		else if (strcmp(o, "login=any") == 0)
			usr->app_only = 0;
		else if (strncmp(o, "scram=", 6) == 0 && scram_creds_parse(o + 6, &usr->scram) == 0)
			usr->has_scram = 1;
		else if (strcmp(o, "auth=password") == 0)
			usr->cert = USER_CERT_NO;
		else if (strcmp(o, "auth=certificate") == 0)
			usr->cert = USER_CERT_ONLY;
		else if (strcmp(o, "auth=certificate+password") == 0)
			usr->cert = USER_CERT_AND_PASSWORD;
		else {
			errlist_add(errs, path, lineno, "\"%.40s\": the fourth field holds login=app-passwords (only app "
			            "passwords log in), login=any, scram=... (from mailport passwd --scram), and "
			            "auth=password, auth=certificate or auth=certificate+password", o);
			return -1;
		}
	}
	return 0;
}

/* A crypt(3) hash we accept (or none: "", "!", "*"); DES-crypt is refused. -1 after an error. */
static int hash_ok(const char *hash, const char *path, int lineno, struct errlist *errs)
{
	if (strlen(hash) == 13 && strspn(hash, "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == 13) {
		errlist_add(errs, path, lineno, "a DES-crypt hash: it keeps only 8 characters of the password and is "
		            "cracked in hours; set a new password with mailport passwd");
		return -1;
	}
	if (*hash != '\0' && *hash != '!' && *hash != '*' && *hash != '$') {
		errlist_add(errs, path, lineno, "password must be a crypt(3) hash (see mailport passwd)");
		return -1;
	}
	return 0;
}

/* Counts an MD5-crypt hash, naming the first five mailboxes that have one. */
static void note_md5(struct users *u, const char *hash, const char *address)
{
	if (strncmp(hash, "$1$", 3) == 0 && u->md5_users < 5)
		snprintf(u->md5_list + strlen(u->md5_list), sizeof(u->md5_list) - strlen(u->md5_list), "%s%s",
		         u->md5_users++ ? ", " : "", address);
	else if (strncmp(hash, "$1$", 3) == 0)
		u->md5_users++;
}

/* A mailbox from tmpl (its options) with address and hash, and its address as a key; -1 when
 * out of memory. *idx: its index in u->users. */
static int add_user(struct users *u, const struct user *tmpl, const char *address, const char *hash, int lineno,
                    size_t *idx)
{
	struct user *nu = realloc(u->users, (u->nusers + 1) * sizeof(*nu));
	if (nu == NULL)
		return -1;
	u->users = nu;
	struct user *usr = &u->users[u->nusers];
	*usr = *tmpl;
	usr->address = lower_dup(address, strlen(address));
	usr->hash = strdup(hash);
	if (usr->address == NULL || usr->hash == NULL) {
		free(usr->address);
		free(usr->hash);
		return -1;
	}
	*idx = u->nusers++;
	char *k = strdup(usr->address);
	if (k == NULL || add_key(u, k, *idx, lineno) < 0) {
		free(k);
		return -1;
	}
	return 0;
}

/* The third field: aliases of user idx, separated by commas or spaces. -1 when out of memory. */
static int add_aliases(struct users *u, const char *aliases, size_t idx, const char *path, int lineno,
                       struct errlist *errs)
{
	char *k;

	for (const char *a = aliases; a && *a; ) {
		size_t alen;
		while (*a == ',' || *a == ' ')
			a++;
		alen = strcspn(a, ", ");
		if (alen == 0)
			break;
		if (!address_ok(a, alen))
			errlist_add(errs, path, lineno, "alias \"%.*s\" is not a valid address", (int)alen, a);
		else if ((k = lower_dup(a, alen)) == NULL || add_key(u, k, idx, lineno) < 0) {
			free(k);
			return -1;
		}
		a += alen;
	}
	return 0;
}

/* One line of the file (comments and blank lines included): 0, or -1 when out of memory. */
static int parse_line(struct users *u, char *line, const char *path, int lineno, struct errlist *errs)
{
	char *f[4] = { NULL, NULL, NULL, NULL };
	int nf;
	struct user tmpl;
	size_t idx;

	line[strcspn(line, "\r")] = '\0';
	while (*line == ' ' || *line == '\t')
		line++;
	if (*line == '\0' || *line == '#')
		return 0;
	nf = split_fields(line, f);
	if (nf < 2) {
		errlist_add(errs, path, lineno, "expected address:crypt-hash[:alias,...[:login=...]]");
		return 0;
	}
	memset(&tmpl, 0, sizeof(tmpl));
	if (parse_options(nf == 4 ? f[3] : NULL, &tmpl, path, lineno, errs) < 0)
		return 0;
	if (!address_ok(f[0], strlen(f[0]))) {
		errlist_add(errs, path, lineno, "\"%s\" is not a valid address", f[0]);
		return 0;
	}
	if (hash_ok(f[1], path, lineno, errs) < 0)
		return 0;
	note_md5(u, f[1], f[0]);
	if (add_user(u, &tmpl, f[0], f[1], lineno, &idx) < 0)
		return -1;
	return nf >= 3 ? add_aliases(u, f[2], idx, path, lineno, errs) : 0;
}

/* An address or alias given twice is an error at the later of its lines. */
static void check_twice(struct users *u, const char *path, struct errlist *errs)
{
	if (u->nkeys > 0)
		qsort(u->keys, u->nkeys, sizeof(*u->keys), key_cmp);
	for (size_t i = 1; i < u->nkeys; i++)
		if (strcmp(u->keys[i - 1].key, u->keys[i].key) == 0)
			errlist_add(errs, path, u->keys[i].line > u->keys[i - 1].line ? u->keys[i].line : u->keys[i - 1].line,
			            "\"%s\" is listed twice (first on line %d)", u->keys[i].key,
			            u->keys[i].line < u->keys[i - 1].line ? u->keys[i].line : u->keys[i - 1].line);
}

struct users *users_parse(const char *path, char *buf, struct errlist *errs)
{
	struct users *u = calloc(1, sizeof(*u));
	size_t nerr0 = errs->n;
	char *line, *next;
	int lineno = 0;

	if (u == NULL) {
		free(buf);
		return NULL;
	}
	for (line = buf; line != NULL && *line; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (parse_line(u, line, path, lineno, errs) < 0)
			goto oom;
	}
	check_twice(u, path, errs);
	free(buf);
	if (errs->n > nerr0) {
		users_free(u);
		return NULL;
	}
	size_t ml = strlen(u->md5_list);
	if (u->md5_users > 5 && ml + 5 < sizeof(u->md5_list))
		memcpy(u->md5_list + ml, " ...", 5);
	return u;
oom:
	errlist_add(errs, path, lineno, "out of memory");
	free(buf);
	users_free(u);
	return NULL;
}

void users_free(struct users *u)
{
	if (u == NULL)
		return;
	for (size_t i = 0; i < u->nusers; i++) {
		free(u->users[i].address);
		free(u->users[i].hash);
	}
	for (size_t i = 0; i < u->nkeys; i++)
		free(u->keys[i].key);
	free(u->users);
	free(u->keys);
	free(u);
}

const struct user *users_lookup(const struct users *u, const char *addr, size_t len)
{
	char buf[SMTP_ADDR_MAX + 1];
	struct key k = { .key = buf }, *hit;

	if (len > SMTP_ADDR_MAX || u->nkeys == 0)
		return NULL;
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)tolower((unsigned char)addr[i]);
	buf[len] = '\0';
	hit = bsearch(&k, u->keys, u->nkeys, sizeof(*u->keys), key_cmp);
	return hit ? &u->users[hit->user] : NULL;
}

const struct user *users_resolve(const struct users *u, const char *addr, char delim)
{
	const struct user *usr = users_lookup(u, addr, strlen(addr));
	const char *at = strrchr(addr, '@'), *tag;

	if (usr == NULL && at != NULL && delim != '\0' &&
	    (tag = memchr(addr, delim, (size_t)(at - addr))) != NULL && tag != addr) {
		char base[SMTP_ADDR_MAX + 1];
		int n = snprintf(base, sizeof(base), "%.*s%s", (int)(tag - addr), addr, at);
		if (n > 0 && (size_t)n < sizeof(base))
			usr = users_lookup(u, base, (size_t)n);
	}
	return usr;
}

unsigned users_weak_hashes(const struct users *u, const char **list)
{
	*list = u->md5_list;
	return u->md5_users;
}

size_t users_count(const struct users *u)
{
	return u->nusers;
}
