/*
 * secret.c - reading a password file for `send` and `check`. Not password_command (send's
 * own) and not hashing (auth/).
 */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/fsutil.h"

#define SECRET_MAX 4096

char *secret_read_file(const char *prog, const char *path)
{
	struct stat st;
	size_t len;
	char *pw;

	if ((pw = fs_read_file(path, SECRET_MAX, &len, 0)) == NULL)
		return NULL;
	/* Only regular files: a pipe (<(pass show x)) has no permissions worth a word. */
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IROTH))
		fprintf(stderr, "%s: warning: %s is readable by every user on this machine (mode %04o); "
		        "protect it with: chmod 600 %s\n", prog, path, (unsigned)(st.st_mode & 07777), path);
	pw[strcspn(pw, "\r\n")] = '\0';
	return pw;
}
