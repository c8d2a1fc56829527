/* SPDX-License-Identifier: MIT */
/*
 * fst-hammer: writers hammer files while tokens are taken in a loop; every
 * write that began after a token was handed out and ended before the next
 * request was sent must be in the answer since that token.
 *
 *   fst-hammer [--socket PATH] --dir DIR [--files N] [--writers W]
 *              [--boundaries B] [--mode append|rewrite|truncate|mixed]
 *              [--pause-us U]
 *
 * The files f0..f{N-1} (N <= 64) are made in DIR before the first token.
 * Each writer thread loops over them: it notes the monotonic time, does
 * one write operation, notes the time again. The main thread takes a
 * token, then asks `changes` B times, each since the token the previous
 * answer handed out, U microseconds (default 300) after it came back, so
 * that whole writes fall between two boundaries. Answer i is checked against every write w with
 *   w.start > (the time answer i-1, or the first token, came back)
 *   w.end   < (the time request i was sent):
 * w's file must be named in answer i (or covered by "." recursive). This
 * is the ordering argument of the kernel-side "already recorded" filter
 * (docs/design.md): a write after a token is always recorded after it.
 * Prints a summary; exits 1 on any miss, 2 on usage or setup errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fstrack.h"

#define MAX_FILES 64

struct write_rec {
	uint64_t start, end;
	uint8_t file;
};

struct writer {
	pthread_t thread;
	unsigned id;
	struct write_rec *v;
	size_t n, cap;
	int error;
};

struct boundary {
	uint64_t after;	  /* the token of this answer was back by then */
	uint64_t sent;	  /* the request was sent at */
	uint64_t covered; /* bit f: file f is named (all: "." recursive) */
};

static const char *dir;
static unsigned n_files = 16, n_writers = 2;
static const char *mode = "append";
static atomic_bool stop;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int write_once(unsigned f, unsigned round)
{
	char path[4096], data[32];
	int flags = O_WRONLY, fd, len;
	const char *m = mode;

	if (strcmp(m, "mixed") == 0)
		m = (round % 3 == 0) ? "append" : (round % 3 == 1) ? "rewrite" : "truncate";
	if (strcmp(m, "append") == 0)
		flags |= O_APPEND;
	else if (strcmp(m, "rewrite") == 0)
		flags |= O_TRUNC;
	snprintf(path, sizeof(path), "%s/f%u", dir, f);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(data, sizeof(data), "%u\n", round);
	if (strcmp(m, "truncate") == 0) {
		if (ftruncate(fd, round % 7) < 0) {
			close(fd);
			return -errno;
		}
	} else if (write(fd, data, (size_t)len) != len) {
		close(fd);
		return -EIO;
	}
	return close(fd) < 0 ? -errno : 0;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	unsigned round = 0;

	while (!atomic_load(&stop)) {
		unsigned f = (w->id * 7 + round) % n_files;
		struct write_rec r;

		if (w->n == w->cap) {
			size_t ncap = w->cap ? w->cap * 2 : 4096;
			struct write_rec *nv = realloc(w->v, ncap * sizeof(*nv));
			if (!nv) {
				w->error = -ENOMEM;
				break;
			}
			w->v = nv;
			w->cap = ncap;
		}
		r.file = (uint8_t)f;
		r.start = now_ns();
		w->error = write_once(f, round++);
		r.end = now_ns();
		if (w->error < 0)
			break;
		w->v[w->n++] = r;
	}
	return NULL;
}

/* Which of our files an answer names. */
static uint64_t covered_by(const struct fst_changes *ch)
{
	uint64_t bits = 0;

	if (ch->fresh)
		return UINT64_MAX;
	for (size_t i = 0; i < ch->n; i++) {
		const char *p = ch->v[i].path;
		char *end;
		unsigned long f;

		if (strcmp(p, ".") == 0 && (ch->v[i].kinds & FST_RECURSIVE))
			return UINT64_MAX;
		if (p[0] != 'f')
			continue;
		f = strtoul(p + 1, &end, 10);
		if (*end == '\0' && f < MAX_FILES)
			bits |= 1ull << f;
	}
	return bits;
}

/* The marks the daemon asked for, from status (-1: unknown). */
static long long status_marks(fst_client *c)
{
	struct json_object *root, *fsa, *v;
	long long total = 0;
	char *text = NULL;

	if (fst_status_json(c, &text) < 0)
		return -1;
	root = json_tokener_parse(text);
	free(text);
	if (!root || !json_object_object_get_ex(root, "filesystems", &fsa)) {
		json_object_put(root);
		return -1;
	}
	for (size_t i = 0; i < json_object_array_length(fsa); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(fsa, i),
					      "ignore_marks_added", &v))
			total += json_object_get_int64(v);
	json_object_put(root);
	return total;
}

