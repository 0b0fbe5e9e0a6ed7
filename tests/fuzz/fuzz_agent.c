/*
 * fuzz_agent.c - what the Maildir delivery agent accepts from the server process, which is
 * the process an attacker would own first: the request packet parser and the path rule.
 * The first octet says whether a descriptor came with the packet; the rest is the packet.
 * Invariants: a parsed request has a known op, the right number of strings, each inside the
 * packet and NUL-terminated there; a path the rule accepts lies strictly beneath the root and
 * has no empty, "." or ".." component; every string in a request is checked against the rule
 * the way the agent checks it.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver/agent.h"

static void check_path_rule(const char *root, const char *path)
{
	if (!agent_path_ok(root, path))
		return;
	size_t rl = strlen(root);
	assert(path[0] == '/');
	assert(strcmp(root, "/") == 0 || (strncmp(path, root, rl) == 0 && path[rl] == '/' && path[rl + 1] != '\0'));
	assert(strstr(path, "//") == NULL && strstr(path, "/./") == NULL && strstr(path, "/../") == NULL);
	size_t l = strlen(path);
	assert(!(l >= 2 && strcmp(path + l - 2, "/.") == 0) && !(l >= 3 && strcmp(path + l - 3, "/..") == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_request rq;

	if (size < 1)
		return 0;
	char *buf = malloc(size > 1 ? size - 1 : 1);   /* exactly the packet: ASan sees reads past it */
	assert(buf != NULL);
	memcpy(buf, data + 1, size - 1);
	if (agent_request_parse(buf, size - 1, data[0] & 1, &rq) == 0) {
		size_t want = rq.op == AGENT_OP_WRITE ? 4 : 1;
		assert(rq.op == AGENT_OP_WRITE || rq.op == AGENT_OP_PUBLISH);
		assert((rq.op == AGENT_OP_WRITE) == (data[0] & 1));
		for (size_t i = 0; i < want; i++) {
			assert(rq.str[i] >= buf && rq.str[i] < buf + size - 1);
			assert(memchr(rq.str[i], '\0', (size_t)(buf + size - 1 - rq.str[i])) != NULL);
			check_path_rule("/var/mail", rq.str[i]);
			check_path_rule("/", rq.str[i]);
		}
		for (size_t i = want; i < 4; i++)
			assert(rq.str[i] == NULL);
	}
	/* The whole input as one path too (no NUL inside: the rule sees a C string). */
	char *path = malloc(size + 1);
	assert(path != NULL);
	memcpy(path, data, size);
	path[size] = '\0';
	check_path_rule("/var/mail", path);
	free(path);
	free(buf);
	return 0;
}
