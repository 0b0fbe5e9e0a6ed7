/*
 * privileges.c - what a server started as root does before it reads the network: the mail
 * user checked, the spool given to it, the Maildir root prepared, the delivery agent started
 * (docs/security-model.md), and the process confined by Landlock to its spool. Also
 * `serve --check-config`, which checks the same things without starting.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "../deliver/agent.h"
#include "../deliver/target.h"
#include "../sandbox/sandbox.h"
#include "../util/fsutil.h"
#include "../util/log.h"
#include "server.h"
#include "server_int.h"

/* ---- privileges ---------------------------------------------------------------------------
 * Started as root: everything under the spool is given to [server] user, the ports are bound,
 * then we become that user, before any thread starts. Root without a user is refused: a bug
 * in code that parses the network must not come with root's powers (docs/security-model.md). */

static uid_t tree_uid;
static gid_t tree_gid;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if ((st->st_uid != tree_uid || st->st_gid != tree_gid) && lchown(path, tree_uid, tree_gid) < 0) {
		log_warn(NULL, "cannot give %s to the mail user", path);
		return -1;
	}
	return 0;
}

/* The spool, and all it holds, to the mail user. */
int server_give_spool(const char *spool, const struct passwd *pw)
{
	tree_uid = pw->pw_uid;
	tree_gid = pw->pw_gid;
	return nftw(spool, chown_one, 16, FTW_PHYS);
}

/* The mail user of the configuration into *pw (NULL: none), or errors (file:line) in errs. */
int server_user(const struct config *cfg, struct passwd **pw, struct errlist *errs)
{
	int line = config_line(cfg, "server", "user");

	*pw = NULL;
	if (cfg->user != NULL && (*pw = getpwnam(cfg->user)) == NULL) {
		errlist_add(errs, cfg->path, line, "[server] user: no such user \"%s\"", cfg->user);
		return -1;
	}
	if (geteuid() == 0 && *pw == NULL) {
		errlist_add(errs, cfg->path, line, "started as root without [server] user; mailport does not run as "
		            "root: set user = mailport (an unprivileged account), or start it as that user with "
		            "CAP_NET_BIND_SERVICE");
		return -1;
	}
	if (geteuid() != 0 && *pw != NULL && (*pw)->pw_uid != geteuid()) {
		errlist_add(errs, cfg->path, line, "[server] user = %s, but only root can become it (running as uid %lu)",
		            cfg->user, (unsigned long)geteuid());
		return -1;
	}
	return 0;
}

/* The Maildir root: made when missing, as the delivery agent would make it, and (started as
 * root) each directory made here is given to the mail user, as the spool is; a root that
 * exists keeps its owner. Then the mail user must be able to write in it. 0, or -1 with why. */
