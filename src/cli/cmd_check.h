/*
 * cmd_check.h - `mailport check HOST|user@domain`: which port and which encryption to use, by
 * probing 465, 587 and 25 (or discovering the submission server of an address first).
 * Returns 0 when a secure submission path exists, 1 when only insecure ones, 2 when none,
 * 77 when a secure one exists but refused the login tested, 64 on usage errors.
 */
#ifndef MAILPORT_CLI_CMD_CHECK_H
#define MAILPORT_CLI_CMD_CHECK_H

int check_main(int argc, char **argv);

#endif
