/*
 * cmd_usercert.c - `mailport user cert ca|issue|list|revoke`: the small CA behind [auth] client_ca.
 * A device gets a key and a certificate naming its mailbox (PEM for msmtp, curl and mailport
 * send; PKCS#12 for mail clients); revoking one rewrites the CRL the running server reads again
 * at the next connection. What was issued is listed in SPOOL/client-certs, one line each:
 *
 *     address:serial:created:not-after:revoked:label      (times in seconds, revoked 0 = no)
 *
 * Every file is written whole (temp, fsync, rename, fsync dir). OpenSSL 3 does the X.509.
 */
#include "cmd_usercert.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "../server/runningconf.h"
#include "../tls/clientca.h"
#include "../util/fsutil.h"
#include "cmd_mailbox.h"

#define INDEX_MAX 4096
#define PFX_PASS_LEN 20

struct issued {
	char address[256], serial[64], label[64];
	long long created, not_after, revoked;
};

struct index {
	struct issued *e;
	size_t n;
};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("mailport user cert: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void ssl_say(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	say("%s%s%s", what, buf[0] ? ": " : "", buf);
	ERR_clear_error();
}

/* ---- the list of issued certificates --------------------------------------------------- */

static int index_load(const char *path, struct index *ix)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int lineno = 0;

	memset(ix, 0, sizeof(*ix));
	if (f == NULL)
		return errno == ENOENT ? 0 : (say("cannot read %s: %s", path, strerror(errno)), -1);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		struct issued e;
		memset(&e, 0, sizeof(e));
		int used = 0;
		if (sscanf(line, "%255[^:]:%63[^:]:%lld:%lld:%lld:%n", e.address, e.serial, &e.created, &e.not_after,
		           &e.revoked, &used) != 5 || used == 0) {
			say("%s:%d: not address:serial:created:not-after:revoked:label", path, lineno);
			goto fail;
		}
		snprintf(e.label, sizeof(e.label), "%s", line + used);
		struct issued *ne = ix->n < INDEX_MAX ? realloc(ix->e, (ix->n + 1) * sizeof(*ne)) : NULL;
		if (ne == NULL) {
			say("%s: too many entries", path);
			goto fail;
		}
		ix->e = ne;
		ix->e[ix->n++] = e;
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	free(ix->e);
	memset(ix, 0, sizeof(*ix));
	return -1;
}

