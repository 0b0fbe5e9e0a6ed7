/*
 * test_session.c - golden transcripts for the session core (Postfix in/ref files, jq tests).
 *
 * Each .t file in tests/unit/transcripts holds cases started by "=== name". Lines:
 *   O: size=N rcpts=N errors=N policy=N tls=N   limits, listener policy, implicit TLS
 *   C: text      client line, CRLF appended       R: text   raw client octets, no CRLF
 *   S: text      expected reply line (CRLF appended)
 *   E: event     timeout | shutdown | eof | fail-begin | full-begin | fail-write | fail-commit
 *                | tls (the STARTTLS handshake completed)
 * After a STARTTLS, the rest of that input step is discarded, as the adapter does.
 * Credentials: alice@example.org / secret succeed, locked@example.org is locked out.
 *   Q: text      expected content of the next committed message (escapes, CRLF not added)
 * Escapes in C/R/Q: \r \n \0 \t \\ \xHH. Every case runs with input fed whole and one octet
 * at a time; both must give exactly the expected replies and messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp/session.h"

#ifndef TRANSCRIPT_DIR
#define TRANSCRIPT_DIR "tests/unit/transcripts"
#endif

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

enum step_kind { ST_INPUT, ST_EVENT };

struct step {
	enum step_kind kind;
	struct buf data;            /* input octets, or event name */
};

struct tcase {
	char name[128];
	char file[256];
	int line;
	size_t max_size;
	unsigned rcpts, errors, policy;
	int implicit_tls;
	struct step steps[256];
	size_t nsteps;
	struct buf expect;
	struct buf msgs[32];
	size_t nmsgs;
};

/* The fake world the core talks to. */
struct world {
	struct buf out;
	struct buf cur;             /* message being received */
	int open;
	struct buf committed[32];
	size_t ncommitted;
	int fail_begin, fail_write, fail_commit, full_begin, full_write, full_commit;
	unsigned qid;
};

static void w_reply(void *ctx, const char *p, size_t n)
{
	struct world *w = ctx;

	/* Invariant: every reply is one or more "DDD[ -]text\r\n" lines. */
	assert_true(n >= 5 && p[n - 2] == '\r' && p[n - 1] == '\n');
	for (size_t i = 0; i < n; ) {
		const char *lf = memchr(p + i, '\n', n - i);
		assert_non_null(lf);
		assert_true(p[i] >= '2' && p[i] <= '5' && (p[i + 3] == ' ' || p[i + 3] == '-'));
		assert_true((size_t)(lf - (p + i)) + 1 <= 512);
		i = (size_t)(lf - p) + 1;
	}
	buf_add(&w->out, p, n);
}

static void w_rcpt(void *ctx, const struct smtp_tx *tx, const char *addr, struct smtp_verdict *v)
{
	static const char *users[] = { "alice@example.org", "bob@example.org", "j\xc3\xb6rg@example.org" };
	const char *at = strrchr(addr, '@');
	char base[SMTP_ADDR_MAX + 1];

	(void)ctx;
	(void)tx;
	if (strcmp(addr, "postmaster") == 0)
		addr = "postmaster@example.org";
	at = strrchr(addr, '@');
	if (at == NULL || strcasecmp(at + 1, "example.org") != 0) {
		v->code = 550;
		v->esc = "5.7.1";
		v->text = "Relay access denied";
		return;
	}
	const char *plus = memchr(addr, '+', (size_t)(at - addr));
	snprintf(base, sizeof(base), "%.*s%s", (int)(plus ? plus - addr : at - addr), addr, at);
	if (strcasecmp(base, "postmaster@example.org") == 0)
		snprintf(base, sizeof(base), "alice@example.org");
	for (size_t i = 0; i < 3; i++)
		if (strcasecmp(base, users[i]) == 0) {
			v->code = 250;
			snprintf(v->target, sizeof(v->target), "%s", users[i]);
			v->local = 1;
			return;
		}
	v->code = 550;
	v->esc = "5.1.1";
	v->text = "User unknown";
}

