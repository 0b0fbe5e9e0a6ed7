/*
 * cmd_check.c - `mailport check`: options, the order of the work (discover, probe all ports at
 * once, then every TLS version of every TLS port at once), and the report. Not the probing
 * (check/probe.c) nor the rules (check/verdict.c).
 */
#include "cmd_check.h"

#include <curl/curl.h>
#include <getopt.h>
#include <libxml/parser.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "../check/check.h"
#include "../check/discover.h"
#include "../check/domain.h"
#include "../check/mxpolicy.h"
#include "../check/probe.h"
#include "../check/report.h"
#include "../net/dns.h"
#include "../smtp/parse.h"
#include "secret.h"

#define MAX_PORTS 8
#define MAX_CONNECT_TO 16

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport check [options] HOST | user@domain\n"
	        "\n"
	        "Probes ports 465 (implicit TLS), 587 (STARTTLS) and 25 (server-to-server) on HOST and says\n"
	        "which port and which encryption a mail client should use. For an address, finds the\n"
	        "submission server first (SRV records, RFC 6186; then the autoconfig file; then MX).\n"
	        "\n"
	        "  --port LIST            ports to probe, comma-separated, each PORT or PORT/ROLE with ROLE\n"
	        "                         submissions (TLS first), submission (STARTTLS) or smtp (MX);\n"
	        "                         default 465,587,25\n"
	        "  --timeout SECONDS      bound of each probe (default 10)\n"
	        "  --cafile FILE          trust these CA certificates instead of the system's\n"
	        "  --user NAME            also test this login (only inside TLS with a valid certificate)\n"
	        "  --password-file FILE   the password for --user (first line)\n"
	        "  --relay-test           port 25: ask to relay to a foreign domain (never sends mail)\n"
	        "  --json                 machine-readable report (schema in docs/check-json.md)\n"
	        "  --helo NAME            our EHLO name (default: this host's name)\n"
	        "  --resolver ADDR[:PORT] DNS server to ask (default: /etc/resolv.conf and /etc/hosts)\n"
	        "  --connect-to HOST:PORT:HOST2:PORT2\n"
	        "                         connect to HOST2:PORT2 whenever HOST:PORT is meant (as curl's\n"
	        "                         option); names and certificates are still checked for HOST\n"
	        "\n"
	        "\n"
	        "mailport check --domain DOMAIN [--config FILE]: the DNS records DOMAIN publishes, judged:\n"
	        "MX, the host's address, SPF (syntax, the 10-lookup limit, whether it lets the mail host send),\n"
	        "DMARC, the submission SRV records, TLS-RPT, MTA-STS, autoconfig, and TLSA records against the\n"
	        "certificate each port presents. With --config (which implies --domain), against what this\n"
	        "server needs (the records `mailport dns` prints), DKIM keys against their key files too.\n"
	        "  --resolver, --connect-to, --timeout as above\n"
	        "\n"
	        "mailport check --mx DOMAIN: how mailport serve would deliver to DOMAIN's MX hosts: DNSSEC,\n"
	        "DANE (TLSA), MTA-STS, the policy decided per host and a STARTTLS probe under it.\n"
	        "  --trust-anchor FILE|none  DNSSEC trust anchor (default /usr/share/dns/root.key)\n"
	        "  --port N                  the MX port (default 25); --cafile: CAs for MTA-STS\n"
	        "  --https-port N            the MTA-STS policy host's port (default 443)\n"
	        "\n"
	        "Exit status: 0 a secure way to submit mail exists, 1 only insecure ones, 2 none,\n"
	        "77 a secure way exists but it refused the --user login (the server works; the password\n"
	        "or user name does not). With --mx: 0 every MX host usable and its probe passed, 1 some,\n"
	        "2 none. With --domain: 0 all is well, 1 something to improve, 2 something broken.\n");
}

