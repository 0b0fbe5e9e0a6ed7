/*
 * agent.c - the local delivery agent process and the server's side of its channels
 * (see agent.h). The wire format is ours and private to one binary: a request is one packet,
 * a header, then NUL-terminated strings (and for a write, the message as SCM_RIGHTS); a reply
 * is a status and one NUL-terminated string.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "maildir.h"
#include "../sandbox/sandbox.h"
#include "../util/fsutil.h"
#include "../util/log.h"

#define AGENT_PKT        16384
#define AGENT_MAX_CHAN   256
#define AGENT_FIRST_FD   3


struct agent_hdr {
	uint32_t op;
	uint32_t nstr;
	uint64_t off, len;
};

struct agent_rep {
	int32_t status;
};

struct agent {
	pid_t pid;
	unsigned n;
	int *fd;
	unsigned char *busy;
	int reaped;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

/* ---- paths: what the agent agrees to touch ------------------------------------------------- */

static int clean_abs_path(const char *p)
{
	return p[0] == '/' && fs_path_clean(p);
}

int agent_path_ok(const char *root, const char *path)
{
	size_t rl = strlen(root);

	if (!clean_abs_path(path))
		return 0;
	return strcmp(root, "/") == 0 || (strncmp(path, root, rl) == 0 && path[rl] == '/' && path[rl + 1] != '\0');
}

static int name_ok(const char *name)
{
	size_t l = strlen(name);
	return l > 0 && l < 256 && name[0] != '.' && strchr(name, '/') == NULL;
}

int agent_maildir_root(const char *pattern, char *out, size_t outlen)
{
	const char *esc = strchr(pattern, '%'), *slash;
	size_t l;

	if (!clean_abs_path(pattern))
		return -1;
	l = esc ? (size_t)(esc - pattern) : strlen(pattern);
	for (slash = pattern + l; slash > pattern && *slash != '/'; slash--)
		;
	l = (size_t)(slash - pattern);
	if (l == 0)
		l = 1;                          /* "/%u": the root is "/" */
	if (l >= outlen)
		return -1;
	memcpy(out, pattern, l);
	out[l] = '\0';
	return 0;
}

/* The two steps, with the checks when root is given (the agent process; in-process callers
 * trust themselves). */
static int do_write(const char *root, const char *pattern, const char *address, const char *name, int fd,
                    off_t off, size_t len, const char *return_path, char *tmppath, size_t tmplen,
                    char *err, size_t errlen)
{
	char md[PATH_MAX];

	if (root != NULL && !agent_path_ok(root, pattern)) {
		snprintf(err, errlen, "Maildir pattern %s is not beneath %s, the directory the delivery agent "
		         "was started for (a changed pattern takes effect at the next restart)", pattern, root);
		return -1;
	}
	if (maildir_expand(pattern, address, md, sizeof(md)) < 0 || (root != NULL && !agent_path_ok(root, md))) {
		snprintf(err, errlen, "maildir pattern %s gives no valid path for %s", pattern, address);
		return -1;
	}
	if (!name_ok(name)) {
		snprintf(err, errlen, "invalid Maildir file name");
		return -1;
	}
	return maildir_write_tmp(md, name, fd, off, len, return_path, address, tmppath, tmplen, err, errlen);
}

static int do_publish(const char *root, const char *tmppath, char *newpath, size_t newlen, char *err, size_t errlen)
{
	const char *slash = strrchr(tmppath, '/');

	if (root != NULL && (!agent_path_ok(root, tmppath) || slash == NULL || !name_ok(slash + 1))) {
		snprintf(err, errlen, "%s is not a Maildir file beneath %s", tmppath, root);
		return -1;
	}
	if (access(tmppath, F_OK) < 0 && errno == ENOENT)
		return 1;
	return maildir_publish(tmppath, newpath, newlen, err, errlen);
}

/* ---- the agent process ------------------------------------------------------------------------ */

static const char *agent_root;

static ssize_t recv_packet(int s, char *buf, size_t len, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n;
	/* Every descriptor that came is ours to close: one is a message, more is malformed (and
	 * must not pile up in our table). */
	size_t nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int one;
			memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds++ == 0)
				*fd = one;
			else
				close(one);
		}
	}
	if (nfds > 1 || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		errno = EMSGSIZE;
		return -2;
	}
	return n;
}

static int send_packet(int s, const void *buf, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(s, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)len ? 0 : -1;
}

