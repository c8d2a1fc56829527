/* SPDX-License-Identifier: MIT */
/*
 * caps: what fstrack's Watchman front end says about itself: the version
 * it answers with, the capability names (cmd-*, term-*, field-* and the
 * named features), and the answers of "version" and "list-capabilities",
 * which the daemon and the watchman command give alike.
 */
#ifndef FST_WATCHMAN_CAPS_H
#define FST_WATCHMAN_CAPS_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json_object.h>

/*
 * The "version" of every answer: the Watchman release whose protocol
 * fstrack follows (clients that compare versions get a meaningful one);
 * "buildinfo" names fstrack itself.
 */
#define WCAP_VERSION "4.9.0"
#define WCAP_BUILDINFO "fstrack " FST_VERSION

/* The commands the daemon answers, i from 0 (NULL past the last). */
const char *wcap_command(size_t i);
/* Is name one of the capabilities? */
bool wcap_has(const char *name);
/* A new object {"version": WCAP_VERSION}: the start of every answer. */
json_object *wcap_response(void);
/*
 * The answer to ["version"] or ["version", {"required": [...], "optional":
 * [...]}]: "capabilities" says which were asked for and are there; a
 * required one that is not gives Watchman's "error". NULL: out of memory.
 */
json_object *wcap_version(json_object *args);
/* The answer to ["list-capabilities"]. */
json_object *wcap_list(void);

#endif
