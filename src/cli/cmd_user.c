/*
 * cmd_user.c - `mailport user app-password add|list|revoke`: the app-password store of auth/apppw.h
 * changed whole and durably, owned by the server's user; the running server reads it again at
 * the next login (nothing to signal). Not verification (auth/) and not the users file.
 */
#include "cmd_user.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "../auth/apppw.h"
#include "../auth/auth.h"
#include "../auth/users.h"
#include "../conf/config.h"
#include "../server/runningconf.h"
#include "../util/errlist.h"
#include "../auth/pgdir.h"
#include "cmd_control.h"
#include "cmd_mailbox.h"
#include "cmd_usercert.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport user add ADDRESS [--alias A@DOMAIN,...] [--config FILE] < password\n"
	        "       mailport user passwd ADDRESS [--config FILE] < password\n"
	        "       mailport user delete ADDRESS [--config FILE]\n"
	        "       mailport user list [--config FILE]\n"
	        "       mailport user policy ADDRESS [auth=password|certificate|certificate+password]\n"
	        "                                    [login=any|app-passwords] [--config FILE]\n"
	        "       mailport user app-password add ADDRESS --label LABEL [--config FILE]\n"
	        "       mailport user app-password list [ADDRESS] [--config FILE]\n"
	        "       mailport user app-password revoke ADDRESS ID|LABEL [--config FILE]\n"
	        "       mailport user cert ca [--days N] [--config FILE]\n"
	        "       mailport user cert issue ADDRESS --label LABEL [--days N] [--out DIR] [--config FILE]\n"
	        "       mailport user cert list [ADDRESS] [--config FILE]\n"
	        "       mailport user cert revoke ADDRESS SERIAL|LABEL [--config FILE]\n"
	        "\n"
	        "Mailboxes: in the users file, or in PostgreSQL with [directory] backend = postgresql\n"
	        "(every node sees a change at once; the users file is read at the next reload). The\n"
	        "password is read as by mailport passwd, and a weak one refused (--allow-weak: tests).\n"
	        "\n"
	        "App passwords: one per device or program, generated (138 bits), shown once, stored only\n"
	        "as a yescrypt hash, each revocable on its own; the running server refuses a revoked one\n"
	        "from the next login on. A mailbox whose users-file line ends in :login=app-passwords\n"
	        "logs in with app passwords only, so its main password never goes into a mail client.\n"
	        "list shows each one's id, label, when it was made and when and from where it was last\n"
	        "used (as seen by this node). With [directory] backend = postgresql they are rows of\n"
	        "mailport_app_passwords, and every node knows a new or revoked one at once.\n"
	        "\n"
	        "Client certificates ([auth] client_ca and client_ca_key): ca creates the CA (3650 days) and\n"
	        "an empty CRL; issue makes a device's key and certificate (730 days) as DIR/ADDRESS-LABEL\n"
	        "(.crt and .key in PEM, .p12 for mail clients, its password shown once); revoke adds it\n"
	        "to the CRL, which the running server reads again at the next connection (with the\n"
	        "directory in PostgreSQL, every node's server). A mailbox\n"
	        "logs in with one when its users-file line says auth=certificate or\n"
	        "auth=certificate+password. FILE defaults to " MAILPORT_DEFAULT_CONFIG ".\n");
}

struct ctx {
	struct config *cfg;
	struct users *users;
	struct apppw *ap;
	struct pgdir *pg;               /* [directory] backend = postgresql: the rows, read once */
	struct pgdir_snap *snap;
	char store[4200], used[4200];
	uid_t uid;
	gid_t gid;
};

static void ctx_free(struct ctx *x)
{
	if (x->snap != NULL) {
		pgdir_snap_unref(x->snap);      /* its users and app passwords with it */
		pgdir_free(x->pg);
	} else {
		apppw_unref(x->ap);
		users_free(x->users);
	}
	config_free(x->cfg);
}

/* With the directory in PostgreSQL: its current rows, as the server's snapshot has them. */
static int ctx_load_pg(struct ctx *x, struct errlist *errs)
{
	const struct config *c = x->cfg;

	if ((x->pg = pgdir_open(c->pg_conninfo, c->pg_password, c->pg_max_stale, 1, errs)) == NULL)
		return -1;
	if ((x->snap = pgdir_snap(x->pg)) == NULL) {
		errlist_add(errs, c->path, config_line(c, "directory", "postgresql"),
		            "[directory] postgresql: cannot read the directory (is the database up, and migrated with "
		            "mailport directory migrate?)");
		pgdir_free(x->pg);
		x->pg = NULL;
		return -1;
	}
	x->users = x->snap->users;
	x->ap = x->snap->ap;
	return 0;
}

