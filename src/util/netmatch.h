/*
 * netmatch.h - lists of networks ("127.0.0.0/8 ::1 192.0.2.7 2001:db8::/32"), parsed once,
 * matched against numeric peer addresses. An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) matches
 * the IPv4 networks.
 */
#ifndef MAILPORT_NETMATCH_H
#define MAILPORT_NETMATCH_H

#include <stddef.h>

struct netmatch;

/* Space-, comma- or tab-separated; an empty list matches nothing. NULL on a bad entry, with
 * err naming it (or out of memory). */
struct netmatch *netmatch_parse(const char *list, char *err, size_t errlen);
int netmatch_match(const struct netmatch *m, const char *ip);
void netmatch_free(struct netmatch *m);

#endif
