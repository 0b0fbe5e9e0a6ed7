/*
 * journal_file.c - the journal's on-disk formats: a record's 64-octet header (its own CRC, the
 * batch, the generation's random tag), journal.gen with its CRC, the file grown in zeroed
 * steps ahead of the appends, and the marker record that starts a generation.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../util/fsutil.h"
#include "../util/log.h"
#include "journal_int.h"

int jr_path_of(struct journal *j, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", spool_dir(j->sp), name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

uint32_t jr_hdr_crc(const struct hdr *h)
{
	struct hdr c = *h;

	c.hcrc = 0;
	return (uint32_t)crc32(0L, (const Bytef *)&c, HDR);
}

/* "<gen> <nonce> <crc>\n" (the first format: "<gen>\n"). 1 = read, 0 = no file yet, -1 = damaged. */
int jr_read_gen(struct journal *j, uint32_t *gen, uint32_t *nonce)
{
	char text[64] = "", *end;
	ssize_t n = pread(j->genfd, text, sizeof(text) - 1, 0);
	unsigned long g, x, c;

	if (n <= 0)
		return 0;
	errno = 0;
	g = strtoul(text, &end, 10);
	if (errno || end != text + 20 || g > UINT32_MAX)
		return -1;
	if (*end == '\n') {
		*gen = (uint32_t)g;
		*nonce = 0;
		return 1;
	}
	if (*end != ' ' || sscanf(end, " %8lx %8lx", &x, &c) != 2 ||
	    crc32(0L, (const Bytef *)text, 29) != c)
		return -1;
	*gen = (uint32_t)g;
	*nonce = (uint32_t)x;
	return 1;
}

int jr_write_gen(struct journal *j)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "%020u %08x", j->gen, j->nonce);

	n += snprintf(text + n, sizeof(text) - (size_t)n, " %08lx\n", crc32(0L, (const Bytef *)text, (uInt)n));
	/* One small write into one sector of a preallocated file: it is there or it is not. */
	if (pwrite(j->genfd, text, (size_t)n, 0) != n || fdatasync(j->genfd) < 0)
		return -1;
	return 0;
}

/* Real (zeroed) blocks ahead of the appends, so an append changes no metadata and its
 * fdatasync flushes only data. The file only grows to what one checkpoint interval needs.
 * Only ever past what the journal holds: nothing unreplayed is zeroed. */
int jr_grow(struct journal *j, off_t to)
{
	static const char zero[65536];

	to = (to + GROW - 1) / GROW * GROW;
	if (to > JOURNAL_SIZE)
		return -1;
	for (off_t o = j->size; o < to; o += (off_t)sizeof(zero)) {
		size_t n = to - o < (off_t)sizeof(zero) ? (size_t)(to - o) : sizeof(zero);
		if (fs_pwrite_all(j->fd, zero, n, o) < 0)
			return -1;
	}
	if (fsync(j->fd) < 0)
		return -1;
	j->size = to;
	return 0;
}

int jr_hdr_valid(const struct hdr *h, uint32_t gen, uint32_t nonce)
{
	return h->gen == gen && h->nonce == nonce && (nonce == 0 || h->hcrc == jr_hdr_crc(h)) &&
	       (memcmp(h->magic, MAGIC, 4) == 0 || memcmp(h->magic, MAGIC_DONE, 4) == 0 ||
	        memcmp(h->magic, MAGIC_STATE, 4) == 0 || memcmp(h->magic, MAGIC_GEN, 4) == 0) &&
	       h->len <= JOURNAL_MAX_MESSAGE + 4096 && memchr(h->qid, '\0', sizeof(h->qid)) != NULL;
}

int jr_hdr_ok(const struct journal *j, const struct hdr *h, off_t pos, uint32_t gen, uint32_t nonce)
{
	return jr_hdr_valid(h, gen, nonce) && pos + HDR + (off_t)h->len <= j->size;
}

void jr_hdr_make(struct hdr *h, const char *magic, uint32_t gen, uint32_t nonce, uint32_t batch, const char *qid,
                 size_t len, uint32_t crc)
{
	memset(h, 0, HDR);
	memcpy(h->magic, magic, 4);
	h->gen = gen;
	h->nonce = nonce;
	h->batch = batch;
	h->len = (uint64_t)len;
	h->crc = crc;
	snprintf(h->qid, sizeof(h->qid), "%s", qid);
	h->hcrc = jr_hdr_crc(h);
}

int jr_read_hdr(const struct journal *j, off_t pos, struct hdr *h)
{
	return pos + HDR <= j->size && pread(j->fd, h, HDR, pos) == HDR ? 0 : -1;
}

/* 0: a whole record of the current generation; 1: its header is good, its payload is not
 * (the id in h can be named); -1: no record here. */
int jr_read_record(struct journal *j, off_t pos, struct hdr *h, char **payload)
{
	if (jr_read_hdr(j, pos, h) < 0 || !jr_hdr_ok(j, h, pos, j->gen, j->nonce))
		return -1;
	char *p = realloc(*payload, h->len ? h->len : 1);
	if (p == NULL)
		return 1;
	*payload = p;
	if (pread(j->fd, p, h->len, pos + HDR) != (ssize_t)h->len || crc32(0L, (const Bytef *)p, (uInt)h->len) != h->crc)
		return 1;
	return 0;
}

void jr_free_notes(struct note *notes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(notes[i].line);
	free(notes);
}

static uint32_t new_nonce(void)
{
	uint32_t n = 0;

	while (n == 0)
		if (getrandom(&n, sizeof(n), 0) != (ssize_t)sizeof(n))
			n = (uint32_t)time(NULL) ^ (uint32_t)getpid() ^ (uint32_t)(uintptr_t)&n;
	return n;
}

/* A generation begins: its record at offset 0 is the commit (the previous generation's
 * records are in queue/ by now), journal.gen a second copy. */
int jr_new_generation(struct journal *j)
{
	struct hdr h;

	if (j->size < ALIGN && jr_grow(j, ALIGN) < 0)
		return -1;
	jr_hdr_make(&h, MAGIC_GEN, j->gen + 1, new_nonce(), 0, "", 0, (uint32_t)crc32(0L, Z_NULL, 0));
	if (fs_pwrite_all(j->fd, &h, HDR, 0) < 0 || fdatasync(j->fd) < 0)
		return -1;
	j->gen = h.gen;
	j->nonce = h.nonce;
	j->batch = 1;
	j->pos = ALIGN;
	j->appended = 0;
	if (jr_write_gen(j) < 0)
		log_warn(NULL, "journal: cannot write %s/journal.gen (the journal itself says generation %u)",
		         spool_dir(j->sp), j->gen);
	return 0;
}
