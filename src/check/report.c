/*
 * report.c - words and JSON for `mailport check`. Not judgement (verdict.c) and not probing.
 */
#include "report.h"

#include <jansson.h>
#include <string.h>

#define C_RESET "\033[0m"
#define C_BOLD  "\033[1m"

static const char *verdict_colour(enum check_verdict v)
{
	return v == VERDICT_OK ? "\033[32m" : v == VERDICT_WARNING ? "\033[33m" : "\033[31m";
}

static const char *verdict_word(enum check_verdict v)
{
	return v == VERDICT_OK ? "OK" : v == VERDICT_WARNING ? "WARNING" : "BROKEN";
}

static void caps_line(FILE *out, const char *label, const struct smtp_caps *c)
{
	fprintf(out, "  %s:", label);
	if (c->auth[0])
		fprintf(out, " AUTH %s;", c->auth);
	else
		fprintf(out, " no AUTH;");
	if (c->has_size)
		fprintf(out, " SIZE %llu;", c->size);
	fprintf(out, "%s%s%s%s%s%s\n", c->starttls ? " STARTTLS" : "", c->pipelining ? " PIPELINING" : "",
	        c->eightbitmime ? " 8BITMIME" : "", c->smtputf8 ? " SMTPUTF8" : "", c->chunking ? " CHUNKING" : "",
	        c->requiretls ? " REQUIRETLS" : "");
}

static void port_text(FILE *out, const struct check_port *p, int colour)
{
	const struct tls_peer *t = &p->tls;

	fprintf(out, "\n%sPort %u on %s%s (%s)  %s%s%s\n", colour ? C_BOLD : "", p->port, p->host, colour ? C_RESET : "",
	        check_role_words(p->role), colour ? verdict_colour(p->verdict) : "", verdict_word(p->verdict),
	        colour ? C_RESET : "");
	if (strcmp(p->connect_host, p->host) != 0 || p->connect_port != p->port)
		fprintf(out, "  (connecting to %s port %u instead)\n", p->connect_host, p->connect_port);
	if (p->reach == REACH_CONNECTED) {
		fprintf(out, "  connected to %s; speaks %s first", p->address,
		        p->speaks == SPEAKS_TLS ? "TLS" : p->speaks == SPEAKS_PLAIN ? "plaintext SMTP" : "nothing we understand");
		if (p->greeting_code)
			fprintf(out, "; greeting %d %.80s", p->greeting_code, p->greeting);
		fputc('\n', out);
	}
	if (p->ehlo_plain_seen)
		caps_line(out, "before TLS", &p->ehlo_plain);
	if (p->tls_ok) {
		fprintf(out, "  TLS: %s, %s%s%s\n", t->version, t->cipher, t->group[0] ? ", key exchange " : "", t->group);
		if (t->have_cert) {
			fprintf(out, "  certificate: %s; for %s; issued by %s\n",
			        t->chain_ok && t->host_ok && !t->expired ? "valid" : "NOT valid",
			        t->names[0] ? t->names : t->subject, t->issuer);
			fprintf(out, "  expires %s (%ld days); %s key %d bits%s%s; signed %s\n", t->not_after, t->days_left,
			        t->key_type, t->key_bits, t->key_group[0] ? " " : "", t->key_group, t->signature);
		}
	}
	if (p->versions_tested) {
		fprintf(out, "  TLS versions accepted:");
		for (int i = 0; i < CHECK_NVERSIONS; i++)
			fprintf(out, " %s %s%s", check_version_name(i), p->version_ok[i] ? "yes" : "no",
			        i + 1 < CHECK_NVERSIONS ? "," : "\n");
	}
	if (p->ehlo_tls_seen)
		caps_line(out, "after TLS", &p->ehlo_tls);
	for (size_t i = 0; i < p->nreasons; i++) {
		const struct check_reason *r = &p->reasons[i];
		const char *mark = r->severity == SEV_BROKEN ? "x" : r->severity == SEV_WARNING ? "!" : "-";
		fprintf(out, "  %s%s %s%s\n", colour && r->severity != SEV_INFO ?
		        verdict_colour(r->severity == SEV_BROKEN ? VERDICT_BROKEN : VERDICT_WARNING) : "", mark, r->text,
		        colour && r->severity != SEV_INFO ? C_RESET : "");
	}
}

