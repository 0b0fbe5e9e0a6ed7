/*
 * errlist.h - collect every error of a load (config, users file) so all are reported at once,
 * each as "file:line: message" (OpenSMTPD's yyerror habit), instead of stopping at the first.
 * Ownership: the list owns its strings; errlist_free() releases them (NULL is a no-op).
 */
#ifndef MAILPORT_ERRLIST_H
#define MAILPORT_ERRLIST_H

#include <stddef.h>
#include <stdio.h>

struct errlist {
	char **msgs;
	size_t n, cap;
};

/* line 0 means "the file as a whole". */
void errlist_add(struct errlist *e, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void errlist_print(const struct errlist *e, FILE *out);
void errlist_free(struct errlist *e);

#endif
