/* SPDX-License-Identifier: MIT */
/*
 * perm: a root daemon answering an unprivileged caller must not tell it a
 * name it could not list itself. The caller's uid, gid and supplementary
 * groups (from /proc/PID/status at connect time) are checked against the
 * mode bits of every directory on the way: search (x) on each ancestor,
 * read (r) on the directory whose entries are named. POSIX ACLs are not
 * consulted: a caller that only an ACL lets in is refused (README Limits).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/util.h"
#include "daemon/daemon.h"

#define MAX_GROUPS 256

struct perm_cache {
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	size_t n_groups;
	struct hashmap *seen; /* path -> 1 + (x ok) + 2*(r ok) */
};

static void load_groups(struct perm_cache *pc, pid_t pid)
{
	char path[64], *text = NULL, *line;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_file(path, &text, NULL) < 0)
		return; /* no groups known: only uid/gid count (fewer rights, never more) */
	line = strstr(text, "\nGroups:");
	if (line) {
		char *p = line + strlen("\nGroups:"), *end;
		while (pc->n_groups < MAX_GROUPS) {
			unsigned long g = strtoul(p, &end, 10);
			if (end == p)
				break;
			pc->groups[pc->n_groups++] = (gid_t)g;
			p = end;
		}
	}
	free(text);
}

struct perm_cache *perm_cache_new(uid_t uid, gid_t gid, pid_t pid)
{
	struct perm_cache *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return NULL;
	pc->uid = uid;
	pc->gid = gid;
	pc->seen = hashmap_new();
	if (!pc->seen) {
		free(pc);
		return NULL;
	}
	load_groups(pc, pid);
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

static bool in_groups(const struct perm_cache *pc, gid_t g)
{
	if (g == pc->gid)
		return true;
	for (size_t i = 0; i < pc->n_groups; i++)
		if (pc->groups[i] == g)
			return true;
	return false;
}

/* 1 + x allowed + 2 * r allowed, for one directory */
static unsigned dir_bits(struct perm_cache *pc, const char *path)
{
	uintptr_t *v;
	struct stat st;
	unsigned shift, bits = 1;

	if (hashmap_upsert(pc->seen, path, strlen(path), &v) < 0)
		return 1; /* out of memory: nothing allowed */
	if (*v)
		return (unsigned)*v;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (st.st_uid == pc->uid)
			shift = 6;
		else if (in_groups(pc, st.st_gid))
			shift = 3;
		else
			shift = 0;
		if (st.st_mode & (S_IXOTH << shift))
			bits |= 2;
		if (st.st_mode & (S_IROTH << shift))
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
