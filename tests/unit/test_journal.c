/*
 * test_journal.c - the acceptance journal's promises, with real crashes: a child process
 * accepts messages (append + fdatasync, as before a 250) and dies with _exit() at each stage;
 * the parent reopens the spool and checks that every acknowledged message is in queue/
 * exactly once, that a torn append is ignored, that a checkpointed (maybe already delivered)
 * message is never brought back, and that neither is one delivered from memory whose done
 * record was synced.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue/admin.h"
#include "queue/journal.h"
#include "queue/spool.h"
#include "util/log.h"

static char root[] = "/tmp/mailport-test-journal-XXXXXX";

static int count_queue(void)
{
	char path[PATH_MAX];
	int n = 0;

	for (int b = 0; b < 16; b++) {
		DIR *d;
		struct dirent *de;
		snprintf(path, sizeof(path), "%s/queue/%X", root, b);
		if ((d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.' && strstr(de->d_name, ".st") == NULL)    /* messages, not logs */
				n++;
		closedir(d);
	}
	return n;
}

static void wipe(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s/*", root);
	assert_int_equal(system(cmd), 0);
}

/* Message i, to b@ (and c@ with two: two local recipients). */
static struct spool_msg *message(struct spool *sp, int i, int two)
{
	struct spool_msg *m = spool_msg_begin(sp, 1000 + i);
	char body[128];

	assert_non_null(m);
	assert_int_equal(spool_msg_sender(m, "a@example.org"), 0);
	assert_int_equal(spool_msg_rcpt(m, "b@example.org", "b@example.org", 1), 0);
	if (two)
		assert_int_equal(spool_msg_rcpt(m, "c@example.org", "c@example.org", 1), 0);
	snprintf(body, sizeof(body), "Subject: %d\r\n\r\nbody %d\r\n", i, i);
	assert_int_equal(spool_msg_write(m, body, strlen(body)), 0);
	assert_int_equal(spool_msg_finish(m), 0);
	return m;
}

static void collect(void *arg, const char *qid)
{
	(void)qid;
	(*(int *)arg)++;
}

/* Offsets of the journal's message records (MPJ1), in order, walking its generation from 0. */
static int message_records(off_t *at, int max)
{
	char path[PATH_MAX], hdr[64];
	off_t pos = 0;
	int n = 0, fd;

	snprintf(path, sizeof(path), "%s/journal", root);
	if ((fd = open(path, O_RDONLY)) < 0)
		return -1;
	while (n < max && pread(fd, hdr, sizeof(hdr), pos) == (ssize_t)sizeof(hdr) &&
	       (memcmp(hdr, "MPJ1", 4) == 0 || memcmp(hdr, "MPJG", 4) == 0 || memcmp(hdr, "MPJD", 4) == 0 ||
	        memcmp(hdr, "MPJS", 4) == 0)) {
		uint64_t len;
		memcpy(&len, hdr + 8, 8);
		if (memcmp(hdr, "MPJ1", 4) == 0)
			at[n++] = pos;
		pos = (pos + 64 + (off_t)len + 511) / 512 * 512;
	}
	close(fd);
	return n;
}

/* In a child: accept n messages into the journal, then stop as told. */
enum stage { AFTER_SYNC, TORN_LAST, AFTER_CHECKPOINT, CLEAN_CLOSE, DELIVER_SOME, STATE_LINE, BUSY_CHECKPOINT,
             INTENT_IN_MEMORY, INTENT_THEN_CHECKPOINT, SYNC_EACH, TWO_RCPTS_DONE, DEFER_THEN_DELIVER, DELETE_FROM_MEMORY,
             PRESPILL_THEN_DELIVER, PRESPILL_THEN_CHECKPOINT };

struct qids {
	char id[64][SPOOL_QID_MAX];
	int n;
};

static void remember(void *arg, const char *qid)
{
	struct qids *q = arg;
	snprintf(q->id[q->n++], SPOOL_QID_MAX, "%s", qid);
}

static unsigned long done_hook(void *arg, const char *qid, unsigned gen)
{
	return journal_done(arg, qid, gen);
}

static unsigned long note_hook(void *arg, const char *qid, unsigned gen, const char *line, size_t len)
{
	return journal_note(arg, qid, gen, line, len);
}

/* No committer thread here: the waiter syncs itself. */
static void wait_hook(void *arg, unsigned long ticket)
{
	if (journal_sync(arg) == 0)
		journal_done_wait(arg, ticket);
}

#define INTENT_PATH "/maildir/tmp/1.M2.host"

static void child(int n, enum stage stage)
{
	char err[256];
	struct spool *sp = spool_open(root, err, sizeof(err));
	struct journal *j = sp ? journal_open(sp, err, sizeof(err)) : NULL;

	struct qids q = { .n = 0 };

	if (j == NULL)
		_exit(2);
	spool_mem_on_done(sp, done_hook, note_hook, wait_hook, j);
	for (int i = 0; i < n; i++) {
		struct spool_msg *m = message(sp, i, stage == TWO_RCPTS_DONE);
		remember(&q, spool_msg_qid(m));
		if (journal_append(j, m) != 0)
			_exit(3);
		if (stage == SYNC_EACH && journal_sync(j) < 0)
			_exit(4);       /* each its own batch, as from clients one after the other */
	}
	if (journal_sync(j) < 0)
		_exit(4);
	if (stage == TORN_LAST) {
		/* The last record's payload loses a byte on its way to the disk. */
		char path[PATH_MAX];
		snprintf(path, sizeof(path), "%s/journal", root);
		off_t at[64];
		int nrec = message_records(at, 64);
		int fd = open(path, O_RDWR);
		char c = 'X';
		if (nrec < 1 || pwrite(fd, &c, 1, at[nrec - 1] + 64 + 5) != 1)
			_exit(5);
		close(fd);
	}
	if (stage == AFTER_CHECKPOINT && journal_checkpoint(j) < 0)
		_exit(6);
	if (stage == DELIVER_SOME) {
		/* The runner delivers the first three from memory; their done records are synced. */
		for (int i = 0; i < 3; i++) {
			struct spool_entry *e = spool_entry_load(sp, q.id[i]);
			if (e == NULL || e->body_len == 0 || spool_entry_remove(sp, e) < 0)
				_exit(7);
			spool_entry_free(e);
		}
		if (journal_sync(j) < 0 || spool_mem_count(sp) != (size_t)n - 3)
			_exit(8);
	}
	if (stage == STATE_LINE) {
		/* A temporary failure must be written down: the message goes to queue/ first. */
		struct spool_entry *e = spool_entry_load(sp, q.id[0]);
		if (e == NULL || spool_entry_retry(sp, e, 2000000000LL, "try later") < 0 || count_queue() != 1)
			_exit(9);
		spool_entry_free(e);
	}
	if (stage == INTENT_IN_MEMORY || stage == INTENT_THEN_CHECKPOINT) {
		/* A Maildir intent of a message in memory: into the journal, not into queue/. */
		struct spool_entry *e = spool_entry_load(sp, q.id[0]);
		if (e == NULL || spool_entry_intent(sp, e, 0, INTENT_PATH) < 0 || count_queue() != 0)
			_exit(12);
		if (stage == INTENT_THEN_CHECKPOINT && (journal_checkpoint(j) < 0 || count_queue() != n))
			_exit(13);
		spool_entry_free(e);
	}
	if (stage == BUSY_CHECKPOINT) {
		/* A checkpoint while one is being delivered: it is written to queue/ with the rest,
		 * and the delivery's removal then removes that file. */
		struct spool_entry *e = spool_entry_load(sp, q.id[0]);
		if (e == NULL || journal_checkpoint(j) < 0 || count_queue() != n || spool_mem_count(sp) != 0)
			_exit(10);
		if (spool_entry_remove(sp, e) < 0 || count_queue() != n - 1)
			_exit(11);
		spool_entry_free(e);
	}
	if (stage == TWO_RCPTS_DONE) {
		/* The runner's order for two Maildir copies: intent, publish, done for the first (the
		 * message goes to queue/ for that line), intent for the last, then the removal, which
		 * goes without a done line. The crash comes right after it. */
		struct spool_entry *e = spool_entry_load(sp, q.id[0]);
		if (e == NULL || spool_entry_intent(sp, e, 0, INTENT_PATH) < 0 || spool_entry_done(sp, e, 0) < 0 ||
		    spool_entry_intent(sp, e, 1, INTENT_PATH "2") < 0 || count_queue() != 1)
			_exit(14);
		e->rcpts[1].done = 1;
		if (spool_entry_remove(sp, e) < 0 || count_queue() != 0)
			_exit(15);
		spool_entry_free(e);
	}
	if (stage == DEFER_THEN_DELIVER) {
		/* A temporary failure (into queue/ with its retry line), then a delivery. */
		for (int i = 0; i < n; i++) {
			struct spool_entry *e = spool_entry_load(sp, q.id[i]);
			if (e == NULL || spool_entry_retry(sp, e, 1, "try later") < 0 || spool_entry_keep(sp, e) < 0)
				_exit(16);
			spool_entry_free(e);
			if ((e = spool_entry_load(sp, q.id[i])) == NULL || spool_entry_remove(sp, e) < 0)
				_exit(17);
			spool_entry_free(e);
		}
		if (count_queue() != 0)
			_exit(18);
	}
	if (stage == DELETE_FROM_MEMORY) {
		struct admin_out o = { 0 };
		if (admin_delete(sp, q.id[0], &o) < 0)
			_exit(19);
		free(o.buf);
	}
	if (stage == PRESPILL_THEN_DELIVER || stage == PRESPILL_THEN_CHECKPOINT) {
		/* A checkpoint's slow part, beside the commits: every message into queue/, all still
		 * in the table (and in the journal) until the checkpoint itself. */
		size_t left = 99;
		if (spool_mem_prespill(sp, &left) < 0 || left != 0 || count_queue() != n || spool_mem_count(sp) != (size_t)n)
			_exit(20);
	}
	if (stage == PRESPILL_THEN_DELIVER) {
		/* Delivered meanwhile: the journal hears of it before the file goes, so the crash
		 * that follows brings neither back. */
		for (int i = 0; i < 2; i++) {
			struct spool_entry *e = spool_entry_load(sp, q.id[i]);
			if (e == NULL || spool_entry_remove(sp, e) < 0)
				_exit(21);
			spool_entry_free(e);
		}
		if (count_queue() != n - 2 || spool_mem_count(sp) != (size_t)n - 2)
			_exit(22);
	}
	if (stage == PRESPILL_THEN_CHECKPOINT) {
		/* Two more accepted meanwhile: the checkpoint writes only those, and lets go of all. */
		for (int i = n; i < n + 2; i++) {
			struct spool_msg *m = message(sp, i, 0);
			if (journal_append(j, m) != 0)
				_exit(23);
		}
		if (journal_sync(j) < 0 || journal_checkpoint(j) < 0 || count_queue() != n + 2 || spool_mem_count(sp) != 0)
			_exit(24);
	}
	if (stage == CLEAN_CLOSE) {
		journal_close(j);
		spool_close(sp);
	}
	_exit(0);       /* a crash: no checkpoint, no close, tmp/ files left behind */
}

static int run_child(int n, enum stage stage)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0)
		child(n, stage);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Reopen as the next server start would: spool (tmp/ wiped), then the journal's replay, and
 * stop cleanly. */