static int reply(int s, int status, const char *text)
{
	char buf[sizeof(struct agent_rep) + PATH_MAX + 256];
	struct agent_rep rep = { status };
	size_t tl = strnlen(text, sizeof(buf) - sizeof(rep) - 1);

	memcpy(buf, &rep, sizeof(rep));
	memcpy(buf + sizeof(rep), text, tl);
	buf[sizeof(rep) + tl] = '\0';
	return send_packet(s, buf, sizeof(rep) + tl + 1, -1);
}

/* Split the strings after the header; exactly want of them, each terminated in the packet. */
static int strings(char *p, size_t len, const char **out, size_t want)
{
	size_t k = 0;

	while (len > 0 && k < want) {
		char *z = memchr(p, '\0', len);
		if (z == NULL)
			return -1;
		out[k++] = p;
		len -= (size_t)(z - p) + 1;
		p = z + 1;
	}
	return k == want && len == 0 ? 0 : -1;
}

int agent_request_parse(char *buf, size_t n, int has_fd, struct agent_request *req)
{
	struct agent_hdr h;

	memset(req, 0, sizeof(*req));
	if (n < sizeof(h))
		return -1;
	memcpy(&h, buf, sizeof(h));
	req->op = h.op;
	req->off = h.off;
	req->len = h.len;
	if (h.op == AGENT_OP_WRITE)
		return has_fd && h.nstr == 4 && h.off <= (uint64_t)INT64_MAX && h.len <= SIZE_MAX &&
		       strings(buf + sizeof(h), n - sizeof(h), req->str, 4) == 0 ? 0 : -1;
	if (h.op == AGENT_OP_PUBLISH)
		return !has_fd && h.nstr == 1 && strings(buf + sizeof(h), n - sizeof(h), req->str, 1) == 0 ? 0 : -1;
	return -1;
}

static void serve_one(int s, char *buf, size_t n, int mfd)
{
	char path[PATH_MAX], err[PATH_MAX + 256];
	struct agent_request rq;
	int r = -1;

	if (agent_request_parse(buf, n, mfd >= 0, &rq) < 0)
		snprintf(err, sizeof(err), "malformed request");
	else if (rq.op == AGENT_OP_WRITE)
		r = do_write(agent_root, rq.str[0], rq.str[1], rq.str[2], mfd, (off_t)rq.off, (size_t)rq.len, rq.str[3],
		             path, sizeof(path), err, sizeof(err));
	else
		r = do_publish(agent_root, rq.str[0], path, sizeof(path), err, sizeof(err));
	reply(s, r, r < 0 ? err : r == 1 ? "" : path);
}

static void *serve_channel(void *arg)
{
	int s = (int)(intptr_t)arg;
	char *buf = malloc(AGENT_PKT);

	while (buf != NULL) {
		int mfd;
		ssize_t n = recv_packet(s, buf, AGENT_PKT, &mfd);
		if (n == -2) {
			reply(s, -1, "malformed request (too long, or more than one descriptor)");
			continue;
		}
		if (n <= 0)
			break;              /* the server closed the channel (or is gone) */
		serve_one(s, buf, (size_t)n, mfd);
		if (mfd >= 0)
			close(mfd);
	}
	free(buf);
	close(s);
	return NULL;
}

/* Startup failures go back to the server over channel 0 (it logs them and exits). */
static int refuse(const char *fmt, const char *arg)
{
	char text[PATH_MAX + 256];

	snprintf(text, sizeof(text), fmt, arg, errno ? strerror(errno) : "");
	reply(AGENT_FIRST_FD, -1, text);
	return EX_CONFIG;
}

