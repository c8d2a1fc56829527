/* SPDX-License-Identifier: MIT */
/*
 * fst-fuzz: a bounded, deterministic protocol fuzzer for fstrackd.
 *
 *   fst-fuzz SOCK --dir DIR --token TOKEN [--seed N] [--count K]
 *
 * Sends K requests (default 10000) made from the valid requests of
 * docs/protocol.md and then damaged: bit flips, truncations, inserted and
 * deleted bytes, huge and non-integer numbers, deep nesting, wrong types,
 * random ops, paths with "..", "//", NUL, long strings and bytes that are
 * not UTF-8, lines split at random offsets across writes, many lines in one
 * write, a last line without its newline, connections closed early without
 * reading. Paths are built under DIR (which should hold the directories a,
 * b, c, a/x, the file f and the symlink "link" to a): ".." never climbs
 * above DIR by construction, so a root caller cannot be made to watch
 * anything outside it (nor "/"). TOKEN (a valid token) is used and damaged in
 * "since".
 *
 * Every line the daemon sends back must be a JSON object with "v":1 and a
 * boolean "ok" or a string "event"; a malformed answer, or a daemon that
 * no longer answers "hello" at the end, is a failure (exit 1). The summary
 * goes to stdout: requests, lines, answers, errors by errno, connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attack-common.h"

#define LINE_MAX_FUZZ (80 * 1024)
#define ERRNO_MAX 256

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static unsigned below(unsigned n)
{
	return n ? (unsigned)(rnd() % n) : 0;
}

static bool chance(unsigned percent)
{
	return below(100) < percent;
}

/* ---- a growing byte buffer ------------------------------------------------ */

struct buf {
	char *s;
	size_t len, cap;
};

static void reserve(struct buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	b->cap = (b->len + more + 1) * 2;
	b->s = realloc(b->s, b->cap);
	if (!b->s)
		die("out of memory");
}

