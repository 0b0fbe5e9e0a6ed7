/*
 * ctl.h - the command-line side of the server's control socket (spool/control.sock): the
 * verbs `mailport queue` (also `mailq`, `sendmail -bp`), `mailport auth` and `mailport tlsrpt`. One request line
 * per connection; the server's answer is copied to stdout, or stderr when it starts "error:".
 */
#ifndef MAILPORT_CLI_CTL_H
#define MAILPORT_CLI_CTL_H

#define MAILPORT_DEFAULT_CONFIG "/etc/mailport/mailport.conf"

/* mailport queue [--config FILE] list | show ID | flush | delete ID | bounce ID */
int queue_main(int argc, char **argv);
/* mailport auth [--config FILE] status | unlock IP|ADDRESS */
int auth_main(int argc, char **argv);
/* mailport tlsrpt [--config FILE] send [today|yesterday|YYYY-MM-DD] */
int tlsrpt_main(int argc, char **argv);
/* Send one request line to the server of config; 0, 1 (the server said error:), 69 (no
 * server running), 78 (config), 74 (I/O). prog names the verb in messages. */
int ctl_request(const char *prog, const char *config, const char *line);
/* A connection to the control socket of config's server, or minus the exit status (78, 69)
 * after saying why on stderr. */
int ctl_open(const char *prog, const char *config);

#endif
