/*
 * log.h - one line per event on stderr: "TIME mailport[PID]: LEVEL ID EVENT key=value ...".
 *
 * Callers pass a session or queue id (or NULL) and a printf format carrying the event and its
 * key=value fields. log_warn() appends ": strerror(errno)", log_warnx() does not (OpenSMTPD's
 * habit). Secrets are never passed here: AUTH payloads are masked by the caller.
 * Thread-safe: each line is formatted whole and written with one write(2).
 */
#ifndef MAILPORT_LOG_H
#define MAILPORT_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR };

/* Messages below this level are dropped (default LOG_LVL_INFO). */
void log_set_level(enum log_level lvl);
/* Write log lines to fd instead of stderr (tests). */
void log_set_fd(int fd);

void log_info(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warnx(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_errx(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
