/*
 * journal_replay.c - what a crash or damage at rest left in the journal, read back: the
 * current generation found, its whole records walked (past damage, to every whole record
 * after it), torn tails told from damage, messages put back into the memory table, the loss
 * logged. Writes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/log.h"
#include "journal_int.h"

/* The next whole record of the current generation after a bad one, or -1. Only a tagged
 * generation can be searched: its nonce is what a forged header in a message cannot know. */
static off_t resync(struct journal *j, off_t from, char **payload)
{
	struct hdr h;

	if (j->nonce == 0)
		return -1;
	for (off_t pos = jr_aligned(from); pos + HDR <= j->size; pos += ALIGN)
		if (jr_read_record(j, pos, &h, payload) == 0)
			return pos;
	return -1;
}

/* The generation to replay: the larger of what journal.gen says and what the record at
 * offset 0 says (a checkpoint writes that first, then journal.gen). A damaged journal.gen
 * costs nothing while offset 0 is readable; when neither is, the newest tagged header. */
static void find_generation(struct journal *j)
{
	struct hdr h;
	uint32_t gen = 0, nonce = 0;
	int r = jr_read_gen(j, &gen, &nonce);
	int first = jr_read_hdr(j, 0, &h) == 0 && jr_hdr_ok(j, &h, 0, h.gen, h.nonce);

	if (r < 0) {
		log_errx(NULL, "journal: %s/journal.gen is damaged; the generation is taken from the journal itself",
		         spool_dir(j->sp));
		gen = nonce = 0;
	}
	/* r == 0 (no journal.gen, or an empty one) with records in the journal: it was lost, the
	 * same thing (said below). */
	if (first && h.nonce != 0 && h.gen >= gen) {
		gen = h.gen;
		nonce = h.nonce;
	} else if (first && r <= 0 && h.nonce == 0) {
		gen = h.gen;            /* a journal of the first format */
	} else if (r <= 0) {
		for (off_t pos = 0; pos + HDR <= j->size; pos += ALIGN)
			if (jr_read_hdr(j, pos, &h) == 0 && h.nonce != 0 && jr_hdr_ok(j, &h, pos, h.gen, h.nonce) &&
			    h.gen > gen) {
				gen = h.gen;
				nonce = h.nonce;
			}
	}
	if (r == 0 && gen != 0)
		log_warnx(NULL, "journal: %s/journal.gen is empty or missing; generation=%u is taken from the journal itself",
		          spool_dir(j->sp), gen);
	j->gen = gen;
	j->nonce = nonce;
}

static int qid_cmp(const void *a, const void *b) { return strcmp(a, b); }

