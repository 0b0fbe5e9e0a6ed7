/*
 * directory.c - the directory (directory.h) over its backends. Each backend is a table of
 * four functions over its own state; the file backend is the users file with crypt(3) hashes,
 * or with Dovecot's auth service checking the passwords of the mailboxes it lists.
 * Not the throttle or the credentials cache: those sit in front of any backend (auth.h,
 * authcache.h).
 */
#include "directory.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "../util/fsutil.h"
#include "../util/log.h"
#include "apppw.h"
#include "auth.h"
#include "dovecot.h"
#include "pgdir.h"
#include "users.h"

struct dir_backend {
	int (*start)(void *be);
	enum dir_result (*mailbox)(const void *be, const char *addr, char delim, char *out, size_t outlen);
	int (*verify)(void *be, const struct dir_login *l, char *via, size_t vialen);
	int (*refresh)(void *be);
	int (*scram)(const void *be, const char *user, struct scram_creds *out);
	int (*cert_policy)(const void *be, const char *user);
	size_t (*count)(const void *be);
	void (*free)(void *be);
};

struct directory {
	const struct dir_backend *ops;
	void *be;
};

/* ---- the users file and the app-password store ----------------------------------------------- */

struct file_dir {
	struct users *users;            /* immutable: a new snapshot comes with a reload */
	char *apppw_path, *used_dir;
	pthread_mutex_t mu;             /* ap: refresh (an event loop) vs verify (the pools) */
	pthread_mutex_t refresh_mu;     /* st, and one refresh at a time: every event loop refreshes */
	struct apppw *ap;
	struct stat st;                 /* of the store when ap was read; st_ino 0: there was none */
	char *dovecot;                  /* Dovecot's auth-client socket, or NULL (dovecot.h) */
};

#define DOVECOT_TIMEOUT 10      /* seconds for one check; Postfix waits 5 for the handshake */

/* Dovecot knows the password; the users file knows the mailbox. Dovecot is asked even for a
 * name that is no mailbox here, so the time taken does not tell which mailboxes exist. */
static int dovecot_verify(struct file_dir *fd, const struct dir_login *l, char *via, size_t vialen)
{
	const struct user *u = users_lookup(fd->users, l->user, strlen(l->user));
	int mailbox = u != NULL && strcasecmp(u->address, l->user) == 0;
	/* AUTH is only ever offered inside TLS: Dovecot may apply its disable_plaintext_auth */
	struct dovecot_login dl = { "", l->user, l->password, l->client_ip, 1 };
	char why[200];

	if (l->authzid[0] != '\0' && strcasecmp(l->authzid, l->user) != 0)
		return -1;      /* acting for someone else is not something we offer */
	enum dovecot_result r = dovecot_auth_verify(fd->dovecot, &dl, DOVECOT_TIMEOUT, why, sizeof(why));
	if (r == DOVECOT_TEMPFAIL) {
		log_warnx(NULL, "auth: Dovecot at %s: %s", fd->dovecot, why);
		return DIR_VERIFY_TEMPFAIL;
	}
	if (r != DOVECOT_OK || !mailbox)
		return -1;
	if (via != NULL && vialen > 0)
		snprintf(via, vialen, "backend=dovecot");
	return 0;
}

static enum dir_result file_mailbox(const void *be, const char *addr, char delim, char *out, size_t outlen)
{
	const struct file_dir *fd = be;
	const struct user *u = users_resolve(fd->users, addr, delim);

	if (u == NULL)
		return DIR_NONE;
	snprintf(out, outlen, "%s", u->address);
	return DIR_FOUND;
}

static int file_verify(void *be, const struct dir_login *l, char *via, size_t vialen)
{
	struct file_dir *fd = be;
	const struct apppw_entry *e;

	if (fd->dovecot != NULL)
		return dovecot_verify(fd, l, via, vialen);
	pthread_mutex_lock(&fd->mu);
	struct apppw *ap = apppw_ref(fd->ap);
	pthread_mutex_unlock(&fd->mu);
	int r = auth_verify(fd->users, ap, l->authzid, l->user, l->password, &e);
	if (via != NULL && vialen > 0)
		snprintf(via, vialen, "%s%s", r == 0 && e ? "app-password=" : "", r == 0 && e ? e->label : "");
	if (r == 0 && e != NULL && fd->used_dir != NULL &&
	    apppw_note_use(fd->used_dir, e->address, e->id, (long long)time(NULL), l->client_ip ? l->client_ip : "-") < 0)
		log_warn(NULL, "app passwords: cannot note the use of %s's %s in %s", e->address, e->id, fd->used_dir);
	apppw_unref(ap);
	return r;
}

