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
/*
 * Write the names of the bits set in kinds, separated by sep, into buf
 * ("modified,attrib"; "" for 0). Returns the length or -ENOSPC.
 * FST_KINDS_TEXT_MAX bytes always suffice.
 */
int fst_kinds_format(unsigned kinds, char sep, char *buf, size_t size);
#define FST_KINDS_TEXT_MAX 80

typedef struct fst_client fst_client;

/*
 * The socket a client uses: socket_path if not NULL, else $FSTRACK_SOCKET
 * if set and not empty, else FST_DEFAULT_SOCKET.
 */
const char *fst_socket_path(const char *socket_path);

/*
 * Connect to the daemon at fst_socket_path(socket_path). On failure *ret is
 * NULL; fst_connect_strerror() describes the failure.
 */
int fst_connect(const char *socket_path, fst_client **ret);
/*
 * One line for a failed fst_connect() (err < 0) into buf, with advice when
 * the daemon is not running: "cannot connect to fstrackd at PATH: ...".
 */
void fst_connect_strerror(const char *socket_path, int err, char *buf, size_t size);
fst_client *fst_client_free(fst_client *c);
/* The daemon's message for the last failed call, or a local description. */
const char *fst_client_error(const fst_client *c);
/*
 * Bound how long one call waits for the daemon (0, the default: no bound).
 * A call that runs out of time returns -ETIMEDOUT; the connection is then
 * unusable (every later call returns -ENOTCONN).
 */
void fst_client_set_timeout(fst_client *c, unsigned timeout_ms);

/* The daemon's version string (caller frees); checks the protocol version. */
int fst_hello(fst_client *c, char **ret_version);

/*
 * Send one request (a JSON object as text; "v" is added when absent) and
 * return the response line as received (caller frees). Returns 0 whenever
 * a response arrived, even one with "ok": false.
 */
int fst_request_raw(fst_client *c, const char *request_json, char **ret_response);

/*
 * Does s look like a token of this protocol version, as fst_watch(),
 * fst_token() and fst_changes() hand out? Only the form is checked (the
 * daemon decides whether it can answer from a token); tokens are opaque
 * otherwise. For telling an fstrack token from other saved text, such as
 * the time stamp git stores before its fsmonitor hook first answered.
 */
bool fst_token_is_valid(const char *s);

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
	/*
	 * A catch-up scan still ran and the wait was over (wait_ms): what it
	 * has not found yet is covered by "." reported FST_RECURSIVE.
	 */
	bool widened;
};

/*
 * What changed under dir since token. wait_ms bounds how long the daemon
 * may wait for a catch-up scan in progress (0: the daemon's default);
 * past it, the answer is widened (see struct fst_changes).
 * A kind name this library does not know is reported as FST_RECURSIVE: a
 * false positive is a cost, a false negative a bug.
 */
int fst_changes(fst_client *c, const char *dir, const char *since, unsigned wait_ms,
		struct fst_changes **ret);
struct fst_changes *fst_changes_free(struct fst_changes *ch);

/*
 * The daemon's status document as JSON text (caller frees): the response
 * without "v" and "ok", i.e. {"daemon":...,"filesystems":...,"scopes":...}.
 */
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
	FST_STREAM_OTHER = 5,	     /* an event this library does not know: see json */
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
