/*
 * publish.c - autoconfig, Autodiscover, Apple profile and MTA-STS documents (publish.h).
 */
#include "publish.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

int publish_parse_hostport(const char *text, char *host, size_t hostlen, unsigned *port)
{
	const char *colon = strrchr(text, ':');
	char *end;

	if (colon == NULL || colon == text || (size_t)(colon - text) >= hostlen)
		return -1;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || p == 0 || p > 65535 || colon[1] == '\0')
		return -1;
	for (const char *c = text; c < colon; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '.'))
			return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	*port = (unsigned)p;
	return 0;
}

int publish_email_ok(const char *email, const char **domain)
{
	const char *at = strrchr(email, '@');
	size_t n = strlen(email);

	if (at == NULL || at == email || at[1] == '\0' || n > 254)
		return 0;
	for (const char *c = email; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f || strchr("<>&\"'\\()[],;:", *c) != NULL)
			return 0;
	for (const char *c = at + 1; *c; c++)
		if (*c == '@')
			return 0;
	*domain = at + 1;
	return 1;
}

/* Text for an XML element or attribute: the five markup characters escaped. */
static void xml_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&apos;", out); break;
		default: fputc(*s, out);
		}
	}
}

/* ---- Thunderbird ------------------------------------------------------------------------ */

static void tb_server(FILE *out, const char *kind, const char *type, const char *host, unsigned port, int implicit)
{
	fprintf(out, "    <%s type=\"%s\">\n      <hostname>", kind, type);
	xml_text(out, host);
	fprintf(out, "</hostname>\n      <port>%u</port>\n      <socketType>%s</socketType>\n"
	        "      <authentication>password-cleartext</authentication>\n"
	        "      <username>%%EMAILADDRESS%%</username>\n    </%s>\n", port, implicit ? "SSL" : "STARTTLS", kind);
}

int publish_autoconfig(const struct publish_settings *ps, const char *domain, FILE *out)
{
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n  <emailProvider id=\"", out);
	xml_text(out, domain);
	fputs("\">\n    <domain>", out);
	xml_text(out, domain);
	fputs("</domain>\n    <displayName>", out);
	xml_text(out, domain);
	fputs(" mail</displayName>\n    <displayShortName>", out);
	xml_text(out, domain);
	fputs("</displayShortName>\n", out);
	if (ps->imap_host != NULL)
		tb_server(out, "incomingServer", "imap", ps->imap_host, ps->imap_port, ps->imap_port == 993);
	/* RFC 8314 3.3: implicit TLS first; Thunderbird tries outgoing servers in this order */
	if (ps->port465)
		tb_server(out, "outgoingServer", "smtp", ps->hostname, ps->port465, 1);
	if (ps->port587)
		tb_server(out, "outgoingServer", "smtp", ps->hostname, ps->port587, 0);
	fputs("  </emailProvider>\n</clientConfig>\n", out);
	return ferror(out) ? -1 : 0;
}

/* ---- Outlook ------------------------------------------------------------------------------ */

