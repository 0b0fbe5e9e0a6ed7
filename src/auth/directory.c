/*
 * directory.c - the directory (directory.h) over its backends. Each backend is a table of
 * four functions over its own state; the file backend is the users file with crypt(3) hashes.
 * Not the throttle or the credentials cache: those sit in front of any backend (auth.h,
 * authcache.h).
 */
#include "directory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "auth.h"
#include "users.h"

struct dir_backend {
	enum dir_result (*mailbox)(const void *be, const char *addr, char delim, char *out, size_t outlen);
	int (*verify)(const void *be, const char *authzid, const char *user, const char *password);
	size_t (*count)(const void *be);
	void (*free)(void *be);
};

struct directory {
	const struct dir_backend *ops;
	void *be;
};

/* ---- the users file ------------------------------------------------------------------------ */

static enum dir_result file_mailbox(const void *be, const char *addr, char delim, char *out, size_t outlen)
{
	const struct user *u = users_resolve(be, addr, delim);

	if (u == NULL)
		return DIR_NONE;
	snprintf(out, outlen, "%s", u->address);
	return DIR_FOUND;
}

static int file_verify(const void *be, const char *authzid, const char *user, const char *password)
{
	return auth_verify(be, authzid, user, password);
}

static size_t file_count(const void *be)
{
	return users_count(be);
}

static void file_free(void *be)
{
	users_free(be);
}

static const struct dir_backend file_backend = { file_mailbox, file_verify, file_count, file_free };

/* ---- the interface ------------------------------------------------------------------------- */

struct directory *directory_open(const struct directory_conf *dc, struct errlist *errs)
{
	struct directory *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->ops = &file_backend;
	if ((d->be = users_load(dc->users_file, errs)) == NULL) {
		free(d);
		return NULL;
	}
	const char *list;
	unsigned md5 = users_weak_hashes(d->be, &list);
	if (md5 > 0 && !dc->quiet)
		log_warnx(NULL, "%s: %u mailbox%s MD5-crypt hashes, which a graphics card tries billions a second against: "
		          "%s; set new passwords with mailport passwd (yescrypt)", dc->users_file, md5,
		          md5 == 1 ? " has" : "es have", list);
	return d;
}

void directory_free(struct directory *d)
{
	if (d == NULL)
		return;
	d->ops->free(d->be);
	free(d);
}

enum dir_result directory_mailbox(const struct directory *d, const char *addr, char delim, char *mailbox,
                                  size_t outlen)
{
	return d->ops->mailbox(d->be, addr, delim, mailbox, outlen);
}

int directory_verify(const struct directory *d, const char *authzid, const char *user, const char *password)
{
	return d->ops->verify(d->be, authzid, user, password);
}

size_t directory_count(const struct directory *d)
{
	return d->ops->count(d->be);
}