void check_report_text(FILE *out, const struct check_report *r, int colour)
{
	fprintf(out, "mailport check %s  (timeout %ld s per probe)\n", r->target, (r->timeout_ms + 999) / 1000);
	if (r->discovery != NULL) {
		const struct discovery *d = r->discovery;
		fprintf(out, "\nDiscovery for %s (servers from: %s)\n", d->domain,
		        strcmp(d->source, "srv") == 0 ? "SRV records, RFC 6186" :
		        strcmp(d->source, "autoconfig") == 0 ? "autoconfig file" :
		        strcmp(d->source, "mx") == 0 ? "a guess from the MX record: nothing else was published" : "nothing found");
		for (size_t i = 0; i < d->nsteps; i++)
			fprintf(out, "  %-10s %s: %s\n", d->steps[i].source, d->steps[i].query, d->steps[i].result);
	}
	for (size_t i = 0; i < r->nports; i++)
		port_text(out, &r->ports[i], colour);
	fprintf(out, "\n%sRecommendation:%s %s\n", colour ? C_BOLD : "", colour ? C_RESET : "", r->recommendation);
}

/* ---- JSON --------------------------------------------------------------------------------- */

static json_t *caps_json(const struct smtp_caps *c)
{
	json_t *auth = json_array(), *strength = json_object();
	char mechs[sizeof(c->auth)], *save = NULL;

	snprintf(mechs, sizeof(mechs), "%s", c->auth);
	for (char *m = strtok_r(mechs, " ", &save); m != NULL; m = strtok_r(NULL, " ", &save)) {
		json_array_append_new(auth, json_string(m));
		json_object_set_new(strength, m, json_string(check_mech_strength(m)));
	}
	return json_pack("{s:o, s:o, s:o, s:b, s:b, s:b, s:b, s:b, s:b, s:b}", "auth", auth, "auth_strength", strength,
	                 "size",
	                 c->has_size ? json_integer((json_int_t)c->size) : json_null(), "starttls", c->starttls,
	                 "pipelining", c->pipelining, "8bitmime", c->eightbitmime, "smtputf8", c->smtputf8,
	                 "chunking", c->chunking, "requiretls", c->requiretls, "enhancedstatuscodes",
	                 c->enhancedstatuscodes);
}

static json_t *str_or_null(const char *s) { return s && s[0] ? json_string(s) : json_null(); }

static json_t *cert_json(const struct tls_peer *t)
{
	if (!t->have_cert)
		return json_null();
	return json_pack("{s:o, s:o, s:o, s:b, s:o, s:b, s:b, s:o, s:I, s:o, s:i, s:o, s:o}",
	                 "subject", str_or_null(t->subject), "issuer", str_or_null(t->issuer),
	                 "names", str_or_null(t->names), "chain_valid", t->chain_ok,
	                 "chain_error", t->chain_ok ? json_null() : json_string(t->chain_reason),
	                 "host_match", t->host_ok, "expired", t->expired, "not_after", str_or_null(t->not_after),
	                 "days_left", (json_int_t)t->days_left, "key_type", str_or_null(t->key_type),
	                 "key_bits", t->key_bits, "key_group", str_or_null(t->key_group),
	                 "signature", str_or_null(t->signature));
}

