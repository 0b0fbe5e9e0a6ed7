/* test_config.c - the config loader and the users file: every error named as file:line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/users.h"
#include "conf/config.h"

static char dir[] = "/tmp/mailport-test-config-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

static int has_error(const struct errlist *e, const char *needle)
{
	for (size_t i = 0; i < e->n; i++)
		if (strstr(e->msgs[i], needle))
			return 1;
	return 0;
}

#define GOOD_BASE "[server]\nhostname = mx.example.org\nspool = spool\nlocal_domains = example.org\n" \
                  "[auth]\nusers = users\n[smtp]\nlisten = 127.0.0.1:2525\n"

static void test_good(void **state)
{
	struct errlist e = { 0 };
	struct config *c;

	(void)state;
	c = config_load(write_file("good.conf", GOOD_BASE
	        "[server]\nlocal_domains = Example.NET other.example\nmax_message_size = 10M\n"
	        "timeout = 5m\n[smtp]\nlisten = [::1]:2526 *:2527\n"), &e);
	errlist_print(&e, stderr);
	assert_non_null(c);
	assert_int_equal(e.n, 0);
	assert_string_equal(c->hostname, "mx.example.org");
	assert_int_equal(c->max_message_size, 10u * 1024 * 1024);
	assert_int_equal(c->timeout, 300);
	assert_int_equal(c->nlocal_domains, 3);
	assert_string_equal(c->local_domains[1], "example.net");
	assert_true(config_is_local_domain(c, "EXAMPLE.net", 11));
	assert_false(config_is_local_domain(c, "example.com", 11));
	assert_int_equal(c->nlisten[ROLE_SMTP], 3);
	/* relative paths resolve against the config file's directory */
	assert_true(strncmp(c->spool, dir, strlen(dir)) == 0);
	assert_int_equal(c->max_recipients, 100);
	assert_string_equal(c->recipient_delimiter, "+");
	assert_null(c->shared);
	assert_int_equal(c->msgs_per_user.count, 0);
	config_free(c);
	/* [limits]: the rate in its spellings, the store's address in its */
	static const struct { const char *rate; unsigned count, window; } rates[] = {
		{ "500/h", 500, 3600 }, { "2000/d", 2000, 86400 }, { "100/10m", 100, 600 }, { "30", 30, 3600 },
		{ "5/1s", 5, 1 },
	};
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		char text[512];
		snprintf(text, sizeof(text), GOOD_BASE "[limits]\nredis = [::1]:6379\nmax_messages_per_user = %s\n",
		         rates[i].rate);
		c = config_load(write_file("good.conf", text), &e);
		errlist_print(&e, stderr);
		assert_non_null(c);
		assert_int_equal(c->msgs_per_user.count, rates[i].count);
		assert_int_equal(c->msgs_per_user.window, rates[i].window);
		assert_string_equal(c->shared, "[::1]:6379");
		assert_string_equal(c->shared_prefix, "mailport:");
		config_free(c);
	}
}

struct bad_case {
	const char *text;
	const char *needle;         /* expected in some error line */
};

