/*
 * transport.c - sockets and OpenSSL for the client side, blocking with per-call timeouts.
 * Not SMTP: what to send is smtp/client.c's; this file only moves bytes and verifies peers.
 */
#include "transport.h"


#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../tls/tlsa.h"
#include "../smtp/data.h"
#include "../tls/tls.h"
#include "../util/endpoint.h"

static int set_err(struct transport *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_err(struct transport *t, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->err, sizeof(t->err), fmt, ap);
	va_end(ap);
	return code;
}

static int connect_one(struct transport *t, const struct addrinfo *ai, int *why)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), r, soerr = 0, one = 1;
	socklen_t sl = sizeof(soerr);
	struct pollfd pfd;
	struct timeval tv = { t->timeout, 0 };

	if (fd < 0) {
		*why = errno;
		return -1;
	}
	r = connect(fd, ai->ai_addr, ai->ai_addrlen);
	if (r < 0 && errno != EINPROGRESS) {
		*why = errno;
		close(fd);
		return -1;
	}
	if (r < 0) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		r = poll(&pfd, 1, t->timeout * 1000);
		if (r == 0) {
			*why = ETIMEDOUT;
			close(fd);
			return -1;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
			*why = soerr ? soerr : errno;
			close(fd);
			return -1;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (ai->ai_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* An IPv4 or IPv6 socket address's numeric address into out (left as it is for another family). */
static void sockaddr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)outlen);
}

/* The numeric local address of socket fd into out ("" when it has none). */
static void local_addr(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	out[0] = '\0';
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		sockaddr_text((struct sockaddr *)&ss, out, outlen);
}

int transport_source_addr(const char *addr, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd;

	out[0] = '\0';
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(25);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(25);
		sl = sizeof(*s6);
	} else
		return -1;
	/* connect() on a datagram socket only picks the route and the source address. */
	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0)
		local_addr(fd, out, outlen);
	close(fd);
	return out[0] ? 0 : -1;
}

int transport_connect_unix(struct transport *t, const char *path, int timeout)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct addrinfo ai = { .ai_family = AF_UNIX, .ai_socktype = SOCK_STREAM, .ai_addr = (struct sockaddr *)&sun,
	                       .ai_addrlen = sizeof(sun) };
	int why = 0;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	t->timeout = timeout > 0 ? timeout : 30;
	smtp_reply_init(&t->rp);
	snprintf(t->peer, sizeof(t->peer), "%s", path);
	if (strlen(path) >= sizeof(sun.sun_path))
		return set_err(t, TRANSPORT_ENET, "socket path %s is too long", path);
	memcpy(sun.sun_path, path, strlen(path));
	if ((t->fd = connect_one(t, &ai, &why)) >= 0)
		return TRANSPORT_OK;
	if (why == ETIMEDOUT)
		return set_err(t, TRANSPORT_ETIMEOUT, "connection to %s timed out after %d s", path, t->timeout);
	return set_err(t, why == ECONNREFUSED || why == ENOENT ? TRANSPORT_EREFUSED : TRANSPORT_ENET,
	               "cannot connect to %s: %s", path, strerror(why));
}

int transport_connect_where(struct transport *t, const char *where, int timeout)
{
	char host[256], port[8];
	int p;

	if (endpoint_split(where, host, sizeof(host), &p) < 0)
		return transport_connect_unix(t, where, timeout);
	snprintf(port, sizeof(port), "%d", p);
	return transport_connect(t, host, port, timeout);
}

#define BODY_CHUNK (32 * 1024)

int transport_send_body(struct transport *t, int fd, off_t off, size_t len)
{
	char in[BODY_CHUNK], out[2 * BODY_CHUNK + 8];
	struct smtp_stuff st = { 0 };
	int r;

	while (len > 0) {
		ssize_t n = pread(fd, in, len < sizeof(in) ? len : sizeof(in), off);
		if (n <= 0) {
			snprintf(t->err, sizeof(t->err), "cannot read the queue file: %s", n < 0 ? strerror(errno) : "short");
			return TRANSPORT_ENET;
		}
		if ((r = transport_write(t, out, smtp_stuff(&st, in, (size_t)n, out))) != 0)
			return r;
		off += n;
		len -= (size_t)n;
	}
	return transport_write(t, out, smtp_stuff_end(&st, out));
}

int transport_connect(struct transport *t, const char *host, const char *port, int timeout)
{
	return transport_connect_as(t, NULL, host, port, timeout);
}

