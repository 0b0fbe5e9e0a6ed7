/*
 * cmd_usercert.h - `mailport user cert`: the client CA of [auth] client_ca, a device's certificate
 * for a mailbox, the list of them, and their revocation (the CRL the server reads).
 */
#ifndef MAILPORT_CLI_CMD_USERCERT_H
#define MAILPORT_CLI_CMD_USERCERT_H

#include <sys/types.h>

#include "../conf/config.h"

struct usercert_ctx {
	const struct config *cfg;
	char crl[4200], index[4200];    /* runconf_clientca_paths() */
	uid_t uid;                      /* the server's user when run as root, else -1: it reads them */
	gid_t gid;
};

/* verb: ca, issue (address: a mailbox), list (address or NULL), revoke (arg: serial or label).
 * days 0: the verb's default. An exit status (sysexits). */
int usercert_run(const struct usercert_ctx *x, const char *verb, const char *address, const char *arg,
                 const char *label, int days, const char *outdir);

#endif
