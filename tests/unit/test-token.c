/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of src/basic/token.c: a token is exactly
 * "fst1:<32 hex digits>:<decimal seq without leading zeros>"; anything
 * else must be refused, since a misread token could name the wrong
 * journal position and turn "rescan" into a wrong "complete".
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "basic/token.h"

#define UUID_HEX "00112233445566778899aabbccddeeff"

static const uint8_t uuid_bytes[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
				       0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

static void test_format(void **state)
{
	struct token t = {.seq = 42};
	char buf[TOKEN_MAX];

	memcpy(t.uuid, uuid_bytes, 16);
	token_format(&t, buf);
	assert_string_equal(buf, "fst1:" UUID_HEX ":42");
	t.seq = 0;
	token_format(&t, buf);
	assert_string_equal(buf, "fst1:" UUID_HEX ":0");
	t.seq = UINT64_MAX;
	token_format(&t, buf);
	assert_string_equal(buf, "fst1:" UUID_HEX ":18446744073709551615");
	assert_true(strlen(buf) < TOKEN_MAX);
}

static void test_round_trip(void **state)
{
	const uint64_t seqs[] = {0,
				 1,
				 9,
				 10,
				 99,
				 1000000,
				 UINT32_MAX,
				 (uint64_t)UINT32_MAX + 1,
				 UINT64_MAX / 10,
				 UINT64_MAX - 1,
				 UINT64_MAX};

	for (int u = 0; u < 4; u++) {
		for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
			struct token in = {.seq = seqs[i]}, out;
			char buf[TOKEN_MAX];

			for (int k = 0; k < 16; k++)
				in.uuid[k] = (uint8_t)(u == 0 ? 0 : u == 1 ? 0xff : k * 17 + u);
			token_format(&in, buf);
			memset(&out, 0x5a, sizeof(out));
			assert_int_equal(token_parse(buf, &out), 0);
			assert_memory_equal(out.uuid, in.uuid, 16);
			assert_int_equal(out.seq, in.seq);
		}
	}
}

static void test_parse_valid(void **state)
{
	struct token t;

	assert_int_equal(token_parse("fst1:" UUID_HEX ":0", &t), 0);
	assert_memory_equal(t.uuid, uuid_bytes, 16);
	assert_int_equal(t.seq, 0);
	assert_int_equal(token_parse("fst1:" UUID_HEX ":18446744073709551615", &t), 0);
	assert_int_equal(t.seq, UINT64_MAX);
	assert_int_equal(token_parse("fst1:" UUID_HEX ":1844674407370955161", &t), 0);
	assert_int_equal(t.seq, UINT64_MAX / 10);
}

static void expect_invalid(const char *s)
{
	struct token t;

	if (token_parse(s, &t) != -EINVAL)
		fail_msg("accepted malformed token \"%s\"", s ? s : "(null)");
}

static void test_wrong_prefix(void **state)
{
	expect_invalid(NULL);
	expect_invalid("");
	expect_invalid("fst1");
	expect_invalid("fst1:");
	expect_invalid("fst2:" UUID_HEX ":1");
	expect_invalid("fst0:" UUID_HEX ":1");
	expect_invalid("FST1:" UUID_HEX ":1");
	expect_invalid("fst:" UUID_HEX ":1");
	expect_invalid("fst1;" UUID_HEX ":1");
	expect_invalid(" fst1:" UUID_HEX ":1");
	expect_invalid("xfst1:" UUID_HEX ":1");
	expect_invalid(UUID_HEX ":1");
}

static void test_bad_uuid(void **state)
{
	/* short */
	expect_invalid("fst1:"
		       "00112233445566778899aabbccddeef"
		       ":1");
	expect_invalid("fst1:"
		       "0011"
		       ":1");
	expect_invalid("fst1::1");
	/* long */
	expect_invalid("fst1:" UUID_HEX "0"
		       ":1");
	expect_invalid("fst1:" UUID_HEX "00"
		       ":1");
	expect_invalid("fst1:" UUID_HEX UUID_HEX ":1");
	/* not hex */
	expect_invalid("fst1:"
		       "g0112233445566778899aabbccddeeff"
		       ":1");
	expect_invalid("fst1:"
		       "00112233445566778899aabbccddeefg"
		       ":1");
	expect_invalid("fst1:"
		       "0011223344556677-899aabbccddeeff"
		       ":1");
	expect_invalid("fst1:"
		       "00112233 45566778899aabbccddeeff"
		       ":1");
	expect_invalid("fst1:"
		       "0011223344556677:899aabbccddeeff"
		       ":1");
	expect_invalid("fst1:"
		       "0x112233445566778899aabbccddeeff"
		       ":1");
	expect_invalid("fst1:"
		       "00112233-4455-6677-8899-aabbccddeeff"
		       ":1");
}

static void test_missing_colon(void **state)
{
	expect_invalid("fst1:" UUID_HEX "1");
	expect_invalid("fst1:" UUID_HEX);
	expect_invalid("fst1:" UUID_HEX ";1");
	expect_invalid("fst1:" UUID_HEX " 1");
	expect_invalid("fst1" UUID_HEX ":1");
}

static void test_empty_seq(void **state)
{
	expect_invalid("fst1:" UUID_HEX ":");
	expect_invalid("fst1:" UUID_HEX "::");
	expect_invalid("fst1:" UUID_HEX ": ");
}

static void test_leading_zeros(void **state)
{
	expect_invalid("fst1:" UUID_HEX ":00");
	expect_invalid("fst1:" UUID_HEX ":01");
	expect_invalid("fst1:" UUID_HEX ":0042");
	expect_invalid("fst1:" UUID_HEX ":018446744073709551615");
}

static void test_overflow(void **state)
{
	expect_invalid("fst1:" UUID_HEX ":18446744073709551616");
	expect_invalid("fst1:" UUID_HEX ":18446744073709551620");
	expect_invalid("fst1:" UUID_HEX ":19000000000000000000");
	expect_invalid("fst1:" UUID_HEX ":99999999999999999999");
	expect_invalid("fst1:" UUID_HEX ":184467440737095516150");
	expect_invalid("fst1:" UUID_HEX ":1000000000000000000000000000000");
}

static void test_trailing_junk(void **state)
{
	expect_invalid("fst1:" UUID_HEX ":1x");
	expect_invalid("fst1:" UUID_HEX ":1 ");
	expect_invalid("fst1:" UUID_HEX ":1\n");
	expect_invalid("fst1:" UUID_HEX ":1:2");
	expect_invalid("fst1:" UUID_HEX ":0x10");
	expect_invalid("fst1:" UUID_HEX ":1.0");
	expect_invalid("fst1:" UUID_HEX ":1e5");
}

static void test_signs_and_spaces(void **state)
{
	expect_invalid("fst1:" UUID_HEX ":-1");
	expect_invalid("fst1:" UUID_HEX ":+1");
	expect_invalid("fst1:" UUID_HEX ": 1");
	expect_invalid("fst1:" UUID_HEX ":\t1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format),	     cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_parse_valid),	     cmocka_unit_test(test_wrong_prefix),
	    cmocka_unit_test(test_bad_uuid),	     cmocka_unit_test(test_missing_colon),
	    cmocka_unit_test(test_empty_seq),	     cmocka_unit_test(test_leading_zeros),
	    cmocka_unit_test(test_overflow),	     cmocka_unit_test(test_trailing_junk),
	    cmocka_unit_test(test_signs_and_spaces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