/* The store again when its file changed (another inode, size, mtime or ctime): 1 swapped, 0 not, -1 a
 * store that does not load (logged; the old one stays). */
static int file_refresh(void *be)
{
	struct file_dir *fd = be;
	struct stat st;
	struct errlist errs = { 0 };

	if (fd->apppw_path == NULL)
		return 0;
	if (stat(fd->apppw_path, &st) != 0)
		memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&fd->refresh_mu);
	/* ctime too: `mailport user` gives the new file to the server's user after the rename, and a
	 * login between the two must not make an unreadable store look read for good. */
	if (fs_same_version(&st, &fd->st)) {
		pthread_mutex_unlock(&fd->refresh_mu);
		return 0;
	}
	struct apppw *ap = apppw_load(fd->apppw_path, &errs);
	if (ap == NULL) {
		log_warnx(NULL, "app passwords not reloaded (the ones loaded before stay): %s",
		          errs.n > 0 ? errs.msgs[0] : "out of memory");
		errlist_free(&errs);
		fd->st = st;                    /* said once, not at every login */
		pthread_mutex_unlock(&fd->refresh_mu);
		return -1;
	}
	pthread_mutex_lock(&fd->mu);
	struct apppw *old = fd->ap;
	fd->ap = ap;
	pthread_mutex_unlock(&fd->mu);
	fd->st = st;
	pthread_mutex_unlock(&fd->refresh_mu);
	apppw_unref(old);
	return 1;
}

static int file_scram(const void *be, const char *user, struct scram_creds *out)
{
	const struct file_dir *fd = be;
	const struct user *u = users_lookup(fd->users, user, strlen(user));

	if (u == NULL || strcasecmp(u->address, user) != 0 || u->hash[0] != '$' || u->app_only || !u->has_scram)
		return -1;
	*out = u->scram;
	return 0;
}

static int file_cert_policy(const void *be, const char *user)
{
	const struct file_dir *fd = be;
	const struct user *u = users_lookup(fd->users, user, strlen(user));

	return u == NULL || strcasecmp(u->address, user) != 0 ? -1 : u->cert;
}

static size_t file_count(const void *be)
{
	return users_count(((const struct file_dir *)be)->users);
}

static void file_free(void *be)
{
	struct file_dir *fd = be;

	users_free(fd->users);
	apppw_unref(fd->ap);
	free(fd->apppw_path);
	free(fd->used_dir);
	free(fd->dovecot);
	pthread_mutex_destroy(&fd->mu);
	pthread_mutex_destroy(&fd->refresh_mu);
	free(fd);
}

static int file_start(void *be)
{
	(void)be;
	return 0;
}

static const struct dir_backend file_backend = { file_start, file_mailbox, file_verify, file_refresh, file_scram,
	                                              file_cert_policy, file_count, file_free };

/* ---- PostgreSQL (pgdir.h): the same lookups on the current snapshot --------------------------- */

static enum dir_result pg_mailbox(const void *be, const char *addr, char delim, char *out, size_t outlen)
{
	struct pgdir_snap *s = pgdir_snap((struct pgdir *)be);
	const struct user *u;

	if (s == NULL)
		return DIR_TEMPFAIL;        /* never "no such user" because the database is away */
	u = users_resolve(s->users, addr, delim);
	if (u != NULL)
		snprintf(out, outlen, "%s", u->address);
	pgdir_snap_unref(s);
	return u != NULL ? DIR_FOUND : DIR_NONE;
}

static int pg_verify(void *be, const struct dir_login *l, char *via, size_t vialen)
{
	struct pgdir_snap *s = pgdir_snap(be);
	const struct apppw_entry *e;

	if (s == NULL)
		return DIR_VERIFY_TEMPFAIL;
	int r = auth_verify(s->users, s->ap, l->authzid, l->user, l->password, &e);
	if (via != NULL && vialen > 0)
		snprintf(via, vialen, "%s%s", r == 0 && e ? "app-password=" : "", r == 0 && e ? e->label : "");
	pgdir_snap_unref(s);
	return r;
}

