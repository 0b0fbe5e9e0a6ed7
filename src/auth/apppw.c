/*
 * apppw.c - the app-password store (apppw.h): parsing it, generating passwords, rewriting it
 * durably, and the last-use notes. Not verification (directory.c asks auth.c to check a hash)
 * and not the command line (cli/cmd_user.c).
 */
#include "apppw.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fsutil.h"

#define STORE_MAX (4 * 1024 * 1024)

/* 31 symbols: no 0/o, 1/l/i, so it can be read out and typed on a phone. */
static const char alphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";

struct apppw {
	_Atomic int refs;
	struct apppw_entry *e;
	size_t n;
};

struct apppw *apppw_ref(struct apppw *t)
{
	if (t != NULL)
		t->refs++;
	return t;
}

static void destroy(struct apppw *t)
{
	for (size_t i = 0; i < t->n; i++) {
		if (t->e[i].hash != NULL)
			explicit_bzero(t->e[i].hash, strlen(t->e[i].hash));
		free(t->e[i].hash);
	}
	free(t->e);
	free(t);
}

void apppw_unref(struct apppw *t)
{
	if (t != NULL && --t->refs == 0)
		destroy(t);
}

size_t apppw_count(const struct apppw *t) { return t ? t->n : 0; }

const struct apppw_entry *apppw_entry(const struct apppw *t, size_t i) { return i < t->n ? &t->e[i] : NULL; }

static int in_alphabet(int c) { return c != '\0' && strchr(alphabet, c) != NULL; }

/* One line: address:id:created:hash:label. */
static int parse_line(char *line, struct apppw_entry *e)
{
	char *f[5];
	size_t nf = 0;

	for (char *p = line; nf < 5;) {
		f[nf++] = p;
		if (nf == 5 || (p = strchr(p, ':')) == NULL)
			break;
		*p++ = '\0';
	}
	if (nf != 5 || strchr(f[0], '@') == NULL || strlen(f[0]) >= sizeof(e->address) || strlen(f[1]) != APPPW_ID_LEN ||
	    f[3][0] != '$' || strlen(f[4]) >= sizeof(e->label))
		return -1;
	for (size_t i = 0; i < APPPW_ID_LEN; i++)
		if (!in_alphabet(f[1][i]))
			return -1;
	char *end;
	long long created = strtoll(f[2], &end, 10);
	if (*end != '\0' || end == f[2])
		return -1;
	memset(e, 0, sizeof(*e));
	for (size_t i = 0; f[0][i]; i++)
		e->address[i] = (char)tolower((unsigned char)f[0][i]);
	memcpy(e->id, f[1], APPPW_ID_LEN + 1);
	e->created = created;
	snprintf(e->label, sizeof(e->label), "%s", f[4]);
	return (e->hash = strdup(f[3])) != NULL ? 0 : -1;
}

struct apppw *apppw_load(const char *path, struct errlist *errs)
{
	size_t len = 0;
	char *buf = fs_read_file(path, STORE_MAX, &len, FS_REGULAR);

	if (buf == NULL) {
		if (errno == ENOENT)
			return apppw_parse(path, NULL, 0, errs);       /* none made yet */
		errlist_add(errs, path, 0, "cannot read the app passwords: %s", strerror(errno));
		return NULL;
	}
	return apppw_parse(path, buf, len, errs);
}

struct apppw *apppw_parse(const char *path, char *buf, size_t len, struct errlist *errs)
{
	struct apppw *t = calloc(1, sizeof(*t));
	size_t nerr0 = errs->n;
	unsigned lineno = 0;

	if (t == NULL) {
		if (buf != NULL)
			explicit_bzero(buf, len);
		free(buf);
		return NULL;
	}
	t->refs = 1;
	if (buf == NULL)
		return t;
	for (char *line = buf, *next; line != NULL && *line; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		struct apppw_entry *ne = realloc(t->e, (t->n + 1) * sizeof(*ne));
		if (ne == NULL) {
			errlist_add(errs, path, (int)lineno, "out of memory");
			break;
		}
		t->e = ne;
		if (parse_line(line, &t->e[t->n]) < 0) {
			errlist_add(errs, path, (int)lineno, "expected address:id:created:hash:label (written by mailport user "
			            "app-password; do not edit by hand)");
			continue;
		}
		t->e[t->n++].line = lineno;
	}
	explicit_bzero(buf, len);
	free(buf);
	for (size_t i = 0; i < t->n; i++)
		for (size_t k = i + 1; k < t->n; k++)
			if (strcmp(t->e[i].address, t->e[k].address) == 0 && strcmp(t->e[i].id, t->e[k].id) == 0)
				errlist_add(errs, path, (int)t->e[k].line, "app password %s of %s is listed twice", t->e[k].id,
				            t->e[k].address);
	if (errs->n > nerr0) {
		destroy(t);
		return NULL;
	}
	return t;
}

