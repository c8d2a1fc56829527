/* SPDX-License-Identifier: MIT */
/*
 * wserver: Watchman's protocol on a second Unix socket (docs/watchman.md),
 * for Watchman's clients: pywatchman, Node's fb-watchman, git's
 * fsmonitor-watchman hook, the watchman command. JSON lines and BSER v1/v2,
 * told apart per PDU. A Watchman root is a directory fstrack watches
 * exactly (a scope); its clocks are fstrack tokens ("c:" + token), so they
 * survive restarts of the daemon.
 *
 * Like server.c it asks the tracker (scope.h, fsys.h), hears from it only
 * through the observer the loop calls at the end of a round, and takes
 * every client's credentials when it connects. Tree walks and content
 * hashes run on worker threads with the client's filesystem credentials
 * (jobs.h, wquery.h); their answers are sent from the loop's thread.
 */
#ifndef FST_WSERVER_H
#define FST_WSERVER_H

#include "daemon/tracker.h"

struct loop;
struct wserver;

struct wserver_config {
	const char *socket_path;
	unsigned query_wait_ms; /* how long an answer may wait for a catch-up scan by default */
	/* Bounds on what clients may make the daemon hold (0: the default). */
	unsigned long fd_limit;
	unsigned max_clients;
	unsigned max_clients_per_uid;
	unsigned max_scopes_per_uid;
	unsigned threads; /* workers for walks and hashes */
};

/*
 * Watchman's protocol. It does not listen: main.c makes the listener on
 * cfg->socket_path (sock.h, mode 0666) with wserver_accept and
 * wserver_refusal and the server as their data.
 */
int wserver_new(const struct wserver_config *cfg, struct loop *loop, struct wserver **ret);
struct ucred;
struct perm_caller;
/* A connection (sock_accept_fn): a client, unless a limit says no (why). */
const char *wserver_accept(void *data, int fd, const struct ucred *cred,
			   const struct perm_caller *caller);
/* The refusal of a connection in Watchman's way, a JSON error (sock_refusal_fn). */
int wserver_refusal(void *data, char *buf, size_t size, const char *why);
/* Start serving requests about t (after tracker_new). */
void wserver_set_tracker(struct wserver *s, struct tracker *t);
/* The observer to give the tracker: commits (subscriptions), scans done, filesystems gone. */
void wserver_observer(struct wserver *s, struct tracker_observer *ret);
/* Close every client, stop the workers (the listener goes first: main.c). */
struct wserver *wserver_free(struct wserver *s);

#endif