/* The listener thread swaps snapshots itself; this only says that it did. */
static int pg_refresh(void *be)
{
	return pgdir_changed(be);
}

static int pg_scram(const void *be, const char *user, struct scram_creds *out)
{
	struct pgdir_snap *s = pgdir_snap((struct pgdir *)be);
	const struct user *u = s ? users_lookup(s->users, user, strlen(user)) : NULL;
	int r = -1;

	if (u != NULL && strcasecmp(u->address, user) == 0 && u->hash[0] == '$' && !u->app_only && u->has_scram) {
		*out = u->scram;
		r = 0;
	}
	pgdir_snap_unref(s);
	return r;
}

static int pg_cert_policy(const void *be, const char *user)
{
	struct pgdir_snap *s = pgdir_snap((struct pgdir *)be);
	const struct user *u = s ? users_lookup(s->users, user, strlen(user)) : NULL;
	int r = u == NULL || strcasecmp(u->address, user) != 0 ? -1 : u->cert;

	pgdir_snap_unref(s);
	return r;
}

static size_t pg_count(const void *be)
{
	return pgdir_count((struct pgdir *)be);
}

static int pg_start(void *be)
{
	return pgdir_start(be);
}

static void pg_free(void *be)
{
	pgdir_free(be);
}

static const struct dir_backend pg_backend = { pg_start, pg_mailbox, pg_verify, pg_refresh, pg_scram,
	                                            pg_cert_policy, pg_count, pg_free };

/* ---- the interface ------------------------------------------------------------------------- */

struct directory *directory_open(const struct directory_conf *dc, struct errlist *errs)
{
	struct directory *d = calloc(1, sizeof(*d));

	if (d != NULL && dc->postgresql != NULL) {
		d->ops = &pg_backend;
		if ((d->be = pgdir_open(dc->postgresql, dc->pg_password, dc->max_stale, dc->quiet, errs)) == NULL) {
			free(d);
			return NULL;
		}
		if (dc->crl_path != NULL && !dc->quiet)
			pgdir_crl_path(d->be, dc->crl_path);
		return d;
	}
	struct file_dir *fd = calloc(1, sizeof(*fd));

	if (d == NULL || fd == NULL) {
		free(d);
		free(fd);
		return NULL;
	}
	pthread_mutex_init(&fd->mu, NULL);
	pthread_mutex_init(&fd->refresh_mu, NULL);
	d->ops = &file_backend;
	d->be = fd;
	if ((fd->users = users_load(dc->users_file, errs)) == NULL) {
		directory_free(d);
		return NULL;
	}
	if (dc->dovecot_auth != NULL && (fd->dovecot = strdup(dc->dovecot_auth)) == NULL) {
		directory_free(d);
		return NULL;
	}
	if (dc->app_passwords != NULL && fd->dovecot == NULL) {     /* Dovecot has its own */
		struct stat st;
		if (stat(dc->app_passwords, &st) == 0)
			fd->st = st;
		if ((fd->apppw_path = strdup(dc->app_passwords)) == NULL ||
		    (dc->used_dir != NULL && (fd->used_dir = strdup(dc->used_dir)) == NULL) ||
		    (fd->ap = apppw_load(dc->app_passwords, errs)) == NULL) {
			directory_free(d);
			return NULL;
		}
	}
	const char *list;
	unsigned md5 = users_weak_hashes(fd->users, &list);
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

int directory_verify(const struct directory *d, const struct dir_login *l, char *via, size_t vialen)
{
	return d->ops->verify(d->be, l, via, vialen);
}

int directory_cert_policy(const struct directory *d, const char *user)
{
	return d->ops->cert_policy(d->be, user);
}

int directory_scram(const struct directory *d, const char *user, struct scram_creds *out)
{
	return d->ops->scram(d->be, user, out);
}

int directory_refresh(struct directory *d)
{
	return d->ops->refresh(d->be);
}

size_t directory_count(const struct directory *d)
{
	return d->ops->count(d->be);
}

int directory_start(struct directory *d)
{
	return d->ops->start(d->be);
}
