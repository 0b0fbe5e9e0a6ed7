/*
 * fakedns.h - a DNS server on 127.0.0.1 that answers from a table, for the unit tests of the
 * code that asks libunbound itself (net/dns.h contexts: route/plan.c). dnstable.h answers
 * msg/lookup.h's callbacks instead; this one speaks the protocol, over UDP, on a thread.
 *
 * Set fakedns_table to rows ending in { NULL }, fakedns_start() (the resolver to give dns.h,
 * "127.0.0.1:PORT"), fakedns_stop(). A name in no row is NXDOMAIN; a name with rows, none of
 * the type asked, is an empty answer; a row of type FAKEDNS_SERVFAIL makes its name fail.
 * Answers are unsigned (insecure): no DNSSEC here. Each question is counted in fakedns_asked.
 */
#ifndef MAILPORT_TEST_FAKEDNS_H
#define MAILPORT_TEST_FAKEDNS_H

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKEDNS_A        1
#define FAKEDNS_MX       15
#define FAKEDNS_TXT      16
#define FAKEDNS_AAAA     28
#define FAKEDNS_SERVFAIL 0xffff

/* value: A "192.0.2.1", MX "10 mx.example.test" ("0 ." for a null MX), TXT the text. */
struct fakedns_rr { const char *name; unsigned type; const char *value; };

static const struct fakedns_rr *fakedns_table;
static int fakedns_fd = -1;
static atomic_int fakedns_quit;
static atomic_uint fakedns_asked;
static pthread_t fakedns_thread;

/* name (dotted, no trailing dot) in wire format at out: its length, 0 when it does not fit. */
static size_t fakedns_wire(const char *name, unsigned char *out, size_t max)
{
	size_t o = 0;

	while (*name) {
		size_t n = strcspn(name, ".");
		if (n == 0 || n > 63 || o + n + 2 > max)
			return 0;
		out[o++] = (unsigned char)n;
		memcpy(out + o, name, n);
		o += n;
		name += n + (name[n] == '.');
	}
	if (o + 1 > max)
		return 0;
	out[o++] = 0;
	return o;
}

/* The record's rdata at out: its length. */
static size_t fakedns_rdata(const struct fakedns_rr *rr, unsigned char *out, size_t max)
{
	size_t n;

	switch (rr->type) {
	case FAKEDNS_A:
		return inet_pton(AF_INET, rr->value, out) == 1 ? 4 : 0;
	case FAKEDNS_AAAA:
		return inet_pton(AF_INET6, rr->value, out) == 1 ? 16 : 0;
	case FAKEDNS_MX: {
		unsigned pref = (unsigned)atoi(rr->value);
		const char *host = strchr(rr->value, ' ') + 1;
		out[0] = (unsigned char)(pref >> 8);
		out[1] = (unsigned char)pref;
		if (strcmp(host, ".") == 0) {
			out[2] = 0;
			return 3;
		}
		return (n = fakedns_wire(host, out + 2, max - 2)) ? n + 2 : 0;
	}
	default:
		if ((n = strlen(rr->value)) > 255 || n + 1 > max)
			return 0;
		out[0] = (unsigned char)n;
		memcpy(out + 1, rr->value, n);
		return n + 1;
	}
}

/* The answer to query q (qlen octets) at out: its length, 0 to drop the query. */
static size_t fakedns_answer(const unsigned char *q, size_t qlen, unsigned char *out, size_t max)
{
	char name[256];
	size_t p = 12, o = 0, an = 0;
	int exists = 0, fail = 0;

	if (qlen < 17 || (q[4] << 8 | q[5]) != 1)
		return 0;
	while (p < qlen && q[p] != 0) {         /* the question's name, lower case */
		size_t n = q[p++];
		if (n > 63 || p + n >= qlen || o + n + 1 >= sizeof(name))
			return 0;
		for (size_t i = 0; i < n; i++)
			name[o++] = (char)tolower(q[p + i]);
		name[o++] = '.';
		p += n;
	}
	name[o ? o - 1 : 0] = '\0';
	if (p + 5 > qlen)
		return 0;
	unsigned type = (unsigned)(q[p + 1] << 8 | q[p + 2]);
	size_t qend = p + 5;
	fakedns_asked++;
	memcpy(out, q, qend);                   /* id, flags, counts, question */
	o = qend;
	for (const struct fakedns_rr *rr = fakedns_table; rr->name != NULL; rr++) {
		if (strcasecmp(rr->name, name) != 0)
			continue;
		exists = 1;
		fail |= rr->type == FAKEDNS_SERVFAIL;
		if (rr->type != type || o + 12 + 300 > max)
			continue;
		unsigned char *h = out + o;
		size_t n = fakedns_rdata(rr, h + 12, max - o - 12);
		h[0] = 0xc0;                    /* the question's name */
		h[1] = 12;
		h[2] = (unsigned char)(type >> 8);
		h[3] = (unsigned char)type;
		h[4] = 0;
		h[5] = 1;                       /* IN */
		h[6] = h[7] = h[8] = 0;
		h[9] = 60;                      /* TTL */
		h[10] = (unsigned char)(n >> 8);
		h[11] = (unsigned char)n;
		o += 12 + n;
		an++;
	}
	if (fail)
		o = qend, an = 0;
	out[2] = 0x84 | (q[2] & 0x01);          /* QR, AA, RD as asked */
	out[3] = 0x80 | (fail ? 2 : exists ? 0 : 3);   /* RA; SERVFAIL, NOERROR or NXDOMAIN */
	out[6] = (unsigned char)(an >> 8);
	out[7] = (unsigned char)an;
	out[8] = out[9] = out[10] = out[11] = 0;        /* no authority, no additional (no EDNS) */
	return o;
}

static void *fakedns_main(void *arg)
{
	(void)arg;
	while (!fakedns_quit) {
		struct pollfd pfd = { fakedns_fd, POLLIN, 0 };
		unsigned char q[512], a[4096];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		ssize_t n = recvfrom(fakedns_fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		size_t len = n > 0 ? fakedns_answer(q, (size_t)n, a, sizeof(a)) : 0;
		if (len > 0)
			(void)sendto(fakedns_fd, a, len, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

/* The resolver to give dns.h ("127.0.0.1:PORT") in out; 0, or -1. */
static int fakedns_start(char *out, size_t outlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	fakedns_quit = 0;
	if ((fakedns_fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0 || bind(fakedns_fd, (struct sockaddr *)&sa, sl) != 0 ||
	    getsockname(fakedns_fd, (struct sockaddr *)&sa, &sl) != 0 ||
	    pthread_create(&fakedns_thread, NULL, fakedns_main, NULL) != 0)
		return -1;
	snprintf(out, outlen, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
	return 0;
}

static void fakedns_stop(void)
{
	fakedns_quit = 1;
	pthread_join(fakedns_thread, NULL);
	close(fakedns_fd);
	fakedns_fd = -1;
}

#endif
