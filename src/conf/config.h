/*
 * config.h - mailport.conf: INI (inih), one typed table of every parameter with its default,
 * range and help text (Postfix mail_params.h + postconf -d), so `--defaults` and the checks
 * come from one place.
 *
 * config_load() reports every error as file:line into errs and returns NULL when there was
 * any; the caller prints them and exits 78 (EX_CONFIG). Relative paths are resolved against
 * the directory of the config file. config_free(NULL) is a no-op.
 */
#ifndef MAILPORT_CONFIG_H
#define MAILPORT_CONFIG_H

#include <stddef.h>
#include <sys/socket.h>

#include "../util/errlist.h"
#include "listener.h"

#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_CERTS  32
#define CONFIG_MAX_RETRY  16

struct config_listen {
	char text[128];                 /* as written, for logs */
	struct sockaddr_storage ss;
	socklen_t sslen;
};


struct config_rate {                /* "500/h": count events per window seconds */
	unsigned count;
	unsigned window;
};

#define CONFIG_MAX_DKIM 32
struct config_dkim {                /* [dkim] sign = DOMAIN SELECTOR FILE [active|standby] */
	char *domain, *selector, *path;
	int active;
	unsigned line;
};

/* A certificate chain and its key, paired by order in [tls]; the lines where each was given. */
struct config_cert {
	char *cert, *key;
	int line, key_line;
};

struct netmatch;

struct config {
	char *path;
	/* [server] */
	char *hostname;
	char *spool;
	char **local_domains;           /* lower case */
	size_t nlocal_domains;
	char *maildir;                  /* pattern with %d and %u */
	size_t max_message_size;
	unsigned timeout;               /* seconds */
	unsigned max_connections;
	unsigned workers;               /* event loops; 0 = one per core */
	unsigned max_conn_per_ip;       /* sessions at once per client (0 = no limit) */
	unsigned conn_rate_per_ip;      /* new connections per minute per client (0 = no limit) */
	struct netmatch *limits_exempt; /* clients those two do not apply to */
	unsigned max_recipients;
	unsigned max_errors;
	char *user;                     /* to become after binding when started as root; NULL = none */
	char *recipient_delimiter;      /* "" disables user+tag */
	unsigned shutdown_grace;        /* seconds */
	unsigned retry_interval;        /* seconds between local delivery retries */
	size_t min_free_space;          /* octets the spool keeps free; new mail gets 452 below it */
	char *log_dest;                 /* stderr, syslog, journal */
	char *log_format;               /* text, json */
	char *log_socket;               /* NULL: the destination's usual socket */
	/* [auth] */
	char *users;
	char *auth_backend;             /* "file" or "dovecot:SOCKET" */
	/* [directory] */
	char *dir_backend;              /* "file" or "postgresql" */
	char *pg_conninfo;
	char *pg_password;              /* the role's password, read from password_file */
	unsigned pg_max_stale;          /* seconds */
	char *app_passwords;            /* NULL = SPOOL/app-passwords */
	char *scram;                    /* "yes"/"no": offer SCRAM-SHA-256 */
	char *client_ca;                /* PEM CA(s) of TLS client certificates; NULL: none asked for */
	char *client_ca_key;            /* its key, for mailport user cert (the server never reads it) */
	char *client_crl;               /* NULL = SPOOL/client-certs.crl */
	unsigned max_failures;          /* AUTH failures per client IP within failure_window */
	unsigned failure_window;        /* seconds */
	/* [limits] */
	char *shared;                   /* Redis/Valkey: HOST:PORT or unix:PATH; NULL = counted per node */
	char *shared_user;              /* its ACL user, or NULL */
	char *shared_password;          /* read from password_file; never logged */
	char *shared_prefix;            /* of every key */
	struct config_rate msgs_per_user;   /* MAIL transactions per authenticated user; count 0 = none */
	/* [https] */
	char *https_imap;               /* "host:port" of the IMAP server clients are told about */
	char *mta_sts_mode;             /* testing, enforce, none */
	unsigned mta_sts_max_age;       /* seconds */
	/* [dkim] */
	struct config_dkim dkim[CONFIG_MAX_DKIM];
	size_t ndkim;
	/* [tls] */
	struct config_cert certs[CONFIG_MAX_CERTS];
	size_t ncerts, nkeys;
	char *tls_min_version;          /* "TLSv1.2" or "TLSv1.3" */
	char *tls_ciphers;              /* TLS 1.2 cipher list; NULL = our forward-secret AEAD list */
	char *tls_ciphersuites;         /* TLS 1.3; NULL = OpenSSL's (all AEAD) */
	/* [relay] */
	char *smarthost;                /* URL, NULL = direct delivery */
	char *relay_user;
	char *relay_password;           /* read from password_file; never logged */
	char *relay_ca_file;            /* NULL = the system store */
	unsigned relay_timeout;         /* seconds per connect, read or write */
	unsigned relay_concurrency;     /* delivery workers */
	unsigned dest_concurrency;      /* connections at once to one destination */
	unsigned retry[CONFIG_MAX_RETRY];   /* delays between attempts; the last repeats */
	size_t nretry;
	unsigned max_queue_lifetime;    /* seconds before undeliverable mail bounces */
	char *resolver;                 /* DNS server for MX lookups, NULL = /etc/resolv.conf */
	char *tls_policy;               /* direct MX: "LEVEL [DOMAIN:LEVEL ...]" (route/tlspolicy.h) */
	char *dnssec_trust_anchor;      /* NULL = the system root key if present; "none" = no DNSSEC */
	char *mta_sts_ca_file;          /* NULL = the system store */
	unsigned mta_sts_port;
	char *tlsrpt;                   /* "yes" or "no": TLS-RPT reports (RFC 8460) sent daily */
	char *tlsrpt_contact;           /* their contact-info and sender; NULL = postmaster@hostname */
	unsigned mx_port;
	/* [smtp] (port 25) */
	char *sender_checks;            /* "yes"/"no": SPF, DKIM, DMARC and Authentication-Results */
	char *dmarc_reject;             /* "yes"/"no": 550 for a DMARC failure under p=reject */
	/* listeners per role */
	struct config_listen listen[ROLE_COUNT][CONFIG_MAX_LISTEN];
	size_t nlisten[ROLE_COUNT];
	/* per SMTP listener: a PROXY protocol header first (yes/no), from these senders only */
	char *proxy_protocol[ROLE_COUNT];
	struct netmatch *proxy_from[ROLE_COUNT];
	int *lines;                     /* per parameter: the line that set it, 0 = the default */
};

struct config *config_load(const char *path, struct errlist *errs);
void config_free(struct config *c);
/* Parse one listen address: "IPv4:PORT", "[IPv6]:PORT" or "*:PORT". */
int config_parse_listen(const char *text, struct config_listen *l, const char **why);
/* The line of the file that set [section] key (its last occurrence), 0 when it has its
 * default: checks made after loading still name file:line. */
int config_line(const struct config *c, const char *section, const char *key);
/* Is domain (any case) one of local_domains? */
int config_is_local_domain(const struct config *c, const char *domain, size_t len);
/* Print every parameter with its default and help (mailport serve --defaults). */
void config_print_defaults(FILE *out);
/* The same table as the mdoc body of mailport.conf(5) (make man): the page cannot drift. */
void config_print_mdoc(FILE *out);

#endif