static int note_cmp(const void *a, const void *b)
{
	const struct note *x = a, *y = b;
	int c = strcmp(x->qid, y->qid);

	return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* What a replay found. */
struct replay {
	off_t *at;              /* whole message records, in order */
	size_t nat, atcap;
	size_t whole;           /* whole records of any kind */
	char (*done)[SPOOL_QID_MAX];    /* delivered since (done records), sorted once walked */
	size_t ndone;
	struct note *notes;     /* state lines, sorted by id and order once walked */
	size_t nnotes;
	uint32_t max_batch;
	size_t restored, skipped;
	/* damage: acknowledged records that cannot be read */
	size_t gaps, lost_known, lost_done;
	off_t gap_first, gap_last, gap_octets;
	char lost[LOST_NAMED][SPOOL_QID_MAX];
	size_t nlost;
	int torn;               /* only the last, unacknowledged batch is partly missing */
	off_t cut;              /* the file ends here, before its records did (0: it does not) */
};

struct gap {
	off_t start, end;
	uint32_t before, after; /* batches of the whole records either side (0: none before) */
	char qid[SPOOL_QID_MAX];        /* a message whose header survived, or "" */
	size_t done_slots;      /* a done record whose header survived: how many deliveries */
};

static int add_at(struct replay *rp, off_t pos)
{
	if (rp->nat == rp->atcap) {
		size_t nc = rp->atcap ? rp->atcap * 2 : 256;
		off_t *na = realloc(rp->at, nc * sizeof(*na));
		if (na == NULL)
			return -1;
		rp->at = na;
		rp->atcap = nc;
	}
	rp->at[rp->nat++] = pos;
	return 0;
}

/* A whole record the walk just read: a message's place is kept (read again once every done
 * record is known), a state line and a done record are taken now. */
static int take(struct replay *rp, off_t pos, const struct hdr *h, const char *payload)
{
	rp->whole++;
	if (memcmp(h->magic, MAGIC, 4) == 0)
		return add_at(rp, pos);
	if (memcmp(h->magic, MAGIC_STATE, 4) == 0) {
		struct note *nn = realloc(rp->notes, (rp->nnotes + 1) * sizeof(*nn));
		if (nn == NULL)
			return -1;
		rp->notes = nn;
		struct note *n = &nn[rp->nnotes];
		snprintf(n->qid, SPOOL_QID_MAX, "%s", h->qid);
		n->order = rp->nnotes;
		n->len = h->len;
		if ((n->line = malloc(h->len ? h->len : 1)) == NULL)
			return -1;
		memcpy(n->line, payload, h->len);
		rp->nnotes++;
		return 0;
	}
	if (memcmp(h->magic, MAGIC_DONE, 4) != 0 || h->len % SPOOL_QID_MAX != 0)
		return 0;
	size_t k = h->len / SPOOL_QID_MAX;
	void *nd = realloc(rp->done, (rp->ndone + k) * SPOOL_QID_MAX + 1);
	if (nd == NULL)
		return -1;
	rp->done = nd;
	memcpy(rp->done[rp->ndone], payload, h->len);
	for (size_t d = 0; d < k; d++)
		rp->done[rp->ndone + d][SPOOL_QID_MAX - 1] = '\0';
	rp->ndone += k;
	return 0;
}

static int delivered(const struct replay *rp, const char *qid)
{
	return rp->ndone > 0 && bsearch(qid, rp->done, rp->ndone, SPOOL_QID_MAX, qid_cmp) != NULL;
}

/* The copy of the damaged journal to keep (keep_aside in journal.c makes it). */
static void mark_damaged(struct journal *j)
{
	snprintf(j->keep, sizeof(j->keep), "journal.%u.%lld", j->gen, (long long)time(NULL));
}

/* Walk the current generation from offset 0. A bad record is either the torn tail (nothing
 * whole follows it: the last batch, never acknowledged) or damage, and then every whole
 * record after it is still found. Returns where the generation ends (the next append). */
static off_t walk(struct journal *j, struct replay *rp, struct gap **gaps, size_t *ngaps, char **payload)
{
	struct hdr h;
	off_t pos = 0;
	uint32_t prev = 0;

	while (pos + HDR <= j->size) {
		int r = jr_read_record(j, pos, &h, payload);
		if (r == 0) {
			if (take(rp, pos, &h, *payload) < 0)
				return -1;
			if (h.batch > rp->max_batch)
				rp->max_batch = h.batch;
			prev = h.batch;
			pos = jr_aligned(pos + HDR + (off_t)h.len);
			continue;
		}
		/* A header that survived says how long its record was and what it held. */
		struct hdr bad = h;
		off_t next = resync(j, r == 1 && j->nonce != 0 ? pos + HDR + (off_t)h.len : pos + ALIGN, payload);
		if (next < 0)
			break;
		struct gap *ng = realloc(*gaps, (*ngaps + 1) * sizeof(**gaps));
		if (ng == NULL)
			return -1;
		*gaps = ng;
		struct gap *g = &ng[(*ngaps)++];
		memset(g, 0, sizeof(*g));
		g->start = pos;
		g->end = next;
		g->before = prev;
		if (jr_read_hdr(j, next, &h) == 0)
			g->after = h.batch;
		if (r == 1 && memcmp(bad.magic, MAGIC, 4) == 0)
			snprintf(g->qid, sizeof(g->qid), "%s", bad.qid);
		else if (r == 1 && memcmp(bad.magic, MAGIC_DONE, 4) == 0)
			g->done_slots = bad.len / SPOOL_QID_MAX;
		pos = next;
	}
	/* Cut short: a record runs past the end, or the records reach the very end of a file that
	 * was never that long (it grows in whole GROW steps, zeros first). */
	if ((jr_read_hdr(j, pos, &h) == 0 && j->nonce != 0 && jr_hdr_valid(&h, j->gen, j->nonce) &&
	     pos + HDR + (off_t)h.len > j->size) ||
	    (pos + HDR > j->size && j->size % GROW != 0))
		rp->cut = pos;
	return pos;
}

/* Two passes over the whole records: which messages were delivered (done records) and their
 * state lines, then every other message back into the memory table, with its lines. Nothing
 * is written: a full disk does not stop a start, the next checkpoint writes them to queue/. */
static int replay(struct journal *j, struct replay *rp)
{
	struct hdr h;
	char *payload = NULL, *st = NULL;
	struct gap *gaps = NULL;
	size_t ngaps = 0;
	int r = -1;

	if ((j->pos = walk(j, rp, &gaps, &ngaps, &payload)) < 0)
		goto out;
	if (rp->ndone > 0)
		qsort(rp->done, rp->ndone, SPOOL_QID_MAX, qid_cmp);
	if (rp->nnotes > 0)
		qsort(rp->notes, rp->nnotes, sizeof(*rp->notes), note_cmp);
	/* The gaps: the last batch torn (never acknowledged), or damage to what was. */
	for (size_t i = 0; i < ngaps; i++) {
		struct gap *g = &gaps[i];
		if (g->before == rp->max_batch && g->after == rp->max_batch) {
			rp->torn = 1;
			continue;
		}
		rp->gaps++;
		if (rp->gaps == 1)
			rp->gap_first = g->start;
		rp->gap_last = g->end;
		rp->gap_octets += g->end - g->start;
		rp->lost_done += g->done_slots;
		if (g->qid[0] != '\0' && !delivered(rp, g->qid)) {
			if (rp->nlost < LOST_NAMED)
				snprintf(rp->lost[rp->nlost++], SPOOL_QID_MAX, "%s", g->qid);
			rp->lost_known++;
		}
	}
	for (size_t i = 0; i < rp->nat; i++) {
		if (jr_read_record(j, rp->at[i], &h, &payload) != 0)
			goto out;
		j->appended++;          /* the checkpoint owes it to queue/ (or to its done record) */
		if (delivered(rp, h.qid)) {
			rp->skipped++;
			continue;
		}
		/* Its state lines, in the order they were written. */
		const struct note *notes = rp->notes;
		size_t stlen = 0, lo = 0, hi = rp->nnotes;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(notes[mid].qid, h.qid) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t k = lo; k < rp->nnotes && strcmp(notes[k].qid, h.qid) == 0; k++) {
			char *ns = realloc(st, stlen + notes[k].len + 1);
			if (ns == NULL)
				goto out;
			st = ns;
			memcpy(st + stlen, notes[k].line, notes[k].len);
			stlen += notes[k].len;
		}
		if (spool_mem_recover(j->sp, h.qid, payload, h.len, st, stlen, j->gen) < 0) {
			if (errno != EBADMSG)
				goto out;
			log_errx(h.qid, "journal: a replayed message failed validation; kept in the damaged journal");
			mark_damaged(j);
			continue;
		}
		rp->restored++;
	}
	r = 0;
out:
	free(payload);
	free(st);
	free(gaps);
	return r;
}

