/*
 * queuefile.c - the queue file and state log formats (spool.h), read and checked: typed,
 * length-prefixed records, a required END, the K checksum. Pure: a FILE in, an entry out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "../util/log.h"
#include "spool_int.h"

/* The P record's words, one table for its writer and its reader. */
static const struct { unsigned flag; const char *word; } flag_words[] = {
	{ SPOOL_F_REQUIRETLS, "REQUIRETLS" }, { SPOOL_F_TLS_OPTIONAL, "TLS-OPTIONAL" },
};

size_t spool_flags_words(unsigned flags, char *out, size_t outlen)
{
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(flag_words) / sizeof(flag_words[0]); i++)
		if ((flags & flag_words[i].flag) && n + strlen(flag_words[i].word) + 2 <= outlen)
			n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? " " : "", flag_words[i].word);
	return n;
}

/* ---- reading ------------------------------------------------------------------------- */

static int read_head(FILE *fp, char *type, size_t *len)
{
	char line[64];
	char *end;

	if (fgets(line, sizeof(line), fp) == NULL)
		return -1;
	if (strlen(line) < 4 || line[1] != ' ' || line[strlen(line) - 1] != '\n')
		return -1;
	*type = line[0];
	errno = 0;
	unsigned long long v = strtoull(line + 2, &end, 10);
	if (errno || *end != '\n' || end == line + 2)
		return -1;
	*len = (size_t)v;
	return 0;
}

static char *read_payload(FILE *fp, size_t len)
{
	char *p;

	if (len > SPOOL_REC_MAX || (p = malloc(len + 1)) == NULL)
		return NULL;
	if (fread(p, 1, len, fp) != len || fgetc(fp) != '\n' || memchr(p, '\0', len) != NULL) {
		free(p);
		return NULL;
	}
	p[len] = '\0';
	return p;
}

void spool_parse_state(struct spool_entry *e, FILE *fp)
{
	char line[PATH_MAX + 64];

	while (fgets(line, sizeof(line), fp) != NULL) {
		size_t n;
		char *end, *nl = strchr(line, '\n');
		/* A line without its newline is a torn append: it was never made durable, and
		 * whatever it announced did not happen yet (the action follows the fdatasync). */
		if (nl == NULL)
			break;
		*nl = '\0';
		if (line[0] == 'R' && line[1] == ' ') {
			e->next_attempt = strtoll(line + 2, &end, 10);
			e->attempts = (unsigned)strtoul(end, &end, 10);
			free(e->last_error);
			e->last_error = strdup(*end == ' ' ? end + 1 : "");
			continue;
		}
		if ((line[0] != 'D' && line[0] != 'I' && line[0] != 'F' && line[0] != 'B') || line[1] != ' ')
			continue;
		n = strtoul(line + 2, &end, 10);
		if (n >= e->nrcpts)
			continue;
		if (line[0] == 'D' && *end == '\0')
			e->rcpts[n].done = 1;
		else if (line[0] == 'B' && *end == '\0')
			e->rcpts[n].bounced = 1;
		else if (line[0] == 'F' && *end == ' ') {
			e->rcpts[n].fail_code = (int)strtol(end + 1, &end, 10);
			free(e->rcpts[n].fail_text);
			e->rcpts[n].fail_text = strdup(*end == ' ' ? end + 1 : "");
		} else if (line[0] == 'I' && *end == ' ') {
			free(e->rcpts[n].intent);
			e->rcpts[n].intent = strdup(end + 1);
		}
	}
}

/* Does the CRC-32 of fp's first n octets match the K record's hex text? fp is left where it was. */
static int sum_ok(FILE *fp, off_t n, const char *hex)
{
	char buf[65536];
	uLong sum = crc32(0L, Z_NULL, 0);
	off_t at = ftello(fp);
	char *end;
	unsigned long want = strtoul(hex, &end, 16);

	if (*end != '\0' || strlen(hex) != 8 || fseeko(fp, 0, SEEK_SET) < 0)
		return 0;
	for (off_t o = 0; o < n; ) {
		size_t k = n - o < (off_t)sizeof(buf) ? (size_t)(n - o) : sizeof(buf);
		if (fread(buf, 1, k, fp) != k)
			return 0;
		sum = crc32(sum, (const Bytef *)buf, (uInt)k);
		o += (off_t)k;
	}
	return fseeko(fp, at, SEEK_SET) == 0 && sum == want;
}

