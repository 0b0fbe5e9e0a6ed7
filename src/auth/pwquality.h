/*
 * pwquality.h - whether a password is strong enough to set: long enough, not the user's own
 * address or domain, and not guessable by the estimate of zxcvbn (Debian's libzxcvbn: Dropbox's
 * method, with its built-in lists of the most common passwords, English words, names and
 * surnames, and its keyboard, sequence, repeat and date patterns). Pure; no allocation kept.
 */
#ifndef MAILPORT_PWQUALITY_H
#define MAILPORT_PWQUALITY_H

#include <stddef.h>

#define PWQ_MIN_LENGTH 12           /* characters (UTF-8 code points) */
#define PWQ_MIN_BITS 40.0           /* zxcvbn's estimate: about 10^12 guesses */

/* 0 when password may be set; -1 with why (in words, with what to do instead). user: the
 * mailbox address it is for, or NULL. *bits (may be NULL) gets zxcvbn's estimate. */
int pwquality_check(const char *password, const char *user, char *why, size_t whylen, double *bits);

#endif
