/*
 * memfile.h - for harnesses of loaders that take a path: the input as a file that lives in
 * memory (a memfd, named through /proc/self/fd), so fuzzing never writes to a disk.
 */
#ifndef MAILPORT_FUZZ_MEMFILE_H
#define MAILPORT_FUZZ_MEMFILE_H

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* -1 on failure; else an fd whose path is written to path (close it when done). */
static inline int memfile(const void *data, size_t size, char *path, size_t pathlen)
{
	int fd = memfd_create("fuzz-input", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	snprintf(path, pathlen, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