static const struct bad_case bad_cases[] = {
	{ GOOD_BASE "[server]\nbogus = 1\n", "bad.conf:10: unknown key \"bogus\" in [server]" },
	{ GOOD_BASE "[nosuch]\nx = 1\n", "bad.conf:10: unknown section [nosuch]" },
	{ GOOD_BASE "[server]\nmax_message_size = lots\n", "bad.conf:10: [server] max_message_size: \"lots\" is not a size" },
	{ GOOD_BASE "[server]\nmax_message_size = 10\n", "bad.conf:10: [server] max_message_size: 10 is out of range" },
	{ GOOD_BASE "[server]\ntimeout = 0\n", "out of range" },
	{ GOOD_BASE "[server]\ntimeout = 5x\n", "is not a duration" },
	{ GOOD_BASE "[server]\nmax_connections = -1\n", "is not a whole number" },
	{ GOOD_BASE "[server]\nmax_recipients = 50\n", "out of range (100 to" },
	{ GOOD_BASE "[server]\nlocal_domains = bad..domain\n", "\"bad..domain\" is not a valid domain" },
	{ GOOD_BASE "[server]\nmaildir = /var/mail/%x\n", "unknown escape %x" },
	{ GOOD_BASE "[server]\nmaildir = /var/mail/../etc/%u\n", "\"..\" path component" },
	{ GOOD_BASE "[server]\nhostname = bad host\n", "is not a valid host name" },
	{ GOOD_BASE "[server]\nhostname = a\n", "hostname given twice" },
	{ GOOD_BASE "[server]\nrecipient_delimiter = ab\n", "must be one character" },
	{ GOOD_BASE "[smtp]\nlisten = 127.0.0.1\n", "expected ADDR:PORT" },
	{ GOOD_BASE "[smtp]\nlisten = 127.0.0.1:0\n", "port must be 1-65535" },
	{ GOOD_BASE "[smtp]\nlisten = example.org:25\n", "numeric IPv4" },
	{ GOOD_BASE "[smtp]\nlisten = [::1:25\n", "expected [IPv6]:PORT" },
	{ GOOD_BASE "this is not ini\n", "bad.conf:9: syntax error" },
	{ GOOD_BASE "[limits]\nmax_messages_per_user = lots\n", "bad.conf:10: [limits] max_messages_per_user: \"lots\" is not a rate" },
	{ GOOD_BASE "[limits]\nmax_messages_per_user = 5/0h\n", "is not a rate" },
	{ GOOD_BASE "[limits]\nmax_messages_per_user = 5/30d\n", "is not a rate" },
	{ GOOD_BASE "[limits]\nmax_messages_per_user = 5/h/x\n", "is not a rate" },
	{ GOOD_BASE "[limits]\nredis = localhost\n", "bad.conf:10: [limits] redis: \"localhost\": expected unix:/PATH or HOST:PORT" },
	{ GOOD_BASE "[limits]\nredis = unix:run/redis.sock\n", "needs an absolute socket path" },
	{ GOOD_BASE "[limits]\nredis = ::1:6379\n", "an IPv6 address is written [ADDRESS]:PORT" },
	{ "[server]\nhostname = x.example\n", "[server] spool is required" },
	{ "[server]\nspool = s\nlocal_domains = a.example\n[auth]\nusers = u\n", "no listener" },
	{ GOOD_BASE "[server]\nlocal_domains = " "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example "
	  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.example "
	  "ccccccccccccccc.example\nmax_errors = 5\n", "bad.conf:10: line longer than" },
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct errlist e = { 0 };
		struct config *c = config_load(write_file("bad.conf", bad_cases[i].text), &e);
		if (c != NULL || !has_error(&e, bad_cases[i].needle)) {
			errlist_print(&e, stderr);
			fail_msg("case %zu: expected an error containing \"%s\"", i, bad_cases[i].needle);
		}
		errlist_free(&e);
	}
}

static void test_all_errors_reported(void **state)
{
	struct errlist e = { 0 };

	(void)state;
	assert_null(config_load(write_file("bad.conf", GOOD_BASE "[server]\nbogus = 1\ntimeout = x\n[smtp]\nlisten = nope\n"), &e));
	assert_true(has_error(&e, "bad.conf:10:"));
	assert_true(has_error(&e, "bad.conf:11:"));
	assert_true(has_error(&e, "bad.conf:13:"));
	errlist_free(&e);
	assert_null(config_load("/nonexistent/mailport.conf", &e));
	assert_true(has_error(&e, "/nonexistent/mailport.conf: cannot open"));
	errlist_free(&e);
}

