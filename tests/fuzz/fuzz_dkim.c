/*
 * fuzz_dkim.c - DKIM signing over any message (msg/dkimsign.h) and the From: domain parser: what a
 * submitting client controls. Invariants: no crash; the From: domain is lower case, without
 * WSP or '@'; a signature, when made, is one or more DKIM-Signature fields with CRLF line
 * ends only, folded with a tab, and with the body hash of the same message fed whole.
 */
#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "msg/dkimsign.h"

static struct dkim_keys *keys(void)
{
	static struct dkim_keys *k;
	static char path[64];

	if (k != NULL)
		return k;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *pk = NULL;
	snprintf(path, sizeof(path), "/tmp/mailport-fuzz-dkim-%d.key", (int)getpid());
	if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pk) != 1)
		abort();
	FILE *fp = fopen(path, "w");
	if (fp == NULL || PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL) != 1)
		abort();
	fclose(fp);
	chmod(path, 0600);
	struct dkim_key_conf kc = { "example.org", "f", path, 1, 1 };
	char err[200];
	unsigned line;
	k = dkim_keys_load(&kc, 1, err, sizeof(err), &line);
	unlink(path);
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

static char *sign(const char *p, size_t n, size_t step)
{
	char err[200];
	struct dkim_signer *s = dkim_signer_new(keys(), "example.org", "f", err, sizeof(err));
	char *sig = NULL;
	int ok = 1;

	assert(s != NULL);
	for (size_t o = 0; o < n && ok; o += step)
		ok = dkim_signer_feed(s, p + o, n - o < step ? n - o : step) == 0;
	if (ok)
		sig = dkim_sign_finish(s, err, sizeof(err));
	dkim_signer_free(s);
	return sig;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dom[256];
	const char *p = (const char *)data + (size > 0);
	size_t n = size > 0 ? size - 1 : 0, step = size > 0 ? (size_t)data[0] % 64 + 1 : 1;

	if (dkim_from_domain(p, n, dom, sizeof(dom)) == 0)
		for (const char *c = dom; *c; c++)
			assert(!isupper((unsigned char)*c) && *c != '@' && *c != ' ' && *c != '\t' && *c != '\r' && *c != '\n');
	char *a = sign(p, n, step), *b = sign(p, n, n ? n : 1);
	assert((a == NULL) == (b == NULL));
	if (a != NULL) {
		assert(strncmp(a, "DKIM-Signature: v=1; ", 21) == 0);
		size_t len = strlen(a);
		assert(len >= 2 && a[len - 2] == '\r' && a[len - 1] == '\n');
		for (size_t i = 0; i < len; i++)
			if (a[i] == '\n')
				assert(i > 0 && a[i - 1] == '\r' && (i + 1 == len || a[i + 1] == '\t' || a[i + 1] == 'D'));
		const char *ba = strstr(a, "bh="), *bb = strstr(b, "bh=");
		assert(ba && bb && strncmp(ba, bb, 47) == 0);
	}
	free(a);
	free(b);
	return 0;
}
