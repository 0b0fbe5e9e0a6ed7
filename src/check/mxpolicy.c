/*
 * mxpolicy.c - the `check --mx` report (mxpolicy.h): the runner's own plan (route/plan.h) asked
 * about each MX host, then one STARTTLS probe per host under the policy decided. Not the
 * delivery (deliver/remote.c) and not the submission-port probes (probe.c).
 */
#include "mxpolicy.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../deliver/remote_attempt.h"
#include "../net/transport.h"
#include "../route/mtasts.h"
#include "../route/plan.h"
#include "../route/tlspolicy.h"
#include "../route/tlsrpt.h"
#include "../smtp/reply.h"

static const char *level_name(enum tls_level l)
{
	static const char *const names[] = { "none", "may", "encrypt", "verify", "dane" };
	return l <= TLS_LEVEL_DANE ? names[l] : "?";
}

/* Greeting, EHLO, STARTTLS and the handshake the policy asks for; QUIT. */
static void probe(const struct mxp_opts *o, struct mxp_host *h, const struct tls_policy *pol)
{
	struct transport t;
	struct smtp_reply rep;
	struct smtp_caps caps;
	char ehlo[300];

	h->probed = 1;
	memset(&t, 0, sizeof(t));
	char port[8];
	snprintf(port, sizeof(port), "%u", o->port);
	if (transport_connect_as(&t, h->name, h->addr, port, (int)((o->timeout_ms + 999) / 1000)) != 0) {
		snprintf(h->probe, sizeof(h->probe), "%.600s", t.err);
		return;
	}
	snprintf(ehlo, sizeof(ehlo), "EHLO %s\r\n", o->helo ? o->helo : "localhost");
	if (transport_read_reply(&t, &rep) != 0 || rep.code != 220 || transport_write(&t, ehlo, strlen(ehlo)) != 0 ||
	    transport_read_reply(&t, &rep) != 0 || rep.code != 250) {
		snprintf(h->probe, sizeof(h->probe), "no SMTP greeting and EHLO: %.500s", t.err[0] ? t.err : rep.text);
		goto out;
	}
	smtp_caps_parse(&rep, &caps);
	if (pol->level == TLS_LEVEL_NONE) {
		snprintf(h->probe, sizeof(h->probe), "plaintext by policy; STARTTLS %s", caps.starttls ? "offered" :
		         "not offered");
		h->tls_ok = 1;
		goto out;
	}
	if (!caps.starttls) {
		snprintf(h->probe, sizeof(h->probe), "STARTTLS not offered%s", pol->level >= TLS_LEVEL_ENCRYPT ?
		         ": delivery waits (TLS is required)" : ": delivery would go in plaintext");
		h->tls_ok = pol->level < TLS_LEVEL_ENCRYPT;
		goto out;
	}
	if (transport_write(&t, "STARTTLS\r\n", 10) != 0 || transport_read_reply(&t, &rep) != 0 || rep.code != 220) {
		snprintf(h->probe, sizeof(h->probe), "STARTTLS refused: %d %.500s", rep.code, rep.text);
		goto out;
	}
	if (relay_start_tls(&t, pol) != 0) {
		snprintf(h->probe, sizeof(h->probe), "%.600s%s", t.err, pol->level == TLS_LEVEL_MAY ?
		         " (delivery would retry in plaintext)" : " (delivery waits)");
		h->tls_ok = pol->level == TLS_LEVEL_MAY;
		goto out;
	}
	h->tls_ok = 1;
	snprintf(h->probe, sizeof(h->probe), "%s: %s%s%s", tlspolicy_outcome(pol, 1), t.tls_desc,
	         t.dane_match[0] ? ", TLSA " : "", t.dane_match);
	transport_write(&t, "QUIT\r\n", 6);
out:
	transport_close(&t);
}

/* The domain's MTA-STS policy, as the report shows it. */
static void note_sts(struct mxp_report *r, const struct sts_policy *sts, const char *err)
{
	snprintf(r->sts_error, sizeof(r->sts_error), "%s", err);
	if (!(r->sts_found = sts->found))
		return;
	snprintf(r->sts_mode, sizeof(r->sts_mode), "%s", sts_mode_name(sts->mode));
	snprintf(r->sts_id, sizeof(r->sts_id), "%s", sts->id);
	snprintf(r->sts_from, sizeof(r->sts_from), "%s", sts->from ? sts->from : "");
	for (size_t i = 0, o = 0; i < sts->nmx && o < sizeof(r->sts_mx); i++)
		o += (size_t)snprintf(r->sts_mx + o, sizeof(r->sts_mx) - o, "%s%s", i ? ", " : "", sts->mx[i]);
}

