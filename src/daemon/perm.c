/* SPDX-License-Identifier: MIT */
#include "daemon/perm.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/hashmap.h"

struct perm_cache {
	struct perm_caller caller;
	struct hashmap *seen; /* path -> 1 + (x ok) + 2*(r ok) */
};

static bool in_groups(const struct perm_caller *c, gid_t g)
{
	if (g == c->gid)
		return true;
	for (size_t i = 0; i < c->n_groups; i++)
		if (c->groups[i] == g)
			return true;
	return false;
}

/* The rwx bits that apply to the caller, as the "other" triple. */
static mode_t bits_for(const struct perm_caller *c, uid_t owner, gid_t group, mode_t mode)
{
	if (c->uid == 0)
		return 07;
	if (owner == c->uid)
		return (mode >> 6) & 07;
	if (in_groups(c, group))
		return (mode >> 3) & 07;
	return mode & 07;
}

bool perm_may_search(const struct perm_caller *c, uid_t owner, gid_t group, mode_t mode)
{
	return bits_for(c, owner, group, mode) & S_IXOTH;
}

bool perm_may_read(const struct perm_caller *c, uid_t owner, gid_t group, mode_t mode)
{
	return bits_for(c, owner, group, mode) & S_IROTH;
}

/* setfsuid/setfsgid return the previous id and cannot report errors: check by reading back. */
static bool set_fs_ids(uid_t uid, gid_t gid)
{
	syscall(SYS_setfsgid, gid);
	syscall(SYS_setfsuid, uid);
	return (uid_t)syscall(SYS_setfsuid, (uid_t)-1) == uid &&
	       (gid_t)syscall(SYS_setfsgid, (gid_t)-1) == gid;
}

int perm_become(const struct perm_caller *c, struct perm_saved *saved)
{
	saved->changed = false;
	if (c->uid == 0)
		return 0;
	saved->n_groups = (int)syscall(SYS_getgroups, PERM_GROUPS_MAX, saved->groups);
	if (saved->n_groups < 0)
		return -errno;
	/* the thread's groups first (needs CAP_SETGID), then the ids */
	if (syscall(SYS_setgroups, c->n_groups, c->groups) < 0)
		return -errno;
	saved->changed = true;
	if (!set_fs_ids(c->uid, c->gid)) {
		perm_restore(saved);
		return -EPERM;
	}
	return 0;
}

void perm_restore(struct perm_saved *saved)
{
	int err = errno;

	if (!saved->changed)
		return;
	if (!set_fs_ids(0, 0) ||
	    syscall(SYS_setgroups, (size_t)saved->n_groups, saved->groups) < 0) {
		/* a root daemon left with a user's rights must not go on */
		fprintf(stderr, "fstrackd: cannot restore the daemon's credentials; aborting\n");
		abort();
	}
	saved->changed = false;
	errno = err;
}

int perm_open_as(const struct perm_caller *c, const char *path, int flags)
{
	struct perm_saved saved;
	int fd = perm_become(c, &saved);

	if (fd < 0)
		return fd;
	fd = open(path, flags | O_CLOEXEC);
	fd = fd < 0 ? -errno : fd;
	perm_restore(&saved);
	return fd;
}

struct perm_cache *perm_cache_new(const struct perm_caller *c)
{
	struct perm_cache *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return NULL;
	pc->caller = *c;
	pc->seen = hashmap_new();
	if (!pc->seen) {
		free(pc);
		return NULL;
	}
	return pc;
}

struct perm_cache *perm_cache_free(struct perm_cache *pc)
{
	if (pc) {
		hashmap_free(pc->seen);
		free(pc);
	}
	return NULL;
}

/* 1 + x allowed + 2 * r allowed, for one directory */
static unsigned dir_bits(struct perm_cache *pc, const char *path)
{
	uintptr_t *v;
	struct stat st;
	unsigned bits = 1;

	if (hashmap_upsert(pc->seen, path, strlen(path), &v) < 0)
		return 1; /* out of memory: nothing allowed */
	if (*v)
		return (unsigned)*v;
	/* lstat: paths here are canonical; a symlink put in the way is not followed */
	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (perm_may_search(&pc->caller, st.st_uid, st.st_gid, st.st_mode))
			bits |= 2;
		if (perm_may_read(&pc->caller, st.st_uid, st.st_gid, st.st_mode))
			bits |= 4;
	}
	*v = bits;
	return bits;
}

bool perm_can_reach(struct perm_cache *pc, const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf) || path[0] != '/')
		return false;
	/* search permission on "/" and on every ancestor, and on path itself */
	if (!(dir_bits(pc, "/") & 2))
		return false;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		bool ok = dir_bits(pc, buf) & 2;
		*p = '/';
		if (!ok)
			return false;
	}
	return len == 1 || (dir_bits(pc, buf) & 2);
}

bool perm_can_list(struct perm_cache *pc, const char *dir)
{
	return perm_can_reach(pc, dir) && (dir_bits(pc, dir) & 4);
}
