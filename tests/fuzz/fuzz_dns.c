/*
 * fuzz_dns.c - what we do with DNS answers: MX and SRV rdata as libunbound hands it over
 * (uncompressed wire format), names decoded by dns_wire_name() and SRV records ordered by
 * dns_srv_order() (RFC 2782). The input is a sequence of SRV rdata records, each prefixed by
 * its length octet. Invariants: a decoded name is NUL-terminated, of host-name characters,
 * with no empty label (except the root "."), and never claims more octets than given; the
 * order is sorted by priority and is a permutation of the records.
 */
#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "net/dns.h"

static unsigned rnd_state;

static unsigned fuzz_rnd(unsigned k)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return k ? rnd_state % k : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_srv s[32];
	size_t n = 0, i = 0;
	unsigned sum_port = 0;

	rnd_state = size ? data[0] : 0;
	while (i < size && n < 32) {
		size_t len = data[i++];
		if (len > size - i)
			len = size - i;
		const unsigned char *p = data + i;
		i += len;
		if (len < 7)
			continue;
		struct dns_srv *r = &s[n];
		size_t used = dns_wire_name(p + 6, len - 6, r->target, sizeof(r->target));
		if (used == 0)
			continue;
		assert(used <= len - 6);
		size_t tl = strnlen(r->target, sizeof(r->target));
		assert(tl < sizeof(r->target) && tl > 0);
		if (strcmp(r->target, ".") != 0) {
			assert(r->target[0] != '.' && r->target[tl - 1] != '.' && strstr(r->target, "..") == NULL);
			for (size_t k = 0; k < tl; k++)
				assert(isalnum((unsigned char)r->target[k]) || strchr("-_.", r->target[k]));
		}
		r->priority = (unsigned)(p[0] << 8 | p[1]);
		r->weight = (unsigned)(p[2] << 8 | p[3]);
		r->port = (unsigned)(p[4] << 8 | p[5]);
		sum_port += r->port;
		n++;
	}
	dns_srv_order(s, n, fuzz_rnd);
	unsigned after = 0;
	for (size_t k = 0; k < n; k++) {
		after += s[k].port;
		assert(k == 0 || s[k - 1].priority <= s[k].priority);
	}
	assert(after == sum_port);
	return 0;
}
