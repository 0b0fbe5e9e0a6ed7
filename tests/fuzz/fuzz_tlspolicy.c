/*
 * fuzz_tlspolicy.c - what the outbound TLS policy reads from strangers: an MTA-STS policy
 * document (fetched over HTTPS), its TXT record ("v=STSv1; id=..."), and TLSA
 * rdata from DNS. The first octet picks the parser. Invariants: a parsed policy has a known
 * mode, at most STS_MAX_MX NUL-terminated lower-case patterns and a bounded max_age, and an
 * enforce or testing policy names at least one mx; an id is 1 to 32 letters and digits; a
 * usable TLSA record is DANE-TA or DANE-EE with a digest of its type's length.
 */
#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "route/mtasts.h"
#include "route/dane.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sts_policy p;
	static struct dane_tlsa rr;
	char err[200], id[33];

	if (size == 0)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	switch (data[0] % 3) {
	case 0:
		if (sts_parse(text, len, &p, err, sizeof(err)) == 0) {
			assert(p.found && p.mode <= STS_MODE_ENFORCE && p.nmx <= STS_MAX_MX);
			assert(p.max_age >= 0 && p.max_age <= STS_MAX_AGE_LIMIT);
			assert(p.mode == STS_MODE_NONE || p.nmx > 0);
			for (size_t i = 0; i < p.nmx; i++) {
				assert(memchr(p.mx[i], '\0', sizeof(p.mx[i])) != NULL);
				for (const char *c = p.mx[i]; *c; c++)
					assert(!isupper((unsigned char)*c));
				(void)sts_mx_match(&p, p.mx[i][0] == '*' ? "a.b" : p.mx[i]);
			}
		} else
			assert(memchr(err, '\0', sizeof(err)) != NULL);
		break;
	case 1:
		if (sts_txt_id(text, len, id, sizeof(id)) == 0) {
			size_t n = strlen(id);
			assert(n >= 1 && n <= 32);
			for (size_t i = 0; i < n; i++)
				assert(isalnum((unsigned char)id[i]));
		}
		break;
	default:
		if (dane_parse_tlsa(data + 1, len, &rr)) {
			assert(rr.usage == 2 || rr.usage == 3);
			assert(rr.selector <= 1 && rr.mtype <= 2);
			assert(rr.mtype == 0 || rr.len == (rr.mtype == 1 ? 32u : 64u));
			assert(rr.len == len - 3);
		}
		break;
	}
	return 0;
}
