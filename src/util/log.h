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

/* Where lines go: stderr (the supervisor's stream), syslog (facility mail, as Postfix logs,
 * over the local datagram socket, default /dev/log) or the systemd journal (its native protocol,
 * default /run/systemd/journal/socket, with PRIORITY, SYSLOG_IDENTIFIER and MAILPORT_ID
 * fields). json: each line a JSON object (time, pid, level, id, event, every key=value field,
 * msg) for log shippers. The socket is opened here, before the process gives up its
 * privileges; a line the socket refuses goes to stderr instead. 0, or -1 with errno. */
enum log_dest { LOG_DEST_STDERR, LOG_DEST_SYSLOG, LOG_DEST_JOURNAL };
int log_open(enum log_dest dest, int json, const char *socket_path);

void log_info(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warn(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_warnx(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_errx(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