static int write_owned(const char *path, const void *buf, size_t len, mode_t mode, uid_t uid, gid_t gid)
{
	char dir[4500];
	const char *slash = strrchr(path, '/');

	/* the spool before the server first ran: made as the server makes it */
	if (slash != NULL && slash != path && (size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (access(dir, F_OK) < 0 &&
		    (uid != (uid_t)-1 ? fs_mkdir_p_owned(dir, 0700, uid, gid) : fs_mkdir_p(dir, 0700)) < 0) {
			say("cannot create %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	if (fs_write_file_durable(path, buf, len, mode) < 0) {
		say("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	if (uid != (uid_t)-1 && chown(path, uid, gid) < 0) {
		say("cannot give %s to the server's user: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int index_save(const char *path, const struct index *ix, uid_t uid, gid_t gid)
{
	size_t cap = 128 + ix->n * 512, o = 0;
	char *buf = malloc(cap);

	if (buf == NULL)
		return -1;
	o += (size_t)snprintf(buf, cap, "# mailport user cert: address:serial:created:not-after:revoked:label\n");
	for (size_t i = 0; i < ix->n; i++) {
		const struct issued *e = &ix->e[i];
		o += (size_t)snprintf(buf + o, cap - o, "%s:%s:%lld:%lld:%lld:%s\n", e->address, e->serial, e->created,
		                      e->not_after, e->revoked, e->label);
	}
	int r = write_owned(path, buf, o, 0640, uid, gid);
	free(buf);
	return r;
}

/* ---- X.509 -------------------------------------------------------------------------------- */

static EVP_PKEY *new_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int random_serial(X509 *x, char *hex, size_t hexlen)
{
	unsigned char r[16];
	BIGNUM *bn = NULL;
	char *h = NULL;
	int ok;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	r[0] &= 0x7f;           /* positive */
	r[0] |= 0x40;           /* and always 16 octets, so serials sort and print alike */
	ok = (bn = BN_bin2bn(r, sizeof(r), NULL)) != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL &&
	     (h = BN_bn2hex(bn)) != NULL;
	if (ok)
		snprintf(hex, hexlen, "%s", h);
	OPENSSL_free(h);
	BN_free(bn);
	return ok ? 0 : -1;
}

static int write_pem(const char *path, X509 *x, EVP_PKEY *k, mode_t mode, int must_be_new)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;

	if (must_be_new && access(path, F_OK) == 0) {
		say("%s exists already: not overwriting it", path);
		BIO_free(b);
		return -1;
	}
	if (b == NULL || (x != NULL && PEM_write_bio_X509(b, x) != 1) ||
	    (k != NULL && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1)) {
		BIO_free(b);
		ssl_say("cannot encode PEM");
		return -1;
	}
	long n = BIO_get_mem_data(b, &data);
	int r = write_owned(path, data, (size_t)n, mode, (uid_t)-1, (gid_t)-1);
	BIO_free(b);
	return r;
}

/* The CA's certificate (key 0) or private key (key 1) from PEM, or NULL having said why. */
static void *load_pem(const char *path, int key)
{
	FILE *f = fopen(path, "r");
	void *v = f == NULL ? NULL : key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL) :
	          (void *)PEM_read_X509(f, NULL, NULL, NULL);

	if (f != NULL)
		fclose(f);
	if (v == NULL)
		say("cannot read the client CA %s %s%s%s%s", key ? "key" : "certificate", path, f == NULL ? ": " : "",
		    f == NULL ? strerror(errno) : "", key ? "" : " (mailport user cert ca creates it)");
	return v;
}

/* With the directory in PostgreSQL, the CRL goes there too: every node copies it to its own
 * client_crl (auth/pgdir.h), so a certificate revoked here is refused by all of them. */
static void share_crl(const struct usercert_ctx *x, const char *data, size_t n)
{
	const struct config *c = x->cfg;
	char *pem, out[512];
	long rows = 0;

	if (strcmp(c->dir_backend, "postgresql") != 0 || c->pg_conninfo == NULL || (pem = strndup(data, n)) == NULL)
		return;
	const char *p[] = { pem };
	if (mailbox_sql(c, "INSERT INTO mailport_client_crl (id, pem) VALUES (1, $1) ON CONFLICT (id) DO UPDATE "
	                "SET pem = excluded.pem, updated = now()", p, 1, &rows, out, sizeof(out)) != 0)
		say("warning: the CRL is written to %s but not to PostgreSQL: the other nodes do not know of it until "
		    "it is (is the database migrated? mailport directory migrate)", x->crl);
	else
		printf("CRL shared through PostgreSQL: every node refuses what it revokes\n");
	free(pem);
}

/* The CRL of every revoked entry, signed by the CA: what the server reads. */
static int write_crl(const struct usercert_ctx *x, const struct index *ix, X509 *ca, EVP_PKEY *cakey)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL)), *next = ASN1_TIME_adj(NULL, time(NULL), 3650, 0);
	BIO *b = BIO_new(BIO_s_mem());
	int ok = crl != NULL && now != NULL && next != NULL && b != NULL && X509_CRL_set_version(crl, 1) == 1 &&
	         X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) == 1 && X509_CRL_set1_lastUpdate(crl, now) == 1 &&
	         X509_CRL_set1_nextUpdate(crl, next) == 1;

	for (size_t i = 0; ok && i < ix->n; i++) {
		if (ix->e[i].revoked == 0)
			continue;
		X509_REVOKED *rv = X509_REVOKED_new();
		BIGNUM *bn = NULL;
		ASN1_INTEGER *sn = NULL;
		ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t)ix->e[i].revoked);
		ok = rv != NULL && when != NULL && BN_hex2bn(&bn, ix->e[i].serial) > 0 &&
		     (sn = BN_to_ASN1_INTEGER(bn, NULL)) != NULL && X509_REVOKED_set_serialNumber(rv, sn) == 1 &&
		     X509_REVOKED_set_revocationDate(rv, when) == 1 && X509_CRL_add0_revoked(crl, rv) == 1;
		if (ok)
			rv = NULL;
		X509_REVOKED_free(rv);
		ASN1_INTEGER_free(sn);
		ASN1_TIME_free(when);
		BN_free(bn);
	}
	char *data = NULL;
	long n = 0;
	ok = ok && X509_CRL_sort(crl) == 1 && X509_CRL_sign(crl, cakey, EVP_sha256()) > 0 && PEM_write_bio_X509_CRL(b, crl) == 1 &&
	     (n = BIO_get_mem_data(b, &data)) > 0;
	if (!ok)
		ssl_say("cannot make the CRL");
	else
		ok = write_owned(x->crl, data, (size_t)n, 0644, x->uid, x->gid) == 0;
	if (ok)
		share_crl(x, data, (size_t)n);
	BIO_free(b);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	X509_CRL_free(crl);
	return ok ? 0 : -1;
}

