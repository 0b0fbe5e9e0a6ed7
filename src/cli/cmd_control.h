/*
 * cmd_control.h - the command-line side of the server's control socket (spool/control.sock): the
 * verbs `mailport queue` (also `mailq`, `sendmail -bp`), `mailport auth` and `mailport tlsrpt`. One request line
 * per connection; the server's answer is copied to stdout, or stderr when it starts "error:".
 */
#ifndef MAILPORT_CLI_CMD_CONTROL_H
#define MAILPORT_CLI_CMD_CONTROL_H

#define MAILPORT_DEFAULT_CONFIG "/etc/mailport/mailport.conf"

/* mailport queue [--config FILE] list | show ID | flush | delete ID | bounce ID */
int queue_main(int argc, char **argv);
/* mailport auth [--config FILE] status | unlock IP|ADDRESS */
int auth_main(int argc, char **argv);
/* mailport tlsrpt [--config FILE] send [today|yesterday|YYYY-MM-DD] */
int tlsrpt_main(int argc, char **argv);


#endif
