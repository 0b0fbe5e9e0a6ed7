/*
 * transport.h - a blocking SMTP connection for worker threads and command-line verbs:
 * TCP with timeouts, OpenSSL client TLS, and reading whole replies through smtp/reply.h.
 *
 * Every call returns 0 on success or a TRANSPORT_E* code with a sentence in t->err that says
 * what happened (refused vs timed out vs name not found vs certificate problem ...).
 * transport_close(NULL) is a no-op. One transport per thread; no shared state.
 */
#ifndef MAILPORT_TRANSPORT_H
#define MAILPORT_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

#include "../smtp/reply.h"

struct dane_rrset;

enum {
	TRANSPORT_OK = 0,
	TRANSPORT_EDNS = -1,        /* host name did not resolve */
	TRANSPORT_EREFUSED = -2,    /* nothing listening */
	TRANSPORT_ETIMEOUT = -3,    /* no answer in time: filtered, or a stalled peer */
	TRANSPORT_ENET = -4,        /* other connect or I/O failure */
	TRANSPORT_ETLS = -5,        /* TLS handshake failed */
	TRANSPORT_EVERIFY = -6,     /* certificate not trusted or not for this host */
	TRANSPORT_EPROTO = -7,      /* the peer broke SMTP (garbage, or bytes after STARTTLS's 220) */
	TRANSPORT_ECLOSED = -8,     /* the peer closed the connection */
};

/* Why a TLS handshake failed, as far as the octets tell (for advice in words). */
enum transport_tls_fail {
	TLS_FAIL_NONE,
	TLS_FAIL_PLAINTEXT,         /* the peer answered in something that is not TLS (an SMTP greeting) */
	TLS_FAIL_VERSION,           /* the peer speaks TLS, but no version we offered */
	TLS_FAIL_CLOSED,            /* the peer closed the connection without a word */
	TLS_FAIL_TIMEOUT,
	TLS_FAIL_OTHER,             /* an alert, a cipher mismatch ... */
};

/* Sees every line the peer sent, exactly as sent (without its line end). */
typedef void transport_trace_fn(void *arg, const char *line, size_t len);

struct transport {
	int fd;
	void *ssl;                  /* SSL *, NULL in plaintext */
	void *ctx;                  /* SSL_CTX * */
	int timeout;                /* seconds, per read or write */
	struct smtp_reply_parser rp;
	char rbuf[4096];
	size_t rlen, roff;
	char peer[128];             /* "host[addr]:port" for messages */
	char addr[48];              /* the numeric address connected to */
	char local[48];             /* ours on that connection (TLS-RPT's sending-mta-ip), "" when
	                             * not known (a unix socket) */
	enum transport_tls_fail tls_fail;   /* after TRANSPORT_ETLS or ETIMEOUT from transport_tls */
	transport_trace_fn *trace;  /* set after transport_connect; NULL = none */
	void *trace_arg;
	char tline[SMTP_REPLY_LINE_MAX];
	size_t tlen;
	char tls_desc[160];
	char dane_match[64];        /* after a DANE handshake: the record that matched, "2 1 1" */
	char err[512];
};

/* Connect to host (name or address) and port, trying each address in turn. */
int transport_connect(struct transport *t, const char *host, const char *port, int timeout);
/* The same, where host is an address found for name (an MX host): messages say name[host]:port. */
int transport_connect_as(struct transport *t, const char *name, const char *host, const char *port, int timeout);
/* TLS on the connection. verify_host: check the chain against cafile (NULL = the system store)
 * and the certificate against this name; NULL = encrypt without authenticating (opportunistic
 * MX TLS, RFC 7435). Refuses unless no plaintext octet is waiting (STARTTLS injection). */
int transport_tls(struct transport *t, const char *verify_host, const char *cafile);

/* The same with the knobs `mailport check` needs. */
struct transport_tls_opts {
	const char *verify_host;    /* as above; also the SNI name unless it is an address */
	const char *cafile;
	int version;                /* 0 = TLS 1.2 or newer; else exactly this TLS1_x_VERSION, any
	                             * cipher at security level 0 (probing what a server accepts) */
	int inspect;                /* finish the handshake whatever the certificate: the chain's
	                             * verdict is left in transport_ssl()'s verify result (the host
	                             * name is not checked: tls_inspect does that separately) */
	const struct dane_rrset *dane;  /* usable TLSA records (tls/tlsa.h): the certificate must
	                                 * match one of them (RFC 7672), instead of a CA and name;
	                                 * SNI is dane->base. NULL: no DANE */
	const char *cert_file, *key_file;   /* our client certificate (PEM chain) and key; NULL: none */
};
int transport_tls_ex(struct transport *t, const struct transport_tls_opts *o);
/* The OpenSSL SSL * of a TLS connection (NULL in plaintext), for inspection only. */
void *transport_ssl(struct transport *t);
/* The connection's tls-exporter channel binding (tls_channel_binding() in tls/tls.h): 0 or -1. */
int transport_channel_binding(struct transport *t, unsigned char out[32]);
/* Per-read and per-write timeout from now on (a deadline shrinking across a probe). */
void transport_set_timeout_ms(struct transport *t, long ms);
int transport_write(struct transport *t, const void *buf, size_t len);
/* A stored message, len octets of fd from off, with dot-stuffing (RFC 5321 4.5.2) and the end
 * marker. The stored message has CRLF line ends only (the receiver normalised bare LF and
 * refused bare CR). */
int transport_send_body(struct transport *t, int fd, off_t off, size_t len);
/* Connect to a unix stream socket (LMTP, Dovecot) with the same timeouts; messages say path. */
int transport_connect_unix(struct transport *t, const char *path, int timeout);
/* where is a unix socket path ("/...") or HOST:PORT ([IPv6]:PORT): either of the above. */
int transport_connect_where(struct transport *t, const char *where, int timeout);
int transport_read_reply(struct transport *t, struct smtp_reply *r);
/* The local address the kernel would use to reach the numeric address addr, found with a
 * connected UDP socket (no packet is sent): for reporting a host never connected to. 0, or -1
 * with out "". */
int transport_source_addr(const char *addr, char *out, size_t outlen);
void transport_close(struct transport *t);

#endif
