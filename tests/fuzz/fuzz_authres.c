/*
 * fuzz_authres.c - port 25's sender checks over what a remote sender controls: the message
 * (its DKIM-Signature fields, header block and body, fed in chunks) and the DNS records of its
 * own domains (SPF, DKIM key and DMARC records, all answered here from the input). The input is
 * the record text, a NUL, then the message. Invariants: no crash; the Authentication-Results
 * field is CRLF-terminated lines of printable ASCII and tabs, folded; stripping forged fields
 * never grows the header block.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/authres.h"
#include "fuzzdns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	char *rec = malloc(nul ? (size_t)(nul - data) + 1 : 1);
	size_t rl = nul ? (size_t)(nul - data) : 0;
	const char *msg = nul ? (const char *)nul + 1 : (const char *)data;
	size_t ml = nul ? size - rl - 1 : size;

	if (rec == NULL)
		return 0;
	memcpy(rec, data, rl);
	rec[rl] = '\0';
	fuzz_record = rec;

	unsigned dns_terms;
	char why[200], kt[16], p[2048];
	struct dmarc_record dr;
	(void)spf_record_syntax(rec, &dns_terms, why, sizeof(why));
	(void)dmarc_record_parse(rec, &dr, why, sizeof(why));
	(void)dkim_key_record(rec, kt, sizeof(kt), p, sizeof(p), why, sizeof(why));

	struct dkim_verifier *v = dkim_verifier_new();
	size_t step = ml % 7 + 1;
	for (size_t o = 0; o < ml; o += step)
		dkim_verifier_feed(v, msg + o, ml - o < step ? ml - o : step);
	struct lookup lk = { NULL, f_txt, f_addrs, f_names, f_names };
	struct authres_in in = { "mx.example.net", ml % 2 ? "2001:db8::7" : "192.0.2.7", "helo.example",
	                         ml % 3 ? "a@example.org" : "" };
	struct authres r;
	authres_evaluate(&lk, v, &in, 1800000000LL, (unsigned)(ml % 100), &r);
	char *h = authres_header(&in, &r);
	if (h != NULL) {
		for (const char *q = h; *q; q++) {
			unsigned char c = (unsigned char)*q;
			assert(c == '\t' || (c >= 32 && c < 127) || (c == '\r' && q[1] == '\n') || (c == '\n' && q > h && q[-1] == '\r'));
		}
		assert(strlen(h) >= 2 && strcmp(h + strlen(h) - 2, "\r\n") == 0);
		free(h);
	}
	char sum[600];
	authres_summary(&r, sum, sizeof(sum));
	dkim_verifier_free(v);

	char *copy = malloc(ml + 1);
	if (copy != NULL) {
		memcpy(copy, msg, ml);
		unsigned removed;
		size_t nl = authres_strip_own(copy, ml, "mx.example.net", &removed);
		assert(nl <= ml);
		free(copy);
	}
	free(rec);
	return 0;
}