static const xmlNode *child(const xmlNode *n, const char *name)
{
	for (const xmlNode *c = n ? n->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

static void quiet(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

int publish_autodiscover_request(const char *body, size_t len, char *email, size_t emaillen)
{
	int r = -1;

	if (len == 0 || len > 16384)
		return -1;
	/* a client's bad encoding is its problem, not a line on the server's stderr (this thread's
	 * handler: libxml2 keeps it per thread) */
	xmlSetGenericErrorFunc(NULL, quiet);
	/* no network, no entity expansion, no DTD loading: a request is a few elements */
	xmlDoc *doc = xmlReadMemory(body, (int)len, "autodiscover.xml", NULL,
	                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	const xmlNode *e = child(child(root, "Request"), "EMailAddress");
	/* a request has no DTD: one that brings entities would make the text below expand them */
	if (root != NULL && doc->intSubset == NULL && strcmp((const char *)root->name, "Autodiscover") == 0 && e != NULL) {
		xmlChar *t = xmlNodeGetContent(e);
		const char *s = (const char *)t, *dom;
		while (s != NULL && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
			s++;
		size_t n = s ? strcspn(s, " \t\r\n") : 0;
		if (s != NULL && n > 0 && n < emaillen && s[n + strspn(s + n, " \t\r\n")] == '\0') {
			memcpy(email, s, n);
			email[n] = '\0';
			r = publish_email_ok(email, &dom) ? 0 : -1;
		}
		xmlFree(t);
	}
	xmlFreeDoc(doc);
	return r;
}

static void ad_protocol(FILE *out, const char *type, const char *host, unsigned port, int implicit, const char *email,
                        int smtp)
{
	fprintf(out, "      <Protocol>\n        <Type>%s</Type>\n        <Server>", type);
	xml_text(out, host);
	fprintf(out, "</Server>\n        <Port>%u</Port>\n        <DomainRequired>off</DomainRequired>\n"
	        "        <LoginName>", port);
	xml_text(out, email);
	fprintf(out, "</LoginName>\n        <SPA>off</SPA>\n        <Encryption>%s</Encryption>\n"
	        "        <AuthRequired>on</AuthRequired>\n", implicit ? "SSL" : "TLS");
	if (smtp)
		fputs("        <UsePOPAuth>off</UsePOPAuth>\n        <SMTPLast>off</SMTPLast>\n", out);
	fputs("      </Protocol>\n", out);
}

int publish_autodiscover(const struct publish_settings *ps, const char *email, FILE *out)
{
	fputs("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	      "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n"
	      "  <Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\">\n"
	      "    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n", out);
	if (ps->imap_host != NULL)
		ad_protocol(out, "IMAP", ps->imap_host, ps->imap_port, ps->imap_port == 993, email, 0);
	if (ps->port465)
		ad_protocol(out, "SMTP", ps->hostname, ps->port465, 1, email, 1);
	else if (ps->port587)
		ad_protocol(out, "SMTP", ps->hostname, ps->port587, 0, email, 1);
	fputs("    </Account>\n  </Response>\n</Autodiscover>\n", out);
	return ferror(out) ? -1 : 0;
}

/* ---- Apple ---------------------------------------------------------------------------------- */

/* A name-based UUID (RFC 9562 version 8 layout over SHA-256), stable for the same input. */
static void uuid_of(const char *kind, const char *email, char out[37])
{
	unsigned char h[32];
	char in[600];
	int n = snprintf(in, sizeof(in), "mailport %s %s", kind, email);

	EVP_Digest(in, (size_t)(n > 0 && (size_t)n < sizeof(in) ? n : 0), h, NULL, EVP_sha256(), NULL);
	h[6] = (unsigned char)((h[6] & 0x0f) | 0x80);
	h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", h[0], h[1], h[2], h[3],
	         h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
}

static void kv(FILE *out, const char *key, const char *value)
{
	fprintf(out, "      <key>%s</key>\n      <string>", key);
	xml_text(out, value);
	fputs("</string>\n", out);
}

int publish_mobileconfig(const struct publish_settings *ps, const char *email, FILE *out)
{
	char pu[37], au[37], id[600];
	const char *domain;

	if (ps->imap_host == NULL || (!ps->port465 && !ps->port587) || !publish_email_ok(email, &domain))
		return -1;
	uuid_of("profile", email, pu);
	uuid_of("account", email, au);
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	      "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	      "<plist version=\"1.0\">\n<dict>\n  <key>PayloadContent</key>\n  <array>\n    <dict>\n", out);
	kv(out, "EmailAccountDescription", email);
	kv(out, "EmailAccountType", "EmailTypeIMAP");
	kv(out, "EmailAddress", email);
	kv(out, "IncomingMailServerAuthentication", "EmailAuthPassword");
	kv(out, "IncomingMailServerHostName", ps->imap_host);
	fprintf(out, "      <key>IncomingMailServerPortNumber</key>\n      <integer>%u</integer>\n"
	        "      <key>IncomingMailServerUseSSL</key>\n      <%s/>\n", ps->imap_port,
	        ps->imap_port == 993 ? "true" : "false");
	kv(out, "IncomingMailServerUsername", email);
	kv(out, "OutgoingMailServerAuthentication", "EmailAuthPassword");
	kv(out, "OutgoingMailServerHostName", ps->hostname);
	/* UseSSL true on 587 too: Apple's Mail then insists on STARTTLS */
	fprintf(out, "      <key>OutgoingMailServerPortNumber</key>\n      <integer>%u</integer>\n"
	        "      <key>OutgoingMailServerUseSSL</key>\n      <true/>\n", ps->port465 ? ps->port465 : ps->port587);
	kv(out, "OutgoingMailServerUsername", email);
	fputs("      <key>OutgoingPasswordSameAsIncomingPassword</key>\n      <true/>\n", out);
	kv(out, "PayloadDescription", "Mail account");
	kv(out, "PayloadDisplayName", email);
	snprintf(id, sizeof(id), "mailport.%s.account", email);
	kv(out, "PayloadIdentifier", id);
	kv(out, "PayloadType", "com.apple.mail.managed");
	kv(out, "PayloadUUID", au);
	fputs("      <key>PayloadVersion</key>\n      <integer>1</integer>\n    </dict>\n  </array>\n", out);
	fputs("  <key>PayloadDisplayName</key>\n  <string>", out);
	xml_text(out, domain);
	fputs(" mail</string>\n  <key>PayloadIdentifier</key>\n  <string>", out);
	snprintf(id, sizeof(id), "mailport.%s", email);
	xml_text(out, id);
	fprintf(out, "</string>\n  <key>PayloadRemovalDisallowed</key>\n  <false/>\n  <key>PayloadType</key>\n"
	        "  <string>Configuration</string>\n  <key>PayloadUUID</key>\n  <string>%s</string>\n"
	        "  <key>PayloadVersion</key>\n  <integer>1</integer>\n</dict>\n</plist>\n", pu);
	return ferror(out) ? -1 : 0;
}

/* ---- MTA-STS ---------------------------------------------------------------------------------- */

int publish_mtasts(const char *mode, unsigned max_age, const char *mx, FILE *out)
{
	/* RFC 8461 3.2: key: value lines ending in CRLF; "mx" only when the mode is not none */
	fprintf(out, "version: STSv1\r\nmode: %s\r\n", mode);
	if (strcmp(mode, "none") != 0)
		fprintf(out, "mx: %s\r\n", mx);
	fprintf(out, "max_age: %u\r\n", max_age);
	return ferror(out) ? -1 : 0;
}