static int ctx_load(struct ctx *x, const char *config)
{
	struct errlist errs = { 0 };

	memset(x, 0, sizeof(*x));
	x->uid = (uid_t)-1;
	x->gid = (gid_t)-1;
	if ((x->cfg = config_load(config, &errs)) != NULL && strcmp(x->cfg->dir_backend, "postgresql") == 0) {
		runconf_apppw_paths(x->cfg, x->store, sizeof(x->store), x->used, sizeof(x->used));
		if (ctx_load_pg(x, &errs) < 0) {
			errlist_print(&errs, stderr);
			errlist_free(&errs);
			config_free(x->cfg);
			return EX_TEMPFAIL;
		}
		errlist_free(&errs);
		return 0;
	}
	if (x->cfg != NULL) {
		runconf_apppw_paths(x->cfg, x->store, sizeof(x->store), x->used, sizeof(x->used));
		x->users = users_load(x->cfg->users, &errs);
		x->ap = apppw_load(x->store, &errs);
	}
	if (x->cfg == NULL || x->users == NULL || x->ap == NULL) {
		errlist_print(&errs, stderr);
		errlist_free(&errs);
		ctx_free(x);
		return EX_CONFIG;
	}
	errlist_free(&errs);
	/* As root: the store belongs to the server's user, who reads it (and nobody else). */
	struct passwd *pw = geteuid() == 0 && x->cfg->user ? getpwnam(x->cfg->user) : NULL;
	if (pw != NULL) {
		x->uid = pw->pw_uid;
		x->gid = pw->pw_gid;
	}
	return 0;
}

/* The mailbox (its own address, not an alias), lower case, into out: 0, or -1 (said why). */
static int mailbox(const struct ctx *x, const char *address, char *out, size_t outlen)
{
	const struct user *u = users_lookup(x->users, address, strlen(address));

	if (u == NULL) {
		fprintf(stderr, "mailport user: %s is not a mailbox of %s\n", address,
		        x->pg != NULL ? "the directory in PostgreSQL" : x->cfg->users);
		return -1;
	}
	if (strcasecmp(u->address, address) != 0) {
		fprintf(stderr, "mailport user: %s is an alias of %s; app passwords belong to the mailbox: use %s\n",
		        address, u->address, u->address);
		return -1;
	}
	snprintf(out, outlen, "%s", u->address);
	return 0;
}

static int label_ok(const char *l)
{
	if (*l == '\0' || strlen(l) >= APPPW_LABEL_MAX)
		return 0;
	for (const unsigned char *p = (const unsigned char *)l; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == ':')
			return 0;
	return 1;
}