static int usage(void)
{
	fprintf(stderr, "usage: fst-hammer [--socket PATH] --dir DIR [--files N] [--writers W] "
			"[--boundaries B] [--mode append|rewrite|truncate|mixed] [--pause-us U]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},	  {"dir", required_argument, NULL, 'd'},
	    {"files", required_argument, NULL, 'f'},	  {"writers", required_argument, NULL, 'w'},
	    {"boundaries", required_argument, NULL, 'b'}, {"mode", required_argument, NULL, 'm'},
	    {"pause-us", required_argument, NULL, 'p'},	  {0},
	};
	const char *socket = NULL;
	unsigned n_bounds = 1000, pause_us = 300;
	struct boundary *b;
	struct writer *ws;
	fst_client *c = NULL;
	char *token = NULL;
	uint64_t after, writes = 0, checked = 0, missed = 0;
	long long marks;
	int o, r;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			socket = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'f':
			n_files = (unsigned)atoi(optarg);
			break;
		case 'w':
			n_writers = (unsigned)atoi(optarg);
			break;
		case 'b':
			n_bounds = (unsigned)atoi(optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		case 'p':
			pause_us = (unsigned)atoi(optarg);
			break;
		default:
			return usage();
		}
	}
	if (!dir || n_files == 0 || n_files > MAX_FILES || n_writers == 0 || n_bounds == 0)
		return usage();
	for (unsigned f = 0; f < n_files; f++) {
		char path[4096];
		int fd;
		snprintf(path, sizeof(path), "%s/f%u", dir, f);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 || close(fd) < 0) {
			perror(path);
			return 2;
		}
	}
	b = calloc(n_bounds, sizeof(*b));
	ws = calloc(n_writers, sizeof(*ws));
	if (!b || !ws)
		return 2;
	r = fst_connect(socket, &c);
	if (r == 0)
		r = fst_token(c, dir, &token);
	if (r < 0) {
		fprintf(stderr, "fst-hammer: %s\n", c ? fst_client_error(c) : strerror(-r));
		return 2;
	}
	after = now_ns();
	for (unsigned i = 0; i < n_writers; i++) {
		ws[i].id = i;
		if (pthread_create(&ws[i].thread, NULL, writer_main, &ws[i]) != 0)
			return 2;
	}
	for (unsigned i = 0; i < n_bounds; i++) {
		struct fst_changes *ch = NULL;

		b[i].after = after;
		if (pause_us)
			usleep(pause_us);
		b[i].sent = now_ns();
		r = fst_changes(c, dir, token, 0, &ch);
		after = now_ns();
		if (r < 0) {
			fprintf(stderr, "fst-hammer: changes: %s\n", fst_client_error(c));
			atomic_store(&stop, true);
			return 2;
		}
		b[i].covered = covered_by(ch);
		free(token);
		token = strdup(ch->token);
		fst_changes_free(ch);
		if (!token)
			return 2;
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < n_writers; i++) {
		pthread_join(ws[i].thread, NULL);
		if (ws[i].error < 0) {
			fprintf(stderr, "fst-hammer: a writer failed: %s\n",
				strerror(-ws[i].error));
			return 2;
		}
	}
	/* each write against the one answer whose window holds it */
	for (unsigned i = 0; i < n_writers; i++) {
		for (size_t k = 0; k < ws[i].n; k++) {
			const struct write_rec *w = &ws[i].v[k];
			size_t lo = 0, hi = n_bounds;

			writes++;
			while (hi - lo >
			       1) { /* the last boundary whose token was back before w began */
				size_t mid = lo + (hi - lo) / 2;
				if (b[mid].after < w->start)
					lo = mid;
				else
					hi = mid;
			}
			if (!(b[lo].after < w->start && w->end < b[lo].sent))
				continue;
			checked++;
			if (!(b[lo].covered & (1ull << w->file))) {
				if (missed < 10)
					fprintf(stderr,
						"fst-hammer: MISS: f%u written at +%" PRIu64
						" ns (ended +%" PRIu64
						" ns) after answer %zu's token, "
						"before its request; not in the answer\n",
						w->file, w->start - b[lo].after,
						w->end - b[lo].after, lo);
				missed++;
			}
		}
	}
	marks = status_marks(c);
	printf("boundaries %u writes %" PRIu64 " checked %" PRIu64 " missed %" PRIu64
	       " ignore_marks_added %lld\n",
	       n_bounds, writes, checked, missed, marks);
	free(token);
	fst_client_free(c);
	for (unsigned i = 0; i < n_writers; i++)
		free(ws[i].v);
	free(ws);
	free(b);
	return missed ? 1 : 0;
}
