/*
 * cmd_queuemove.c - `mailport queue export` and `import`: a retired node's queue onto another
 * node (docs/scale-out.md). Export reads the stopped node's spool itself (its journal
 * replayed first, as a start would); import hands the running server one message at a time
 * over its control socket, and the server queues it exactly once (queue/import.h).
 */
#include "cmd_queuemove.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "../conf/config.h"
#include "../queue/export.h"
#include "../queue/journal.h"
#include "../queue/spool.h"
#include "../sandbox/sandbox.h"
#include "../util/errlist.h"
#include "../util/fsutil.h"
#include "../util/log.h"
#include "ctlsock.h"

struct qids {
	char (*id)[SPOOL_QID_MAX];
	size_t n, cap;
};

static void collect(void *arg, const char *qid)
{
	struct qids *q = arg;

	if (q->n == q->cap) {
		size_t nc = q->cap ? q->cap * 2 : 256;
		void *np = realloc(q->id, nc * sizeof(*q->id));
		if (np == NULL)
			return;
		q->id = np;
		q->cap = nc;
	}
	snprintf(q->id[q->n++], SPOOL_QID_MAX, "%s", qid);
}

struct tally {
	size_t messages, rcpts, failed, staged, skipped;
};

/* One message to out: only what is still to be done. 0 written or nothing to write; -1 a
 * write failed (the reader went away). */
static int export_one(struct spool *sp, const char *host, const char *qid, FILE *out, struct tally *t)
{
	struct spool_entry *e = spool_entry_peek(sp, qid);
	struct export_rcpt *rc = NULL;
	struct export_msg m;
	char origin[EXPORT_ORIGIN_MAX], *body = NULL, *buf = NULL;
	size_t n = 0, len;
	int r = 0;

	if (e == NULL) {
		fprintf(stderr, "mailport queue export: %s: cannot read: %s (not exported)\n", qid, strerror(errno));
		t->skipped++;
		return 0;
	}
	if ((rc = calloc(e->nrcpts ? e->nrcpts : 1, sizeof(*rc))) == NULL || (body = malloc(e->body_len + 1)) == NULL)
		goto oom;
	for (size_t i = 0; i < e->nrcpts; i++) {
		const struct spool_rcpt *sr = &e->rcpts[i];
		if (sr->done || (sr->fail_code && sr->bounced))
			continue;
		if (sr->intent != NULL) {
			/* Its copy is staged in this node's Maildir (a delivery cut by a crash): only this
			 * node can tell whether it was published, which a start finishes. */
			fprintf(stderr, "mailport queue export: %s: to=<%s> has a copy staged in this node's Maildir; "
			        "start this node once to finish it (not exported)\n", qid, sr->target);
			t->staged++;
			continue;
		}
		rc[n] = (struct export_rcpt){ sr->target, sr->orig, sr->local, sr->fail_code, sr->fail_text };
		t->failed += sr->fail_code != 0;
		n++;
	}
	if (n == 0)
		goto out;
	if (pread(e->fd, body, e->body_len, e->body_off) != (ssize_t)e->body_len) {
		fprintf(stderr, "mailport queue export: %s: cannot read the message: %s (not exported)\n", qid,
		        strerror(errno));
		t->skipped++;
		goto out;
	}
	snprintf(origin, sizeof(origin), "%s/%s", host, qid);
	m = (struct export_msg){ origin, e->arrival, e->flags, e->sender, rc, n, body, e->body_len };
	if ((buf = export_format(&m, &len)) == NULL)
		goto oom;
	if (fwrite(buf, 1, len, out) != len)
		r = -1;
	t->messages++;
	t->rcpts += n;
out:
	free(buf);
	free(body);
	free(rc);
	spool_entry_free(e);
	return r;
oom:
	fprintf(stderr, "mailport queue export: %s: out of memory\n", qid);
	r = -1;
	goto out;
}