int apppw_normalize(const char *password, char *out)
{
	size_t n = 0;

	for (const char *p = password; *p; p++) {
		int c = tolower((unsigned char)*p);
		if (c == '-' || c == ' ')
			continue;
		if (!in_alphabet(c) || n >= APPPW_LEN)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return n == APPPW_LEN ? 0 : -1;
}

const struct apppw_entry *apppw_find(const struct apppw *t, const char *address, const char *np)
{
	for (size_t i = 0; t != NULL && i < t->n; i++)
		if (strncmp(t->e[i].id, np, APPPW_ID_LEN) == 0 && strcasecmp(t->e[i].address, address) == 0)
			return &t->e[i];
	return NULL;
}

int apppw_generate(char *pw, char *display)
{
	unsigned char r[APPPW_LEN];
	size_t got = 0;

	for (size_t i = 0; i < APPPW_LEN;) {
		if (got == 0 || got >= sizeof(r)) {
			if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
				return -1;
			got = 0;
		}
		unsigned char b = r[got++];
		if (b >= 248)                   /* 248 = 8 * 31: no bias */
			continue;
		pw[i++] = alphabet[b % 31];
	}
	pw[APPPW_LEN] = '\0';
	size_t o = 0;
	for (size_t i = 0; i < APPPW_LEN; i++) {
		if (i > 0 && i % 4 == 0)
			display[o++] = '-';
		display[o++] = pw[i];
	}
	display[o] = '\0';
	explicit_bzero(r, sizeof(r));
	return 0;
}

int apppw_store(const char *path, const struct apppw_entry *e, size_t n, uid_t uid, gid_t gid)
{
	size_t cap = 128 + n * 512, len = 0;
	char *buf = malloc(cap);
	int r = -1;

	if (buf == NULL)
		return -1;
	len += (size_t)snprintf(buf, cap, "# mailport app passwords: address:id:created:hash:label (mailport user "
	                        "app-password)\n");
	for (size_t i = 0; i < n && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s:%s:%lld:%s:%s\n", e[i].address, e[i].id, e[i].created,
		                        e[i].hash, e[i].label);
	if (len < cap && fs_write_file_durable(path, buf, len, 0600) == 0 &&
	    (uid == (uid_t)-1 || chown(path, uid, gid) == 0))
		r = 0;
	explicit_bzero(buf, cap);
	free(buf);
	return r;
}

static void use_path(char *out, size_t outlen, const char *dir, const char *address, const char *id)
{
	size_t o = (size_t)snprintf(out, outlen, "%s/", dir);

	/* the address as a file name: nothing but what addresses are usually made of */
	for (const char *p = address; *p && o + 1 < outlen; p++)
		out[o++] = isalnum((unsigned char)*p) || strchr("@.-_+", *p) ? *p : '_';
	snprintf(out + o, outlen - o, ".%s", id);
}

int apppw_note_use(const char *dir, const char *address, const char *id, long long when, const char *ip)
{
	char path[4200], text[128];

	if (fs_mkdir_p(dir, 0700) < 0)
		return -1;
	use_path(path, sizeof(path), dir, address, id);
	int n = snprintf(text, sizeof(text), "%lld %s\n", when, ip);
	return fs_write_file_durable(path, text, (size_t)n, 0600);
}

int apppw_last_use(const char *dir, const char *address, const char *id, long long *when, char *ip, size_t iplen)
{
	char path[4200], text[128];
	size_t len = 0;

	use_path(path, sizeof(path), dir, address, id);
	char *buf = fs_read_file(path, 127, &len, FS_REGULAR);
	if (buf == NULL)
		return -1;
	snprintf(text, sizeof(text), "%s", buf);
	free(buf);
	char *sp = strchr(text, ' ');
	if (sp == NULL)
		return -1;
	*when = strtoll(text, NULL, 10);
	snprintf(ip, iplen, "%.*s", (int)strcspn(sp + 1, "\n"), sp + 1);
	return 0;
}
