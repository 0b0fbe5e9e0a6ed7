/*
 * mxpolicy.h - `mailport check DOMAIN --mx`: what `mailport serve` would do when delivering to
 * DOMAIN, host by host, from the same plan the runner delivers by (route/plan.h): DNSSEC, the
 * TLSA records and what DANE makes of them, the MTA-STS policy and whether each MX host is
 * named in it, where TLS-RPT reports go, the policy decided, and a STARTTLS probe of each host under that policy (the
 * certificate checked as delivery would check it). Never sends mail.
 *
 * A struct mxp_report is a plain value filled by check_mx_policy(); nothing to free.
 */
#ifndef MAILPORT_CHECK_MXPOLICY_H
#define MAILPORT_CHECK_MXPOLICY_H

#include <stdio.h>

#include "../route/mx.h"

struct mxp_opts {
	const char *resolver;           /* dns.h's; NULL = /etc/resolv.conf */
	const char *trust_anchor;       /* NULL = no DNSSEC */
	const char *sts_ca_file;        /* NULL = the system store */
	unsigned sts_port;              /* 443 */
	unsigned port;                  /* the MX port, 25 */
	long timeout_ms;
	const char *helo;
	const char *tls_policy;         /* [relay] tls_policy; NULL = "dane" */
};

struct mxp_host {
	char name[256];
	unsigned preference;
	char addr[46];
	int secure;                     /* MX and address records validated */
	char dane[300];                 /* what the TLSA lookup found, in words ("" when not looked up) */
	int sts_named;                  /* named by the MTA-STS policy's mx patterns */
	int usable;                     /* delivery would try this host */
	char policy[64];                /* "dane", "mta-sts", "opportunistic" ...: the source */
	char level[16];                 /* none, may, encrypt, verify, dane */
	char why[400];                  /* when not usable: why */
	int probed, tls_ok;
	char probe[700];                /* what the probe found */
};

struct mxp_report {
	char domain[256];
	int mx_status;                  /* mx.h's MX_OK ... */
	char mx_error[300];
	int validating;
	char dnssec[200];               /* why not, when not validating */
	int sts_found;
	char sts_mode[16], sts_id[33], sts_from[16];
	char sts_mx[600];               /* the patterns, comma-separated */
	char sts_error[600];
	char tlsrpt[1024];              /* the rua of _smtp._tls (TLS-RPT), "" when none */
	struct mxp_host hosts[MX_MAX_HOSTS];
	size_t nhosts;
};

void check_mx_policy(const char *domain, const struct mxp_opts *o, struct mxp_report *r);
/* 0 every host is usable and passed its probe, 1 some failed, 2 none usable. */
int check_mx_exit(const struct mxp_report *r);
void check_mx_report_text(FILE *out, const struct mxp_report *r);
/* 0, or -1 when the document could not be built or written. */
int check_mx_report_json(FILE *out, const struct mxp_report *r);

#endif
