/*
 * verdict.c - the rules of `mailport check`: findings in, verdicts, reasons and advice out.
 * Pure (no I/O), so every rule is unit-tested. The reasoning follows RFC 8314 (implicit TLS
 * preferred for submission), RFC 3207/6409 (STARTTLS before AUTH), RFC 8996 (no TLS 1.0/1.1).
 */
#include "check.h"

#include <openssl/x509_vfy.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const role_names[] = { "smtp", "submissions", "submission" };
static const char *const role_words[] = {
	"MX, server-to-server mail", "submissions, implicit TLS", "submission, STARTTLS",
};
static const char *const reach_names[] = { "not-tried", "connected", "refused", "timeout", "dns-error", "error" };
static const char *const verdict_names[] = { "ok", "warning", "broken" };
static const char *const version_names[] = { "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3" };

const char *check_role_name(enum check_role r) { return role_names[r]; }
const char *check_role_words(enum check_role r) { return role_words[r]; }
const char *check_reach_name(enum check_reach r) { return reach_names[r]; }
const char *check_verdict_name(enum check_verdict v) { return verdict_names[v]; }
const char *check_version_name(int i) { return i >= 0 && i < CHECK_NVERSIONS ? version_names[i] : "?"; }

int check_role_parse(const char *s, enum check_role *r)
{
	for (int i = 0; i < 3; i++)
		if (strcasecmp(s, role_names[i]) == 0) {
			*r = (enum check_role)i;
			return 0;
		}
	if (strcasecmp(s, "smtps") == 0 || strcasecmp(s, "implicit") == 0 || strcasecmp(s, "ssl") == 0) {
		*r = ROLE_SUBMISSIONS;
		return 0;
	}
	if (strcasecmp(s, "starttls") == 0) {
		*r = ROLE_SUBMISSION;
		return 0;
	}
	if (strcasecmp(s, "mx") == 0) {
		*r = ROLE_SMTP;
		return 0;
	}
	return -1;
}

enum check_role check_role_for_port(unsigned port)
{
	return port == 25 ? ROLE_SMTP : port == 465 ? ROLE_SUBMISSIONS : ROLE_SUBMISSION;
}

