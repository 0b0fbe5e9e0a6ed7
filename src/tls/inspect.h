/*
 * inspect.h - what a TLS server showed us: negotiated version, cipher and key exchange group,
 * and its certificate (names, issuer, validity, key, signature), with the chain verdict and the
 * host name match reported separately so a report can say which one is wrong.
 *
 * tls_inspect() reads a finished client handshake (made with transport_tls_ex's inspect mode,
 * so the chain verdict is in SSL_get_verify_result) and fills *p; it keeps no pointers.
 */
#ifndef MAILPORT_TLS_INSPECT_H
#define MAILPORT_TLS_INSPECT_H

#include <openssl/ssl.h>
#include <time.h>

struct tls_peer {
	char version[16];           /* "TLSv1.3" */
	char cipher[64];
	char group[32];             /* key exchange group, "" when the version does not say */
	int have_cert;
	char subject[256], issuer[256];
	char names[1024];           /* subjectAltName DNS names and addresses, ", "-separated */
	int chain_ok;               /* trusted by the CA store used for the handshake */
	int chain_error;            /* X509_V_ERR_* when not */
	char chain_reason[128];
	int host_ok;                /* the certificate is for the name (or address) we asked for */
	int expired, not_yet_valid;
	char not_after[32];         /* "2027-02-25T12:00:00Z" */
	long days_left;             /* negative when expired */
	char key_type[16];          /* "RSA", "EC", "ED25519" ... */
	int key_bits;
	char key_group[32];         /* the curve of an EC key */
	char signature[64];         /* "ecdsa-with-SHA256" */
};

void tls_inspect(const SSL *ssl, const char *host, time_t now, struct tls_peer *p);

#endif
