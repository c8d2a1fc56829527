/* SPDX-License-Identifier: MIT */
/*
 * wildmatch: the pattern is compiled into a small automaton (one-byte
 * matchers, loops for stars, a fork for "**" "/"), and the text is run
 * through it keeping the set of live states as a bitset: no backtracking.
 */
#include "watchman/wildmatch.h"
#include "basic/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum op {
	OP_CHAR,  /* one byte equal to c */
	OP_ANY,	  /* one byte */
	OP_CLASS, /* one byte in class cls */
	OP_STAR,  /* zero or more bytes (with '/' if slash) */
	OP_FORK,  /* no byte: go on at the next state and at alt */
	OP_FAIL,  /* nothing */
};

struct insn {
	uint8_t op;
	uint8_t c;
	bool slash;   /* OP_STAR: may cross '/' */
	uint32_t alt; /* OP_FORK */
	uint32_t cls; /* OP_CLASS: index into classes */
};

struct wm_pattern {
	unsigned flags;
	bool never;
	size_t n; /* states 0..n, n accepts */
	struct insn *insn;
	uint64_t (*classes)[4];
	size_t nclasses;
};

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static unsigned char upper(unsigned char c)
{
	return c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
}

static void set_bit(uint64_t *set, unsigned c)
{
	set[c >> 6] |= 1ull << (c & 63);
}

static bool has_bit(const uint64_t *set, unsigned c)
{
	return set[c >> 6] >> (c & 63) & 1;
}

/* The POSIX classes in the C locale. */
static bool in_named_class(const char *name, size_t len, unsigned c, bool *known)
{
	bool digit = c >= '0' && c <= '9', up = c >= 'A' && c <= 'Z', lo = c >= 'a' && c <= 'z';
	bool alpha = up || lo, alnum = alpha || digit, graph = c >= 0x21 && c <= 0x7e;
	static const char *const names[] = {"alnum", "alpha", "blank", "cntrl", "digit", "graph",
					    "lower", "print", "punct", "space", "upper", "xdigit"};
	int which = -1;

	for (int i = 0; i < 12; i++)
		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			which = i;
	*known = which >= 0;
	switch (which) {
	case 0:
		return alnum;
	case 1:
		return alpha;
	case 2:
		return c == ' ' || c == '\t';
	case 3:
		return c < 0x20 || c == 0x7f;
	case 4:
		return digit;
	case 5:
		return graph;
	case 6:
		return lo;
	case 7:
		return c >= 0x20 && c <= 0x7e;
	case 8:
		return graph && !alnum;
	case 9:
		return c == ' ' || (c >= '\t' && c <= '\r');
	case 10:
		return up;
	case 11:
		return digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
	default:
		return false;
	}
}

/*
 * Parse the bracket expression starting at pat[*pos] == '[' into set.
 * Returns 0 with *pos after its ']', or -EINVAL when it is malformed.
 * Backslash escapes inside brackets whatever WM_NOESCAPE says (as in
 * Watchman); ']' right after '[' or "[!" is a member; a '-' between two
 * members makes a range unless it is first or last; "[:" without a
 * closing ":]" is a literal '['.
 */
static int parse_class(const unsigned char *pat, size_t len, size_t *pos, uint64_t set[4],
		       bool *negated)
{
	size_t j = *pos + 1;
	unsigned prev = 0; /* the last single member, 0 after a range or class */
	bool first = true;

	*negated = false;
	if (j < len && (pat[j] == '!' || pat[j] == '^')) {
		*negated = true;
		j++;
	}
	for (;;) {
		unsigned c;

		if (j >= len)
			return -EINVAL;
		c = pat[j];
		if (c == ']' && !first)
			break;
		first = false;
		if (c == '\\') {
			if (++j >= len)
				return -EINVAL;
			c = pat[j++];
			set_bit(set, c);
			prev = c;
		} else if (c == '-' && prev && j + 1 < len && pat[j + 1] != ']') {
			unsigned hi = pat[++j];

			if (hi == '\\') {
				if (++j >= len)
					return -EINVAL;
				hi = pat[j];
			}
			j++;
			for (unsigned x = prev; x <= hi; x++)
				set_bit(set, x);
			prev = 0;
		} else if (c == '[' && j + 1 < len && pat[j + 1] == ':') {
			size_t s = j + 2, k = s;
			bool known;

			while (k < len && pat[k] != ']')
				k++;
			if (k >= len)
				return -EINVAL;
			if (k == s || pat[k - 1] != ':') {
				/* no ":]": a literal '[', then go on with the ':' */
				set_bit(set, '[');
				prev = '[';
				j++;
				continue;
			}
			for (unsigned x = 0; x < 256; x++)
				if (in_named_class((const char *)pat + s, k - 1 - s, x, &known))
					set_bit(set, x);
			in_named_class((const char *)pat + s, k - 1 - s, 0, &known);
			if (!known)
				return -EINVAL;
			prev = 0;
			j = k + 1;
		} else {
			set_bit(set, c);
			prev = c;
			j++;
		}
	}
	*pos = j + 1;
	return 0;
}

