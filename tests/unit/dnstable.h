/*
 * dnstable.h - msg/lookup.h's questions answered from a table, for the unit tests of the
 * sender checks (test_authres.c, test_spf.c): set table to rows ending in { NULL }; each
 * question asked is noted in queried ("T name", "A name" ...) for was_queried().
 */
#ifndef MAILPORT_TEST_DNSTABLE_H
#define MAILPORT_TEST_DNSTABLE_H

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "msg/lookup.h"

/* type: T(XT) A 6(AAAA) M(X) P(TR, the name is the address asked about) N(XDOMAIN) F(ail) */
struct rr { const char *name; char type; const char *value; };

static const struct rr *table;
static char queried[64][300];
static size_t nqueried;

static int find(const char *name, char type, const char **vals, size_t max, size_t *n)
{
	int exists = 0;

	*n = 0;
	if (nqueried < 64)
		snprintf(queried[nqueried++], sizeof(queried[0]), "%c %s", type, name);
	for (const struct rr *r = table; r->name; r++) {
		if (strcasecmp(r->name, name) != 0)
			continue;
		if (r->type == 'F')
			return LOOKUP_TEMP;
		exists = 1;
		if (r->type == type && *n < max)
			vals[(*n)++] = r->value;
	}
	return exists ? LOOKUP_OK : LOOKUP_NXDOMAIN;
}

static int t_txt(void *arg, const char *name, char *buf, size_t buflen, size_t *n)
{
	const char *v[16];
	size_t o = 0, k;
	int r = find(name, 'T', v, 16, &k);

	(void)arg;
	*n = 0;
	for (size_t i = 0; i < k && o + strlen(v[i]) + 1 < buflen; i++) {
		strcpy(buf + o, v[i]);
		o += strlen(v[i]) + 1;
		(*n)++;
	}
	return r;
}

static int t_addrs(void *arg, const char *name, int v6, char out[][LOOKUP_ADDR_MAX], size_t max, size_t *n)
{
	const char *v[16];
	int r = find(name, v6 ? '6' : 'A', v, max < 16 ? max : 16, n);

	(void)arg;
	for (size_t i = 0; i < *n; i++)
		snprintf(out[i], LOOKUP_ADDR_MAX, "%s", v[i]);
	return r;
}

static int t_mx(void *arg, const char *name, char out[][LOOKUP_NAME_MAX], size_t max, size_t *n)
{
	const char *v[16];
	int r = find(name, 'M', v, max < 16 ? max : 16, n);

	(void)arg;
	for (size_t i = 0; i < *n; i++)
		snprintf(out[i], LOOKUP_NAME_MAX, "%s", v[i]);
	return r;
}

static int t_ptr(void *arg, const char *ip, char out[][LOOKUP_NAME_MAX], size_t max, size_t *n)
{
	const char *v[16];
	int r = find(ip, 'P', v, max < 16 ? max : 16, n);

	(void)arg;
	for (size_t i = 0; i < *n; i++)
		snprintf(out[i], LOOKUP_NAME_MAX, "%s", v[i]);
	return r;
}

static const struct lookup LK = { NULL, t_txt, t_addrs, t_mx, t_ptr };

static inline int was_queried(const char *what)
{
	for (size_t i = 0; i < nqueried; i++)
		if (strcmp(queried[i], what) == 0)
			return 1;
	return 0;
}

#endif