/* One field of a HOST:PORT:HOST2:PORT2 rule; IPv6 addresses in brackets. */
static const char *field(const char *s, char *out, size_t len, int last)
{
	size_t n;

	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || (last ? rb[1] != '\0' : rb[1] != ':'))
			return NULL;
		n = (size_t)(rb - s - 1);
		if (n >= len)
			return NULL;
		memcpy(out, s + 1, n);
		out[n] = '\0';
		return rb[1] == ':' ? rb + 2 : rb + 1;
	}
	n = strcspn(s, ":");
	if (n >= len || (last ? s[n] != '\0' : s[n] != ':'))
		return NULL;
	memcpy(out, s, n);
	out[n] = '\0';
	return s[n] == ':' ? s + n + 1 : s + n;
}

static int parse_connect_to(const char *s, struct dom_connect *c)
{
	const char *p = s;

	if ((p = field(p, c->host, sizeof(c->host), 0)) == NULL || (p = field(p, c->port, sizeof(c->port), 0)) == NULL ||
	    (p = field(p, c->chost, sizeof(c->chost), 0)) == NULL ||
	    (p = field(p, c->cport, sizeof(c->cport), 1)) == NULL)
		return -1;
	return *p == '\0' ? 0 : -1;
}

static int parse_ports(const char *s, struct check_port *ports, size_t *n)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *slash = strchr(tok, '/'), *end;
		unsigned long port;
		if (*n == MAX_PORTS)
			return -1;
		if (slash)
			*slash = '\0';
		port = strtoul(tok, &end, 10);
		if (*end != '\0' || port == 0 || port > 65535)
			return -1;
		memset(&ports[*n], 0, sizeof(ports[*n]));
		ports[*n].port = (unsigned)port;
		ports[*n].role = check_role_for_port((unsigned)port);
		ports[*n].role_guessed = slash == NULL && port != 25 && port != 465 && port != 587;
		if (slash && check_role_parse(slash + 1, &ports[*n].role) != 0)
			return -1;
		(*n)++;
	}
	return *n > 0 ? 0 : -1;
}

static void apply_connect_to(struct check_port *p, const struct dom_connect *ct, size_t nct)
{
	const struct dom_connect *m = dom_connect_find(ct, nct, p->host, p->port);

	snprintf(p->connect_host, sizeof(p->connect_host), "%.*s", (int)sizeof(p->host) - 1,
	         m && m->chost[0] ? m->chost : p->host);
	p->connect_port = m && m->cport[0] ? (unsigned)strtoul(m->cport, NULL, 10) : p->port;
}

struct job {
	pthread_t tid;
	struct check_port *port;
	const struct check_opts *opts;
	int version;                    /* -1: the main probe */
	int started;
};

static void *run_job(void *arg)
{
	struct job *j = arg;

	if (j->version < 0)
		check_probe(j->port, j->opts);
	else
		check_probe_version(j->port, j->version, j->opts);
	return NULL;
}

static void run_all(struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		jobs[i].started = pthread_create(&jobs[i].tid, NULL, run_job, &jobs[i]) == 0;
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].started)
			pthread_join(jobs[i].tid, NULL);
		else
			run_job(&jobs[i]);      /* no thread to be had: do it here, just slower */
	}
}

static int printable_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);

	while (p < end) {
		size_t n = *p < 0x80 ? (*p >= 0x21 && *p < 0x7f) : smtp_utf8_seq(p, end);
		if (n == 0)
			return 0;
		p += n;
	}
	return p != (const unsigned char *)s;
}

/* What the command line asked for. */
struct check_args {
	struct check_opts o;
	const char *port_list, *password_file;
	int json, mx, domain;
	const char *trust_anchor, *config;
	unsigned https_port;
	struct dom_connect ct[MAX_CONNECT_TO];
	const char *ct_raw[MAX_CONNECT_TO];
	size_t nct;
};