static void report(struct journal *j, const struct replay *rp)
{
	char ids[LOST_NAMED * (SPOOL_QID_MAX + 1) + 1] = "";
	size_t o = 0;

	if (rp->restored > 0 || rp->skipped > 0)
		log_info(NULL, "journal restored=%zu accepted messages put back into the queue, delivered=%zu skipped",
		         rp->restored, rp->skipped);
	if (rp->torn)
		log_info(NULL, "journal: the last batch was only partly written before the stop (never acknowledged: "
		         "its clients were not told 250 and send it again)");
	if (rp->whole == 0 && j->nonce != 0) {
		/* journal.gen names a tagged generation, whose first record was written before it:
		 * a journal without it was emptied or overwritten, not torn. */
		mark_damaged(j);
		log_errx(NULL, "journal damaged: generation=%u not one record of it can be read (%lld octets): every "
		         "acknowledged message it held is lost. What is left is kept as %s/corrupt/%s", j->gen,
		         (long long)j->size, spool_dir(j->sp), j->keep);
		return;
	}
	if (rp->cut > 0) {
		mark_damaged(j);
		log_errx(NULL, "journal damaged: generation=%u the file was cut short at offset %lld (%lld octets; it is "
		         "only ever written in whole MiB): acknowledged messages after that offset are lost. The damaged "
		         "journal is kept as %s/corrupt/%s", j->gen, (long long)rp->cut, (long long)j->size,
		         spool_dir(j->sp), j->keep);
	}
	if (rp->gaps == 0)
		return;
	mark_damaged(j);
	for (size_t i = 0; i < rp->nlost; i++)
		o += (size_t)snprintf(ids + o, sizeof(ids) - o, "%s%s", i ? " " : "", rp->lost[i]);
	log_errx(NULL, "journal damaged: generation=%u %zu region%s between offsets %lld and %lld (%lld octets) cannot "
	         "be read; every whole record after %s was recovered. Lost: %zu message%s whose id survived%s%s%s, and "
	         "whatever else the %s held (acknowledged, cannot be named)%s. The damaged journal is kept as "
	         "%s/corrupt/%s", j->gen, rp->gaps, rp->gaps == 1 ? "" : "s", (long long)rp->gap_first,
	         (long long)rp->gap_last, (long long)rp->gap_octets, rp->gaps == 1 ? "it" : "them", rp->lost_known,
	         rp->lost_known == 1 ? "" : "s", o ? " (" : "", ids, o ? (rp->lost_known > rp->nlost ? " ...)" : ")") : "",
	         rp->gaps == 1 ? "region" : "regions",
	         rp->lost_done ? "; a damaged done record: messages already delivered may be delivered again" : "",
	         spool_dir(j->sp), j->keep);
}

int jr_replay(struct journal *j)
{
	struct replay rp;
	int r = 0;

	memset(&rp, 0, sizeof(rp));
	find_generation(j);
	if (j->gen != 0) {
		if ((r = replay(j, &rp)) == 0) {
			report(j, &rp);
			j->batch = rp.max_batch + 1;
		}
	}
	free(rp.at);
	free(rp.done);
	jr_free_notes(rp.notes, rp.nnotes);
	return r;
}
