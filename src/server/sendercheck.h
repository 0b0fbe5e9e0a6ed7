/*
 * sendercheck.h - the sender checks of port 25 (msg/authres.h) as the server runs them: SPF, DKIM
 * and DMARC for one message, their DNS questions answered by libunbound, and what follows:
 * the Authentication-Results: field to put in front, and whether [smtp] dmarc_reject refuses it.
 *
 * Call order: sendercheck_begin() when the message's DATA starts, sendercheck_feed() with the octets
 * as they arrive (before anything is added to them), sendercheck_run() once on a worker thread
 * (it blocks on DNS, bounded in time), sendercheck_free(). The job copies what it needs: it may
 * outlive the session and the configuration snapshot it came from.
 */
#ifndef MAILPORT_SENDERCHECK_H
#define MAILPORT_SENDERCHECK_H

#include <stddef.h>

struct sendercheck_job;

struct sendercheck_job *sendercheck_begin(const char *resolver, const char *authserv_id, int dmarc_reject, const char *ip,
                                  const char *helo, const char *mail_from);
void sendercheck_feed(struct sendercheck_job *j, const char *p, size_t n);
/* The checks. *hdr: the Authentication-Results: field (malloc()ed, NULL when it could not be
 * made); sum: one line for the log. Returns 1 when the message is to be refused (refuse says
 * why, for the 550 reply), else 0. */
int sendercheck_run(struct sendercheck_job *j, char **hdr, char *sum, size_t sumlen, char *refuse, size_t refuselen);
void sendercheck_free(struct sendercheck_job *j);

#endif
