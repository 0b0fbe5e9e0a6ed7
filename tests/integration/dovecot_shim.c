/*
 * dovecot_shim.c - LD_PRELOAD for the Dovecot the tests unpack (dovecot.py): Dovecot loads its
 * modules (the OpenSSL one, mail plugins) from the compiled-in /usr/lib/dovecot; this sends
 * those opendir() and dlopen() calls to the unpacked tree named by $MAILPORT_DOVECOT_ROOT
 * instead, so that no file is installed on the machine and no mount namespace is needed.
 * Test scaffolding only; never part of mailport.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char prefix[] = "/usr/lib/dovecot";

static const char *map(const char *p, char *buf, size_t len)
{
	const char *root = getenv("MAILPORT_DOVECOT_ROOT");
	size_t n = sizeof(prefix) - 1;

	if (p == NULL || root == NULL || strncmp(p, prefix, n) != 0 || (p[n] != '/' && p[n] != '\0'))
		return p;
	snprintf(buf, len, "%s%s", root, p);
	return buf;
}

DIR *opendir(const char *name)
{
	static DIR *(*real)(const char *);
	char buf[4096];

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "opendir");
	return real(map(name, buf, sizeof(buf)));
}

void *dlopen(const char *file, int flags)
{
	static void *(*real)(const char *, int);
	char buf[4096];

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "dlopen");
	return real(map(file, buf, sizeof(buf)), flags);
}
