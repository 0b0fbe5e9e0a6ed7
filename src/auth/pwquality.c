/*
 * pwquality.c - the password rules of pwquality.h: length first (cheap, and what a person can
 * fix at once), then the user's own address and domain, then zxcvbn's estimate, explained by
 * the part of the password that made it weak. Not hashing (auth.c).
 */
#include "pwquality.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <zxcvbn.h>

static size_t codepoints(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Does haystack contain needle, any case? */
static int contains(const char *haystack, const char *needle, size_t nl)
{
	for (size_t hl = strlen(haystack); nl > 0 && hl >= nl; haystack++, hl--)
		if (strncasecmp(haystack, needle, nl) == 0)
			return 1;
	return 0;
}

/* The parts of user a password must not contain: the local part and each label of the domain,
 * of four characters or more ("example" of example.org; not "org", nor "bob", which stand
 * inside too many words to mean anything). */
static int has_user_part(const char *password, const char *user, char *part, size_t partlen)
{
	const char *at = user ? strrchr(user, '@') : NULL;

	if (user == NULL || *user == '\0')
		return 0;
	if (at != NULL && at - user >= 4 && contains(password, user, (size_t)(at - user))) {
		snprintf(part, partlen, "%.*s", (int)(at - user), user);
		return 1;
	}
	for (const char *l = at ? at + 1 : user; *l;) {
		size_t n = strcspn(l, ".");
		if (n >= 4 && contains(password, l, n)) {
			snprintf(part, partlen, "%.*s", (int)n, l);
			return 1;
		}
		l += n + (l[n] == '.');
	}
	return 0;
}

/* The words for the weakest kind of part zxcvbn found (the one that covers most of it). */
static const char *weakness(const ZxcMatch_t *info, size_t len, int *whole_common)
{
	const ZxcMatch_t *worst = NULL;

	*whole_common = 0;
	int worst_type = NON_MATCH;
	for (const ZxcMatch_t *m = info; m; m = m->Next) {
		int type = (int)m->Type & ~MULTIPLE_MATCH;
		if ((int)m->Type & MULTIPLE_MATCH)
			type = REPEATS_MATCH;       /* a part said again: "q7q7q7q7" */
		if (type == BRUTE_MATCH || type == NON_MATCH || type == LONG_PWD_MATCH)
			continue;
		if (worst == NULL || m->Length > worst->Length) {
			worst = m;
			worst_type = type;
		}
		if (type == DICTIONARY_MATCH && m->Begin == 0 && (size_t)m->Length == len)
			*whole_common = 1;
	}
	if (worst == NULL)
		return "it is short for the characters it uses";
	switch (worst_type) {
	case DICTIONARY_MATCH: return "it is made of a common password, word or name";
	case DICT_LEET_MATCH: return "it is a common word with letters swapped for digits or symbols (p@ssw0rd), which "
	                             "guessers try first";
	case USER_MATCH: case USER_LEET_MATCH: return "it contains your address or domain";
	case REPEATS_MATCH: return "it repeats characters or a short group of them";
	case SEQUENCE_MATCH: return "it is built on a sequence (abcd, 1234, zyx)";
	case SPATIAL_MATCH: return "it is a keyboard pattern (qwerty, asdfgh, 1qaz)";
	case DATE_MATCH: case YEAR_MATCH: return "it is built on a date or a year";
	default: return "it is easy to guess";
	}
}

int pwquality_check(const char *password, const char *user, char *why, size_t whylen, double *bits)
{
	char part[256];
	const char *udict[8] = { NULL };
	size_t nu = 0, n = codepoints(password);
	char local[256] = "", domain[256] = "";

	if (bits != NULL)
		*bits = 0;
	if (user != NULL && *user) {
		const char *at = strrchr(user, '@');
		udict[nu++] = user;
		if (at != NULL) {
			snprintf(local, sizeof(local), "%.*s", (int)(at - user), user);
			snprintf(domain, sizeof(domain), "%s", at + 1);
			udict[nu++] = local;
			udict[nu++] = domain;
		}
	}
	ZxcMatch_t *info = NULL;
	double e = ZxcvbnMatch(password, udict, &info);
	if (bits != NULL)
		*bits = e;
	int whole_common = 0;
	const char *weak = weakness(info, strlen(password), &whole_common);
	ZxcvbnFreeInfo(info);
	if (whole_common) {
		snprintf(why, whylen, "it is one of the most common passwords or words, the first any attacker tries: "
		         "choose another");
		return -1;
	}
	if (n < PWQ_MIN_LENGTH) {
		snprintf(why, whylen, "it has %zu characters; at least %d are needed (four or five unrelated words make a "
		         "long password that is easy to remember)", n, PWQ_MIN_LENGTH);
		return -1;
	}
	if (has_user_part(password, user, part, sizeof(part))) {
		snprintf(why, whylen, "it contains \"%s\" from the address %s, which anyone who sees the address tries "
		         "first", part, user);
		return -1;
	}
	if (e < PWQ_MIN_BITS) {
		snprintf(why, whylen, "%s: about 2^%.0f guesses find it, and 2^%.0f are needed (add unrelated words)", weak,
		         e, PWQ_MIN_BITS);
		return -1;
	}
	return 0;
}