static void w_mail(void *ctx, const struct smtp_tx *tx, struct smtp_verdict *v)
{
	(void)ctx;
	if (strcmp(tx->sender, "counted@example.org") == 0) {
		v->code = SMTP_VERDICT_PENDING;     /* a shared counter is asked (test_mail_pending) */
		return;
	}
	if (strcmp(tx->sender, "full@remote.example") == 0) {
		v->code = 452;
		v->esc = "4.3.1";
		v->text = "Insufficient system storage";
	}
}

static int w_begin(void *ctx, const struct smtp_tx *tx)
{
	struct world *w = ctx;

	(void)tx;
	assert_false(w->open);
	if (w->fail_begin) {
		w->fail_begin = 0;
		return -1;
	}
	if (w->full_begin) {
		w->full_begin = 0;
		return -2;
	}
	w->open = 1;
	w->cur.len = 0;
	return 0;
}

static int w_write(void *ctx, const char *p, size_t n)
{
	struct world *w = ctx;

	assert_true(w->open);
	if (w->fail_write || w->full_write) {
		int full = w->full_write;
		w->fail_write = w->full_write = 0;
		return full ? -2 : -1;
	}
	buf_add(&w->cur, p, n);
	return 0;
}

static int w_commit(void *ctx, const struct smtp_tx *tx, char *qid, size_t qidsz)
{
	struct world *w = ctx;

	(void)tx;
	assert_true(w->open);
	w->open = 0;
	if (w->fail_commit || w->full_commit) {
		int full = w->full_commit;
		w->fail_commit = w->full_commit = 0;
		return full ? -2 : -1;
	}
	assert_true(w->ncommitted < 32);
	struct buf *m = &w->committed[w->ncommitted++];
	memset(m, 0, sizeof(*m));
	buf_add(m, w->cur.p ? w->cur.p : "", w->cur.len);
	snprintf(qid, qidsz, "Q%u", ++w->qid);
	return 0;
}

static void w_abort(void *ctx)
{
	struct world *w = ctx;

	assert_true(w->open);
	w->open = 0;
}

static int w_auth(void *ctx, const char *authzid, const char *user, const char *password)
{
	(void)ctx;
	if (authzid[0] && strcmp(authzid, user) != 0)
		return SMTP_AUTH_FAIL;
	if (strcmp(user, "locked@example.org") == 0)
		return SMTP_AUTH_LOCKED;
	if (strcmp(user, "alice@example.org") == 0 && strcmp(password, "secret") == 0)
		return SMTP_AUTH_OK;
	return SMTP_AUTH_FAIL;
}

static const struct smtp_session_cb world_cb = { w_reply, w_mail, w_rcpt, w_begin, w_write, w_commit, w_abort, w_auth };

static void unescape(const char *s, struct buf *out)
{
	for (; *s; s++) {
		char c = *s;
		if (c == '\\' && s[1]) {
			s++;
			switch (*s) {
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '0': c = '\0'; break;
			case 'x': {
				char hex[3] = { s[1], s[2], 0 };
				c = (char)strtol(hex, NULL, 16);
				s += 2;
				break;
			}
			default: c = *s; break;
			}
		}
		buf_add(out, &c, 1);
	}
}

static struct tcase *cases[512];
static size_t ncases;

static struct step *input_step(struct tcase *t)
{
	if (t->nsteps == 0 || t->steps[t->nsteps - 1].kind != ST_INPUT) {
		assert_true(t->nsteps < 256);
		t->steps[t->nsteps++].kind = ST_INPUT;
	}
	return &t->steps[t->nsteps - 1];
}

