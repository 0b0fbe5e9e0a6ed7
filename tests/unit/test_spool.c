/*
 * test_spool.c - the queue file format, its validation, and the exactly-once delivery
 * protocol: each crash point of deliver/runner.c is recreated on disk and recovered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deliver/maildir.h"
#include "deliver/runner.h"
#include "queue/export.h"
#include "queue/import.h"
#include "queue/spool.h"
#include "util/fsutil.h"
#include "util/log.h"

static char root[] = "/tmp/mailport-test-spool-XXXXXX";
static char spooldir[PATH_MAX], pattern[PATH_MAX];

static int count_files(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static char *maildir_new(const char *user, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/mail/example.org/%s/new", root, user);
	return out;
}

static char *queue_file(const char *qid, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/queue/%c/%s", spooldir, qid[strlen(qid) - 1], qid);
	return out;
}

static struct spool *open_spool(void)
{
	char err[256];
	struct spool *sp = spool_open(spooldir, err, sizeof(err));
	if (sp == NULL)
		fail_msg("spool_open: %s", err);
	return sp;
}

static void make_message(struct spool *sp, char *qid, const char *body)
{
	struct spool_msg *m = spool_msg_begin(sp, (long long)time(NULL));

	assert_non_null(m);
	snprintf(qid, SPOOL_QID_MAX, "%s", spool_msg_qid(m));
	assert_int_equal(spool_msg_sender(m, "sender@remote.example"), 0);
	assert_int_equal(spool_msg_rcpt(m, "alice@example.org", "Alice+x@example.org", 1), 0);
	assert_int_equal(spool_msg_rcpt(m, "bob@example.org", "bob@example.org", 1), 0);
	assert_int_equal(spool_msg_rcpt(m, "far@remote.example", "far@remote.example", 0), 0);
	assert_int_equal(spool_msg_write(m, body, strlen(body)), 0);
	assert_int_equal(spool_msg_commit(m), 0);
}

static void test_roundtrip(void **state)
{
	struct spool *sp = open_spool();
	struct spool_entry *e;
	char qid[SPOOL_QID_MAX], body[64];

	(void)state;
	make_message(sp, qid, "Subject: x\r\n\r\nhello\r\n");
	e = spool_entry_load(sp, qid);
	assert_non_null(e);
	assert_string_equal(e->sender, "sender@remote.example");
	assert_int_equal(e->nrcpts, 3);
	assert_string_equal(e->rcpts[0].target, "alice@example.org");
	assert_string_equal(e->rcpts[0].orig, "Alice+x@example.org");
	assert_true(e->rcpts[1].local);
	assert_false(e->rcpts[2].local);
	assert_true(e->arrival > 1700000000);
	assert_int_equal(e->body_len, 21);
	assert_int_equal(pread(e->fd, body, e->body_len, e->body_off), 21);
	assert_memory_equal(body, "Subject: x\r\n\r\nhello\r\n", 21);
	assert_int_equal(spool_entry_done(sp, e, 1), 0);
	spool_entry_free(e);
	e = spool_entry_load(sp, qid);
	assert_true(e->rcpts[1].done);
	assert_false(e->rcpts[0].done);
	assert_int_equal(spool_entry_remove(sp, e), 0);
	spool_entry_free(e);
	assert_null(spool_entry_load(sp, qid));
	assert_int_equal(errno, ENOENT);
	spool_close(sp);
}

/* The export format: a message round-trips; every damage is refused whole; an import is
 * queued once, with a failure whose bounce was owed kept; a cut between the two index lines is
 * settled at the next start by what the queue holds. */
