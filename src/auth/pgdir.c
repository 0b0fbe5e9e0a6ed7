/*
 * pgdir.c - the PostgreSQL directory (pgdir.h): the listener thread, the snapshot and the
 * migrations. libpq in blocking mode, on our own thread only: no libpq call is ever made from
 * the event loop.
 */
#include "pgdir.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/fsutil.h"
#include "../util/log.h"
#include "apppw.h"
#include "users.h"

#define KEEPALIVE_MS 2000       /* a SELECT 1 when nothing was heard for this long */
#define RETRY_MS     1000       /* between connection attempts */

struct pgdir {
	char *conninfo, *password;
	unsigned max_stale;
	pthread_mutex_t mu;
	struct pgdir_snap *snap;
	long long fresh_until;          /* ms, monotonic: after it, lookups are temporary failures */
	pthread_t thread;
	int started;
	int wake[2];                    /* pgdir_free() writes here to stop the thread */
	int down_logged;
	int quiet;                      /* a second reader (the runner's): the server says it all */
	unsigned gen;                   /* snapshots installed (under mu) */
	unsigned seen_gen;              /* the event loop's last pgdir_changed() */
	char *crl_path;                 /* where the directory's CRL is copied (the server's), or NULL */
	char *crl_written;              /* what was copied there last */
	int crl_warned;
};

static const char *const schema[] = {
	/* 1: mailboxes, aliases, app passwords; a change of any of them notifies the nodes */
	"CREATE TABLE mailport_mailboxes (\n"
	"  address text PRIMARY KEY CHECK (address = lower(address) AND address ~ '^[^@\\s:,]+@[^@\\s:,]+$'),\n"
	"  hash text NOT NULL DEFAULT '*' CHECK (hash !~ '[\\s:]'),\n"
	"  login text NOT NULL DEFAULT 'any' CHECK (login IN ('any', 'app-passwords')),\n"
	"  auth text NOT NULL DEFAULT 'password' CHECK (auth IN ('password', 'certificate', 'certificate+password')),\n"
	"  scram text CHECK (scram IS NULL OR scram ~ '^[0-9]+,[^\\s:]+$'),\n"
	"  created timestamptz NOT NULL DEFAULT now());\n"
	"CREATE TABLE mailport_aliases (\n"
	"  alias text PRIMARY KEY CHECK (alias = lower(alias) AND alias ~ '^[^@\\s:,]+@[^@\\s:,]+$'),\n"
	"  mailbox text NOT NULL REFERENCES mailport_mailboxes(address) ON DELETE CASCADE ON UPDATE CASCADE);\n"
	"CREATE TABLE mailport_app_passwords (\n"
	"  mailbox text NOT NULL REFERENCES mailport_mailboxes(address) ON DELETE CASCADE ON UPDATE CASCADE,\n"
	"  id text NOT NULL, created bigint NOT NULL, hash text NOT NULL CHECK (hash !~ '[\\s:]'),\n"
	"  label text NOT NULL CHECK (label !~ '[\\n\\r]'), PRIMARY KEY (mailbox, id));\n"
	"CREATE FUNCTION mailport_directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$\n"
	"BEGIN PERFORM pg_notify('mailport_directory', TG_TABLE_NAME); RETURN NULL; END $$;\n"
	"CREATE TRIGGER mailport_mailboxes_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mailport_mailboxes\n"
	"  FOR EACH STATEMENT EXECUTE FUNCTION mailport_directory_changed();\n"
	"CREATE TRIGGER mailport_aliases_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON mailport_aliases\n"
	"  FOR EACH STATEMENT EXECUTE FUNCTION mailport_directory_changed();\n"
	"CREATE TRIGGER mailport_app_passwords_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON\n"
	"  mailport_app_passwords FOR EACH STATEMENT EXECUTE FUNCTION mailport_directory_changed();\n",
	/* 2: the client certificates' revocation list (PEM, signed by the client CA), one row that
	 * `mailport user cert revoke` writes and every node copies to its [auth] client_crl */
	"CREATE TABLE mailport_client_crl (\n"
	"  id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),\n"
	"  pem text NOT NULL CHECK (pem LIKE '-----BEGIN X509 CRL-----%'),\n"
	"  updated timestamptz NOT NULL DEFAULT now());\n"
	"CREATE TRIGGER mailport_client_crl_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON\n"
	"  mailport_client_crl FOR EACH STATEMENT EXECUTE FUNCTION mailport_directory_changed();\n",
	NULL,
};

