/*
 * duration.c - see duration.h. Not a parser: configuration durations are conf/config_set.c's.
 */
#include "duration.h"

#include <stdio.h>
#include <time.h>

void duration_words(long long s, char *buf, size_t len)
{
	static const struct { long long secs; const char *one, *many; } units[] = {
		{ 86400, "day", "days" }, { 3600, "hour", "hours" },
	};
	long long n;

	if (s < 0)
		s = 0;
	/* Days or hours only when the span is that many of them, give or take a tenth: 90 minutes
	 * is not "1 hour". */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		long long u = units[i].secs;
		n = (s + u / 10) / u;
		if (n >= 1 && (s > n * u ? s - n * u : n * u - s) <= u / 10) {
			snprintf(buf, len, "%lld %s", n, n == 1 ? units[i].one : units[i].many);
			return;
		}
	}
	if (s >= 60) {
		n = (s + 30) / 60;
		snprintf(buf, len, "%lld minute%s", n, n == 1 ? "" : "s");
	} else
		snprintf(buf, len, "%lld second%s", s, s == 1 ? "" : "s");
}

void time_utc(long long t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