int agent_main(int argc, char **argv)
{
	unsigned long n;
	char *end;
	pthread_t th[AGENT_MAX_CHAN];
	char ready[64];

	if (argc < 3 || argc > 4 || (n = strtoul(argv[1], &end, 10)) == 0 || *end != '\0' || n > AGENT_MAX_CHAN) {
		fprintf(stderr, "mailport deliver-agent: started by mailport serve only\n");
		return EX_USAGE;
	}
	for (unsigned long k = 0; k < n; k++) {
		int type = 0;
		socklen_t tl = sizeof(type);
		if (getsockopt(AGENT_FIRST_FD + (int)k, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_SEQPACKET) {
			fprintf(stderr, "mailport deliver-agent: started by mailport serve only\n");
			return EX_USAGE;
		}
	}
	/* The server stops us by closing the channels, after its last delivery; a terminal's or
	 * a service manager's signal to the whole group must not cut a delivery short. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	tzset();                        /* before the file system is closed to us */
	agent_root = argv[2];
	errno = 0;
	if (!clean_abs_path(agent_root))
		return refuse("delivery agent: Maildir root %s is not a clean absolute path%s", agent_root);
	if (geteuid() == 0) {
		struct passwd *pw = argc == 4 ? getpwnam(argv[3]) : NULL;
		errno = 0;
		if (pw == NULL)
			return refuse("delivery agent: started as root without a user to become (%s)%s",
			              argc == 4 ? argv[3] : "none");
		if (sandbox_become(pw) < 0)
			return refuse("delivery agent: cannot become %s: %s", argv[3]);
	}
	if (fs_mkdir_p(agent_root, 0700) < 0)
		return refuse("delivery agent: cannot create the Maildir root %s: %s", agent_root);
	/* Beneath the root, and what the sanitizers and the dynamic loader read (no /etc: keys live
	 * there); no TCP at all. */
	static const char *const rd[] = { "/proc", "/usr", "/lib", "/lib64", "/lib32" };
	const char *wr[] = { agent_root };
	struct sandbox_rules rules = { rd, sizeof(rd) / sizeof(rd[0]), wr, 1, SANDBOX_NO_TCP_BIND | SANDBOX_NO_TCP_CONNECT };
	int abi = sandbox_confine(&rules);
	if (abi < 0)
		return refuse("delivery agent: cannot confine itself to %s: %s", agent_root);
	snprintf(ready, sizeof(ready), "uid=%lu landlock=%s%d", (unsigned long)getuid(), abi ? "abi" : "none", abi);
	if (abi == 0)
		snprintf(ready, sizeof(ready), "uid=%lu landlock=unavailable", (unsigned long)getuid());
	if (reply(AGENT_FIRST_FD, 0, ready) < 0)
		return EX_OSERR;
	unsigned long started = 0;
	for (unsigned long k = 1; k < n; k++)
		if (pthread_create(&th[started], NULL, serve_channel, (void *)(intptr_t)(AGENT_FIRST_FD + (int)k)) == 0)
			started++;
	serve_channel((void *)(intptr_t)AGENT_FIRST_FD);
	for (unsigned long k = 0; k < started; k++)
		pthread_join(th[k], NULL);
	return 0;
}

/* ---- the server's side -------------------------------------------------------------------- */

struct agent *agent_spawn(unsigned channels, const char *root, const char *user, char *err, size_t errlen)
{
	char nbuf[16], rbuf[sizeof(struct agent_rep) + 512];
	unsigned k = 0;

	if (channels == 0 || channels > AGENT_MAX_CHAN)
		channels = channels ? AGENT_MAX_CHAN : 1;
	struct agent *a = calloc(1, sizeof(*a));
	int *child = calloc(channels, sizeof(int)), *high = calloc(channels, sizeof(int));
	if (a == NULL || child == NULL || high == NULL || (a->fd = calloc(channels, sizeof(int))) == NULL ||
	    (a->busy = calloc(channels, 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (; k < channels; k++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
			snprintf(err, errlen, "socketpair: %s", strerror(errno));
			goto fail;
		}
		a->fd[k] = sv[0];
		child[k] = sv[1];
	}
	a->n = channels;
	snprintf(nbuf, sizeof(nbuf), "%u", channels);
	char *argv[] = { "mailport", "deliver-agent", nbuf, (char *)root, (char *)user, NULL };
	a->pid = fork();
	if (a->pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto fail;
	}
	if (a->pid == 0) {
		/* Channels to 3, 4, ...: first out of the way of each other, then into place. */
		for (unsigned i = 0; i < channels; i++)
			if ((high[i] = fcntl(child[i], F_DUPFD_CLOEXEC, AGENT_FIRST_FD + (int)channels)) < 0)
				_exit(EX_OSERR);
		for (unsigned i = 0; i < channels; i++)
			if (dup2(high[i], AGENT_FIRST_FD + (int)i) < 0)
				_exit(EX_OSERR);
		close_range(AGENT_FIRST_FD + channels, ~0U, 0);
		/* Our own binary, afresh: nothing of this address space comes along. */
		execv("/proc/self/exe", argv);
		_exit(EX_OSERR);
	}
	for (unsigned i = 0; i < channels; i++)
		close(child[i]);
	free(child);
	free(high);
	child = high = NULL;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	/* The agent says when it is confined and ready, or why it cannot be. */
	ssize_t n;
	do
		n = recv(a->fd[0], rbuf, sizeof(rbuf) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t)sizeof(struct agent_rep)) {
		snprintf(err, errlen, "the local delivery agent did not start");
		agent_stop(a);
		return NULL;
	}
	rbuf[n] = '\0';
	struct agent_rep rep;
	memcpy(&rep, rbuf, sizeof(rep));
	snprintf(err, errlen, "%s", rbuf + sizeof(rep));
	if (rep.status != 0) {
		agent_stop(a);
		return NULL;
	}
	return a;
fail:
	for (unsigned i = 0; i < k; i++) {
		close(a->fd[i]);
		close(child[i]);
	}
	if (a != NULL) {
		free(a->fd);
		free(a->busy);
	}
	free(a);
	free(child);
	free(high);
	return NULL;
}

pid_t agent_pid(const struct agent *a)
{
	return a->pid;
}

void agent_reaped(struct agent *a)
{
	a->reaped = 1;
}

void agent_stop(struct agent *a)
{
	if (a == NULL)
		return;
	for (unsigned i = 0; i < a->n; i++)
		close(a->fd[i]);
	if (!a->reaped)
		while (waitpid(a->pid, NULL, 0) < 0 && errno == EINTR)
			;
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a->fd);
	free(a->busy);
	free(a);
}

/* One request, one reply, on whichever channel is free. Returns the agent's status; -1 with
 * text = why when the agent could not be asked. */
static int roundtrip(struct agent *a, const char *req, size_t reqlen, int fd, char *text, size_t textlen)
{
	char rbuf[sizeof(struct agent_rep) + PATH_MAX + 256];
	struct agent_rep rep;
	unsigned k;
	ssize_t n;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		for (k = 0; k < a->n && a->busy[k]; k++)
			;
		if (k < a->n)
			break;
		pthread_cond_wait(&a->cv, &a->mu);
	}
	a->busy[k] = 1;
	pthread_mutex_unlock(&a->mu);
	n = send_packet(a->fd[k], req, reqlen, fd) < 0 ? -1 : 0;
	if (n == 0)
		do
			n = recv(a->fd[k], rbuf, sizeof(rbuf) - 1, 0);
		while (n < 0 && errno == EINTR);
	pthread_mutex_lock(&a->mu);
	a->busy[k] = 0;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (n < (ssize_t)sizeof(rep)) {
		snprintf(text, textlen, "the local delivery agent is gone");
		return -1;
	}
	rbuf[n] = '\0';
	memcpy(&rep, rbuf, sizeof(rep));
	snprintf(text, textlen, "%s", rbuf + sizeof(rep));
	return rep.status < 0 ? -1 : rep.status;
}

