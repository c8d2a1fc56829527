/* SPDX-License-Identifier: MIT */
/*
 * sock: what the daemon's sockets (fstrack's protocol, Watchman's) do
 * alike: listen on a path without stealing it from a running daemon, and
 * learn who connected.
 */
#ifndef FST_SOCK_H
#define FST_SOCK_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct loop;
struct perm_caller;

/*
 * Listen on the Unix socket path (its directory made if missing, the
 * socket chmod'ed to mode): a non-blocking fd, or a negative errno, logged
 * (-EADDRINUSE when a running daemon answers there).
 */
int sock_listen(const char *path, mode_t mode);
/*
 * The peer of a connected socket: its pid, uid, gid (SO_PEERCRED) and, as
 * a caller for perm.h, its supplementary groups too (SO_PEERGROUPS; when
 * the kernel cannot say, none: fewer rights, never more). 0 or -errno.
 */
int sock_peer(int fd, struct ucred *ret_cred, struct perm_caller *ret_caller);

/*
 * A listening socket and its accept loop, registered with the loop. For
 * each connection the front end's accept callback gets the fd and the
 * peer's credentials: it returns NULL when it takes the connection (the
 * fd is then its own), or why it turns it away: the refusal callback
 * writes that reason as one line of the front end's protocol, which is
 * sent before the connection is closed. Out of fds (EMFILE, ENFILE), a
 * reserve fd is given up to take the connection and turn it away; if even
 * that fails, accepting pauses for a moment: accept() never spins on a
 * queue it cannot take from.
 */
typedef const char *(*sock_accept_fn)(void *data, int fd, const struct ucred *cred,
				      const struct perm_caller *caller);
/* data is the listener's (a front end may count its refusals here). */
typedef int (*sock_refusal_fn)(void *data, char *buf, size_t size, const char *why);
struct sock_listener;

/*
 * Listen on path (sock_listen) and accept on the loop. 0 or -errno.
 * main.c makes the listeners and hands each connection to its front end:
 * the front ends never call this module.
 */
int sock_listener_new(struct loop *loop, const char *path, mode_t mode, sock_accept_fn on_accept,
		      sock_refusal_fn refusal, void *data, struct sock_listener **ret);
/* Stop listening; the socket is closed and its path unlinked. NULL is fine. */
struct sock_listener *sock_listener_free(struct sock_listener *l);

#endif