void check_mx_policy(const char *domain, const struct mxp_opts *o, struct mxp_report *r)
{
	const struct tlspolicy_conf tc = {
		.mx_policy = o->tls_policy, .trust_anchor = o->trust_anchor, .resolver = o->resolver,
		.mx_port = o->port, .timeout_ms = o->timeout_ms, .sts_ca_file = o->sts_ca_file, .sts_port = o->sts_port,
	};
	struct route_plan *plan = NULL;
	const struct sts_policy *sts;
	struct tlspolicy *tp;
	const char *why;

	memset(r, 0, sizeof(*r));
	snprintf(r->domain, sizeof(r->domain), "%s", domain);
	r->mx_status = MX_TEMP;
	if ((tp = tlspolicy_new(&tc, r->mx_error, sizeof(r->mx_error))) == NULL)
		return;
	/* The runner's own plan, asked about every host (mx.h's order). */
	if ((plan = route_plan_new(tp, domain, 0, r->mx_error, sizeof(r->mx_error))) == NULL)
		goto out;
	if (!(r->validating = route_plan_dnssec(plan, &why)))
		snprintf(r->dnssec, sizeof(r->dnssec), "%s", why);
	if ((r->mx_status = route_plan_mx(plan, &why)) != MX_OK) {
		snprintf(r->mx_error, sizeof(r->mx_error), "%s", why);
		goto out;
	}
	sts = route_plan_sts(plan, &why);
	note_sts(r, sts, why);
	tlsrpt_rua(route_plan_dns(plan), domain, r->tlsrpt, sizeof(r->tlsrpt));
	for (size_t i = 0; i < route_plan_nhops(plan); i++) {
		const struct route_hop *hop = route_plan_hop(plan, i);
		struct mxp_host *h = &r->hosts[r->nhosts++];
		snprintf(h->name, sizeof(h->name), "%s", hop->mx->name);
		snprintf(h->addr, sizeof(h->addr), "%s", hop->mx->addrs[0]);
		h->preference = hop->mx->preference;
		h->secure = hop->mx->secure;
		h->sts_named = sts->found && sts_mx_match(sts, hop->mx->name);
		snprintf(h->dane, sizeof(h->dane), "%s", hop->dane);
		if (hop->status != 0) {
			snprintf(h->why, sizeof(h->why), "%.*s", (int)sizeof(h->why) - 1, hop->why);  /* cut as before */
			continue;
		}
		h->usable = 1;
		snprintf(h->policy, sizeof(h->policy), "%s", hop->tls.source);
		snprintf(h->level, sizeof(h->level), "%s", level_name(hop->tls.level));
		probe(o, h, &hop->tls);
	}
out:
	route_plan_free(plan);
	tlspolicy_free(tp);
}

int check_mx_exit(const struct mxp_report *r)
{
	size_t good = 0;

	for (size_t i = 0; i < r->nhosts; i++)
		good += r->hosts[i].usable && r->hosts[i].tls_ok;
	return good == 0 ? 2 : good == r->nhosts ? 0 : 1;
}

void check_mx_report_text(FILE *out, const struct mxp_report *r)
{
	fprintf(out, "Delivery to %s, as mailport serve would do it\n", r->domain);
	fprintf(out, "  DNSSEC:  %s%s\n", r->validating ? "validating" : "not validating: ", r->validating ? "" : r->dnssec);
	if (r->mx_status != MX_OK) {
		fprintf(out, "  MX:      %s\n", r->mx_error);
		return;
	}
	if (r->sts_found)
		fprintf(out, "  MTA-STS: mode %s, id %s (%s), mx: %s\n", r->sts_mode, r->sts_id, r->sts_from, r->sts_mx);
	else
		fprintf(out, "  MTA-STS: %s\n", r->sts_error[0] ? r->sts_error : "no policy");
	fprintf(out, "  TLS-RPT: %s\n", r->tlsrpt[0] ? r->tlsrpt : "no _smtp._tls record: this server keeps its "
	        "reports for the domain to itself");
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct mxp_host *h = &r->hosts[i];
		fprintf(out, "\n  %s (preference %u) [%s], DNSSEC %s%s\n", h->name, h->preference, h->addr,
		        h->secure ? "signed" : "not signed", r->sts_found ? h->sts_named ? ", named by MTA-STS" :
		        ", not named by MTA-STS" : "");
		if (h->dane[0])
			fprintf(out, "    DANE:   %s\n", h->dane);
		if (!h->usable) {
			fprintf(out, "    policy: not used now: %s\n", h->why);
			continue;
		}
		fprintf(out, "    policy: %s (%s)\n", h->level, h->policy);
		fprintf(out, "    probe:  %s%s\n", h->tls_ok ? "" : "FAILED: ", h->probe);
	}
}

int check_mx_report_json(FILE *out, const struct mxp_report *r)
{
	json_t *hosts = json_array(), *doc;
	int rc;

	for (size_t i = 0; i < r->nhosts; i++) {
		const struct mxp_host *h = &r->hosts[i];
		json_array_append_new(hosts, json_pack("{s:s, s:i, s:s, s:b, s:s, s:b, s:b, s:s, s:s, s:s, s:b, s:s}",
		                                       "name", h->name, "preference", (int)h->preference, "address", h->addr,
		                                       "dnssec_secure", h->secure, "dane", h->dane, "mta_sts_named",
		                                       h->sts_named, "usable", h->usable, "policy", h->policy, "level",
		                                       h->level, "not_usable_why", h->why, "tls_ok", h->tls_ok, "probe",
		                                       h->probe));
	}
	doc = json_pack("{s:s, s:i, s:s, s:b, s:s, s:s, s:o, s:s, s:o, s:i}", "schema", "mailport-check-mx", "version", 1,
	                "domain", r->domain, "dnssec_validating", r->validating, "dnssec_why_not", r->dnssec,
	                "mx_error", r->mx_status == MX_OK ? "" : r->mx_error,
	                "mta_sts", r->sts_found ? json_pack("{s:s, s:s, s:s, s:s}", "mode", r->sts_mode, "id", r->sts_id,
	                                                    "from", r->sts_from, "mx", r->sts_mx) :
	                json_pack("{s:s}", "error", r->sts_error), "tlsrpt_rua", r->tlsrpt, "hosts", hosts, "exit",
	                check_mx_exit(r));
	if (doc == NULL)
		return -1;
	rc = json_dumpf(doc, out, JSON_INDENT(2)) == 0 && fputc('\n', out) != EOF ? 0 : -1;
	json_decref(doc);
	return rc;
}
