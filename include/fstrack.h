/* SPDX-License-Identifier: MIT */
/*
 * fstrack client library: talk to fstrackd over its Unix socket.
 *
 * Every function returns 0 (or a non-negative count) on success and a
 * negative errno on failure. When the daemon refused a request, the call
 * returns -EPROTO or the errno the daemon sent, and fst_client_error()
 * gives the daemon's one-line message. The library never prints.
 */
#ifndef FSTRACK_H
#define FSTRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FST_PROTOCOL_VERSION 1
#define FST_DEFAULT_SOCKET "/run/fstrack/fstrack.sock"
#define FST_SOCKET_ENV "FSTRACK_SOCKET"

/* Kinds of change; a path's kinds are a bit set. */
enum fst_kind {
	FST_CREATED = 1u << 0,
	FST_DELETED = 1u << 1,
	FST_MODIFIED = 1u << 2,
	FST_ATTRIB = 1u << 3,
	FST_RENAMED_FROM = 1u << 4,
	FST_RENAMED_TO = 1u << 5,
	FST_ENTRIES = 1u << 6,	 /* direct children may have been added/removed */
	FST_RECURSIVE = 1u << 7, /* anything below may have changed: rescan */
};
#define FST_KIND_COUNT 8

/* "created", "deleted", ... for bit i (0..7); NULL past the end. */
const char *fst_kind_name(unsigned bit_index);
/* Parse a kind name into its bit; 0 if unknown. */
unsigned fst_kind_from_name(const char *name);

typedef struct fst_client fst_client;

/*
 * Connect to the daemon. socket_path NULL means $FSTRACK_SOCKET, else
 * FST_DEFAULT_SOCKET.
 */
int fst_connect(const char *socket_path, fst_client **ret);
fst_client *fst_client_free(fst_client *c);
/* The daemon's message for the last failed call, or a local description. */
const char *fst_client_error(const fst_client *c);

/* Start tracking dir (absolute or relative to the caller's cwd). */
int fst_watch(fst_client *c, const char *dir, char **ret_token);
int fst_unwatch(fst_client *c, const char *dir);
int fst_token(fst_client *c, const char *dir, char **ret_token);

struct fst_change {
	char *path; /* relative to the queried dir; "." is the dir itself */
	unsigned kinds;
};

struct fst_changes {
	char *token; /* resume from here next time */
	bool fresh;  /* everything may have changed: rescan the whole dir */
	size_t n;
	struct fst_change *v;
};

/*
 * What changed under dir since token. wait_ms bounds how long the daemon
 * may wait for a catch-up scan in progress (0: the daemon's default).
 */
int fst_changes(fst_client *c, const char *dir, const char *since, unsigned wait_ms,
		struct fst_changes **ret);
struct fst_changes *fst_changes_free(struct fst_changes *ch);

/* The daemon's status document as JSON text (caller frees). */
int fst_status_json(fst_client *c, char **ret_json);

/*
 * Streams: history since a token, then live changes. After
 * fst_stream_start() the connection belongs to the stream; poll
 * fst_client_fd() for input and call fst_stream_next() until it returns 0
 * (no complete event buffered) or < 0 (error / daemon went away).
 */
enum fst_stream_type {
	FST_STREAM_CHANGE = 1,	     /* path + kinds + token */
	FST_STREAM_HISTORY_DONE = 2, /* token */
	FST_STREAM_GAP = 3,	     /* resume with changes --since token */
	FST_STREAM_FRESH = 4,	     /* token unusable: rescan, then resume at token */
};

struct fst_stream_event {
	enum fst_stream_type type;
	char *path;
	unsigned kinds;
	char *token;
	char *json; /* the raw line, without newline */
};

int fst_stream_start(fst_client *c, const char *dir, const char *since);
int fst_client_fd(const fst_client *c);
/* 1: *ev filled (free with fst_stream_event_release); 0: need more input. */
int fst_stream_next(fst_client *c, bool block, struct fst_stream_event *ev);
void fst_stream_event_release(struct fst_stream_event *ev);

#ifdef __cplusplus
}
#endif
#endif