/* ---- the verbs -------------------------------------------------------------------------------- */

static int cmd_ca(const struct usercert_ctx *x, int days)
{
	const struct config *c = x->cfg;
	EVP_PKEY *k = NULL;
	X509 *ca = NULL;
	char serial[64], cn[300];
	int rc = EX_SOFTWARE;

	if (c->client_ca == NULL || c->client_ca_key == NULL) {
		say("set [auth] client_ca and client_ca_key in %s first: where the CA certificate and its key go", c->path);
		return EX_CONFIG;
	}
	if (access(c->client_ca, F_OK) == 0 || access(c->client_ca_key, F_OK) == 0) {
		say("%s or %s exists already: not replacing a CA (every certificate it issued would stop working)",
		    c->client_ca, c->client_ca_key);
		return EX_CANTCREAT;
	}
	snprintf(cn, sizeof(cn), "mailport client CA %s", c->hostname);
	if ((k = new_key()) == NULL || (ca = X509_new()) == NULL || X509_set_version(ca, 2) != 1 ||
	    random_serial(ca, serial, sizeof(serial)) < 0 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(ca), "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) != 1 ||
	    X509_set_issuer_name(ca, X509_get_subject_name(ca)) != 1 || X509_gmtime_adj(X509_getm_notBefore(ca), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(ca), days, 0, NULL) == NULL || X509_set_pubkey(ca, k) != 1 ||
	    add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0 ||
	    add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign") < 0 ||
	    add_ext(ca, ca, NID_subject_key_identifier, "hash") < 0 || X509_sign(ca, k, EVP_sha256()) <= 0) {
		ssl_say("cannot make the CA");
		goto out;
	}
	/* the key first: a certificate without its key is of no use, a key alone harms nobody */
	if (write_pem(c->client_ca_key, NULL, k, 0600, 1) < 0 || write_pem(c->client_ca, ca, NULL, 0644, 1) < 0) {
		rc = EX_CANTCREAT;
		goto out;
	}
	struct index none = { NULL, 0 };
	if (write_crl(x, &none, ca, k) < 0) {
		rc = EX_CANTCREAT;
		goto out;
	}
	printf("client CA created: %s (key %s, valid %d days), empty CRL %s\n"
	       "Reload the server (mailport reload) so the submission ports ask for client certificates.\n",
	       c->client_ca, c->client_ca_key, days, x->crl);
	rc = 0;
out:
	X509_free(ca);
	EVP_PKEY_free(k);
	return rc;
}

