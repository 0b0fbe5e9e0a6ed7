/*
 * https.h - one HTTPS request with libcurl for the parts that talk to the web: the MTA-STS
 * policy (RFC 8461) and autoconfig GETs, the TLS-RPT report POST (RFC 8460). Certificate
 * and host name always verified, TLS 1.2 or newer, bounded in size and time, the host's addresses given by the caller (so the same DNS
 * answers everything), redirects refused unless asked for.
 *
 * https_get() fills resp on 0 (any HTTP status) and says why in err on -1. The caller frees
 * resp->body with free(). Blocking; call from a worker thread or a command-line verb.
 * curl_global_init() must have run (the server and check do it at start).
 */
#ifndef MAILPORT_HTTPS_H
#define MAILPORT_HTTPS_H

#include <stddef.h>

struct https_req {
	const char *url;                /* https://HOST[:PORT]/path */
	const char *host;               /* HOST of the URL, with port, to pin to addrs */
	unsigned port;
	const char (*addrs)[46];        /* where HOST is; naddrs 0: libcurl's own resolver */
	size_t naddrs;
	const char *ca_file;            /* NULL: the system store */
	long timeout_ms;
	size_t max_bytes;               /* a larger body fails the request */
	int follow_redirects;
	const char *user_agent;
	const char *const *connect_to;  /* curl's CONNECT_TO entries, HOST:PORT:HOST2:PORT2 */
	size_t nconnect_to;
	const void *post;               /* non-NULL: a POST of these post_len octets */
	size_t post_len;
	const char *post_type;          /* its Content-Type */
};

struct https_resp {
	long status;
	char content_type[128];         /* as sent, "" when none */
	char *body;                     /* NUL-terminated */
	size_t len;
};

/* A GET, or a POST when req->post is set. */
int https_get(const struct https_req *req, struct https_resp *resp, char *err, size_t errlen);

#endif
