/*
 * send.h - `mailport send` (and the binary called as `sendmail`): submit one message from
 * standard input over 465 (implicit TLS) or 587 (STARTTLS), certificate always verified.
 * Returns a sysexits code: 0 sent, 75 try again later, 69 refused for good, 77 authentication
 * or permission, 78 configuration, 65 bad message input, 64 usage.
 */
#ifndef MAILPORT_SEND_H
#define MAILPORT_SEND_H

int send_main(int argc, char **argv);

#endif
