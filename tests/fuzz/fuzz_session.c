/*
 * fuzz_session.c - the whole server session core: bytes in, replies out.
 *
 * The first input octet picks how the rest is cut into feeds (whole, fixed steps, or sizes
 * taken from the data), so chunk boundaries land everywhere. Invariants, checked on every
 * input: each reply is one or more "DDD[ -]text CRLF" lines of at most 512 octets; a commit
 * only ever follows a 354; what is written never holds a NUL or a bare LF (refused and
 * normalised); nothing is left open after the session is freed; no crash, leak or hang.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sasl/scram.h"
#include "smtp/session.h"

struct world {
	int open;
	int data_started;           /* 354s not yet matched by an end */
	size_t cur;                 /* octets in the open message */
	int last_cr;
	unsigned commits;
};

static void w_reply(void *ctx, const char *p, size_t n)
{
	struct world *w = ctx;

	assert(n >= 5 && p[n - 2] == '\r' && p[n - 1] == '\n');
	for (size_t i = 0; i < n; ) {
		const char *lf = memchr(p + i, '\n', n - i);
		assert(lf != NULL);
		assert(p[i] >= '2' && p[i] <= '5' && p[i + 1] >= '0' && p[i + 1] <= '9' &&
		       p[i + 2] >= '0' && p[i + 2] <= '9' && (p[i + 3] == ' ' || p[i + 3] == '-'));
		assert((size_t)(lf - (p + i)) + 1 <= 512);
		for (const char *q = p + i; q < lf - 1; q++)
			assert(*q != '\r' && *q != '\0');
		if (memcmp(p + i, "354 ", 4) == 0)
			w->data_started++;
		i = (size_t)(lf - p) + 1;
	}
}

static void w_mail(void *ctx, const struct smtp_tx *tx, struct smtp_verdict *v)
{
	(void)ctx;
	if (tx->declared_size == 4242) {
		v->code = 452;
		v->esc = "4.3.1";
		v->text = "full";
	}
}

static void w_rcpt(void *ctx, const struct smtp_tx *tx, const char *addr, struct smtp_verdict *v)
{
	(void)ctx;
	(void)tx;
	assert(strlen(addr) <= SMTP_ADDR_MAX);
	if (addr[0] == 'x') {
		v->code = 550;
		v->esc = "5.1.1";
		v->text = "unknown";
		return;
	}
	v->code = 250;
	memcpy(v->target, addr, strlen(addr) + 1);
	v->local = 1;
}

static int w_begin(void *ctx, const struct smtp_tx *tx)
{
	struct world *w = ctx;

	assert(!w->open && tx->nrcpts > 0);
	if (tx->declared_size == 1)
		return -1;
	w->open = 1;
	w->cur = 0;
	w->last_cr = 0;
	return 0;
}

static int w_write(void *ctx, const char *p, size_t n)
{
	struct world *w = ctx;

	assert(w->open);
	/* the core refuses NUL before it is written, and writes every LF as CRLF */
	assert(memchr(p, '\0', n) == NULL);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			assert(i > 0 ? p[i - 1] == '\r' : w->last_cr);
		w->last_cr = p[i] == '\r';
	}
	w->cur += n;
	return 0;
}

static int w_commit(void *ctx, const struct smtp_tx *tx, char *qid, size_t qidsz)
{
	struct world *w = ctx;

	(void)tx;
	assert(w->open && w->data_started > 0);
	w->data_started--;
	w->open = 0;
	w->commits++;
	memcpy(qid, "Q", 2);
	(void)qidsz;
	return 0;
}

static void w_abort(void *ctx)
{
	struct world *w = ctx;

	assert(w->open);
	w->open = 0;
}

static int w_auth(void *ctx, const char *authzid, const char *user, const char *password)
{
	(void)ctx;
	(void)authzid;
	assert(strlen(user) <= SMTP_USER_MAX);
	if (user[0] == 'l')
		return SMTP_AUTH_LOCKED;
	return strcmp(password, "pw") == 0 ? SMTP_AUTH_OK : SMTP_AUTH_FAIL;
}

static int w_scram_creds(void *ctx, const char *user, struct scram_creds *out)
{
	static const unsigned char secret[32];

	(void)ctx;
	assert(strlen(user) <= SMTP_USER_MAX);
	if (user[0] == 'l')
		return SMTP_AUTH_LOCKED;
	return scram_creds_fake(secret, user, out) == 0 ? SMTP_AUTH_OK : SMTP_AUTH_FAIL;
}

static int w_outcome(void *ctx, const char *user, int ok, const char *mech)
{
	(void)ctx;
	assert(strlen(user) <= SMTP_USER_MAX && strncmp(mech, "SCRAM-SHA-256", 13) == 0);
	return ok ? SMTP_AUTH_OK : SMTP_AUTH_FAIL;
}

/* The certificate names "cert@fuzz.example"; an authzid must be that, or empty. */
static int w_external(void *ctx, const char *authzid, char *user, size_t userlen)
{
	(void)ctx;
	assert(strlen(authzid) <= SMTP_USER_MAX);
	snprintf(user, userlen, "%s", authzid[0] ? authzid : "cert@fuzz.example");
	return strcmp(user, "cert@fuzz.example") == 0 ? SMTP_AUTH_OK : SMTP_AUTH_FAIL;
}

static const struct smtp_session_cb cb = { w_reply, w_mail, w_rcpt, w_begin, w_write, w_commit, w_abort, w_auth,
	                                       w_scram_creds, w_outcome, w_external };
static const unsigned char cbind[32] = "fuzz channel binding, 32 octets";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first octet also picks the listener policy and implicit TLS, so every port's
	 * rules are fuzzed. */
	struct smtp_session_conf conf = { "mx.fuzz.example", 4096, 100, 10,
	                                  size ? ((data[0] >> 4) & 0xf) | (data[0] & 0x01 ? SMTP_POLICY_SCRAM : 0) : 0 };
	struct world w;
	struct smtp_session *s;
	size_t i = 1, step;

	if (size == 0)
		return 0;
	memset(&w, 0, sizeof(w));
	s = smtp_session_new(&conf, &cb, &w);
	if (s == NULL)
		return 0;
	/* 0x02: TLS gives a channel binding (SCRAM-SHA-256-PLUS); 0x04: a verified client
	 * certificate (EXTERNAL) */
	if (data[0] & 0x08) {
		smtp_session_set_tls(s);
		smtp_session_tls_peer(s, data[0] & 0x02 ? cbind : NULL, data[0] & 0x04);
	}
	smtp_session_start(s);
	step = data[0] == 0 ? size : data[0];
	while (i < size && !smtp_session_closing(s)) {
		size_t n = size - i < step ? size - i : step;
		size_t used = smtp_session_recv(s, (const char *)data + i, n);
		if (used < n && smtp_session_wants_tls(s)) {
			/* as the adapter: drop the rest of what was read, complete the handshake */
			smtp_session_tls_peer(s, data[0] & 0x02 ? cbind : NULL, data[0] & 0x04);
			smtp_session_tls_started(s);
			assert(smtp_session_tls(s) && !smtp_session_wants_tls(s));
			used = n;
		}
		assert(used == n || smtp_session_closing(s));
		i += n;
	}
	if (data[0] == 0xff)
		smtp_session_timeout(s);
	else if (data[0] == 0xfe)
		smtp_session_shutdown(s);
	smtp_session_eof(s);
	smtp_session_free(s);
	assert(!w.open);
	return 0;
}
