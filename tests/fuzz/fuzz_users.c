/*
 * fuzz_users.c - the users file (address:crypt-hash[:alias,...] per line) and lookups in
 * what it loads. Invariants: users or errors, never both; every error names file and line;
 * a user found by lookup or resolve is one of the loaded ones; no crash, leak or hang.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "auth/users.h"
#include "memfile.h"
#include "util/errlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct errlist errs = { 0 };
	int fd;

	if ((fd = memfile(data, size, path, sizeof(path))) < 0)
		return 0;
	struct users *u = users_load(path, &errs);
	assert((u != NULL) == (errs.n == 0));
	for (size_t i = 0; i < errs.n; i++)
		assert(strncmp(errs.msgs[i], path, strlen(path)) == 0 && errs.msgs[i][strlen(path)] == ':');
	if (u != NULL) {
		/* Every line's first field looked up again, and with a +tag. */
		const char *p = (const char *)data, *end = p + size;
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p)), *colon;
			size_t len = (size_t)((nl ? nl : end) - p);
			if ((colon = memchr(p, ':', len)) != NULL && colon - p < 200) {
				char addr[256];
				memcpy(addr, p, (size_t)(colon - p));
				addr[colon - p] = '\0';
				(void)users_lookup(u, addr, strlen(addr));
				(void)users_resolve(u, addr, '+');
			}
			p += len + 1;
		}
		users_free(u);
	}
	errlist_free(&errs);
	close(fd);
	return 0;
}