static void reason(struct check_port *p, enum check_severity sev, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reason(struct check_port *p, enum check_severity sev, const char *code, const char *fmt, ...)
{
	struct check_reason *r;
	va_list ap;

	if (p->nreasons == CHECK_MAX_REASONS)
		return;
	r = &p->reasons[p->nreasons++];
	r->severity = sev;
	snprintf(r->code, sizeof(r->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	if (sev == SEV_BROKEN)
		p->verdict = VERDICT_BROKEN;
	else if (sev == SEV_WARNING && p->verdict == VERDICT_OK)
		p->verdict = VERDICT_WARNING;
}

static int version_index(const char *v)
{
	for (int i = 0; i < CHECK_NVERSIONS; i++)
		if (strcmp(v, version_names[i]) == 0)
			return i;
	return -1;
}

static int is_submission(const struct check_port *p) { return p->role != ROLE_SMTP; }

/* Certificate findings: fatal for submission (a verifying client refuses, a non-verifying one
 * can be intercepted), a warning on 25 where senders mostly encrypt without authenticating. */
static void judge_cert(struct check_port *p)
{
	enum check_severity sev = is_submission(p) ? SEV_BROKEN : SEV_WARNING;
	const struct tls_peer *t = &p->tls;

	if (!t->have_cert) {
		reason(p, sev, "cert-missing", "the server presented no certificate");
		return;
	}
	if (t->expired || t->chain_error == X509_V_ERR_CERT_HAS_EXPIRED)
		reason(p, sev, "cert-expired", "the certificate expired %ld day%s ago (%s)", -t->days_left,
		       t->days_left == -1 ? "" : "s", t->not_after);
	else if (t->not_yet_valid || t->chain_error == X509_V_ERR_CERT_NOT_YET_VALID)
		reason(p, sev, "cert-not-yet-valid", "the certificate is not valid yet (check the server's clock)");
	else if (t->chain_error == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
		reason(p, sev, "cert-self-signed", "the certificate is self-signed (%s): mail clients will not trust it "
		       "(if you made it yourself and mean to trust it, --cafile with that certificate tests it as such)",
		       t->issuer);
	else if (t->chain_error == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	         t->chain_error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	         t->chain_error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT)
		/* The chain ends in a CA this machine does not know: usually an organisation's own. */
		reason(p, sev, "cert-private-ca", "the certificate is issued by a CA this machine does not trust (%s): if "
		       "that is your organisation's private CA, run the check with --cafile FILE (the CA's certificate); "
		       "every mail client must trust that CA too", t->issuer);
	else if (!t->chain_ok)
		reason(p, sev, "cert-untrusted", "the certificate is not trusted: %s (issuer %s)", t->chain_reason, t->issuer);
	if (!t->host_ok)
		reason(p, sev, "cert-wrong-host", "the certificate is not for %s (it names %s)", p->host,
		       t->names[0] ? t->names : t->subject);
	if (!t->expired && t->days_left < 14)
		reason(p, SEV_WARNING, "cert-expires-soon", "the certificate expires in %ld day%s (%s)", t->days_left,
		       t->days_left == 1 ? "" : "s", t->not_after);
	if (strcmp(t->key_type, "RSA") == 0 && t->key_bits < 2048)
		reason(p, SEV_WARNING, "cert-weak-key", "the certificate's RSA key has only %d bits (2048 is the minimum)",
		       t->key_bits);
	if (strcasestr(t->signature, "sha1") || strcasestr(t->signature, "md5"))
		reason(p, SEV_WARNING, "cert-weak-signature", "the certificate is signed with %s, which clients reject",
		       t->signature);
}

static void judge_tls(struct check_port *p)
{
	int v = version_index(p->tls.version);

	if (v >= 0 && v < 2)
		reason(p, is_submission(p) ? SEV_BROKEN : SEV_WARNING, "tls-too-old",
		       "the best TLS version it offers is %s: modern clients (and mailport) require TLS 1.2 or newer",
		       p->tls.version);
	if (p->versions_tested && (p->version_ok[0] || p->version_ok[1]))
		reason(p, SEV_WARNING, "tls-old-versions", "it still accepts %s%s%s (deprecated by RFC 8996)",
		       p->version_ok[0] ? "TLS 1.0" : "", p->version_ok[0] && p->version_ok[1] ? " and " : "",
		       p->version_ok[1] ? "TLS 1.1" : "");
	if (p->versions_tested && !p->version_ok[3] && v != 3)
		reason(p, SEV_INFO, "no-tls13", "TLS 1.3 is not offered");
	judge_cert(p);
}

/* The default handshake (TLS 1.2+) failed, but the server may still take an old version:
 * returns 1 when that is what it said. */
static int judge_versions_only(struct check_port *p)
{
	if (p->version_ok[2] || p->version_ok[3] || !(p->version_ok[0] || p->version_ok[1]))
		return 0;
	reason(p, is_submission(p) ? SEV_BROKEN : SEV_WARNING, "tls-too-old",
	       "it accepts only %s%s%s: modern clients (and mailport) require TLS 1.2 or newer",
	       p->version_ok[0] ? "TLS 1.0" : "", p->version_ok[0] && p->version_ok[1] ? " and " : "",
	       p->version_ok[1] ? "TLS 1.1" : "");
	return 1;
}

static void judge_reach(struct check_port *p)
{
	switch (p->reach) {
	case REACH_REFUSED:
		reason(p, SEV_BROKEN, "refused", "connection refused: nothing listens on port %u", p->port);
		return;
	case REACH_TIMEOUT:
		reason(p, SEV_BROKEN, "timeout", "connection timed out: a firewall drops packets to port %u%s", p->port,
		       p->port == 25 ? " (many ISPs and cloud providers block outgoing port 25)" : "");
		return;
	case REACH_DNS:
		if (p->dns_failed)
			reason(p, SEV_BROKEN, "dns-failed", "DNS failed, so %s could not be looked up (%s): this is not about "
			       "the server; check this machine's network connection and its DNS resolver (/etc/resolv.conf, "
			       "or --resolver)", p->connect_host, p->error);
		else
			reason(p, SEV_BROKEN, "dns", "%s: check the spelling of the host name", p->error);
		return;
	default:
		reason(p, SEV_BROKEN, "connect", "%s", p->error[0] ? p->error : "not probed");
		return;
	}
}

static void judge_role_tls(struct check_port *p)
{
	reason(p, SEV_WARNING, "implicit-tls-on-starttls-port",
	       "port %u speaks TLS from the first byte (like 465): a client set to \"STARTTLS\" fails here; set "
	       "it to \"SSL/TLS\" for this port", p->port);
}

const char *check_mech_strength(const char *mech)
{
	static const struct { const char *name; const char *strength; } t[] = {
		{ "SCRAM-SHA-256-PLUS", "strongest" }, { "SCRAM-SHA-512-PLUS", "strongest" }, { "SCRAM-SHA-1-PLUS", "strong" },
		{ "SCRAM-SHA-256", "strong" }, { "SCRAM-SHA-512", "strong" }, { "SCRAM-SHA-1", "strong" },
		{ "EXTERNAL", "strong" }, { "OAUTHBEARER", "token" }, { "XOAUTH2", "token" }, { "GSSAPI", "token" },
		{ "PLAIN", "password" }, { "LOGIN", "password" },
		{ "CRAM-MD5", "weak" }, { "DIGEST-MD5", "weak" }, { "NTLM", "weak" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(t[i].name, mech) == 0)
			return t[i].strength;
	return "unknown";
}

void check_mech_words(const char *auth, char *out, size_t outlen)
{
	static const struct { const char *strength, *words; } w[] = {
		{ "strongest", "the password never crosses the network and the login is bound to this TLS connection" },
		{ "strong", "the password never crosses the network (SCRAM) or a client certificate logs in (EXTERNAL)" },
		{ "token", "a token from an identity provider, not a password" },
		{ "password", "the password itself, protected only by TLS: fine inside TLS with a verified certificate" },
		{ "weak", "obsolete: the server keeps a password-equivalent, and a weak hash crosses the network" },
		{ "unknown", "unknown to this check" },
	};
	size_t o = 0;

	out[0] = '\0';
	for (size_t k = 0; k < sizeof(w) / sizeof(w[0]) && o < outlen; k++) {
		char names[200] = "";
		size_t nl = 0;
		char copy[256];
		snprintf(copy, sizeof(copy), "%s", auth);
		for (char *sv = NULL, *m = strtok_r(copy, " ", &sv); m != NULL; m = strtok_r(NULL, " ", &sv))
			if (strcmp(check_mech_strength(m), w[k].strength) == 0 && nl < sizeof(names))
				nl += (size_t)snprintf(names + nl, sizeof(names) - nl, "%s%s", nl ? ", " : "", m);
		if (nl > 0)
			o += (size_t)snprintf(out + o, outlen - o, "%s%s (%s)", o ? "; " : "", names, w[k].words);
	}
}

void check_judge(struct check_port *p, int login_requested)
{
	enum check_severity sub_sev = is_submission(p) ? SEV_BROKEN : SEV_WARNING;

	p->verdict = VERDICT_OK;
	p->nreasons = 0;
	if (p->reach != REACH_CONNECTED) {
		judge_reach(p);
		return;
	}
	if (p->speaks == SPEAKS_UNKNOWN) {
		reason(p, SEV_BROKEN, "no-smtp", "%s", p->error[0] ? p->error :
		       "neither an SMTP greeting nor a TLS handshake: this is not a mail server port");
		return;
	}
	if (p->greeting_code != 220) {
		/* Still say what TLS showed: an expired certificate matters even on a mute server. */
		int too_old = 0;
		if (p->speaks == SPEAKS_TLS && p->role != ROLE_SUBMISSIONS)
			judge_role_tls(p);
		if (p->tls_ok)
			judge_tls(p);
		else if (p->versions_tested)
			too_old = judge_versions_only(p);
		if (p->speaks == SPEAKS_TLS && !p->tls_ok) {
			/* No session behind a handshake that failed: the versions say why, else its error. */
			if (!too_old)
				reason(p, SEV_BROKEN, "tls-failed", "%s", p->tls_error);
		} else if (p->greeting_code == 0)
			reason(p, SEV_BROKEN, "no-greeting", "no SMTP greeting%s%s", p->error[0] ? ": " : "", p->error);
		else
			reason(p, SEV_BROKEN, "rejected", "the server turns clients away: %d %s", p->greeting_code, p->greeting);
		return;
	}
	if (p->published_plain)
		reason(p, SEV_BROKEN, "published-plaintext",
		       "the autoconfig file tells mail clients to use port %u with no encryption (socketType plain): "
		       "a client that follows it sends the password in clear; it must say %s", p->port,
		       p->speaks == SPEAKS_TLS ? "SSL" : "STARTTLS");
	if (p->role == ROLE_SUBMISSIONS && p->speaks == SPEAKS_PLAIN)
		reason(p, SEV_WARNING, "starttls-on-implicit-port",
		       "port %u speaks plaintext SMTP first, not implicit TLS: a client set to \"SSL/TLS\" fails "
		       "here; set it to \"STARTTLS\" for this port", p->port);
	if (p->role != ROLE_SUBMISSIONS && p->speaks == SPEAKS_TLS)
		judge_role_tls(p);
	if (p->ehlo_plain_seen && p->ehlo_plain.auth[0])
		reason(p, SEV_WARNING, "auth-before-tls",
		       "AUTH (%s) is offered before TLS: a client that skips STARTTLS would send its password in clear",
		       p->ehlo_plain.auth);
	if (p->speaks == SPEAKS_PLAIN && !p->esmtp)
		reason(p, sub_sev, "no-esmtp", "the server does not understand EHLO, so it cannot offer STARTTLS");
	else if (p->speaks == SPEAKS_PLAIN && p->starttls_code == 0)
		reason(p, sub_sev, "no-starttls", is_submission(p) ?
		       "no STARTTLS: mail and passwords would cross the network unencrypted" :
		       "no STARTTLS: mail from other servers arrives unencrypted");
	else if (p->speaks == SPEAKS_PLAIN && p->starttls_code != 220)
		reason(p, sub_sev, "starttls-refused", "STARTTLS is offered but refused (%d)", p->starttls_code);
	if ((p->speaks == SPEAKS_TLS || p->starttls_code == 220) && !p->tls_ok) {
		if (p->versions_tested)
			judge_versions_only(p);
		reason(p, sub_sev, "tls-failed", "%s", p->tls_error[0] ? p->tls_error : "the TLS handshake failed");
	}
	if (p->tls_ok)
		judge_tls(p);
	if (p->tls_ok && p->error[0] && !p->ehlo_tls_seen && !(p->login_tested && !p->login_ok))
		reason(p, SEV_BROKEN, "after-tls", "the session failed after TLS: %s", p->error);
	if (login_requested && is_submission(p) && p->ehlo_tls_seen && p->ehlo_tls.auth[0]) {
		char words[300];
		check_mech_words(p->ehlo_tls.auth, words, sizeof(words));
		reason(p, SEV_INFO, "auth-mechanisms", "login methods after TLS: %s", words);
	}
	if (is_submission(p) && p->ehlo_tls_seen && !p->ehlo_tls.auth[0])
		reason(p, SEV_WARNING, "no-auth",
		       "no AUTH after TLS: this port will not take a login (it may accept mail only from known addresses)");
	/* A refused login is the user's problem, not the server's: the port works. */
	if (login_requested && p->login_tested)
		reason(p, p->login_ok ? SEV_INFO : SEV_WARNING, p->login_ok ? "login-ok" : "login-failed",
		       p->login_ok ? "login accepted (%d)" : "the server works, but it refused this login: %d %s (check "
		       "the user name and the password)", p->login_code, p->login_text);
	else if (login_requested && is_submission(p) && p->tls_ok)
		reason(p, SEV_WARNING, "login-not-tested", "login not tested: %s", p->login_text);
	if (p->relay_tested)
		reason(p, p->relay_open ? SEV_BROKEN : SEV_INFO, p->relay_open ? "open-relay" : "no-open-relay",
		       p->relay_open ? "OPEN RELAY: it accepted mail from a stranger for a foreign domain (%d %s)" :
		                       "not an open relay: a foreign recipient was refused (%d %s)", p->relay_code, p->relay_text);
}

/* TLS 1.2+ and (for submission) a valid certificate: the server side of a secure path. */
static int server_secure(const struct check_port *p)
{
	int v = version_index(p->tls.version);

	if (p->reach != REACH_CONNECTED || p->greeting_code != 220 || !p->tls_ok || v < 2)
		return 0;
	if (p->role == ROLE_SMTP)
		return 1;       /* server-to-server: encryption is the bar, authentication is a warning */
	return p->tls.have_cert && p->tls.chain_ok && p->tls.host_ok && !p->tls.expired;
}

int check_port_secure(const struct check_port *p)
{
	return server_secure(p) && !(p->login_tested && !p->login_ok);
}

static const char *mode_words(const struct check_port *p)
{
	return p->speaks == SPEAKS_TLS ? "SSL/TLS" : "STARTTLS";
}

static const char *first_problem(const struct check_port *p)
{
	for (size_t i = 0; i < p->nreasons; i++)
		if (p->reasons[i].severity == SEV_BROKEN)
			return p->reasons[i].text;
	for (size_t i = 0; i < p->nreasons; i++)
		if (p->reasons[i].severity == SEV_WARNING)
			return p->reasons[i].text;
	return "no problem found";
}

static size_t add(char *text, size_t len, size_t o, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static size_t add(char *text, size_t len, size_t o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o >= len)
		return o;
	va_start(ap, fmt);
	n = vsnprintf(text + o, len - o, fmt, ap);
	va_end(ap);
	return n < 0 ? o : o + (size_t)n;
}

static const char *version_words(const char *v)
{
	return strcmp(v, "TLSv1.3") == 0 ? "TLS 1.3" : strcmp(v, "TLSv1.2") == 0 ? "TLS 1.2" : v;
}

/* The ports check_recommend weighs: the best of port 25, the first secure implicit-TLS and
 * STARTTLS submission ports, how many submission ports there are and how many answered. */
struct pick {
	const struct check_port *impl, *stls, *mx25;
	size_t nsub, reachable;
};

static void pick_ports(const struct check_port *ports, size_t n, struct pick *pk)
{
	memset(pk, 0, sizeof(*pk));
	for (size_t i = 0; i < n; i++) {
		const struct check_port *p = &ports[i];
		if (p->role == ROLE_SMTP) {
			if (pk->mx25 == NULL || (check_port_secure(p) && !check_port_secure(pk->mx25)))
				pk->mx25 = p;
			continue;
		}
		pk->nsub++;
		/* A service exists if it greeted, or at least took some TLS version. */
		if (p->reach == REACH_CONNECTED && (p->greeting_code == 220 || p->version_ok[0] || p->version_ok[1] ||
		                                    p->version_ok[2] || p->version_ok[3]))
			pk->reachable++;
		/* A port that refused only the login still works: the recommendation says so. */
		if (!server_secure(p))
			continue;
		if (p->speaks == SPEAKS_TLS && pk->impl == NULL)
			pk->impl = p;
		if (p->speaks == SPEAKS_PLAIN && pk->stls == NULL)
			pk->stls = p;
	}
}

/* Only port 25 was asked about (mx25, or NULL): judge it as the server-to-server port it is. */
static int recommend_mx25(const struct check_port *mx25, char *text, size_t len, const struct check_port **best)
{
	if (mx25 == NULL) {
		snprintf(text, len, "Nothing was probed.");
		return 2;
	}
	if (check_port_secure(mx25)) {
		*best = mx25;
		snprintf(text, len, "Port %u (server-to-server mail) on %s accepts STARTTLS with %s%s. Mail clients "
		         "should not use this port: they submit on 465 (SSL/TLS) or 587 (STARTTLS).", mx25->port,
		         mx25->host, version_words(mx25->tls.version), mx25->tls.chain_ok && mx25->tls.host_ok ?
		         " and a valid certificate" : " (its certificate would not pass a strict check)");
		return 0;
	}
	if (mx25->reach == REACH_CONNECTED && mx25->greeting_code == 220) {
		snprintf(text, len, "Port %u on %s takes mail only without usable encryption: %s.", mx25->port,
		         mx25->host, first_problem(mx25));
		return 1;
	}
	snprintf(text, len, "Port %u on %s is not usable: %s.", mx25->port, mx25->host, first_problem(mx25));
	return 2;
}

/* A secure submission port was found: it, the other, and what is wrong with the rest. */
static size_t recommend_best(const struct check_port *ports, size_t n, const struct pick *pk, char *text,
                             size_t len, size_t o, const struct check_port **best, int *login_failed)
{
	const struct check_port *b = pk->impl ? pk->impl : pk->stls;

	*best = b;
	o = add(text, len, o, "Use port %u with %s (%s%s, valid certificate%s).", b->port, mode_words(b),
	        b->speaks == SPEAKS_TLS ? "implicit " : "", version_words(b->tls.version),
	        b->login_tested && b->login_ok ? ", login works" : "");
	if (pk->impl != NULL && pk->stls != NULL)
		o = add(text, len, o, " Port %u with STARTTLS also works.", pk->stls->port);
	*login_failed = b->login_tested && !b->login_ok;
	if (*login_failed)
		o = add(text, len, o, " The server works, but it refused your login (%d %s): check the user name "
		        "and the password; a mail client would fail the same way.", b->login_code, b->login_text);
	for (size_t i = 0; i < n; i++) {
		const struct check_port *p = &ports[i];
		if (p->role != ROLE_SMTP && p != pk->impl && p != pk->stls && p->verdict == VERDICT_BROKEN)
			o = add(text, len, o, " Port %u is not usable: %s.", p->port, first_problem(p));
	}
	return add(text, len, o, " Never choose \"no encryption\".");
}

/* No submission port answered: DNS, the name, or the ports themselves. */
static size_t recommend_unreachable(const struct check_port *ports, size_t n, size_t nsub, char *text, size_t len,
                                    size_t o)
{
	size_t dns_failed = 0, dns = 0;
	const struct check_port *d0 = NULL;

	for (size_t i = 0; i < n; i++)
		if (ports[i].role != ROLE_SMTP && ports[i].reach == REACH_DNS) {
			dns++;
			dns_failed += ports[i].dns_failed != 0;
			if (d0 == NULL)
				d0 = &ports[i];
		}
	if (d0 != NULL && dns == nsub && dns_failed > 0)
		return add(text, len, o, "Nothing could be probed because DNS failed: %s. Check this machine's network "
		           "connection and its DNS resolver (/etc/resolv.conf, or --resolver); the server may be fine.",
		           d0->error);
	if (d0 != NULL && dns == nsub)
		return add(text, len, o, "%s has no address (%s): check the spelling of the server name.", d0->host,
		           d0->error);
	o = add(text, len, o, "No mail submission service answered:");
	for (size_t i = 0; i < n; i++)
		if (ports[i].role != ROLE_SMTP)
			o = add(text, len, o, " port %u: %s.", ports[i].port, first_problem(&ports[i]));
	return add(text, len, o, " Check the server name; your network may also block these ports.");
}

int check_recommend(const struct check_port *ports, size_t n, char *text, size_t len,
                    const struct check_port **best)
{
	struct pick pk;
	size_t o = 0;
	int login_failed = 0;

	*best = NULL;
	text[0] = '\0';
	pick_ports(ports, n, &pk);
	if (pk.nsub == 0)
		return recommend_mx25(pk.mx25, text, len, best);
	if (pk.impl != NULL || pk.stls != NULL)
		o = recommend_best(ports, n, &pk, text, len, o, best, &login_failed);
	else if (pk.reachable > 0) {
		o = add(text, len, o, "No secure way to submit mail to this server was found:");
		for (size_t i = 0; i < n; i++)
			if (ports[i].role != ROLE_SMTP)
				o = add(text, len, o, " port %u: %s.", ports[i].port, first_problem(&ports[i]));
		o = add(text, len, o, " Do not send a password to it until this is fixed, and do not turn off certificate "
		        "checks or choose \"no encryption\" to make it work.");
	} else
		o = recommend_unreachable(ports, n, pk.nsub, text, len, o);
	if (pk.mx25 != NULL && pk.mx25->reach == REACH_CONNECTED)
		o = add(text, len, o, " Port %u is for mail between servers; mail clients should not use it.", pk.mx25->port);
	else if (pk.mx25 != NULL && pk.mx25->reach == REACH_TIMEOUT)
		o = add(text, len, o, " Port %u timed out: many ISPs block outgoing port 25; that does not affect "
		        "465 or 587.", pk.mx25->port);
	(void)o;
	return pk.impl || pk.stls ? (login_failed ? CHECK_EXIT_LOGIN : 0) : pk.reachable ? 1 : 2;
}