static int cmd_add(struct ctx *x, const char *address, const char *label)
{
	char mb[256], pw[APPPW_LEN + 1], display[64];
	size_t n = apppw_count(x->ap);

	if (mailbox(x, address, mb, sizeof(mb)) < 0)
		return EX_NOUSER;
	if (label == NULL || !label_ok(label)) {
		fprintf(stderr, "mailport user: --label: a name for the device or program, 1 to %d characters, no ':' and "
		        "no control characters\n", APPPW_LABEL_MAX - 1);
		return EX_USAGE;
	}
	struct apppw_entry *e = calloc(n + 1, sizeof(*e));
	if (e == NULL)
		return EX_OSERR;
	for (size_t i = 0; i < n; i++) {
		e[i] = *apppw_entry(x->ap, i);
		if (strcmp(e[i].address, mb) == 0 && strcmp(e[i].label, label) == 0) {
			fprintf(stderr, "mailport user: %s already has an app password labelled \"%s\" (id %s): revoke it "
			        "first, or choose another label\n", mb, label, e[i].id);
			free(e);
			return EX_DATAERR;
		}
	}
	/* An id not yet used by this mailbox: the id picks the one hash a login computes. */
	int tries = 0, clash;
	do {
		clash = 0;
		if (apppw_generate(pw, display) < 0) {
			free(e);
			return EX_OSERR;
		}
		for (size_t i = 0; i < n; i++)
			clash |= strcmp(e[i].address, mb) == 0 && strncmp(e[i].id, pw, APPPW_ID_LEN) == 0;
	} while (clash && ++tries < 100);
	struct apppw_entry *ne = &e[n];
	snprintf(ne->address, sizeof(ne->address), "%s", mb);
	memcpy(ne->id, pw, APPPW_ID_LEN);
	ne->id[APPPW_ID_LEN] = '\0';
	ne->created = (long long)time(NULL);
	snprintf(ne->label, sizeof(ne->label), "%s", label);
	ne->hash = auth_hash_password(pw);
	int rc = 0;
	if (ne->hash != NULL && x->pg != NULL) {
		/* One row: every node's snapshot has it a moment later (the table's trigger). */
		char created[24], out[512];
		long rows = 0;
		snprintf(created, sizeof(created), "%lld", ne->created);
		const char *p[] = { mb, ne->id, created, ne->hash, label };
		rc = mailbox_sql(x->cfg, "INSERT INTO mailport_app_passwords (mailbox, id, created, hash, label) "
		             "VALUES ($1, $2, $3, $4, $5)", p, 5, &rows, out, sizeof(out));
	} else if (ne->hash == NULL || apppw_store(x->store, e, n + 1, x->uid, x->gid) < 0) {
		fprintf(stderr, "mailport user: cannot write %s: %s\n", x->store,
		        ne->hash ? strerror(errno) : "hashing failed");
		rc = EX_CANTCREAT;
	}
	if (rc == 0) {
		printf("%s\n", display);
		fprintf(stderr, "mailport user: app password \"%s\" (id %s) for %s: shown this once, stored only as a hash.\n"
		        "Type it as the password in the mail client (dashes optional); revoke it with:\n"
		        "  mailport user app-password revoke %s %s\n", label, ne->id, mb, mb, ne->id);
	}
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(display, sizeof(display));
	free(ne->hash);
	free(e);
	return rc;
}

static int cmd_list(struct ctx *x, const char *address)
{
	char mb[256] = "";

	if (address != NULL && mailbox(x, address, mb, sizeof(mb)) < 0)
		return EX_NOUSER;
	printf("%-30s %-4s %-24s %-20s %s\n", "MAILBOX", "ID", "LABEL", "CREATED (UTC)", "LAST USED (UTC), FROM");
	for (size_t i = 0; i < apppw_count(x->ap); i++) {
		const struct apppw_entry *e = apppw_entry(x->ap, i);
		char created[32], last[96] = "never", ip[64];
		long long when;
		struct tm tm;
		if (mb[0] && strcmp(e->address, mb) != 0)
			continue;
		time_t t = (time_t)e->created;
		gmtime_r(&t, &tm);
		strftime(created, sizeof(created), "%Y-%m-%d %H:%M", &tm);
		if (apppw_last_use(x->used, e->address, e->id, &when, ip, sizeof(ip)) == 0) {
			t = (time_t)when;
			gmtime_r(&t, &tm);
			size_t o = strftime(last, sizeof(last), "%Y-%m-%d %H:%M", &tm);
			snprintf(last + o, sizeof(last) - o, ", %s", ip);
		}
		printf("%-30s %-4s %-24s %-20s %s\n", e->address, e->id, e->label, created, last);
	}
	return 0;
}

static int cmd_revoke(struct ctx *x, const char *address, const char *which)
{
	char mb[256];
	size_t n = apppw_count(x->ap), k = 0, gone = 0;

	if (mailbox(x, address, mb, sizeof(mb)) < 0)
		return EX_NOUSER;
	struct apppw_entry *e = calloc(n + 1, sizeof(*e));
	if (e == NULL)
		return EX_OSERR;
	for (size_t i = 0; i < n; i++) {
		const struct apppw_entry *o = apppw_entry(x->ap, i);
		if (strcmp(o->address, mb) == 0 && (strcasecmp(o->id, which) == 0 || strcmp(o->label, which) == 0)) {
			gone++;
			printf("revoked %s of %s (\"%s\")\n", o->id, mb, o->label);
			continue;
		}
		e[k++] = *o;
	}
	int rc = 0;
	if (gone == 0) {
		fprintf(stderr, "mailport user: %s has no app password with id or label \"%s\" (see mailport user "
		        "app-password list %s)\n", mb, which, mb);
		rc = EX_DATAERR;
	} else if (x->pg != NULL) {
		char out[512];
		long rows = 0;
		const char *p[] = { mb, which };
		rc = mailbox_sql(x->cfg, "DELETE FROM mailport_app_passwords WHERE mailbox = $1 AND (lower(id) = lower($2) OR "
		             "label = $2) RETURNING id", p, 2, &rows, out, sizeof(out));
	} else if (apppw_store(x->store, e, k, x->uid, x->gid) < 0) {
		fprintf(stderr, "mailport user: cannot write %s: %s\n", x->store, strerror(errno));
		rc = EX_CANTCREAT;
	}
	free(e);
	return rc;
}

