/*
 * ctlsock.h - the command line's end of the server's control socket (spool/control.sock).
 */
#ifndef MAILPORT_CLI_CTLSOCK_H
#define MAILPORT_CLI_CTLSOCK_H

/* Send one request line to the server of config; 0, 1 (the server said error:), 69 (no
 * server running), 78 (config), 74 (I/O). prog names the verb in messages. The answer is
 * copied to stdout, or stderr when it starts "error:". */
int ctl_request(const char *prog, const char *config, const char *line);
/* A connection to the control socket of config's server, or minus the exit status (78, 69)
 * after saying why on stderr. */
int ctl_open(const char *prog, const char *config);

#endif
