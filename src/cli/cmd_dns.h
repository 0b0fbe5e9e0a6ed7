/*
 * cmd_dns.h - the `mailport dns` verb: the DNS records a sending and receiving domain needs.
 */
#ifndef MAILPORT_CLI_CMD_DNS_H
#define MAILPORT_CLI_CMD_DNS_H

int dns_main(int argc, char **argv);

#endif
