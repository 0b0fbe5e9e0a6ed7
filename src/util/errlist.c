/*
 * errlist.c - a growable list of formatted error lines; nothing more.
 */
#include "errlist.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void errlist_add(struct errlist *e, const char *file, int line, const char *fmt, ...)
{
	char buf[1024];
	int n;
	va_list ap;

	if (line > 0)
		n = snprintf(buf, sizeof(buf), "%s:%d: ", file, line);
	else
		n = snprintf(buf, sizeof(buf), "%s: ", file);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (e->n == e->cap) {
		size_t ncap = e->cap ? e->cap * 2 : 8;
		char **m = realloc(e->msgs, ncap * sizeof(*m));
		if (m == NULL)
			return;             /* losing an error line beats crashing while reporting */
		e->msgs = m;
		e->cap = ncap;
	}
	if ((e->msgs[e->n] = strdup(buf)) != NULL)
		e->n++;
}

void errlist_print(const struct errlist *e, FILE *out)
{
	for (size_t i = 0; i < e->n; i++)
		fprintf(out, "mailport: %s\n", e->msgs[i]);
}

void errlist_free(struct errlist *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n; i++)
		free(e->msgs[i]);
	free(e->msgs);
	memset(e, 0, sizeof(*e));
}