/* Parse a queue file from fp (size octets in all); with verify, its checksum (K) too, where
 * it has one (files of mailport before it do not). 0, -1 (errno) or -2 (it is corrupt). */
int spool_parse_entry(struct spool_entry *e, FILE *fp, off_t size, int verify)
{
	char magic[sizeof(SPOOL_MAGIC)];
	int summed = 0;

	if (fread(magic, 1, sizeof(SPOOL_MAGIC) - 1, fp) != sizeof(SPOOL_MAGIC) - 1 ||
	    memcmp(magic, SPOOL_MAGIC, sizeof(SPOOL_MAGIC) - 1) != 0)
		return -2;
	for (;;) {
		char type;
		size_t len;
		char *p = NULL;
		off_t start = ftello(fp);

		if (read_head(fp, &type, &len) < 0)
			return -2;
		if (type == 'M') {
			e->body_off = ftello(fp);
			e->body_len = len;
			if (fseeko(fp, (off_t)len, SEEK_CUR) < 0 || fgetc(fp) != '\n')
				return -2;
			continue;
		}
		if (type == 'E') {
			if (len != 0 || fgetc(fp) != '\n')
				return -2;
			break;
		}
		if ((p = read_payload(fp, len)) == NULL)
			return -2;
		switch (type) {
		case 'K':
			/* After the message, once: a flipped octet anywhere before it is caught. */
			if (summed || e->body_off == 0 || (verify && !sum_ok(fp, start, p))) {
				if (verify && !summed && e->body_off != 0)
					log_errx(e->qid, "queue file checksum mismatch: its content changed on disk");
				free(p);
				return -2;
			}
			summed = 1;
			free(p);
			break;
		case 'P':
			/* A word this version does not know is ignored. */
			for (char *w = strtok(p, " "); w != NULL; w = strtok(NULL, " "))
				for (size_t i = 0; i < sizeof(flag_words) / sizeof(flag_words[0]); i++)
					if (strcmp(w, flag_words[i].word) == 0)
						e->flags |= flag_words[i].flag;
			free(p);
			break;
		case 'T':
			e->arrival = atoll(p);
			free(p);
			break;
		case 'S':
			free(e->sender);
			e->sender = p;
			break;
		case 'R': {
			struct spool_rcpt *nr = realloc(e->rcpts, (e->nrcpts + 1) * sizeof(*nr));
			if (nr == NULL) {
				free(p);
				return -1;
			}
			e->rcpts = nr;
			memset(&e->rcpts[e->nrcpts], 0, sizeof(*nr));
			e->rcpts[e->nrcpts++].target = p;
			break;
		}
		case 'O':
		case 'L':
			if (e->nrcpts == 0) {
				free(p);
				return -2;
			}
			if (type == 'O') {
				free(e->rcpts[e->nrcpts - 1].orig);
				e->rcpts[e->nrcpts - 1].orig = p;
			} else {
				e->rcpts[e->nrcpts - 1].local = p[0] == '1';
				free(p);
			}
			break;
		default:
			free(p);
			return -2;
		}
	}
	/* Exactly E's blank line, then the end; the message must be there. */
	if (ftello(fp) != size || e->sender == NULL || e->nrcpts == 0 || e->body_off == 0)
		return -2;
	for (size_t i = 0; i < e->nrcpts; i++)
		if (e->rcpts[i].orig == NULL)
			return -2;
	return 0;
}

void spool_entry_clear(struct spool_entry *e)
{
	for (size_t i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i].target);
		free(e->rcpts[i].orig);
		free(e->rcpts[i].intent);
		free(e->rcpts[i].fail_text);
	}
	free(e->rcpts);
	free(e->sender);
	free(e->last_error);
	e->rcpts = NULL;
	e->nrcpts = 0;
	e->sender = e->last_error = NULL;
	e->flags = 0;
}