struct builder {
	struct wm_pattern *p;
	size_t cap;
	size_t ccap;
};

static int emit(struct builder *b, struct insn in)
{
	struct wm_pattern *p = b->p;
	int r = GROW(p->insn, b->cap, p->n + 1);

	if (r < 0)
		return r;
	p->insn[p->n++] = in;
	return 0;
}

static int add_class(struct builder *b, const uint64_t set[4], uint32_t *ret)
{
	struct wm_pattern *p = b->p;
	int r = GROW(p->classes, b->ccap, p->nclasses + 1);

	if (r < 0)
		return r;
	memcpy(p->classes[p->nclasses], set, sizeof(uint64_t[4]));
	*ret = (uint32_t)p->nclasses++;
	return 0;
}

static int compile(struct builder *b, const unsigned char *pat, size_t len)
{
	unsigned flags = b->p->flags;
	bool pathname = flags & WM_PATHNAME;
	size_t i = 0;
	int r = 0;

	while (i < len && r >= 0) {
		unsigned char c = pat[i];

		if (c == '\\' && !(flags & WM_NOESCAPE)) {
			if (i + 1 >= len) {
				b->p->never = true; /* a lone trailing backslash */
				return emit(b, (struct insn){.op = OP_FAIL});
			}
			c = pat[i + 1];
			i += 2;
			r = emit(b, (struct insn){.op = OP_CHAR,
						  .c = flags & WM_CASEFOLD ? lower(c) : c});
		} else if (c == '?') {
			i++;
			r = emit(b, (struct insn){.op = OP_ANY});
		} else if (c == '[') {
			uint64_t set[4] = {0};
			bool negated;
			uint32_t cls;

			if (parse_class(pat, len, &i, set, &negated) < 0) {
				b->p->never = true;
				return emit(b, (struct insn){.op = OP_FAIL});
			}
			if (flags & WM_CASEFOLD)
				for (unsigned x = 'a'; x <= 'z'; x++)
					if (has_bit(set, x) ||
					    has_bit(set, upper((unsigned char)x))) {
						set_bit(set, x);
						set_bit(set, upper((unsigned char)x));
					}
			if (negated)
				for (int w = 0; w < 4; w++)
					set[w] = ~set[w];
			r = add_class(b, set, &cls);
			if (r >= 0)
				r = emit(b, (struct insn){.op = OP_CLASS, .cls = cls});
		} else if (c == '*') {
			size_t start = i, end = i;

			while (end < len && pat[end] == '*')
				end++;
			i = end;
			if (!pathname) {
				r = emit(b, (struct insn){.op = OP_STAR, .slash = true});
			} else if (end - start >= 2 && (start == 0 || pat[start - 1] == '/') &&
				   (end == len || pat[end] == '/' ||
				    (pat[end] == '\\' && end + 1 < len && pat[end + 1] == '/' &&
				     !(flags & WM_NOESCAPE)))) {
				if (end < len && pat[end] == '/') {
					/* "**" "/": no directory, or anything up to a '/' */
					uint32_t fork = (uint32_t)b->p->n;

					r = emit(b, (struct insn){.op = OP_FORK, .alt = fork + 3});
					if (r >= 0)
						r = emit(
						    b, (struct insn){.op = OP_STAR, .slash = true});
					if (r >= 0)
						r = emit(b, (struct insn){.op = OP_CHAR, .c = '/'});
					i = end + 1;
					while ((flags & WM_MULTISLASH) && i < len && pat[i] == '/')
						i++;
				} else {
					r = emit(b, (struct insn){.op = OP_STAR, .slash = true});
				}
			} else {
				r = emit(b, (struct insn){.op = OP_STAR, .slash = false});
			}
		} else {
			i++;
			if (c == '/')
				while ((flags & WM_MULTISLASH) && i < len && pat[i] == '/')
					i++;
			r = emit(b, (struct insn){.op = OP_CHAR,
						  .c = flags & WM_CASEFOLD ? lower(c) : c});
		}
	}
	return r;
}

