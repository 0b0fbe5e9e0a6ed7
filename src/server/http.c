/*
 * http.c - the HTTPS listener that publishes this server's settings to mail clients (autoconfig,
 * Autodiscover, Apple profiles), the MTA-STS policy of its domains, and the metrics listener.
 * libevent's evhttp parses HTTP (bounded: header size, body size, a timeout per request); TLS
 * is the mail ports' (same certificates, SNI, TLS 1.2 minimum); the documents come from
 * publish/ and util/metrics. One log line per request.
 */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../publish/publish.h"
#include "../queue/admin.h"
#include "../util/log.h"
#include "../util/metrics.h"
#include "server_int.h"

#define HTTP_HEADERS_MAX 8192
#define HTTP_BODY_MAX 16384
#define HTTP_TIMEOUT_S 10

/* HTTPS connections with TLS state at once: beyond it a new one's handshake fails at its first
 * message, so a flood of HTTPS clients cannot pile up TLS sessions (evhttp in libevent 2.1 has
 * no connection limit of its own; a silent one still holds its descriptor for the 10 s
 * timeout). Counted out when OpenSSL frees the SSL (ex_data free hook). */
#define HTTPS_CONNS_MAX 256
static int ssl_idx = -1;

static void ssl_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (ptr != NULL)
		((struct server *)ptr)->https_conns--;
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct server *srv = arg;
	SSL *ssl = srv->rc->tls != NULL ? tls_server_ssl(srv->rc->tls) : NULL;

	if (ssl == NULL)
		return NULL;    /* evhttp then makes a plain one: the handshake fails, the client is told */
	if (srv->https_conns >= HTTPS_CONNS_MAX) {
		/* no version left to agree on: the handshake ends at the client's first message, cheaply */
		SSL_set_min_proto_version(ssl, TLS1_3_VERSION);
		SSL_set_max_proto_version(ssl, TLS1_2_VERSION);
		log_warnx(NULL, "https connection refused: %d HTTPS connections open already", HTTPS_CONNS_MAX);
	} else if (ssl_idx >= 0 && SSL_set_ex_data(ssl, ssl_idx, srv) == 1)
		srv->https_conns++;
	struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                                         BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		SSL_free(ssl);
	else
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* The request's Host without port or trailing dot, lower case, into out ("" when none). */
static void req_host(struct evhttp_request *req, char *out, size_t outlen)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
	size_t n = 0;

	for (; h != NULL && *h && *h != ':' && n + 1 < outlen; h++)
		out[n++] = (char)(*h >= 'A' && *h <= 'Z' ? *h - 'A' + 'a' : *h);
	while (n > 0 && out[n - 1] == '.')
		n--;
	out[n] = '\0';
}

static unsigned port_of(const struct config_listen *cl)
{
	if (cl->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&cl->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&cl->ss)->sin_port);
}

static int local(const struct config *cfg, const char *d)
{
	return config_is_local_domain(cfg, d, strlen(d));
}

/* This server's settings, as the ports it really listens on say. */
static void settings_of(const struct config *cfg, struct publish_settings *ps, char *imap, size_t imaplen)
{
	memset(ps, 0, sizeof(*ps));
	ps->hostname = cfg->hostname;
	if (cfg->nlisten[ROLE_SUBMISSIONS] > 0)
		ps->port465 = port_of(&cfg->listen[ROLE_SUBMISSIONS][0]);
	if (cfg->nlisten[ROLE_SUBMISSION] > 0)
		ps->port587 = port_of(&cfg->listen[ROLE_SUBMISSION][0]);
	if (cfg->https_imap != NULL && publish_parse_hostport(cfg->https_imap, imap, imaplen, &ps->imap_port) == 0)
		ps->imap_host = imap;
}

