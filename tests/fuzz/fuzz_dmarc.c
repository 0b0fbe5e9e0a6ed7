/*
 * fuzz_dmarc.c - the DMARC record parser (RFC 7489 6.3, 6.4) and policy discovery (6.6.3) over
 * what a domain owner publishes. The input is one or more TXT records separated by NULs: the
 * first is parsed alone, whole and from every suffix of its first 16 octets; then all of them
 * answer the lookups of _dmarc.sub.example.org and _dmarc.example.org (some missing or failing,
 * by the input's length). Invariants: no crash or over-read; a record parsed is
 * p=none|quarantine|reject, sp empty or one of those, pct at most 100; the parse is the same
 * twice; the verdict is a known result with a known policy, and reject only for a failure under
 * p=reject.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/dmarc.h"

static const char *answers;
static size_t answers_len, input_len;

static int f_txt(void *arg, const char *name, char *buf, size_t buflen, size_t *n)
{
	size_t o = 0;

	(void)arg;
	*n = 0;
	/* the organizational domain sometimes has nothing, sometimes fails */
	if (strcmp(name, "_dmarc.example.org") == 0 && input_len % 5 == 1)
		return LOOKUP_NXDOMAIN;
	if (strcmp(name, "_dmarc.example.org") == 0 && input_len % 5 == 2)
		return LOOKUP_TEMP;
	if (strcmp(name, "_dmarc.sub.example.org") == 0 && input_len % 3 == 0)
		return LOOKUP_NXDOMAIN;
	for (const char *p = answers; p < answers + answers_len; p += strlen(p) + 1) {
		size_t l = strlen(p);
		if (o + l + 1 > buflen)
			break;
		memcpy(buf + o, p, l + 1);
		o += l + 1;
		(*n)++;
	}
	return LOOKUP_OK;
}

static void check_record(const struct dmarc_record *r)
{
	static const char *const words[] = { "none", "quarantine", "reject" };
	int p_ok = 0, sp_ok = r->sp[0] == '\0';

	for (size_t i = 0; i < 3; i++) {
		p_ok |= strcmp(r->p, words[i]) == 0;
		sp_ok |= strcmp(r->sp, words[i]) == 0;
	}
	assert(p_ok && sp_ok);
	assert(r->pct <= 100);
	assert(r->adkim_strict == 0 || r->adkim_strict == 1);
	assert(r->aspf_strict == 0 || r->aspf_strict == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), why[200];
	struct dmarc_record r, again;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	answers = buf;
	answers_len = size + 1;
	input_len = size;

	for (size_t skip = 0; skip <= 16 && skip <= strlen(buf); skip++) {
		int ret = dmarc_record_parse(buf + skip, &r, why, sizeof(why));
		assert(ret >= -1 && ret <= 1);
		assert(memchr(why, '\0', sizeof(why)) != NULL);
		if (ret >= 0) {
			check_record(&r);
			assert(dmarc_record_parse(buf + skip, &again, why, sizeof(why)) == ret);
			assert(memcmp(&r, &again, sizeof(r)) == 0);
		}
	}

	struct lookup lk = { NULL, f_txt, NULL, NULL, NULL };
	struct dkim_vsig sig = { .result = DKIM_V_PASS, .domain = "other.example.org" };
	static const char *const from[] = { "sub.example.org", "example.org", "Sub.Example.ORG." };
	struct dmarc_eval e;
	dmarc_check_authors(&lk, from, 1 + size % 3, size % 2 ? "mail.example.org" : "evil.example", (int)(size % 4 == 0),
	                    &sig, size % 7 == 0, (unsigned)(size % 100), &e);
	assert(e.result <= DMARC_PERMERROR);
	assert(e.policy[0] == '\0' || !strcmp(e.policy, "none") || !strcmp(e.policy, "quarantine") ||
	       !strcmp(e.policy, "reject"));
	assert(!e.reject || (e.result == DMARC_FAIL && !strcmp(e.policy, "reject")));
	assert(e.nauthors == 1 + size % 3);
	assert(memchr(e.why, '\0', sizeof(e.why)) != NULL);
	free(buf);
	return 0;
}