/* Returns -1 to go on, else an exit code (--help: 0). */
static int parse_args(int argc, char **argv, struct check_args *a)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' }, { "timeout", required_argument, NULL, 't' },
		{ "cafile", required_argument, NULL, 'C' }, { "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'P' }, { "relay-test", no_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' }, { "helo", required_argument, NULL, 'H' },
		{ "resolver", required_argument, NULL, 'r' }, { "connect-to", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' }, { "mx", no_argument, NULL, 'M' },
		{ "trust-anchor", required_argument, NULL, 'A' }, { "https-port", required_argument, NULL, 'S' },
		{ "domain", no_argument, NULL, 'D' }, { "config", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "p:t:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': a->port_list = optarg; break;
		case 't': {
			char *end;
			double s = strtod(optarg, &end);
			if (*end != '\0' || s < 0.1 || s > 600) {
				fprintf(stderr, "mailport check: --timeout: seconds between 0.1 and 600\n");
				return EX_USAGE;
			}
			a->o.timeout_ms = (long)(s * 1000);
			break;
		}
		case 'C': a->o.cafile = optarg; break;
		case 'u': a->o.user = optarg; break;
		case 'P': a->password_file = optarg; break;
		case 'R': a->o.relay_test = 1; break;
		case 'j': a->json = 1; break;
		case 'H': a->o.helo = optarg; break;
		case 'r': a->o.resolver = optarg; break;
		case 'c':
			if (a->nct == MAX_CONNECT_TO || parse_connect_to(optarg, &a->ct[a->nct]) != 0) {
				fprintf(stderr, "mailport check: --connect-to %s: expected HOST:PORT:HOST2:PORT2\n", optarg);
				return EX_USAGE;
			}
			a->ct_raw[a->nct++] = optarg;
			break;
		case 'M': a->mx = 1; break;
		case 'D': a->domain = 1; break;
		case 'f': a->config = optarg; a->domain = 1; break;
		case 'A': a->trust_anchor = optarg; break;
		case 'S': a->https_port = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if ((a->o.user == NULL) != (a->password_file == NULL)) {
		fprintf(stderr, "mailport check: --user and --password-file go together\n");
		return EX_USAGE;
	}
	return -1;
}

/* The ports to probe for an address: what discovery found (SRV, autoconfig, MX). */
static size_t ports_of_address(const char *target, const struct check_args *a, struct discovery *disc,
                               struct check_port *ports)
{
	struct discover_opts d = { a->o.resolver, a->o.cafile, a->o.timeout_ms, a->ct_raw, a->nct };
	size_t nports = 0;

	if (a->port_list != NULL)
		fprintf(stderr, "mailport check: --port applies to a host, not an address; ignored\n");
	check_discover(target, &d, disc);
	for (size_t i = 0; i < disc->ntargets && nports < MAX_PORTS; i++, nports++) {
		memset(&ports[nports], 0, sizeof(ports[nports]));
		memcpy(ports[nports].host, disc->targets[i].host, sizeof(ports[nports].host));
		ports[nports].port = disc->targets[i].port;
		ports[nports].role = disc->targets[i].role;
		snprintf(ports[nports].source, sizeof(ports[nports].source), "%s", disc->targets[i].source);
		ports[nports].published_plain = disc->targets[i].published_plain;
	}
	return nports;
}

/* The ports to probe on a host: --port, or 465, 587 and 25. 0 or EX_USAGE. */
static int ports_of_host(const char *target, const struct check_args *a, struct check_port *ports, size_t *nports)
{
	char host[300];
	size_t hl = strlen(target);

	/* "[::1]" as well as "::1". */
	if (target[0] == '[' && hl > 2 && target[hl - 1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), target + 1);
	else
		snprintf(host, sizeof(host), "%s", target);
	if (parse_ports(a->port_list ? a->port_list : "465,587,25", ports, nports) != 0) {
		fprintf(stderr, "mailport check: --port %s: expected PORT[/ROLE][,...] (at most %d)\n", a->port_list,
		        MAX_PORTS);
		return EX_USAGE;
	}
	if (strlen(host) >= sizeof(ports[0].host)) {
		fprintf(stderr, "mailport check: %s: host name too long\n", host);
		return EX_USAGE;
	}
	for (size_t i = 0; i < *nports; i++) {
		memcpy(ports[i].host, host, strlen(host) + 1);
		snprintf(ports[i].source, sizeof(ports[i].source), "command-line");
	}
	return 0;
}

/* Every port at once, then every TLS version on every port that spoke TLS, all at once. */
static void probe_all(struct check_port *ports, size_t nports, const struct check_args *a)
{
	struct job jobs[MAX_PORTS * (CHECK_NVERSIONS + 1)];
	size_t njobs = 0;

	for (size_t i = 0; i < nports; i++) {
		apply_connect_to(&ports[i], a->ct, a->nct);
		jobs[njobs++] = (struct job){ 0, &ports[i], &a->o, -1, 0 };
	}
	run_all(jobs, njobs);
	/* A port given without a role has the role of what it speaks: TLS first is submissions;
	 * plaintext that offers no AUTH (after STARTTLS, or at all without it) is an MX. */
	for (size_t i = 0; i < nports; i++) {
		struct check_port *p = &ports[i];
		if (!p->role_guessed)
			continue;
		if (p->speaks == SPEAKS_TLS)
			p->role = ROLE_SUBMISSIONS;
		else if (p->speaks == SPEAKS_PLAIN && !p->ehlo_plain.auth[0] &&
		         (p->ehlo_tls_seen ? !p->ehlo_tls.auth[0] : p->ehlo_plain_seen && !p->ehlo_plain.starttls))
			p->role = ROLE_SMTP;
	}
	njobs = 0;
	for (size_t i = 0; i < nports; i++)
		if (ports[i].tls_ok || (ports[i].reach == REACH_CONNECTED && (ports[i].speaks == SPEAKS_TLS ||
		    ports[i].starttls_code == 220))) {
			ports[i].versions_tested = 1;
			for (int v = 0; v < CHECK_NVERSIONS; v++)
				jobs[njobs++] = (struct job){ 0, &ports[i], &a->o, v, 0 };
		}
	run_all(jobs, njobs);
}

/* An address for which no server was found: why, in words. */
static void no_server_words(const struct discovery *disc, char *rec, size_t reclen)
{
	if (disc->nxdomain)
		snprintf(rec, reclen, "The domain %s does not exist (NXDOMAIN): check the spelling of the address.",
		         disc->domain);
	else if (disc->dns_failed)
		snprintf(rec, reclen, "DNS failed, so nothing is known about %s (%s). This is not about the domain: "
		         "check this machine's network connection and its DNS resolver (/etc/resolv.conf, or "
		         "--resolver).", disc->domain, disc->dns_error);
	else
		snprintf(rec, reclen, "No mail server was found for %s: no SRV records, no autoconfig file and no MX "
		         "record.", disc->domain);
}

/* --domain: what the domain publishes in DNS, against what it needs. */
static int check_domain_records(const char *target, const struct check_args *a)
{
	struct dom_report *r = calloc(1, sizeof(*r));
	int code;

	if (r == NULL)
		return EX_OSERR;
	struct dom_opts o = { a->o.resolver, a->o.timeout_ms, a->o.helo, a->config, a->ct, a->nct };
	if (check_domain(target, &o, r) < 0) {
		free(r);
		return EX_CONFIG;
	}
	if (a->json) {
		if (check_domain_json(stdout, r) != 0)
			fprintf(stderr, "mailport check: cannot write the JSON report\n");
	} else
		check_domain_text(stdout, r);
	code = check_domain_exit(r);
	free(r);
	return code;
}

/* A name with MX records but no address of its own is a mail domain, not a host to probe
 * (example.org, whose mail goes to mx.example.org): 1 then, else 0 (a host, an address, a name
 * that does not exist, or DNS that did not answer: the host probe says what it finds). */
static int mail_domain_only(const char *target, const struct check_args *a)
{
	char addrs[4][DNS_ADDR_LEN], err[300];
	struct ub_result *res = NULL;
	size_t n = 0;
	int domain = 0;
	struct dns *d = dns_new(a->o.resolver, DNS_HOSTS | DNS_ASK_ALL, err, sizeof(err));

	if (d == NULL)
		return 0;
	dns_set_timeout(d, a->o.timeout_ms);
	if (dns_addrs(d, target, addrs, 4, &n, err, sizeof(err)) == DNS_OK && n == 0 &&
	    dns_query(d, target, DNS_T_MX, &res, err, sizeof(err)) == DNS_OK)
		domain = dns_has_data(res);
	dns_result_free(res);
	dns_free(d);
	return domain;
}

/* --mx: the delivery view of one domain. */
static int check_mx(const char *target, const struct check_args *a)
{
	const char *at = strrchr(target, '@');
	const char *ta = a->trust_anchor;
	struct mxp_report *r = calloc(1, sizeof(*r));
	int code;

	if (r == NULL)
		return EX_OSERR;
	if (ta == NULL)
		ta = access("/usr/share/dns/root.key", R_OK) == 0 ? "/usr/share/dns/root.key" : NULL;
	else if (strcmp(ta, "none") == 0)
		ta = NULL;
	unsigned port = a->port_list ? (unsigned)strtoul(a->port_list, NULL, 10) : 25;
	struct mxp_opts o = { a->o.resolver, ta, a->o.cafile, a->https_port ? a->https_port : 443, port ? port : 25,
	                      a->o.timeout_ms, a->o.helo, NULL };
	curl_global_init(CURL_GLOBAL_DEFAULT);
	check_mx_policy(at ? at + 1 : target, &o, r);
	if (a->json) {
		if (check_mx_report_json(stdout, r) != 0)
			fprintf(stderr, "mailport check: cannot write the JSON report\n");
	} else
		check_mx_report_text(stdout, r);
	code = check_mx_exit(r);
	curl_global_cleanup();
	free(r);
	return code;
}

int check_main(int argc, char **argv)
{
	struct check_args a;
	struct check_port ports[MAX_PORTS];
	struct discovery disc;
	struct check_report report;
	char helo[256], target[300], rec[2048];
	char *password = NULL;
	size_t nports = 0;
	int is_address, code;

	memset(&a, 0, sizeof(a));
	a.o = (struct check_opts){ NULL, NULL, NULL, 10000, NULL, NULL, 0 };
	if ((code = parse_args(argc, argv, &a)) >= 0)
		return code;
	if (a.password_file != NULL && (password = secret_read_file("mailport check", a.password_file)) == NULL) {
		fprintf(stderr, "mailport check: cannot read a password from %s\n", a.password_file);
		return EX_NOINPUT;
	}
	a.o.password = password;
	if (a.o.helo == NULL) {
		if (gethostname(helo, sizeof(helo)) != 0 || strchr(helo, '.') == NULL)
			snprintf(helo, sizeof(helo), "mailport-check.localdomain");
		a.o.helo = helo;
	}
	snprintf(target, sizeof(target), "%s", argv[optind]);
	if (!printable_utf8(target) || strlen(argv[optind]) >= sizeof(target)) {
		fprintf(stderr, "mailport check: the host or address must be printable UTF-8, at most %zu octets\n",
		        sizeof(target) - 1);
		code = EX_USAGE;
		goto done;
	}
	if (a.mx) {
		code = check_mx(target, &a);
		goto done;
	}
	if (a.domain) {
		const char *at = strrchr(target, '@');
		code = check_domain_records(at ? at + 1 : target, &a);
		goto done;
	}
	is_address = strchr(target, '@') != NULL;
	if (!is_address && a.port_list == NULL && mail_domain_only(target, &a)) {
		fprintf(stderr, "mailport check: %s has MX records but no address: checking it as a mail domain (the same "
		        "as --domain; check its MX host to probe ports)\n", target);
		code = check_domain_records(target, &a);
		goto done;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
	if (is_address)
		nports = ports_of_address(target, &a, &disc, ports);
	else if ((code = ports_of_host(target, &a, ports, &nports)) != 0)
		goto cleanup;
	probe_all(ports, nports, &a);
	for (size_t i = 0; i < nports; i++)
		check_judge(&ports[i], a.o.user != NULL);
	code = check_recommend(ports, nports, rec, sizeof(rec), &report.best);
	if (is_address && nports == 0)
		no_server_words(&disc, rec, sizeof(rec));
	report.target = target;
	report.discovery = is_address ? &disc : NULL;
	report.ports = ports;
	report.nports = nports;
	report.recommendation = rec;
	report.exit_code = code;
	report.timeout_ms = a.o.timeout_ms;
	if (a.json) {
		if (check_report_json(stdout, &report) != 0)
			fprintf(stderr, "mailport check: cannot write the JSON report\n");
	} else
		check_report_text(stdout, &report, isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL);
cleanup:
	xmlCleanupParser();
	curl_global_cleanup();
done:
	if (password) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	return code;
}
