/* SPDX-License-Identifier: MIT */
/*
 * Tests of listfile: a list saved and read back as it was, no file, a file
 * that is not such a list, and a save that cannot be written.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/util.h"
#include "daemon/listfile.h"
#include "unit-util.h"

static char dir[UNIT_TMP_MAX];

static int setup(void **state)
{
	return unit_tmpdir(dir, "test-listfile") < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	unit_rmtree(dir);
	return 0;
}

static void at(char path[PATH_MAX], const char *name)
{
	snprintf(path, PATH_MAX, "%s/%s", dir, name);
}

static void test_round_trip(void **state)
{
	struct json_object *arr = json_object_new_array(), *root, *back;
	char path[PATH_MAX], *text;

	at(path, "list.json");
	json_object_array_add(arr, json_object_new_string("one"));
	json_object_array_add(arr, json_object_new_int(2));
	assert_int_equal(listfile_save(path, "items", arr), 0);
	assert_int_equal(read_file(path, &text, NULL), 0);
	assert_non_null(strstr(text, "\"version\":1"));
	free(text);
	assert_int_equal(listfile_load(path, "items", &root, &back), 0);
	assert_non_null(root);
	assert_int_equal(json_object_array_length(back), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(back, 0)), "one");
	assert_int_equal(json_object_get_int(json_object_array_get_idx(back, 1)), 2);
	json_object_put(root);
	/* the same file under another key is not that list */
	assert_int_equal(listfile_load(path, "others", &root, &back), -EBADMSG);
	assert_null(root);
}

static void test_no_file(void **state)
{
	struct json_object *root = json_object_new_object(), *held = root, *arr;
	char path[PATH_MAX];

	at(path, "absent.json");
	assert_int_equal(listfile_load(path, "items", &root, &arr), 0);
	assert_null(root);
	assert_null(arr);
	json_object_put(held);
}

static void test_damaged(void **state)
{
	static const char *const bad[] = {"", "{\"version\":1,\"items\":[", "[1,2]",
					  "{\"version\":1,\"items\":{}}"};
	struct json_object *root, *arr;
	char path[PATH_MAX];

	at(path, "damaged.json");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(write_file_atomic(path, bad[i], strlen(bad[i]), 0600), 0);
		assert_int_equal(listfile_load(path, "items", &root, &arr), -EBADMSG);
		assert_null(root);
	}
}

static void test_save_fails(void **state)
{
	char path[PATH_MAX];

	at(path, "no-such-dir/list.json");
	assert_true(listfile_save(path, "items", json_object_new_array()) < 0);
	assert_int_equal(listfile_save(path, "items", NULL), -ENOMEM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_fails, setup, teardown),
	};

	log_set_level(LOG_LEVEL_ERR - 1); /* the failures it logs are expected */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
