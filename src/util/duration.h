/*
 * duration.h - a span of time in the words a person reads in a bounce, a 454 reply or
 * `mailport queue`: "5 days", "1 hour", "10 minutes", "45 seconds"; and a moment as logs write
 * it. Pure.
 */
#ifndef MAILPORT_DURATION_H
#define MAILPORT_DURATION_H

#include <stddef.h>

/* Days or hours when the span is within a tenth of a whole number of them ("5 days" for 4
 * days 23 hours, "1 hour" for 59 minutes 30 seconds), else minutes (rounded), else seconds:
 * 90 minutes stays "90 minutes", never "1 hour". */
void duration_words(long long seconds, char *buf, size_t len);
/* A moment (epoch seconds) as ISO 8601 UTC, "2026-12-03T13:05:00Z", for log lines and status. */
void time_utc(long long t, char *buf, size_t len);

#endif
