/* SPDX-License-Identifier: MIT */
/*
 * gitfsm: git's fsmonitor answer, from an answer of fstrackd. The hook
 * (fstrack git-fsmonitor, hook protocol version 2) prints it and fstrackd's
 * git IPC (daemon/gitipc.c, git's builtin-daemon socket) sends it: the same
 * bytes either way, the new token, a NUL, then NUL-terminated paths
 * relative to the work tree, or a lone "/" when everything may have
 * changed. gitfsm.c says what git does with each path, and so why a path
 * is named the way it is.
 *
 * The answer reads the work tree (readdir walks, lstat) through top_fd
 * only, with the calling thread's credentials: the daemon calls it with
 * the caller's. Calls only basic/ (hashmap, links, relpath, util); no
 * policy of the daemon or the command, never prints.
 */
#ifndef FST_GITFSM_H
#define FST_GITFSM_H

#include <stdbool.h>
#include <stddef.h>

/* Appended to a token handed out with "/": see "/" and git's untracked cache. */
#define GITFSM_RESCAN_MARK "+untracked-rescan"

/* One change of fstrackd's answer: path relative to the work tree, FST_* kinds. */
struct gitfsm_change {
	const char *path;
	unsigned kinds;
};

/* The answer's bytes, as git reads them. */
struct gitfsm_answer {
	char *buf;
	size_t len, cap;
	bool everything; /* the answer is "/" */
};

/*
 * Is git's token marked (see GITFSM_RESCAN_MARK)? *ret_len gets the length
 * of the token without the mark: what fstrackd is asked since.
 */
bool gitfsm_token_marked(const char *git_token, size_t *ret_len);

/*
 * The answer "everything may have changed": token, NUL, "/", NUL. With
 * mark, a token that is not marked yet gets the mark (a token git has not
 * had before); without, it goes back as it is. 0 or -ENOMEM.
 */
int gitfsm_answer_everything(struct gitfsm_answer *a, const char *token, bool mark);

/*
 * The answer from fstrackd's: its new token, fresh, and changes v[0..n)
 * relative to the work tree open as top_fd; rescan_untracked when git's
 * token was marked. Any doubt (a path that is not clean, a change of the
 * top's entries, a walk that fails) answers "/" with the new token, marked.
 * 0, or -ENOMEM when not even that could be made.
 */
int gitfsm_answer_changes(struct gitfsm_answer *a, const char *token, bool fresh,
			  bool rescan_untracked, const struct gitfsm_change *v, size_t n,
			  int top_fd);

void gitfsm_answer_release(struct gitfsm_answer *a);

#endif
