/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of src/basic/hashmap.c: insert, get, iterate, grow, clear,
 * with byte-string keys (empty, with NULs, prefixes of each other) and
 * 100k keys.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "basic/hashmap.h"

#define MANY 100000

static size_t key_of(unsigned i, char *buf)
{
	return (size_t)snprintf(buf, 32, "key-%u", i);
}

static void test_empty(void **state)
{
	struct hashmap *h = hashmap_new();
	size_t pos = 0;

	assert_non_null(h);
	assert_int_equal(hashmap_size(h), 0);
	assert_null(hashmap_get(h, "a", 1));
	assert_null(hashmap_get(h, "", 0));
	assert_false(hashmap_iter(h, &pos, NULL, NULL, NULL));
	assert_int_equal(hashmap_size(NULL), 0);
	assert_int_equal(hashmap_memory(NULL), 0);
	assert_null(hashmap_get(NULL, "a", 1));
	pos = 0;
	assert_false(hashmap_iter(NULL, &pos, NULL, NULL, NULL));
	hashmap_clear(NULL);
	assert_null(hashmap_free(h));
	assert_null(hashmap_free(NULL));
}

static void test_insert_get(void **state)
{
	struct hashmap *h = hashmap_new();
	uintptr_t *v, *w;

	assert_int_equal(hashmap_upsert(h, "alpha", 5, &v), 1);
	assert_int_equal(*v, 0); /* new keys start at 0 */
	*v = 11;
	assert_int_equal(hashmap_upsert(h, "alpha", 5, &w), 0);
	assert_ptr_equal(v, w);
	assert_int_equal(*w, 11);
	assert_int_equal(hashmap_size(h), 1);
	v = hashmap_get(h, "alpha", 5);
	assert_non_null(v);
	assert_int_equal(*v, 11);
	*v = 12; /* the slot is writable */
	assert_int_equal(*hashmap_get(h, "alpha", 5), 12);
	assert_null(hashmap_get(h, "alph", 4));
	assert_null(hashmap_get(h, "alphab", 6));
	assert_null(hashmap_get(h, "ALPHA", 5));
	assert_true(hashmap_memory(h) > 0);
	hashmap_free(h);
}

static void test_binary_keys(void **state)
{
	struct hashmap *h = hashmap_new();
	const uint8_t k1[] = {0, 0, 0}, k2[] = {0, 0}, k3[] = {0, 1, 0};
	uintptr_t *v;

	/* keys are bytes: NULs count, lengths count, the empty key exists */
	assert_int_equal(hashmap_upsert(h, k1, 3, &v), 1);
	*v = 1;
	assert_int_equal(hashmap_upsert(h, k2, 2, &v), 1);
	*v = 2;
	assert_int_equal(hashmap_upsert(h, k3, 3, &v), 1);
	*v = 3;
	assert_int_equal(hashmap_upsert(h, "", 0, &v), 1);
	*v = 4;
	assert_int_equal(hashmap_upsert(h, "a", 1, &v), 1);
	*v = 5;
	assert_int_equal(hashmap_upsert(h, "a\0", 2, &v), 1);
	*v = 6;
	assert_int_equal(hashmap_size(h), 6);
	assert_int_equal(*hashmap_get(h, k1, 3), 1);
	assert_int_equal(*hashmap_get(h, k2, 2), 2);
	assert_int_equal(*hashmap_get(h, k3, 3), 3);
	assert_int_equal(*hashmap_get(h, "", 0), 4);
	assert_int_equal(*hashmap_get(h, "a", 1), 5);
	assert_int_equal(*hashmap_get(h, "a\0", 2), 6);
	assert_null(hashmap_get(h, k1, 1));
	hashmap_free(h);
}

static void test_key_is_copied(void **state)
{
	struct hashmap *h = hashmap_new();
	char key[16] = "volatile";
	uintptr_t *v;

	assert_int_equal(hashmap_upsert(h, key, 8, &v), 1);
	*v = 7;
	memset(key, 'x', sizeof(key));
	assert_null(hashmap_get(h, key, 8));
	assert_int_equal(*hashmap_get(h, "volatile", 8), 7);
	hashmap_free(h);
}

