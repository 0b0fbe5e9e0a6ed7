/*
 * cmd_dkim.c - `mailport dkim keygen DOMAIN SELECTOR`: a signing key (OpenSSL), written private
 * and owned by the server's user, and the TXT record to publish for it.
 */
#include "cmd_dkim.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../conf/config.h"
#include "../msg/dkimsign.h"
#include "../util/errlist.h"
#include "../util/fsutil.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: mailport dkim keygen DOMAIN SELECTOR [--type rsa|ed25519] [--dir DIR] [--config FILE]\n"
	        "\n"
	        "Make a DKIM signing key for DOMAIN under SELECTOR: DIR/DOMAIN.SELECTOR.key (default DIR\n"
	        "/etc/mailport/dkim), mode 0600, owned by the server's user (the [server] user of FILE when\n"
	        "given); then print the TXT record to publish and the [dkim] line to add. rsa is 2048 bits\n"
	        "(every verifier knows it); ed25519 (RFC 8463) is small and fast: sign with both, side by\n"
	        "side. An existing key file is never overwritten.\n");
}

static EVP_PKEY *make_key(int ed25519)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(ed25519 ? EVP_PKEY_ED25519 : EVP_PKEY_RSA, NULL);
	EVP_PKEY *pk = NULL;

	if (ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1 &&
	    (ed25519 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) == 1) && EVP_PKEY_keygen(ctx, &pk) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

int dkim_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' }, { "dir", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *type = "rsa", *dir = "/etc/mailport/dkim", *config = NULL, *owner = NULL;
	char path[4096], p[2048], err[300];
	const char *ktype;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 't': type = optarg ? optarg : type; break;
		case 'd': dir = optarg ? optarg : dir; break;
		case 'c': config = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (argc - optind != 3 || strcmp(argv[optind], "keygen") != 0 ||
	    (strcmp(type, "rsa") != 0 && strcmp(type, "ed25519") != 0)) {
		usage(stderr);
		return EX_USAGE;
	}
	const char *domain = argv[optind + 1], *selector = argv[optind + 2];
	if (strspn(selector, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != strlen(selector) ||
	    strchr(domain, '/') != NULL || domain[0] == '.' || domain[0] == '\0' || selector[0] == '\0') {
		fprintf(stderr, "mailport dkim: \"%s\" \"%s\" is not a domain and a selector (letters, digits, -)\n",
		        domain, selector);
		return EX_USAGE;
	}
	struct config *cfg = NULL;
	if (config != NULL) {
		struct errlist errs = { 0 };
		if ((cfg = config_load(config, &errs)) == NULL) {
			errlist_print(&errs, stderr);
			errlist_free(&errs);
			return EX_CONFIG;
		}
		errlist_free(&errs);
		owner = cfg->user;
	}
	snprintf(path, sizeof(path), "%s/%s.%s.key", dir, domain, selector);
	EVP_PKEY *pk = make_key(strcmp(type, "ed25519") == 0);
	int fd = -1, rc = EX_CANTCREAT;
	FILE *fp = NULL;
	if (pk == NULL) {
		fprintf(stderr, "mailport dkim: OpenSSL could not make the key\n");
		goto out;
	}
	struct stat dst;
	int made_dir = stat(dir, &dst) != 0;
	struct passwd *pw = owner ? getpwnam(owner) : NULL;
	if (owner != NULL && pw == NULL) {
		fprintf(stderr, "mailport dkim: the server's user %s does not exist\n", owner);
		goto out;
	}
	/* A directory made here is the server's too, or it could not reach the key in it. */
	if (fs_mkdir_p(dir, 0750) < 0 || (made_dir && pw != NULL && chown(dir, pw->pw_uid, pw->pw_gid) != 0) ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "mailport dkim: %s: %s%s\n", path, strerror(errno),
		        errno == EEXIST ? " (a key is never overwritten: choose a new selector to rotate)" : "");
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (PEM_write_PKCS8PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL) != 1 || fflush(fp) != 0 || fsync(fd) != 0) {
		fprintf(stderr, "mailport dkim: cannot write %s\n", path);
		fclose(fp);
		unlink(path);
		goto out;
	}
	fclose(fp);
	if (pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) != 0) {
		fprintf(stderr, "mailport dkim: cannot give %s to the user %s: %s\n", path, owner, strerror(errno));
		unlink(path);
		goto out;
	}
	(void)fs_fsync_parent(path);
	if (dkim_key_public(path, p, sizeof(p), &ktype, err, sizeof(err)) != 0) {
		fprintf(stderr, "mailport dkim: %s\n", err);
		goto out;
	}
	printf("; the key: %s (%s%s)\n", path, ktype, strcmp(ktype, "rsa") == 0 ? ", 2048 bits" : "");
	printf("; publish this record in the zone of %s:\n", domain);
	/* A TXT string is at most 255 octets (RFC 1035 3.3.14): a 2048-bit key takes two. */
	printf("%s._domainkey.%s. 3600 IN TXT (\"v=DKIM1; k=%s; \"", selector, domain, ktype);
	for (size_t o = 0, n = strlen(p); o < n; o += 200)
		printf("\n    \"%s%.200s\"", o == 0 ? "p=" : "", p + o);
	printf(" )\n; and add to the [dkim] section of the configuration:\nsign = %s %s %s\n", domain, selector, path);
	rc = 0;
out:
	EVP_PKEY_free(pk);
	config_free(cfg);
	return rc;
}
