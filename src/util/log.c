/*
 * log.c - the single place log lines are formatted.
 * Not a syslog client: mailport runs in the foreground and the supervisor owns the stream.
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_min = LOG_LVL_INFO;
static int log_fd = STDERR_FILENO;

void log_set_level(enum log_level lvl) { log_min = lvl; }
void log_set_fd(int fd) { log_fd = fd; }

static void log_vemit(enum log_level lvl, const char *id, int with_errno, int saved_errno,
                      const char *fmt, va_list ap)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int r;

	if (lvl < log_min)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ mailport[%ld]: %s %s ",
	             (long)(tv.tv_usec / 1000), (long)getpid(), names[lvl], id ? id : "-");
	if (r > 0)
		n += (size_t)r;
	if (n < sizeof(line)) {
		r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (r > 0)
			n += (size_t)r;
	}
	if (with_errno && n < sizeof(line)) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(saved_errno));
		if (r > 0)
			n += (size_t)r;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* Control characters from peers never reach the log as themselves. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	(void)!write(log_fd, line, n);
}

#define LOG_FN(name, lvl, with_errno)                                   \
	void name(const char *id, const char *fmt, ...)                 \
	{                                                               \
		int saved = errno;                                      \
		va_list ap;                                             \
		va_start(ap, fmt);                                      \
		log_vemit(lvl, id, with_errno, saved, fmt, ap);         \
		va_end(ap);                                             \
		errno = saved;                                          \
	}

LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_errx, LOG_LVL_ERR, 0)