static void test_many_keys(void **state)
{
	struct hashmap *h = hashmap_new();
	uint8_t *seen = calloc(MANY, 1);
	size_t pos = 0, count = 0, mem_small;
	const void *k;
	size_t klen;
	uintptr_t val;
	char buf[32];

	assert_non_null(seen);
	{
		uintptr_t *v;
		assert_int_equal(hashmap_upsert(h, "x", 1, &v), 1);
		mem_small = hashmap_memory(h);
		hashmap_clear(h);
	}
	for (unsigned i = 0; i < MANY; i++) {
		uintptr_t *v;
		size_t len = key_of(i, buf);
		assert_int_equal(hashmap_upsert(h, buf, len, &v), 1);
		*v = (uintptr_t)i + 1000;
	}
	assert_int_equal(hashmap_size(h), MANY);
	assert_true(hashmap_memory(h) > mem_small); /* it grew */
	/* every key found, with its value, after all the growing */
	for (unsigned i = 0; i < MANY; i++) {
		size_t len = key_of(i, buf);
		uintptr_t *v = hashmap_get(h, buf, len);
		if (!v || *v != (uintptr_t)i + 1000)
			fail_msg("key %u lost or wrong after growing", i);
	}
	/* inserting again finds them all */
	for (unsigned i = 0; i < MANY; i += 97) {
		uintptr_t *v;
		size_t len = key_of(i, buf);
		assert_int_equal(hashmap_upsert(h, buf, len, &v), 0);
		assert_int_equal(*v, (uintptr_t)i + 1000);
	}
	assert_int_equal(hashmap_size(h), MANY);
	for (unsigned i = MANY; i < MANY + 1000; i++) {
		size_t len = key_of(i, buf);
		assert_null(hashmap_get(h, buf, len));
	}
	/* iteration visits every entry exactly once, key and value together */
	while (hashmap_iter(h, &pos, &k, &klen, &val)) {
		unsigned idx = (unsigned)(val - 1000);
		size_t len;
		assert_true(val >= 1000 && idx < MANY);
		len = key_of(idx, buf);
		assert_int_equal(klen, len);
		assert_memory_equal(k, buf, len);
		assert_int_equal(seen[idx], 0);
		seen[idx] = 1;
		count++;
	}
	assert_int_equal(count, MANY);
	/* and with NULL outputs */
	pos = 0;
	count = 0;
	while (hashmap_iter(h, &pos, NULL, NULL, NULL))
		count++;
	assert_int_equal(count, MANY);
	free(seen);
	hashmap_free(h);
}

static void test_clear_and_reuse(void **state)
{
	struct hashmap *h = hashmap_new();
	size_t pos = 0, full;
	char buf[32];

	for (unsigned i = 0; i < 1000; i++) {
		uintptr_t *v;
		assert_int_equal(hashmap_upsert(h, buf, key_of(i, buf), &v), 1);
		*v = i;
	}
	full = hashmap_memory(h);
	hashmap_clear(h);
	assert_int_equal(hashmap_size(h), 0);
	/* a table that was used is kept, emptied, for the next epoch: no more memory */
	assert_true(hashmap_memory(h) <= full);
	assert_null(hashmap_get(h, buf, key_of(5, buf)));
	assert_false(hashmap_iter(h, &pos, NULL, NULL, NULL));
	for (unsigned i = 0; i < 1000; i += 2) {
		uintptr_t *v;
		assert_int_equal(hashmap_upsert(h, buf, key_of(i, buf), &v), 1);
		assert_int_equal(*v, 0); /* not the old value */
		*v = i + 1;
	}
	assert_int_equal(hashmap_size(h), 500);
	assert_null(hashmap_get(h, buf, key_of(1, buf)));
	assert_int_equal(*hashmap_get(h, buf, key_of(998, buf)), 999);
	/* a table far larger than what it held is given back at the clear */
	hashmap_clear(h);
	for (unsigned i = 0; i < 3; i++) {
		uintptr_t *v;
		assert_int_equal(hashmap_upsert(h, buf, key_of(i, buf), &v), 1);
	}
	hashmap_clear(h);
	assert_true(hashmap_memory(h) < full);
	hashmap_free(h);
}

/*
 * Tables of 2 MiB and more have a mapping of their own (huge pages):
 * through growth, a clear that keeps one, a clear that gives one back,
 * and growing again after that.
 */