int transport_connect_as(struct transport *t, const char *name, const char *host, const char *port, int timeout)
{
	struct addrinfo hints, *res = NULL;
	int r, why = 0, timedout = 0;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	t->timeout = timeout > 0 ? timeout : 30;
	smtp_reply_init(&t->rp);
	if (name != NULL)
		snprintf(t->peer, sizeof(t->peer), "%s[%s]:%s", name, host, port);
	else
		snprintf(t->peer, sizeof(t->peer), "%s:%s", host, port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0)
		return set_err(t, TRANSPORT_EDNS, "cannot resolve %s: %s", host, gai_strerror(r));
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		t->fd = connect_one(t, ai, &why);
		if (why == ETIMEDOUT)
			timedout = 1;
		if (t->fd >= 0) {
			char addr[INET6_ADDRSTRLEN] = "?";
			sockaddr_text(ai->ai_addr, addr, sizeof(addr));
			snprintf(t->peer, sizeof(t->peer), "%s[%s]:%s", name ? name : host, addr, port);
			snprintf(t->addr, sizeof(t->addr), "%s", addr);
			local_addr(t->fd, t->local, sizeof(t->local));
			break;
		}
	}
	freeaddrinfo(res);
	if (t->fd >= 0)
		return TRANSPORT_OK;
	if (timedout)
		return set_err(t, TRANSPORT_ETIMEOUT, "connection to %s timed out after %d s (a firewall dropping "
		               "packets, or the host is down)", t->peer, t->timeout);
	if (why == ECONNREFUSED)
		return set_err(t, TRANSPORT_EREFUSED, "connection refused by %s (nothing listening on that port)", t->peer);
	return set_err(t, TRANSPORT_ENET, "cannot connect to %s: %s", t->peer, strerror(why));
}

int transport_tls(struct transport *t, const char *verify_host, const char *cafile)
{
	struct transport_tls_opts o = { verify_host, cafile, 0, 0, NULL, NULL, NULL };

	return transport_tls_ex(t, &o);
}

/* The TLSA records on ssl, the MX name as SNI and as the reference identity for DANE-TA(2);
 * DANE-EE(3) matches the key or certificate alone (RFC 7672 3.1.1: no name check). */
static int dane_setup(struct transport *t, SSL *ssl, const struct dane_rrset *dane)
{
	size_t added = 0;

	if (SSL_dane_enable(ssl, dane->base) <= 0) {
		set_err(t, TRANSPORT_ETLS, "cannot enable DANE for %s", dane->base);
		return -1;
	}
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	SSL_set_tlsext_host_name(ssl, dane->base);
	for (size_t i = 0; i < dane->n; i++)
		if (SSL_dane_tlsa_add(ssl, dane->rr[i].usage, dane->rr[i].selector, dane->rr[i].mtype,
		                      dane->rr[i].data, dane->rr[i].len) > 0)
			added++;
	if (added == 0) {
		set_err(t, TRANSPORT_ETLS, "none of the TLSA records of %s is usable by OpenSSL", dane->base);
		return -1;
	}
	return 0;
}

/* t->ctx for o: the versions, the client certificate, and the trust (DANE's TLSA records, or
 * the CA store when verify_host is set). *is_ip: verify_host is an address, not a name. */
