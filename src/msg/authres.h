/*
 * authres.h - what a receiving MX learns about who sent a message: SPF for the MAIL FROM
 * domain (or the HELO name for a null sender), DKIM for every signature, DMARC for the From:
 * domain from those two, and the Authentication-Results: header field (RFC 8601) that carries
 * them to the mailbox. Pure but for the lookups (lookup.h): blocking, worker threads only.
 *
 * Ownership: authres_evaluate() borrows everything; authres_header() returns a malloc()ed
 * string the caller frees.
 */
#ifndef MAILPORT_AUTHRES_H
#define MAILPORT_AUTHRES_H

#include <stddef.h>

#include "dkimverify.h"
#include "dmarc.h"
#include "lookup.h"
#include "spf.h"

struct authres_in {
	const char *authserv_id;        /* our host name */
	const char *ip;                 /* the client's address */
	const char *helo;               /* its HELO/EHLO name */
	const char *mail_from;          /* the envelope sender, "" for the null sender */
};

struct authres {
	enum spf_result spf;
	char spf_domain[256];           /* the domain SPF judged (MAIL FROM's, or HELO's) */
	int spf_helo;                   /* it was the HELO name (a null sender) */
	char spf_why[200];
	struct dkim_vsig sigs[DKIM_VERIFY_MAX];
	size_t nsigs;
	struct dmarc_eval dmarc;
};

/* Everything, for a message fed whole to v. now: seconds since the epoch; rnd100 in [0, 100). */
void authres_evaluate(const struct lookup *lk, struct dkim_verifier *v, const struct authres_in *in, long long now,
                      unsigned rnd100, struct authres *out);

/* "Authentication-Results: ...\r\n", folded; NULL when out of memory. */
char *authres_header(const struct authres_in *in, const struct authres *r);

/* RFC 8601 5: a received header block loses every Authentication-Results: field that claims
 * to come from authserv_id (only we may say what we found). Edits hdr[0..len) in place; the new
 * length, and *removed how many went. */
size_t authres_strip_own(char *hdr, size_t len, const char *authserv_id, unsigned *removed);

/* One line for the log: "spf=pass dkim=pass(example.org) dmarc=pass". */
void authres_summary(const struct authres *r, char *out, size_t outlen);

#endif
