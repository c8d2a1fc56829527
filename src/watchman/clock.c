/* SPDX-License-Identifier: MIT */
/* clock: Watchman clockspecs and "c:" + fstrack token clocks. */
#include "watchman/clock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int wclock_from_token(const char *token, char buf[WCLOCK_MAX])
{
	struct token t;

	if (token_parse(token, &t) < 0)
		return -EINVAL;
	buf[0] = 'c';
	buf[1] = ':';
	token_format(&t, buf + 2);
	return 0;
}

/* n decimal fields separated by ':' and nothing else. */
static bool decimal_fields(const char *s, int n)
{
	for (int i = 0; i < n; i++) {
		const char *start = s;

		if (*s == '-')
			s++; /* Watchman prints the pid with %d */
		while (*s >= '0' && *s <= '9')
			s++;
		if (s == start || (s == start + 1 && *start == '-'))
			return false;
		if (i < n - 1) {
			if (*s != ':')
				return false;
			s++;
		}
	}
	return *s == '\0';
}

int wclock_to_token(const char *clock, char buf[TOKEN_MAX])
{
	struct token t;

	if (!clock || strncmp(clock, "c:", 2) != 0)
		return -EINVAL;
	if (token_parse(clock + 2, &t) == 0) {
		token_format(&t, buf);
		return 0;
	}
	/* Watchman >= 2.8.2 "c:start:pid:root:ticks", older "c:pid:ticks" */
	if (decimal_fields(clock + 2, 4) || decimal_fields(clock + 2, 2))
		return -ESRCH;
	return -EINVAL;
}

int wclockspec_parse(json_object *v, struct wclockspec *ret, char *err, size_t errlen)
{
	char tok[TOKEN_MAX];

	memset(ret, 0, sizeof(*ret));
	switch (json_object_get_type(v)) {
	case json_type_int:
		ret->kind = WCS_TIMESTAMP;
		ret->timestamp = json_object_get_int64(v);
		return 0;
	case json_type_string: {
		const char *s = json_object_get_string(v);

		if (strncmp(s, "n:", 2) == 0) {
			ret->kind = WCS_NAMED;
			ret->cursor = s;
			return 0;
		}
		if (wclock_to_token(s, tok) != -EINVAL) {
			ret->kind = WCS_CLOCK;
			ret->clock = s;
			return 0;
		}
		break;
	}
	case json_type_object: {
		json_object *c, *scm;

		if (json_object_object_get_ex(v, "scm", &scm)) {
			ret->kind = WCS_SCM;
			if (json_object_object_get_ex(v, "clock", &c))
				ret->clock = json_object_get_string(c);
			return 0;
		}
		if (json_object_object_get_ex(v, "clock", &c) &&
		    json_object_is_type(c, json_type_string) &&
		    wclock_to_token(json_object_get_string(c), tok) != -EINVAL) {
			ret->kind = WCS_CLOCK;
			ret->clock = json_object_get_string(c);
			return 0;
		}
		break;
	}
	default:
		break;
	}
	snprintf(err, errlen, "invalid clockspec");
	return -EINVAL;
}
