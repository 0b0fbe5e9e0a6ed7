/*
 * test_agent.c - the Maildir delivery agent (deliver/agent.c) and the confinement it and the
 * server rely on (sandbox/sandbox.c).
 *
 * The agent is exec'd from /proc/self/exe, which here is this test binary: main() below
 * answers to `deliver-agent` as mailport's does, so the tests talk to a real agent process.
 * The confinement tests run in a child process each (Landlock cannot be undone) and are
 * skipped on a kernel without Landlock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deliver/agent.h"
#include "sandbox/sandbox.h"
#include "util/log.h"

static char base[PATH_MAX];

static void mkpath(char *out, const char *rel)
{
	snprintf(out, PATH_MAX, "%s/%s", base, rel);
}

/* As root (CI), the agent refuses to stay root: it becomes nobody, who gets the directory. */
static const char *agent_user(void)
{
	return geteuid() == 0 ? "nobody" : NULL;
}

static int setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/mailport-agent-XXXXXX");
	if (mkdtemp(base) == NULL)
		return -1;
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("nobody");
		if (pw == NULL || chown(base, pw->pw_uid, pw->pw_gid) < 0)
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static int message_fd(const char *text)
{
	int fd = memfd_create("test-msg", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* ---- the Maildir root --------------------------------------------------------------------- */

static void test_maildir_root(void **state)
{
	char root[PATH_MAX];

	(void)state;
	assert_int_equal(agent_maildir_root("/var/mail/%d/%u", root, sizeof(root)), 0);
	assert_string_equal(root, "/var/mail");
	assert_int_equal(agent_maildir_root("/home/%u/Maildir", root, sizeof(root)), 0);
	assert_string_equal(root, "/home");
	assert_int_equal(agent_maildir_root("/srv/mail/all", root, sizeof(root)), 0);
	assert_string_equal(root, "/srv/mail");
	assert_int_equal(agent_maildir_root("/%u", root, sizeof(root)), 0);
	assert_string_equal(root, "/");
	assert_int_equal(agent_maildir_root("/var/mail/x%d/%u", root, sizeof(root)), 0);
	assert_string_equal(root, "/var/mail");
	assert_int_equal(agent_maildir_root("mail/%d/%u", root, sizeof(root)), -1);
	assert_int_equal(agent_maildir_root("/var/mail/../../etc/%u", root, sizeof(root)), -1);
	assert_int_equal(agent_maildir_root("/var/./mail/%u", root, sizeof(root)), -1);
	assert_int_equal(agent_maildir_root("/var//mail/%u", root, sizeof(root)), -1);
}

/* ---- a real agent --------------------------------------------------------------------------- */

static void test_agent_delivers_two_steps(void **state)
{
	char root[PATH_MAX], pattern[PATH_MAX], tmp[PATH_MAX], newp[PATH_MAX], err[PATH_MAX + 256];
	struct agent *a;
	int fd = message_fd("Subject: hi\r\n\r\nbody\r\n");

	(void)state;
	mkpath(root, "mail");
	mkpath(pattern, "mail/%d/%u");
	a = agent_spawn(2, root, agent_user(), err, sizeof(err));
	assert_non_null(a);
	assert_non_null(strstr(err, "landlock="));
	assert_int_equal(agent_write(a, pattern, "bob@example.test", "1.Q1R0.host", fd, 0, 21, "a@b.test",
	                             tmp, sizeof(tmp), err, sizeof(err)), 0);
	assert_non_null(strstr(tmp, "/mail/example.test/bob/tmp/1.Q1R0.host"));
	assert_true(file_exists(tmp));
	assert_int_equal(agent_publish(a, tmp, newp, sizeof(newp), err, sizeof(err)), 0);
	assert_non_null(strstr(newp, "/mail/example.test/bob/new/1.Q1R0.host"));
	assert_true(file_exists(newp));
	assert_false(file_exists(tmp));
	/* Recovery after step 3: nothing left in tmp/ is "moved before". */
	assert_int_equal(agent_publish(a, tmp, newp, sizeof(newp), err, sizeof(err)), 1);

	/* The content: Return-Path and Delivered-To first, LF line ends. */
	char buf[256] = "";
	FILE *f = fopen(newp, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_string_equal(buf, "Return-Path: <a@b.test>\nDelivered-To: bob@example.test\nSubject: hi\n\nbody\n");
	close(fd);
	agent_stop(a);
}

/* The server process is the one that parses the network: the agent must not become a way to
 * write any file it names. */
static void test_agent_refuses_paths_outside_its_root(void **state)
{
	char root[PATH_MAX], pattern[PATH_MAX], other[PATH_MAX], tmp[PATH_MAX], newp[PATH_MAX],
	     err[PATH_MAX + 256], path[PATH_MAX];
	struct agent *a;
	int fd = message_fd("x\r\n");

	(void)state;
	mkpath(root, "mail");
	mkpath(other, "elsewhere/%d/%u");
	a = agent_spawn(1, root, agent_user(), err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(agent_write(a, other, "bob@example.test", "n1", fd, 0, 3, "", tmp, sizeof(tmp), err,
	                             sizeof(err)), -1);
	assert_non_null(strstr(err, "is not beneath"));
	mkpath(pattern, "mail/../elsewhere/%u");
	assert_int_equal(agent_write(a, pattern, "bob@example.test", "n1", fd, 0, 3, "", tmp, sizeof(tmp), err,
	                             sizeof(err)), -1);
	mkpath(pattern, "mail/%d/%u");
	assert_int_equal(agent_write(a, pattern, "bob@example.test", "../../n1", fd, 0, 3, "", tmp, sizeof(tmp),
	                             err, sizeof(err)), -1);
	assert_int_equal(agent_write(a, pattern, "bob@example.test", ".hidden", fd, 0, 3, "", tmp, sizeof(tmp),
	                             err, sizeof(err)), -1);
	/* An address that would climb out (maildir_expand refuses it). */
	assert_int_equal(agent_write(a, pattern, "../x@example.test", "n1", fd, 0, 3, "", tmp, sizeof(tmp),
	                             err, sizeof(err)), -1);
	/* Publishing something that is not a Maildir file beneath the root. */
	mkpath(path, "victim");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(agent_publish(a, path, newp, sizeof(newp), err, sizeof(err)), -1);
	assert_true(file_exists(path));
	mkpath(path, "mail/example.test/bob/tmp/../../../victim");
	assert_int_equal(agent_publish(a, path, newp, sizeof(newp), err, sizeof(err)), -1);
	mkpath(path, "victim");
	assert_true(file_exists(path));
	/* It still works after all that. */
	assert_int_equal(agent_write(a, pattern, "bob@example.test", "n1", fd, 0, 3, "", tmp, sizeof(tmp), err,
	                             sizeof(err)), 0);
	close(fd);
	agent_stop(a);
}

static size_t count_fds(pid_t pid)
{
	char path[64];
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	d = opendir(path);
	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void send_fds(int s, const char *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
	                     .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	assert_int_equal(sendmsg(s, &mh, 0), (ssize_t)len);
}

/* Malformed packets straight onto a channel: an error reply each, and the agent goes on. */
static void test_agent_survives_malformed_requests(void **state)
{
	char root[PATH_MAX], arg[16], reply[512];
	int sv[2];
	pid_t pid;

	(void)state;
	mkpath(root, "mail");
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(sv[1], 3);
		snprintf(arg, sizeof(arg), "1");
		execl("/proc/self/exe", "test_agent", "deliver-agent", arg, root, agent_user(), (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	assert_true(recv(sv[0], reply, sizeof(reply), 0) > 4);         /* ready */
	/* (An empty packet reads as the end of the channel, as on any SOCK_SEQPACKET socket.) */
	static const char *const bad[] = {
		"x", "\x01\x00\x00\x00\x04\x00\x00\x00",                   /* write, no header rest */
		"\x01\x00\x00\x00\x04\x00\x00\x00\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0a\0b\0c\0d\0",   /* no fd */
		"\x02\x00\x00\x00\x01\x00\x00\x00\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0/etc/passwd",   /* unterminated */
		"\x02\x00\x00\x00\x02\x00\x00\x00\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0/a\0",          /* count */
		"\x09\x00\x00\x00\x00\x00\x00\x00\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",              /* op */
	};
	static const size_t len[] = { 1, 8, 32, 35, 27, 24 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(send(sv[0], bad[i], len[i], 0), (ssize_t)len[i]);
		ssize_t n = recv(sv[0], reply, sizeof(reply), 0);
		assert_true(n > 4);
		int32_t status;
		memcpy(&status, reply, sizeof(status));
		assert_int_equal(status, -1);
	}
	/* Several descriptors with one request: refused, and none of them stays open there. */
	size_t before = count_fds(pid);
	int extra[3];
	for (int i = 0; i < 3; i++)
		extra[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int round = 0; round < 20; round++) {
		send_fds(sv[0], "\x02\x00\x00\x00\x01\x00\x00\x00\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0/a\0", 27,
		         extra, round % 2 ? 3 : 2);
		assert_true(recv(sv[0], reply, sizeof(reply), 0) > 4);
		int32_t status;
		memcpy(&status, reply, sizeof(status));
		assert_int_equal(status, -1);
	}
	for (int i = 0; i < 3; i++)
		close(extra[i]);
	assert_int_equal(count_fds(pid), before);
	/* A packet longer than the agent reads. */
	char *big = calloc(1, 70000);
	assert_non_null(big);
	assert_int_equal(send(sv[0], big, 70000, 0), 70000);
	free(big);
	assert_true(recv(sv[0], reply, sizeof(reply), 0) > 4);
	close(sv[0]);                   /* the agent exits when its channel closes */
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_agent_gone_is_an_error_not_a_hang(void **state)
{
	char root[PATH_MAX], pattern[PATH_MAX], tmp[PATH_MAX], err[PATH_MAX + 256];
	struct agent *a;
	int fd = message_fd("x\r\n");

	(void)state;
	mkpath(root, "mail");
	mkpath(pattern, "mail/%d/%u");
	a = agent_spawn(1, root, agent_user(), err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(kill(agent_pid(a), SIGKILL), 0);
	assert_int_equal(waitpid(agent_pid(a), NULL, 0), agent_pid(a));
	agent_reaped(a);
	assert_int_equal(agent_write(a, pattern, "bob@example.test", "n1", fd, 0, 3, "", tmp, sizeof(tmp), err,
	                             sizeof(err)), -1);
	assert_non_null(strstr(err, "gone"));
	close(fd);
	agent_stop(a);
}

/* ---- confinement ------------------------------------------------------------------------------ */

/* Runs fn in a child; returns its exit status (77: Landlock not available here). */
static int in_child(int (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int try_create(const char *rel)
{
	char p[PATH_MAX];
	mkpath(p, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 0 : errno;
}

static int try_read(const char *rel)
{
	char p[PATH_MAX];
	mkpath(p, rel);
	int fd = open(p, O_RDONLY);
	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 0 : errno;
}

/* The server's shape: the spool writable, its configuration readable, a Maildir neither. */
static int confined_server(void)
{
	char rd[PATH_MAX], wr[PATH_MAX];
	const char *r[] = { rd }, *w[] = { wr };
	struct sandbox_rules rules = { r, 1, w, 1, SANDBOX_NO_TCP_BIND };

	mkpath(rd, "conf");
	mkpath(wr, "spool");
	int abi = sandbox_confine(&rules);
	if (abi == 0)
		return 77;
	if (abi < 0)
		return 1;
	if (try_create("spool/queue-file") != 0)
		return 2;
	if (try_read("conf/mailport.conf") != 0)
		return 3;
	if (try_create("conf/new-file") != EACCES)
		return 4;
	if (try_create("maildir/new/stolen") != EACCES)
		return 5;
	if (try_read("maildir/new/letter") != EACCES)
		return 6;
	char from[PATH_MAX], to[PATH_MAX];
	mkpath(from, "spool/queue-file");
	mkpath(to, "maildir/new/moved");
	if (rename(from, to) == 0 || (errno != EXDEV && errno != EACCES))
		return 7;
	if (abi >= 4) {                 /* its listeners are bound already: no new ones */
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0 || bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 || errno != EACCES)
			return 8;
		close(s);
	}
	return 0;
}

static void test_confinement_server_shape(void **state)
{
	(void)state;
	char p[PATH_MAX];
	mkpath(p, "spool");
	mkdir(p, 0700);
	mkpath(p, "conf");
	mkdir(p, 0700);
	mkpath(p, "maildir");
	mkdir(p, 0700);
	mkpath(p, "maildir/new");
	mkdir(p, 0700);
	assert_int_equal(try_create("conf/mailport.conf"), 0);
	assert_int_equal(try_create("maildir/new/letter"), 0);
	int r = in_child(confined_server);
	if (r == 77)
		skip();
	assert_int_equal(r, 0);
}

static int listen_port;

/* The agent's shape: no TCP at all (Landlock ABI 4 and later). */
static int confined_no_tcp(void)
{
	const char *w[] = { base };
	struct sandbox_rules rules = { NULL, 0, w, 1, SANDBOX_NO_TCP_BIND | SANDBOX_NO_TCP_CONNECT };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)listen_port),
	                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int abi = sandbox_confine(&rules);

	if (abi < 4)
		return abi < 0 ? 1 : 77;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		return 2;
	if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 || errno != EACCES)
		return 3;
	close(s);
	return 0;
}

static void test_confinement_no_tcp(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	(void)state;
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
	listen_port = ntohs(sin.sin_port);
	int r = in_child(confined_no_tcp);
	close(l);
	if (r == 77)
		skip();
	assert_int_equal(r, 0);
}

static void *sleeper(void *arg)
{
	(void)arg;
	pause();
	return NULL;
}

/* A thread that runs already would stay unconfined: refused. */
static int confined_with_a_thread(void)
{
	const char *w[] = { base };
	struct sandbox_rules rules = { NULL, 0, w, 1, 0 };
	pthread_t t;

	if (pthread_create(&t, NULL, sleeper, NULL) != 0)
		return 1;
	return sandbox_confine(&rules) == -1 && errno == EBUSY ? 0 : 2;
}

static void test_confinement_refused_after_threads(void **state)
{
	(void)state;
	assert_int_equal(in_child(confined_with_a_thread), 0);
}

int main(int argc, char **argv)
{
	/* agent_spawn() execs /proc/self/exe: this binary. */
	if (argc >= 2 && strcmp(argv[1], "deliver-agent") == 0)
		return agent_main(argc - 1, argv + 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maildir_root),
		cmocka_unit_test_setup_teardown(test_agent_delivers_two_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_refuses_paths_outside_its_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_survives_malformed_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_gone_is_an_error_not_a_hang, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confinement_server_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confinement_no_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confinement_refused_after_threads, setup, teardown),
	};
	log_set_level(LOG_LVL_WARN);
	return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
