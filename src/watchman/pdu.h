/* SPDX-License-Identifier: MIT */
/*
 * pdu: Watchman's framing, one PDU at a time over a byte buffer, for the
 * daemon's socket and the watchman command alike. A PDU is a BSER v1 or
 * v2 PDU when its first two bytes say so (bser.h), otherwise one line of
 * JSON ending with '\n', as Watchman tells them apart. An answer goes out
 * in the encoding of the request (and the capabilities of a BSER v2
 * request).
 *
 * JSON is parsed by json-c, whose parser is iterative and stops at a
 * nesting depth of 32; BSER by bser.c (iterative, at most BSER_MAX_DEPTH).
 * Functions return 0 (or 1) or a negative errno; none logs.
 */
#ifndef FST_WATCHMAN_PDU_H
#define FST_WATCHMAN_PDU_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json_object.h>

enum wpdu_encoding {
	WPDU_JSON,	  /* one line, compact */
	WPDU_JSON_PRETTY, /* indented, for people (the watchman command's default output) */
	WPDU_BSER_V1,
	WPDU_BSER_V2,
};

struct wpdu_format {
	enum wpdu_encoding enc;
	uint32_t caps; /* BSER v2 capabilities (bser.h BSER_CAP_*) */
};

/*
 * Decode the PDU at the start of buf[0..len). Returns 1 with *ret (a new
 * reference; NULL stands for null), *ret_used (its bytes, a JSON line with
 * its '\n') and *ret_fmt (its encoding, to answer in kind); 0 when more
 * bytes are needed; -EMSGSIZE when it is (or will be) longer than max
 * bytes; -EBADMSG when it is not a valid PDU (err says why; *ret_used is
 * then what to skip to go on: a JSON line, or 0 when BSER framing is lost).
 * Blank JSON lines are skipped (counted in *ret_used of the next PDU).
 */
int wpdu_decode(const void *buf, size_t len, size_t max, json_object **ret, size_t *ret_used,
		struct wpdu_format *ret_fmt, char *err, size_t errlen);

/*
 * Encode v as one PDU in fmt into a new malloc'd buffer: JSON ends with
 * '\n' (pretty too). -ERANGE, -E2BIG, -ENOMEM as bser_encode_pdu.
 */
int wpdu_encode(json_object *v, const struct wpdu_format *fmt, char **ret_buf, size_t *ret_len);

/* "json", "bser" (v1), "bser-v2" (its default capabilities: none) -> *ret; -EINVAL otherwise. */
int wpdu_parse_encoding(const char *name, struct wpdu_format *ret);

#endif
