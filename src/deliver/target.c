/*
 * target.c - the local delivery targets (target.h): each is a table of two steps. Not the
 * exactly-once bookkeeping (local.c) and not the Maildir format (maildir.c, run by the agent).
 */
#include "target.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "lmtp.h"
#include "maildir.h"

struct target_ops {
	const char *name;
	int (*stage)(const struct target *t, const struct target_copy *c, char *handle, size_t hlen, char *err,
	             size_t errlen);
	int (*publish)(const struct target *t, const char *handle, char *where, size_t wlen, char *err,
	               size_t errlen);
};

struct target {
	const struct target_ops *ops;
	char *pattern;                  /* Maildir: %d/%u pattern */
	char *hostname;
	char lmtp[256];                 /* LMTP: the socket path or HOST:PORT */
	struct agent *agent;            /* borrowed; NULL: this process writes */
};

/* ---- Maildir, through the delivery agent ---------------------------------------------------- */

static int maildir_stage(const struct target *t, const struct target_copy *c, char *handle, size_t hlen,
                         char *err, size_t errlen)
{
	char md[PATH_MAX], name[512];

	/* The agent expands the pattern itself; this only turns a bad result into words early. */
	if (maildir_expand(t->pattern, c->mailbox, md, sizeof(md)) < 0) {
		snprintf(err, errlen, "maildir pattern %s gives no valid path", t->pattern);
		return -1;
	}
	maildir_name(name, sizeof(name), c->arrival, c->qid, c->rcpt, t->hostname);
	return agent_write(t->agent, t->pattern, c->mailbox, name, c->fd, c->off, c->len, c->return_path, handle,
	                   hlen, err, errlen);
}

static int maildir_publish_copy(const struct target *t, const char *handle, char *where, size_t wlen, char *err,
                                size_t errlen)
{
	return agent_publish(t->agent, handle, where, wlen, err, errlen);
}

static const struct target_ops maildir_ops = { "maildir", maildir_stage, maildir_publish_copy };

/* ---- discard -------------------------------------------------------------------------------- */

/* The message was durable when it was accepted: dropping the copy is the delivery. */
static int discard_stage(const struct target *t, const struct target_copy *c, char *handle, size_t hlen,
                         char *err, size_t errlen)
{
	(void)t, (void)c, (void)hlen, (void)err, (void)errlen;
	handle[0] = '\0';
	return 0;
}

static int discard_publish(const struct target *t, const char *handle, char *where, size_t wlen, char *err,
                           size_t errlen)
{
	(void)t, (void)handle, (void)err, (void)errlen;
	if (wlen > 0)
		where[0] = '\0';
	return 1;
}

static const struct target_ops discard_ops = { "discard", discard_stage, discard_publish };

/* ---- LMTP (Dovecot) ------------------------------------------------------------------------- */

/* One step: the LMTP server's 250 is the delivery. A crash between that 250 and the runner's
 * done record delivers the copy again on recovery (as with Postfix's lmtp): LMTP has no way
 * to stage a copy and publish it later. */
static int lmtp_stage(const struct target *t, const struct target_copy *c, char *handle, size_t hlen, char *err,
                      size_t errlen)
{
	int code = 0, r;

	(void)hlen;
	handle[0] = '\0';
	r = lmtp_deliver(t->lmtp, t->hostname, c->return_path, c->mailbox, c->fd, c->off, c->len, &code, err, errlen);
	if (r != -2)
		return r;
	char why[512];
	snprintf(why, sizeof(why), "%s", err);
	snprintf(err, errlen, "%d %s", code, why);
	return TARGET_REFUSED;
}

static const struct target_ops lmtp_ops = { "lmtp", lmtp_stage, discard_publish };

/* ---- the interface -------------------------------------------------------------------------- */

struct target *target_new(const char *spec, struct agent *agent, const char *hostname, char *err, size_t errlen)
{
	struct target *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->pattern = strdup(spec)) == NULL || (t->hostname = strdup(hostname)) == NULL) {
		snprintf(err, errlen, "out of memory");
		target_free(t);
		return NULL;
	}
	t->ops = strcmp(spec, "discard:") == 0 ? &discard_ops : &maildir_ops;
	if (strncmp(spec, "lmtp:", 5) == 0) {
		const char *why;
		if (lmtp_parse(spec + 5, t->lmtp, sizeof(t->lmtp), &why) < 0) {
			snprintf(err, errlen, "%s", why);
			target_free(t);
			return NULL;
		}
		t->ops = &lmtp_ops;
	}
	t->agent = agent;
	return t;
}

void target_free(struct target *t)
{
	if (t == NULL)
		return;
	free(t->pattern);
	free(t->hostname);
	free(t);
}

const char *target_name(const struct target *t)
{
	return t->ops->name;
}

int target_stage(const struct target *t, const struct target_copy *c, char *handle, size_t hlen, char *err,
                 size_t errlen)
{
	err[0] = '\0';
	return t->ops->stage(t, c, handle, hlen, err, errlen);
}

int target_publish(const struct target *t, const char *handle, char *where, size_t wlen, char *err, size_t errlen)
{
	err[0] = '\0';
	return t->ops->publish(t, handle, where, wlen, err, errlen);
}