static void test_export_import(void **state)
{
	struct export_rcpt rc[2] = { { "alice@example.org", "Alice+x@example.org", 1, 0, NULL },
	                             { "far@remote.example", "far@remote.example", 0, 550, "5.1.1 no such user" } };
	struct export_msg m = { "old.example.org/ABC1", 1700000000, 1, "s@remote.example", rc, 2,
	                        "Subject: x\r\n\r\nhi\r\n", 18 }, p;
	size_t len;
	char *buf = export_format(&m, &len), *store, qid[64], qid2[64], why[256], dir[PATH_MAX], err[256];
	const char *w;
	struct spool *sp;

	snprintf(dir, sizeof(dir), "%s/import-spool", root);     /* the other tests count the main one's */
	assert_non_null(sp = spool_open(dir, err, sizeof(err)));

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)        /* never complete before its last octet */
		assert_int_equal(export_length(buf, i, 1 << 20), 0);
	assert_int_equal(export_length(buf, len, 1 << 20), (long)len);
	assert_int_equal(export_length(buf, len, 100), -1);
	assert_int_equal(export_parse(buf, len, &p, &store, &w), 0);
	assert_string_equal(p.origin, m.origin);
	assert_int_equal(p.arrival, m.arrival);
	assert_int_equal(p.flags, 1);
	assert_int_equal(p.nrcpts, 2);
	assert_string_equal(p.rcpts[0].orig, "Alice+x@example.org");
	assert_int_equal(p.rcpts[1].fail_code, 550);
	assert_string_equal(p.rcpts[1].fail_text, "5.1.1 no such user");
	assert_memory_equal(p.body, m.body, m.body_len);
	free(p.rcpts);
	free(store);
	for (size_t i = 0; i < len; i++) {       /* any one octet changed: refused, or not a message */
		char *d = malloc(len);
		memcpy(d, buf, len);
		d[i] ^= 0x20;
		assert_int_not_equal(export_parse(d, len, &p, &store, &w), 0);
		free(d);
	}
	assert_int_equal(import_message(sp, buf, len, qid, sizeof(qid), why, sizeof(why)), IMPORT_NEW);
	assert_int_equal(import_message(sp, buf, len, qid2, sizeof(qid2), why, sizeof(why)), IMPORT_SEEN);
	assert_string_equal(qid, qid2);
	struct spool_entry *e = spool_entry_load(sp, qid);
	assert_non_null(e);
	assert_int_equal(e->arrival, 1700000000);
	assert_int_equal(e->flags, 1);
	assert_false(e->rcpts[0].done);
	assert_int_equal(e->rcpts[1].fail_code, 550);
	spool_entry_free(e);
	/* a cut import: P lines without C, one whose message made it, one whose did not */
	char idx[PATH_MAX], line[256];
	snprintf(idx, sizeof(idx), "%s/imported", dir);
	FILE *f = fopen(idx, "a");
	assert_non_null(f);
	fprintf(f, "P other.example/Q1 %s\nP other.example/Q2 0000000000000000000X\n", qid);
	fclose(f);
	assert_int_equal(import_reconcile(sp), 2);
	assert_int_equal(import_reconcile(sp), 0);
	f = fopen(idx, "r");
	int c1 = 0, a2 = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		c1 += strncmp(line, "C other.example/Q1 ", 19) == 0;
		a2 += strncmp(line, "A other.example/Q2 ", 19) == 0;
	}
	fclose(f);
	assert_int_equal(c1 + a2, 2);
	free(buf);
	spool_close(sp);
}

