/*
 * import.c - exported messages into this node's queue, exactly once; see import.h.
 */
#include "import.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/fsutil.h"
#include "../util/log.h"
#include "export.h"
#include "spool.h"

#define INDEX_MAX (256L * 1024 * 1024)

static void index_path(struct spool *sp, char *buf, size_t len)
{
	snprintf(buf, len, "%s/imported", spool_dir(sp));
}

/* One line, durable before we go on (the directory too, when the file is new). */
static int index_add(struct spool *sp, char state, const char *origin, const char *qid)
{
	char path[PATH_MAX], line[EXPORT_ORIGIN_MAX + 64];
	int n = snprintf(line, sizeof(line), "%c %s %s\n", state, origin, qid);
	int created = 0, fd, r;

	index_path(sp, path, sizeof(path));
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0 && errno == ENOENT) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		created = 1;
	}
	if (fd < 0)
		return -1;
	r = fs_write_all(fd, line, (size_t)n) < 0 || fdatasync(fd) < 0 ? -1 : 0;
	if (close(fd) < 0)
		r = -1;
	if (r == 0 && created && fs_fsync_dir(spool_dir(sp)) < 0)
		r = -1;
	return r;
}

/* The index's last word on origin: 'C', 'P', 'A' or 0 (never seen), with its qid. With
 * origin NULL, fn is called for every origin whose last word is P. */
static char index_find(struct spool *sp, const char *origin, char *qid, size_t qidlen,
                       void (*fn)(struct spool *sp, const char *origin, const char *qid, void *arg), void *arg)
{
	char path[PATH_MAX], *text, *line, *save = NULL, last = 0;
	size_t len;

	index_path(sp, path, sizeof(path));
	if ((text = fs_read_file(path, INDEX_MAX, &len, FS_REGULAR)) == NULL)
		return 0;
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *o = line + 2, *q = strchr(o, ' ');
		if (strlen(line) < 4 || line[1] != ' ' || q == NULL)
			continue;
		*q++ = '\0';
		if (origin != NULL && strcmp(o, origin) == 0) {
			last = line[0];
			snprintf(qid, qidlen, "%s", q);
		}
		if (origin == NULL && line[0] == 'P') {
			/* settled later in the file? */
			int settled = 0;
			size_t ol = strlen(o);
			for (char *p = q + strlen(q) + 1; p < text + len && !settled; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : text + len)
				settled = (p[0] == 'C' || p[0] == 'A') && p[1] == ' ' && strncmp(p + 2, o, ol) == 0 && p[2 + ol] == ' ';
			if (!settled)
				fn(sp, o, q, arg);
		}
	}
	free(text);
	return last;
}

static int bad(char *why, size_t whylen, const char *fmt, const char *arg)
{
	snprintf(why, whylen, fmt, arg);
	return -1;
}

int import_message(struct spool *sp, const char *buf, size_t len, char *qid, size_t qidlen, char *why, size_t whylen)
{
	struct export_msg m;
	struct spool_msg *sm = NULL;
	char *store;
	const char *w;
	int r = -1;

	qid[0] = '\0';
	if (export_parse(buf, len, &m, &store, &w) < 0)
		return bad(why, whylen, "%s", w);
	if (strlen(m.origin) >= EXPORT_ORIGIN_MAX || m.origin[0] == '\0' || strpbrk(m.origin, " \t\r\n") != NULL) {
		bad(why, whylen, "%s", "bad origin");
		goto out;
	}
	if (index_find(sp, m.origin, qid, qidlen, NULL, NULL) == 'C') {
		r = IMPORT_SEEN;
		goto out;
	}
	if ((sm = spool_msg_begin(sp, m.arrival)) == NULL) {
		bad(why, whylen, "cannot queue: %s", strerror(errno));
		goto out;
	}
	snprintf(qid, qidlen, "%s", spool_msg_qid(sm));
	if (index_add(sp, 'P', m.origin, qid) < 0) {
		bad(why, whylen, "cannot write the import index: %s", strerror(errno));
		goto out;
	}
	int ok = spool_msg_sender(sm, m.sender) == 0;
	for (size_t i = 0; ok && i < m.nrcpts; i++)
		ok = spool_msg_rcpt(sm, m.rcpts[i].target, m.rcpts[i].orig, m.rcpts[i].local) == 0;
	spool_msg_flags(sm, m.flags);
	if (ok)
		ok = spool_msg_write(sm, m.body, m.body_len) == 0;
	if (!ok || spool_msg_commit(sm) < 0) {
		if (ok)
			sm = NULL;      /* commit freed it */
		bad(why, whylen, "cannot queue: %s", strerror(errno));
		(void)index_add(sp, 'A', m.origin, qid);
		goto out;
	}
	sm = NULL;
	if (index_add(sp, 'C', m.origin, qid) < 0)
		log_warn(qid, "imported, but its index line was not written (import_reconcile settles it at the next start)");
	/* A failure whose bounce the old node still owed: owed here now. Should this be cut short,
	 * the recipient is tried again and fails again: told late, never lost. */
	size_t nfailed = 0;
	for (size_t i = 0; i < m.nrcpts; i++)
		nfailed += m.rcpts[i].fail_code != 0;
	struct spool_entry *e = nfailed ? spool_entry_load(sp, qid) : NULL;
	for (size_t i = 0; e != NULL && i < m.nrcpts && i < e->nrcpts; i++)
		if (m.rcpts[i].fail_code)
			(void)spool_entry_failed(sp, e, i, m.rcpts[i].fail_code, m.rcpts[i].fail_text);
	spool_entry_free(e);
	log_info(qid, "imported origin=%s from=<%s> nrcpt=%zu failed=%zu size=%zu", m.origin, m.sender, m.nrcpts, nfailed,
	         m.body_len);
	r = IMPORT_NEW;
out:
	spool_msg_abort(sm);
	free(m.rcpts);
	free(store);
	return r;
}

static void settle(struct spool *sp, const char *origin, const char *qid, void *arg)
{
	struct spool_entry *e = spool_entry_peek(sp, qid);
	int *n = arg;

	(void)index_add(sp, e != NULL ? 'C' : 'A', origin, qid);
	log_info(qid, "import of origin=%s %s", origin, e != NULL ? "completed before the stop: kept"
	                                                          : "cut before its commit: it may be imported again");
	spool_entry_free(e);
	(*n)++;
}

int import_reconcile(struct spool *sp)
{
	int n = 0;
	char qid[8];

	index_find(sp, NULL, qid, sizeof(qid), settle, &n);
	return n;
}