static int cert_main(const char *config, int rest, char **a, const char *label, int days, const char *outdir)
{
	const char *verb = a[1];
	int ok_args = (strcmp(verb, "ca") == 0 && rest == 2) || (strcmp(verb, "issue") == 0 && rest == 3) ||
	              (strcmp(verb, "list") == 0 && rest <= 3) || (strcmp(verb, "revoke") == 0 && rest == 4);
	struct usercert_ctx uc;
	struct ctx x;
	char box[300];

	if (!ok_args || days < 0) {
		usage(stderr);
		return EX_USAGE;
	}
	int rc = ctx_load(&x, config);
	if (rc != 0)
		return rc;
	memset(&uc, 0, sizeof(uc));
	uc.cfg = x.cfg;
	uc.uid = x.uid;
	uc.gid = x.gid;
	runconf_clientca_paths(x.cfg, uc.crl, sizeof(uc.crl), uc.index, sizeof(uc.index));
	if (strcmp(verb, "issue") == 0 && mailbox(&x, a[2], box, sizeof(box)) < 0)
		rc = EX_DATAERR;
	else
		rc = usercert_run(&uc, verb, strcmp(verb, "issue") == 0 ? box : rest >= 3 ? a[2] : NULL, rest == 4 ? a[3] : NULL,
		                  label, days, outdir);
	ctx_free(&x);
	return rc;
}

int user_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "label", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' }, { "days", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'o' }, { "alias", required_argument, NULL, 'a' },
		{ "allow-weak", no_argument, NULL, 'w' }, { NULL, 0, NULL, 0 },
	};
	const char *config = MAILPORT_DEFAULT_CONFIG, *label = NULL, *outdir = NULL, *aliases = NULL;
	int days = 0, allow_weak = 0;
	struct ctx x;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "hC:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': case 'C': config = optarg; break;
		case 'l': label = optarg; break;
		case 'd': days = atoi(optarg) > 0 ? atoi(optarg) : -1; break;
		case 'o': outdir = optarg; break;
		case 'a': aliases = optarg; break;
		case 'w': allow_weak = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	int rest = argc - optind;
	char **a = argv + optind;
	if (rest >= 1 && (strcmp(a[0], "add") == 0 || strcmp(a[0], "passwd") == 0 || strcmp(a[0], "delete") == 0 ||
	                  strcmp(a[0], "list") == 0 || strcmp(a[0], "policy") == 0))
		return mailbox_main(config, rest, a, aliases, allow_weak);
	if (rest < 2 || (strcmp(a[0], "app-password") != 0 && strcmp(a[0], "cert") != 0)) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *verb = a[1];
	if (strcmp(a[0], "cert") == 0)
		return cert_main(config, rest, a, label, days, outdir);
	int ok_args = (strcmp(verb, "add") == 0 && rest == 3) || (strcmp(verb, "list") == 0 && rest <= 3) ||
	              (strcmp(verb, "revoke") == 0 && rest == 4);
	if (!ok_args) {
		usage(stderr);
		return EX_USAGE;
	}
	int rc = ctx_load(&x, config);
	if (rc != 0)
		return rc;
	if (strcmp(verb, "add") == 0)
		rc = cmd_add(&x, a[2], label);
	else if (strcmp(verb, "list") == 0)
		rc = cmd_list(&x, rest == 3 ? a[2] : NULL);
	else
		rc = cmd_revoke(&x, a[2], a[3]);
	ctx_free(&x);
	return rc;
}
