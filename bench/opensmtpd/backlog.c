/* LD_PRELOAD for bench/peer_opensmtpd.py, only when asked (OpenSMTPDBench(backlog=N), smoke
 * run --backlog N): listen(2) with a backlog of at least $BENCH_LISTEN_BACKLOG. OpenSMTPD 6.8
 * listens with a backlog of 5 (SMTPD_BACKLOG, compiled in); with 16 clients reconnecting at
 * once on a busy machine its accept queue overflows, Linux drops the client's final ACK, and
 * that client (server speaks first in SMTP) waits for its greeting for up to half a minute. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>

int listen(int fd, int backlog)
{
	static int (*real)(int, int);
	const char *want = getenv("BENCH_LISTEN_BACKLOG");

	if (real == NULL)
		real = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
	if (want != NULL && atoi(want) > backlog)
		backlog = atoi(want);
	return real(fd, backlog);
}