static json_t *port_json(const struct check_port *p)
{
	json_t *reasons = json_array(), *versions = json_null(), *o;

	for (size_t i = 0; i < p->nreasons; i++)
		json_array_append_new(reasons, json_pack("{s:s, s:s, s:s}", "severity",
		                      p->reasons[i].severity == SEV_BROKEN ? "broken" :
		                      p->reasons[i].severity == SEV_WARNING ? "warning" : "info",
		                      "code", p->reasons[i].code, "text", p->reasons[i].text));
	if (p->versions_tested) {
		versions = json_object();
		for (int i = 0; i < CHECK_NVERSIONS; i++)
			json_object_set_new(versions, check_version_name(i), json_boolean(p->version_ok[i]));
	}
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:s}",
	              "host", p->host, "port", (int)p->port, "role", check_role_name(p->role), "source", p->source,
	              "verdict", check_verdict_name(p->verdict), "reasons", reasons,
	              "reach", check_reach_name(p->reach), "address", str_or_null(p->address),
	              "error", str_or_null(p->error),
	              "speaks", p->speaks == SPEAKS_TLS ? "tls" : p->speaks == SPEAKS_PLAIN ? "plaintext" : "unknown");
	json_object_set_new(o, "role_guessed", json_boolean(p->role_guessed));
	json_object_set_new(o, "greeting", p->greeting_code ? json_pack("{s:i, s:s}", "code", p->greeting_code,
	                    "text", p->greeting) : json_null());
	json_object_set_new(o, "esmtp", json_boolean(p->esmtp));
	json_object_set_new(o, "ehlo_before_tls", p->ehlo_plain_seen ? caps_json(&p->ehlo_plain) : json_null());
	json_object_set_new(o, "starttls", p->speaks == SPEAKS_PLAIN ?
	                    json_pack("{s:b, s:o}", "offered", p->starttls_code != 0 || p->ehlo_plain.starttls,
	                              "reply", p->starttls_code ? json_integer(p->starttls_code) : json_null()) :
	                    json_null());
	json_object_set_new(o, "tls", p->tls_ok ? json_pack("{s:s, s:s, s:o}", "version", p->tls.version, "cipher",
	                    p->tls.cipher, "group", str_or_null(p->tls.group)) : json_null());
	json_object_set_new(o, "tls_error", str_or_null(p->tls_error));
	json_object_set_new(o, "tls_versions", versions);
	json_object_set_new(o, "certificate", p->tls_ok ? cert_json(&p->tls) : json_null());
	json_object_set_new(o, "ehlo_after_tls", p->ehlo_tls_seen ? caps_json(&p->ehlo_tls) : json_null());
	json_object_set_new(o, "login", p->login_tested ?
	                    json_pack("{s:b, s:b, s:i, s:s}", "tested", 1, "ok", p->login_ok, "code", p->login_code,
	                              "text", p->login_text) :
	                    json_pack("{s:b, s:o}", "tested", 0, "why_not", str_or_null(p->login_text)));
	json_object_set_new(o, "relay_test", p->relay_tested ?
	                    json_pack("{s:b, s:b, s:i, s:s}", "tested", 1, "open", p->relay_open, "code", p->relay_code,
	                              "text", p->relay_text) : json_pack("{s:b}", "tested", 0));
	json_object_set_new(o, "secure", json_boolean(check_port_secure(p)));
	return o;
}

int check_report_json(FILE *out, const struct check_report *r)
{
	json_t *doc, *ports = json_array(), *disc = json_null();
	int rc;

	for (size_t i = 0; i < r->nports; i++)
		json_array_append_new(ports, port_json(&r->ports[i]));
	if (r->discovery != NULL) {
		json_t *steps = json_array();
		for (size_t i = 0; i < r->discovery->nsteps; i++)
			json_array_append_new(steps, json_pack("{s:s, s:s, s:s}", "source", r->discovery->steps[i].source,
			                      "query", r->discovery->steps[i].query, "result", r->discovery->steps[i].result));
		disc = json_pack("{s:s, s:s, s:o}", "domain", r->discovery->domain, "source", r->discovery->source,
		                 "steps", steps);
	}
	doc = json_pack("{s:s, s:i, s:s, s:s, s:o, s:o, s:{s:o, s:o, s:o, s:s}, s:i}",
	                "schema", "mailport-check", "version", CHECK_JSON_VERSION, "target", r->target,
	                "kind", r->discovery ? "address" : "host", "discovery", disc, "ports", ports,
	                "recommendation",
	                "host", r->best ? json_string(r->best->host) : json_null(),
	                "port", r->best ? json_integer(r->best->port) : json_null(),
	                "security", r->best ? json_string(r->best->speaks == SPEAKS_TLS ? "implicit-tls" : "starttls") :
	                                      json_null(),
	                "text", r->recommendation, "exit", r->exit_code);
	if (doc == NULL)
		return -1;
	rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 && fputc('\n', out) != EOF ? 0 : -1;
	json_decref(doc);
	return rc;
}
