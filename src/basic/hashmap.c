/* SPDX-License-Identifier: MIT */
#include "basic/hashmap.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*
 * Open addressing with linear probing at a load of at most 1/2, the full
 * 64-bit hash kept in each slot (a probe rarely touches a key). Keys live
 * in an arena of large blocks: no allocation per key, and a clear (the
 * recorder's every epoch) frees a handful of blocks, not every key.
 */

#define ARENA_BLOCK (64 * 1024)
#define MIN_CAP 64

struct slot {
	uint64_t hash; /* 0: empty */
	const uint8_t *key;
	size_t klen;
	uintptr_t value;
};

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	uint8_t data[];
};

struct hashmap {
	struct slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t size;
	size_t key_bytes;
	struct arena_block *blocks; /* newest first */
	size_t arena_bytes;
};

static void slots_free(struct slot *s, size_t cap);

uint64_t hash_bytes(const void *data, size_t len)
{
	/* 8 bytes at a time, multiply-xorshift mixing (in the manner of murmur64) */
	const uint64_t m = 0xc6a4a7935bd1e995ull;
	const uint8_t *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * m);

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t k;
		memcpy(&k, p, 8);
		k *= m;
		k ^= k >> 47;
		k *= m;
		h ^= k;
		h *= m;
	}
	if (len) {
		uint64_t k = 0;
		memcpy(&k, p, len);
		h ^= k;
		h *= m;
	}
	h ^= h >> 47;
	h *= m;
	h ^= h >> 47;
	return h ? h : 1;
}

struct hashmap *hashmap_new(void)
{
	return calloc(1, sizeof(struct hashmap));
}

static void arena_free(struct hashmap *h, bool keep_one)
{
	struct arena_block *b = h->blocks, *keep = NULL;

	while (b) {
		struct arena_block *next = b->next;
		if (keep_one && !keep && b->size == ARENA_BLOCK) {
			keep = b;
			keep->used = 0;
			keep->next = NULL;
		} else {
			free(b);
		}
		b = next;
	}
	h->blocks = keep;
	h->arena_bytes = keep ? keep->size : 0;
}

static uint8_t *arena_alloc(struct hashmap *h, size_t len)
{
	struct arena_block *b = h->blocks;

	len = (len + 7) & ~(size_t)7;
	if (!b || b->size - b->used < len) {
		size_t size = len > ARENA_BLOCK ? len : ARENA_BLOCK;
		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		b->used = 0;
		b->size = size;
		b->next = h->blocks;
		h->blocks = b;
		h->arena_bytes += size;
	}
	b->used += len;
	return b->data + b->used - len;
}

void hashmap_clear(struct hashmap *h)
{
	if (!h)
		return;
	/*
	 * A table that was used a lot is kept (emptied) for the next round
	 * of the same work; one far larger than what it held is given back.
	 */
	if (h->cap > MIN_CAP && h->size * 8 < h->cap) {
		slots_free(h->slots, h->cap);
		h->slots = NULL;
		h->cap = 0;
	} else if (h->slots) {
		memset(h->slots, 0, h->cap * sizeof(*h->slots));
	}
	arena_free(h, true);
	h->size = h->key_bytes = 0;
}

struct hashmap *hashmap_free(struct hashmap *h)
{
	if (!h)
		return NULL;
	slots_free(h->slots, h->cap);
	arena_free(h, false);
	free(h);
	return NULL;
}

size_t hashmap_size(const struct hashmap *h)
{
	return h ? h->size : 0;
}

size_t hashmap_memory(const struct hashmap *h)
{
	return h ? h->cap * sizeof(struct slot) + h->arena_bytes : 0;
}

/*
 * A large table is probed at random, one cache miss per probe; on 4 KiB
 * pages each is a TLB miss as well, which in a VM costs a nested page
 * walk. Tables of 2 MiB and more are mapped by themselves, aligned, and
 * ask for huge pages (a hint: without them the table works the same).
 * Their own mapping, not malloc's: the hint must go with the table, not
 * stay on heap memory that malloc hands out again, and a fresh mapping
 * is zero already.
 */
#define HUGE_PAGE ((size_t)2 << 20)

