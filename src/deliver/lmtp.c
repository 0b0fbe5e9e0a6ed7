/*
 * lmtp.c - one copy by LMTP (lmtp.h): the SMTP client core with its LMTP switch, over the
 * blocking transport (a unix socket or TCP, never TLS: LMTP is for a server on this machine or
 * a trusted network, as RFC 2033 says).
 */
#include "lmtp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../net/transport.h"
#include "../smtp/client.h"
#include "../util/endpoint.h"

#define LMTP_TIMEOUT 300        /* per read or write: Dovecot may take long over a big mailbox */

int lmtp_deliver(const char *where, const char *helo, const char *sender, const char *rcpt, int fd, off_t off,
                 size_t len, int *code, char *err, size_t errlen)
{
	struct transport t;
	const char *rcpts[1] = { rcpt };
	struct smtp_client_conf conf = { .helo = helo, .tls = SC_TLS_NONE, .lmtp = 1 };
	struct smtp_client_envelope env = { .sender = sender, .rcpts = rcpts, .nrcpts = 1, .size = len, .body8 = 1 };
	struct smtp_client *c;
	struct smtp_client_out out;
	struct smtp_reply reply;
	int r = -1;

	*code = 0;
	if (transport_connect_where(&t, where, LMTP_TIMEOUT) != TRANSPORT_OK) {
		snprintf(err, errlen, "%s", t.err);
		return -1;
	}
	if ((c = smtp_client_new(&conf, &env)) == NULL) {
		snprintf(err, errlen, "out of memory");
		transport_close(&t);
		return -1;
	}
	memset(&out, 0, sizeof(out));
	out.step = SC_WRITE;
	for (;;) {
		if (out.len > 0 && transport_write(&t, out.buf, out.len) != 0) {
			snprintf(err, errlen, "%s", t.err);
			goto done;
		}
		if (out.step == SC_DONE || out.step == SC_FAIL)
			break;
		if (out.step == SC_BODY && transport_send_body(&t, fd, off, len) != 0) {
			snprintf(err, errlen, "%s", t.err);
			goto done;
		}
		if (transport_read_reply(&t, &reply) != 0) {
			snprintf(err, errlen, "%s", t.err);
			goto done;
		}
		smtp_client_reply(c, &reply, &out);
	}
	const struct smtp_client_result *res = smtp_client_rcpt_result(c, 0);
	if (res->code == 0)
		res = smtp_client_failure(c);   /* stopped before the recipient was decided */
	if (res->code == 250) {
		r = 0;
		goto done;
	}
	snprintf(err, errlen, "%s said at %s: %d %s%s%s", t.peer, res->stage, res->code, res->esc, res->esc[0] ? " " : "",
	         res->text);
	if (res->code >= 500) {
		*code = res->code;
		r = -2;
	}
done:
	if (r != 0 && *code == 0 && err[0] == '\0')
		snprintf(err, errlen, "LMTP at %s failed", where);
	smtp_client_free(c);
	transport_close(&t);
	return r;
}