static void reply(struct evhttp_request *req, int code, const char *type, const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(h, "Content-Type", type);
	/* one request per connection: a client cannot keep one open with an endless series */
	evhttp_add_header(h, "Connection", "close");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (b != NULL)
		evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, code == 200 ? "OK" : code == 404 ? "Not Found" : code == 405 ? "Method Not Allowed" :
	                  code == 400 ? "Bad Request" : "Internal Server Error", b);
	if (b != NULL)
		evbuffer_free(b);
}

static int starts_host(const char *host, const char *prefix, const struct config *cfg, const char **domain)
{
	size_t n = strlen(prefix);

	if (strncmp(host, prefix, n) != 0 || !local(cfg, host + n))
		return 0;
	*domain = host + n;
	return 1;
}

/* The mail domain a request is about: the email address asked for, else the name the client
 * reached us by (autoconfig.DOMAIN, autodiscover.DOMAIN), else a local domain typed as Host. */
static const char *domain_of(const struct config *cfg, const char *host, const char *email)
{
	const char *d = NULL;

	if (email != NULL && publish_email_ok(email, &d))
		return local(cfg, d) ? d : NULL;
	if (starts_host(host, "autoconfig.", cfg, &d) || starts_host(host, "autodiscover.", cfg, &d))
		return d;
	return local(cfg, host) ? host : NULL;
}

static void on_https(struct evhttp_request *req, struct server *srv, const char *path, const char *host,
                     struct evkeyvalq *q, FILE *out, int *code, const char **type, int *sign)
{
	const struct config *cfg = srv->rc->cfg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct publish_settings ps;
	char imap[256];
	const char *d;

	settings_of(cfg, &ps, imap, sizeof(imap));
	*code = 404;
	if (strcmp(path, "/.well-known/mta-sts.txt") == 0) {
		/* RFC 8461 3.3: only at mta-sts.DOMAIN, over HTTPS with a valid certificate */
		if (!starts_host(host, "mta-sts.", cfg, &d))
			return;
		*type = "text/plain";
		*code = publish_mtasts(cfg->mta_sts_mode, cfg->mta_sts_max_age, cfg->hostname, out) == 0 ? 200 : 500;
		return;
	}
	if (strcmp(path, "/mail/config-v1.1.xml") == 0 || strcmp(path, "/.well-known/autoconfig/mail/config-v1.1.xml") == 0) {
		if ((d = domain_of(cfg, host, evhttp_find_header(q, "emailaddress"))) == NULL)
			return;
		*type = "application/xml";
		*code = publish_autoconfig(&ps, d, out) == 0 ? 200 : 500;
		return;
	}
	if (strcasecmp(path, "/autodiscover/autodiscover.xml") == 0) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(in);
		char email[300];
		if (cmd != EVHTTP_REQ_POST) {
			*code = 405;
			return;
		}
		const char *body = len > 0 ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : NULL;
		if (body == NULL || publish_autodiscover_request(body, len, email, sizeof(email)) < 0) {
			*code = 400;
			return;
		}
		if (domain_of(cfg, host, email) == NULL)
			return;
		*type = "application/xml";
		*code = publish_autodiscover(&ps, email, out) == 0 ? 200 : 500;
		return;
	}
	if (strcmp(path, "/apple/mail.mobileconfig") == 0) {
		const char *email = evhttp_find_header(q, "email");
		if (email == NULL || domain_of(cfg, host, email) == NULL || ps.imap_host == NULL)
			return;
		*type = "application/x-apple-aspen-config";
		*code = publish_mobileconfig(&ps, email, out) == 0 ? 200 : 500;
		*sign = 1;
	}
}

struct queue_scan {
	struct spool *spool;
	struct metrics_gauges *g;
	long long now;
};

