/*
 * dovecot.c - Dovecot's auth-client protocol, client side (dovecot.h). The server greets with
 * VERSION, MECH, SPID, CUID, COOKIE and DONE lines; we say VERSION and CPID, then one AUTH
 * with the PLAIN response in it (resp=), and read OK or FAIL for our id. One connection per
 * check: a check is already a thread's blocking job, and a fresh connection needs no state
 * shared between threads or repaired after Dovecot restarts.
 */
#include "dovecot.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../net/transport.h"
#include "../util/base64.h"

#define LINE_MAX_LEN 8192

size_t dovecot_auth_line(unsigned id, const struct dovecot_login *l, char *out, size_t outlen)
{
	size_t za = strlen(l->authzid), zu = strlen(l->user), zp = strlen(l->password), n = za + zu + zp + 2;
	unsigned char plain[1024];
	char b64[1400];
	int len;

	if (n > sizeof(plain))
		return 0;
	/* rip= is only ever a numeric address of ours; a TAB or LF in it would be a new field */
	if (l->client_ip != NULL && strpbrk(l->client_ip, "\t\n\r\001") != NULL)
		return 0;
	memcpy(plain, l->authzid, za);
	plain[za] = '\0';
	memcpy(plain + za + 1, l->user, zu);
	plain[za + 1 + zu] = '\0';
	memcpy(plain + za + zu + 2, l->password, zp);
	base64_encode(plain, n, b64);
	explicit_bzero(plain, sizeof(plain));
	len = snprintf(out, outlen, "AUTH\t%u\tPLAIN\tservice=smtp\tnologin%s%s%s\tresp=%s\n", id,
	               l->secured ? "\tsecured" : "", l->client_ip ? "\trip=" : "", l->client_ip ? l->client_ip : "", b64);
	explicit_bzero(b64, sizeof(b64));
	if (len < 0 || (size_t)len >= outlen) {
		explicit_bzero(out, outlen);
		return 0;
	}
	return (size_t)len;
}

int dovecot_auth_reply(unsigned id, const char *line)
{
	char want[16];
	const char *rest;
	int ok;

	if (strncmp(line, "OK\t", 3) == 0) {
		ok = 1;
		rest = line + 3;
	} else if (strncmp(line, "FAIL\t", 5) == 0) {
		ok = 0;
		rest = line + 5;
	} else if (strncmp(line, "CONT\t", 5) == 0)
		return DOVECOT_TEMPFAIL;        /* PLAIN with resp= needs no continuation: not a server we know */
	else
		return 1;
	snprintf(want, sizeof(want), "%u", id);
	size_t wl = strlen(want);
	if (strncmp(rest, want, wl) != 0 || (rest[wl] != '\t' && rest[wl] != '\0'))
		return DOVECOT_TEMPFAIL;
	if (ok)
		return DOVECOT_OK;
	/* FAIL's arguments: "temp" when the failure is Dovecot's (a database down), not the user's */
	for (const char *p = rest + wl; p != NULL && *p != '\0'; p = strchr(p + 1, '\t'))
		if (strncmp(p, "\ttemp", 5) == 0 && (p[5] == '\t' || p[5] == '\0'))
			return DOVECOT_TEMPFAIL;
	return DOVECOT_FAIL;
}

/* ---- the blocking exchange ------------------------------------------------------------------ */

static long long ms_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

struct reader {
	int fd;
	long long deadline;
	char buf[LINE_MAX_LEN];
	size_t have;
};

/* The next line without its LF, NUL-terminated in r->buf; the caller calls line_done() after.
 * 0, or -1 (closed, timeout, a line longer than LINE_MAX_LEN) with why. */
static int read_line(struct reader *r, size_t *len, const char **why)
{
	for (;;) {
		char *lf = memchr(r->buf, '\n', r->have);
		if (lf != NULL) {
			*lf = '\0';
			*len = (size_t)(lf - r->buf) + 1;
			return 0;
		}
		if (r->have == sizeof(r->buf) - 1) {
			*why = "a line longer than 8 KiB from the auth service";
			return -1;
		}
		long long left = r->deadline - ms_now();
		struct pollfd p = { r->fd, POLLIN, 0 };
		int pr = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			*why = "the auth service did not answer in time";
			return -1;
		}
		ssize_t n = recv(r->fd, r->buf + r->have, sizeof(r->buf) - 1 - r->have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*why = "the auth service closed the connection";
			return -1;
		}
		r->have += (size_t)n;
	}
}

static void line_done(struct reader *r, size_t len)
{
	memmove(r->buf, r->buf + len, r->have - len);
	r->have -= len;
}

enum dovecot_result dovecot_auth_verify(const char *path, const struct dovecot_login *l, unsigned timeout_s,
                                        char *why, size_t whylen)
{
	struct reader *r = calloc(1, sizeof(*r));
	char hello[64], req[2048];
	const char *w = NULL;
	int plain = 0, done = 0, result = DOVECOT_TEMPFAIL;
	size_t len, reqlen;

	snprintf(why, whylen, "%s", "");
	if (r == NULL) {
		snprintf(why, whylen, "out of memory");
		return DOVECOT_TEMPFAIL;
	}
	r->deadline = ms_now() + (long long)timeout_s * 1000;
	struct transport t;
	if (transport_connect_where(&t, path, (int)timeout_s) != TRANSPORT_OK) {
		snprintf(why, whylen, "cannot connect to the auth service: %s", t.err);
		free(r);
		return DOVECOT_TEMPFAIL;
	}
	r->fd = t.fd;
	snprintf(hello, sizeof(hello), "VERSION\t1\t2\nCPID\t%ld\n", (long)getpid());
	if (send_all(r->fd, hello, strlen(hello)) < 0) {
		w = "cannot write to the auth service";
		goto out;
	}
	while (!done) {
		if (read_line(r, &len, &w) < 0)
			goto out;
		if (strncmp(r->buf, "VERSION\t", 8) == 0 && strncmp(r->buf + 8, "1\t", 2) != 0) {
			w = "the auth service speaks another major version of the protocol";
			goto out;
		}
		if (strncasecmp(r->buf, "MECH\tPLAIN", 10) == 0 && (r->buf[10] == '\t' || r->buf[10] == '\0'))
			plain = 1;
		done = strcmp(r->buf, "DONE") == 0;
		line_done(r, len);
	}
	if (!plain) {
		w = "the auth service does not offer PLAIN (auth_mechanisms in Dovecot)";
		goto out;
	}
	if ((reqlen = dovecot_auth_line(1, l, req, sizeof(req))) == 0) {
		result = DOVECOT_FAIL;          /* credentials that cannot even be written down */
		w = "credentials too long";
		goto out;
	}
	int sent = send_all(r->fd, req, reqlen);
	explicit_bzero(req, sizeof(req));
	if (sent < 0) {
		w = "cannot write to the auth service";
		goto out;
	}
	for (;;) {
		if (read_line(r, &len, &w) < 0)
			goto out;
		int v = dovecot_auth_reply(1, r->buf);
		line_done(r, len);
		if (v != 1) {
			result = v;
			if (v == DOVECOT_FAIL)
				w = "the auth service said FAIL";
			else if (v == DOVECOT_TEMPFAIL)
				w = "the auth service failed temporarily";
			break;
		}
	}
out:
	if (w != NULL)
		snprintf(why, whylen, "%s", w);
	transport_close(&t);
	explicit_bzero(r, sizeof(*r));
	free(r);
	return (enum dovecot_result)result;
}