static void load_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[8192];
	struct tcase *t = NULL;
	int lineno = 0;

	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "=== ", 4) == 0) {
			assert_true(ncases < 512);
			t = cases[ncases++] = calloc(1, sizeof(*t));
			snprintf(t->name, sizeof(t->name), "%.100s", line + 4);
			snprintf(t->file, sizeof(t->file), "%s", path);
			t->line = lineno;
			t->max_size = 1000;
			t->rcpts = 100;
			t->errors = 10;
			t->policy = 0;
			t->implicit_tls = 0;
			continue;
		}
		if (line[0] == '#' || line[0] == '\0' || t == NULL)
			continue;
		if (strlen(line) < 2 || line[1] !=  ':' || (line[2] != ' ' && line[2] != '\0'))
			fail_msg("%s:%d: bad line", path, lineno);
		const char *arg = line[2] ? line + 3 : "";
		switch (line[0]) {
		case 'O':
			sscanf(arg, "size=%zu rcpts=%u errors=%u policy=%u tls=%d", &t->max_size, &t->rcpts,
			       &t->errors, &t->policy, &t->implicit_tls);
			break;
		case 'C':
			unescape(arg, &input_step(t)->data);
			buf_add(&input_step(t)->data, "\r\n", 2);
			break;
		case 'R':
			unescape(arg, &input_step(t)->data);
			break;
		case 'S':
			buf_add(&t->expect, arg, strlen(arg));
			buf_add(&t->expect, "\r\n", 2);
			break;
		case 'E':
			assert_true(t->nsteps < 256);
			t->steps[t->nsteps].kind = ST_EVENT;
			buf_add(&t->steps[t->nsteps].data, arg, strlen(arg));
			t->nsteps++;
			break;
		case 'Q':
			assert_true(t->nmsgs < 32);
			unescape(arg, &t->msgs[t->nmsgs++]);
			break;
		default:
			fail_msg("%s:%d: unknown line type %c", path, lineno, line[0]);
		}
	}
	fclose(fp);
}

static void run_case(const struct tcase *t, int bytewise)
{
	struct smtp_session_conf conf = { "mx.example.org", t->max_size, t->rcpts, t->errors, t->policy };
	struct world w;
	struct smtp_session *s;

	memset(&w, 0, sizeof(w));
	s = smtp_session_new(&conf, &world_cb, &w);
	assert_non_null(s);
	if (t->implicit_tls)
		smtp_session_set_tls(s);
	smtp_session_start(s);
	for (size_t i = 0; i < t->nsteps; i++) {
		const struct step *st = &t->steps[i];
		if (st->kind == ST_EVENT) {
			const char *e = st->data.p;
			if (strcmp(e, "timeout") == 0) smtp_session_timeout(s);
			else if (strcmp(e, "shutdown") == 0) smtp_session_shutdown(s);
			else if (strcmp(e, "eof") == 0) smtp_session_eof(s);
			else if (strcmp(e, "fail-begin") == 0) w.fail_begin = 1;
			else if (strcmp(e, "fail-write") == 0) w.fail_write = 1;
			else if (strcmp(e, "fail-commit") == 0) w.fail_commit = 1;
			else if (strcmp(e, "full-begin") == 0) w.full_begin = 1;
			else if (strcmp(e, "full-write") == 0) w.full_write = 1;
			else if (strcmp(e, "full-commit") == 0) w.full_commit = 1;
			else if (strcmp(e, "tls") == 0) {
				assert_true(smtp_session_wants_tls(s));
				smtp_session_tls_started(s);
			}
			else fail_msg("%s: unknown event %s", t->name, e);
			continue;
		}
		size_t off = 0;
		while (off < st->data.len) {
			size_t n = bytewise ? 1 : st->data.len - off;
			size_t used = smtp_session_recv(s, st->data.p + off, n);
			if (used < n && smtp_session_wants_tls(s))
				break;                  /* pipelined after STARTTLS: discarded */
			assert_true(used == n);         /* sync callbacks: always consumed */
			off += n;
		}
	}
	if (w.out.len != t->expect.len || (w.out.len && memcmp(w.out.p, t->expect.p, w.out.len) != 0))
		fail_msg("%s:%d \"%s\" (%s): replies differ\n--- expected\n%s--- got\n%s", t->file, t->line,
		         t->name, bytewise ? "bytewise" : "whole", t->expect.p ? t->expect.p : "",
		         w.out.p ? w.out.p : "");
	if (w.ncommitted != t->nmsgs)
		fail_msg("%s \"%s\": %zu messages committed, expected %zu", t->file, t->name, w.ncommitted, t->nmsgs);
	for (size_t i = 0; i < t->nmsgs; i++)
		if (w.committed[i].len != t->msgs[i].len ||
		    (t->msgs[i].len && memcmp(w.committed[i].p, t->msgs[i].p, t->msgs[i].len) != 0))
			fail_msg("%s \"%s\": message %zu differs: got \"%s\"", t->file, t->name, i, w.committed[i].p);
	smtp_session_free(s);
	assert_false(w.open);           /* nothing left half-open after free */
	free(w.out.p);
	free(w.cur.p);
	for (size_t i = 0; i < w.ncommitted; i++)
		free(w.committed[i].p);
}