static int reopen_and_count(void)
{
	char err[256];
	struct spool *sp = spool_open(root, err, sizeof(err));
	struct journal *j;
	int scanned = 0, n;

	assert_non_null(sp);
	j = journal_open(sp, err, sizeof(err));
	assert_non_null(j);
	/* Replayed into memory (a start writes nothing); the checkpoint of the close puts each
	 * of them into queue/, once. */
	spool_scan(sp, collect, &scanned);
	journal_close(j);
	spool_close(sp);
	n = count_queue();
	assert_int_equal(scanned, n);
	return n;
}

/* A fresh spool, a child that stops at stage after n messages, and the next start's count. */
static int crash_and_reopen(int n, enum stage stage)
{
	wipe();
	assert_int_equal(run_child(n, stage), 0);
	return reopen_and_count();
}

static void test_crash_after_sync_restores_every_message(void **state)
{
	(void)state;
	wipe();
	assert_int_equal(run_child(25, AFTER_SYNC), 0);
	assert_int_equal(count_queue(), 0);             /* nothing published before the crash */
	assert_int_equal(reopen_and_count(), 25);
	assert_int_equal(reopen_and_count(), 25);       /* a second start adds nothing */
}

static void test_torn_last_record_is_ignored(void **state)
{
	(void)state;
	assert_int_equal(crash_and_reopen(5, TORN_LAST), 4);
}

