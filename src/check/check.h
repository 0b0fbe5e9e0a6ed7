/*
 * check.h - `mailport check`: what one probed port showed (struct check_port), the rules that
 * turn findings into verdicts and a recommendation (verdict.c, pure), the probes that fill the
 * findings (probe.c, blocking I/O through the shared client core), discovery of the
 * submission server for an address (discover.c) and the reports (report.c).
 *
 * Ownership: a check_port is a plain value; the caller allocates it, probe fills findings,
 * check_judge() fills the verdict. Nothing keeps pointers into another struct.
 */
#ifndef MAILPORT_CHECK_H
#define MAILPORT_CHECK_H

#include <stddef.h>

#include "../smtp/reply.h"
#include "../tls/inspect.h"

enum check_role {
	ROLE_SMTP,              /* 25: server-to-server (MX); STARTTLS offered, no AUTH expected */
	ROLE_SUBMISSIONS,       /* 465: implicit TLS from the first byte (RFC 8314) */
	ROLE_SUBMISSION,        /* 587: plaintext greeting, STARTTLS before AUTH (RFC 6409, 3207) */
};

enum check_reach { REACH_NOT_TRIED, REACH_CONNECTED, REACH_REFUSED, REACH_TIMEOUT, REACH_DNS, REACH_ERROR };
enum check_speaks { SPEAKS_UNKNOWN, SPEAKS_PLAIN, SPEAKS_TLS };
enum check_verdict { VERDICT_OK, VERDICT_WARNING, VERDICT_BROKEN };
enum check_severity { SEV_INFO, SEV_WARNING, SEV_BROKEN };

#define CHECK_NVERSIONS 4       /* TLS 1.0, 1.1, 1.2, 1.3 */
#define CHECK_MAX_REASONS 16

struct check_reason {
	enum check_severity severity;
	char code[32];          /* stable, for --json: "auth-before-tls", "cert-expired" ... */
	char text[320];
};

struct check_port {
	/* what to probe */
	char host[256];         /* the name the certificate must match */
	unsigned port;
	enum check_role role;
	int role_guessed;       /* a port other than 25/465/587 without /ROLE: taken from what it speaks */
	char source[16];        /* "command-line", "srv", "autoconfig", "mx" */
	int published_plain;    /* the autoconfig file tells clients: no encryption on this port */
	char connect_host[256]; /* where to connect (--connect-to), usually host */
	unsigned connect_port;

	/* findings */
	enum check_reach reach;
	int dns_failed;         /* REACH_DNS because DNS itself failed (SERVFAIL, timeout), not NXDOMAIN */
	char address[48];
	char error[512];        /* why the session ended early, in words */
	enum check_speaks speaks;
	int greeting_code;
	char greeting[256];
	int esmtp;
	int ehlo_plain_seen, ehlo_tls_seen;
	struct smtp_caps ehlo_plain, ehlo_tls;
	int starttls_code;      /* the reply to STARTTLS, 0 = not sent */
	int tls_ok;
	char tls_error[512];
	struct tls_peer tls;
	int versions_tested;
	int version_ok[CHECK_NVERSIONS];
	char version_error[CHECK_NVERSIONS][160];
	int login_tested, login_ok, login_code;
	char login_text[256];   /* the server's answer, or why no login was attempted */
	int relay_tested, relay_open, relay_code;
	char relay_text[256];

	/* check_judge() */
	enum check_verdict verdict;
	struct check_reason reasons[CHECK_MAX_REASONS];
	size_t nreasons;
};

const char *check_role_name(enum check_role r);         /* "smtp", "submissions", "submission" */
const char *check_role_words(enum check_role r);        /* "MX, server-to-server" ... */
const char *check_reach_name(enum check_reach r);       /* "connected", "refused" ... */
const char *check_verdict_name(enum check_verdict v);   /* "ok", "warning", "broken" */
const char *check_version_name(int i);                  /* "TLSv1" .. "TLSv1.3" */
int check_role_parse(const char *s, enum check_role *r);
enum check_role check_role_for_port(unsigned port);

/* How strong an AUTH mechanism is: "strongest" (SCRAM ...-PLUS: channel binding), "strong"
 * (SCRAM, EXTERNAL), "token" (OAUTHBEARER, XOAUTH2, GSSAPI), "password" (PLAIN, LOGIN: the
 * password inside TLS), "weak" (CRAM-MD5, DIGEST-MD5, NTLM) or "unknown". */
const char *check_mech_strength(const char *mech);
/* The mechanisms of an EHLO AUTH line grouped by strength, in words, strongest first. */
void check_mech_words(const char *auth, char *out, size_t outlen);

/* Verdict and reasons from the findings (pure). */
void check_judge(struct check_port *p, int login_requested);

/* A secure path: TLS 1.2+ negotiated, certificate valid for the name, and (for submission)
 * the session reached AUTH or would; what the exit code and the recommendation build on. */
int check_port_secure(const struct check_port *p);

/* The closing advice in plain words and the exit code: 0 a secure submission path exists,
 * 1 only insecure ones, 2 none, CHECK_EXIT_LOGIN a secure one exists but refused the login
 * that was tested (sysexits' EX_NOPERM, as `mailport send` exits then). When no submission
 * port was probed, port 25 counts. *best is the port recommended (NULL when none). */
#define CHECK_EXIT_LOGIN 77
int check_recommend(const struct check_port *ports, size_t n, char *text, size_t len,
                    const struct check_port **best);

#endif
