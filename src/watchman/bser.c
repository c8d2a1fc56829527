/* SPDX-License-Identifier: MIT */
/* bser: BSER v1/v2 encoding and decoding for json-c objects (see bser.h). */
#include "watchman/bser.h"
#include "basic/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/linkhash.h>

enum {
	T_ARRAY = 0x00,
	T_OBJECT = 0x01,
	T_BYTES = 0x02,
	T_INT8 = 0x03,
	T_INT16 = 0x04,
	T_INT32 = 0x05,
	T_INT64 = 0x06,
	T_REAL = 0x07,
	T_TRUE = 0x08,
	T_FALSE = 0x09,
	T_NULL = 0x0a,
	T_TEMPLATE = 0x0b,
	T_SKIP = 0x0c,
	T_UTF8 = 0x0d,
};

/* Addresses used as userdata tags; only this file sets them. */
static const char bytes_tag;
static const char template_tag;

void bser_string_set_bytes(json_object *s)
{
	if (json_object_is_type(s, json_type_string))
		json_object_set_userdata(s, (void *)&bytes_tag, NULL);
}

bool bser_string_is_bytes(json_object *s)
{
	return json_object_is_type(s, json_type_string) &&
	       json_object_get_userdata(s) == (void *)&bytes_tag;
}

json_object *bser_new_bytes(const char *s, size_t len)
{
	json_object *o;

	if (len > INT_MAX)
		return NULL;
	o = json_object_new_string_len(s, (int)len);
	if (o)
		bser_string_set_bytes(o);
	return o;
}

void bser_array_set_template(json_object *array)
{
	if (json_object_is_type(array, json_type_array))
		json_object_set_userdata(array, (void *)&template_tag, NULL);
}

bool bser_array_is_template(json_object *array)
{
	return json_object_is_type(array, json_type_array) &&
	       json_object_get_userdata(array) == (void *)&template_tag;
}

bool bser_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* ---- framing ---- */

enum bser_pdu_kind bser_pdu_detect(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	if (len < 2)
		return BSER_PDU_NEED_MORE;
	if (p[0] == 0x00 && p[1] == 0x01)
		return BSER_PDU_V1;
	if (p[0] == 0x00 && p[1] == 0x02)
		return BSER_PDU_V2;
	return BSER_PDU_JSON;
}

static size_t int_width(unsigned char type)
{
	switch (type) {
	case T_INT8:
		return 1;
	case T_INT16:
		return 2;
	case T_INT32:
		return 4;
	case T_INT64:
		return 8;
	default:
		return 0;
	}
}

