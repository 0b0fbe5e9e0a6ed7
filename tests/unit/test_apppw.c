/* test_apppw.c - app passwords without a server: generated ones (alphabet, groups, no two alike),
 * what a mail client may have done to one (dashes, spaces, capitals), the store's format and its
 * errors (file:line), the lookup by id, one hash per check, and the last-use notes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/apppw.h"
#include "auth/auth.h"

static void test_generate_and_normalize(void **state)
{
	char pw[APPPW_LEN + 1], display[64], np[APPPW_LEN + 1], other[APPPW_LEN + 1];

	(void)state;
	assert_int_equal(apppw_generate(pw, display), 0);
	assert_int_equal(strlen(pw), 32);
	assert_int_equal(strlen(display), 39);
	assert_int_equal(strspn(pw, "abcdefghjkmnpqrstuvwxyz23456789"), 32);
	assert_int_equal(apppw_normalize(display, np), 0);
	assert_string_equal(np, pw);
	char typed[80];
	snprintf(typed, sizeof(typed), " %.8s %.24s ", pw, pw + 8);
	for (char *p = typed; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	assert_int_equal(apppw_normalize(typed, np), 0);
	assert_string_equal(np, pw);
	assert_int_equal(apppw_normalize("correct horse battery staple", np), -1);     /* not one */
	assert_int_equal(apppw_normalize("0000-0000-0000-0000-0000-0000-0000-0000", np), -1);   /* 0 is not in it */
	assert_int_equal(apppw_generate(other, display), 0);
	assert_string_not_equal(pw, other);
}

static void test_store_round_trip_and_verify(void **state)
{
	char path[64], used[64], pw[APPPW_LEN + 1], display[64];
	struct errlist errs = { 0 };

	(void)state;
	snprintf(path, sizeof(path), "/tmp/mailport-apppw-%d", (int)getpid());
	snprintf(used, sizeof(used), "/tmp/mailport-apppw-used-%d", (int)getpid());
	struct apppw *t = apppw_load(path, &errs);        /* no file yet: empty */
	assert_non_null(t);
	assert_int_equal(apppw_count(t), 0);
	apppw_unref(t);
	assert_int_equal(apppw_generate(pw, display), 0);
	struct apppw_entry e = { .created = 1800000000 };
	snprintf(e.address, sizeof(e.address), "alice@example.org");
	memcpy(e.id, pw, 4);
	snprintf(e.label, sizeof(e.label), "phone (work)");
	e.hash = auth_hash_password(pw);
	assert_non_null(e.hash);
	assert_int_equal(apppw_store(path, &e, 1, (uid_t)-1, (gid_t)-1), 0);
	t = apppw_load(path, &errs);
	assert_non_null(t);
	assert_int_equal(apppw_count(t), 1);
	const struct apppw_entry *got = apppw_find(t, "Alice@Example.org", pw);
	assert_non_null(got);
	assert_string_equal(got->label, "phone (work)");
	assert_null(apppw_find(t, "bob@example.org", pw));
	apppw_unref(t);
	/* last use */
	long long when;
	char ip[64];
	assert_int_equal(apppw_last_use(used, "alice@example.org", e.id, &when, ip, sizeof(ip)), -1);
	assert_int_equal(apppw_note_use(used, "alice@example.org", e.id, 1800000123, "192.0.2.7"), 0);
	assert_int_equal(apppw_last_use(used, "alice@example.org", e.id, &when, ip, sizeof(ip)), 0);
	assert_true(when == 1800000123);
	assert_string_equal(ip, "192.0.2.7");
	/* a line by hand that is not one: file:line */
	FILE *fp = fopen(path, "a");
	fprintf(fp, "\nalice@example.org:zzzz:notatime:$y$x:label\n");
	fclose(fp);
	assert_null(apppw_load(path, &errs));
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msgs[0], ":4: expected address:id:created:hash:label"));
	errlist_free(&errs);
	free(e.hash);
	unlink(path);
	char usedfile[200];
	snprintf(usedfile, sizeof(usedfile), "%s/alice@example.org.%s", used, e.id);
	unlink(usedfile);
	rmdir(used);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_and_normalize),
		cmocka_unit_test(test_store_round_trip_and_verify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
