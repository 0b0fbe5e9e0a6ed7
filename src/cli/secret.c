/*
 * secret.c - reading a password file for `send` and `check`. Not password_command (send's
 * own) and not hashing (auth/).
 */
#include "secret.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "../auth/pwquality.h"
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

/* Read one line without its newline; no echo when stdin is a terminal. */
static int read_secret(const char *prompt, char *buf, size_t len)
{
	struct termios old, noecho;
	int tty = isatty(STDIN_FILENO), r = 0;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &old);
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
	}
	if (fgets(buf, (int)len, stdin) == NULL)
		r = -1;
	else
		buf[strcspn(buf, "\r\n")] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	return r;
}

int secret_new_password(const char *prog, const char *user, int allow_weak, char *pw, size_t len)
{
	char again[1024], why[400];

	if (read_secret("Password: ", pw, len) < 0 || pw[0] == '\0') {
		fprintf(stderr, "%s: no password given\n", prog);
		return EX_DATAERR;
	}
	if (pwquality_check(pw, user, why, sizeof(why), NULL) != 0) {
		if (!allow_weak) {
			explicit_bzero(pw, len);
			fprintf(stderr, "%s: this password is too weak: %s\n", prog, why);
			return EX_DATAERR;
		}
		fprintf(stderr, "%s: --allow-weak (for tests only): hashing a weak password: %s\n", prog, why);
	}
	if (isatty(STDIN_FILENO)) {
		int same = read_secret("Again: ", again, sizeof(again)) == 0 && strcmp(pw, again) == 0;
		explicit_bzero(again, sizeof(again));
		if (!same) {
			explicit_bzero(pw, len);
			fprintf(stderr, "%s: the passwords differ\n", prog);
			return EX_DATAERR;
		}
	}
	return 0;
}