static void test_large_table(void **state)
{
	struct hashmap *h = hashmap_new();
	char buf[32];

	for (int round = 0; round < 2; round++) {
		for (unsigned i = 0; i < MANY; i++) {
			uintptr_t *v;
			assert_int_equal(hashmap_upsert(h, buf, key_of(i, buf), &v), 1);
			*v = i + 7;
		}
		assert_true(hashmap_memory(h) >= ((size_t)2 << 20));
		hashmap_clear(h); /* kept, emptied */
		assert_null(hashmap_get(h, buf, key_of(3, buf)));
		for (unsigned i = 0; i < MANY / 2; i++) {
			uintptr_t *v;
			assert_int_equal(hashmap_upsert(h, buf, key_of(i, buf), &v), 1);
			assert_int_equal(*v, 0);
			*v = i + 9;
		}
		for (unsigned i = 0; i < MANY / 2; i += 101)
			assert_int_equal(*hashmap_get(h, buf, key_of(i, buf)), i + 9);
		hashmap_clear(h); /* still kept: half full */
		hashmap_clear(h); /* given back: empty */
		assert_true(hashmap_memory(h) < ((size_t)2 << 20));
	}
	hashmap_free(h);
}

static void test_values_survive_growth(void **state)
{
	struct hashmap *h = hashmap_new();
	char buf[32];

	/* the slot pointer dies at the next insertion; the value does not */
	for (unsigned i = 0; i < 5000; i++) {
		uintptr_t *v;
		assert_int_equal(hashmap_upsert(h, buf, key_of(i, buf), &v), 1);
		*v = (uintptr_t)&h + i; /* pointer-sized values */
	}
	for (unsigned i = 0; i < 5000; i++)
		assert_int_equal(*hashmap_get(h, buf, key_of(i, buf)), (uintptr_t)&h + i);
	hashmap_free(h);
}

static void test_hash_bytes(void **state)
{
	assert_int_equal(hash_bytes("abc", 3), hash_bytes("abc", 3));
	assert_int_not_equal(hash_bytes("abc", 3), hash_bytes("abd", 3));
	assert_int_not_equal(hash_bytes("a", 1), hash_bytes("a\0", 2));
	/* 0 marks an empty slot: never a hash */
	assert_int_not_equal(hash_bytes("", 0), 0);
	for (unsigned i = 0; i < 100000; i++)
		if (hash_bytes(&i, sizeof(i)) == 0)
			fail_msg("hash 0 for %u", i);
}

/* The caller's hash: the same slots as hash_bytes' own; a prefetch is only a hint. */
static void test_upsert_hashed(void **state)
{
	struct hashmap *h = hashmap_new();
	uintptr_t *v, *w;
	char buf[32];

	hashmap_prefetch(h, 12345); /* an empty map: nothing to load, no crash */
	for (unsigned i = 0; i < 1000; i++) {
		size_t n = key_of(i, buf);
		uint64_t hash = hash_bytes(buf, n);
		hashmap_prefetch(h, hash);
		assert_int_equal(hashmap_upsert_hashed(h, buf, n, hash, &v), 1);
		*v = i + 1;
	}
	for (unsigned i = 0; i < 1000; i++) {
		size_t n = key_of(i, buf);
		assert_int_equal(hashmap_upsert(h, buf, n, &v), 0); /* found by its own hash */
		assert_int_equal(*v, i + 1);
		assert_int_equal(hashmap_upsert_hashed(h, buf, n, hash_bytes(buf, n), &w), 0);
		assert_ptr_equal(v, w);
	}
	assert_int_equal(hashmap_size(h), 1000);
	/* a hash of 0 (never hash_bytes') does not make a slot look empty */
	assert_int_equal(hashmap_upsert_hashed(h, "zero", 4, 0, &v), 1);
	assert_int_equal(hashmap_upsert_hashed(h, "zero", 4, 0, &w), 0);
	assert_ptr_equal(v, w);
	assert_int_equal(hashmap_size(h), 1001);
	hashmap_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),	cmocka_unit_test(test_insert_get),
	    cmocka_unit_test(test_binary_keys), cmocka_unit_test(test_key_is_copied),
	    cmocka_unit_test(test_many_keys),	cmocka_unit_test(test_clear_and_reuse),
	    cmocka_unit_test(test_large_table), cmocka_unit_test(test_values_survive_growth),
	    cmocka_unit_test(test_hash_bytes),	cmocka_unit_test(test_upsert_hashed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
