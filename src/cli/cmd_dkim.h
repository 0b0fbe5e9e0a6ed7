/*
 * cmd_dkim.h - the `mailport dkim` verb (keygen).
 */
#ifndef MAILPORT_CLI_CMD_DKIM_H
#define MAILPORT_CLI_CMD_DKIM_H

int dkim_main(int argc, char **argv);

#endif
