/* SPDX-License-Identifier: MIT */
/*
 * wildmatch: git's glob dialect, as Watchman's "match" term and "glob"
 * generator use it.
 *
 *   ?          one byte (not '/' with WM_PATHNAME)
 *   *          any bytes (not '/' with WM_PATHNAME)
 *   **         with WM_PATHNAME, when it is a whole path component (the
 *              whole pattern, or bounded by '/' or the pattern's ends): any
 *              bytes including '/'; followed by a '/' it also matches no
 *              directory at all (so "a", two stars, "/b" matches "a/b").
 *              Elsewhere two stars are one.
 *   [...]      a bracket expression: ranges a-z, [:alpha:] and the other
 *              eleven POSIX classes, '!' or '^' to negate, ']' first is
 *              literal, '\' escapes; never matches '/' with WM_PATHNAME
 *   \c         c itself (unless WM_NOESCAPE)
 *
 * A pattern that is malformed (an unterminated bracket expression, an
 * unknown [:class:], a lone trailing '\') matches nothing, as in git.
 *
 * Flags: WM_CASEFOLD (ASCII letters match either case), WM_PATHNAME,
 * WM_NOESCAPE, and two of Watchman's: WM_PERIOD (a '.' at the start of
 * the text, or with WM_PATHNAME right after a '/', is matched only by a
 * literal '.' in the pattern, never by *, **, ? or a bracket expression:
 * Watchman's "includedotfiles": false) and WM_MULTISLASH (a run of '/' in
 * the pattern matches one '/', Watchman's "wildmatch-multislash").
 *
 * Matching simulates the pattern as a set of states over the text, so it
 * takes O(len(text) * len(pattern)) time whatever the pattern ("a*a*a*b"
 * on "aaaa...") and never recurses.
 */
#ifndef FST_WATCHMAN_WILDMATCH_H
#define FST_WATCHMAN_WILDMATCH_H

#include <stdbool.h>
#include <stddef.h>

#define WM_CASEFOLD 0x1u
#define WM_PATHNAME 0x2u
#define WM_PERIOD 0x4u
#define WM_NOESCAPE 0x8u
#define WM_MULTISLASH 0x10u

#define WM_MATCH 0
#define WM_NOMATCH 1

struct wm_pattern;

/* Compile pattern (len bytes, may hold any byte but NUL) for flags: 0 or -ENOMEM. */
int wm_compile(const char *pattern, size_t len, unsigned flags, struct wm_pattern **ret);
struct wm_pattern *wm_free(struct wm_pattern *p);
/* Does text[0..len) match? 1 yes, 0 no, -ENOMEM (patterns past 511 states allocate). */
int wm_match(const struct wm_pattern *p, const char *text, size_t len);
/* The pattern never matches (it was malformed). */
bool wm_never(const struct wm_pattern *p);

/* One-shot, git's interface: WM_MATCH, WM_NOMATCH, or -ENOMEM. */
int wildmatch(const char *pattern, const char *text, unsigned flags);

#endif
