/* SPDX-License-Identifier: MIT */
/* listfile: a list in the state directory as a JSON file (see listfile.h). */
#include "daemon/listfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/util.h"

int listfile_save(const char *path, const char *key, struct json_object *arr)
{
	struct json_object *root = json_object_new_object();
	const char *text;
	int r;

	if (!root || !arr) {
		json_object_put(root);
		json_object_put(arr);
		return -ENOMEM;
	}
	json_object_object_add(root, "version", json_object_new_int(1));
	json_object_object_add(root, key, arr);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
	r = text ? write_file_atomic(path, text, strlen(text), 0600) : -ENOMEM;
	json_object_put(root);
	if (r < 0)
		log_errno(LOG_LEVEL_ERR, r, "cannot save %s", path);
	return r;
}

int listfile_load(const char *path, const char *key, struct json_object **ret_root,
		  struct json_object **ret_arr)
{
	struct json_object *root, *arr;
	char *text = NULL;
	int r = read_file(path, &text, NULL);

	*ret_root = NULL;
	*ret_arr = NULL;
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return log_errno(LOG_LEVEL_ERR, r, "cannot read %s", path);
	root = json_tokener_parse(text);
	free(text);
	if (!root || !json_object_object_get_ex(root, key, &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		json_object_put(root);
		return -EBADMSG;
	}
	*ret_root = root;
	*ret_arr = arr;
	return 0;
}
