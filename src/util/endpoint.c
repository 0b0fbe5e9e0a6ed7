/*
 * endpoint.c - addresses of services we connect to; see endpoint.h.
 */
#include "endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* sockaddr_un's sun_path, less its NUL */
#define UNIX_PATH_MAX 107

int endpoint_parse(const char *spec, char *where, size_t wlen, const char **why)
{
	const char *colon;

	if (strncmp(spec, "unix:", 5) == 0 || spec[0] == '/') {
		if (strncmp(spec, "unix:", 5) == 0)
			spec += 5;
		if (spec[0] != '/') {
			*why = "needs an absolute socket path (unix:/run/...)";
			return -1;
		}
		if (strlen(spec) > UNIX_PATH_MAX) {
			*why = "the socket path is too long";
			return -1;
		}
	} else {
		if (strncmp(spec, "inet:", 5) == 0)
			spec += 5;
		colon = strrchr(spec, ':');
		if (colon == NULL || colon == spec || colon[1] == '\0' || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
		    atoi(colon + 1) < 1 || atoi(colon + 1) > 65535) {
			*why = "expected unix:/PATH or HOST:PORT";
			return -1;
		}
		if ((spec[0] == '[' && colon[-1] != ']') || (spec[0] != '[' && memchr(spec, ':', (size_t)(colon - spec)))) {
			*why = "an IPv6 address is written [ADDRESS]:PORT";
			return -1;
		}
	}
	if (strlen(spec) >= wlen) {
		*why = "the address is too long";
		return -1;
	}
	snprintf(where, wlen, "%s", spec);
	return 0;
}

int endpoint_split(const char *where, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(where, ':');
	size_t n;

	if (where[0] == '/' || colon == NULL)
		return -1;
	n = (size_t)(colon - where);
	if (where[0] == '[' && n >= 2 && where[n - 1] == ']') {
		where++;
		n -= 2;
	}
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, where, n);
	host[n] = '\0';
	*port = atoi(colon + 1);
	return 0;
}
