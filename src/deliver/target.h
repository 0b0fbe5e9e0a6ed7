/*
 * target.h - where a local recipient's copy goes: one interface for every kind of local
 * delivery, so the runner's exactly-once steps (runner.h) are written once, whatever the
 * target: a Maildir (written by the delivery agent, agent.h), LMTP (to Dovecot, lmtp.h) and
 * discard (Postfix's discard transport).
 *
 * One copy is two steps with the runner's intent record between them:
 *   target_stage()    makes the copy without making it visible (Maildir: tmp/NAME, fsynced)
 *                     and says in handle what target_publish() needs. The runner records
 *                     handle durably before step 2, so that after a crash it publishes the
 *                     same copy instead of making a second one. A target that delivers in one
 *                     step (discard; LMTP) does it all here and leaves handle "".
 *   target_publish()  makes the staged copy visible (Maildir: into new/). May be called again
 *                     after a crash with the recorded handle.
 *
 * Ownership: target_new() returns a target the caller frees with target_free() (NULL is a
 * no-op); it borrows the agent, which must outlive it. Targets keep no per-copy state, so any
 * worker thread may use one at the same time as the others.
 */
#ifndef MAILPORT_TARGET_H
#define MAILPORT_TARGET_H

#include <stddef.h>
#include <sys/types.h>

#include "../conf/targetspec.h"     /* target_has_maildir(): the setting's syntax */

struct agent;
struct target;

/* One recipient's copy of a queued message. The descriptor is borrowed for the call. */
struct target_copy {
	const char *mailbox;            /* the local mailbox address, lower case */
	const char *qid;                /* with rcpt: the same name for the same copy on a retry */
	size_t rcpt;
	long long arrival;
	int fd;                         /* the message: len octets from off */
	off_t off;
	size_t len;
	const char *return_path;
};

/* target_stage()'s answer when the target refused the copy for good (LMTP's 550 5.1.1): err is
 * "CODE text" with the 5xx reply code first (the sender gets a bounce). */
#define TARGET_REFUSED (-2)

/* spec: the [server] maildir setting: "discard:", "lmtp:..." or a Maildir pattern with %d and %u.
 * hostname: for Maildir unique names. NULL with err on failure. */
struct target *target_new(const char *spec, struct agent *agent, const char *hostname, char *err, size_t errlen);
void target_free(struct target *t);
/* relay= in the delivery log: "maildir", "lmtp", "discard". */
const char *target_name(const struct target *t);

/* 0 (handle set, "" when nothing is left to publish), -1 with err (try again later), or
 * TARGET_REFUSED with err. */
int target_stage(const struct target *t, const struct target_copy *c, char *handle, size_t hlen, char *err,
                 size_t errlen);
/* 0 visible now (where: its place, for the log), 1 it was already (published before a
 * crash), -1 with err. */
int target_publish(const struct target *t, const char *handle, char *where, size_t wlen, char *err, size_t errlen);

#endif