static void add_bytes(struct buf *b, const void *p, size_t n)
{
	reserve(b, n);
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void adds(struct buf *b, const char *s)
{
	add_bytes(b, s, strlen(s));
}

static void addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	add_bytes(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* ---- values ------------------------------------------------------------------- */

static const char *dir_arg, *token_arg;

/* A JSON string of the bytes s[0..n), escaped as JSON wants, or not (raw bytes). */
static void add_string(struct buf *b, const char *s, size_t n)
{
	adds(b, "\"");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			addf(b, "\\%c", ch);
		else if (ch < 0x20)
			addf(b, "\\u%04x", ch);
		else
			add_bytes(b, &ch, 1);
	}
	adds(b, "\"");
}

static const char *const components[] = {"a",	     "b", "c",	"x", "f",   "link",	"dangling",
					 "nonexist", ".", "..", "",  "a/x", "\xff\xfe", "sub dir"};

/*
 * A path under DIR. ".." is used only while the walk is inside a real
 * directory below DIR (depth > 0): it never resolves above DIR.
 */
static void gen_path(struct buf *b)
{
	struct buf p = {0};
	unsigned n = below(6), depth = 0;
	bool real = true;

	switch (below(20)) {
	case 0:
		add_string(b, "", 0);
		return;
	case 1:
		add_string(b, "relative/path", 13);
		return;
	case 2: { /* very long */
		size_t len = chance(50) ? 5000 : 70000;
		reserve(&p, len + strlen(dir_arg) + 1);
		adds(&p, dir_arg);
		adds(&p, "/");
		while (p.len < len)
			adds(&p, chance(90) ? "aaaaaaaaaaaaaaa/" : "../");
		break;
	}
	case 3: /* a NUL inside */
		adds(&p, dir_arg);
		add_bytes(&p, "\0/a", 3);
		break;
	case 4: /* doubled and trailing slashes, "." (never "/" itself: that is a
		 * watch of the whole root filesystem, and a scan of it) */
		adds(&p, "/");
		adds(&p, dir_arg);
		adds(&p, "//.//a//");
		break;
	case 5:
		adds(&p, dir_arg);
		adds(&p, "\\ud800");
		add_string(b, p.s, p.len);
		free(p.s);
		return;
	default:
		adds(&p, dir_arg);
		for (unsigned i = 0; i < n; i++) {
			const char *c = components[below(sizeof(components) / sizeof(*components))];
			if (!strcmp(c, "..")) {
				if (real && depth == 0)
					c = "a"; /* never above DIR */
				else if (real)
					depth--;
			} else if (!strcmp(c, "a") || !strcmp(c, "b") || !strcmp(c, "c") ||
				   !strcmp(c, "link")) {
				if (real)
					depth++;
			} else if (!strcmp(c, "a/x")) {
				if (real)
					depth += 2;
			} else if (strcmp(c, ".") && strcmp(c, "")) {
				real = false; /* no such directory: nothing below resolves */
			}
			adds(&p, "/");
			adds(&p, c);
		}
		if (chance(10))
			adds(&p, "/");
	}
	add_string(b, p.s, p.len);
	free(p.s);
}

static void gen_number(struct buf *b)
{
	static const char *const nums[] = {"1",
					   "0",
					   "-1",
					   "2",
					   "1.9",
					   "1.0",
					   "1e308",
					   "-1e308",
					   "9223372036854775807",
					   "9223372036854775808",
					   "-9223372036854775808",
					   "18446744073709551616",
					   "1e-400",
					   "NaN",
					   "Infinity",
					   "-Infinity",
					   "0x10",
					   "01",
					   "4294967297",
					   "60000"};
	adds(b, nums[below(sizeof(nums) / sizeof(*nums))]);
}

static void gen_nested(struct buf *b)
{
	unsigned depth = chance(50) ? below(40) : below(20000);
	bool arr = chance(50);

	for (unsigned i = 0; i < depth; i++)
		adds(b, arr ? "[" : "{\"k\":");
	gen_number(b);
	for (unsigned i = 0; i < depth; i++)
		adds(b, arr ? "]" : "}");
}

static void gen_other(struct buf *b)
{
	switch (below(8)) {
	case 0:
		adds(b, "null");
		break;
	case 1:
		adds(b, chance(50) ? "true" : "false");
		break;
	case 2:
		adds(b, "[]");
		break;
	case 3:
		adds(b, "{}");
		break;
	case 4:
		gen_nested(b);
		break;
	case 5:
		add_string(b, "1", 1);
		break;
	default:
		gen_number(b);
	}
}

static void gen_token(struct buf *b)
{
	char t[256];

	switch (below(10)) {
	case 0:
		add_string(b, "", 0);
		return;
	case 1: /* another journal */
		add_string(b, "fst1:00000000000000000000000000000000:1", 39);
		return;
	case 2: { /* a sequence number from far away */
		const char *colon = strrchr(token_arg, ':');
		int n = snprintf(t, sizeof(t), "%.*s:%s", colon ? (int)(colon - token_arg) : 0,
				 token_arg,
				 chance(50) ? "99999999999999999999999" : "18446744073709551615");
		add_string(b, t, (size_t)n);
		return;
	}
	case 3: {
		const char *colon = strrchr(token_arg, ':');
		int n = snprintf(t, sizeof(t), "%.*s:-1", colon ? (int)(colon - token_arg) : 0,
				 token_arg);
		add_string(b, t, (size_t)n);
		return;
	}
	case 4:
		add_string(b, "fst1:zz:1", 9);
		return;
	case 5:
		gen_other(b);
		return;
	default:
		add_string(b, token_arg, strlen(token_arg));
	}
}

static const char *const ops[] = {"hello",  "watch",  "unwatch", "token", "changes",
				  "status", "stream", "changes", "token", "nope"};

/* One request line, not yet damaged, without its newline. */
static void gen_request(struct buf *b)
{
	const char *op = ops[below(sizeof(ops) / sizeof(*ops))];
	unsigned fields = 0;

	if (chance(3)) { /* not an object */
		gen_other(b);
		return;
	}
	adds(b, "{");
#define SEP() adds(b, fields++ ? "," : "")
	if (!chance(3)) {
		SEP();
		adds(b, "\"v\":");
		if (chance(97))
			adds(b, "1");
		else
			gen_other(b);
	}
	if (!chance(3)) {
		SEP();
		adds(b, "\"op\":");
		if (chance(90))
			add_string(b, op, strlen(op));
		else
			gen_other(b);
	}
	if (!chance(5)) {
		SEP();
		adds(b, "\"path\":");
		if (chance(90))
			gen_path(b);
		else
			gen_other(b);
	}
	if (chance(70)) {
		SEP();
		adds(b, "\"since\":");
		gen_token(b);
	}
	if (chance(30)) {
		SEP();
		adds(b, "\"wait_ms\":");
		if (chance(70))
			addf(b, "%u", below(200));
		else
			gen_other(b);
	}
	if (chance(10)) {
		SEP();
		adds(b,
		     chance(50) ? "\"path\":" : "\"extra\":"); /* a duplicate key, or a new one */
		gen_other(b);
	}
#undef SEP
	adds(b, "}");
}

/* Damage a request in place. */
static void mutate(struct buf *b)
{
	unsigned rounds = 1 + below(4);

	for (unsigned r = 0; r < rounds && b->len; r++) {
		size_t at = below((unsigned)b->len);
		switch (below(7)) {
		case 0: /* bit flips */
			for (unsigned i = 1 + below(8); i; i--)
				b->s[below((unsigned)b->len)] ^= (char)(1u << below(8));
			break;
		case 1: /* truncation */
			b->len = at;
			b->s[at] = '\0';
			break;
		case 2: { /* an inserted byte */
			char ch = (char)below(256);
			reserve(b, 1);
			memmove(b->s + at + 1, b->s + at, b->len - at + 1);
			b->s[at] = ch == '\n' ? ' ' : ch;
			b->len++;
			break;
		}
		case 3: /* a deleted byte */
			memmove(b->s + at, b->s + at + 1, b->len - at);
			b->len--;
			break;
		case 4: { /* a slice repeated */
			size_t n = below((unsigned)(b->len - at)) + 1;
			char *copy = malloc(n);
			if (!copy)
				die("out of memory");
			memcpy(copy, b->s + at, n);
			add_bytes(b, copy, n);
			free(copy);
			break;
		}
		case 5: /* a newline in the middle: two broken lines */
			b->s[at] = '\n';
			break;
		default: /* a random byte */
			b->s[at] = (char)below(256);
		}
	}
	/* a NUL byte in the line itself (not the \u0000 escape) */
	if (chance(3) && b->len) {
		b->s[below((unsigned)b->len)] = '\0';
	}
}

/* ---- talking ------------------------------------------------------------------- */

struct stats {
	unsigned long requests, lines, answers, ok, events, malformed, conns, early_closes,
	    daemon_closes, bytes_in;
	unsigned long by_errno[ERRNO_MAX];
};

/* Check one answer line. */
static void check_line(struct stats *st, const char *line, size_t len)
{
	struct json_tokener *tk = json_tokener_new();
	struct json_object *o, *v;
	bool good = false;

	if (!tk)
		die("out of memory");
	o = json_tokener_parse_ex(tk, line, (int)len);
	if (o && json_tokener_get_error(tk) == json_tokener_success &&
	    (size_t)json_tokener_get_parse_end(tk) == len &&
	    json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "v", &v) &&
	    json_object_is_type(v, json_type_int) && json_object_get_int(v) == 1) {
		struct json_object *ok, *ev, *en;
		if (json_object_object_get_ex(o, "ok", &ok) &&
		    json_object_is_type(ok, json_type_boolean)) {
			good = true;
			if (json_object_get_boolean(ok)) {
				st->ok++;
			} else if (json_object_object_get_ex(o, "errno", &en) &&
				   json_object_is_type(en, json_type_int)) {
				int e = json_object_get_int(en);
				st->by_errno[e > 0 && e < ERRNO_MAX ? e : 0]++;
			} else {
				good = false;
			}
		} else if (json_object_object_get_ex(o, "event", &ev) &&
			   json_object_is_type(ev, json_type_string)) {
			good = true;
			st->events++;
		}
	}
	if (!good) {
		st->malformed++;
		if (st->malformed <= 5)
			fprintf(stderr, "fst-fuzz: a malformed answer: %.300s\n", line);
	}
	st->answers++;
	json_object_put(o);
	json_tokener_free(tk);
}

