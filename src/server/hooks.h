/*
 * hooks.h - the server's answers to the SMTP core's questions (smtp_session_cb): MAIL and RCPT
 * (smtp_envelope.c), AUTH (smtp_login.c), DATA (smtp_data.c). ctx is the struct conn; conn.c
 * hands the table to each session, and its own conn_reply sends the replies.
 */
#ifndef MAILPORT_HOOKS_H
#define MAILPORT_HOOKS_H

#include <stddef.h>

#include "../sasl/scram.h"
#include "../smtp/session.h"

void hook_mail(void *ctx, const struct smtp_tx *tx, struct smtp_verdict *v);
void hook_rcpt(void *ctx, const struct smtp_tx *tx, const char *addr, struct smtp_verdict *v);

int hook_auth(void *ctx, const char *authzid, const char *user, const char *password);
int hook_scram_creds(void *ctx, const char *user, struct scram_creds *out);
int hook_auth_outcome(void *ctx, const char *user, int ok, const char *mech);
int hook_auth_external(void *ctx, const char *authzid, char *user, size_t userlen);

int hook_data_begin(void *ctx, const struct smtp_tx *tx);
int hook_data_write(void *ctx, const char *p, size_t n);
int hook_data_commit(void *ctx, const struct smtp_tx *tx, char *qid, size_t qidsz);
void hook_data_abort(void *ctx);

struct conn;
/* Room for need more octets in the spool above the configured floor (MAIL's SIZE, each DATA). */
int spool_has_room(const struct conn *c, size_t need);

#endif
