/* SPDX-License-Identifier: MIT */
/*
 * bser: Watchman's binary serialization (BSER v1 and v2) to and from json-c
 * objects, and the framing of a Watchman connection (a PDU is either one
 * line of JSON or one BSER PDU, told apart by its first two bytes).
 *
 * A BSER PDU is: magic "\x00\x01" (v1) or "\x00\x02" (v2), for v2 a 32-bit
 * capabilities word, the payload length as a BSER integer, then the payload:
 * one BSER value. Integers and reals are in host byte order.
 *
 * Strings. BSER has byte strings (0x02) and, in v2, UTF-8 strings (0x0d);
 * json-c has one string type. A decoded 0x02 string is tagged as "bytes"
 * (bser_string_is_bytes) so that encoding it again gives 0x02 again. When
 * encoding, a string tagged as bytes, every string in v1, every string
 * with invalid UTF-8, every object key and, with BSER_CAP_DISABLE_UNICODE,
 * every string is written as 0x02; other strings are written as 0x0d in v2
 * (that is what Watchman does: file names are byte strings, the rest is
 * text). With BSER_CAP_DISABLE_UNICODE_FOR_ERRORS the value of a top-level
 * "error" key is written as bytes too.
 *
 * Templates (0x0b, arrays of objects sharing keys) are decoded into arrays
 * of objects; a missing value (0x0c skip) leaves the key out. An array
 * tagged with bser_array_set_template() is encoded as a template whose keys
 * are the union of its objects' keys in first-seen order.
 *
 * Decoding is for hostile input: every read is bounds checked, nesting is
 * followed with an explicit stack capped at BSER_MAX_DEPTH (no recursion),
 * a container may not announce more elements than bytes remain, reals
 * must be finite, object keys may not contain NUL, and a template needs a
 * non-empty key list. Encoding is iterative too, with the same depth cap.
 *
 * Every function returns 0 or a negative errno; none logs.
 */
#ifndef FST_WATCHMAN_BSER_H
#define FST_WATCHMAN_BSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json_object.h>

#define BSER_CAP_DISABLE_UNICODE 0x1u
#define BSER_CAP_DISABLE_UNICODE_FOR_ERRORS 0x2u

/* Deepest nesting of arrays, objects and templates accepted or written. */
#define BSER_MAX_DEPTH 500
/*
 * Most values (containers, scalars, template rows) one decoded PDU may hold:
 * a small input must not make a large tree (an all-skip template row is one
 * byte and one object). -E2BIG past it.
 */
#define BSER_MAX_VALUES 100000
/* A sensible bound for bser_pdu_info()'s max_payload on a server socket. */
#define BSER_DEFAULT_MAX_PAYLOAD (8u << 20)

enum bser_pdu_kind {
	BSER_PDU_NEED_MORE = 0, /* fewer than 2 bytes: cannot tell yet */
	BSER_PDU_JSON = 1,	/* anything else: one line of JSON text */
	BSER_PDU_V1 = 2,	/* "\x00\x01" */
	BSER_PDU_V2 = 3,	/* "\x00\x02" */
};

/* What the first bytes of a PDU say it is (never fails). */
enum bser_pdu_kind bser_pdu_detect(const void *buf, size_t len);

struct bser_pdu_info {
	unsigned version;      /* 1 or 2 */
	uint32_t capabilities; /* v2 only; 0 for v1 */
	size_t header_len;     /* magic + capabilities + length integer */
	size_t payload_len;
	size_t total_len; /* header_len + payload_len: the bytes of this PDU */
};

/*
 * Parse the header of the BSER PDU at buf[0..len). Returns 0 with *ret
 * filled; -EAGAIN when more bytes are needed to read the header (*ret_need,
 * if not NULL, gets the least total number of bytes worth trying again
 * with); -EBADMSG when buf is not a BSER PDU or its length is not a
 * non-negative BSER integer; -EMSGSIZE when the payload is longer than
 * max_payload (0: no bound). The payload itself may still be incomplete:
 * compare ret->total_len with what you have.
 */
int bser_pdu_info(const void *buf, size_t len, size_t max_payload, struct bser_pdu_info *ret,
		  size_t *ret_need);

/*
 * Decode one whole PDU (header and payload: exactly len bytes, see
 * bser_pdu_info) into *ret (a new reference; NULL stands for BSER null).
 * -EBADMSG for malformed input, -E2BIG for nesting past BSER_MAX_DEPTH or
 * more than BSER_MAX_VALUES values, -ENOMEM; err (if errlen > 0) gets one line saying what and
 * where.
 */
int bser_decode_pdu(const void *buf, size_t len, json_object **ret, char *err, size_t errlen);

/*
 * Decode one BSER value at buf[0..len) (a payload without PDU header).
 * *ret_used gets the bytes it took; trailing bytes are left alone.
 */
int bser_decode_value(const void *buf, size_t len, json_object **ret, size_t *ret_used, char *err,
		      size_t errlen);

/*
 * Encode v as a whole PDU of the given version (1 or 2; capabilities are
 * written for v2 and steer string types, see above) into a new malloc'd
 * buffer (*ret_buf, *ret_len). -EINVAL for another version, -ERANGE for an
 * integer past INT64_MAX or a non-finite real, -E2BIG past BSER_MAX_DEPTH,
 * -ENOMEM.
 */
int bser_encode_pdu(json_object *v, unsigned version, uint32_t capabilities, char **ret_buf,
		    size_t *ret_len);

/* Tag a string object as a byte string (0x02 in every version). */
void bser_string_set_bytes(json_object *s);
bool bser_string_is_bytes(json_object *s);
/* A new string of len bytes (may hold NULs and any bytes), tagged as bytes. */
json_object *bser_new_bytes(const char *s, size_t len);

/* Tag an array of objects to be encoded as a BSER template. */
void bser_array_set_template(json_object *array);
bool bser_array_is_template(json_object *array);

/* Is s[0..len) valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? */
bool bser_utf8_valid(const char *s, size_t len);

#endif
