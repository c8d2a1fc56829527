/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of src/watchman/bser.c: the byte sequences of Watchman's BSER
 * spec and of pywatchman, round trips of every type in v1 and v2, string
 * typing and capabilities, templates, framing, and hostile input
 * (truncation at every byte, flipped bytes, random bytes, nesting and
 * size bombs) which must fail cleanly, never crash or over-read (the ASan
 * build runs this too).
 *
 * With arguments it is the converter the pywatchman cross-check drives:
 *   test-bser --encode VERSION CAPS   JSON lines -> length-prefixed BSER PDUs
 *                                     (arrays of objects sent as templates)
 *   test-bser --decode                BSER PDUs back to back -> JSON lines
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "watchman/bser.h"

static size_t unhex(const char *hex, unsigned char *out)
{
	size_t n = 0;

	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;

		while (*hex == ' ')
			hex++;
		if (!hex[0] || !hex[1])
			break;
		sscanf(hex, "%2x", &v);
		out[n++] = (unsigned char)v;
	}
	return n;
}

static json_object *parse(const char *text)
{
	json_object *o = json_tokener_parse(text);

	assert_non_null(o);
	return o;
}

static void encode(json_object *v, unsigned version, uint32_t caps, char **buf, size_t *len)
{
	assert_int_equal(bser_encode_pdu(v, version, caps, buf, len), 0);
}

/* The payload of a PDU made by bser_encode_pdu. */
static const unsigned char *payload_of(const char *pdu, size_t len, size_t *plen)
{
	struct bser_pdu_info info;

	assert_int_equal(bser_pdu_info(pdu, len, 0, &info, NULL), 0);
	assert_int_equal(info.total_len, len);
	*plen = info.payload_len;
	return (const unsigned char *)pdu + info.header_len;
}

static void assert_bytes(const unsigned char *got, size_t got_len, const char *want_hex)
{
	unsigned char want[4096];
	size_t n = unhex(want_hex, want);

	if (got_len != n || memcmp(got, want, n) != 0) {
		fprintf(stderr, "want %s\ngot  ", want_hex);
		for (size_t i = 0; i < got_len; i++)
			fprintf(stderr, "%02x", got[i]);
		fprintf(stderr, "\n");
		fail();
	}
}

/* The template example of Watchman's BSER spec, byte for byte. */
static void test_spec_template(void **state)
{
	const char *hex = "0b 00 0302 02 0304 6e616d65 02 0303 616765 0303"
			  " 02 0304 66726564 0314"
			  " 02 0304 70657465 031e"
			  " 0c 0319";
	unsigned char buf[128];
	size_t n = unhex(hex, buf), used;
	json_object *v, *want;
	char err[200];

	assert_int_equal(bser_decode_value(buf, n, &v, &used, err, sizeof(err)), 0);
	assert_int_equal(used, n);
	want =
	    parse("[{\"name\":\"fred\",\"age\":20},{\"name\":\"pete\",\"age\":30},{\"age\":25}]");
	assert_true(json_object_equal(v, want));
	/* the decoded names are byte strings (0x02) */
	assert_true(
	    bser_string_is_bytes(json_object_object_get(json_object_array_get_idx(v, 0), "name")));
	json_object_put(v);
	json_object_put(want);
}