/* Header and strings into buf; 0, or -1 when they do not fit one packet. */
static int pack(char *buf, size_t buflen, size_t *used, const struct agent_hdr *h, const char *const *s, size_t ns)
{
	size_t o = sizeof(*h);

	memcpy(buf, h, sizeof(*h));
	for (size_t i = 0; i < ns; i++) {
		size_t l = strlen(s[i]) + 1;
		if (l > buflen - o)
			return -1;
		memcpy(buf + o, s[i], l);
		o += l;
	}
	*used = o;
	return 0;
}

int agent_write(struct agent *a, const char *pattern, const char *address, const char *name, int fd,
                off_t off, size_t len, const char *return_path, char *tmppath, size_t tmplen,
                char *err, size_t errlen)
{
	if (a == NULL)
		return do_write(NULL, pattern, address, name, fd, off, len, return_path, tmppath, tmplen, err, errlen);
	char buf[AGENT_PKT];
	const char *s[] = { pattern, address, name, return_path };
	struct agent_hdr h = { AGENT_OP_WRITE, 4, (uint64_t)off, (uint64_t)len };
	size_t used;

	if (pack(buf, sizeof(buf), &used, &h, s, 4) < 0) {
		snprintf(err, errlen, "Maildir request too long");
		return -1;
	}
	if (roundtrip(a, buf, used, fd, err, errlen) != 0)
		return -1;
	snprintf(tmppath, tmplen, "%s", err);
	return 0;
}

int agent_publish(struct agent *a, const char *tmppath, char *newpath, size_t newlen, char *err, size_t errlen)
{
	if (a == NULL)
		return do_publish(NULL, tmppath, newpath, newlen, err, errlen);
	char buf[sizeof(struct agent_hdr) + PATH_MAX + 1];
	const char *s[] = { tmppath };
	struct agent_hdr h = { AGENT_OP_PUBLISH, 1, 0, 0 };
	size_t used;
	int r;

	if (pack(buf, sizeof(buf), &used, &h, s, 1) < 0) {
		snprintf(err, errlen, "Maildir path too long");
		return -1;
	}
	r = roundtrip(a, buf, used, -1, err, errlen);
	if (r == 0)
		snprintf(newpath, newlen, "%s", err);
	return r;
}