static_assert((sizeof(struct slot) & (sizeof(struct slot) - 1)) == 0,
	      "a table of a power-of-two capacity is a power-of-two size");

static bool slots_mapped(size_t cap)
{
	return cap * sizeof(struct slot) >= HUGE_PAGE;
}

static struct slot *slots_alloc(size_t cap)
{
	size_t bytes = cap * sizeof(struct slot), lead;
	uint8_t *p;

	if (!slots_mapped(cap))
		return calloc(cap, sizeof(struct slot));
	/* map one huge page more, then trim to an aligned block of bytes */
	p = mmap(NULL, bytes + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	if (p == MAP_FAILED)
		return NULL;
	lead = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
	if (lead)
		(void)munmap(p, lead);
	(void)munmap(p + lead + bytes, HUGE_PAGE - lead);
	(void)madvise(p + lead, bytes, MADV_HUGEPAGE);
	return (struct slot *)(p + lead);
}

static void slots_free(struct slot *s, size_t cap)
{
	if (!s)
		return;
	if (slots_mapped(cap))
		(void)munmap(s, cap * sizeof(struct slot));
	else
		free(s);
}

static struct slot *find(const struct hashmap *h, uint64_t hash, const void *key, size_t klen)
{
	size_t mask = h->cap - 1;

	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		struct slot *s = &h->slots[i];
		if (s->hash == 0)
			return s;
		if (s->hash == hash && s->klen == klen && memcmp(s->key, key, klen) == 0)
			return s;
	}
}

static int grow(struct hashmap *h)
{
	size_t ncap = h->cap ? h->cap * 2 : MIN_CAP;
	struct slot *old = h->slots, *ns = slots_alloc(ncap);
	size_t ocap = h->cap;

	if (!ns)
		return -ENOMEM;
	h->slots = ns;
	h->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (old[i].hash == 0)
			continue;
		struct slot *s = find(h, old[i].hash, old[i].key, old[i].klen);
		*s = old[i];
	}
	slots_free(old, ocap);
	return 0;
}

void hashmap_prefetch(const struct hashmap *h, uint64_t hash)
{
	if (h->cap)
		__builtin_prefetch(&h->slots[hash & (h->cap - 1)], 1);
}

int hashmap_upsert(struct hashmap *h, const void *key, size_t klen, uintptr_t **ret_value)
{
	return hashmap_upsert_hashed(h, key, klen, hash_bytes(key, klen), ret_value);
}

int hashmap_upsert_hashed(struct hashmap *h, const void *key, size_t klen, uint64_t hash,
			  uintptr_t **ret_value)
{
	struct slot *s;
	uint8_t *copy;

	if (hash == 0) /* 0 marks an empty slot; hash_bytes() never gives it */
		hash = 1;
	if ((h->size + 1) * 2 > h->cap) {
		int r = grow(h);
		if (r < 0)
			return r;
	}
	s = find(h, hash, key, klen);
	if (s->hash) {
		*ret_value = &s->value;
		return 0;
	}
	copy = arena_alloc(h, klen ? klen : 1);
	if (!copy)
		return -ENOMEM;
	if (klen)
		memcpy(copy, key, klen);
	s->key = copy;
	s->klen = klen;
	s->hash = hash;
	s->value = 0;
	h->size++;
	h->key_bytes += klen;
	*ret_value = &s->value;
	return 1;
}

uintptr_t *hashmap_get(const struct hashmap *h, const void *key, size_t klen)
{
	struct slot *s;

	if (!h || h->cap == 0)
		return NULL;
	s = find(h, hash_bytes(key, klen), key, klen);
	return s->hash ? &s->value : NULL;
}

bool hashmap_iter(const struct hashmap *h, size_t *pos, const void **ret_key, size_t *ret_klen,
		  uintptr_t *ret_value)
{
	if (!h)
		return false;
	for (; *pos < h->cap; (*pos)++) {
		struct slot *s = &h->slots[*pos];
		if (s->hash == 0)
			continue;
		if (ret_key)
			*ret_key = s->key;
		if (ret_klen)
			*ret_klen = s->klen;
		if (ret_value)
			*ret_value = s->value;
		(*pos)++;
		return true;
	}
	return false;
}
