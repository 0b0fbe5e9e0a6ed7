/*
 * fuzz_journal.c - the acceptance journal's replay of whatever a crash or damage at rest left:
 * the input is the journal file (journal.gen absent, so the generation comes from the file
 * itself). Invariants: the start never fails for what the file holds; every message it brings
 * back is a valid queue file that loads; the checkpoint of the close writes each of them to
 * queue/ once, and a second start brings back nothing more; no crash, leak or hang.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/journal.h"
#include "queue/spool.h"
#include "util/log.h"

static char root[PATH_MAX];

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			rm_tree(path);
		if (de->d_type == DT_DIR)
			rmdir(path);
		else
			unlink(path);
	}
	closedir(d);
}

struct seen {
	struct spool *sp;
	size_t n;
};

static void load(void *arg, const char *qid)
{
	struct seen *s = arg;
	struct spool_entry *e = spool_entry_load(s->sp, qid);

	assert(e != NULL || errno == EBADMSG);
	if (e != NULL)
		assert(e->nrcpts > 0 && e->sender != NULL);
	spool_entry_free(e);
	s->n++;
}

static size_t start(void)
{
	char err[512];
	struct spool *sp = spool_open(root, err, sizeof(err));
	struct seen s = { sp, 0 };

	assert(sp != NULL);
	struct journal *j = journal_open(sp, err, sizeof(err));
	assert(j != NULL);
	spool_scan(sp, load, &s);
	journal_close(j);
	spool_close(sp);
	return s.n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[PATH_MAX + 16];
	int fd;

	if (root[0] == '\0') {
		const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(root, sizeof(root), "%s/mailport-fuzz-journal-%ld", base, (long)getpid());
		log_set_level((enum log_level)(LOG_LVL_ERR + 1));
	}
	rm_tree(root);
	rmdir(root);
	assert(mkdir(root, 0700) == 0);
	snprintf(path, sizeof(path), "%s/journal", root);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert(fd >= 0);
	assert(size == 0 || write(fd, data, size) == (ssize_t)size);
	close(fd);
	size_t first = start();
	size_t second = start();
	if (getenv("FUZZ_JOURNAL_SHOW"))
		fprintf(stderr, "journal: %zu back, %zu after a second start\n", first, second);
	assert(second <= first);        /* what is in queue/ now, nothing more */
	rm_tree(root);
	rmdir(root);
	return 0;
}
