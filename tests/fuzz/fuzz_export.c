/*
 * fuzz_export.c - a queue export stream as `mailport queue import` and the server read it
 * (queue/export.c). Invariants: a message's length is never more than the octets given nor
 * the cap, and does not change as more octets arrive; a message that parses formats again
 * into one that parses to the same envelope.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/export.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data, *why;
	long n = export_length(buf, size, 1 << 20);
	struct export_msg m, m2;
	char *store, *store2, *again;
	size_t len;

	assert(n <= (long)size);
	if (n <= 0)
		return 0;
	assert(export_length(buf, (size_t)n, 1 << 20) == n);
	if (export_parse(buf, (size_t)n, &m, &store, &why) != 0)
		return 0;
	again = export_format(&m, &len);
	assert(again != NULL);
	assert(export_length(again, len, 1 << 21) == (long)len);
	assert(export_parse(again, len, &m2, &store2, &why) == 0);
	assert(strcmp(m.origin, m2.origin) == 0 && strcmp(m.sender, m2.sender) == 0 && m.nrcpts == m2.nrcpts);
	assert(m.body_len == m2.body_len && memcmp(m.body, m2.body, m.body_len) == 0);
	for (size_t i = 0; i < m.nrcpts; i++)
		assert(strcmp(m.rcpts[i].target, m2.rcpts[i].target) == 0 && m.rcpts[i].fail_code == m2.rcpts[i].fail_code);
	free(m.rcpts);
	free(store);
	free(m2.rcpts);
	free(store2);
	free(again);
	return 0;
}
