/*
 * targetspec.c - the [server] maildir setting's syntax; see targetspec.h.
 */
#include "targetspec.h"

#include <string.h>

#include "../util/endpoint.h"

int target_has_maildir(const char *spec)
{
	return strcmp(spec, "discard:") != 0 && strncmp(spec, "lmtp:", 5) != 0;
}

int lmtp_parse(const char *spec, char *where, size_t wlen, const char **why)
{
	const char *w;

	if (endpoint_parse(spec, where, wlen, &w) == 0)
		return 0;
	*why = strncmp(spec, "unix:", 5) == 0 ? "lmtp:unix: needs an absolute socket path (lmtp:unix:/run/dovecot/lmtp)"
	                                      : "expected lmtp:unix:/PATH or lmtp:HOST:PORT (e.g. lmtp:unix:/run/dovecot/lmtp)";
	return -1;
}
