/*
 * config_int.h - what the three parts of config.h's implementation share, and nobody else:
 * the typed parameter table (config_params.c), the setters that turn one value into a field of
 * struct config (config_set.c), and the loader that drives inih over the file (config.c).
 *
 * The table is static and read-only. A struct load_ctx lives for one config_load(); the setters
 * borrow it, add their errors to lc->errs as file:line, and own nothing of it.
 */
#ifndef MAILPORT_CONFIG_INT_H
#define MAILPORT_CONFIG_INT_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

enum ptype { P_STRING, P_TEXT, P_PATH, P_PATTERN, P_DOMAINS, P_SIZE, P_DURATION, P_UINT, P_LISTEN,
             P_DELIM, P_CERT, P_KEY, P_TLSVER, P_URL, P_SECRET_FILE, P_DURATIONS, P_NETS, P_USER, P_DKIM,
             P_RATE, P_WHERE };

struct param {
	const char *section, *key;
	enum ptype type;
	size_t off;                 /* offset in struct config; for P_LISTEN the role */
	const char *def;            /* default as text; NULL = required or none */
	unsigned long long min, max;
	int required;
	const char *help;
};

/* config_params.c: every parameter, in the order --defaults and mailport.conf(5) print them. */
extern const struct param config_params[];
extern const size_t config_nparams;

/* The help text of a parameter (a listener's comes from listener.c's table). */
const char *config_param_help(const struct param *p);

struct load_ctx {
	struct config *c;
	struct errlist *errs;
	const char *file;
	char dir[PATH_MAX];         /* of the config file: relative paths are resolved against it */
	int line;
	int *seen;                  /* per parameter, the line it was last given on (0: never) */
	int line_too_long;
	FILE *fp;
};

/* config_set.c: set p from the text v (a value in the file, or p's default), or add an error
 * at lc's file and line. */
void config_set_param(struct load_ctx *lc, const struct param *p, const char *v);

#endif
