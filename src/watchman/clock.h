/* SPDX-License-Identifier: MIT */
/*
 * clock: Watchman clockspecs, and Watchman clocks that carry fstrack
 * tokens.
 *
 * fstrack's clock for token T is "c:" T, e.g. "c:fst1:<uuid>:<seq>": it
 * starts with "c:" as Watchman's clocks do (git's fsmonitor-watchman hook
 * tests for a leading 'c'), it survives daemon restarts because the token
 * does, and a clock of a real Watchman ("c:<start>:<pid>:<root>:<ticks>")
 * is told apart so that it can be answered as a fresh instance, as Watchman
 * answers a clock of another Watchman process.
 */
#ifndef FST_WATCHMAN_CLOCK_H
#define FST_WATCHMAN_CLOCK_H

#include <stdint.h>

#include <json-c/json_object.h>

#include "basic/token.h"

#define WCLOCK_MAX (2 + TOKEN_MAX)

/* The clock of a token: 0, or -EINVAL when token is not a token. */
int wclock_from_token(const char *token, char buf[WCLOCK_MAX]);
/*
 * The token of a clock: 0; -ESRCH for a well-formed clock that is not
 * fstrack's (another Watchman's: answer it as a fresh instance); -EINVAL
 * for anything else.
 */
int wclock_to_token(const char *clock, char buf[TOKEN_MAX]);

enum wclockspec_kind {
	WCS_CLOCK,     /* "c:..." (or {"clock": "c:..."}) */
	WCS_TIMESTAMP, /* an integer: seconds since the epoch */
	WCS_NAMED,     /* "n:name", a named cursor */
	WCS_SCM,       /* {"scm": ...}: source-control-aware, not supported */
};

struct wclockspec {
	enum wclockspec_kind kind;
	const char *clock;  /* WCS_CLOCK (borrowed from the json), may be NULL for WCS_SCM */
	int64_t timestamp;  /* WCS_TIMESTAMP */
	const char *cursor; /* WCS_NAMED: the whole "n:name" string (borrowed) */
};

/* Parse a clockspec as Watchman does; -EINVAL with "invalid clockspec" in err. */
int wclockspec_parse(json_object *v, struct wclockspec *ret, char *err, size_t errlen);

#endif