static void test_checkpointed_messages_are_never_replayed(void **state)
{
	char cmd[PATH_MAX + 64];

	(void)state;
	wipe();
	assert_int_equal(run_child(10, AFTER_CHECKPOINT), 0);
	assert_int_equal(count_queue(), 10);
	/* The runner delivers and removes them all; a crash now must not bring them back. */
	snprintf(cmd, sizeof(cmd), "rm -f %s/queue/*/*", root);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(reopen_and_count(), 0);
}

static void test_clean_close_publishes_and_forgets(void **state)
{
	(void)state;
	wipe();
	assert_int_equal(run_child(7, CLEAN_CLOSE), 0);
	assert_int_equal(count_queue(), 7);
	assert_int_equal(reopen_and_count(), 7);
}

static void test_delivered_messages_are_not_replayed(void **state)
{
	(void)state;
	wipe();
	assert_int_equal(run_child(10, DELIVER_SOME), 0);
	assert_int_equal(count_queue(), 0);             /* delivered from memory: no files at all */
	assert_int_equal(reopen_and_count(), 7);
}

static void test_state_line_puts_message_in_queue(void **state)
{
	char path[PATH_MAX];

	(void)state;
	wipe();
	assert_int_equal(run_child(4, STATE_LINE), 0);
	assert_int_equal(reopen_and_count(), 4);        /* the one already there is not doubled */
	/* and its state log survived the replay */
	struct spool *sp = spool_open(root, path, sizeof(path));
	struct qids q = { .n = 0 };
	int retried = 0;
	assert_non_null(sp);
	spool_scan(sp, remember, &q);
	for (int i = 0; i < q.n; i++) {
		struct spool_entry *e = spool_entry_load(sp, q.id[i]);
		assert_non_null(e);
		retried += e->attempts == 1;
		spool_entry_free(e);
	}
	assert_int_equal(retried, 1);
	spool_close(sp);
}

