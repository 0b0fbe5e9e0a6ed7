/*
 * addrlist.h - RFC 5322 address lists as `sendmail -t` needs them: the addr-specs in To, Cc
 * and Bcc values, with display names (quoted, or encoded words left as they are), comments,
 * groups ("team: a@x, b@y;") and obsolete forms tolerated. Pure; no allocation.
 */
#ifndef MAILPORT_ADDRLIST_H
#define MAILPORT_ADDRLIST_H

#include <stddef.h>

/* An address longer than this is malformed: twice RFC 5321 4.5.3.1.3's 256-octet path, room
 * for the comments and folding inside an addr-spec that are dropped from it. */
#define ADDRLIST_ADDR_MAX 512

/* Call fn(arg, addr, len) for each address in the (unfolded or folded) header value: the
 * addr-spec without comments or folding white space. Quoted strings and comments are opaque:
 * a '<', '@', ',' or ':' inside "..." or (...) is text, not syntax. Returns the number found,
 * or -1 when the value is malformed (unbalanced quote, comment or angle bracket, an address
 * longer than ADDRLIST_ADDR_MAX); addresses before the error have been reported. */
int addrlist_parse(const char *value, size_t len, void (*fn)(void *arg, const char *addr, size_t len),
                   void *arg);

/* Walk the header section of a message (CRLF lines; stops at the empty line). For each field
 * fn(arg, name, namelen, value, valuelen, start, end) is called, value including folds; start/end
 * are offsets of the whole field (with its CRLFs) in msg. Returns the offset of the body. */
size_t header_walk(const char *msg, size_t len,
                   void (*fn)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen,
                              size_t start, size_t end),
                   void *arg);

#endif