const char *const *pgdir_schema(void)
{
	return schema;
}

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static PGconn *connect_db(const char *conninfo, const char *password, char *err, size_t errlen)
{
	const char *keys[] = { "dbname", "password", "connect_timeout", "application_name", NULL };
	const char *vals[] = { conninfo, password, "5", "mailport", NULL };
	PGconn *c;

	/* dbname with expand_dbname: the conninfo string; the password from its file wins over none */
	if (password == NULL)
		keys[1] = NULL;
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		const char *m = c ? PQerrorMessage(c) : "out of memory";
		snprintf(err, errlen, "%.*s", (int)strcspn(m, "\n"), m);
		PQfinish(c);
		return NULL;
	}
	return c;
}

void pgdir_snap_unref(struct pgdir_snap *s)
{
	if (s == NULL || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	users_free(s->users);
	apppw_unref(s->ap);
	free(s->crl);
	free(s);
}

/* Rows joined as lines: each row's one column. malloc'd, NULL when out of memory. */
static char *rows_text(PGresult *r, size_t *lenp)
{
	size_t len = 1;
	char *buf, *p;

	for (int i = 0; i < PQntuples(r); i++)
		len += (size_t)PQgetlength(r, i, 0) + 1;
	if ((buf = p = malloc(len)) == NULL)
		return NULL;
	for (int i = 0; i < PQntuples(r); i++) {
		size_t n = (size_t)PQgetlength(r, i, 0);
		memcpy(p, PQgetvalue(r, i, 0), n);
		p += n;
		*p++ = '\n';
	}
	*p = '\0';
	*lenp = len - 1;
	return buf;
}

/* The whole directory, read in one snapshot of the database, in the files' formats. */
static struct pgdir_snap *load(PGconn *c, char *err, size_t errlen)
{
	static const char mailboxes[] =
		"SELECT m.address || ':' || m.hash || ':' || coalesce(string_agg(a.alias, ',' ORDER BY a.alias), '') ||"
		" ':login=' || m.login || ' auth=' || m.auth || coalesce(' scram=' || m.scram, '')"
		" FROM mailport_mailboxes m LEFT JOIN mailport_aliases a ON a.mailbox = m.address"
		" GROUP BY m.address ORDER BY m.address";
	static const char apps[] =
		"SELECT mailbox || ':' || id || ':' || created || ':' || hash || ':' || label"
		" FROM mailport_app_passwords ORDER BY mailbox, id";
	PGresult *r1 = NULL, *r2 = NULL, *b = PQexec(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	struct pgdir_snap *s = NULL;
	struct errlist errs = { 0 };
	size_t l1 = 0, l2 = 0;

	if (PQresultStatus(b) != PGRES_COMMAND_OK || PQresultStatus(r1 = PQexec(c, mailboxes)) != PGRES_TUPLES_OK ||
	    PQresultStatus(r2 = PQexec(c, apps)) != PGRES_TUPLES_OK) {
		const char *m = PQerrorMessage(c);
		snprintf(err, errlen, "%.*s", (int)strcspn(m, "\n"), m);
		goto out;
	}
	char *t1 = rows_text(r1, &l1), *t2 = rows_text(r2, &l2);
	if ((s = calloc(1, sizeof(*s))) == NULL || t1 == NULL || t2 == NULL) {
		free(t1);
		free(t2);
		free(s);
		s = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	s->refs = 1;
	/* Last, after the rows above are read: a database not migrated to schema version 2 has no
	 * such table, and the failed statement only ends a transaction that has nothing left to do. */
	PGresult *r3 = PQexec(c, "SELECT pem FROM mailport_client_crl WHERE id = 1");
	if (PQresultStatus(r3) == PGRES_TUPLES_OK && PQntuples(r3) == 1)
		s->crl = strdup(PQgetvalue(r3, 0, 0));
	PQclear(r3);
	s->users = users_parse("postgresql:mailport_mailboxes", t1, &errs);
	s->ap = apppw_parse("postgresql:mailport_app_passwords", t2, l2, &errs);
	if (s->users == NULL || s->ap == NULL) {
		snprintf(err, errlen, "%s", errs.n ? errs.msgs[0] : "out of memory");
		pgdir_snap_unref(s);
		s = NULL;
	}
out:
	errlist_free(&errs);
	PQclear(b);
	PQclear(r1);
	PQclear(r2);
	PQclear(PQexec(c, "COMMIT"));
	return s;
}

/* The server's copy of the directory's CRL, which the TLS side reads again when it changes
 * (tls/clientca.h): written only when its text changed, durably, readable by all as
 * `mailport user cert` writes it. On the listener's thread. */
static void copy_crl(struct pgdir *p, const struct pgdir_snap *s)
{
	if (p->crl_path == NULL || s->crl == NULL || (p->crl_written != NULL && strcmp(p->crl_written, s->crl) == 0))
		return;
	if (fs_write_file_durable(p->crl_path, s->crl, strlen(s->crl), 0644) < 0) {
		if (!p->crl_warned)
			log_warn(NULL, "directory: cannot write the client certificates' CRL to %s", p->crl_path);
		p->crl_warned = 1;
		return;
	}
	free(p->crl_written);
	p->crl_written = strdup(s->crl);
	p->crl_warned = 0;
	log_info(NULL, "directory: client certificates' CRL copied from PostgreSQL to %s", p->crl_path);
}

void pgdir_crl_path(struct pgdir *p, const char *path)
{
	free(p->crl_path);
	p->crl_path = path != NULL ? strdup(path) : NULL;
}

static void install(struct pgdir *p, struct pgdir_snap *s)
{
	copy_crl(p, s);
	pthread_mutex_lock(&p->mu);
	struct pgdir_snap *old = p->snap;
	p->snap = s;
	p->gen++;
	p->fresh_until = now_ms() + (long long)p->max_stale * 1000;
	pthread_mutex_unlock(&p->mu);
	pgdir_snap_unref(old);
}

int pgdir_changed(struct pgdir *p)
{
	pthread_mutex_lock(&p->mu);
	unsigned g = p->gen;
	pthread_mutex_unlock(&p->mu);
	if (g == p->seen_gen)
		return 0;
	p->seen_gen = g;
	return 1;
}

static void heard(struct pgdir *p)
{
	pthread_mutex_lock(&p->mu);
	p->fresh_until = now_ms() + (long long)p->max_stale * 1000;
	pthread_mutex_unlock(&p->mu);
}

/* Often enough that a copy the database still backs never lapses: three keepalives within
 * max_stale (a short max_stale lapsed between two-second keepalives, and answered 451). */
static int keepalive_ms(const struct pgdir *p)
{
	long long ms = (long long)p->max_stale * 1000 / 3;

	return ms < 250 ? 250 : ms > KEEPALIVE_MS ? KEEPALIVE_MS : (int)ms;
}

/* Waits up to ms for the stop pipe: 1 when told to stop. */
static int stopped(struct pgdir *p, int fd, int ms)
{
	struct pollfd f[2] = { { p->wake[0], POLLIN, 0 }, { fd, POLLIN, 0 } };

	return poll(f, fd >= 0 ? 2 : 1, ms) > 0 && (f[0].revents & POLLIN);
}

static void *listener(void *arg)
{
	struct pgdir *p = arg;
	char err[300];

	for (;;) {
		PGconn *c = connect_db(p->conninfo, p->password, err, sizeof(err));
		struct pgdir_snap *s = NULL;
		if (c != NULL) {
			/* LISTEN first, then read: a change between the two is not missed */
			PGresult *l = PQexec(c, "LISTEN mailport_directory");
			if (PQresultStatus(l) == PGRES_COMMAND_OK)
				s = load(c, err, sizeof(err));
			else
				snprintf(err, sizeof(err), "LISTEN: %.*s", (int)strcspn(PQerrorMessage(c), "\n"), PQerrorMessage(c));
			PQclear(l);
		}
		if (s == NULL) {
			if (!p->down_logged && !p->quiet)
				log_warnx(NULL, "directory: PostgreSQL: %s (cached entries serve for %us, then 451)", err,
				          p->max_stale);
			p->down_logged = 1;
			PQfinish(c);
			if (stopped(p, -1, RETRY_MS))
				return NULL;
			continue;
		}
		install(p, s);
		if (p->down_logged && !p->quiet)
			log_info(NULL, "directory: PostgreSQL answers again mailboxes=%zu", users_count(s->users));
		p->down_logged = 0;
		/* Notifications, or a keepalive when all is quiet; any failure: connect again. */
		for (;;) {
			int sock = PQsocket(c);
			struct pollfd f[2] = { { p->wake[0], POLLIN, 0 }, { sock, POLLIN, 0 } };
			int n = poll(f, 2, keepalive_ms(p));
			if (n > 0 && (f[0].revents & POLLIN)) {
				PQfinish(c);
				return NULL;
			}
			if (n == 0) {
				PGresult *r = PQexec(c, "SELECT 1");
				int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
				PQclear(r);
				if (!ok)
					break;
				heard(p);
			}
			if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)
				break;
			int changed = 0;
			for (PGnotify *nt; (nt = PQnotifies(c)) != NULL; PQfreemem(nt))
				changed = 1;
			if (changed) {
				if ((s = load(c, err, sizeof(err))) == NULL)
					break;
				install(p, s);
				if (!p->quiet)
					log_info(NULL, "directory: reloaded from PostgreSQL mailboxes=%zu", users_count(s->users));
			}
		}
		snprintf(err, sizeof(err), "%s", PQerrorMessage(c)[0] ? PQerrorMessage(c) : "connection lost");
		err[strcspn(err, "\n")] = '\0';
		PQfinish(c);
	}
}

struct pgdir *pgdir_open(const char *conninfo, const char *password, unsigned max_stale, int quiet,
                         struct errlist *errs)
{
	struct pgdir *p = calloc(1, sizeof(*p));
	char *e = NULL, err[300];

	if (p == NULL)
		return NULL;
	PQconninfoOption *o = PQconninfoParse(conninfo, &e);
	if (o == NULL) {
		errlist_add(errs, "[directory] postgresql", 0, "%s", e ? e : "out of memory");
		PQfreemem(e);
		free(p);
		return NULL;
	}
	PQconninfoFree(o);
	p->wake[0] = p->wake[1] = -1;
	if ((p->conninfo = strdup(conninfo)) == NULL || (password && (p->password = strdup(password)) == NULL) ||
	    pipe(p->wake) < 0) {
		pgdir_free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	p->max_stale = max_stale;
	p->quiet = quiet;
	PGconn *c = connect_db(conninfo, password, err, sizeof(err));
	struct pgdir_snap *s = c ? load(c, err, sizeof(err)) : NULL;
	PQfinish(c);
	if (s != NULL) {
		install(p, s);
		p->seen_gen = p->gen;
	} else {
		log_warnx(NULL, "directory: PostgreSQL: %s (every lookup is a temporary failure until it answers)", err);
		p->down_logged = 1;
	}
	return p;
}

int pgdir_start(struct pgdir *p)
{
	if (p->started)
		return 0;
	if (pthread_create(&p->thread, NULL, listener, p) != 0)
		return -1;
	p->started = 1;
	return 0;
}

void pgdir_free(struct pgdir *p)
{
	if (p == NULL)
		return;
	if (p->started) {
		(void)!write(p->wake[1], "x", 1);
		pthread_join(p->thread, NULL);
	}
	if (p->wake[0] >= 0) {
		close(p->wake[0]);
		close(p->wake[1]);
	}
	pgdir_snap_unref(p->snap);
	if (p->password)
		explicit_bzero(p->password, strlen(p->password));
	free(p->password);
	free(p->conninfo);
	free(p->crl_path);
	free(p->crl_written);
	if (p->conninfo != NULL || p->snap != NULL || p->started)
		pthread_mutex_destroy(&p->mu);
	free(p);
}

struct pgdir_snap *pgdir_snap(struct pgdir *p)
{
	struct pgdir_snap *s = NULL;

	pthread_mutex_lock(&p->mu);
	if (p->snap != NULL && now_ms() <= p->fresh_until) {
		s = p->snap;
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	}
	pthread_mutex_unlock(&p->mu);
	return s;
}

size_t pgdir_count(struct pgdir *p)
{
	struct pgdir_snap *s = pgdir_snap(p);
	size_t n = s ? users_count(s->users) : 0;

	pgdir_snap_unref(s);
	return n;
}

int pgdir_migrate(const char *conninfo, const char *password, char *msg, size_t msglen)
{
	char err[300];
	PGconn *c = connect_db(conninfo, password, err, sizeof(err));
	int have = 0, applied = 0, r = -1;

	if (c == NULL) {
		snprintf(msg, msglen, "cannot connect: %s", err);
		return -1;
	}
	/* Two nodes migrating at once: the second waits, then finds nothing left to do. */
	PQclear(PQexec(c, "SELECT pg_advisory_lock(7236)"));
	PQclear(PQexec(c, "CREATE TABLE IF NOT EXISTS mailport_schema (version integer PRIMARY KEY, "
	                  "applied timestamptz NOT NULL DEFAULT now())"));
	PGresult *v = PQexec(c, "SELECT coalesce(max(version), 0) FROM mailport_schema");
	if (PQresultStatus(v) != PGRES_TUPLES_OK) {
		snprintf(msg, msglen, "%.*s", (int)strcspn(PQerrorMessage(c), "\n"), PQerrorMessage(c));
		PQclear(v);
		goto out;
	}
	have = atoi(PQgetvalue(v, 0, 0));
	PQclear(v);
	for (int i = have; schema[i] != NULL; i++) {
		char mark[96];
		snprintf(mark, sizeof(mark), "INSERT INTO mailport_schema (version) VALUES (%d)", i + 1);
		PGresult *b = PQexec(c, "BEGIN"), *m = PQexec(c, schema[i]), *k = NULL;
		int ok = PQresultStatus(m) == PGRES_COMMAND_OK;
		if (ok)
			ok = PQresultStatus(k = PQexec(c, mark)) == PGRES_COMMAND_OK;
		if (!ok) {
			snprintf(msg, msglen, "version %d: %.*s", i + 1, (int)strcspn(PQerrorMessage(c), "\n"),
			         PQerrorMessage(c));
			PQclear(PQexec(c, "ROLLBACK"));
		} else
			PQclear(PQexec(c, "COMMIT"));
		PQclear(b);
		PQclear(m);
		PQclear(k);
		if (!ok)
			goto out;
		applied++;
	}
	if (applied)
		snprintf(msg, msglen, "schema at version %d (applied %d)", have + applied, applied);
	else
		snprintf(msg, msglen, "schema at version %d (nothing to do)", have);
	r = 0;
out:
	PQclear(PQexec(c, "SELECT pg_advisory_unlock(7236)"));
	PQfinish(c);
	return r;
}

int pgdir_admin(const char *conninfo, const char *password, const char *sql, const char *const *params, int nparams,
                char *out, size_t outlen, long *rows)
{
	char err[300];
	PGconn *c = connect_db(conninfo, password, err, sizeof(err));

	out[0] = '\0';
	*rows = 0;
	if (c == NULL) {
		snprintf(out, outlen, "cannot connect: %s", err);
		return -1;
	}
	PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	int st = PQresultStatus(r), ok = st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
	if (!ok)
		snprintf(out, outlen, "%.*s", (int)strcspn(PQresultErrorMessage(r), "\n"), PQresultErrorMessage(r));
	else if (st == PGRES_TUPLES_OK) {
		size_t n = 0;
		*rows = PQntuples(r);
		for (int i = 0; i < PQntuples(r) && n + 1 < outlen; i++) {
			int w = snprintf(out + n, outlen - n, "%s\n", PQgetvalue(r, i, 0));
			n += w > 0 ? (size_t)w : 0;
		}
	} else
		*rows = atol(PQcmdTuples(r));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}