static int tls_ctx_setup(struct transport *t, const struct transport_tls_opts *o, int *is_ip)
{
	const char *verify_host = o->verify_host;
	SSL_CTX *ctx;
	unsigned char ip[16];

	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		return set_err(t, TRANSPORT_ETLS, "cannot create TLS context");
	t->ctx = ctx;
	if (o->version != 0) {
		/* A probe: offer exactly one version with everything it can negotiate, so the answer
		 * is about the server, not about this client's (Debian's) security level. */
		SSL_CTX_set_min_proto_version(ctx, o->version);
		SSL_CTX_set_max_proto_version(ctx, o->version);
		SSL_CTX_set_security_level(ctx, 0);
		SSL_CTX_set_cipher_list(ctx, "ALL:@SECLEVEL=0");
	} else
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (o->cert_file != NULL) {
		const char *key = o->key_file != NULL ? o->key_file : o->cert_file;
		if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
			char e[256];
			tls_last_error(e, sizeof(e));
			return set_err(t, TRANSPORT_ETLS, "cannot use the client certificate %s with key %s: %s", o->cert_file,
			               key, e);
		}
	}
	t->dane_match[0] = '\0';
	if (o->dane != NULL) {
		/* DANE: the TLSA records are the trust anchors; no CA store, no WebPKI name check. */
		if (SSL_CTX_dane_enable(ctx) <= 0)
			return set_err(t, TRANSPORT_ETLS, "cannot enable DANE in OpenSSL");
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else if (verify_host != NULL) {
		if (o->cafile ? SSL_CTX_load_verify_locations(ctx, o->cafile, NULL) != 1 :
		                SSL_CTX_set_default_verify_paths(ctx) != 1) {
			char e[256];
			tls_last_error(e, sizeof(e));
			return set_err(t, TRANSPORT_EVERIFY, "cannot load CA certificates%s%s: %s", o->cafile ? " from " : "",
			               o->cafile ? o->cafile : "", e);
		}
		/* VERIFY_NONE still verifies the chain and keeps the verdict for SSL_get_verify_result. */
		SSL_CTX_set_verify(ctx, o->inspect ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
		*is_ip = inet_pton(AF_INET, verify_host, ip) == 1 || inet_pton(AF_INET6, verify_host, ip) == 1;
	}
	return TRANSPORT_OK;
}

/* Why SSL_connect returned r: the certificate, a timeout, a close, or the handshake itself.
 * saved: errno right after SSL_connect. Sets t->tls_fail for the fallback decision. */
static int handshake_failed(struct transport *t, const struct transport_tls_opts *o, int r, int saved)
{
	SSL *ssl = t->ssl;
	long vr = SSL_get_verify_result(ssl);
	int se = SSL_get_error(ssl, r), quiet = ERR_peek_error() == 0;
	enum tls_failure kind = tls_failure_kind(ERR_peek_last_error());
	char e[256];

	if (o->dane != NULL && vr != X509_V_OK)
		return set_err(t, TRANSPORT_EVERIFY, "certificate of %s matches none of its %zu TLSA record%s "
		               "(DANE): %s", t->peer, o->dane->n, o->dane->n == 1 ? "" : "s",
		               X509_verify_cert_error_string(vr));
	if (o->verify_host != NULL && !o->inspect && vr != X509_V_OK)
		return set_err(t, TRANSPORT_EVERIFY, "certificate of %s not accepted: %s", t->peer,
		               X509_verify_cert_error_string(vr));
	tls_last_error(e, sizeof(e));
	/* A socket timeout (SO_RCVTIMEO) comes back as "want read" on a blocking socket. */
	if (quiet && (se == SSL_ERROR_WANT_READ || se == SSL_ERROR_WANT_WRITE ||
	              (se == SSL_ERROR_SYSCALL && (saved == EAGAIN || saved == EWOULDBLOCK)))) {
		t->tls_fail = TLS_FAIL_TIMEOUT;
		return set_err(t, TRANSPORT_ETIMEOUT, "TLS handshake with %s timed out after %d s", t->peer,
		               t->timeout);
	}
	if (se == SSL_ERROR_SYSCALL && quiet) {
		t->tls_fail = TLS_FAIL_CLOSED;
		return set_err(t, TRANSPORT_ETLS, "TLS handshake with %s failed: the server closed the connection",
		               t->peer);
	}
	/* The record layer saw something that is not TLS: typically "220 ..." (SMTP). */
	t->tls_fail = kind == TLS_FAILURE_PLAINTEXT ? TLS_FAIL_PLAINTEXT :
	              kind == TLS_FAILURE_VERSION ? TLS_FAIL_VERSION : TLS_FAIL_OTHER;
	return set_err(t, TRANSPORT_ETLS, "TLS handshake with %s failed: %s", t->peer, e);
}

int transport_tls_ex(struct transport *t, const struct transport_tls_opts *o)
{
	const char *verify_host = o->verify_host;
	SSL *ssl;
	int r, is_ip = 0;

	if (t->rlen > t->roff || smtp_reply_pending(&t->rp))
		return set_err(t, TRANSPORT_EPROTO, "%s sent data after agreeing to start TLS; refusing to continue "
		               "(possible injection attack)", t->peer);
	if ((r = tls_ctx_setup(t, o, &is_ip)) != TRANSPORT_OK)
		return r;
	ssl = SSL_new(t->ctx);
	if (ssl == NULL)
		return set_err(t, TRANSPORT_ETLS, "cannot create TLS session");
	t->ssl = ssl;
	SSL_set_fd(ssl, t->fd);
	if (o->dane != NULL && dane_setup(t, ssl, o->dane) != 0)
		return TRANSPORT_ETLS;
	if (verify_host != NULL && !is_ip && o->dane == NULL)
		SSL_set_tlsext_host_name(ssl, verify_host);
	if (verify_host != NULL && !o->inspect && o->dane == NULL) {
		if (is_ip)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), verify_host);
		else
			SSL_set1_host(ssl, verify_host);
	}
	errno = 0;
	r = SSL_connect(ssl);
	if (r != 1)
		return handshake_failed(t, o, r, errno);
	tls_describe(ssl, t->tls_desc, sizeof(t->tls_desc));
	if (o->dane != NULL) {
		uint8_t usage, selector, mtype;
		/* Belt and braces: a completed handshake under DANE must name the record that matched. */
		if (SSL_get0_dane_authority(ssl, NULL, NULL) < 0 ||
		    SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, NULL, NULL) < 0)
			return set_err(t, TRANSPORT_EVERIFY, "certificate of %s was not matched by a TLSA record", t->peer);
		snprintf(t->dane_match, sizeof(t->dane_match), "%u %u %u", usage, selector, mtype);
	}
	return TRANSPORT_OK;
}