static void test_abort_and_tmp_cleanup(void **state)
{
	struct spool *sp = open_spool();
	char tmp[PATH_MAX];
	struct spool_msg *m;

	(void)state;
	m = spool_msg_begin(sp, 1);
	assert_int_equal(spool_msg_write(m, "x", 1), 0);
	spool_msg_abort(m);
	snprintf(tmp, sizeof(tmp), "%s/tmp", spooldir);
	assert_int_equal(count_files(tmp), 0);
	/* A small message is received in memory: nothing in tmp/. */
	m = spool_msg_begin(sp, 1);
	assert_int_equal(spool_msg_write(m, "partial", 7), 0);
	assert_int_equal(count_files(tmp), 0);
	spool_msg_abort(m);
	/* A large one goes to tmp/, and a crash mid-receive leaves it: the next open removes it. */
	static char big[SPOOL_MEM_MAX + 1];
	memset(big, 'x', sizeof(big));
	spool_close(sp);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {             /* a server that dies mid-receive */
		char err[256];
		sp = spool_open(spooldir, err, sizeof(err));
		m = sp ? spool_msg_begin(sp, 1) : NULL;
		_exit(m != NULL && spool_msg_write(m, big, sizeof(big)) == 0 ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(count_files(tmp), 1);
	sp = open_spool();
	assert_int_equal(count_files(tmp), 0);
	spool_close(sp);
}

/* Messages in memory have a budget: past it, the next one is received in tmp/ (and still
 * commits the classic way), so many large messages at once cannot exhaust memory. */
static void test_memory_budget(void **state)
{
	struct spool *sp = open_spool();
	char tmp[PATH_MAX], body[5000];
	struct spool_msg *m[4];

	(void)state;
	snprintf(tmp, sizeof(tmp), "%s/tmp", spooldir);
	memset(body, 'x', sizeof(body));
	spool_mem_budget(sp, 20000);
	for (int i = 0; i < 4; i++) {
		m[i] = spool_msg_begin(sp, 1);
		assert_non_null(m[i]);
		assert_int_equal(spool_msg_sender(m[i], "a@example.org"), 0);
		assert_int_equal(spool_msg_rcpt(m[i], "b@example.org", "b@example.org", 1), 0);
		assert_int_equal(spool_msg_write(m[i], body, sizeof(body)), 0);    /* 8 KiB buffers each */
	}
	assert_int_equal(count_files(tmp), 2);          /* two fit in 20,000 octets */
	for (int i = 0; i < 4; i++) {
		size_t len;
		assert_int_equal(spool_msg_finish(m[i]), 0);
		assert_true((spool_msg_mem(m[i], &len) != NULL) == (i < 2));
		assert_int_equal(spool_msg_commit(m[i]), 0);
	}
	assert_int_equal(count_files(tmp), 0);
	/* The budget is given back: a new message is in memory again. */
	m[0] = spool_msg_begin(sp, 1);
	assert_int_equal(spool_msg_write(m[0], body, sizeof(body)), 0);
	assert_int_equal(count_files(tmp), 0);
	spool_msg_abort(m[0]);
	spool_close(sp);
}

static void test_lock(void **state)
{
	struct spool *sp = open_spool();
	char err[256];

	(void)state;
	assert_null(spool_open(spooldir, err, sizeof(err)));
	assert_non_null(strstr(err, "in use by another mailport process"));
	spool_close(sp);
}

/* Damage a committed file in several ways; each must be quarantined, never delivered. */
static void test_corrupt(void **state)
{
	/* flipped: one octet of the body changes at rest (the length and framing stay right);
	 * sender: one octet of the envelope. */
	static const char *damage[] = { "truncate", "append", "noend", "badmagic", "badlen", "flipped", "sender" };
	char qid[SPOOL_QID_MAX], path[PATH_MAX], corrupt[PATH_MAX];
	struct stat st;

	(void)state;
	for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		struct spool *sp = open_spool();
		make_message(sp, qid, "body\r\n");
		queue_file(qid, path, sizeof(path));
		assert_int_equal(stat(path, &st), 0);
		if (strcmp(damage[i], "truncate") == 0)
			assert_int_equal(truncate(path, st.st_size - 3), 0);
		else if (strcmp(damage[i], "append") == 0) {
			FILE *fp = fopen(path, "a");
			fputs("junk", fp);
			fclose(fp);
		} else {
			size_t len;
			char *text = fs_read_file(path, 1 << 20, &len, 0);
			char *p;
			if (strcmp(damage[i], "noend") == 0)
				p = strstr(text, "\nE 0\n"), p[1] = 'X';
			else if (strcmp(damage[i], "badmagic") == 0)
				text[0] = 'X';
			else if (strcmp(damage[i], "flipped") == 0)
				p = strstr(text, "\nbody\r\n"), p[2] ^= 0x20;
			else if (strcmp(damage[i], "sender") == 0)
				p = strchr(strstr(text, "\nS "), '@'), p[1] ^= 0x01;
			else
				p = strstr(text, "M 000"), p[4] = '9';
			FILE *fp = fopen(path, "w");
			fwrite(text, 1, len, fp);
			fclose(fp);
			free(text);
		}
		assert_null(spool_entry_load(sp, qid));
		assert_int_equal(errno, EBADMSG);
		snprintf(corrupt, sizeof(corrupt), "%s/corrupt/%s", spooldir, qid);
		if (stat(corrupt, &st) != 0)
			fail_msg("%s: not quarantined", damage[i]);
		spool_close(sp);
	}
}

/* Remote recipients go to a smarthost on a closed loopback port: refused at once, so they stay
 * queued, and no test ever sends anything off this machine. */
static struct relay_conf closed_relay = { .scheme = RELAY_PLAIN, .host = "127.0.0.1", .port = "1",
                                          .helo = "test.example", .timeout = 2 };

static struct runner_conf rconf(void)
{
	struct runner_conf rc = { .maildir = pattern, .hostname = "mx.example.org", .retry_interval = 60,
	                          .relay = &closed_relay };
	return rc;
}

static void read_one(const char *dir, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];
	int fd;
	ssize_t n;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
		;
	assert_non_null(de);
	snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
	closedir(d);
	fd = open(path, O_RDONLY);
	n = read(fd, out, outlen - 1);
	close(fd);
	assert_true(n >= 0);
	out[n] = '\0';
}