/* What python3-pywatchman's bser.dumps() wrote (int32 PDU length). */
static void test_pywatchman_bytes(void **state)
{
	const char *v1 = "0001 05 27000000 000309 07000000000000f83f 0a 08 09 03ff 042c01"
			 " 0570110100 060000000000010000 020302c3a9";
	const char *v2 = "0002 00000000 05 12000000 010301 02030161 000303 0301 0302 02030178";
	unsigned char buf[256];
	size_t n = unhex(v1, buf), plen;
	json_object *v, *want;
	char *out, err[200];
	size_t outlen;
	const unsigned char *p;

	assert_int_equal(bser_decode_pdu(buf, n, &v, err, sizeof(err)), 0);
	want = parse("[1.5,null,true,false,-1,300,70000,1099511627776,\"\\u00e9\"]");
	assert_true(json_object_equal(v, want));
	/* encoding it again gives the same payload (ours has the smallest length int) */
	encode(v, 1, 0, &out, &outlen);
	assert_bytes((unsigned char *)out, 4, "00010327");
	p = payload_of(out, outlen, &plen);
	assert_bytes(p, plen, v1 + strlen("0001 05 27000000 "));
	free(out);
	json_object_put(v);
	json_object_put(want);

	n = unhex(v2, buf);
	assert_int_equal(bser_decode_pdu(buf, n, &v, err, sizeof(err)), 0);
	want = parse("{\"a\":[1,2,\"x\"]}");
	assert_true(json_object_equal(v, want));
	/* decoded 0x02 stays 0x02 when encoded again as v2 */
	encode(v, 2, 0, &out, &outlen);
	assert_bytes((unsigned char *)out, outlen,
		     "0002 00000000 0312 010301 02030161 000303 0301 0302 02030178");
	free(out);
	/* a plain json-c string is text: 0x0d in v2 */
	encode(want, 2, 0, &out, &outlen);
	assert_bytes((unsigned char *)out, outlen,
		     "0002 00000000 0312 010301 02030161 000303 0301 0302 0d030178");
	free(out);
	json_object_put(v);
	json_object_put(want);
}

