/* SPDX-License-Identifier: MIT */
#include "daemon/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "basic/util.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape_mount(char *s)
{
	char *w = s;

	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*w++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
}

struct mount_line {
	uint64_t id;
	dev_t dev;
	char root[PATH_MAX];
	char mnt[PATH_MAX];
	char type[32];
};

/* One line of mountinfo: "id parent maj:min root mountpoint ... - type ..." */
static bool parse_line(const char *line, size_t len, struct mount_line *ret)
{
	char buf[2 * PATH_MAX + 256];
	unsigned maj, min;
	unsigned long long id;
	char *dash;

	_Static_assert(PATH_MAX == 4096, "the sscanf widths below are PATH_MAX - 1");
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, line, len);
	buf[len] = '\0';
	dash = strstr(buf, " - ");
	if (!dash)
		return false;
	if (sscanf(buf, "%llu %*d %u:%u %4095s %4095s", &id, &maj, &min, ret->root, ret->mnt) != 5)
		return false;
	if (sscanf(dash + 3, "%31s", ret->type) != 1)
		return false;
	unescape_mount(ret->root);
	unescape_mount(ret->mnt);
	ret->id = id;
	ret->dev = makedev(maj, min);
	return true;
}

int mounts_parse(const char *text, dev_t sb_dev, uint64_t mnt_id, struct mount_info *ret)
{
	struct mount_line *ml = malloc(sizeof(*ml));
	int best = -1; /* 2: root mount, 1: other */
	size_t best_len = 0;

	if (!ml)
		return -ENOMEM;
	for (int pass = sb_dev ? 1 : 0; pass < 2; pass++) {
		for (const char *p = text; *p;) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			int score;

			if (parse_line(p, len, ml)) {
				if (pass == 0) {
					if (ml->id == mnt_id)
						sb_dev = ml->dev;
				} else if (ml->dev == sb_dev) {
					score = strcmp(ml->root, "/") == 0 ? 2 : 1;
					if (score > best ||
					    (score == best && strlen(ml->mnt) < best_len)) {
						best = score;
						best_len = strlen(ml->mnt);
						ret->sb_dev = sb_dev;
						ret->root = score == 2;
						snprintf(ret->path, sizeof(ret->path), "%s",
							 ml->mnt);
						snprintf(ret->fstype, sizeof(ret->fstype), "%s",
							 ml->type);
					}
				}
			}
			p += len + (nl ? 1 : 0);
		}
		if (pass == 0 && !sb_dev)
			break;
	}
	free(ml);
	return best < 0 ? -ENOENT : 0;
}

int mounts_find(dev_t sb_dev, uint64_t mnt_id, struct mount_info *ret)
{
	char *text = NULL;
	int r = read_file("/proc/self/mountinfo", &text, NULL);

	if (r < 0)
		return r == -ENOENT ? -EIO : r; /* no /proc: unknown, not "unmounted" */
	r = mounts_parse(text, sb_dev, mnt_id, ret);
	free(text);
	return r;
}

void mount_ref_init(struct mount_ref *m, const char *path, dev_t dev)
{
	snprintf(m->path, sizeof(m->path), "%s", path);
	m->dev = dev;
	m->fd = -1;
}

int mount_ref_fd(struct mount_ref *m)
{
	struct stat st;

	if (m->fd >= 0)
		return m->fd;
	m->fd = open(m->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->fd < 0) {
		int r = -errno;
		/* the mount point is not there: what is below it is unknown, not gone */
		return r == -ENOENT || r == -ENOTDIR || r == -ESTALE ? -ENODEV : r;
	}
	if (fstat(m->fd, &st) < 0 || st.st_dev != m->dev) {
		m->fd = safe_close(m->fd);
		return -ENODEV;
	}
	return m->fd;
}

bool mount_ref_is_open(const struct mount_ref *m)
{
	return m->fd >= 0;
}

void mount_ref_release(struct mount_ref *m)
{
	m->fd = safe_close(m->fd);
}
