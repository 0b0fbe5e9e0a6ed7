/*
 * report.h - `mailport check` output: the human report (colour only when asked, i.e. on a
 * tty) and the JSON document (schema "mailport-check", version 1, documented in
 * docs/check-json.md; fields are only ever added within a version).
 */
#ifndef MAILPORT_CHECK_REPORT_H
#define MAILPORT_CHECK_REPORT_H

#include <stdio.h>

#include "check.h"
#include "discover.h"

#define CHECK_JSON_VERSION 1

struct check_report {
	const char *target;
	const struct discovery *discovery;      /* NULL when a host was given */
	const struct check_port *ports;
	size_t nports;
	const char *recommendation;
	const struct check_port *best;
	int exit_code;
	long timeout_ms;
};

void check_report_text(FILE *out, const struct check_report *r, int colour);
/* 0, or -1 when the document could not be built or written. */
int check_report_json(FILE *out, const struct check_report *r);

#endif