static void test_int_sizes(void **state)
{
	static const struct {
		int64_t v;
		const char *hex;
	} cases[] = {
	    {0, "0300"},
	    {127, "037f"},
	    {-128, "0380"},
	    {128, "048000"},
	    {-129, "047fff"},
	    {32767, "04ff7f"},
	    {32768, "0500800000"},
	    {INT32_MAX, "05ffffff7f"},
	    {(int64_t)INT32_MAX + 1, "060000008000000000"},
	    {INT32_MIN, "0500000080"},
	    {(int64_t)INT32_MIN - 1, "06ffffff7fffffffff"},
	    {INT64_MAX, "06ffffffffffffff7f"},
	    {INT64_MIN, "060000000000000080"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_object *o = json_object_new_int64(cases[i].v), *back;
		char *out, err[200];
		size_t outlen, plen;
		const unsigned char *p;

		encode(o, 1, 0, &out, &outlen);
		p = payload_of(out, outlen, &plen);
		assert_bytes(p, plen, cases[i].hex);
		assert_int_equal(bser_decode_pdu(out, outlen, &back, err, sizeof(err)), 0);
		assert_int_equal(json_object_get_int64(back), cases[i].v);
		json_object_put(back);
		json_object_put(o);
		free(out);
	}
}

static json_object *sample(void)
{
	json_object *o =
	    parse("{\"version\":\"4.9.0\",\"clock\":\"c:fst1:00:1\","
		  "\"is_fresh_instance\":false,\"n\":null,\"x\":-2.5e-300,"
		  "\"nested\":[[],{},[[[1]]],{\"a\":{\"b\":[true,false]}}],"
		  "\"big\":9223372036854775807,\"neg\":-9223372036854775807,"
		  "\"unicode\":\"\\u00e9\\u4e2d\\ud83d\\ude00\",\"nul\":\"a\\u0000b\"}");
	json_object *arr = json_object_new_array();
	char big[70000];

	/* strings whose lengths need int16 and int32 */
	memset(big, 'z', sizeof(big));
	json_object_object_add(o, "s300", json_object_new_string_len(big, 300));
	json_object_object_add(o, "s70000", json_object_new_string_len(big, 70000));
	/* a byte string that is not UTF-8 */
	json_object_object_add(o, "raw", bser_new_bytes("\xff\xfe\x00\x80", 4));
	for (int i = 0; i < 1000; i++)
		json_object_array_add(arr, json_object_new_int(i * 1000));
	json_object_object_add(o, "many", arr);
	return o;
}

static void test_round_trip(void **state)
{
	for (unsigned version = 1; version <= 2; version++) {
		json_object *o = sample(), *back;
		char *out, err[200];
		size_t outlen;

		encode(o, version, 0, &out, &outlen);
		assert_int_equal(bser_decode_pdu(out, outlen, &back, err, sizeof(err)), 0);
		assert_true(json_object_equal(o, back));
		/* v1 strings all come back as bytes; v2 only the non-UTF-8 one */
		assert_int_equal(bser_string_is_bytes(json_object_object_get(back, "version")),
				 version == 1);
		assert_true(bser_string_is_bytes(json_object_object_get(back, "raw")));
		json_object_put(back);
		json_object_put(o);
		free(out);
	}
	/* a scalar at the top */
	{
		json_object *back;
		char *out, err[200];
		size_t outlen;

		encode(NULL, 2, 0, &out, &outlen);
		assert_bytes((unsigned char *)out, outlen, "0002 00000000 0301 0a");
		assert_int_equal(bser_decode_pdu(out, outlen, &back, err, sizeof(err)), 0);
		assert_null(back);
		free(out);
	}
}

static void test_string_types(void **state)
{
	json_object *o = parse("{\"error\":\"bad \\u00e9\",\"ok\":\"t\"}");
	char *out;
	size_t outlen;

	/* keys are always bytes, values UTF-8 in v2 */
	encode(o, 2, 0, &out, &outlen);
	assert_bytes((unsigned char *)out, outlen,
		     "0002 00000000 031d 010302 0203056572726f72 0d030662616420c3a9"
		     " 0203026f6b 0d030174");
	free(out);
	encode(o, 2, BSER_CAP_DISABLE_UNICODE_FOR_ERRORS, &out, &outlen);
	assert_bytes((unsigned char *)out, outlen,
		     "0002 02000000 031d 010302 0203056572726f72 020306626164 20c3a9"
		     " 0203026f6b 0d030174");
	free(out);
	encode(o, 2, BSER_CAP_DISABLE_UNICODE, &out, &outlen);
	assert_bytes((unsigned char *)out, outlen,
		     "0002 01000000 031d 010302 0203056572726f72 020306626164 20c3a9"
		     " 0203026f6b 02030174");
	free(out);
	json_object_put(o);
	/* invalid UTF-8 is never sent as 0x0d */
	o = json_object_new_string_len("\xc3\x28", 2);
	encode(o, 2, 0, &out, &outlen);
	assert_bytes((unsigned char *)out, outlen, "0002 00000000 0305 020302c328");
	free(out);
	json_object_put(o);

	assert_true(bser_utf8_valid("", 0));
	assert_true(bser_utf8_valid("\xf4\x8f\xbf\xbf", 4));
	assert_false(bser_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(bser_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(bser_utf8_valid("\xc0\x80", 2));	      /* overlong */
	assert_false(bser_utf8_valid("\xe2\x82", 2));	      /* truncated */
}

static void test_template_encode(void **state)
{
	json_object *files = parse("[{\"name\":\"fred\",\"age\":20},{\"name\":\"pete\",\"age\":30},"
				   "{\"age\":25}]");
	json_object *back;
	char *out, err[200];
	size_t outlen, plen;
	const unsigned char *p;

	for (size_t i = 0; i < 2; i++)
		bser_string_set_bytes(
		    json_object_object_get(json_object_array_get_idx(files, i), "name"));
	bser_array_set_template(files);
	assert_true(bser_array_is_template(files));
	encode(files, 1, 0, &out, &outlen);
	p = payload_of(out, outlen, &plen);
	/* exactly the spec's sequence */
	assert_bytes(p, plen,
		     "0b 00 0302 02 0304 6e616d65 02 0303 616765 0303 02 0304 66726564 0314"
		     " 02 0304 70657465 031e 0c 0319");
	assert_int_equal(bser_decode_pdu(out, outlen, &back, err, sizeof(err)), 0);
	assert_true(json_object_equal(files, back));
	json_object_put(back);
	free(out);
	json_object_put(files);

	/* a tagged array that cannot be a template is a plain array */
	files = parse("[{},{}]");
	bser_array_set_template(files);
	encode(files, 1, 0, &out, &outlen);
	p = payload_of(out, outlen, &plen);
	assert_bytes(p, plen, "00 0302 010300 010300");
	free(out);
	json_object_put(files);
	files = parse("[1,{\"a\":1}]");
	bser_array_set_template(files);
	encode(files, 1, 0, &out, &outlen);
	p = payload_of(out, outlen, &plen);
	assert_bytes(p, plen, "00 0302 0301 010301 02030161 0301");
	free(out);
	json_object_put(files);
}

static void test_framing(void **state)
{
	struct bser_pdu_info info;
	size_t need_bytes = 0;
	unsigned char buf[64];
	size_t n;

	assert_int_equal(bser_pdu_detect("", 0), BSER_PDU_NEED_MORE);
	assert_int_equal(bser_pdu_detect("\x00", 1), BSER_PDU_NEED_MORE);
	assert_int_equal(bser_pdu_detect("[\"version\"]\n", 12), BSER_PDU_JSON);
	assert_int_equal(bser_pdu_detect("\x00\x01", 2), BSER_PDU_V1);
	assert_int_equal(bser_pdu_detect("\x00\x02", 2), BSER_PDU_V2);
	assert_int_equal(bser_pdu_detect("\x00\x03", 2), BSER_PDU_JSON);

	assert_int_equal(bser_pdu_info("\x00", 1, 0, &info, &need_bytes), -EAGAIN);
	assert_int_equal(need_bytes, 2);
	assert_int_equal(bser_pdu_info("{}", 2, 0, &info, NULL), -EBADMSG);
	n = unhex("0001 05 10000000", buf);
	for (size_t k = 2; k < n; k++) {
		assert_int_equal(bser_pdu_info(buf, k, 0, &info, &need_bytes), -EAGAIN);
		assert_true(need_bytes > k && need_bytes <= n);
	}
	assert_int_equal(bser_pdu_info(buf, n, 0, &info, NULL), 0);
	assert_int_equal(info.version, 1);
	assert_int_equal(info.header_len, 7);
	assert_int_equal(info.payload_len, 16);
	assert_int_equal(info.total_len, 23);
	assert_int_equal(bser_pdu_info(buf, n, 15, &info, NULL), -EMSGSIZE);
	assert_int_equal(bser_pdu_info(buf, n, 16, &info, NULL), 0);

	/* only part of the capabilities */
	assert_int_equal(bser_pdu_info("\x00\x02\x03\x00\x00", 5, 0, &info, &need_bytes), -EAGAIN);
	assert_int_equal(need_bytes, 6);
	n = unhex("0002 03000000 0307", buf);
	assert_int_equal(bser_pdu_info(buf, n, 0, &info, NULL), 0);
	assert_int_equal(info.version, 2);
	assert_int_equal(info.capabilities, 3);
	assert_int_equal(info.total_len, 8 + 7);
	/* negative and non-integer lengths */
	n = unhex("0001 03ff", buf);
	assert_int_equal(bser_pdu_info(buf, n, 0, &info, NULL), -EBADMSG);
	n = unhex("0001 0201", buf);
	assert_int_equal(bser_pdu_info(buf, n, 0, &info, NULL), -EBADMSG);
	n = unhex("0001 06ffffffffffffff7f", buf);
	assert_int_equal(bser_pdu_info(buf, n, 0, &info, NULL), 0);
	assert_true(info.payload_len == (size_t)INT64_MAX);
	assert_int_equal(bser_pdu_info(buf, n, BSER_DEFAULT_MAX_PAYLOAD, &info, NULL), -EMSGSIZE);
}

/* Every proper prefix of a valid PDU is refused; the whole one decodes. */
static void test_truncation(void **state)
{
	json_object *o = sample(), *back;
	char *out, err[200];
	size_t outlen;

	for (unsigned version = 1; version <= 2; version++) {
		encode(o, version, 0, &out, &outlen);
		/* sample() is big (70 kB): check every prefix up to 4 kB, then a stride */
		for (size_t k = 0; k < outlen; k += k < 4096 ? 1 : 997) {
			assert_int_equal(bser_decode_pdu(out, k, &back, err, sizeof(err)),
					 -EBADMSG);
			assert_null(back);
			assert_true(strlen(err) > 0);
		}
		/* a payload cut short inside the value, with a header that claims less */
		{
			struct bser_pdu_info info;
			size_t used;

			assert_int_equal(bser_pdu_info(out, outlen, 0, &info, NULL), 0);
			for (size_t k = 0; k < info.payload_len; k += k < 4096 ? 1 : 997)
				assert_int_equal(bser_decode_value(out + info.header_len, k, &back,
								   &used, err, sizeof(err)),
						 -EBADMSG);
		}
		assert_int_equal(bser_decode_pdu(out, outlen, &back, err, sizeof(err)), 0);
		json_object_put(back);
		free(out);
	}
	json_object_put(o);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Flipped bytes and random bytes: any result, but a clean one. */
static void test_garbled(void **state)
{
	json_object *o = parse("{\"files\":[{\"name\":\"a\",\"size\":1},{\"name\":\"b\"}],"
			       "\"clock\":\"c:1\",\"x\":[1.5,null,true,[[],{}],-70000]}");
	json_object *files = json_object_object_get(o, "files"), *back;
	char *out, err[200];
	size_t outlen;
	unsigned ok = 0, bad = 0;

	bser_array_set_template(files);
	encode(o, 2, 0, &out, &outlen);
	for (int round = 0; round < 20000; round++) {
		char *copy = malloc(outlen);
		int flips = 1 + (int)(next_rand() % 3), r;

		memcpy(copy, out, outlen);
		for (int f = 0; f < flips; f++)
			copy[next_rand() % outlen] = (char)next_rand();
		r = bser_decode_pdu(copy, outlen, &back, err, sizeof(err));
		if (r == 0) {
			ok++;
			json_object_put(back);
		} else {
			assert_true(r == -EBADMSG || r == -E2BIG);
			assert_null(back);
			bad++;
		}
		free(copy);
	}
	assert_true(ok > 0 && bad > 0);
	free(out);
	json_object_put(o);

	for (int round = 0; round < 20000; round++) {
		unsigned char buf[64];
		size_t n = 1 + next_rand() % sizeof(buf), used;

		for (size_t i = 0; i < n; i++)
			buf[i] = (unsigned char)(next_rand() % 16); /* mostly valid type bytes */
		if (bser_decode_value(buf, n, &back, &used, err, sizeof(err)) == 0) {
			assert_true(used <= n);
			json_object_put(back);
		}
	}
}

static void expect_bad(const char *hex, int want, const char *msg_part)
{
	unsigned char buf[512];
	size_t n = unhex(hex, buf), used;
	json_object *v = (json_object *)1;
	char err[200] = "";

	assert_int_equal(bser_decode_value(buf, n, &v, &used, err, sizeof(err)), want);
	assert_null(v);
	if (!strstr(err, msg_part)) {
		fprintf(stderr, "error '%s' lacks '%s'\n", err, msg_part);
		fail();
	}
}

static void test_hostile(void **state)
{
	expect_bad("00 06ffffffffffffff7f", -EBADMSG, "more than the");	   /* huge array */
	expect_bad("00 03ff", -EBADMSG, "negative size");		   /* negative */
	expect_bad("01 0502000000 0203016103", -EBADMSG, "more than the"); /* object */
	expect_bad("02 0305 6162", -EBADMSG, "more than the");		   /* short string */
	expect_bad("02 0203 61", -EBADMSG, "expected an integer");	   /* bad length */
	expect_bad("0b 00 0300 0300", -EBADMSG, "no keys");		   /* empty template */
	expect_bad("0b 00 0301 0203016b 06ffffffffffffff7f", -EBADMSG, "more than the");
	expect_bad("0b 0a", -EBADMSG, "not an array");		       /* keys not array */
	expect_bad("0b 00 0301 0301 0301 0a", -EBADMSG, "string key"); /* key not string */
	expect_bad("0c", -EBADMSG, "skip marker");		       /* skip outside */
	expect_bad("0e", -EBADMSG, "invalid bser encoding type 0x0e"); /* unknown type */
	expect_bad("07 000000000000f87f", -EBADMSG, "not finite");     /* NaN */
	expect_bad("07 000000000000f07f", -EBADMSG, "not finite");     /* +inf */
	expect_bad("01 0301 020303 610062 0a", -EBADMSG, "NUL");       /* key with NUL */
	expect_bad("01 0301 0301 0a0a0a", -EBADMSG, "string key");     /* key not string */
	expect_bad("", -EBADMSG, "truncated");
	expect_bad("07 0000", -EBADMSG, "truncated");

	/* nesting bombs: 100000 nested one-element arrays, then objects */
	{
		size_t n = 100000 * 3 + 1, used;
		unsigned char *buf = malloc(n);
		json_object *v;
		char err[200];

		for (size_t i = 0; i < n - 1; i += 3) {
			buf[i] = 0x00;
			buf[i + 1] = 0x03;
			buf[i + 2] = 0x01;
		}
		buf[n - 1] = 0x0a;
		assert_int_equal(bser_decode_value(buf, n, &v, &used, err, sizeof(err)), -E2BIG);
		assert_null(v);
		/* just below the cap is fine */
		n = (BSER_MAX_DEPTH - 1) * 3;
		buf[n] = 0x0a;
		assert_int_equal(bser_decode_value(buf, n + 1, &v, &used, err, sizeof(err)), 0);
		assert_int_equal(used, n + 1);
		json_object_put(v);
		/* templates nested in templates count too */
		n = 0;
		for (int i = 0; i < BSER_MAX_DEPTH + 5; i++) {
			static const unsigned char t[] = {0x0b, 0x00, 0x03, 0x01, 0x02,
							  0x03, 0x01, 'k',  0x03, 0x01};
			memcpy(buf + n, t, sizeof(t));
			n += sizeof(t);
		}
		buf[n++] = 0x0a;
		assert_int_equal(bser_decode_value(buf, n, &v, &used, err, sizeof(err)), -E2BIG);
		free(buf);
	}
	/* an all-skip template: one byte, one object; past BSER_MAX_VALUES it is refused */
	{
		size_t rows = BSER_MAX_VALUES + 1000, n = 0, used;
		unsigned char *buf = malloc(rows + 16);
		json_object *v;
		char err[200];
		static const unsigned char head[] = {0x0b, 0x00, 0x03, 0x01, 0x02, 0x03, 0x01, 'k'};

		memcpy(buf, head, sizeof(head));
		n = sizeof(head);
		buf[n++] = 0x05;
		for (int b = 0; b < 4; b++)
			buf[n++] = (unsigned char)(rows >> (8 * b));
		memset(buf + n, 0x0c, rows);
		assert_int_equal(bser_decode_value(buf, n + rows, &v, &used, err, sizeof(err)),
				 -E2BIG);
		assert_non_null(strstr(err, "values"));
		/* below the cap: every row an empty object */
		rows = BSER_MAX_VALUES - 10;
		n = sizeof(head) + 1;
		for (int b = 0; b < 4; b++)
			buf[n++] = (unsigned char)(rows >> (8 * b));
		assert_int_equal(bser_decode_value(buf, n + rows, &v, &used, err, sizeof(err)), 0);
		assert_int_equal(json_object_array_length(v), rows);
		json_object_put(v);
		free(buf);
	}
	/* a decompression bomb: a one-key template claiming many objects, few bytes */
	expect_bad("0b 00 0301 0203016b 0500000100 0c0c0c", -EBADMSG, "more than the");

	/* trailing bytes inside a PDU are refused */
	{
		unsigned char buf[16];
		size_t n = unhex("0001 0302 0a0a", buf);
		json_object *v;
		char err[200];

		assert_int_equal(bser_decode_pdu(buf, n, &v, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "after the value"));
		n = unhex("0001 0301 0a0a", buf);
		assert_int_equal(bser_decode_pdu(buf, n, &v, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "says"));
	}
}

static void test_encode_errors(void **state)
{
	json_object *o;
	char *out;
	size_t outlen;

	o = json_object_new_uint64(UINT64_MAX);
	assert_int_equal(bser_encode_pdu(o, 1, 0, &out, &outlen), -ERANGE);
	assert_null(out);
	json_object_put(o);
	o = json_object_new_double(NAN);
	assert_int_equal(bser_encode_pdu(o, 2, 0, &out, &outlen), -ERANGE);
	json_object_put(o);
	o = json_object_new_int(1);
	assert_int_equal(bser_encode_pdu(o, 3, 0, &out, &outlen), -EINVAL);
	json_object_put(o);
	/* nesting past the cap */
	o = json_object_new_array();
	{
		json_object *cur = o;

		for (int i = 0; i < BSER_MAX_DEPTH + 10; i++) {
			json_object *a = json_object_new_array();

			json_object_array_add(cur, a);
			cur = a;
		}
	}
	assert_int_equal(bser_encode_pdu(o, 1, 0, &out, &outlen), -E2BIG);
	assert_null(out);
	json_object_put(o);
}

/* ---- converter mode for tests/unit/test-bser-pywatchman.py ---- */

static char *slurp(size_t *ret_len)
{
	size_t cap = 1 << 16, len = 0, n;
	char *buf = malloc(cap);

	while (buf && (n = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += n;
		if (len == cap - 1) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = '\0';
	*ret_len = len;
	return buf;
}

static void tag_templates(json_object *v)
{
	if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		bool all_objects = n > 0;

		for (size_t i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(v, i);

			tag_templates(e);
			if (!json_object_is_type(e, json_type_object))
				all_objects = false;
		}
		if (all_objects)
			bser_array_set_template(v);
	} else if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, k, e)
		{
			(void)k;
			tag_templates(e);
		}
	}
}

/*
 * --encode: one JSON value per input line; for each, its PDU's length as 8
 * bytes (little endian) and the PDU. --decode: PDUs back to back, framed
 * with bser_pdu_info; one JSON line out for each.
 */
static int convert(int argc, char **argv)
{
	size_t len, pos = 0;
	char *in = slurp(&len), err[256];
	json_object *v;
	int r;

	if (!in)
		return 2;
	if (strcmp(argv[1], "--encode") == 0 && argc == 4) {
		for (char *line = in, *nl; *line; line = nl + 1) {
			struct json_tokener *tok = json_tokener_new();
			char *out;
			size_t outlen;
			uint64_t n;

			nl = strchr(line, '\n');
			if (!nl)
				break;
			*nl = '\0';
			/* with its NUL, so that a number at the top level ends */
			v = json_tokener_parse_ex(tok, line, (int)(nl - line) + 1);
			if (json_tokener_get_error(tok) != json_tokener_success) {
				fprintf(stderr, "bad JSON\n");
				return 2;
			}
			json_tokener_free(tok);
			tag_templates(v);
			r = bser_encode_pdu(v, (unsigned)atoi(argv[2]),
					    (uint32_t)strtoul(argv[3], NULL, 0), &out, &outlen);
			json_object_put(v);
			if (r < 0) {
				fprintf(stderr, "encode: %s\n", strerror(-r));
				return 1;
			}
			n = outlen;
			fwrite(&n, 8, 1, stdout);
			fwrite(out, 1, outlen, stdout);
			free(out);
		}
	} else if (strcmp(argv[1], "--decode") == 0 && argc == 2) {
		while (pos < len) {
			struct bser_pdu_info info;

			r = bser_pdu_info(in + pos, len - pos, BSER_DEFAULT_MAX_PAYLOAD, &info,
					  NULL);
			if (r < 0 || info.total_len > len - pos) {
				fprintf(stderr, "framing failed at %zu\n", pos);
				return 1;
			}
			r = bser_decode_pdu(in + pos, info.total_len, &v, err, sizeof(err));
			if (r < 0) {
				fprintf(stderr, "decode: %s\n", err);
				return 1;
			}
			puts(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
			json_object_put(v);
			pos += info.total_len;
		}
	} else {
		fprintf(stderr, "usage: test-bser [--encode VERSION CAPS | --decode]\n");
		return 2;
	}
	free(in);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_template), cmocka_unit_test(test_pywatchman_bytes),
	    cmocka_unit_test(test_int_sizes),	  cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_string_types),  cmocka_unit_test(test_template_encode),
	    cmocka_unit_test(test_framing),	  cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_garbled),	  cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_encode_errors),
	};

	if (argc > 1)
		return convert(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