struct conn {
	int fd;
	struct buf out; /* to send */
	size_t sent;
	struct buf in; /* received, incomplete line */
	bool eof;
};

static void take_input(struct stats *st, struct conn *c)
{
	char tmp[65536];

	for (;;) {
		ssize_t n = read(c->fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			c->eof = true;
			return;
		}
		if (n < 0)
			return;
		st->bytes_in += (unsigned long)n;
		add_bytes(&c->in, tmp, (size_t)n);
		for (;;) {
			char *nl = memchr(c->in.s, '\n', c->in.len);
			size_t len;
			if (!nl)
				break;
			len = (size_t)(nl - c->in.s);
			check_line(st, c->in.s, len);
			memmove(c->in.s, nl + 1, c->in.len - len - 1);
			c->in.len -= len + 1;
		}
	}
}

/*
 * One connection: send its bytes in pieces of random size (one write, or
 * many small ones), reading what comes meanwhile; then, unless it closes
 * early, shut down the sending side and read until the daemon closes or
 * 3 s pass without news.
 */
static void run_conn(const char *sock, struct stats *st, struct buf *out, bool early_close)
{
	struct conn c = {.fd = -1};
	uint64_t last;
	bool one_write = chance(50);

	c.fd = connect_patient(sock);
	if (c.fd < 0)
		die("cannot connect to %s: %s (did the daemon die?)", sock, strerror(-c.fd));
	fcntl(c.fd, F_SETFL, O_NONBLOCK);
	st->conns++;
	c.out = *out;
	last = now_ms();
	while (c.sent < c.out.len && !c.eof) {
		size_t piece = one_write ? c.out.len - c.sent : 1 + below(200);
		struct pollfd p = {.fd = c.fd, .events = POLLIN | POLLOUT};
		ssize_t n;

		if (piece > c.out.len - c.sent)
			piece = c.out.len - c.sent;
		if (poll(&p, 1, 1000) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			take_input(st, &c);
		if (!(p.revents & POLLOUT)) {
			if (now_ms() - last > 5000)
				break; /* it does not read us: fine, it may refuse to */
			continue;
		}
		n = send(c.fd, c.out.s + c.sent, piece, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			break; /* closed by the daemon (a refused line) */
		c.sent += (size_t)n;
		last = now_ms();
	}
	if (early_close) {
		st->early_closes++;
		goto out;
	}
	shutdown(c.fd, SHUT_WR);
	last = now_ms();
	while (!c.eof && now_ms() - last < 3000) {
		struct pollfd p = {.fd = c.fd, .events = POLLIN};
		unsigned long before = st->bytes_in;
		if (poll(&p, 1, 200) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		take_input(st, &c);
		if (st->bytes_in != before)
			last = now_ms();
	}
	if (c.eof)
		st->daemon_closes++;
out:
	close(c.fd);
	free(c.in.s);
}

static int hello_works(const char *sock)
{
	const char *req = "{\"v\":1,\"op\":\"hello\"}\n";
	char ans[4096];
	size_t len = 0;
	uint64_t t0 = now_ms();
	int fd = connect_patient(sock);

	if (fd < 0)
		return fd;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
		close(fd);
		return -errno;
	}
	while (now_ms() - t0 < 10000 && len < sizeof(ans) - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		poll(&p, 1, 200);
		n = read(fd, ans + len, sizeof(ans) - 1 - len);
		if (n == 0)
			break;
		if (n > 0) {
			len += (size_t)n;
			ans[len] = '\0';
			if (strchr(ans, '\n'))
				break;
		}
	}
	close(fd);
	ans[len] = '\0';
	return strstr(ans, "\"ok\":true") ? 0 : -EPROTO;
}

int main(int argc, char **argv)
{
	unsigned long count = 10000, seed = 1;
	struct stats st = {0};
	const char *sock;
	int r;

	if (argc < 2)
		goto usage;
	sock = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			dir_arg = argv[++i];
		else if (!strcmp(argv[i], "--token") && i + 1 < argc)
			token_arg = argv[++i];
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoul(argv[++i], NULL, 10);
		else
			goto usage;
	}
	if (!dir_arg || !token_arg)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	rng_state = seed * 0x9E3779B97F4A7C15ull + 1;

	while (st.requests < count) {
		struct buf out = {0};
		unsigned batch = 1 + (chance(10) ? below(200) : chance(20) ? below(50) : below(8));
		bool early = chance(10);

		for (unsigned i = 0; i < batch && st.requests < count; i++) {
			struct buf req = {0};

			gen_request(&req);
			if (chance(40))
				mutate(&req);
			add_bytes(&out, req.s ? req.s : "", req.len);
			/* most lines end; the last one sometimes does not */
			if (i + 1 < batch || !chance(10))
				adds(&out, "\n");
			st.requests++;
			free(req.s);
		}
		for (size_t i = 0; i < out.len; i++)
			st.lines += out.s[i] == '\n';
		run_conn(sock, &st, &out, early);
		free(out.s);
	}

	r = hello_works(sock);
	printf("requests %lu lines %lu connections %lu (closed early %lu, closed by the daemon "
	       "%lu)\n",
	       st.requests, st.lines, st.conns, st.early_closes, st.daemon_closes);
	printf("answers %lu: ok %lu, stream events %lu, malformed %lu\n", st.answers, st.ok,
	       st.events, st.malformed);
	printf("errors by errno:");
	for (int e = 0; e < ERRNO_MAX; e++)
		if (st.by_errno[e])
			printf(" %d:%lu", e, st.by_errno[e]);
	printf("\n");
	if (r < 0) {
		printf("the daemon does not answer hello any more: %s\n", strerror(-r));
		return 1;
	}
	printf("the daemon still answers hello\n");
	return st.malformed ? 1 : 0;
usage:
	fprintf(stderr, "usage: fst-fuzz SOCK --dir DIR --token TOKEN [--seed N] [--count K]\n");
	return 2;
}
