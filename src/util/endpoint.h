/*
 * endpoint.h - the address of a service we connect to, as configuration files write it:
 * unix:/PATH (or /PATH), HOST:PORT, [IPv6]:PORT, inet:HOST:PORT (Postfix's spelling). Pure.
 */
#ifndef MAILPORT_ENDPOINT_H
#define MAILPORT_ENDPOINT_H

#include <stddef.h>

/* spec into where: a socket path ("/...") or "HOST:PORT" (brackets kept). 0, or -1 with why
 * (words that follow the value in an error). */
int endpoint_parse(const char *spec, char *where, size_t wlen, const char **why);
/* A "HOST:PORT" from endpoint_parse into host (brackets removed) and port. 0 or -1. */
int endpoint_split(const char *where, char *host, size_t hostlen, int *port);

#endif
