/*
 * sandbox.c - privilege drop and Landlock confinement (see sandbox.h).
 *
 * The Landlock constants and the ruleset attribute are spelled out here because the build
 * machine's kernel headers may predate the ABI the running kernel offers (Debian 12's headers
 * stop at ABI 2); the kernel takes the longer attribute as long as fields it does not know
 * are zero, and we only set what the running ABI knows.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"
#include "../util/log.h"

int sandbox_become(const struct passwd *pw)
{
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_warn(NULL, "cannot become user %s", pw->pw_name);
		return -1;
	}
	/* There is no way back. */
	if (setuid(0) == 0 || geteuid() == 0 || getegid() == 0) {
		log_errx(NULL, "still able to regain root after becoming %s; refusing to go on", pw->pw_name);
		return -1;
	}
	return 0;
}

/* ---- Landlock ------------------------------------------------------------------------------ */

#define LL_FS_EXECUTE     (1ULL << 0)
#define LL_FS_WRITE_FILE  (1ULL << 1)
#define LL_FS_READ_FILE   (1ULL << 2)
#define LL_FS_READ_DIR    (1ULL << 3)
#define LL_FS_REMOVE_DIR  (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR   (1ULL << 6)
#define LL_FS_MAKE_DIR    (1ULL << 7)
#define LL_FS_MAKE_REG    (1ULL << 8)
#define LL_FS_MAKE_SOCK   (1ULL << 9)
#define LL_FS_MAKE_FIFO   (1ULL << 10)
#define LL_FS_MAKE_BLOCK  (1ULL << 11)
#define LL_FS_MAKE_SYM    (1ULL << 12)
#define LL_FS_REFER       (1ULL << 13)      /* ABI 2 */
#define LL_FS_TRUNCATE    (1ULL << 14)      /* ABI 3 */
#define LL_FS_IOCTL_DEV   (1ULL << 15)      /* ABI 5 */
#define LL_NET_BIND_TCP    (1ULL << 0)      /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)

#define LL_RULE_PATH_BENEATH 1
#define LL_CREATE_RULESET_VERSION (1U << 0)

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

/* Rights that make sense on a file (the rest are about directory entries). */
#define LL_FILE_RIGHTS (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)
#define LL_READ_RIGHTS (LL_FS_EXECUTE | LL_FS_READ_FILE | LL_FS_READ_DIR)

static uint64_t fs_rights(int abi)
{
	uint64_t r = LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_READ_DIR | LL_FS_REMOVE_DIR |
	             LL_FS_REMOVE_FILE | LL_FS_MAKE_CHAR | LL_FS_MAKE_DIR | LL_FS_MAKE_REG | LL_FS_MAKE_SOCK |
	             LL_FS_MAKE_FIFO | LL_FS_MAKE_BLOCK | LL_FS_MAKE_SYM;
	if (abi >= 2)
		r |= LL_FS_REFER;
	if (abi >= 3)
		r |= LL_FS_TRUNCATE;
	if (abi >= 5)
		r |= LL_FS_IOCTL_DEV;
	return r;
}

static int add_path(int ruleset, const char *path, uint64_t rights)
{
	struct ll_path_beneath_attr pb;
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	pb.allowed_access = S_ISDIR(st.st_mode) ? rights : (rights & LL_FILE_RIGHTS);
	pb.parent_fd = fd;
	int r = (int)syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0);
	int saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* Threads of this process, from /proc (0 when it cannot be read). */
static long thread_count(void)
{
	char buf[4096];
	long n = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (f == NULL)
		return 0;
	while (fgets(buf, sizeof(buf), f) != NULL)
		if (sscanf(buf, "Threads: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

int sandbox_confine(const struct sandbox_rules *rules)
{
	/* Landlock confines the calling thread and what it starts later, not threads that run
	 * already: one of those would keep everything. */
	long threads = thread_count();
	if (threads > 1) {
		log_errx(NULL, "confinement asked for with %ld threads running; it must come first", threads);
		errno = EBUSY;
		return -1;
	}

	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);

	/* ENOSYS: not built in; EOPNOTSUPP: not enabled at boot; EPERM: a container's seccomp
	 * filter refuses the call. None of them is a reason not to run. */
	if (abi < 0)
		return errno == ENOSYS || errno == EOPNOTSUPP || errno == EPERM ? 0 : -1;
	struct ll_ruleset_attr attr = { .handled_access_fs = fs_rights(abi) };
	if (abi >= 4)
		attr.handled_access_net = ((rules->net & SANDBOX_NO_TCP_BIND) ? LL_NET_BIND_TCP : 0) |
		                          ((rules->net & SANDBOX_NO_TCP_CONNECT) ? LL_NET_CONNECT_TCP : 0);
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr,
	                           attr.handled_access_net ? sizeof(attr) : sizeof(attr.handled_access_fs), 0);
	if (ruleset < 0)
		return -1;
	for (size_t i = 0; i < rules->nread; i++)
		if (add_path(ruleset, rules->read[i], LL_READ_RIGHTS) < 0)
			goto fail;
	for (size_t i = 0; i < rules->nwrite; i++)
		if (add_path(ruleset, rules->write[i], attr.handled_access_fs) < 0)
			goto fail;
	/* Unprivileged confinement needs no_new_privs; we never exec anything setuid anyway. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		goto fail;
	close(ruleset);
	return abi;
fail:;
	int saved = errno;
	close(ruleset);
	errno = saved;
	return -1;
}
