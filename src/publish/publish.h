/*
 * publish.h - the server's own settings, in the formats mail clients look for, so nobody types
 * "465, SSL/TLS" by hand: Thunderbird's autoconfig (config-v1.1.xml), Outlook's Autodiscover
 * (POX), Apple's configuration profile (.mobileconfig), and the MTA-STS policy of RFC 8461.
 * Pure: settings in, a document out (into a FILE *, usually an open_memstream); the one input
 * from the network, the Autodiscover request, is parsed here (libxml2, no network, no
 * entities) and fuzzed. Sending is always 465 implicit TLS first, then 587 STARTTLS (RFC 8314
 * 3.3 prefers implicit TLS); never plaintext, always a password login with the full address.
 */
#ifndef MAILPORT_PUBLISH_H
#define MAILPORT_PUBLISH_H

#include <stddef.h>
#include <stdio.h>

struct publish_settings {
	const char *hostname;           /* the server's name: in its certificate, what clients use */
	unsigned port465, port587;      /* the ports we listen on for each; 0 = not offered */
	const char *imap_host;          /* [https] imap, NULL = none */
	unsigned imap_port;             /* 993 implicit TLS, else STARTTLS */
};

/* "host:port" into host and port; 0, or -1 when malformed. */
int publish_parse_hostport(const char *text, char *host, size_t hostlen, unsigned *port);

/* Is email a plain address we would publish settings for (local@domain, printable, no markup
 * characters)? Its domain (after the last '@') in *domain. 1 or 0. */
int publish_email_ok(const char *email, const char **domain);

/* Thunderbird autoconfig for domain (RFC-less: the format at wiki.mozilla.org/Thunderbird:
 * Autoconfiguration:ConfigFileFormat): the user name is %EMAILADDRESS%. 0 or -1. */
int publish_autoconfig(const struct publish_settings *ps, const char *domain, FILE *out);

/* The address in an Autodiscover POX request (<Request><EMailAddress>) into email. 0, or -1
 * when the body is not such a request. */
int publish_autodiscover_request(const char *body, size_t len, char *email, size_t emaillen);
/* The POX response for email (responseschema 2006a): SMTP and, when configured, IMAP. 0 or -1. */
int publish_autodiscover(const struct publish_settings *ps, const char *email, FILE *out);

/* An unsigned Apple configuration profile with one com.apple.mail.managed payload for email
 * (needs an IMAP server: Apple's mail accounts have one). Its UUIDs derive from the address,
 * so installing it again replaces the account instead of adding another. 0, or -1 (no IMAP). */
int publish_mobileconfig(const struct publish_settings *ps, const char *email, FILE *out);

/* The MTA-STS policy (RFC 8461 3.2): version, mode, mx (the server's own name), max_age. */
int publish_mtasts(const char *mode, unsigned max_age, const char *mx, FILE *out);

#endif
