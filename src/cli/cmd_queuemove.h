/*
 * cmd_queuemove.h - `mailport queue export` (a stopped node's queue to stdout) and `mailport queue
 * import` (an export from stdin into the running node's queue, each message exactly once).
 */
#ifndef MAILPORT_CLI_CMD_QUEUEMOVE_H
#define MAILPORT_CLI_CMD_QUEUEMOVE_H

int queue_export(const char *config);
int queue_import(const char *config);

#endif