int transport_channel_binding(struct transport *t, unsigned char out[32])
{
	return t->ssl != NULL ? tls_channel_binding(t->ssl, out) : -1;
}

void *transport_ssl(struct transport *t) { return t->ssl; }

void transport_set_timeout_ms(struct transport *t, long ms)
{
	struct timeval tv;

	if (ms < 1)
		ms = 1;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	t->timeout = (int)((ms + 999) / 1000);
	if (t->fd >= 0) {
		setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
}

int transport_write(struct transport *t, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n;
		if (t->ssl) {
			int r = SSL_write(t->ssl, p, (int)(len > 1 << 30 ? 1 << 30 : len));
			n = r > 0 ? r : -1;
		} else
			n = send(t->fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (!t->ssl && errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return set_err(t, TRANSPORT_ETIMEOUT, "writing to %s timed out", t->peer);
			return set_err(t, TRANSPORT_ENET, "writing to %s failed: %s", t->peer, strerror(errno));
		}
		p += n;
		len -= (size_t)n;
	}
	return TRANSPORT_OK;
}

/* Hands the trace hook each whole line of what the reply parser consumed. */
static void trace_octets(struct transport *t, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			size_t l = t->tlen;
			if (l > 0 && t->tline[l - 1] == '\r')
				l--;
			t->trace(t->trace_arg, t->tline, l);
			t->tlen = 0;
		} else if (t->tlen < sizeof(t->tline))
			t->tline[t->tlen++] = p[i];
	}
}

int transport_read_reply(struct transport *t, struct smtp_reply *r)
{
	for (;;) {
		if (t->roff < t->rlen) {
			size_t used = 0;
			int got = smtp_reply_feed(&t->rp, t->rbuf + t->roff, t->rlen - t->roff, &used, r);
			if (t->trace != NULL)
				trace_octets(t, t->rbuf + t->roff, got < 0 ? t->rlen - t->roff : used);
			t->roff += used;
			if (got < 0)
				return set_err(t, TRANSPORT_EPROTO, "%s sent something that is not an SMTP reply", t->peer);
			if (got == 1)
				return TRANSPORT_OK;
		}
		t->roff = t->rlen = 0;
		ssize_t n;
		errno = 0;
		if (t->ssl) {
			int rr = SSL_read(t->ssl, t->rbuf, sizeof(t->rbuf));
			n = rr > 0 ? rr : (SSL_get_error(t->ssl, rr) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
		} else
			n = recv(t->fd, t->rbuf, sizeof(t->rbuf), 0);
		if (n == 0)
			return set_err(t, TRANSPORT_ECLOSED, "%s closed the connection", t->peer);
		if (n < 0) {
			if (!t->ssl && errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return set_err(t, TRANSPORT_ETIMEOUT, "no reply from %s within %d s", t->peer, t->timeout);
			return set_err(t, TRANSPORT_ENET, "reading from %s failed: %s", t->peer,
			               errno ? strerror(errno) : "TLS error");
		}
		t->rlen = (size_t)n;
	}
}

void transport_close(struct transport *t)
{
	if (t == NULL)
		return;
	if (t->ssl) {
		SSL_shutdown(t->ssl);
		SSL_free(t->ssl);
	}
	SSL_CTX_free(t->ctx);
	if (t->fd >= 0)
		close(t->fd);
	t->ssl = t->ctx = NULL;
	t->fd = -1;
	ERR_clear_error();
}

