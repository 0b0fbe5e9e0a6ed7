/*
 * ctlsock.c - the command line's end of the server's control socket (spool/control.sock):
 * connect, one request, the answer. The verbs that use it are cmd_control.c's and cmd_queuemove.c's.
 */
#include "ctlsock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../conf/config.h"
#include "../util/errlist.h"

int ctl_address(const char *config, struct ctl_addr *a)
{
	struct errlist errs = { 0 };
	struct config *c = config_load(config, &errs);

	if (c == NULL) {
		errlist_print(&errs, stderr);
		errlist_free(&errs);
		return -1;
	}
	snprintf(a->spool, sizeof(a->spool), "%s", c->spool);
	snprintf(a->config, sizeof(a->config), "%s", config);
	config_free(c);
	return 0;
}

int ctl_connect(const char *prog, const struct ctl_addr *a)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/control.sock", a->spool) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "%s: the spool's path %s is too long for a control socket\n", prog, a->spool);
		return -EX_CONFIG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "%s: no running mailport server for spool %s (%s: %s).\n"
		        "Start it with: mailport serve --config %s\n", prog, a->spool, sun.sun_path, strerror(errno),
		        a->config);
		if (fd >= 0)
			close(fd);
		return -EX_UNAVAILABLE;
	}
	return fd;
}

int ctl_request(const char *prog, const char *config, const char *line)
{
	struct ctl_addr a;
	char buf[4096];
	int fd, error = 0, first = 1;
	ssize_t n;

	if (ctl_address(config, &a) < 0)
		return EX_CONFIG;
	if ((fd = ctl_connect(prog, &a)) < 0)
		return -fd;
	if (write(fd, line, strlen(line)) < 0 || write(fd, "\n", 1) < 0) {
		fprintf(stderr, "%s: cannot talk to the server: %s\n", prog, strerror(errno));
		close(fd);
		return EX_IOERR;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (first && n >= 6 && memcmp(buf, "error:", 6) == 0)
			error = 1;
		first = 0;
		fwrite(buf, 1, (size_t)n, error ? stderr : stdout);
	}
	close(fd);
	return error ? 1 : 0;
}

