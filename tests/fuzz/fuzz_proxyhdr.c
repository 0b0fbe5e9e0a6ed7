/*
 * fuzz_proxyhdr.c - PROXY protocol headers from a balancer (server/proxyhdr.c). Invariants: the
 * length is never more than the octets that decide it may claim (PROXYHDR_MAX), and once known
 * it does not change as more octets arrive; a parsed header names addresses that are
 * NUL-terminated within bounds.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "server/proxyhdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = "";
	long first = 0;

	for (size_t i = 1; i <= size; i++) {
		long n = proxyhdr_length(data, i, &why);
		assert(n <= PROXYHDR_MAX);
		if (n != 0) {
			first = n;
			break;
		}
	}
	if (first <= 0 || (size_t)first > size)
		return 0;
	assert(proxyhdr_length(data, size, &why) == first);
	struct proxyhdr h;
	if (proxyhdr_parse(data, (size_t)first, &h, &why) == 0 && !h.local) {
		assert(memchr(h.src, '\0', sizeof(h.src)) != NULL);
		assert(memchr(h.dst, '\0', sizeof(h.dst)) != NULL);
		assert(h.src_port <= 65535 && h.dst_port <= 65535);
	}
	return 0;
}
