/*
 * agent.h - the local delivery agent: the one mailport process that writes Maildirs.
 *
 * `mailport serve` starts it once, before it confines itself, as a fresh program (fork, then
 * exec of our own binary as `mailport deliver-agent`), so it inherits nothing of the server's
 * memory: no TLS keys, no users file, no messages but the ones it is handed. It becomes the
 * mail user, confines itself with Landlock to the Maildir root (no other file, no TCP), and
 * answers requests on SOCK_SEQPACKET channels, one thread each: write a copy into a Maildir's
 * tmp/ (the message comes as a file descriptor), or move it into new/. It computes every path
 * itself from the pattern and the address, checking that the result lies beneath the root it
 * was started with, so the server process (which parses the network) can deliver mail only the
 * way mail is delivered, not write files (Postfix's local(8)/virtual(8), OpenSMTPD's mda).
 *
 * The two steps are maildir.h's, so the runner keeps its exactly-once intent record between
 * them. A NULL agent runs the same steps in the calling process (unit tests, tools).
 * agent_write() and agent_publish() may be called from any thread; each request takes a free
 * channel, waiting for one when all are busy.
 */
#ifndef MAILPORT_AGENT_H
#define MAILPORT_AGENT_H

#include <stddef.h>
#include <sys/types.h>

struct agent;

/* root: from agent_maildir_root(); user: the account to become when we are root, or NULL. */
struct agent *agent_spawn(unsigned channels, const char *root, const char *user, char *err, size_t errlen);
pid_t agent_pid(const struct agent *a);
/* The server reaped the agent's exit status itself (SIGCHLD): agent_stop() will not wait. */
void agent_reaped(struct agent *a);
/* Close the channels (the agent exits when they are gone) and wait for it. NULL is a no-op. */
void agent_stop(struct agent *a);

/* Step 1: the copy for address (under pattern) into tmp/NAME; tmppath gets its path.
 * 0, or -1 with err. */
int agent_write(struct agent *a, const char *pattern, const char *address, const char *name, int fd,
                off_t off, size_t len, const char *return_path, char *tmppath, size_t tmplen,
                char *err, size_t errlen);
/* Step 3: tmppath into new/. 0 moved (newpath), 1 no such file (moved before), -1 with err. */
int agent_publish(struct agent *a, const char *tmppath, char *newpath, size_t newlen, char *err, size_t errlen);

/* The directory beneath which every Maildir of pattern lies: the pattern up to the last "/"
 * before its first escape. 0, or -1 when pattern is not an absolute path without "." or ".."
 * components. */
int agent_maildir_root(const char *pattern, char *out, size_t outlen);

/* ---- the agent's pure parts (unit tests, tests/fuzz/fuzz_agent.c) ---- */

enum { AGENT_OP_WRITE = 1, AGENT_OP_PUBLISH = 2 };

struct agent_request {
	unsigned op;
	unsigned long long off, len;    /* write: the part of the message descriptor to copy */
	const char *str[4];             /* write: pattern, address, name, return path; publish: the
	                                   tmp/ path. They point into the packet. */
};

/* One request packet of n octets (has_fd: a descriptor came with it). 0, or -1 when it is not
 * exactly a well-formed write (4 strings and a descriptor) or publish (1 string, none). */
int agent_request_parse(char *buf, size_t n, int has_fd, struct agent_request *req);
/* Whether path is one the agent started for root touches: absolute, no empty, "." or ".."
 * component, strictly beneath root. */
int agent_path_ok(const char *root, const char *path);

/* `mailport deliver-agent CHANNELS ROOT [USER]`, started by agent_spawn() only. */
int agent_main(int argc, char **argv);

#endif