static void pfx_password(char *out)
{
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";     /* 32: no l, o, 0, 1 */
	unsigned char r[PFX_PASS_LEN];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		abort();
	for (int i = 0; i < PFX_PASS_LEN; i++)
		out[i] = alphabet[r[i] & 31];
	out[PFX_PASS_LEN] = '\0';
}

static int file_label_ok(const char *l)
{
	if (*l == '\0' || strlen(l) >= 48)
		return 0;
	for (const char *p = l; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			return 0;
	return *l != '.';
}

/* The CA's certificate and key, checked to belong together; 0 or EX_CONFIG (said). */
static int load_ca(const struct config *c, X509 **ca, EVP_PKEY **cakey)
{
	if ((*ca = load_pem(c->client_ca, 0)) == NULL || (*cakey = load_pem(c->client_ca_key, 1)) == NULL)
		return EX_CONFIG;
	if (X509_check_private_key(*ca, *cakey) != 1) {
		say("%s is not the key of %s", c->client_ca_key, c->client_ca);
		return EX_CONFIG;
	}
	return 0;
}

/* A new key in *k and the client certificate for address that ca signs with cakey; NULL (said)
 * when OpenSSL fails. serial: its serial number in hex. */
static X509 *make_client_cert(X509 *ca, EVP_PKEY *cakey, const char *address, int days, char *serial,
                              size_t seriallen, EVP_PKEY **k)
{
	X509 *cert = NULL;
	char san[300];

	snprintf(san, sizeof(san), "email:%s", address);
	if ((*k = new_key()) == NULL || (cert = X509_new()) == NULL || X509_set_version(cert, 2) != 1 ||
	    random_serial(cert, serial, seriallen) < 0 ||
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_UTF8, (const unsigned char *)address, -1,
	                               -1, 0) != 1 ||
	    X509_set_issuer_name(cert, X509_get_subject_name(ca)) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -300) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) == NULL || X509_set_pubkey(cert, *k) != 1 ||
	    add_ext(cert, ca, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
	    add_ext(cert, ca, NID_key_usage, "critical,digitalSignature") < 0 ||
	    add_ext(cert, ca, NID_ext_key_usage, "clientAuth") < 0 || add_ext(cert, ca, NID_subject_alt_name, san) < 0 ||
	    add_ext(cert, ca, NID_authority_key_identifier, "keyid") < 0 || X509_sign(cert, cakey, EVP_sha256()) <= 0) {
		ssl_say("cannot make the certificate");
		X509_free(cert);
		return NULL;
	}
	return cert;
}

/* BASE.key, BASE.crt and BASE.p12 (under pass, with the CA in its chain): 0, EX_SOFTWARE when
 * the PKCS#12 cannot be made, EX_CANTCREAT when a file cannot be written (all said). */