static void clear_mail(void)
{
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/mail'", root);
	assert_int_equal(system(cmd), 0);
}

static void test_deliver(void **state)
{
	struct spool *sp = open_spool();
	struct runner_conf rc = rconf();
	char qid[SPOOL_QID_MAX], dir[PATH_MAX], text[4096], path[PATH_MAX];
	struct spool_entry *e;
	struct stat st;

	(void)state;
	clear_mail();
	make_message(sp, qid, "Subject: x\r\n\r\nline1\r\n.dot\r\n");
	runner_run_once(sp, &rc);
	assert_int_equal(count_files(maildir_new("alice", dir, sizeof(dir))), 1);
	assert_int_equal(count_files(maildir_new("bob", dir, sizeof(dir))), 1);
	read_one(maildir_new("alice", dir, sizeof(dir)), text, sizeof(text));
	assert_string_equal(text, "Return-Path: <sender@remote.example>\nDelivered-To: alice@example.org\n"
	                    "Subject: x\n\nline1\n.dot\n");
	/* the remote recipient keeps the message queued, local ones are done */
	e = spool_entry_load(sp, qid);
	assert_non_null(e);
	assert_true(e->rcpts[0].done && e->rcpts[1].done && !e->rcpts[2].done);
	spool_entry_free(e);
	/* running again delivers nothing twice */
	runner_run_once(sp, &rc);
	assert_int_equal(count_files(maildir_new("alice", dir, sizeof(dir))), 1);
	assert_int_equal(stat(queue_file(qid, path, sizeof(path)), &st), 0);
	/* Maildir created 0700 */
	snprintf(dir, sizeof(dir), "%s/mail/example.org/alice", root);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	spool_close(sp);
}

/* Crash points, each recreated by performing the protocol's steps by hand up to that point. */
enum crash { AFTER_TMP, AFTER_INTENT, AFTER_PUBLISH, TORN_INTENT };

