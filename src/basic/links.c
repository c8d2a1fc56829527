/* SPDX-License-Identifier: MIT */
/* links: the other names of changed files with hard links (see links.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/hashmap.h"
#include "basic/links.h"
#include "basic/relpath.h"

int links_note(struct hashmap *inos, const struct stat *st)
{
	uintptr_t *slot;
	uint64_t ino = (uint64_t)st->st_ino;

	if (!S_ISREG(st->st_mode) || st->st_nlink < 2)
		return 0;
	return hashmap_upsert(inos, &ino, sizeof(ino), &slot) < 0 ? -ENOMEM : 0;
}

int links_walk(int top_fd, const struct hashmap *inos, bool skip_git,
	       int (*found)(void *data, const char *path), void *data)
{
	struct pathq q = {0};
	struct stat top;
	int r;

	if (hashmap_size(inos) == 0)
		return 0;
	if (fstat(top_fd, &top) < 0)
		return -errno;
	r = pathq_push(&q, strdup("."));
	while (r == 0 && q.head < q.n) {
		char *dir = q.v[q.head++];
		int fd = openat(top_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		struct dirent *de;
		DIR *d = NULL;

		if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == top.st_dev)
			d = fdopendir(fd);
		if (!d && fd >= 0)
			close(fd);
		while (r == 0 && d && (de = readdir(d))) {
			unsigned char type = de->d_type;
			uint64_t ino = (uint64_t)de->d_ino;

			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (type == DT_UNKNOWN) {
				if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
					continue;
				type = S_ISDIR(st.st_mode)   ? DT_DIR
				       : S_ISREG(st.st_mode) ? DT_REG
							     : 0;
			}
			if (type == DT_DIR) {
				if (!(skip_git && strcmp(de->d_name, ".git") == 0))
					r = pathq_push(&q, relpath_child(dir, de->d_name));
			} else if (type == DT_REG && hashmap_get(inos, &ino, sizeof(ino))) {
				char *p = relpath_child(dir, de->d_name);

				r = p ? found(data, p) : -ENOMEM;
				free(p);
			}
		}
		if (d)
			closedir(d);
		free(dir);
	}
	pathq_release(&q);
	return r;
}
