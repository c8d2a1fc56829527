/* SPDX-License-Identifier: MIT */
/* util: dying with a message, allocation, byte strings, escaping, parsing. */
#include "tool.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const prog = "fst-test-tool";

static void vreport(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(fmt, ap);
	va_end(ap);
	fprintf(stderr, " (run '%s help')\n", prog);
	exit(EXIT_USAGE);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory");
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

void *xgrow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap;

	if (need <= c)
		return p;
	if (!c)
		c = 16;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			die("out of memory");
		c *= 2;
	}
	if (c > SIZE_MAX / size)
		die("out of memory");
	*cap = c;
	return xrealloc(p, c * size);
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		die("out of memory");
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		die("out of memory");
	return s;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void sort_strings(char **v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_strp);
}

char **dir_names(DIR *d, const char *shown, size_t *ret_n)
{
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	errno = 0;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			names = xgrow(names, &cap, n + 1, sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
		errno = 0;
	}
	if (errno)
		die("cannot read directory %s: %s", shown, strerror(errno));
	sort_strings(names, n);
	*ret_n = n;
	return names;
}

void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void sb_grow(struct sbuf *sb, size_t more)
{
	sb->s = xgrow(sb->s, &sb->cap, sb->len + more + 1, 1);
}

void sb_add(struct sbuf *sb, const void *p, size_t n)
{
	sb_grow(sb, n);
	memcpy(sb->s + sb->len, p, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
}

void sb_adds(struct sbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

void sb_reset(struct sbuf *sb)
{
	sb_grow(sb, 0);
	sb->len = 0;
	sb->s[0] = '\0';
}

void sb_add_item(struct sbuf *sb, const char *sep, const char *item)
{
	if (sb->len)
		sb_adds(sb, sep);
	sb_adds(sb, item);
}

void sb_add_escaped(struct sbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '%' || c == '#') {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			sb_add(sb, e, 3);
		} else {
			sb_add(sb, &s[i], 1);
		}
	}
}

char *escape(const char *s)
{
	struct sbuf sb = {0};

	sb_reset(&sb);
	sb_add_escaped(&sb, s, strlen(s));
	return sb.s;
}

void sb_add_unescaped(struct sbuf *sb, const char *s)
{
	for (const char *q = s; *q; q++) {
		if (*q == '%' && q[1] && q[2]) {
			char hx[3] = {q[1], q[2], 0};
			char byte = (char)strtol(hx, NULL, 16);
			sb_add(sb, &byte, 1);
			q += 2;
		} else {
			sb_add(sb, q, 1);
		}
	}
}

bool parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

bool parse_i64(const char *s, int64_t *ret)
{
	char *end;

	if (!*s)
		return false;
	errno = 0;
	*ret = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}
