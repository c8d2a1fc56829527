/* SPDX-License-Identifier: MIT */
#include "basic/hashmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	uint64_t hash; /* 0: empty */
	uint8_t *key;
	size_t klen;
	uintptr_t value;
};

struct hashmap {
	struct slot *slots;
	size_t cap; /* power of two */
	size_t size;
	size_t key_bytes;
};

uint64_t hash_bytes(const void *data, size_t len)
{
	/* FNV-1a, then a final mix so the low bits spread well. */
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

struct hashmap *hashmap_new(void)
{
	return calloc(1, sizeof(struct hashmap));
}

void hashmap_clear(struct hashmap *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->cap; i++)
		free(h->slots[i].key);
	free(h->slots);
	h->slots = NULL;
	h->cap = h->size = h->key_bytes = 0;
}

struct hashmap *hashmap_free(struct hashmap *h)
{
	hashmap_clear(h);
	free(h);
	return NULL;
}

size_t hashmap_size(const struct hashmap *h)
{
	return h ? h->size : 0;
}

size_t hashmap_memory(const struct hashmap *h)
{
	return h ? h->cap * sizeof(struct slot) + h->key_bytes + h->size * 16 : 0;
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
	size_t ncap = h->cap ? h->cap * 2 : 64;
	struct slot *old = h->slots, *ns = calloc(ncap, sizeof(*ns));
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
	free(old);
	return 0;
}

int hashmap_upsert(struct hashmap *h, const void *key, size_t klen, uintptr_t **ret_value)
{
	uint64_t hash = hash_bytes(key, klen);
	struct slot *s;

	if ((h->size + 1) * 4 > h->cap * 3) {
		int r = grow(h);
		if (r < 0)
			return r;
	}
	s = find(h, hash, key, klen);
	if (s->hash) {
		*ret_value = &s->value;
		return 0;
	}
	s->key = malloc(klen ? klen : 1);
	if (!s->key)
		return -ENOMEM;
	memcpy(s->key, key, klen);
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
