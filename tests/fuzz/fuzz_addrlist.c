/*
 * fuzz_addrlist.c - `send -t` header handling: the header walker and the address-list parser
 * on arbitrary input. Invariants: every field lies inside the input, fields do not overlap and
 * come in order, the body offset is within the input, every address is non-empty and holds '@'.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "msg/addrlist.h"

struct walk {
	const char *base;
	size_t len, last_end;
};

static void on_addr(void *arg, const char *addr, size_t len)
{
	(void)arg;
	assert(len > 0 && memchr(addr, '@', len) != NULL);
}

static void on_field(void *arg, const char *name, size_t nlen, const char *value, size_t vlen, size_t start,
                     size_t end)
{
	struct walk *w = arg;

	assert(start >= w->last_end && start < end && end <= w->len);
	assert(name == w->base + start && nlen < end - start);
	assert(value >= w->base && value + vlen <= w->base + w->len);
	w->last_end = end;
	(void)addrlist_parse(value, vlen, on_addr, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct walk w = { (const char *)data, size, 0 };
	size_t body = header_walk((const char *)data, size, on_field, &w);

	assert(body <= size);
	(void)addrlist_parse((const char *)data, size, on_addr, NULL);
	return 0;
}