int wm_compile(const char *pattern, size_t len, unsigned flags, struct wm_pattern **ret)
{
	struct builder b = {0};
	int r;

	*ret = NULL;
	b.p = calloc(1, sizeof(*b.p));
	if (!b.p)
		return -ENOMEM;
	b.p->flags = flags;
	r = compile(&b, (const unsigned char *)pattern, len);
	if (r < 0) {
		wm_free(b.p);
		return r;
	}
	*ret = b.p;
	return 0;
}

struct wm_pattern *wm_free(struct wm_pattern *p)
{
	if (p) {
		free(p->insn);
		free(p->classes);
		free(p);
	}
	return NULL;
}

bool wm_never(const struct wm_pattern *p)
{
	return p->never;
}

/* Add the states reachable without consuming a byte (all edges go forward). */
static void closure(const struct wm_pattern *p, uint64_t *set)
{
	for (size_t i = 0; i < p->n; i++) {
		if (!(set[i >> 6] >> (i & 63) & 1))
			continue;
		if (p->insn[i].op == OP_STAR) {
			set_bit(set, (unsigned)(i + 1));
		} else if (p->insn[i].op == OP_FORK) {
			set_bit(set, (unsigned)(i + 1));
			set_bit(set, p->insn[i].alt);
		}
	}
}

static bool step_ok(const struct wm_pattern *p, const struct insn *in, unsigned char t, bool lead)
{
	bool pathname = p->flags & WM_PATHNAME;

	if (lead && in->op != OP_CHAR)
		return false; /* WM_PERIOD: only a literal '.' takes a leading dot */
	switch (in->op) {
	case OP_CHAR:
		return (p->flags & WM_CASEFOLD ? lower(t) : t) == in->c;
	case OP_ANY:
		return !(pathname && t == '/');
	case OP_CLASS:
		return !(pathname && t == '/') && has_bit(p->classes[in->cls], t);
	case OP_STAR:
		return in->slash || t != '/';
	default:
		return false;
	}
}

int wm_match(const struct wm_pattern *p, const char *text, size_t len)
{
	size_t words = (p->n + 1 + 63) / 64;
	uint64_t small[2][8], *cur, *next, *heap = NULL;
	bool matched;

	if (p->never)
		return 0;
	if (words <= 8) {
		cur = small[0];
		next = small[1];
	} else {
		heap = calloc(2 * words, sizeof(uint64_t));
		if (!heap)
			return -ENOMEM;
		cur = heap;
		next = heap + words;
	}
	memset(cur, 0, words * sizeof(uint64_t));
	cur[0] = 1;
	closure(p, cur);
	for (size_t k = 0; k < len; k++) {
		unsigned char t = (unsigned char)text[k];
		bool lead = (p->flags & WM_PERIOD) && t == '.' &&
			    (k == 0 || ((p->flags & WM_PATHNAME) && text[k - 1] == '/'));
		bool any = false;

		memset(next, 0, words * sizeof(uint64_t));
		for (size_t w = 0; w < words; w++) {
			uint64_t bits = cur[w];

			while (bits) {
				size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
				const struct insn *in;

				bits &= bits - 1;
				if (i >= p->n)
					continue; /* the accepting state consumes nothing */
				in = &p->insn[i];
				if (!step_ok(p, in, t, lead))
					continue;
				set_bit(next, (unsigned)(in->op == OP_STAR ? i : i + 1));
				any = true;
			}
		}
		if (!any) {
			cur = next; /* empty */
			break;
		}
		closure(p, next);
		{
			uint64_t *tmp = cur;

			cur = next;
			next = tmp;
		}
	}
	matched = cur[p->n >> 6] >> (p->n & 63) & 1;
	free(heap);
	return matched ? 1 : 0;
}

int wildmatch(const char *pattern, const char *text, unsigned flags)
{
	struct wm_pattern *p;
	int r = wm_compile(pattern, strlen(pattern), flags, &p);

	if (r < 0)
		return r;
	r = wm_match(p, text, strlen(text));
	wm_free(p);
	if (r < 0)
		return r;
	return r ? WM_MATCH : WM_NOMATCH;
}