static int write_issued(const char *base, X509 *cert, EVP_PKEY *k, X509 *ca, const char *address, const char *label,
                        const char *pass)
{
	STACK_OF(X509) *chain = NULL;
	PKCS12 *p12 = NULL;
	char name[300], path[4500];
	int rc = EX_SOFTWARE;

	snprintf(name, sizeof(name), "%s (%s)", address, label);
	if ((chain = sk_X509_new_null()) == NULL || sk_X509_push(chain, ca) == 0 ||
	    (p12 = PKCS12_create(pass, name, k, cert, chain, 0, 0, 0, 0, 0)) == NULL) {
		ssl_say("cannot make the PKCS#12 file");
		goto out;
	}
	rc = EX_CANTCREAT;
	snprintf(path, sizeof(path), "%s.key", base);
	if (write_pem(path, NULL, k, 0600, 1) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s.crt", base);
	if (write_pem(path, cert, NULL, 0644, 1) < 0)
		goto out;
	unsigned char *der = NULL;
	int dl = i2d_PKCS12(p12, &der);
	snprintf(path, sizeof(path), "%s.p12", base);
	if (dl <= 0 || access(path, F_OK) == 0 || write_owned(path, der, (size_t)dl, 0600, (uid_t)-1, (gid_t)-1) < 0) {
		if (dl > 0 && access(path, F_OK) == 0)
			say("%s exists already: not overwriting it", path);
		OPENSSL_free(der);
		goto out;
	}
	OPENSSL_free(der);
	rc = 0;
out:
	PKCS12_free(p12);
	sk_X509_free(chain);
	return rc;
}

/* One more entry at the end of ix; -1 when out of memory. */
static int index_add(struct index *ix, const char *address, const char *serial, const char *label, long long now,
                     int days)
{
	struct issued *ne = realloc(ix->e, (ix->n + 1) * sizeof(*ne));
	if (ne == NULL)
		return -1;
	ix->e = ne;
	struct issued *e = &ix->e[ix->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->address, sizeof(e->address), "%s", address);
	snprintf(e->serial, sizeof(e->serial), "%s", serial);
	snprintf(e->label, sizeof(e->label), "%s", label);
	e->created = now;
	e->not_after = now + (long long)days * 86400;
	return 0;
}

static int cmd_issue(const struct usercert_ctx *x, const char *address, const char *label, int days,
                     const char *outdir)
{
	const struct config *c = x->cfg;
	X509 *ca = NULL, *cert = NULL;
	EVP_PKEY *cakey = NULL, *k = NULL;
	struct index ix = { NULL, 0 };
	char serial[64], base[4400], pass[PFX_PASS_LEN + 1];
	int rc = EX_SOFTWARE;

	if (label == NULL || !file_label_ok(label)) {
		say("--label NAME is required: letters, digits, '-', '_' or '.', under 48 (it names the files, e.g. phone)");
		return EX_USAGE;
	}
	if (days < 1 || days > 3650) {
		say("--days must be 1 to 3650");
		return EX_USAGE;
	}
	if (c->client_ca == NULL || c->client_ca_key == NULL) {
		say("set [auth] client_ca and client_ca_key in %s first (then mailport user cert ca)", c->path);
		return EX_CONFIG;
	}
	if ((rc = load_ca(c, &ca, &cakey)) != 0)
		goto out;
	if (index_load(x->index, &ix) < 0) {
		rc = EX_CONFIG;
		goto out;
	}
	rc = EX_SOFTWARE;
	for (size_t i = 0; i < ix.n; i++)
		if (strcasecmp(ix.e[i].address, address) == 0 && strcmp(ix.e[i].label, label) == 0 && ix.e[i].revoked == 0) {
			say("%s has a certificate labelled %s already (serial %s): revoke it first, or choose another label",
			    address, label, ix.e[i].serial);
			rc = EX_USAGE;
			goto out;
		}
	long long now = (long long)time(NULL);
	if ((cert = make_client_cert(ca, cakey, address, days, serial, sizeof(serial), &k)) == NULL)
		goto out;
	snprintf(base, sizeof(base), "%s/%s-%s", outdir, address, label);
	pfx_password(pass);
	if ((rc = write_issued(base, cert, k, ca, address, label, pass)) != 0)
		goto out;
	rc = EX_SOFTWARE;
	if (index_add(&ix, address, serial, label, now, days) < 0)
		goto out;
	if (index_save(x->index, &ix, x->uid, x->gid) < 0) {
		rc = EX_CANTCREAT;
		goto out;
	}
	printf("certificate for %s (%s), serial %s, valid %d days:\n"
	       "  %s.crt and %s.key   PEM, for msmtp (tls_cert_file, tls_key_file), curl and mailport send --cert\n"
	       "  %s.p12   PKCS#12 for mail clients; its password, shown once: %s\n"
	       "It logs in when %s's line in %s says auth=certificate (the certificate alone, SASL EXTERNAL)\n"
	       "or auth=certificate+password (with the password too). Revoke it with:\n"
	       "  mailport user cert revoke %s %s\n",
	       address, label, serial, days, base, base, base, pass, address, c->users, address, label);
	explicit_bzero(pass, sizeof(pass));
	rc = 0;
out:
	free(ix.e);
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(k);
	EVP_PKEY_free(cakey);
	return rc;
}

static void time_words(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%d", &tm);
}

static int cmd_list(const struct usercert_ctx *x, const char *address)
{
	struct index ix;
	long long now = (long long)time(NULL);
	size_t shown = 0;

	if (index_load(x->index, &ix) < 0)
		return EX_CONFIG;
	for (size_t i = 0; i < ix.n; i++) {
		const struct issued *e = &ix.e[i];
		char made[16], until[16], rev[16];
		if (address != NULL && strcasecmp(e->address, address) != 0)
			continue;
		if (shown++ == 0)
			printf("%-32s %-16s %-32s %-10s %s\n", "MAILBOX", "LABEL", "SERIAL", "ISSUED", "STATE");
		time_words(e->created, made, sizeof(made));
		time_words(e->not_after, until, sizeof(until));
		time_words(e->revoked, rev, sizeof(rev));
		printf("%-32s %-16s %-32s %-10s %s%s\n", e->address, e->label, e->serial, made,
		       e->revoked ? "revoked " : e->not_after < now ? "expired " : "valid until ", e->revoked ? rev : until);
	}
	if (shown == 0)
		printf("no client certificates%s%s\n", address ? " for " : "", address ? address : "");
	free(ix.e);
	return 0;
}

static int cmd_revoke(const struct usercert_ctx *x, const char *address, const char *which)
{
	const struct config *c = x->cfg;
	struct index ix;
	X509 *ca = NULL;
	EVP_PKEY *cakey = NULL;
	int rc = EX_SOFTWARE, found = 0;

	if (c->client_ca == NULL || c->client_ca_key == NULL) {
		say("no client CA: set [auth] client_ca and client_ca_key in %s", c->path);
		return EX_CONFIG;
	}
	if (index_load(x->index, &ix) < 0)
		return EX_CONFIG;
	for (size_t i = 0; i < ix.n; i++) {
		struct issued *e = &ix.e[i];
		if (strcasecmp(e->address, address) == 0 && e->revoked == 0 &&
		    (strcasecmp(e->serial, which) == 0 || strcmp(e->label, which) == 0)) {
			e->revoked = (long long)time(NULL);
			found++;
		}
	}
	if (found == 0) {
		say("%s has no valid certificate with serial or label %s (mailport user cert list %s)", address, which,
		    address);
		rc = EX_DATAERR;
		goto out;
	}
	if ((ca = load_pem(c->client_ca, 0)) == NULL || (cakey = load_pem(c->client_ca_key, 1)) == NULL) {
		rc = EX_CONFIG;
		goto out;
	}
	/* the CRL first: once it is on disk the certificate is refused; the list is only a record */
	if (write_crl(x, &ix, ca, cakey) < 0 || index_save(x->index, &ix, x->uid, x->gid) < 0) {
		rc = EX_CANTCREAT;
		goto out;
	}
	printf("revoked %d certificate%s of %s (%s); the server refuses %s from the next connection on\n", found,
	       found == 1 ? "" : "s", address, which, found == 1 ? "it" : "them");
	rc = 0;
out:
	free(ix.e);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	return rc;
}

int usercert_run(const struct usercert_ctx *x, const char *verb, const char *address, const char *arg,
                 const char *label, int days, const char *outdir)
{
	if (strcmp(verb, "ca") == 0)
		return cmd_ca(x, days > 0 ? days : 3650);
	if (strcmp(verb, "issue") == 0)
		return cmd_issue(x, address, label, days > 0 ? days : 730, outdir ? outdir : ".");
	if (strcmp(verb, "list") == 0)
		return cmd_list(x, address);
	return cmd_revoke(x, address, arg);
}
