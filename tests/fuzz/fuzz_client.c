/*
 * fuzz_client.c - the client side: arbitrary server bytes through the reply parser into the
 * client state machine. The first octet picks the TLS mode, whether to log in (and with
 * SCRAM-SHA-256), check's probe and relay-test modes, and LMTP. Invariants: AUTH is never written before TLS; with TLS required,
 * nothing but EHLO, STARTTLS and QUIT is written before TLS; every write ends in CRLF; results
 * stay in range; a probe never writes MAIL, a relay test never writes DATA.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "smtp/client.h"
#include "smtp/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *rcpts[] = { "a@x.example", "b@y.example" };
	struct smtp_client_conf conf = { "me.example", SC_TLS_NONE, NULL, "pw", 0, 0, NULL, 0, 0, 0 };
	struct smtp_client_envelope env = { "s@me.example", rcpts, 2, 100, 0, 1 };
	struct smtp_reply_parser p;
	struct smtp_client *c;
	struct smtp_client_out out;
	size_t i = 1;
	int tls;

	if (size == 0)
		return 0;
	conf.tls = (enum smtp_client_tls)(data[0] & 3);
	if (data[0] & 4)
		conf.user = "u@me.example";
	env.smtputf8 = (data[0] & 8) != 0;
	conf.probe = (data[0] & 16) != 0;
	conf.rcpt_only = (data[0] & 32) != 0;
	if (conf.probe && (data[0] & 64))
		env.nrcpts = 0;
	if (data[0] & 128) {            /* SCRAM-SHA-256 when offered; with probe also SCRAM only */
		conf.scram_nonce = "fuzzNONCE";
		conf.scram_only = conf.probe;
	}
	/* no user, but a client certificate: AUTH EXTERNAL (the rcpt_only bit doubles as it) */
	conf.external = conf.user == NULL && conf.rcpt_only;
	/* LMTP (Dovecot delivery): plaintext, no login, the probe bit doubles as it */
	conf.lmtp = conf.tls == SC_TLS_NONE && conf.user == NULL && conf.probe;
	if (conf.lmtp)
		conf.probe = conf.rcpt_only = 0;
	c = smtp_client_new(&conf, &env);
	if (c == NULL)
		return 0;
	smtp_reply_init(&p);
	tls = conf.tls == SC_TLS_IMPLICIT;
	static const unsigned char cbind[32] = "fuzz channel binding, 32 octets";
	if (tls && (data[0] & 64))      /* a binding: SCRAM-SHA-256-PLUS when offered */
		smtp_client_tls_binding(c, cbind);
	while (i < size) {
		struct smtp_reply r;
		size_t used = 0;
		int got = smtp_reply_feed(&p, (const char *)data + i, size - i, &used, &r);
		i += used;
		if (got < 0 || got == 0)
			break;
		assert(r.code >= 200 && r.code <= 599);
		smtp_client_reply(c, &r, &out);
		if (out.step == SC_STARTTLS) {
			tls = 1;
			if (data[0] & 64)
				smtp_client_tls_binding(c, cbind);
			smtp_client_tls_started(c, &out);
		}
		if (out.len > 0) {
			assert(out.len >= 2 && out.buf[out.len - 2] == '\r' && out.buf[out.len - 1] == '\n');
			assert(!conf.probe || strncmp(out.buf, "MAIL", 4) != 0);
			assert(!conf.rcpt_only || strncmp(out.buf, "DATA", 4) != 0);
			assert(!conf.lmtp || (strncmp(out.buf, "EHLO", 4) != 0 && strncmp(out.buf, "HELO", 4) != 0 &&
			                      strncmp(out.buf, "STARTTLS", 8) != 0));
			if (!tls) {
				assert(strncmp(out.buf, "AUTH", 4) != 0);
				if (conf.tls == SC_TLS_REQUIRED)
					assert(strncmp(out.buf, "EHLO", 4) == 0 || strncmp(out.buf, "STARTTLS", 8) == 0 ||
					       strncmp(out.buf, "QUIT", 4) == 0);
			}
		}
		if (out.step == SC_DONE || out.step == SC_FAIL)
			break;
	}
	for (size_t k = 0; k < env.nrcpts; k++) {
		const struct smtp_client_result *res = smtp_client_rcpt_result(c, k);
		assert(res->code == 0 || (res->code >= 200 && res->code <= 599));
	}
	smtp_client_free(c);
	return 0;
}
