/* SPDX-License-Identifier: MIT */
/*
 * Tests of src/watchman/pdu.c: one PDU at a time from a buffer (JSON lines,
 * blank lines, BSER v1/v2, partial input at every length, bounds, garbage)
 * and answers encoded in kind; and of caps.c: the version answer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "watchman/bser.h"
#include "watchman/caps.h"
#include "watchman/pdu.h"

static int decode(const char *buf, size_t len, size_t max, json_object **v, size_t *used,
		  struct wpdu_format *fmt)
{
	char err[256];

	*v = NULL;
	return wpdu_decode(buf, len, max, v, used, fmt, err, sizeof(err));
}

static void test_json_lines(void **state)
{
	const char in[] = "\n  \n[\"version\"]\n{\"a\": 1}\r\n";
	struct wpdu_format fmt;
	json_object *v;
	size_t used, off = 0;

	assert_int_equal(decode(in, strlen(in), 1024, &v, &used, &fmt), 1);
	assert_int_equal(fmt.enc, WPDU_JSON);
	assert_string_equal(json_object_to_json_string(v), "[ \"version\" ]");
	json_object_put(v);
	off += used;
	assert_int_equal(decode(in + off, strlen(in) - off, 1024, &v, &used, &fmt), 1);
	assert_true(json_object_is_type(v, json_type_object));
	json_object_put(v);
	off += used;
	assert_int_equal(off, strlen(in));
	/* partial lines want more, at every length */
	for (size_t n = 0; n < strlen("[\"version\"]"); n++)
		assert_int_equal(decode("[\"version\"]\n", n, 1024, &v, &used, &fmt), 0);
	/* too long: with or without its newline */
	assert_int_equal(decode("[\"0123456789\"]\n", 15, 8, &v, &used, &fmt), -EMSGSIZE);
	assert_int_equal(decode("[\"0123456789\"", 13, 8, &v, &used, &fmt), -EMSGSIZE);
	/* garbage is refused, and skipped as a line */
	assert_int_equal(decode("not json\n[1]\n", 13, 1024, &v, &used, &fmt), -EBADMSG);
	assert_int_equal(used, 9);
	assert_int_equal(decode("[1] [2]\n", 8, 1024, &v, &used, &fmt), -EBADMSG);
	/* a short line that would make a large tree: at most BSER_MAX_VALUES values */
	{
		size_t objs = BSER_MAX_VALUES + 1, len = 3 * objs + 2;
		char *big = malloc(len + 1);

		big[0] = '[';
		for (size_t i = 0; i < objs; i++)
			memcpy(big + 1 + 3 * i, i ? ",{}" : "{} ", 3);
		memcpy(big + len - 1, "]\n", 2);
		assert_int_equal(decode(big, len + 1, 1u << 22, &v, &used, &fmt), -EBADMSG);
		assert_null(v);
		assert_int_equal(used, len + 1);
		/* commas inside strings are no values; below the cap is parsed */
		memcpy(big, "[\"a,,,,\\\",,,\",{}]\n", 18);
		assert_int_equal(decode(big, 18, 1024, &v, &used, &fmt), 1);
		assert_int_equal(json_object_array_length(v), 2);
		json_object_put(v);
		free(big);
	}
}

static void test_bser(void **state)
{
	json_object *cmd = json_tokener_parse("[\"query\", \"/r\", {\"fields\": [\"name\"]}]"), *v;
	struct wpdu_format fmt, out;
	char *buf;
	size_t len, used;

	for (unsigned ver = 1; ver <= 2; ver++) {
		assert_int_equal(
		    bser_encode_pdu(cmd, ver, ver == 2 ? BSER_CAP_DISABLE_UNICODE : 0, &buf, &len),
		    0);
		for (size_t n = 0; n < len; n++)
			assert_int_equal(decode(buf, n, 1024, &v, &used, &fmt), 0);
		assert_int_equal(decode(buf, len, 1024, &v, &used, &fmt), 1);
		assert_int_equal(used, len);
		assert_int_equal(fmt.enc, ver == 1 ? WPDU_BSER_V1 : WPDU_BSER_V2);
		assert_int_equal(fmt.caps, ver == 2 ? BSER_CAP_DISABLE_UNICODE : 0);
		assert_true(json_object_equal(v, cmd));
		json_object_put(v);
		assert_int_equal(decode(buf, len, len - 1, &v, &used, &fmt), -EMSGSIZE);
		/* the answer goes out in the same encoding */
		free(buf);
		out = fmt;
		assert_int_equal(wpdu_encode(cmd, &out, &buf, &len), 0);
		assert_int_equal(buf[1], (char)ver);
		free(buf);
	}
	json_object_put(cmd);
	/* a broken header loses the framing: nothing to skip */
	assert_int_equal(decode("\x00\x01\x09", 3, 1024, &v, &used, &fmt), -EBADMSG);
	assert_int_equal(used, 0);
}

static void test_encode_json(void **state)
{
	json_object *o = json_tokener_parse("{\"a\": \"x/y\"}");
	struct wpdu_format f = {.enc = WPDU_JSON};
	char *buf;
	size_t len;

	assert_int_equal(wpdu_encode(o, &f, &buf, &len), 0);
	assert_int_equal(len, strlen("{\"a\":\"x/y\"}\n"));
	assert_memory_equal(buf, "{\"a\":\"x/y\"}\n", len);
	free(buf);
	json_object_put(o);
	assert_int_equal(wpdu_parse_encoding("bser-v2", &f), 0);
	assert_int_equal(f.enc, WPDU_BSER_V2);
	assert_int_equal(wpdu_parse_encoding("xml", &f), -EINVAL);
}

static void test_version_answer(void **state)
{
	json_object *args = json_tokener_parse("[\"version\", {\"optional\": [\"cmd-watch\", "
					       "\"nope\"], \"required\": [\"term-pcre\"]}]");
	json_object *a = wcap_version(args), *caps, *v;

	assert_true(json_object_object_get_ex(a, "capabilities", &caps));
	assert_true(json_object_object_get_ex(caps, "cmd-watch", &v) && json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(caps, "nope", &v) && !json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(a, "error", &v));
	assert_non_null(strstr(json_object_get_string(v), "term-pcre"));
	assert_true(wcap_has("field-content.sha1hex"));
	assert_true(wcap_has("term-dirname"));
	assert_false(wcap_has("term-pcre"));
	assert_false(wcap_has("cmd-trigger"));
	json_object_put(a);
	json_object_put(args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_lines),
	    cmocka_unit_test(test_bser),
	    cmocka_unit_test(test_encode_json),
	    cmocka_unit_test(test_version_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
