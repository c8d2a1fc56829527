/* SPDX-License-Identifier: MIT */
/*
 * hash128: MurmurHash3 x64 128, streaming; the content and xattr hashes of
 * the manifest. Equal bytes, equal hash.
 */
#include "tool.h"

#include <inttypes.h>
#include <string.h>

static uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

static uint64_t load_le64(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#define MUR_C1 0x87c37b91114253d5ull
#define MUR_C2 0x4cf5ad432745937full

/* The mixing of the first and of the second 8 bytes of a block. */
static uint64_t mix_k1(uint64_t k1)
{
	return rotl64(k1 * MUR_C1, 31) * MUR_C2;
}

static uint64_t mix_k2(uint64_t k2)
{
	return rotl64(k2 * MUR_C2, 33) * MUR_C1;
}

void h128_init(struct h128 *h, uint64_t seed)
{
	memset(h, 0, sizeof(*h));
	h->h1 = h->h2 = seed;
}

static void h128_block(struct h128 *h, const uint8_t *p)
{
	h->h1 ^= mix_k1(load_le64(p, 8));
	h->h1 = rotl64(h->h1, 27);
	h->h1 += h->h2;
	h->h1 = h->h1 * 5 + 0x52dce729;
	h->h2 ^= mix_k2(load_le64(p + 8, 8));
	h->h2 = rotl64(h->h2, 31);
	h->h2 += h->h1;
	h->h2 = h->h2 * 5 + 0x38495ab5;
}

void h128_update(struct h128 *h, const void *data, size_t n)
{
	const uint8_t *p = data;

	h->len += n;
	if (h->ntail) {
		size_t take = 16 - h->ntail;
		if (take > n)
			take = n;
		memcpy(h->tail + h->ntail, p, take);
		h->ntail += take;
		p += take;
		n -= take;
		if (h->ntail < 16)
			return;
		h128_block(h, h->tail);
		h->ntail = 0;
	}
	for (; n >= 16; p += 16, n -= 16)
		h128_block(h, p);
	memcpy(h->tail, p, n);
	h->ntail = n;
}

void h128_final(struct h128 *h, char out[33])
{
	uint64_t h1 = h->h1, h2 = h->h2;

	if (h->ntail > 8)
		h2 ^= mix_k2(load_le64(h->tail + 8, h->ntail - 8));
	if (h->ntail > 0)
		h1 ^= mix_k1(load_le64(h->tail, h->ntail > 8 ? 8 : h->ntail));
	h1 ^= h->len;
	h2 ^= h->len;
	h1 += h2;
	h2 += h1;
	h1 = fmix64(h1);
	h2 = fmix64(h2);
	h1 += h2;
	h2 += h1;
	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, h1, h2);
}