static void crash_case(enum crash at)
{
	struct spool *sp = open_spool();
	struct runner_conf rc = rconf();
	char qid[SPOOL_QID_MAX], md[PATH_MAX], name[256], tmp[PATH_MAX], newp[PATH_MAX], err[512], dir[PATH_MAX];
	struct spool_entry *e;

	clear_mail();
	make_message(sp, qid, "hello\r\n");
	e = spool_entry_load(sp, qid);
	assert_int_equal(maildir_expand(pattern, "alice@example.org", md, sizeof(md)), 0);
	maildir_name(name, sizeof(name), e->arrival, e->qid, 0, "mx.example.org");
	assert_int_equal(maildir_write_tmp(md, name, e->fd, e->body_off, e->body_len, e->sender,
	                                   "alice@example.org", tmp, sizeof(tmp), err, sizeof(err)), 0);
	if (at == TORN_INTENT) {
		char qf[PATH_MAX], st[PATH_MAX + 3];
		snprintf(st, sizeof(st), "%s.st", queue_file(qid, qf, sizeof(qf)));
		FILE *fp = fopen(st, "a");
		fprintf(fp, "I 0 %s", tmp);    /* no newline: the append was torn */
		fclose(fp);
	}
	if (at >= AFTER_INTENT && at != TORN_INTENT)
		assert_int_equal(spool_entry_intent(sp, e, 0, tmp), 0);
	if (at == AFTER_PUBLISH)
		assert_int_equal(maildir_publish(tmp, newp, sizeof(newp), err, sizeof(err)), 0);
	spool_entry_free(e);
	spool_close(sp);

	sp = open_spool();         /* restart */
	runner_run_once(sp, &rc);
	assert_int_equal(count_files(maildir_new("alice", dir, sizeof(dir))), 1);
	assert_int_equal(count_files(maildir_new("bob", dir, sizeof(dir))), 1);
	snprintf(dir, sizeof(dir), "%s/mail/example.org/alice/tmp", root);
	assert_int_equal(count_files(dir), 0);
	runner_run_once(sp, &rc);
	assert_int_equal(count_files(maildir_new("alice", dir, sizeof(dir))), 1);
	spool_close(sp);
}

static void test_crash_after_tmp(void **state) { (void)state; crash_case(AFTER_TMP); }
static void test_crash_after_intent(void **state) { (void)state; crash_case(AFTER_INTENT); }
static void test_crash_after_publish(void **state) { (void)state; crash_case(AFTER_PUBLISH); }
static void test_crash_torn_intent(void **state) { (void)state; crash_case(TORN_INTENT); }

static void test_all_local_removed(void **state)
{
	struct spool *sp = open_spool();
	struct runner_conf rc = rconf();
	struct spool_msg *m = spool_msg_begin(sp, 5);
	char qid[SPOOL_QID_MAX], path[PATH_MAX], st[PATH_MAX];
	struct stat sb;

	(void)state;
	snprintf(qid, sizeof(qid), "%s", spool_msg_qid(m));
	spool_msg_sender(m, "");
	spool_msg_rcpt(m, "alice@example.org", "alice@example.org", 1);
	spool_msg_write(m, "x\r\n", 3);
	assert_int_equal(spool_msg_commit(m), 0);
	runner_run_once(sp, &rc);
	assert_int_equal(stat(queue_file(qid, path, sizeof(path)), &sb), -1);
	snprintf(st, sizeof(st), "%s.st", path);
	assert_int_equal(stat(st, &sb), -1);
	spool_close(sp);
}

struct found {
	int n;
	char qid[SPOOL_QID_MAX];
};

static void find_cb(void *arg, const char *qid)
{
	struct found *f = arg;
	f->n++;
	snprintf(f->qid, sizeof(f->qid), "%s", qid);
}

