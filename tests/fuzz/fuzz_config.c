/*
 * fuzz_config.c - the configuration loader (inih underneath, then our parameter parsers:
 * sizes, durations, listen addresses, domains, networks, URLs, retry lists). Invariants: a
 * load gives a configuration or errors, never both and never neither; every error names the
 * file and a line ("path:N: "); no crash, leak or hang. Values naming other files are read
 * with a bound (fs_read_file), so a path in the input cannot make the harness hang.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "conf/config.h"
#include "memfile.h"
#include "util/errlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct errlist errs = { 0 };
	int fd;

	/* Device files and /proc would test the machine, not the loader. */
	if (memmem(data, size, "/dev", 4) || memmem(data, size, "/proc", 5) || memmem(data, size, "/sys", 4))
		return 0;
	if ((fd = memfile(data, size, path, sizeof(path))) < 0)
		return 0;
	struct config *c = config_load(path, &errs);
	assert((c != NULL) == (errs.n == 0));
	for (size_t i = 0; i < errs.n; i++)
		assert(strncmp(errs.msgs[i], path, strlen(path)) == 0 && errs.msgs[i][strlen(path)] == ':');
	config_free(c);
	errlist_free(&errs);
	close(fd);
	return 0;
}
