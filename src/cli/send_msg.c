/*
 * send_msg.c - the message as sendmail's callers hand it over: read from standard input (LF or
 * CRLF, "." or EOF), recipients from the command line or its headers (-t), the envelope sender
 * chosen, and Bcc removed and From/Date/Message-ID added. No network here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "../msg/addrlist.h"
#include "send_int.h"


/* Read stdin: LF or CRLF lines become CRLF; without -i a line of one "." ends the input. */
int send_read_message(struct msg *m, int dot_ends)
{
	char *line = NULL;
	size_t cap = 0, bufcap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, stdin)) > 0) {
		size_t l = (size_t)n;
		if (memchr(line, '\0', l)) {
			send_say("the message contains a NUL byte; refusing it (not valid in mail)");
			free(line);
			return EX_DATAERR;
		}
		while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r'))
			l--;
		if (dot_ends && l == 1 && line[0] == '.')
			break;
		if (m->len + l + 2 > MSG_MAX) {
			send_say("the message is larger than %u MiB", MSG_MAX >> 20);
			free(line);
			return EX_DATAERR;
		}
		if (m->len + l + 3 > bufcap) {
			bufcap = (m->len + l + 3) * 2;
			char *nb = realloc(m->buf, bufcap);
			if (nb == NULL) {
				free(line);
				return EX_OSERR;
			}
			m->buf = nb;
		}
		memcpy(m->buf + m->len, line, l);
		m->len += l;
		m->buf[m->len++] = '\r';
		m->buf[m->len++] = '\n';
	}
	free(line);
	if (m->buf == NULL && (m->buf = malloc(1)) == NULL)
		return EX_OSERR;
	return 0;
}

void send_add_rcpt(struct msg *m, const char *addr, size_t len)
{
	struct smtp_path p;
	size_t used;
	char *copy;

	if (m->nrcpts == MAX_RCPTS)
		return;
	if (smtp_parse_path(addr, len, SMTP_PATH_UTF8, &p, &used) != SMTP_PATH_OK || used != len || p.mailbox == NULL) {
		send_say("\"%.*s\" is not an address", (int)len, addr);
		m->bad_rcpt = 1;
		return;
	}
	for (size_t i = 0; i < m->nrcpts; i++)
		if (strlen(m->rcpts[i]) == p.mailbox_len && strncasecmp(m->rcpts[i], p.mailbox, p.mailbox_len) == 0)
			return;
	if ((copy = strndup(p.mailbox, p.mailbox_len)) == NULL)
		return;
	m->owned[m->nowned++] = copy;
	m->rcpts[m->nrcpts++] = copy;
}

static void header_rcpt(void *arg, const char *addr, size_t len)
{
	send_add_rcpt(arg, addr, len);
}

static void author_addr(void *arg, const char *addr, size_t len)
{
	struct author *a = arg;

	if (a->n++ == 0)
		snprintf(a->first, sizeof(a->first), "%.*s", (int)len, addr);
}

void send_on_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen, size_t start,
                      size_t end)
{
	struct hdr_state *h = arg;
	int to = nlen == 2 && strncasecmp(name, "To", 2) == 0, cc = nlen == 2 && strncasecmp(name, "Cc", 2) == 0;
	int bcc = nlen == 3 && strncasecmp(name, "Bcc", 3) == 0;

	if (nlen == 4 && strncasecmp(name, "Date", 4) == 0) h->have_date = 1;
	if (nlen == 10 && strncasecmp(name, "Message-ID", 10) == 0) h->have_msgid = 1;
	if (nlen == 4 && strncasecmp(name, "From", 4) == 0) {
		h->have_from = 1;
		if (h->from.n == 0 && addrlist_parse(value, vlen, author_addr, &h->from) < 0)
			h->from.n = 0;
	}
	if (nlen == 6 && strncasecmp(name, "Sender", 6) == 0 && h->sender.n == 0 &&
	    addrlist_parse(value, vlen, author_addr, &h->sender) < 0)
		h->sender.n = 0;
	if (h->extract && (to || cc || bcc) && addrlist_parse(value, vlen, header_rcpt, h->m) < 0) {
		send_say("cannot read the addresses in %.*s: %.*s", (int)nlen, name, (int)(vlen > 80 ? 80 : vlen), value);
		h->m->bad_rcpt = 1;
	}
	if (bcc && h->nbcc < 64) {          /* Bcc never leaves with the message (RFC 5322 3.6.3) */
		h->bcc_start[h->nbcc] = start;
		h->bcc_end[h->nbcc++] = end;
	}
}

int send_is_address(const char *s)
{
	struct smtp_path p;
	size_t used, len = strlen(s);

	return smtp_parse_path(s, len, SMTP_PATH_UTF8, &p, &used) == SMTP_PATH_OK && used == len && p.mailbox != NULL;
}

/* The envelope sender when -f is not given, as cron, mutt, git send-email and PHP's mail()
 * call sendmail: the message's author when it names exactly one (RFC 5322 3.6.2), else its
 * Sender:, else the login when it is an address, else the account's from. NULL: none. */
const char *send_choose_sender(const struct send_opts *o, const struct hdr_state *h, const char **whence)
{
	if (o->from != NULL) {
		*whence = "given with -f";
		return o->from;
	}
	if (h->from.n == 1 && send_is_address(h->from.first)) {
		*whence = "taken from the From: header";
		return h->from.first;
	}
	if (h->sender.n == 1 && send_is_address(h->sender.first)) {
		*whence = "taken from the Sender: header";
		return h->sender.first;
	}
	if (o->user != NULL && send_is_address(o->user)) {
		*whence = "taken from --user";
		return o->user;
	}
	*whence = "taken from from = in send.conf";
	return o->acct_from;
}

/* Remove Bcc, add From/Date/Message-ID when missing. Returns the new message (caller frees).
 * h holds the header walk's findings. */
char *send_complete_message(struct msg *m, const struct send_opts *o, const char *sender, struct hdr_state *h,
                              size_t *outlen)
{
	char extra[1024], date[64], host[256] = "localhost", rnd[16];
	unsigned char r[6];
	size_t n = 0, o_len = 0;
	time_t now = time(NULL);
	struct tm tm;
	char *out;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	gethostname(host, sizeof(host));
	RAND_bytes(r, sizeof(r));
	snprintf(rnd, sizeof(rnd), "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
	if (!h->have_from) {
		if (o->fullname)
			n += (size_t)snprintf(extra + n, sizeof(extra) - n, "From: \"%s\" <%s>\r\n", o->fullname, sender);
		else
			n += (size_t)snprintf(extra + n, sizeof(extra) - n, "From: <%s>\r\n", sender);
	}
	if (!h->have_date)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, "Date: %s\r\n", date);
	if (!h->have_msgid) {
		const char *at = strrchr(sender, '@');
		n += (size_t)snprintf(extra + n, sizeof(extra) - n, "Message-ID: <%lld.%s@%s>\r\n", (long long)now, rnd,
		                      at ? at + 1 : host);
	}
	out = malloc(m->len + n + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, extra, n);
	o_len = n;
	size_t from = 0;
	for (size_t k = 0; k < h->nbcc; k++) {
		memcpy(out + o_len, m->buf + from, h->bcc_start[k] - from);
		o_len += h->bcc_start[k] - from;
		from = h->bcc_end[k];
	}
	memcpy(out + o_len, m->buf + from, m->len - from);
	o_len += m->len - from;
	*outlen = o_len;
	return out;
}