static void queue_stats(void *arg, const char *qid)
{
	struct queue_scan *qs = arg;
	struct spool_entry *e = spool_entry_peek(qs->spool, qid);

	if (e == NULL)
		return;
	qs->g->queue_messages++;
	if ((double)(qs->now - e->arrival) > qs->g->queue_oldest_seconds)
		qs->g->queue_oldest_seconds = (double)(qs->now - e->arrival);
	spool_entry_free(e);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct listener *l = arg;
	struct server *srv = l->srv;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL, *query = uri ? evhttp_uri_get_query(uri) : NULL;
	const char *type = "text/plain; charset=utf-8";
	struct evkeyvalq q = { 0 };
	char host[256], *body = NULL;
	size_t len = 0;
	int code = 404, sign = 0;
	FILE *out = open_memstream(&body, &len);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	metrics_add(MET_HTTP_REQUESTS, 1);
	req_host(req, host, sizeof(host));
	TAILQ_INIT(&q);
	if (query != NULL)
		evhttp_parse_query_str(query, &q);
	if (out == NULL || path == NULL) {
		code = 400;
	} else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD && cmd != EVHTTP_REQ_POST) {
		code = 405;
	} else if (l->role == ROLE_METRICS) {
		if (strcmp(path, "/metrics") == 0) {
			struct metrics_gauges g = { srv->sessions, 0, 0, srv->shared == NULL ? -1 : shared_up(srv->shared) };
			struct queue_scan qs = { srv->spool, &g, (long long)time(NULL) };
			static const char *const names[3] = { "smtp", "submissions", "submission" };
			spool_scan(srv->spool, queue_stats, &qs);
			metrics_render(out, &g, names);
			type = "text/plain; version=0.0.4; charset=utf-8";
			code = 200;
		}
	} else
		on_https(req, srv, path, host, &q, out, &code, &type, &sign);
	if (out != NULL)
		fclose(out);
	/* a profile goes out signed with the server's certificate: devices show who it is from */
	unsigned char *der = NULL;
	size_t derlen = 0;
	if (code == 200 && sign && (srv->rc->tls == NULL || tls_server_sign(srv->rc->tls, body, len, &der, &derlen) < 0))
		code = 500;
	if (code != 200) {
		free(body);
		body = NULL;
		static const char *const words[] = { "not found\n", "bad request\n", "method not allowed\n", "error\n" };
		const char *w = words[code == 404 ? 0 : code == 400 ? 1 : code == 405 ? 2 : 3];
		reply(req, code, "text/plain; charset=utf-8", w, strlen(w));
	} else if (der != NULL)
		reply(req, code, type, (const char *)der, derlen);
	else
		reply(req, code, type, body, len);
	OPENSSL_free(der);
	char *peer = NULL;
	ev_uint16_t pport = 0;
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	if (conn != NULL)
		evhttp_connection_get_peer(conn, &peer, &pport);
	log_info(NULL, "http %s address=%s host=%s path=%s code=%d", l->role == ROLE_METRICS ? "metrics" : "https",
	         peer ? peer : "-", host[0] ? host : "-", path ? path : "-", code);
	evhttp_clear_headers(&q);
	free(body);
}

int http_start(struct server *srv)
{
	if (ssl_idx < 0)
		ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ssl_gone);
	for (size_t i = 0; i < srv->nlisteners; i++) {
		struct listener *l = &srv->listeners[i];
		if (listener_kind(l->role)->proto != LISTENER_PROTO_HTTP)
			continue;
		struct evhttp *h = evhttp_new(srv->base);
		if (h == NULL)
			return -1;
		l->http = h;
		evhttp_set_max_headers_size(h, HTTP_HEADERS_MAX);
		evhttp_set_max_body_size(h, HTTP_BODY_MAX);
		evhttp_set_timeout(h, HTTP_TIMEOUT_S);
		evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
		if (listener_kind(l->role)->tls == LISTENER_TLS_IMPLICIT)
			evhttp_set_bevcb(h, tls_bev, srv);
		evhttp_set_gencb(h, on_request, l);
		if (evhttp_accept_socket_with_handle(h, l->fd) == NULL)
			return -1;
		l->fd = -1;     /* evhttp's now: it closes it */
	}
	return 0;
}

void http_stop(struct server *srv)
{
	for (size_t i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i].http != NULL) {
			evhttp_free(srv->listeners[i].http);
			srv->listeners[i].http = NULL;
		}
}