int queue_export(const char *config)
{
	struct errlist errs = { 0 };
	struct config *c = config_load(config, &errs);
	struct spool *sp = NULL;
	struct journal *j = NULL;
	struct qids q = { 0 };
	struct tally t = { 0 };
	char err[512];
	int rc = EX_IOERR;

	if (c == NULL) {
		errlist_print(&errs, stderr);
		errlist_free(&errs);
		return EX_CONFIG;
	}
	/* As root: become the server's user, so that nothing in the spool changes hands. */
	if (geteuid() == 0 && c->user != NULL) {
		struct passwd *pw = getpwnam(c->user);
		if (pw == NULL || sandbox_become(pw) < 0) {
			fprintf(stderr, "mailport queue export: cannot become user %s\n", c->user);
			config_free(c);
			return EX_NOPERM;
		}
	}
	log_set_fd(STDERR_FILENO);
	if ((sp = spool_open(c->spool, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mailport queue export: %s%s\n", err,
		        strstr(err, "in use") ? ": stop the server first (systemctl stop mailport); export reads a "
		                                "stopped node's queue" : "");
		rc = strstr(err, "in use") ? EX_TEMPFAIL : EX_CANTCREAT;
		goto out;
	}
	if ((j = journal_open(sp, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mailport queue export: %s\n", err);
		goto out;
	}
	if (spool_scan(sp, collect, &q) < 0) {
		fprintf(stderr, "mailport queue export: cannot read the queue: %s\n", strerror(errno));
		goto out;
	}
	if (fwrite(EXPORT_MAGIC, 1, sizeof(EXPORT_MAGIC) - 1, stdout) != sizeof(EXPORT_MAGIC) - 1)
		goto out;
	for (size_t i = 0; i < q.n; i++)
		if (export_one(sp, c->hostname, q.id[i], stdout, &t) < 0)
			goto out;
	if (fflush(stdout) != 0) {
		fprintf(stderr, "mailport queue export: cannot write: %s\n", strerror(errno));
		goto out;
	}
	fprintf(stderr, "mailport queue export: %zu message%s, %zu recipient%s (%zu failed, their bounce owed)%s.\n"
	        "This spool still holds them: once they are imported, do not start a server on %s again.\n",
	        t.messages, t.messages == 1 ? "" : "s", t.rcpts, t.rcpts == 1 ? "" : "s", t.failed,
	        t.staged || t.skipped ? "; some recipients were not exported (said above)" : "", c->spool);
	rc = t.staged || t.skipped ? EX_TEMPFAIL : 0;
out:
	free(q.id);
	journal_close(j);
	spool_close(sp);
	config_free(c);
	return rc;
}

/* One message to the server: 0 imported, 1 imported before, -1 refused or no answer. */
static int import_one(const struct ctl_addr *a, const char *buf, size_t len, char *reply, size_t replylen)
{
	char head[64];
	int fd = ctl_connect("mailport queue import", a), n;
	size_t got = 0;
	ssize_t r;

	reply[0] = '\0';
	if (fd < 0)
		return -2;
	n = snprintf(head, sizeof(head), "IMPORT %zu\n", len);
	if (fs_write_all(fd, head, (size_t)n) < 0 || fs_write_all(fd, buf, len) < 0) {
		snprintf(reply, replylen, "cannot talk to the server: %s", strerror(errno));
		close(fd);
		return -1;
	}
	while (got + 1 < replylen && (r = read(fd, reply + got, replylen - got - 1)) > 0)
		got += (size_t)r;
	reply[got] = '\0';
	reply[strcspn(reply, "\n")] = '\0';
	close(fd);
	if (strncmp(reply, "imported ", 9) == 0)
		return 0;
	if (strncmp(reply, "seen ", 5) == 0)
		return 1;
	if (reply[0] == '\0')
		snprintf(reply, replylen, "the server closed without an answer");
	return -1;
}

int queue_import(const char *config)
{
	static char magic[sizeof(EXPORT_MAGIC)];
	size_t cap = 1 << 20, have = 0, imported = 0, seen = 0, refused = 0;
	char *buf, reply[512];
	struct ctl_addr a;
	int eof = 0;

	if (ctl_address(config, &a) < 0)
		return EX_CONFIG;
	if ((buf = malloc(cap)) == NULL)
		return EX_OSERR;
	if (fread(magic, 1, sizeof(EXPORT_MAGIC) - 1, stdin) != sizeof(EXPORT_MAGIC) - 1 ||
	    memcmp(magic, EXPORT_MAGIC, sizeof(EXPORT_MAGIC) - 1) != 0) {
		fprintf(stderr, "mailport queue import: stdin is not a mailport queue export (it begins %s)\n",
		        EXPORT_MAGIC);
		free(buf);
		return EX_DATAERR;
	}
	for (;;) {
		long mlen = have ? export_length(buf, have, (size_t)1 << 40) : 0;
		if (mlen < 0) {
			fprintf(stderr, "mailport queue import: the stream is damaged after %zu messages; stopped\n",
			        imported + seen + refused);
			refused++;
			break;
		}
		if (mlen == 0) {
			if (eof) {
				if (have > 0) {
					fprintf(stderr, "mailport queue import: the stream was cut inside a message; that one is "
					        "not imported\n");
					refused++;
				}
				break;
			}
			if (have == cap) {
				char *nb = realloc(buf, cap * 2);
				if (nb == NULL)
					break;
				buf = nb;
				cap *= 2;
			}
			size_t r = fread(buf + have, 1, cap - have, stdin);
			have += r;
			eof = r == 0;
			continue;
		}
		int r = import_one(&a, buf, (size_t)mlen, reply, sizeof(reply));
		if (r == -2) {
			free(buf);
			return EX_UNAVAILABLE;
		}
		if (r == 0)
			imported++;
		else if (r == 1)
			seen++;
		else {
			fprintf(stderr, "mailport queue import: a message was refused: %s\n", reply);
			refused++;
		}
		memmove(buf, buf + mlen, have - (size_t)mlen);
		have -= (size_t)mlen;
	}
	free(buf);
	printf("imported %zu message%s; %zu imported before (skipped); %zu refused\n", imported, imported == 1 ? "" : "s",
	       seen, refused);
	return refused ? 1 : 0;
}
