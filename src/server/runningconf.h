/*
 * runningconf.h - a snapshot of the running configuration, reference counted: each session holds
 * one, so a reload never frees what a session in flight still points at (session conf strings
 * point into cfg; SSLs into tls). Below the rest of src/net: it knows nothing of connections,
 * listeners or the server.
 */
#ifndef MAILPORT_RUNNINGCONF_H
#define MAILPORT_RUNNINGCONF_H

#include "../auth/authcache.h"
#include "../auth/directory.h"
#include "../conf/config.h"
#include "../deliver/remote_attempt.h"
#include "../deliver/runner.h"
#include "../msg/dkimsign.h"
#include "../smtp/session.h"
#include "../tls/clientca.h"
#include "../tls/tls.h"
#include "../util/errlist.h"

struct runconf {
	int refs;                       /* sessions, password checks and event loops using it (atomic) */
	struct config *cfg;
	struct directory *dir;                  /* mailboxes, aliases, credentials */
	struct authcache *authcache;            /* credentials verified lately (this snapshot's directory) */
	struct tls_server *tls;                 /* NULL when [tls] is not configured */
	struct clientca *clientca;              /* [auth] client_ca; NULL: no client certificates */
	struct relay_conf relay;                /* scheme RELAY_NONE without a smarthost */
	struct smtp_session_conf sconf[ROLE_COUNT];
	const char *trust_anchor;               /* DNSSEC trust anchor file in effect, NULL: none */
	char sts_cache_dir[4096];               /* SPOOL/sts: the MTA-STS policy cache */
	char tlsrpt_dir[4096];                  /* SPOOL/tlsrpt: TLS-RPT sessions; "" when off */
	char tlsrpt_contact[300];
	int sender_checks;                      /* [smtp] sender_checks = yes */
	int dmarc_reject;                       /* [smtp] dmarc_reject = yes */
	int scram;                              /* [auth] scram = yes */
	int proxy[ROLE_COUNT];                  /* [ROLE] proxy_protocol = yes */
	struct dkim_keys *dkim;                 /* [dkim] sign keys, loaded (never NULL once loaded); the
	                                           runner takes a reference for bounces */
};

/* Where the app passwords of c are kept, and where their last use is noted (in the spool). */
void runconf_apppw_paths(const struct config *c, char *store, size_t storelen, char *used, size_t usedlen);
/* Where the client CA's CRL and the list of issued client certificates are kept. */
void runconf_clientca_paths(const struct config *c, char *crl, size_t crllen, char *index, size_t indexlen);
/* The file at path, loaded and checked (NULL: errs says why), with one reference. */
struct runconf *runconf_load(const char *path, struct errlist *errs);
/* Another user of rc (any thread); returns rc. */
struct runconf *runconf_ref(struct runconf *rc);
void runconf_unref(struct runconf *rc);
/* The delivery runner's view of a snapshot (pointers into rc; the runner copies them). */
void runconf_runner(const struct runconf *rc, struct runner_conf *out);

#endif
