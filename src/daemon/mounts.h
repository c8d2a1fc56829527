/* SPDX-License-Identifier: MIT */
/*
 * mounts: where a filesystem is mounted (/proc/self/mountinfo), and the
 * mount fd that file handles are opened through.
 *
 * A failure to read the mount table (EMFILE, ENOMEM, ...) is returned as
 * that error: it means "unknown", never "not mounted" (-ENOENT).
 */
#ifndef FST_MOUNTS_H
#define FST_MOUNTS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/fhandle.h"

struct mount_info {
	dev_t sb_dev;	     /* the superblock's device, as mountinfo shows it */
	char path[PATH_MAX]; /* the mount point */
	char fstype[32];
	bool root; /* a mount of the filesystem's root directory */
};

/*
 * Pick the best mount of the filesystem with device sb_dev from a
 * mountinfo text: a mount of the filesystem's root (so every directory
 * handle resolves to a real path) and, among those, the shortest mount
 * point. With sb_dev == 0 the device is that of mount id mnt_id first
 * (btrfs gives files the st_dev of their subvolume, not the superblock's).
 * -ENOENT when there is none. Pure: for tests.
 */
int mounts_parse(const char *text, dev_t sb_dev, uint64_t mnt_id, struct mount_info *ret);
/* The same from /proc/self/mountinfo. */
int mounts_find(dev_t sb_dev, uint64_t mnt_id, struct mount_info *ret);

/*
 * A filesystem's mount for open_by_handle_at: an fd of the mount point,
 * opened on demand and released by its owner after each round of the
 * loop, so the daemon never keeps a filesystem busy. The device is
 * checked: something else mounted over the same path must not decode
 * our handles (-ENODEV).
 */
struct mount_ref {
	char path[PATH_MAX];
	dev_t dev; /* st_dev of the mount point */
	int fd;	   /* -1 when released */
};

void mount_ref_init(struct mount_ref *m, const char *path, dev_t dev);
/*
 * The fd (opened now if needed), or a negative errno. Do not close it.
 * A mount point that is not there, or another filesystem's, is -ENODEV:
 * never the -ENOENT or -ESTALE that would say a handle's object is gone.
 */
int mount_ref_fd(struct mount_ref *m);
bool mount_ref_is_open(const struct mount_ref *m);
void mount_ref_release(struct mount_ref *m);

#endif