static int prepare_maildir_root(const char *root, const struct passwd *pw, char *why, size_t whylen)
{
	struct stat st;
	int as_root = pw != NULL && geteuid() == 0;

	if ((as_root ? fs_mkdir_p_owned(root, 0700, pw->pw_uid, pw->pw_gid) : fs_mkdir_p(root, 0700)) < 0 ||
	    stat(root, &st) < 0) {
		snprintf(why, whylen, "cannot create %s: %s", root, strerror(errno));
		return -1;
	}
	if (as_root ? !(st.st_uid == pw->pw_uid ? st.st_mode & S_IWUSR : st.st_gid == pw->pw_gid ?
	                st.st_mode & S_IWGRP : st.st_mode & S_IWOTH) :
	              access(root, W_OK | X_OK) < 0) {
		snprintf(why, whylen, "%s exists but %s cannot write in it (owner uid %lu, mode %04o): give it to "
		         "that user (chown)", root, pw != NULL ? pw->pw_name : "this user", (unsigned long)st.st_uid,
		         (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* The Maildir root of a configuration (discard: and lmtp: have none): 0, 1 for none, -1 with errs. */
static int maildir_root_of(const struct config *cfg, char *root, size_t len, struct errlist *errs)
{
	if (!target_has_maildir(cfg->maildir))
		return 1;
	if (agent_maildir_root(cfg->maildir, root, len) < 0) {
		errlist_add(errs, cfg->path, config_line(cfg, "server", "maildir"),
		            "[server] maildir %s: not an absolute path without . or .. components", cfg->maildir);
		return -1;
	}
	return 0;
}

int server_check_config(const char *config_path)
{
	struct errlist errs = { 0 };
	struct runconf *rc = runconf_load(config_path, &errs);
	char err[PATH_MAX + 256], root[PATH_MAX];
	struct passwd *pw = NULL;

	if (rc != NULL) {
		const struct config *cfg = rc->cfg;
		int user_ok = server_user(cfg, &pw, &errs) == 0;
		if (spool_check(cfg->spool, err, sizeof(err)) < 0)
			errlist_add(&errs, cfg->path, config_line(cfg, "server", "spool"), "[server] %s", err);
		/* As root, the check made what was missing of the spool as root: it is the mail user's,
		 * as serve would make it, or a server started as that user (systemd's User=) could not
		 * write its own queue. */
		else if (user_ok && pw != NULL && geteuid() == 0 && server_give_spool(cfg->spool, pw) < 0)
			errlist_add(&errs, cfg->path, config_line(cfg, "server", "spool"), "[server] spool %s: cannot give it "
			            "to user %s: %s", cfg->spool, pw->pw_name, strerror(errno));
		if (user_ok && maildir_root_of(cfg, root, sizeof(root), &errs) == 0 &&
		    prepare_maildir_root(root, pw, err, sizeof(err)) < 0)
			errlist_add(&errs, cfg->path, config_line(cfg, "server", "maildir"), "[server] maildir root %s", err);
	}
	runconf_unref(rc);
	errlist_print(&errs, stderr);
	if (errs.n > 0 || rc == NULL) {
		errlist_free(&errs);
		return EX_CONFIG;
	}
	printf("configuration OK\n");
	return 0;
}


/* ---- the Maildir agent and confinement (docs/security-model.md) ---------------------------
 * The agent is started before we confine ourselves (Landlock rules are inherited and can only
 * narrow) and before any thread; it is a fresh exec of this binary, so it holds none of what
 * this process has loaded. Then this process, which parses the network, keeps write access to
 * the spool only, and read access to the system and to the directories its configuration,
 * keys and users file came from (for a reload), not to the Maildirs. */

int server_start_agent(struct server *srv, const struct passwd *pw)
{
	const struct config *cfg = srv->rc->cfg;
	char root[PATH_MAX], err[PATH_MAX + 256];
	struct errlist errs = { 0 };
	int r = maildir_root_of(cfg, root, sizeof(root), &errs);

	if (r != 0) {
		errlist_print(&errs, stderr);
		errlist_free(&errs);
		return r > 0 ? 0 : -1;
	}
	if (pw != NULL && geteuid() == 0 && prepare_maildir_root(root, pw, err, sizeof(err)) < 0) {
		log_errx(NULL, "%s: [server] maildir root %s", cfg->path, err);
		return -1;
	}
	srv->agent = agent_spawn(cfg->relay_concurrency, root, pw != NULL ? pw->pw_name : NULL, err, sizeof(err));
	if (srv->agent == NULL) {
		log_errx(NULL, "cannot start the local delivery agent: %s", err);
		return -1;
	}
	log_info(NULL, "local delivery agent pid=%ld root=%s %s", (long)agent_pid(srv->agent), root, err);
	if (strcmp(root, "/") == 0)
		log_warnx(NULL, "%s: [server] maildir %s: its Maildirs may be anywhere, so the delivery agent "
		          "may write anywhere the mail user can", cfg->path, cfg->maildir);
	return 0;
}

/* Appends the directory of path (or path itself when it is a directory) to dirs. */
static void add_dir_of(char (*dirs)[PATH_MAX], size_t *n, size_t max, const char *path)
{
	struct stat st;
	char *slash;

	if (path == NULL || *n >= max)
		return;
	snprintf(dirs[*n], PATH_MAX, "%s", path);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if ((slash = strrchr(dirs[*n], '/')) == NULL)
			snprintf(dirs[*n], PATH_MAX, ".");
		else if (slash == dirs[*n])
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	(*n)++;
}

int server_confine(const struct runconf *rc)
{
	static const char *const sys[] = { "/etc", "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin",
	                                   "/proc", "/sys", "/dev", "/run" };
	enum { NSYS = sizeof(sys) / sizeof(sys[0]), MAXR = NSYS + 9 + 2 * CONFIG_MAX_CERTS + CONFIG_MAX_DKIM };
	const struct config *cfg = rc->cfg;
	char (*dirs)[PATH_MAX] = calloc(MAXR, PATH_MAX);
	const char *rd[MAXR], *wr[1] = { cfg->spool };
	size_t n = 0;

	if (dirs == NULL)
		return -1;
	add_dir_of(dirs, &n, MAXR, cfg->path);
	add_dir_of(dirs, &n, MAXR, cfg->users);
	add_dir_of(dirs, &n, MAXR, cfg->app_passwords);    /* read again after each change */
	add_dir_of(dirs, &n, MAXR, cfg->relay_ca_file);
	add_dir_of(dirs, &n, MAXR, rc->trust_anchor);     /* DNSSEC: read by each validating lookup */
	add_dir_of(dirs, &n, MAXR, cfg->mta_sts_ca_file);
	add_dir_of(dirs, &n, MAXR, cfg->client_ca);        /* a reload reads it again */
	add_dir_of(dirs, &n, MAXR, cfg->client_crl);       /* read again after each change */
	for (size_t i = 0; i < cfg->ncerts; i++) {
		add_dir_of(dirs, &n, MAXR, cfg->certs[i].cert);
		add_dir_of(dirs, &n, MAXR, cfg->certs[i].key);
	}
	for (size_t i = 0; i < cfg->ndkim; i++)
		add_dir_of(dirs, &n, MAXR, cfg->dkim[i].path);  /* a reload reads the keys again */
	for (size_t i = 0; i < NSYS; i++)
		rd[i] = sys[i];
	for (size_t i = 0; i < n; i++)
		rd[NSYS + i] = dirs[i];
	/* Its listeners are bound; it connects out (relay, MX) but never binds another port. */
	struct sandbox_rules rules = { rd, NSYS + n, wr, 1, SANDBOX_NO_TCP_BIND };
	int abi = sandbox_confine(&rules);
	free(dirs);
	if (abi < 0) {
		log_warn(NULL, "cannot confine the server process");
		return -1;
	}
	if (abi == 0)
		log_warnx(NULL, "landlock=unavailable: this kernel has no Landlock, so the server process is not "
		          "confined to its spool (Linux 5.13 or later, with landlock in lsm=)");
	else
		log_info(NULL, "confined landlock=abi%d write=%s", abi, cfg->spool);
	return 0;
}

