/* SPDX-License-Identifier: MIT */
/*
 * sock: what the daemon's sockets (fstrack's protocol, Watchman's) do
 * alike: listen on a path without stealing it from a running daemon, and
 * learn who connected.
 */
#ifndef FST_SOCK_H
#define FST_SOCK_H

#include <sys/socket.h>
#include <sys/types.h>

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

#endif
