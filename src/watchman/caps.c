/* SPDX-License-Identifier: MIT */
/* caps: the version and capabilities of fstrack's Watchman front end. */
#include "watchman/caps.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "watchman/query.h"

static const char *const commands[] = {
    "version",	     "list-capabilities",
    "get-sockname",  "watch",
    "watch-project", "watch-list",
    "watch-del",     "clock",
    "query",	     "since",
    "find",	     "subscribe",
    "unsubscribe",   "state-enter",
    "state-leave",   "log-level",
    "log",	     "get-config",
};

/* Named features, as Watchman registers them. */
static const char *const features[] = {
    "relative_root", "dedup_results",	     "glob_generator",	   "suffix-set",
    "wildmatch",     "wildmatch-multislash", "clock-sync-timeout", "bser-v2",
};

const char *wcap_command(size_t i)
{
	return i < sizeof(commands) / sizeof(commands[0]) ? commands[i] : NULL;
}

/* Call fn for every capability name; stop when it returns false. */
static bool each_cap(bool (*fn)(void *ud, const char *name), void *ud)
{
	char buf[128];
	const char *n;

	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		if (!fn(ud, features[i]))
			return false;
	for (size_t i = 0; (n = wcap_command(i)); i++) {
		snprintf(buf, sizeof(buf), "cmd-%s", n);
		if (!fn(ud, buf))
			return false;
	}
	for (size_t i = 0; (n = wq_term_name(i)); i++) {
		snprintf(buf, sizeof(buf), "term-%s", n);
		if (!fn(ud, buf))
			return false;
	}
	for (size_t i = 0; (n = wq_field_name(i)); i++) {
		snprintf(buf, sizeof(buf), "field-%s", n);
		if (!fn(ud, buf))
			return false;
	}
	return true;
}

static bool not_this(void *ud, const char *name)
{
	return strcmp(ud, name) != 0;
}

bool wcap_has(const char *name)
{
	return !each_cap(not_this, (void *)name);
}

static bool add_name(void *ud, const char *name)
{
	return json_object_array_add(ud, json_object_new_string(name)) == 0;
}

json_object *wcap_response(void)
{
	json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, "version", json_object_new_string(WCAP_VERSION));
	return o;
}

/* Look up the names of list (an array of strings) into caps; the first missing required one errs.
 */
static void ask(json_object *resp, json_object *caps, json_object *list, bool required)
{
	if (!list || !json_object_is_type(list, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *e = json_object_array_get_idx(list, i);
		const char *name;
		bool have;

		if (!json_object_is_type(e, json_type_string))
			break;
		name = json_object_get_string(e);
		have = wcap_has(name);
		json_object_object_add(caps, name, json_object_new_boolean(have));
		if (required && !have) {
			char msg[512];

			snprintf(msg, sizeof(msg),
				 "client required capability `%s` is not supported by this server",
				 name);
			json_object_object_add(resp, "error", json_object_new_string(msg));
			required = false; /* only the first, as Watchman */
		}
	}
}

json_object *wcap_version(json_object *args)
{
	json_object *resp = wcap_response(), *spec, *caps, *opt = NULL, *req = NULL;

	if (!resp)
		return NULL;
	json_object_object_add(resp, "buildinfo", json_object_new_string(WCAP_BUILDINFO));
	if (json_object_array_length(args) != 2)
		return resp;
	spec = json_object_array_get_idx(args, 1);
	caps = json_object_new_object();
	if (json_object_is_type(spec, json_type_object)) {
		json_object_object_get_ex(spec, "optional", &opt);
		json_object_object_get_ex(spec, "required", &req);
	}
	ask(resp, caps, opt, false);
	ask(resp, caps, req, true);
	json_object_object_add(resp, "capabilities", caps);
	return resp;
}

json_object *wcap_list(void)
{
	json_object *resp = wcap_response(), *a = json_object_new_array();

	if (resp && a)
		each_cap(add_name, a);
	if (resp)
		json_object_object_add(resp, "capabilities", a);
	else
		json_object_put(a);
	return resp;
}