static void test_prespilled_then_delivered_is_not_replayed(void **state)
{
	(void)state;
	assert_int_equal(crash_and_reopen(6, PRESPILL_THEN_DELIVER), 4);
}

static void test_prespill_then_checkpoint_keeps_each_once(void **state)
{
	(void)state;
	assert_int_equal(crash_and_reopen(5, PRESPILL_THEN_CHECKPOINT), 7);
}

static void test_checkpoint_during_delivery(void **state)
{
	(void)state;
	assert_int_equal(crash_and_reopen(6, BUSY_CHECKPOINT), 5);
}

/* After a crash the message is back with its intent, so the runner finds the copy it made. */
static void check_intent_restored(int n, enum stage stage)
{
	char err[256];

	wipe();
	assert_int_equal(run_child(n, stage), 0);
	assert_int_equal(reopen_and_count(), n);
	struct spool *sp = spool_open(root, err, sizeof(err));
	struct qids q = { .n = 0 };
	int with_intent = 0;
	assert_non_null(sp);
	spool_scan(sp, remember, &q);
	for (int i = 0; i < q.n; i++) {
		struct spool_entry *e = spool_entry_load(sp, q.id[i]);
		assert_non_null(e);
		if (e->rcpts[0].intent != NULL) {
			assert_string_equal(e->rcpts[0].intent, INTENT_PATH);
			with_intent++;
		}
		spool_entry_free(e);
	}
	assert_int_equal(with_intent, 1);
	spool_close(sp);
}