/* Secrets anyone on the machine can read are refused, naming the line (OpenSSH's rule). */
static void test_world_readable_secrets(void **state)
{
	struct errlist e = { 0 };
	char keypath[512], pwpath[512];

	(void)state;
	snprintf(keypath, sizeof(keypath), "%s", write_file("k.pem", "not checked here\n"));
	snprintf(pwpath, sizeof(pwpath), "%s", write_file("pw", "secret\n"));
	assert_int_equal(chmod(keypath, 0644), 0);
	assert_int_equal(chmod(pwpath, 0604), 0);
	assert_null(config_load(write_file("bad.conf", GOOD_BASE "[tls]\ncert = k.pem\nkey = k.pem\n"
	                                   "[relay]\nsmarthost = smtps://relay.example.org\nuser = u\npassword_file = pw\n"), &e));
	assert_true(has_error(&e, "bad.conf:11: [tls] key:"));
	assert_true(has_error(&e, "readable by every user (mode 0644)"));
	assert_true(has_error(&e, "bad.conf:15: [relay] password_file:"));
	assert_false(has_error(&e, "secret"));
	errlist_free(&e);
	/* Group-readable is fine (Debian's ssl-cert group). */
	assert_int_equal(chmod(keypath, 0640), 0);
	assert_int_equal(chmod(pwpath, 0600), 0);
	config_free(config_load(write_file("bad.conf", GOOD_BASE "[tls]\ncert = k.pem\nkey = k.pem\n"
	                                   "[relay]\nsmarthost = smtps://relay.example.org\nuser = u\npassword_file = pw\n"), &e));
	assert_false(has_error(&e, "readable by every user"));
	errlist_free(&e);
}

static void test_users(void **state)
{
	struct errlist e = { 0 };
	struct users *u;
	const struct user *usr;

	(void)state;
	u = users_load(write_file("users", "# comment\n\n"
	        "Alice@Example.org:$y$j9T$abc$def:postmaster@example.org, Sales@example.org\n"
	        "bob@example.org:\n"
	        "  carol@example.net:!locked\n"), &e);
	errlist_print(&e, stderr);
	assert_non_null(u);
	assert_int_equal(users_count(u), 3);
	usr = users_lookup(u, "ALICE@example.ORG", 17);
	assert_non_null(usr);
	assert_string_equal(usr->address, "alice@example.org");
	assert_ptr_equal(users_lookup(u, "sales@EXAMPLE.org", 17), usr);
	assert_ptr_equal(users_lookup(u, "postmaster@example.org", 22), usr);
	assert_non_null(users_lookup(u, "bob@example.org", 15));
	assert_string_equal(users_lookup(u, "bob@example.org", 15)->hash, "");
	assert_null(users_lookup(u, "dave@example.org", 16));
	users_free(u);
}

static void test_users_bad(void **state)
{
	struct errlist e = { 0 };

	(void)state;
	assert_null(users_load(write_file("users", "alice@example.org:$y$x\n"
	        "not-an-address:$y$x\n"
	        "bob@example.org\n"
	        "carol@example.org:plaintext\n"
	        "dave@example.org:$y$x:bad alias@@x\n"
	        "ALICE@example.org:$y$x\n"
	        "../etc@example.org:$y$x\n"
	        "evil/x@example.org:$y$x\n"), &e));
	assert_true(has_error(&e, "users:2: \"not-an-address\" is not a valid address"));
	assert_true(has_error(&e, "users:3: expected address:crypt-hash"));
	assert_true(has_error(&e, "users:4: password must be a crypt(3) hash"));
	assert_true(has_error(&e, "users:5: alias"));
	assert_true(has_error(&e, "users:6: \"alice@example.org\" is listed twice (first on line 1)"));
	assert_true(has_error(&e, "users:8: \"evil/x@example.org\" is not a valid address"));
	errlist_free(&e);
}

static void test_users_all_invalid(void **state)
{
	struct errlist e = { 0 };
	struct users *u;

	(void)state;
	assert_null(users_load(write_file("users", "nothing valid here\n"), &e));
	errlist_free(&e);
	u = users_load(write_file("users", "# only comments\n"), &e);
	assert_non_null(u);
	assert_null(users_lookup(u, "a@b", 3));
	users_free(u);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[600];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_world_readable_secrets),
		cmocka_unit_test(test_users),
		cmocka_unit_test(test_users_bad),
		cmocka_unit_test(test_users_all_invalid),
	};
	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
