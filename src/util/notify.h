/*
 * notify.h - readiness and state for a service manager: systemd's sd_notify datagram protocol
 * (READY=1, RELOADING=1, STOPPING=1, STATUS=...), spoken directly rather than through
 * libsystemd: one datagram to the socket named by $NOTIFY_SOCKET, nothing when it is unset.
 */
#ifndef MAILPORT_NOTIFY_H
#define MAILPORT_NOTIFY_H

/* Reads and unsets $NOTIFY_SOCKET ("/path" or "@abstract") and connects to it: called before
 * the privilege drop and the sandbox, which could forbid it later. 0 (also when there is no
 * manager), or -1 with errno. */
int notify_open(void);
/* One state message ("READY=1\nSTATUS=..."); lost silently when no manager listens. */
void notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void notify_close(void);

#endif
