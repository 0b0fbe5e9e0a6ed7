/*
 * ctlsock.h - the command line's end of the server's control socket (spool/control.sock).
 */
#ifndef MAILPORT_CLI_CTLSOCK_H
#define MAILPORT_CLI_CTLSOCK_H

/* Send one request line to the server of config; 0, 1 (the server said error:), 69 (no
 * server running), 78 (config), 74 (I/O). prog names the verb in messages. The answer is
 * copied to stdout, or stderr when it starts "error:". */
int ctl_request(const char *prog, const char *config, const char *line);
/* Where config's server listens, read once (a command that connects many times). */
struct ctl_addr {
	char spool[4096];
	char config[4096];
};
/* 0, or -1 after printing the configuration's errors (exit 78). */
int ctl_address(const char *config, struct ctl_addr *a);
/* A connection to the control socket at a, or minus the exit status (69) after saying why on
 * stderr. */
int ctl_connect(const char *prog, const struct ctl_addr *a);

#endif
