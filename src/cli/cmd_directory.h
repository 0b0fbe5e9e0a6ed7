/*
 * cmd_directory.h - the `mailport directory` verb: the PostgreSQL directory's schema (migrate,
 * schema) for more than one node.
 */
#ifndef MAILPORT_CLI_CMD_DIRECTORY_H
#define MAILPORT_CLI_CMD_DIRECTORY_H

int directory_main(int argc, char **argv);

#endif
