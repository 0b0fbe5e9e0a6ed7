/*
 * cmd_user.h - the `mailport user` verb: a mailbox's app passwords (add, list, revoke).
 */
#ifndef MAILPORT_CLI_CMD_USER_H
#define MAILPORT_CLI_CMD_USER_H

int user_main(int argc, char **argv);

#endif
