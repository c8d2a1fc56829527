/* SPDX-License-Identifier: MIT */
/*
 * hashmap: open addressing, byte-string keys (copied), one pointer-sized
 * value per key. Used by the recorder ("already recorded?") and the query
 * (distinct places, distinct directories).
 */
#ifndef FST_HASHMAP_H
#define FST_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hashmap;

struct hashmap *hashmap_new(void);
/* Frees keys; values are the caller's (free them first with hashmap_iter). */
struct hashmap *hashmap_free(struct hashmap *h);
void hashmap_clear(struct hashmap *h);
size_t hashmap_size(const struct hashmap *h);
/* Approximate bytes used, for status. */
size_t hashmap_memory(const struct hashmap *h);

/*
 * Find key, adding it (value 0) if absent. *ret_value points at its value
 * slot, valid until the next insertion. Returns 1 if added, 0 if found,
 * -ENOMEM.
 */
int hashmap_upsert(struct hashmap *h, const void *key, size_t klen, uintptr_t **ret_value);
/* The same, with hash == hash_bytes(key, klen) computed by the caller. */
int hashmap_upsert_hashed(struct hashmap *h, const void *key, size_t klen, uint64_t hash,
			  uintptr_t **ret_value);
/*
 * Start loading the slot where a key of this hash is looked for: a
 * caller with several keys to look up hides one cache miss behind
 * another. Only a hint.
 */
void hashmap_prefetch(const struct hashmap *h, uint64_t hash);
/* The value slot of key, or NULL. */
uintptr_t *hashmap_get(const struct hashmap *h, const void *key, size_t klen);

/* Iterate: start with *pos = 0; returns false at the end. */
bool hashmap_iter(const struct hashmap *h, size_t *pos, const void **ret_key, size_t *ret_klen,
		  uintptr_t *ret_value);

uint64_t hash_bytes(const void *data, size_t len);

#endif