static void test_intent_in_memory_survives_a_crash(void **state)
{
	(void)state;
	check_intent_restored(3, INTENT_IN_MEMORY);
	check_intent_restored(3, INTENT_THEN_CHECKPOINT);
}

/* Two copies, one each: after the crash the message must not come back for its second
 * recipient (the journal still held its copy with only the first intent). */
static void test_crash_after_two_recipients_delivers_none_again(void **state)
{
	(void)state;
	assert_int_equal(crash_and_reopen(1, TWO_RCPTS_DONE), 0);
}

static void test_deferred_then_delivered_is_not_replayed(void **state)
{
	(void)state;
	assert_int_equal(crash_and_reopen(5, DEFER_THEN_DELIVER), 0);
}

static void test_deleted_stays_deleted(void **state)
{
	(void)state;
	assert_int_equal(crash_and_reopen(3, DELETE_FROM_MEMORY), 2);
}

/* ---- damage at rest: the journal after a crash, changed before the next start ---------- */

static char logpath[PATH_MAX];

/* Reopen with the log in a file; returns how many messages came back and what was logged. */
static int reopen_logged(char *logged, size_t len)
{
	int fd = open(logpath, O_RDWR | O_CREAT | O_TRUNC, 0600), n;
	ssize_t k;

	assert_true(fd >= 0);
	log_set_fd(fd);
	n = reopen_and_count();
	log_set_fd(2);
	k = pread(fd, logged, len - 1, 0);
	logged[k > 0 ? k : 0] = '\0';
	close(fd);
	return n;
}

static int kept_journals(void)
{
	char path[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "%s/corrupt", root);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, "journal.", 8) == 0;
	closedir(d);
	return n;
}

static void damage(const char *name, off_t off, const char *with, size_t len)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	assert_true((fd = open(path, O_RDWR)) >= 0);
	assert_int_equal(pwrite(fd, with, len, off), (ssize_t)len);
	close(fd);
}

/* 20 messages, each its own batch; octets at offset off of message record k changed; the
 * next start must say so, keep the journal aside, and bring back the rest. */
static int damaged_start(int k, off_t off, const char *with, size_t len, char *logged, size_t loglen)
{
	off_t at[64];
	int n;

	wipe();
	assert_int_equal(run_child(20, SYNC_EACH), 0);
	assert_int_equal(message_records(at, 64), 20);
	damage("journal", at[k] + off, with, len);
	n = reopen_logged(logged, loglen);
	assert_non_null(strstr(logged, "journal damaged"));
	assert_int_equal(kept_journals(), 1);                   /* the evidence, before reuse */
	return n;
}

static void test_damaged_record_loses_only_itself(void **state)
{
	char logged[8192];

	(void)state;
	/* one payload octet of the 10th */
	assert_int_equal(damaged_start(9, 64 + 40, "\x01", 1, logged, sizeof(logged)), 19);
	assert_non_null(strstr(logged, "1 message whose id survived"));
	assert_int_equal(reopen_and_count(), 19);               /* and nothing more next time */
	assert_int_equal(kept_journals(), 1);
}

static void test_damaged_header_loses_only_its_record(void **state)
{
	char logged[8192];

	(void)state;
	/* the length field of the 5th */
	assert_int_equal(damaged_start(4, 9, "\x7f\x7f", 2, logged, sizeof(logged)), 19);
}

