/* SPDX-License-Identifier: MIT */
/*
 * perm: a root daemon answering an unprivileged caller must not tell it a
 * name it could not list itself. The caller's uid, gid and supplementary
 * groups are checked against the mode bits of every directory on the way:
 * search (x) on each ancestor, read (r) on the directory whose entries are
 * named. POSIX ACLs are not consulted: a caller that only an ACL lets in
 * is refused (README Limits).
 */
#ifndef FST_PERM_H
#define FST_PERM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PERM_GROUPS_MAX 256

/* Who asks: fixed when the client connects. */
struct perm_caller {
	uid_t uid;
	gid_t gid;
	gid_t groups[PERM_GROUPS_MAX];
	size_t n_groups;
};

/* May caller search (x) / read (r) a directory of this owner and mode? Pure. */
bool perm_may_search(const struct perm_caller *c, uid_t owner, gid_t group, mode_t mode);
bool perm_may_read(const struct perm_caller *c, uid_t owner, gid_t group, mode_t mode);

/*
 * Open path as the caller would: the calling thread takes the caller's
 * filesystem uid, gid and groups for the open(2) and gives them back
 * (raw system calls: credentials are per thread, and the scan threads keep
 * theirs). The kernel then applies every rule it applies to the caller
 * (mode bits, ACLs, symlinks it may not follow), and the error is the one
 * the caller would get itself: nothing more is learnt than by trying. The
 * fd that comes back is an ordinary fd of the daemon. Aborts if the
 * daemon's own credentials cannot be restored.
 */
int perm_open_as(const struct perm_caller *c, const char *path, int flags);

/*
 * The same for a stretch of work: the calling thread takes the caller's
 * filesystem uid, gid and groups (nothing changes for root) until
 * perm_restore(), so the kernel checks every open, stat and read of the
 * stretch as the caller's own. 0, or a negative errno with nothing
 * changed. perm_restore aborts if the daemon's own cannot be restored.
 */
struct perm_saved {
	gid_t groups[PERM_GROUPS_MAX];
	int n_groups;
	bool changed;
};
int perm_become(const struct perm_caller *c, struct perm_saved *saved);
void perm_restore(struct perm_saved *saved);

/* Decisions about paths, each directory looked at once. */
struct perm_cache;
struct perm_cache *perm_cache_new(const struct perm_caller *c);
struct perm_cache *perm_cache_free(struct perm_cache *pc);
/* Search permission on "/", every ancestor and path itself. */
bool perm_can_reach(struct perm_cache *pc, const char *path);
/* ... and read permission on dir. */
bool perm_can_list(struct perm_cache *pc, const char *dir);

#endif