static int64_t int_read(unsigned char type, const unsigned char *p)
{
	switch (type) {
	case T_INT8: {
		int8_t v;
		memcpy(&v, p, 1);
		return v;
	}
	case T_INT16: {
		int16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	case T_INT32: {
		int32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	default: {
		int64_t v;
		memcpy(&v, p, 8);
		return v;
	}
	}
}

int bser_pdu_info(const void *buf, size_t len, size_t max_payload, struct bser_pdu_info *ret,
		  size_t *ret_need)
{
	const unsigned char *p = buf;
	enum bser_pdu_kind kind = bser_pdu_detect(buf, len);
	size_t off, w;
	int64_t plen;

	if (kind == BSER_PDU_NEED_MORE) {
		if (ret_need)
			*ret_need = 2;
		return -EAGAIN;
	}
	if (kind == BSER_PDU_JSON)
		return -EBADMSG;
	memset(ret, 0, sizeof(*ret));
	ret->version = kind == BSER_PDU_V1 ? 1 : 2;
	off = 2;
	if (ret->version == 2) {
		if (len < 6) {
			if (ret_need)
				*ret_need = 6;
			return -EAGAIN;
		}
		memcpy(&ret->capabilities, p + 2, 4);
		off = 6;
	}
	if (len < off + 1) {
		if (ret_need)
			*ret_need = off + 1;
		return -EAGAIN;
	}
	w = int_width(p[off]);
	if (w == 0)
		return -EBADMSG;
	if (len < off + 1 + w) {
		if (ret_need)
			*ret_need = off + 1 + w;
		return -EAGAIN;
	}
	plen = int_read(p[off], p + off + 1);
	if (plen < 0)
		return -EBADMSG;
	if ((uint64_t)plen > SIZE_MAX - (off + 1 + w))
		return -EMSGSIZE;
	if (max_payload && (uint64_t)plen > max_payload)
		return -EMSGSIZE;
	ret->header_len = off + 1 + w;
	ret->payload_len = (size_t)plen;
	ret->total_len = ret->header_len + ret->payload_len;
	return 0;
}

/* ---- decoding ---- */

enum frame_kind { F_ARRAY, F_OBJECT, F_TEMPLATE };

struct dframe {
	enum frame_kind kind;
	json_object *container; /* array or object being filled (borrowed) */
	uint64_t remaining;	/* elements, pairs, or template objects left */
	/* template */
	json_object *keys; /* array of key strings (owned) */
	size_t nkeys, key_index;
	json_object *cur; /* object being filled (borrowed) */
};

struct decoder {
	const unsigned char *p;
	size_t len, pos;
	struct dframe *stack;
	size_t depth;
	size_t values; /* made so far: at most BSER_MAX_VALUES */
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int derr(struct decoder *d, int r, const char *fmt,
						      ...)
{
	va_list ap;

	if (d->err && d->errlen) {
		va_start(ap, fmt);
		vsnprintf(d->err, d->errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

static int need(struct decoder *d, size_t n)
{
	if (n > d->len - d->pos)
		return derr(d, -EBADMSG,
			    "bser: truncated at offset %zu: %zu more bytes needed, %zu remain",
			    d->pos, n, d->len - d->pos);
	return 0;
}

static int read_int(struct decoder *d, int64_t *ret)
{
	size_t w;
	int r = need(d, 1);

	if (r < 0)
		return r;
	w = int_width(d->p[d->pos]);
	if (w == 0)
		return derr(d, -EBADMSG,
			    "bser: expected an integer at offset %zu, found type 0x%02x", d->pos,
			    d->p[d->pos]);
	r = need(d, 1 + w);
	if (r < 0)
		return r;
	*ret = int_read(d->p[d->pos], d->p + d->pos + 1);
	d->pos += 1 + w;
	return 0;
}

/* A count that must fit in what is left when each unit takes at least per bytes. */
static int read_count(struct decoder *d, const char *what, uint64_t per, uint64_t *ret)
{
	size_t at = d->pos;
	int64_t v;
	int r = read_int(d, &v);

	if (r < 0)
		return r;
	if (v < 0)
		return derr(d, -EBADMSG, "bser: %s at offset %zu has negative size %lld", what, at,
			    (long long)v);
	if (per && (uint64_t)v > (d->len - d->pos) / per)
		return derr(
		    d, -EBADMSG,
		    "bser: %s at offset %zu has size %lld, more than the %zu bytes left can "
		    "hold",
		    what, at, (long long)v, d->len - d->pos);
	*ret = (uint64_t)v;
	return 0;
}

/* A string's bytes (type byte already checked and consumed). */
static int read_string_body(struct decoder *d, const char **ret, size_t *ret_len)
{
	uint64_t n = 0;
	int r = read_count(d, "string", 1, &n);

	if (r < 0)
		return r;
	if (n > INT_MAX)
		return derr(d, -EBADMSG, "bser: string at offset %zu is too long", d->pos);
	*ret = (const char *)d->p + d->pos;
	*ret_len = (size_t)n;
	d->pos += (size_t)n;
	return 0;
}

static int read_key(struct decoder *d, char **ret)
{
	const char *s;
	size_t n, at = d->pos;
	int r = need(d, 1);

	if (r < 0)
		return r;
	if (d->p[d->pos] != T_BYTES && d->p[d->pos] != T_UTF8)
		return derr(d, -EBADMSG,
			    "bser: expected a string key at offset %zu, found type 0x%02x", d->pos,
			    d->p[d->pos]);
	d->pos++;
	r = read_string_body(d, &s, &n);
	if (r < 0)
		return r;
	if (memchr(s, '\0', n))
		return derr(d, -EBADMSG, "bser: object key at offset %zu contains a NUL byte", at);
	*ret = strndup(s, n);
	if (!*ret)
		return -ENOMEM;
	return 0;
}

static int push(struct decoder *d, struct dframe f)
{
	if (d->depth >= BSER_MAX_DEPTH)
		return derr(d, -E2BIG, "bser: nesting deeper than %d at offset %zu", BSER_MAX_DEPTH,
			    d->pos);
	d->stack[d->depth++] = f;
	return 0;
}

/* Attach v (a new reference, may be NULL for null) where the top frame wants it. */
static int attach(struct decoder *d, json_object **root, const char *key, json_object *v)
{
	struct dframe *f = d->depth ? &d->stack[d->depth - 1] : NULL;
	int r = 0;

	if (++d->values > BSER_MAX_VALUES) {
		json_object_put(v);
		return derr(d, -E2BIG, "bser: more than %d values", BSER_MAX_VALUES);
	}
	if (!f) {
		*root = v;
		return 0;
	}
	switch (f->kind) {
	case F_ARRAY:
		r = json_object_array_add(f->container, v);
		break;
	case F_OBJECT:
		r = json_object_object_add(f->container, key, v);
		break;
	case F_TEMPLATE:
		r = json_object_object_add(f->cur, key, v);
		break;
	}
	if (r < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

/* Read the template header: the key array (all strings, not empty) and the count. */
static int read_template_header(struct decoder *d, struct dframe *f)
{
	uint64_t nkeys, count;
	size_t at = d->pos;
	int r = need(d, 1);

	if (r < 0)
		return r;
	if (d->p[d->pos] != T_ARRAY)
		return derr(d, -EBADMSG, "bser: template at offset %zu: key list is not an array",
			    d->pos);
	d->pos++;
	r = read_count(d, "template key list", 1, &nkeys);
	if (r < 0)
		return r;
	if (nkeys == 0)
		return derr(d, -EBADMSG, "bser: template at offset %zu has no keys", at);
	if (nkeys > BSER_MAX_VALUES - d->values)
		return derr(d, -E2BIG, "bser: more than %d values", BSER_MAX_VALUES);
	d->values += (size_t)nkeys;
	f->keys = json_object_new_array_ext(nkeys < 1024 ? (int)nkeys : 1024);
	if (!f->keys)
		return -ENOMEM;
	for (uint64_t i = 0; i < nkeys; i++) {
		char *key;
		json_object *s;

		r = read_key(d, &key);
		if (r < 0)
			return r;
		s = json_object_new_string(key);
		free(key);
		if (!s || json_object_array_add(f->keys, s) < 0) {
			json_object_put(s);
			return -ENOMEM;
		}
	}
	f->nkeys = (size_t)nkeys;
	r = read_count(d, "template", nkeys, &count);
	if (r < 0)
		return r;
	f->remaining = count;
	f->key_index = f->nkeys; /* no object started yet */
	return 0;
}

/*
 * Read one value and attach it; containers are attached first and then
 * pushed so that their elements follow.
 */
static int read_value(struct decoder *d, json_object **root, const char *key)
{
	unsigned char type;
	size_t at = d->pos;
	json_object *v = NULL;
	int r = need(d, 1);

	if (r < 0)
		return r;
	type = d->p[d->pos];
	switch (type) {
	case T_INT8:
	case T_INT16:
	case T_INT32:
	case T_INT64: {
		int64_t i;

		r = read_int(d, &i);
		if (r < 0)
			return r;
		v = json_object_new_int64(i);
		if (!v)
			return -ENOMEM;
		return attach(d, root, key, v);
	}
	case T_REAL: {
		double x;

		r = need(d, 9);
		if (r < 0)
			return r;
		memcpy(&x, d->p + d->pos + 1, 8);
		if (!isfinite(x))
			return derr(d, -EBADMSG, "bser: real at offset %zu is not finite", at);
		d->pos += 9;
		v = json_object_new_double(x);
		if (!v)
			return -ENOMEM;
		return attach(d, root, key, v);
	}
	case T_TRUE:
	case T_FALSE:
		d->pos++;
		v = json_object_new_boolean(type == T_TRUE);
		if (!v)
			return -ENOMEM;
		return attach(d, root, key, v);
	case T_NULL:
		d->pos++;
		return attach(d, root, key, NULL);
	case T_BYTES:
	case T_UTF8: {
		const char *s;
		size_t n;

		d->pos++;
		r = read_string_body(d, &s, &n);
		if (r < 0)
			return r;
		v = json_object_new_string_len(s, (int)n);
		if (!v)
			return -ENOMEM;
		if (type == T_BYTES)
			bser_string_set_bytes(v);
		return attach(d, root, key, v);
	}
	case T_ARRAY: {
		uint64_t n;

		d->pos++;
		r = read_count(d, "array", 1, &n);
		if (r < 0)
			return r;
		v = json_object_new_array_ext(n < 1024 ? (int)n : 1024);
		if (!v)
			return -ENOMEM;
		r = attach(d, root, key, v);
		if (r < 0)
			return r;
		return push(d, (struct dframe){.kind = F_ARRAY, .container = v, .remaining = n});
	}
	case T_OBJECT: {
		uint64_t n;

		d->pos++;
		/* a pair takes at least 4 bytes: key type, length, value */
		r = read_count(d, "object", 4, &n);
		if (r < 0)
			return r;
		v = json_object_new_object();
		if (!v)
			return -ENOMEM;
		r = attach(d, root, key, v);
		if (r < 0)
			return r;
		return push(d, (struct dframe){.kind = F_OBJECT, .container = v, .remaining = n});
	}
	case T_TEMPLATE: {
		struct dframe f = {.kind = F_TEMPLATE};

		d->pos++;
		if (d->depth >= BSER_MAX_DEPTH)
			return derr(d, -E2BIG, "bser: nesting deeper than %d at offset %zu",
				    BSER_MAX_DEPTH, at);
		r = read_template_header(d, &f);
		if (r < 0) {
			json_object_put(f.keys);
			return r;
		}
		v = json_object_new_array_ext(f.remaining < 1024 ? (int)f.remaining : 1024);
		if (!v) {
			json_object_put(f.keys);
			return -ENOMEM;
		}
		r = attach(d, root, key, v);
		if (r < 0) {
			json_object_put(f.keys);
			return r;
		}
		f.container = v;
		return push(d, f);
	}
	case T_SKIP:
		return derr(d, -EBADMSG, "bser: skip marker outside a template at offset %zu", at);
	default:
		return derr(d, -EBADMSG, "bser: invalid bser encoding type 0x%02x at offset %zu",
			    type, at);
	}
}

static void pop(struct decoder *d)
{
	struct dframe *f = &d->stack[--d->depth];

	if (f->kind == F_TEMPLATE)
		json_object_put(f->keys);
}

static int decode_loop(struct decoder *d, json_object **root)
{
	int r = read_value(d, root, NULL);

	while (r >= 0 && d->depth > 0) {
		struct dframe *f = &d->stack[d->depth - 1];
		char *key = NULL;

		switch (f->kind) {
		case F_ARRAY:
			if (f->remaining == 0) {
				pop(d);
				continue;
			}
			f->remaining--;
			r = read_value(d, root, NULL);
			break;
		case F_OBJECT:
			if (f->remaining == 0) {
				pop(d);
				continue;
			}
			f->remaining--;
			r = read_key(d, &key);
			if (r >= 0)
				r = read_value(d, root, key);
			free(key);
			break;
		case F_TEMPLATE:
			if (f->key_index == f->nkeys) {
				if (f->remaining == 0) {
					pop(d);
					continue;
				}
				f->remaining--;
				if (++d->values > BSER_MAX_VALUES) {
					r = derr(d, -E2BIG, "bser: more than %d values",
						 BSER_MAX_VALUES);
					break;
				}
				f->cur = json_object_new_object();
				if (!f->cur || json_object_array_add(f->container, f->cur) < 0) {
					json_object_put(f->cur);
					r = -ENOMEM;
					break;
				}
				f->key_index = 0;
			}
			key = (char *)json_object_get_string(
			    json_object_array_get_idx(f->keys, f->key_index));
			f->key_index++;
			r = need(d, 1);
			if (r < 0)
				break;
			if (d->p[d->pos] == T_SKIP) {
				d->pos++;
				break;
			}
			/* read_value may push and move the stack: f is not used after it */
			r = read_value(d, root, key);
			break;
		}
	}
	while (d->depth > 0)
		pop(d);
	return r;
}

int bser_decode_value(const void *buf, size_t len, json_object **ret, size_t *ret_used, char *err,
		      size_t errlen)
{
	struct decoder d = {.p = buf, .len = len, .err = err, .errlen = errlen};
	json_object *root = NULL;
	int r;

	*ret = NULL;
	if (err && errlen)
		err[0] = '\0';
	d.stack = calloc(BSER_MAX_DEPTH, sizeof(*d.stack));
	if (!d.stack)
		return -ENOMEM;
	r = decode_loop(&d, &root);
	free(d.stack);
	if (r < 0) {
		json_object_put(root);
		if (r == -ENOMEM)
			derr(&d, r, "bser: out of memory");
		return r;
	}
	*ret = root;
	if (ret_used)
		*ret_used = d.pos;
	return 0;
}

int bser_decode_pdu(const void *buf, size_t len, json_object **ret, char *err, size_t errlen)
{
	struct bser_pdu_info info;
	json_object *v;
	size_t used;
	int r;

	*ret = NULL;
	r = bser_pdu_info(buf, len, 0, &info, NULL);
	if (r == -EAGAIN || (r == 0 && info.total_len > len)) {
		if (err && errlen)
			snprintf(err, errlen, "bser: PDU truncated: %zu bytes", len);
		return -EBADMSG;
	}
	if (r < 0) {
		if (err && errlen)
			snprintf(err, errlen, "bser: not a BSER PDU or bad length header");
		return r == -EMSGSIZE ? -EBADMSG : r;
	}
	if (info.total_len != len) {
		if (err && errlen)
			snprintf(err, errlen, "bser: PDU says %zu bytes, got %zu", info.total_len,
				 len);
		return -EBADMSG;
	}
	r = bser_decode_value((const char *)buf + info.header_len, info.payload_len, &v, &used, err,
			      errlen);
	if (r < 0)
		return r;
	if (used != info.payload_len) {
		json_object_put(v);
		if (err && errlen)
			snprintf(err, errlen, "bser: %zu bytes after the value in the PDU",
				 info.payload_len - used);
		return -EBADMSG;
	}
	*ret = v;
	return 0;
}

/* ---- encoding ---- */

struct obuf {
	char *p;
	size_t len, cap;
};

static int put(struct obuf *b, const void *data, size_t n)
{
	if (n > SIZE_MAX - b->len || GROW(b->p, b->cap, b->len + n) < 0)
		return -ENOMEM;
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static int put_byte(struct obuf *b, unsigned char c)
{
	return put(b, &c, 1);
}

/* The smallest BSER integer holding v, into out; returns its size. */
static size_t int_encode(int64_t v, unsigned char out[9])
{
	if (v >= INT8_MIN && v <= INT8_MAX) {
		int8_t x = (int8_t)v;
		out[0] = T_INT8;
		memcpy(out + 1, &x, 1);
		return 2;
	}
	if (v >= INT16_MIN && v <= INT16_MAX) {
		int16_t x = (int16_t)v;
		out[0] = T_INT16;
		memcpy(out + 1, &x, 2);
		return 3;
	}
	if (v >= INT32_MIN && v <= INT32_MAX) {
		int32_t x = (int32_t)v;
		out[0] = T_INT32;
		memcpy(out + 1, &x, 4);
		return 5;
	}
	out[0] = T_INT64;
	memcpy(out + 1, &v, 8);
	return 9;
}

static int put_int(struct obuf *b, int64_t v)
{
	unsigned char tmp[9];

	return put(b, tmp, int_encode(v, tmp));
}

static int put_string(struct obuf *b, unsigned char type, const char *s, size_t n)
{
	int r = put_byte(b, type);

	if (r >= 0)
		r = put_int(b, (int64_t)n);
	if (r >= 0)
		r = put(b, s, n);
	return r;
}

struct encoder {
	struct obuf out;
	unsigned version;
	uint32_t caps;
};

/* A string value: bytes or UTF-8 as bser.h says. */
static int put_string_value(struct encoder *e, json_object *s, bool is_error)
{
	const char *str = json_object_get_string(s);
	size_t n = (size_t)json_object_get_string_len(s);
	bool bytes = e->version == 1 || (e->caps & BSER_CAP_DISABLE_UNICODE) ||
		     (is_error && (e->caps & BSER_CAP_DISABLE_UNICODE_FOR_ERRORS)) ||
		     bser_string_is_bytes(s) || !bser_utf8_valid(str, n);

	return put_string(&e->out, bytes ? T_BYTES : T_UTF8, str, n);
}

struct eframe {
	enum frame_kind kind;
	json_object *container;
	size_t index, n;	/* array: next element; template: next object */
	struct lh_entry *entry; /* object: next pair */
	/* template */
	const char **keys;
	size_t nkeys, key_index;
};

/* The union of the keys of the array's objects; 0 keys or a non-object: not a template. */
static int template_keys(json_object *arr, const char ***ret, size_t *ret_n)
{
	size_t n = json_object_array_length(arr), nkeys = 0, cap = 0;
	const char **keys = NULL;

	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(o, json_type_object)) {
			free(keys);
			return 0;
		}
		json_object_object_foreach(o, k, v)
		{
			size_t j;

			(void)v;
			for (j = 0; j < nkeys; j++)
				if (strcmp(keys[j], k) == 0)
					break;
			if (j < nkeys)
				continue;
			if (GROW(keys, cap, nkeys + 1) < 0) {
				free(keys);
				return -ENOMEM;
			}
			keys[nkeys++] = k;
		}
	}
	if (nkeys == 0) {
		free(keys);
		return 0;
	}
	*ret = keys;
	*ret_n = nkeys;
	return 0;
}

static int epush(struct eframe *stack, size_t *depth, struct eframe f)
{
	if (*depth >= BSER_MAX_DEPTH) {
		free(f.keys);
		return -E2BIG;
	}
	stack[(*depth)++] = f;
	return 0;
}

/* Write v; a container's header is written and a frame pushed for its elements. */
static int emit(struct encoder *e, struct eframe *stack, size_t *depth, json_object *v,
		bool is_error)
{
	int r;

	switch (json_object_get_type(v)) {
	case json_type_null:
		return put_byte(&e->out, T_NULL);
	case json_type_boolean:
		return put_byte(&e->out, json_object_get_boolean(v) ? T_TRUE : T_FALSE);
	case json_type_int: {
		int64_t i = json_object_get_int64(v);

		if (i == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
			return -ERANGE;
		return put_int(&e->out, i);
	}
	case json_type_double: {
		double x = json_object_get_double(v);
		unsigned char tmp[9] = {T_REAL};

		if (!isfinite(x))
			return -ERANGE;
		memcpy(tmp + 1, &x, 8);
		return put(&e->out, tmp, 9);
	}
	case json_type_string:
		return put_string_value(e, v, is_error);
	case json_type_array: {
		size_t n = json_object_array_length(v);

		if (bser_array_is_template(v)) {
			const char **keys;
			size_t nkeys;

			r = template_keys(v, &keys, &nkeys);
			if (r < 0)
				return r;
			if (keys) {
				r = put_byte(&e->out, T_TEMPLATE);
				if (r >= 0)
					r = put_byte(&e->out, T_ARRAY);
				if (r >= 0)
					r = put_int(&e->out, (int64_t)nkeys);
				for (size_t i = 0; r >= 0 && i < nkeys; i++)
					r = put_string(&e->out, T_BYTES, keys[i], strlen(keys[i]));
				if (r >= 0)
					r = put_int(&e->out, (int64_t)n);
				if (r < 0) {
					free(keys);
					return r;
				}
				return epush(stack, depth,
					     (struct eframe){.kind = F_TEMPLATE,
							     .container = v,
							     .n = n,
							     .keys = keys,
							     .nkeys = nkeys,
							     .key_index = 0});
			}
		}
		r = put_byte(&e->out, T_ARRAY);
		if (r >= 0)
			r = put_int(&e->out, (int64_t)n);
		if (r < 0)
			return r;
		return epush(stack, depth,
			     (struct eframe){.kind = F_ARRAY, .container = v, .n = n});
	}
	case json_type_object: {
		struct lh_table *t = json_object_get_object(v);

		r = put_byte(&e->out, T_OBJECT);
		if (r >= 0)
			r = put_int(&e->out, (int64_t)lh_table_length(t));
		if (r < 0)
			return r;
		return epush(
		    stack, depth,
		    (struct eframe){.kind = F_OBJECT, .container = v, .entry = lh_table_head(t)});
	}
	}
	return -EINVAL;
}

static int encode_value(struct encoder *e, json_object *root)
{
	struct eframe *stack = calloc(BSER_MAX_DEPTH, sizeof(*stack));
	size_t depth = 0;
	int r;

	if (!stack)
		return -ENOMEM;
	r = emit(e, stack, &depth, root, false);
	while (r >= 0 && depth > 0) {
		struct eframe *f = &stack[depth - 1];

		switch (f->kind) {
		case F_ARRAY:
			if (f->index == f->n) {
				depth--;
				continue;
			}
			r = emit(e, stack, &depth,
				 json_object_array_get_idx(f->container, f->index++), false);
			break;
		case F_OBJECT: {
			struct lh_entry *ent = f->entry;
			const char *k;
			bool is_error;

			if (!ent) {
				depth--;
				continue;
			}
			f->entry = lh_entry_next(ent);
			k = lh_entry_k(ent);
			is_error = depth == 1 && strcmp(k, "error") == 0;
			r = put_string(&e->out, T_BYTES, k, strlen(k));
			if (r >= 0)
				r = emit(e, stack, &depth, (json_object *)lh_entry_v(ent),
					 is_error);
			break;
		}
		case F_TEMPLATE: {
			json_object *o, *val;

			if (f->key_index == f->nkeys) {
				f->key_index = 0;
				f->index++;
			}
			if (f->index == f->n) {
				free(f->keys);
				depth--;
				continue;
			}
			o = json_object_array_get_idx(f->container, f->index);
			if (!json_object_object_get_ex(o, f->keys[f->key_index++], &val)) {
				r = put_byte(&e->out, T_SKIP);
				break;
			}
			r = emit(e, stack, &depth, val, false);
			break;
		}
		}
	}
	while (depth > 0) {
		if (stack[depth - 1].kind == F_TEMPLATE)
			free(stack[depth - 1].keys);
		depth--;
	}
	free(stack);
	return r;
}

int bser_encode_pdu(json_object *v, unsigned version, uint32_t capabilities, char **ret_buf,
		    size_t *ret_len)
{
	/* room for the largest header: magic, capabilities, int64 length */
	enum { RESERVE = 2 + 4 + 9 };
	struct encoder e = {.version = version, .caps = version == 2 ? capabilities : 0};
	unsigned char hdr[RESERVE] = {0};
	size_t hlen = 0;
	int64_t plen;
	int r;

	*ret_buf = NULL;
	*ret_len = 0;
	if (version != 1 && version != 2)
		return -EINVAL;
	r = put(&e.out, hdr, RESERVE); /* placeholder */
	if (r >= 0)
		r = encode_value(&e, v);
	if (r < 0) {
		free(e.out.p);
		return r;
	}
	plen = (int64_t)(e.out.len - RESERVE);
	hdr[hlen++] = 0x00;
	hdr[hlen++] = version == 1 ? 0x01 : 0x02;
	if (version == 2) {
		memcpy(hdr + hlen, &e.caps, 4);
		hlen += 4;
	}
	hlen += int_encode(plen, hdr + hlen);
	memmove(e.out.p + hlen, e.out.p + RESERVE, e.out.len - RESERVE);
	memcpy(e.out.p, hdr, hlen);
	*ret_len = e.out.len - RESERVE + hlen;
	*ret_buf = e.out.p;
	return 0;
}
