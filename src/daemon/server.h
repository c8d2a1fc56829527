/* SPDX-License-Identifier: MIT */
/*
 * server: the Unix socket of docs/protocol.md, its clients and their
 * requests. It asks the tracker (scope.h, fsys.h) and hears from it only
 * through the tracker's observer, which the loop calls at the end of a
 * round: the server never re-enters itself.
 */
#ifndef FST_SERVER_H
#define FST_SERVER_H

#include <stddef.h>

#include "daemon/tracker.h"

struct loop;
struct server;

struct server_config {
	const char *socket_path;
	unsigned query_wait_ms;	  /* default wait for a running catch-up scan */
	size_t stream_buffer_max; /* bytes a subscriber may lag before it gets "gap" */
	const char *state_dir;	  /* for status */
	/* Bounds on what clients may make the daemon hold (0: the default). */
	unsigned long fd_limit;	      /* RLIMIT_NOFILE: clients get what the daemon does not need */
	unsigned max_clients;	      /* connections in all */
	unsigned max_clients_per_uid; /* connections of one user (root: max_clients) */
	unsigned max_scopes_per_uid;  /* scopes one user (not root) may own */
};

/*
 * The server of fstrack's protocol. It does not listen: main.c makes the
 * listener on cfg->socket_path (sock.h) and gives it server_accept and
 * server_refusal with the server as their data.
 */
int server_new(const struct server_config *cfg, struct loop *loop, struct server **ret);
struct ucred;
struct perm_caller;
/* A connection (sock_accept_fn): a client, unless a limit says no (why). */
const char *server_accept(void *data, int fd, const struct ucred *cred,
			  const struct perm_caller *caller);
/* The refusal of a connection in this protocol (sock_refusal_fn); counted for status. */
int server_refusal(void *data, char *buf, size_t size, const char *why);
/* Start serving requests about t (after tracker_new). */
void server_set_tracker(struct server *s, struct tracker *t);
/* The observer to give the tracker: commits, scans done, filesystems gone. */
void server_observer(struct server *s, struct tracker_observer *ret);
/*
 * A request another front end answers on this socket (the git IPC's
 * "git-daemon"): fn gets the caller, fixed at connect, and the request,
 * and returns the response object, "ok" and the rest ("v" is added), or
 * NULL when out of memory. At most SERVER_OPS_MAX; -ENOSPC past it.
 */
struct json_object;
typedef struct json_object *(*server_op_fn)(void *data, const struct perm_caller *caller,
					    struct json_object *req);
#define SERVER_OPS_MAX 8
int server_add_op(struct server *s, const char *op, server_op_fn fn, void *data);
/* Close every client (the listener goes first: main.c). */
struct server *server_free(struct server *s);

#endif
