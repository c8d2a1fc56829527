/* SPDX-License-Identifier: MIT */
/*
 * listfile: a list the daemon keeps in its state directory as a JSON file,
 * {"version": 1, "<key>": [...]}, written atomically (the scopes: scope.c,
 * the git IPC work trees: gitipc.c). The caller makes and reads the
 * entries; this writes and reads the file. Calls only src/basic.
 */
#ifndef FST_LISTFILE_H
#define FST_LISTFILE_H

#include <json-c/json.h>

/*
 * Save arr (taken; NULL: out of memory) under key to path, pretty, mode
 * 0600, atomically. A failure to write is logged. 0 or -errno.
 */
int listfile_save(const char *path, const char *key, struct json_object *arr);
/*
 * Read path's list under key: *ret_root (the caller puts it) holds the
 * array *ret_arr. No file: 0 and *ret_root NULL. Not such a list:
 * -EBADMSG, for the caller to say what that means. A failure to read is
 * logged, -errno.
 */
int listfile_load(const char *path, const char *key, struct json_object **ret_root,
		  struct json_object **ret_arr);

#endif
