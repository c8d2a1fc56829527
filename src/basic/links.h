/* SPDX-License-Identifier: MIT */
/*
 * links: hard links. fstrackd reports a changed inode under at least one of
 * its names, not all: a file written through one name changed under its
 * other names too. Note such files (regular, st_nlink > 1) in inos with
 * links_note(), then let links_walk() find every name below top_fd whose
 * inode is noted (by d_ino, reading directories only; not into other
 * filesystems, nor into ".git" directories when skip_git). Calls only
 * relpath and hashmap.
 */
#ifndef FST_LINKS_H
#define FST_LINKS_H

#include <stdbool.h>

struct hashmap;
struct stat;

/* Note the inode of st if it is a regular file with other names; 0 or -ENOMEM. */
int links_note(struct hashmap *inos, const struct stat *st);
/* found(data, path) for each name of a noted inode; stops at its first < 0. */
int links_walk(int top_fd, const struct hashmap *inos, bool skip_git,
	       int (*found)(void *data, const char *path), void *data);

#endif
