/*
 * log.c - the single place log lines are formatted, and where they go: stderr, syslog or the
 * journal (log.h), as text or JSON.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_min = LOG_LVL_INFO;
static int log_fd = STDERR_FILENO;
static enum log_dest log_dest = LOG_DEST_STDERR;
static int log_json;
static int log_sock = -1;

int log_open(enum log_dest dest, int json, const char *socket_path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = socket_path ? socket_path : dest == LOG_DEST_JOURNAL ? "/run/systemd/journal/socket" :
	                   "/dev/log";

	log_json = json;
	if (dest == LOG_DEST_STDERR) {
		log_dest = dest;
		return 0;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return -1;
	}
	if (log_sock >= 0)
		close(log_sock);
	log_sock = fd;
	log_dest = dest;
	return 0;
}

static size_t put(char *out, size_t n, size_t cap, const char *s, size_t len)
{
	if (n < cap) {
		size_t k = len < cap - n ? len : cap - n;
		memcpy(out + n, s, k);
		n += k;
	}
	return n;
}

/* A JSON string's content (quotes and backslashes escaped; control characters are gone). */
static size_t put_json(char *out, size_t n, size_t cap, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			n = put(out, n, cap, "\\", 1);
		n = put(out, n, cap, s + i, 1);
	}
	return n;
}

static int key_ok(const char *k, size_t len)
{
	if (len == 0 || len > 40)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_' || k[i] == '-'))
			return 0;
	return 1;
}

/* "EVENT WORDS key=value key=\"quoted value\" ..." as JSON members: the leading words are the
 * event, each key=value a string member (the first of a repeated key wins in most readers). */
static size_t json_fields(char *out, size_t n, size_t cap, const char *msg, size_t len)
{
	size_t i = 0, ev_end = 0;
	int in_event = 1;

	while (i < len) {
		while (i < len && msg[i] == ' ')
			i++;
		size_t t = i;
		while (i < len && msg[i] != ' ' && msg[i] != '=')
			i++;
		if (i < len && msg[i] == '=' && key_ok(msg + t, i - t)) {
			size_t k = t, kl = i - t, v = ++i, vl;
			if (i < len && msg[i] == '"') {
				v = ++i;
				while (i < len && msg[i] != '"')
					i++;
				vl = i - v;
				if (i < len)
					i++;
			} else {
				while (i < len && msg[i] != ' ')
					i++;
				vl = i - v;
			}
			if (in_event) {
				n = put(out, n, cap, "\",\"event\":\"", 11);
				n = put_json(out, n, cap, msg, ev_end);
				in_event = 0;
			}
			n = put(out, n, cap, "\",\"", 3);
			n = put_json(out, n, cap, msg + k, kl);
			n = put(out, n, cap, "\":\"", 3);
			n = put_json(out, n, cap, msg + v, vl);
			continue;
		}
		while (i < len && msg[i] != ' ')
			i++;
		if (in_event)
			ev_end = i;
	}
	if (in_event) {
		n = put(out, n, cap, "\",\"event\":\"", 11);
		n = put_json(out, n, cap, msg, ev_end);
	}
	return n;
}

void log_set_level(enum log_level lvl) { log_min = lvl; }
void log_set_fd(int fd) { log_fd = fd; }

static void log_vemit(enum log_level lvl, const char *id, int with_errno, int saved_errno,
                      const char *fmt, va_list ap)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	static const int prio[] = { 7, 6, 4, 3 };      /* syslog's debug, info, warning, err */
	char msg[2048], stamp[40], line[4096];
	struct timeval tv;
	struct tm tm;
	size_t m = 0, n;
	int r;

	if (lvl < log_min)
		return;
	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	m = r < 0 ? 0 : (size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1;
	if (with_errno && m + 3 < sizeof(msg)) {
		r = snprintf(msg + m, sizeof(msg) - m, ": %s", strerror(saved_errno));
		if (r > 0)
			m = m + (size_t)r < sizeof(msg) ? m + (size_t)r : sizeof(msg) - 1;
	}
	/* Control characters from peers never reach the log as themselves. */
	for (size_t i = 0; i < m; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	if (id == NULL)
		id = "-";
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

	/* the text: "LEVEL ID MESSAGE", or the JSON object */
	char body[3500];
	size_t b = 0;
	if (log_json) {
		r = snprintf(body, sizeof(body), "{\"time\":\"%s\",\"pid\":%ld,\"level\":\"%s\",\"id\":\"", stamp,
		             (long)getpid(), names[lvl]);
		b = r > 0 ? (size_t)r : 0;
		b = put_json(body, b, sizeof(body) - 4, id, strlen(id));
		b = json_fields(body, b, sizeof(body) - 4, msg, m);
		b = put(body, b, sizeof(body) - 4, "\",\"msg\":\"", 9);
		b = put_json(body, b, sizeof(body) - 4, msg, m);
		b = put(body, b, sizeof(body), "\"}", 2);
	} else {
		r = snprintf(body, sizeof(body), "%s %s %.*s", names[lvl], id, (int)m, msg);
		b = r < 0 ? 0 : (size_t)r < sizeof(body) ? (size_t)r : sizeof(body) - 1;
	}

	if (log_dest == LOG_DEST_SYSLOG && log_sock >= 0) {
		/* RFC 3164 as syslog(3) sends it on the local socket: <PRI>Mmm dd hh:mm:ss TAG[PID]: */
		char ts[32];
		struct tm lt;
		localtime_r(&tv.tv_sec, &lt);
		strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &lt);
		r = snprintf(line, sizeof(line), "<%d>%s mailport[%ld]: %.*s", 2 * 8 + prio[lvl], ts, (long)getpid(),
		             (int)b, body);
		if (r > 0 && send(log_sock, line, (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1, MSG_NOSIGNAL) >= 0)
			return;
	} else if (log_dest == LOG_DEST_JOURNAL && log_sock >= 0) {
		r = snprintf(line, sizeof(line), "PRIORITY=%d\nSYSLOG_FACILITY=2\nSYSLOG_IDENTIFIER=mailport\nSYSLOG_PID=%ld\n"
		             "MAILPORT_ID=%s\nMESSAGE=%.*s\n", prio[lvl], (long)getpid(), id, (int)b, body);
		if (r > 0 && send(log_sock, line, (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1, MSG_NOSIGNAL) >= 0)
			return;
	}
	if (log_json)
		r = snprintf(line, sizeof(line), "%.*s\n", (int)b, body);
	else
		r = snprintf(line, sizeof(line), "%s mailport[%ld]: %.*s\n", stamp, (long)getpid(), (int)b, body);
	if (r > 0)
		(void)!write(log_fd, line, (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1);
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