static void test_transcripts(void **state)
{
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < ncases; i++) {
		run_case(cases[i], 0);
		run_case(cases[i], 1);
		n++;
	}
	print_message("%zu transcript cases, each fed whole and per octet\n", n);
	assert_true(n >= 50);
}

static int load_all(void **state)
{
	DIR *d = opendir(TRANSCRIPT_DIR);
	struct dirent *de;
	char path[512];

	(void)state;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l > 2 && strcmp(de->d_name + l - 2, ".t") == 0) {
			snprintf(path, sizeof(path), "%s/%s", TRANSCRIPT_DIR, de->d_name);
			load_file(path);
		}
	}
	closedir(d);
	return 0;
}

static int free_all(void **state)
{
	(void)state;
	for (size_t i = 0; i < ncases; i++) {
		for (size_t k = 0; k < cases[i]->nsteps; k++)
			free(cases[i]->steps[k].data.p);
		free(cases[i]->expect.p);
		for (size_t k = 0; k < cases[i]->nmsgs; k++)
			free(cases[i]->msgs[k].p);
		free(cases[i]);
	}
	return 0;
}

/* A client that never stops sending one line: memory stays bounded and the reply comes. */
static void test_endless_line(void **state)
{
	struct smtp_session_conf conf = { "mx.example.org", 1000, 100, 10, 0 };
	struct world w;
	struct smtp_session *s;
	char chunk[4096];

	(void)state;
	memset(&w, 0, sizeof(w));
	memset(chunk, 'A', sizeof(chunk));
	s = smtp_session_new(&conf, &world_cb, &w);
	smtp_session_start(s);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(smtp_session_recv(s, chunk, sizeof(chunk)), sizeof(chunk));
	assert_int_equal(smtp_session_recv(s, "\r\nNOOP\r\n", 8), 8);
	assert_non_null(strstr(w.out.p, "500 5.5.2"));
	assert_non_null(strstr(w.out.p, "250 2.0.0 Ok"));
	smtp_session_free(s);
	free(w.out.p);
}

/* A MAIL whose verdict comes later: the session reads nothing more of a pipelined batch until
 * it comes; a refusal ends the transaction, so the RCPT behind it is out of sequence. */
static void test_mail_pending(void **state)
{
	struct smtp_session_conf conf = { "mx.example.org", 1000, 100, 10, 0 };
	static const char batch[] = "EHLO c\r\nMAIL FROM:<counted@example.org>\r\nRCPT TO:<bob@example.org>\r\n";
	const char *rest = strstr(batch, "RCPT");
	struct world w;
	struct smtp_session *s;

	(void)state;
	for (int refuse = 0; refuse < 2; refuse++) {
		memset(&w, 0, sizeof(w));
		s = smtp_session_new(&conf, &world_cb, &w);
		smtp_session_start(s);
		assert_int_equal(smtp_session_recv(s, batch, strlen(batch)), (size_t)(rest - batch));
		assert_null(strstr(w.out.p, "2.1.0"));
		assert_int_equal(smtp_session_recv(s, rest, strlen(rest)), 0);        /* still waiting */
		smtp_session_mail_done(s, refuse ? 450 : 250, "4.7.1", "Sending limit reached");
		smtp_session_mail_done(s, 250, NULL, NULL);                            /* once only */
		assert_int_equal(smtp_session_recv(s, rest, strlen(rest)), strlen(rest));
		if (refuse) {
			assert_non_null(strstr(w.out.p, "450 4.7.1 Sending limit reached\r\n503 5.5.1"));
		} else {
			assert_non_null(strstr(w.out.p, "250 2.1.0 Ok\r\n250 2.1.5"));
		}
		smtp_session_free(s);
		free(w.out.p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transcripts),
		cmocka_unit_test(test_endless_line),
		cmocka_unit_test(test_mail_pending),
	};
	return cmocka_run_group_tests_name("session", tests, load_all, free_all);
}
