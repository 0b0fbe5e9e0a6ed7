/*
 * netmatch.c - see netmatch.h.
 */
#include "netmatch.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct net {
	int v6;
	unsigned char addr[16];
	unsigned prefix;
};

struct netmatch {
	size_t n;
	struct net nets[];
};

/* a.b.c.d, a.b.c.d/n, an IPv6 address, or one with /n. */
static int parse_one(const char *w, size_t len, struct net *out)
{
	char text[INET6_ADDRSTRLEN + 8];
	char *slash, *end;

	if (len == 0 || len >= sizeof(text))
		return -1;
	memcpy(text, w, len);
	text[len] = '\0';
	memset(out, 0, sizeof(*out));
	if ((slash = strchr(text, '/')) != NULL)
		*slash = '\0';
	if (inet_pton(AF_INET, text, out->addr) == 1)
		out->prefix = 32;
	else if (inet_pton(AF_INET6, text, out->addr) == 1) {
		out->v6 = 1;
		out->prefix = 128;
	} else
		return -1;
	if (slash != NULL) {
		unsigned long p = strtoul(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || p > out->prefix)
			return -1;
		out->prefix = (unsigned)p;
	}
	return 0;
}

struct netmatch *netmatch_parse(const char *list, char *err, size_t errlen)
{
	size_t cap = 1;
	const char *p;
	struct netmatch *m;

	for (p = list; *p; p++)
		cap += *p == ' ' || *p == ',' || *p == '\t';
	if ((m = calloc(1, sizeof(*m) + cap * sizeof(struct net))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (p = list; *p;) {
		size_t len = strcspn(p, " ,\t");
		if (len > 0 && parse_one(p, len, &m->nets[m->n++]) < 0) {
			snprintf(err, errlen, "\"%.*s\" is not an address or network (a.b.c.d/n, x:y::/n)", (int)len, p);
			free(m);
			return NULL;
		}
		p += len;
		p += strspn(p, " ,\t");
	}
	return m;
}

static int in_net(const struct net *n, const unsigned char *a)
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;

	if (memcmp(n->addr, a, full) != 0)
		return 0;
	return rest == 0 || ((n->addr[full] ^ a[full]) & (0xff << (8 - rest))) == 0;
}

int netmatch_match(const struct netmatch *m, const char *ip)
{
	unsigned char a[16];
	int v6;

	if (m == NULL)
		return 0;
	if (inet_pton(AF_INET, ip, a) == 1)
		v6 = 0;
	else if (inet_pton(AF_INET6, ip, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		v6 = 1;
		if (memcmp(a, mapped, 12) == 0) {
			memmove(a, a + 12, 4);
			v6 = 0;
		}
	} else
		return 0;
	for (size_t i = 0; i < m->n; i++)
		if (m->nets[i].v6 == v6 && in_net(&m->nets[i], a))
			return 1;
	return 0;
}

void netmatch_free(struct netmatch *m) { free(m); }
