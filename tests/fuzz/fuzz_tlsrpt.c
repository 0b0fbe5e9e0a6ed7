/*
 * fuzz_tlsrpt.c - the TLS-RPT day file read back into a report (tlsrpt_json): its lines are
 * ours, but a torn append, a full disk or a hand edit can leave anything there. Invariants:
 * no crash; a report, when one comes out, is a JSON object with at least one policy whose
 * counts add up (the failure count is the sum of the failed sessions listed).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "route/tlsrpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlsrpt_report r = { "mx.example.org", "postmaster@example.org", "2026-12-04", "a.example" };
	char *out = tlsrpt_json(&r, (const char *)data, size);
	size_t i;
	json_t *p;

	if (out == NULL)
		return 0;
	json_t *doc = json_loads(out, 0, NULL);
	assert(json_is_object(doc));
	json_t *pols = json_object_get(doc, "policies");
	assert(json_array_size(pols) > 0);
	json_array_foreach(pols, i, p) {
		json_t *sum = json_object_get(p, "summary"), *d;
		json_int_t fails = 0;
		size_t k;
		json_array_foreach(json_object_get(p, "failure-details"), k, d)
			fails += json_integer_value(json_object_get(d, "failed-session-count"));
		assert(fails == json_integer_value(json_object_get(sum, "total-failure-session-count")));
	}
	json_decref(doc);
	free(out);
	return 0;
}