static void test_cut_journal_keeps_what_is_left(void **state)
{
	char logged[8192], path[PATH_MAX];
	off_t at[64];

	(void)state;
	wipe();
	assert_int_equal(run_child(20, AFTER_SYNC), 0);
	assert_int_equal(message_records(at, 64), 20);
	snprintf(path, sizeof(path), "%s/journal", root);
	assert_int_equal(truncate(path, at[10]), 0);
	assert_int_equal(reopen_logged(logged, sizeof(logged)), 10);
	assert_non_null(strstr(logged, "cut short"));
	assert_int_equal(kept_journals(), 1);
}

static void test_damaged_generation_file_costs_nothing(void **state)
{
	static const char zeros[64];
	char logged[8192], path[PATH_MAX];

	(void)state;
	wipe();
	assert_int_equal(run_child(20, AFTER_SYNC), 0);
	damage("journal.gen", 0, zeros, sizeof(zeros));
	assert_int_equal(reopen_logged(logged, sizeof(logged)), 20);
	assert_non_null(strstr(logged, "journal.gen is damaged"));
	/* emptied instead of zeroed */
	wipe();
	assert_int_equal(run_child(20, AFTER_SYNC), 0);
	snprintf(path, sizeof(path), "%s/journal.gen", root);
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(reopen_and_count(), 20);
}

static void test_emptied_journal_is_reported(void **state)
{
	char logged[8192], path[PATH_MAX];

	(void)state;
	wipe();
	assert_int_equal(run_child(5, AFTER_SYNC), 0);
	snprintf(path, sizeof(path), "%s/journal", root);
	assert_int_equal(truncate(path, 0), 0);         /* lost with all it held: nothing to recover */
	assert_int_equal(reopen_logged(logged, sizeof(logged)), 0);
	assert_non_null(strstr(logged, "not one record of it can be read"));
}

/* A crash with messages in the journal, then nothing of them touched: the next start must
 * bring them back without writing anything (a full disk must not stop it). */
static void test_replay_writes_nothing(void **state)
{
	char err[256];
	struct stat before, after;
	char path[PATH_MAX];

	(void)state;
	wipe();
	assert_int_equal(run_child(5, AFTER_SYNC), 0);
	snprintf(path, sizeof(path), "%s/journal", root);
	assert_int_equal(stat(path, &before), 0);
	struct spool *sp = spool_open(root, err, sizeof(err));
	assert_non_null(sp);
	struct journal *j = journal_open(sp, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(count_queue(), 0);
	assert_int_equal(spool_mem_count(sp), 5);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_true(after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
	journal_close(j);
	spool_close(sp);
	assert_int_equal(count_queue(), 5);
}

static int setup(void **state)
{
	(void)state;
	if (mkdtemp(root) == NULL)
		return -1;
	snprintf(logpath, sizeof(logpath), "%s.log", root);
	log_set_level(LOG_LVL_WARN);
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	unlink(logpath);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_after_sync_restores_every_message),
		cmocka_unit_test(test_torn_last_record_is_ignored),
		cmocka_unit_test(test_checkpointed_messages_are_never_replayed),
		cmocka_unit_test(test_clean_close_publishes_and_forgets),
		cmocka_unit_test(test_delivered_messages_are_not_replayed),
		cmocka_unit_test(test_state_line_puts_message_in_queue),
		cmocka_unit_test(test_checkpoint_during_delivery),
		cmocka_unit_test(test_prespilled_then_delivered_is_not_replayed),
		cmocka_unit_test(test_prespill_then_checkpoint_keeps_each_once),
		cmocka_unit_test(test_intent_in_memory_survives_a_crash),
		cmocka_unit_test(test_crash_after_two_recipients_delivers_none_again),
		cmocka_unit_test(test_deferred_then_delivered_is_not_replayed),
		cmocka_unit_test(test_deleted_stays_deleted),
		cmocka_unit_test(test_damaged_record_loses_only_itself),
		cmocka_unit_test(test_damaged_header_loses_only_its_record),
		cmocka_unit_test(test_cut_journal_keeps_what_is_left),
		cmocka_unit_test(test_damaged_generation_file_costs_nothing),
		cmocka_unit_test(test_emptied_journal_is_reported),
		cmocka_unit_test(test_replay_writes_nothing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
