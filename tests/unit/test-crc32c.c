/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of src/basic/crc32c.c: the standard check value, continuation
 * across pieces, and the CPU's instruction against the tables for every
 * length and alignment of random buffers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "basic/crc32c.h"

static void test_check_value(void **state)
{
	/* the CRC-32C catalogue's check value, and RFC 3720's 32 zero bytes */
	static const uint8_t zeros[32];

	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c_portable(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c(0, zeros, sizeof(zeros)), 0x8a9136aau);
	assert_int_equal(crc32c(0, "", 0), 0);
}

static void test_pieces(void **state)
{
	const char *s = "The quick brown fox jumps over the lazy dog, twice over.";
	size_t n = strlen(s);
	uint32_t whole = crc32c(0, s, n);

	for (size_t cut = 0; cut <= n; cut++) {
		assert_int_equal(crc32c(crc32c(0, s, cut), s + cut, n - cut), whole);
		assert_int_equal(crc32c_portable(crc32c_portable(0, s, cut), s + cut, n - cut),
				 whole);
	}
}

/* Every length up to 300 at every alignment of 8: the instruction and the tables agree. */
static void test_same_as_tables(void **state)
{
	uint8_t buf[320];

	if (!crc32c_hardware()) {
		printf("# crc32c: tables only on this CPU: nothing to compare them with\n");
		skip();
	}
	srand(42);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len <= 300; len++)
			assert_int_equal(crc32c(0x12345678u, buf + off, len),
					 crc32c_portable(0x12345678u, buf + off, len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_value),
	    cmocka_unit_test(test_pieces),
	    cmocka_unit_test(test_same_as_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
