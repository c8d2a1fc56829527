/* SPDX-License-Identifier: MIT */
/* pdu: Watchman's framing: JSON lines and BSER PDUs (see pdu.h). */
#include "watchman/pdu.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watchman/bser.h"

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/*
 * More than max values in the JSON text s[0..len)? Counted before parsing,
 * from the text alone (a value starts the text, follows '[' or ','; a
 * ':' only separates a key from its value, and a key is no value): a short
 * line such as [{},{},...] must not make a large tree.
 */
static bool json_too_many_values(const char *s, size_t len, size_t max)
{
	size_t n = 1;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (in_string) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_string = false;
			continue;
		}
		if (ch == '"')
			in_string = true;
		else if ((ch == '[' || ch == ',') && ++n > max)
			return true;
	}
	return false;
}

static int decode_json(const char *buf, size_t len, size_t max, json_object **ret, size_t *ret_used,
		       char *err, size_t errlen)
{
	size_t skip = 0;
	const char *nl;
	struct json_tokener *tk;
	json_object *v;
	int line_len;

	/* blank lines between PDUs are nothing */
	for (;;) {
		nl = memchr(buf + skip, '\n', len - skip);
		if (!nl || !blank(buf + skip, (size_t)(nl - (buf + skip))))
			break;
		skip = (size_t)(nl - buf) + 1;
	}
	if (!nl) {
		if (len - skip > max)
			return -EMSGSIZE;
		*ret_used = skip;
		return 0;
	}
	if ((size_t)(nl - (buf + skip)) > max)
		return -EMSGSIZE;
	*ret_used = (size_t)(nl - buf) + 1;
	line_len = (int)(nl - (buf + skip));
	if (json_too_many_values(buf + skip, (size_t)line_len, BSER_MAX_VALUES)) {
		snprintf(err, errlen, "a request has at most %d values", BSER_MAX_VALUES);
		return -EBADMSG;
	}
	tk = json_tokener_new();
	if (!tk)
		return -ENOMEM;
	v = json_tokener_parse_ex(tk, buf + skip, line_len);
	if (json_tokener_get_error(tk) != json_tokener_success) {
		snprintf(err, errlen, "invalid JSON: %s",
			 json_tokener_error_desc(json_tokener_get_error(tk)));
		json_object_put(v);
		json_tokener_free(tk);
		return -EBADMSG;
	}
	/* one value on the line, nothing but blanks after it */
	if (!blank(buf + skip + json_tokener_get_parse_end(tk),
		   (size_t)line_len - json_tokener_get_parse_end(tk))) {
		snprintf(err, errlen, "invalid JSON: more than one value on a line");
		json_object_put(v);
		json_tokener_free(tk);
		return -EBADMSG;
	}
	json_tokener_free(tk);
	*ret = v;
	return 1;
}

int wpdu_decode(const void *buf, size_t len, size_t max, json_object **ret, size_t *ret_used,
		struct wpdu_format *ret_fmt, char *err, size_t errlen)
{
	struct bser_pdu_info info;
	char dummy[1];
	int r;

	if (!err || !errlen) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	*ret = NULL;
	*ret_used = 0;
	switch (bser_pdu_detect(buf, len)) {
	case BSER_PDU_NEED_MORE:
		/* one byte: a JSON line of one character is "x\n", two bytes */
		return 0;
	case BSER_PDU_JSON:
		ret_fmt->enc = WPDU_JSON;
		ret_fmt->caps = 0;
		return decode_json(buf, len, max, ret, ret_used, err, errlen);
	default:
		break;
	}
	r = bser_pdu_info(buf, len, max, &info, NULL);
	if (r == -EAGAIN)
		return 0;
	if (r == -EBADMSG)
		snprintf(err, errlen, "invalid BSER PDU header");
	if (r < 0)
		return r;
	if (info.total_len > max)
		return -EMSGSIZE;
	if (len < info.total_len)
		return 0;
	ret_fmt->enc = info.version == 1 ? WPDU_BSER_V1 : WPDU_BSER_V2;
	ret_fmt->caps = info.capabilities;
	r = bser_decode_pdu(buf, info.total_len, ret, err, errlen);
	if (r < 0) {
		*ret_used = info.total_len; /* the frame was sound: the next PDU follows it */
		return r == -E2BIG ? -EBADMSG : r;
	}
	*ret_used = info.total_len;
	return 1;
}

int wpdu_encode(json_object *v, const struct wpdu_format *fmt, char **ret_buf, size_t *ret_len)
{
	const char *text;
	size_t len;
	char *b;

	if (fmt->enc == WPDU_BSER_V1 || fmt->enc == WPDU_BSER_V2)
		return bser_encode_pdu(v, fmt->enc == WPDU_BSER_V1 ? 1 : 2, fmt->caps, ret_buf,
				       ret_len);
	text = json_object_to_json_string_length(
	    v,
	    JSON_C_TO_STRING_NOSLASHESCAPE |
		(fmt->enc == WPDU_JSON_PRETTY ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
					      : JSON_C_TO_STRING_PLAIN),
	    &len);
	if (!text)
		return -ENOMEM;
	b = malloc(len + 1);
	if (!b)
		return -ENOMEM;
	memcpy(b, text, len);
	b[len] = '\n';
	*ret_buf = b;
	*ret_len = len + 1;
	return 0;
}

int wpdu_parse_encoding(const char *name, struct wpdu_format *ret)
{
	ret->caps = 0;
	if (strcmp(name, "json") == 0)
		ret->enc = WPDU_JSON;
	else if (strcmp(name, "bser") == 0)
		ret->enc = WPDU_BSER_V1;
	else if (strcmp(name, "bser-v2") == 0)
		ret->enc = WPDU_BSER_V2;
	else
		return -EINVAL;
	return 0;
}