/* A message past max_queue_lifetime fails its remote recipient and bounces, once. */
static void test_expiry_bounces(void **state)
{
	struct spool *sp = open_spool();
	struct runner_conf rc = rconf();
	struct spool_msg *m;
	struct spool_entry *e;
	struct found f = { 0, "" };
	char body[8192];
	const char *domains[] = { "example.org" };
	ssize_t n;

	(void)state;
	spool_close(sp);
	snprintf(spooldir, sizeof(spooldir), "%s/spool-expiry", root);   /* a spool of its own */
	sp = open_spool();
	rc.lifetime = 3600;
	rc.local_domains = domains;
	rc.nlocal_domains = 1;
	m = spool_msg_begin(sp, (long long)time(NULL) - 7200);
	spool_msg_sender(m, "sender@remote.example");
	spool_msg_rcpt(m, "far@remote.example", "far@remote.example", 0);
	spool_msg_write(m, "Subject: old\r\nMessage-ID: <orig@x>\r\n\r\nbody\r\n", 44);
	assert_int_equal(spool_msg_commit(m), 0);
	runner_run_once(sp, &rc);
	spool_scan(sp, find_cb, &f);
	assert_int_equal(f.n, 1);                  /* the original is gone, the bounce is queued */
	e = spool_entry_load(sp, f.qid);
	assert_non_null(e);
	assert_string_equal(e->sender, "");
	assert_string_equal(e->rcpts[0].target, "sender@remote.example");
	assert_false(e->rcpts[0].local);
	n = pread(e->fd, body, e->body_len < sizeof(body) - 1 ? e->body_len : sizeof(body) - 1, e->body_off);
	body[n] = '\0';
	assert_non_null(strstr(body, "Content-Type: multipart/report; report-type=delivery-status"));
	assert_non_null(strstr(body, "Final-Recipient: rfc822; far@remote.example"));
	assert_non_null(strstr(body, "Action: failed"));
	assert_non_null(strstr(body, "Status: 5.4.7"));
	assert_non_null(strstr(body, "Message-ID: <orig@x>"));    /* the original's headers */
	assert_non_null(strstr(body, "Auto-Submitted: auto-replied"));
	spool_entry_free(e);
	/* the bounce itself expires without a bounce of its own (sender <>) */
	runner_run_once(sp, &rc);
	f.n = 0;
	spool_scan(sp, find_cb, &f);
	assert_int_equal(f.n, 1);                  /* still queued: it has its own lifetime */
	spool_close(sp);
}

static void test_maildir_expand(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(maildir_expand("/m/%d/%u/Maildir", "bob@example.org", out, sizeof(out)), 0);
	assert_string_equal(out, "/m/example.org/bob/Maildir");
	assert_int_equal(maildir_expand("/m/%%/%u", "bob@example.org", out, sizeof(out)), 0);
	assert_string_equal(out, "/m/%/bob");
	assert_int_equal(maildir_expand("/m/%u", "../x@example.org", out, sizeof(out)), -1);
	assert_int_equal(maildir_expand("/m/%u", ".hidden@example.org", out, sizeof(out)), -1);
	assert_int_equal(maildir_expand("/m/%d/%u", "a@b/c", out, sizeof(out)), -1);
	assert_int_equal(maildir_expand("/m/%u", "noat", out, sizeof(out)), -1);
	maildir_name(out, sizeof(out), 17, "QID", 2, "host/with:odd");
	assert_string_equal(out, "17.QQIDR2.host\\057with\\072odd");
}

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_LVL_ERR + 1);
	if (mkdtemp(root) == NULL)
		return -1;
	snprintf(spooldir, sizeof(spooldir), "%s/spool", root);
	snprintf(pattern, sizeof(pattern), "%s/mail/%%d/%%u", root);
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_export_import),
		cmocka_unit_test(test_abort_and_tmp_cleanup),
		cmocka_unit_test(test_memory_budget),
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_deliver),
		cmocka_unit_test(test_crash_after_tmp),
		cmocka_unit_test(test_crash_after_intent),
		cmocka_unit_test(test_crash_after_publish),
		cmocka_unit_test(test_crash_torn_intent),
		cmocka_unit_test(test_all_local_removed),
		cmocka_unit_test(test_maildir_expand),
		cmocka_unit_test(test_expiry_bounces),
	};
	return cmocka_run_group_tests_name("spool", tests, setup, teardown);
}
