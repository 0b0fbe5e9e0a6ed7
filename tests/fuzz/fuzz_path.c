/*
 * fuzz_path.c - the command, path and parameter parser. Every returned slice must lie inside
 * the input; an OK path's slices obey the RFC 5321 limits.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "smtp/parse.h"

static void inside(const char *base, size_t len, const char *p, size_t n)
{
	if (n == 0)
		return;
	assert(p >= base && p + n <= base + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct smtp_path p;
	struct smtp_param params[SMTP_PARAMS_MAX];
	struct smtp_cmd cmd;
	size_t used, n;

	for (unsigned flags = 0; flags < 16; flags++) {
		if (smtp_parse_path(s, size, flags, &p, &used) == SMTP_PATH_OK) {
			assert(used <= size);
			inside(s, size, p.local, p.local_len);
			inside(s, size, p.domain, p.domain_len);
			inside(s, size, p.mailbox, p.mailbox_len);
			assert(p.local_len <= SMTP_LOCAL_MAX && p.domain_len <= SMTP_DOMAIN_MAX);
			assert(p.has_utf8 == 0 || (flags & SMTP_PATH_UTF8));
		}
	}
	n = SMTP_PARAMS_MAX;
	if (smtp_parse_mail_arg(s, size, "FROM:", SMTP_PATH_ALLOW_NULL, &p, params, &n) == 0) {
		assert(n <= SMTP_PARAMS_MAX);
		for (size_t i = 0; i < n; i++) {
			inside(s, size, params[i].key, params[i].key_len);
			if (params[i].value)
				inside(s, size, params[i].value, params[i].value_len);
		}
	}
	if (smtp_parse_command(s, size, &cmd) == 0)
		inside(s, size, cmd.arg, cmd.arglen);
	(void)smtp_domain_valid(s, size, size & 1);
	return 0;
}
