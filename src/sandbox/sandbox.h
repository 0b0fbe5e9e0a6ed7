/*
 * sandbox.h - what a mailport process gives up once it is set up: root (become the mail user),
 * and with Landlock (Linux 5.13+) the file system outside the directories it needs and, for
 * the local delivery agent, TCP. docs/security-model.md says which process keeps what.
 *
 * Landlock is best effort in the kernel's sense: on a kernel without it (or with it disabled)
 * sandbox_confine() returns 0 and the caller logs that the process runs unconfined. Rules are
 * inherited by every process started afterwards and can only be narrowed, never widened.
 */
#ifndef MAILPORT_SANDBOX_H
#define MAILPORT_SANDBOX_H

#include <stddef.h>

struct passwd;

/* initgroups, setgid, setuid; then checks that root cannot be regained. 0 or -1 (logged). */
int sandbox_become(const struct passwd *pw);

#define SANDBOX_NO_TCP_BIND    1      /* no new listening or bound TCP sockets */
#define SANDBOX_NO_TCP_CONNECT 2      /* no outbound TCP */

struct sandbox_rules {
	const char *const *read;        /* directories (or files) readable beneath */
	size_t nread;
	const char *const *write;       /* directories readable and writable beneath */
	size_t nwrite;
	int net;                        /* SANDBOX_NO_* (Landlock ABI 4+; ignored before) */
};

/* Confine the calling process (its threads started after this, and its children) to rules.
 * Paths that do not exist are skipped. Call it before starting any thread (it refuses with
 * EBUSY otherwise). Returns the Landlock ABI version in force (>= 1),
 * 0 when the kernel has no Landlock, or -1 with errno set. */
int sandbox_confine(const struct sandbox_rules *rules);

#endif
