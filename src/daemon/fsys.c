/* SPDX-License-Identifier: MIT */
/*
 * fsys: tracked filesystems and the scopes (watched directories) on them.
 *
 * A filesystem is found by the st_dev of a scope. It gets an identity (the
 * filesystem UUID when the kernel gives one, else its fsid) that names its
 * journal directory under the state dir, and the handle of its mount root
 * recorded there: a different instance of "the same" filesystem (a tmpfs
 * made anew) has another root handle, and its stale journal is discarded,
 * so old tokens answer fresh instead of trusting handles blindly.
 *
 * Gaps (start-up, queue overflow, failed commits) are repaired here by
 * catch-up scans of every scope of the filesystem.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/fs.h>
#include <dirent.h>

#include "basic/log.h"
#include "basic/token.h"
#include "basic/util.h"
#include "daemon/daemon.h"
#include "fstrack.h"

#ifndef FS_IOC_GETFSUUID
struct fsuuid2 {
	__u8 len;
	__u8 uuid[16];
};
#define FS_IOC_GETFSUUID _IOR(0x15, 0, struct fsuuid2)
#endif

/* ---- handles ---------------------------------------------------------- */

int fhandle_of(int dirfd, const char *name, int flags, struct fhandle *ret)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + HANDLE_MAX];
	} u;
	int mount_id;

	u.fh.handle_bytes = HANDLE_MAX;
	if (name_to_handle_at(dirfd, name, &u.fh, &mount_id, flags) < 0)
		return -errno;
	ret->type = u.fh.handle_type;
	ret->len = (uint16_t)u.fh.handle_bytes;
	memcpy(ret->bytes, u.fh.f_handle, u.fh.handle_bytes);
	return 0;
}

bool fhandle_eq(const struct fhandle *a, const struct fhandle *b)
{
	return a->type == b->type && a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

/*
 * The base for open_by_handle_at: a (not O_PATH) fd of the mount root. It
 * is opened on demand and closed after each round of the main loop
 * (fsys_release_mount), so the daemon never keeps a filesystem busy and
 * cannot be unmounted under it. The device is checked: something else
 * mounted over the same path must not decode our handles.
 */
int fsys_mount_fd(struct fsys *fs)
{
	struct stat st;

	if (fs->mount_fd >= 0)
		return fs->mount_fd;
	fs->mount_fd = open(fs->mount_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->mount_fd < 0)
		return -errno;
	if (fstat(fs->mount_fd, &st) < 0 || st.st_dev != fs->dev) {
		fs->mount_fd = safe_close(fs->mount_fd);
		return -ENODEV;
	}
	return fs->mount_fd;
}

void fsys_release_mount(struct fsys *fs)
{
	fs->mount_fd = safe_close(fs->mount_fd);
}

int fsys_resolve(struct fsys *fs, const struct fhandle *h, char *buf, size_t len)
{
	union {
		struct file_handle fh;
		char raw[sizeof(struct file_handle) + HANDLE_MAX];
	} u;
	struct stat a, b;
	int fd, r;

	u.fh.handle_bytes = h->len;
	u.fh.handle_type = h->type;
	memcpy(u.fh.f_handle, h->bytes, h->len);
	r = fsys_mount_fd(fs);
	if (r < 0)
		return r;
	fd = open_by_handle_at(r, &u.fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fd_get_path(fd, buf, len);
	if (r == 0 && fstat(fd, &a) < 0)
		r = -errno;
	/*
	 * The kernel's name for the fd must lead back to the same inode: an
	 * object outside the mount's root shows as the root, a deleted one as
	 * "... (deleted)". Either way it has no path under any scope.
	 */
	if (r == 0 && (stat(buf, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino))
		r = -ESTALE;
	safe_close(fd);
	return r;
}

/* ---- mounts ----------------------------------------------------------- */

static void unescape_mount(char *s)
{
	char *w = s;

	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
			*w++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
}

/*
 * Find where the filesystem with superblock device sb_dev is mounted,
 * preferring a mount of the filesystem's root (so every directory handle
 * resolves to a real path) and, among those, the shortest mount point.
 * With sb_dev == 0, first look up the device of mount id mnt_id: btrfs
 * gives files the st_dev of their subvolume, not the superblock's.
 */
static int find_mount(dev_t sb_dev, uint64_t mnt_id, dev_t *ret_sb_dev, char *ret_path,
		      size_t len, char *ret_type, size_t tlen)
{
	char *text = NULL, *save = NULL;
	int r = read_file("/proc/self/mountinfo", &text, NULL);
	int best = -1; /* 2: root mount, 1: other */
	size_t best_len = 0;

	if (r < 0)
		return r;
	for (int pass = sb_dev ? 1 : 0; pass < 2; pass++) {
		char *copy = strdup(text);
		if (!copy) {
			free(text);
			return -ENOMEM;
		}
		save = NULL;
		for (char *line = strtok_r(copy, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			unsigned maj, min;
			unsigned long long id;
			char root[PATH_MAX], mnt[PATH_MAX], type[64];
			char *dash = strstr(line, " - ");
			int score;

			if (!dash || sscanf(line, "%llu %*d %u:%u %4095s %4095s", &id, &maj, &min,
					    root, mnt) != 5)
				continue;
			if (pass == 0) {
				if (id == mnt_id)
					sb_dev = makedev(maj, min);
				continue;
			}
			if (makedev(maj, min) != sb_dev || sscanf(dash + 3, "%63s", type) != 1)
				continue;
			unescape_mount(root);
			unescape_mount(mnt);
			score = strcmp(root, "/") == 0 ? 2 : 1;
			if (score > best || (score == best && strlen(mnt) < best_len)) {
				best = score;
				best_len = strlen(mnt);
				snprintf(ret_path, len, "%s", mnt);
				snprintf(ret_type, tlen, "%s", type);
			}
		}
		free(copy);
		if (pass == 0 && !sb_dev)
			break;
	}
	free(text);
	if (ret_sb_dev)
		*ret_sb_dev = sb_dev;
	return best < 0 ? -ENOENT : 0;
}

/* ---- identity and journal ------------------------------------------------ */

static void fs_identity(int fd, char *ret, size_t len)
{
	struct fsuuid2 u = {.len = 16};
	struct statfs sf;
	bool nonzero = false;

	if (ioctl(fd, FS_IOC_GETFSUUID, &u) == 0 && u.len == 16) {
		for (int i = 0; i < 16; i++)
			nonzero |= u.uuid[i] != 0;
	}
	if (nonzero) {
		char hex[33];
		hex_encode(u.uuid, 16, hex);
		snprintf(ret, len, "uuid-%s", hex);
	} else if (fstatfs(fd, &sf) == 0) {
		uint32_t v[2];
		memcpy(v, &sf.f_fsid, sizeof(v));
		snprintf(ret, len, "fsid-%08x%08x", v[0], v[1]);
	} else {
		snprintf(ret, len, "unknown");
	}
}

static int remove_dir_contents(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dp))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (unlinkat(dirfd(dp), de->d_name, 0) < 0 && r == 0)
			r = -errno;
	}
	closedir(dp);
	return r;
}

/*
 * Open the journal of fs; first check that the journal belongs to this very
 * filesystem instance (same root handle), else start it anew.
 */
static int open_journal(struct fsys *fs, const struct fhandle *root)
{
	struct daemon *d = fs->d;
	struct journal_options jo = {.segment_bytes = d->cfg.segment_bytes,
				     .max_bytes = d->cfg.max_journal_bytes};
	char dir[PATH_MAX], idpath[PATH_MAX], want[2 * HANDLE_MAX + 32];
	char *have = NULL;
	int r;

	snprintf(dir, sizeof(dir), "%s/journals/%s", d->cfg.state_dir, fs->id);
	snprintf(idpath, sizeof(idpath), "%s/identity", dir);
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return log_errno(LOG_LEVEL_ERR, r, "cannot create %s", dir);
	snprintf(want, sizeof(want), "%d:", root->type);
	hex_encode(root->bytes, root->len, want + strlen(want));
	strcat(want, "\n");
	if (read_file(idpath, &have, NULL) == 0 && strcmp(have, want) != 0) {
		log_warn("%s: the filesystem at %s is another instance than the one journaled in "
			 "%s; starting a new journal (old tokens answer fresh)",
			 fs->id, fs->mount_path, dir);
		r = remove_dir_contents(dir);
		if (r < 0)
			log_errno(LOG_LEVEL_WARN, r, "cannot clear %s", dir);
		free(have);
		have = NULL;
	}
	if (!have) {
		r = write_file_atomic(idpath, want, strlen(want), 0600);
		if (r < 0)
			return log_errno(LOG_LEVEL_ERR, r, "cannot write %s", idpath);
	}
	free(have);
	r = journal_open(dir, &jo, &fs->journal);
	if (r < 0)
		return log_errno(LOG_LEVEL_ERR, r, "cannot open the journal in %s", dir);
	return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

struct fsys *fsys_free(struct fsys *fs)
{
	if (!fs)
		return NULL;
	if (fs->scan) {
		scan_cancel(fs->scan);
		scan_join_free(fs->scan);
	}
	if (fs->fan_fd >= 0)
		daemon_epoll_del(fs->d, fs->fan_fd);
	if (fs->scan_efd >= 0)
		daemon_epoll_del(fs->d, fs->scan_efd);
	safe_close(fs->fan_fd);
	safe_close(fs->scan_efd);
	safe_close(fs->mount_fd);
	fs->journal = journal_free(fs->journal);
	fs->recorded = hashmap_free(fs->recorded);
	free(fs->finds);
	free(fs->scan_roots);
	pthread_mutex_destroy(&fs->scan_lock);
	free(fs);
	return NULL;
}

/*
 * The tracked filesystem a directory is on: by st_dev, or (btrfs
 * subvolumes have st_devs of their own) by the superblock device of its
 * mount, which is then remembered as another st_dev of that filesystem.
 */
struct fsys *fsys_find(struct daemon *d, int dirfd)
{
	struct stat st;
	struct statx stx;
	dev_t sb_dev = 0;
	char path[PATH_MAX], type[64];

	if (fstat(dirfd, &st) < 0)
		return NULL;
	for (struct fsys *fs = d->filesystems; fs; fs = fs->next) {
		if (fs->dev == st.st_dev)
			return fs;
		for (size_t i = 0; i < fs->n_extra_devs; i++)
			if (fs->extra_devs[i] == st.st_dev)
				return fs;
	}
	if (statx(dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 ||
	    find_mount(0, stx.stx_mnt_id, &sb_dev, path, sizeof(path), type, sizeof(type)) < 0)
		return NULL;
	for (struct fsys *fs = d->filesystems; fs; fs = fs->next) {
		if (fs->sb_dev != sb_dev || fs->n_extra_devs == ARRAY_SIZE(fs->extra_devs))
			continue;
		fs->extra_devs[fs->n_extra_devs++] = st.st_dev;
		return fs;
	}
	return NULL;
}

int fsys_for_dir(struct daemon *d, int dirfd, const char *path, struct fsys **ret, char *errbuf,
		 size_t errlen)
{
	struct stat st;
	struct fsys *fs;
	struct fhandle root;
	int r;

	if (fstat(dirfd, &st) < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "cannot stat %s: %s", path, strerror(-r));
		return r;
	}
	fs = fsys_find(d, dirfd);
	if (fs) {
		*ret = fs;
		return 0;
	}

	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->d = d;
	fs->fan_fd = fs->scan_efd = fs->mount_fd = -1;
	pthread_mutex_init(&fs->scan_lock, NULL);
	fs->recorded = hashmap_new();
	if (!fs->recorded) {
		fsys_free(fs);
		return -ENOMEM;
	}
	{
		struct statx stx;
		if (statx(dirfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
			r = -errno;
		else
			r = find_mount(0, stx.stx_mnt_id, &fs->sb_dev, fs->mount_path,
				       sizeof(fs->mount_path), fs->fstype, sizeof(fs->fstype));
	}
	if (r == 0 && stat(fs->mount_path, &st) < 0)
		r = -errno;
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot find the mount of %s in /proc/self/mountinfo", path);
		fsys_free(fs);
		return r;
	}
	fs->dev = st.st_dev; /* of the mount root: a btrfs subvolume below has another */
	r = fsys_mount_fd(fs);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot open mount point %s: %s", fs->mount_path,
			 strerror(-r));
		fsys_free(fs);
		return r;
	}
	r = fhandle_of(fs->mount_fd, "", AT_EMPTY_PATH, &root);
	if (r < 0) {
		snprintf(errbuf, errlen,
			 "the filesystem of %s (%s) cannot give file handles (%s); fstrack cannot "
			 "track it",
			 path, fs->fstype, strerror(-r));
		fsys_free(fs);
		return r == -EOPNOTSUPP ? r : -EOPNOTSUPP;
	}
	fs_identity(dirfd, fs->id, sizeof(fs->id));
	r = watcher_open(fs, fs->mount_path, errbuf, errlen);
	if (r < 0) {
		fsys_free(fs);
		return r;
	}
	fs->last_drain_ns = now_realtime_ns(); /* the mark is in place from here on */
	r = open_journal(fs, &root);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot open the journal for %s under %s: %s", path,
			 d->cfg.state_dir, strerror(-r));
		fsys_free(fs);
		return r;
	}
	fs->scan_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fs->scan_efd < 0) {
		r = -errno;
		fsys_free(fs);
		return r;
	}
	fs->fan_tag = (struct ev_tag){EV_FANOTIFY, fs};
	fs->scan_tag = (struct ev_tag){EV_SCAN, fs};
	r = daemon_epoll_add(d, fs->fan_fd, EPOLLIN, &fs->fan_tag);
	if (r == 0)
		r = daemon_epoll_add(d, fs->scan_efd, EPOLLIN, &fs->scan_tag);
	if (r < 0) {
		snprintf(errbuf, errlen, "epoll: %s", strerror(-r));
		fsys_free(fs);
		return r;
	}
	{
		struct jrec start = {.type = JREC_START, .time_ns = now_realtime_ns()};
		struct journal_stats js;

		journal_get_stats(fs->journal, &js);
		journal_append(fs->journal, &start);
		/*
		 * A journal with history has a gap from its durable watermark to
		 * now: whatever changed while nobody watched is found by a scan.
		 */
		if (js.next_seq > js.first_seq || js.watermark_ns) {
			/* started by fsys_kick() once the scopes are attached */
			fs->gap_pending = true;
			fs->pending_gap_ns = js.watermark_ns;
			log_info("%s: gap since the watermark %" PRIu64 " (%s) will be scanned",
				 fs->mount_path, js.watermark_ns,
				 js.recovered_clean ? "clean stop" : "crash or power loss");
		}
		log_info("tracking %s (%s, %s) records %" PRIu64 "..%" PRIu64
			 ", watermark %" PRIu64 "%s",
			 fs->mount_path, fs->fstype, fs->id, js.first_seq, js.next_seq,
			 js.watermark_ns, js.truncated_bytes ? ", torn tail truncated" : "");
	}
	fs->next = d->filesystems;
	d->filesystems = fs;
	*ret = fs;
	return 0;
}

/* ---- commits, tokens, epochs ------------------------------------------- */

uint64_t fsys_watermark(const struct fsys *fs)
{
	uint64_t w = fs->last_drain_ns;

	if (fs->scanning && fs->scanning_gap_ns < w)
		w = fs->scanning_gap_ns;
	if (fs->gap_pending && fs->pending_gap_ns < w)
		w = fs->pending_gap_ns;
	return w;
}

int fsys_commit(struct fsys *fs)
{
	int r = journal_commit(fs->journal, fsys_watermark(fs));

	if (r < 0) {
		struct journal_stats js;

		fs->commit_errors++;
		if (fs->last_commit_error != r)
			log_errno(LOG_LEVEL_ERR, r,
				  "cannot commit the journal of %s; the records since the last "
				  "commit are lost (tokens before them will answer fresh)",
				  fs->mount_path);
		fs->last_commit_error = r;
		/* What was recorded this epoch is gone: record it again. */
		recorder_reset(fs);
		journal_get_stats(fs->journal, &js);
		fsys_gap(fs, js.watermark_ns, "failed journal commit");
		return r;
	}
	if (fs->last_commit_error) {
		log_info("the journal of %s commits again", fs->mount_path);
		fs->last_commit_error = 0;
		fsys_kick(fs);
	}
	return 0;
}

void fsys_new_epoch(struct fsys *fs)
{
	recorder_reset(fs);
}

int fsys_drain(struct fsys *fs)
{
	int r = watcher_read(fs);

	return r < 0 ? r : 0;
}

int fsys_token(struct fsys *fs, char *buf)
{
	struct token t;
	int r = fsys_drain(fs);

	if (r < 0)
		return r;
	/* The token must name a durable position; skip the fdatasync when it is. */
	if (journal_dirty(fs->journal) ||
	    journal_durable_seq(fs->journal) != journal_next_seq(fs->journal)) {
		r = fsys_commit(fs);
		if (r < 0)
			return r;
	}
	fsys_new_epoch(fs);
	memcpy(t.uuid, journal_uuid(fs->journal), 16);
	t.seq = journal_next_seq(fs->journal);
	token_format(&t, buf);
	return 0;
}

/* ---- gaps and catch-up scans -------------------------------------------- */

bool fsys_scan_busy(const struct fsys *fs)
{
	return fs->scanning || fs->gap_pending;
}

static int scan_emit(void *userdata, const struct file_handle *dir, const char *name,
		     unsigned kinds)
{
	struct fsys *fs = userdata;
	struct scan_find *f;
	int r = 0;

	if (dir->handle_bytes > HANDLE_MAX || strlen(name) > 255)
		return 0;
	pthread_mutex_lock(&fs->scan_lock);
	if (fs->n_finds == fs->cap_finds) {
		size_t ncap = fs->cap_finds ? fs->cap_finds * 2 : 256;
		struct scan_find *nf = realloc(fs->finds, ncap * sizeof(*nf));
		if (!nf) {
			r = -ENOMEM;
			goto out;
		}
		fs->finds = nf;
		fs->cap_finds = ncap;
	}
	f = &fs->finds[fs->n_finds++];
	f->dir.type = dir->handle_type;
	f->dir.len = (uint16_t)dir->handle_bytes;
	memcpy(f->dir.bytes, dir->f_handle, dir->handle_bytes);
	f->kinds = (uint8_t)kinds;
	snprintf(f->name, sizeof(f->name), "%s", name);
out:
	pthread_mutex_unlock(&fs->scan_lock);
	return r;
}

static int start_next_root(struct fsys *fs)
{
	struct daemon *d = fs->d;
	struct stat st;
	uint64_t margin = (uint64_t)d->cfg.margin_ms * 1000000ull;
	uint64_t cutoff = fs->scanning_gap_ns > margin ? fs->scanning_gap_ns - margin : 0;

	while (fs->n_scan_roots > 0) {
		struct scope *s = fs->scan_roots[--fs->n_scan_roots];
		char path[PATH_MAX];
		struct scan_params p = {0};
		int fd, r;

		r = fsys_resolve(fs, &s->handle, path, sizeof(path));
		if (r < 0) {
			log_warn("scope %s vanished (%s); its tokens answer fresh", s->path,
				 strerror(-r));
			continue;
		}
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			log_warn("cannot open scope %s for a catch-up scan: %s", path,
				 strerror(errno));
			fs->scan_error = -errno;
			continue;
		}
		p.root_fd = fd;
		p.cutoff_sec = (int64_t)(cutoff / 1000000000ull);
		p.cutoff_nsec = (uint32_t)(cutoff % 1000000000ull);
		p.threads = d->cfg.scan_threads;
		if (stat(d->cfg.state_dir, &st) == 0) {
			p.exclude_dev = st.st_dev;
			p.exclude_ino = st.st_ino;
		}
		p.prune_recursive = true; /* all below a recursive directory is covered */
		p.done_eventfd = fs->scan_efd;
		p.emit = scan_emit;
		p.userdata = fs;
		r = scan_start(&p, &fs->scan);
		safe_close(fd);
		if (r < 0) {
			log_errno(LOG_LEVEL_ERR, r, "cannot start a catch-up scan of %s", path);
			fs->scan_error = r;
			continue;
		}
		log_info("catch-up scan of %s for changes since %" PRIu64 ".%09" PRIu64, path,
			 (uint64_t)(cutoff / 1000000000ull), (uint64_t)(cutoff % 1000000000ull));
		return 1;
	}
	return 0;
}

/* Is scope a nested in another active scope b of the same fs? */
static bool scope_nested(struct fsys *fs, struct scope *a)
{
	char pa[PATH_MAX], pb[PATH_MAX];

	if (fsys_resolve(fs, &a->handle, pa, sizeof(pa)) < 0)
		return false;
	for (struct scope *b = fs->d->scopes; b; b = b->next) {
		if (b == a || b->fs != fs || b->state != SCOPE_ACTIVE)
			continue;
		if (fsys_resolve(fs, &b->handle, pb, sizeof(pb)) == 0 && strcmp(pa, pb) != 0 &&
		    path_under(pa, pb, NULL))
			return true;
	}
	return false;
}

static void start_scan(struct fsys *fs)
{
	size_t n = 0;

	fs->scanning = true;
	fs->scanning_gap_ns = fs->pending_gap_ns;
	fs->gap_pending = false;
	fs->scan_error = 0;
	memset(&fs->scan_done_total, 0, sizeof(fs->scan_done_total));
	fs->last_scan_ns = now_monotonic_ns();
	free(fs->scan_roots);
	fs->scan_roots = NULL;
	fs->n_scan_roots = 0;
	for (struct scope *s = fs->d->scopes; s; s = s->next)
		if (s->fs == fs && s->state == SCOPE_ACTIVE)
			n++;
	fs->scan_roots = calloc(n ? n : 1, sizeof(*fs->scan_roots));
	if (!fs->scan_roots) {
		fs->scan_error = -ENOMEM;
	} else {
		for (struct scope *s = fs->d->scopes; s; s = s->next)
			if (s->fs == fs && s->state == SCOPE_ACTIVE && !scope_nested(fs, s))
				fs->scan_roots[fs->n_scan_roots++] = s;
	}
	if (start_next_root(fs) == 0)
		fsys_scan_finished(fs);
}

/*
 * Start the scan of a pending gap, unless one runs or the journal cannot
 * commit (what a scan finds could not be kept; it waits for a commit that
 * works instead of scanning in a loop).
 */
void fsys_kick(struct fsys *fs)
{
	if (fs->gap_pending && !fs->scanning && !fs->last_commit_error)
		start_scan(fs);
}

void fsys_gap(struct fsys *fs, uint64_t since_ns, const char *why)
{
	if (!fs->gap_pending || since_ns < fs->pending_gap_ns) {
		log_info("%s on %s: changes since the watermark %" PRIu64
			 " will be found by a scan",
			 why, fs->mount_path, since_ns);
		fs->pending_gap_ns = since_ns;
	}
	fs->gap_pending = true;
	fsys_kick(fs);
}

/* The eventfd said a scan ended (or start_scan had nothing to scan). */
void fsys_scan_finished(struct fsys *fs)
{
	struct scan_progress pr;
	uint64_t v;
	size_t n;

	if (fs->scan) {
		if (read(fs->scan_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_errno(LOG_LEVEL_WARN, -errno, "scan eventfd");
		scan_get_progress(fs->scan, &pr);
		if (!pr.done)
			return; /* spurious wake-up */
		int r = scan_join_free(fs->scan);
		fs->scan = NULL;
		fs->scan_done_total.dirs += pr.dirs;
		fs->scan_done_total.inodes += pr.inodes;
		fs->scan_done_total.emitted += pr.emitted;
		fs->scan_done_total.errors += pr.errors;
		if (r < 0) {
			log_errno(LOG_LEVEL_ERR, r, "catch-up scan of %s failed", fs->mount_path);
			fs->scan_error = r;
		}
		if (start_next_root(fs) > 0)
			return;
	}

	/* All roots done: record what was found, make it durable. */
	pthread_mutex_lock(&fs->scan_lock);
	n = fs->n_finds;
	for (size_t i = 0; i < n; i++) {
		struct scan_find *f = &fs->finds[i];
		int r = recorder_note(fs, &f->dir, f->name, strlen(f->name), f->kinds);
		if (r < 0 && !fs->scan_error)
			fs->scan_error = r;
	}
	fs->n_finds = 0;
	pthread_mutex_unlock(&fs->scan_lock);

	if (fs->scan_error) {
		/* We cannot say what changed in the gap: be honest about it. */
		fs->fresh_before_seq = journal_next_seq(fs->journal);
		log_error("catch-up scan of %s incomplete (%s): tokens issued before now answer "
			  "fresh",
			  fs->mount_path, strerror(-fs->scan_error));
	}
	fs->scanning = false;
	fs->last_scan_duration_ns = now_monotonic_ns() - fs->last_scan_ns;
	fs->last_scan_inodes = fs->scan_done_total.inodes;
	log_info("catch-up scan of %s done: %" PRIu64 " inodes, %zu places recorded, %.3f s",
		 fs->mount_path, fs->scan_done_total.inodes, n,
		 (double)fs->last_scan_duration_ns / 1e9);
	fsys_commit(fs);
	if (fs->gap_pending)
		start_scan(fs);
	else
		server_fs_ready(fs->d, fs);
}

/* ---- scopes ------------------------------------------------------------- */

struct scope *scope_find_for(struct daemon *d, struct fsys *fs, const char *canon_path,
			     bool exact)
{
	struct scope *best = NULL;
	size_t best_len = 0;
	char sp[PATH_MAX];

	for (struct scope *s = d->scopes; s; s = s->next) {
		if (s->fs != fs || s->state != SCOPE_ACTIVE)
			continue;
		if (fsys_resolve(fs, &s->handle, sp, sizeof(sp)) < 0)
			continue;
		if (exact ? strcmp(sp, canon_path) == 0 : path_under(canon_path, sp, NULL)) {
			/* the outermost scope covers the longest history */
			if (!best || strlen(sp) < best_len || s->added_seq < best->added_seq) {
				best = s;
				best_len = strlen(sp);
			}
		}
	}
	return best;
}

int scopes_save(struct daemon *d)
{
	struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
	const char *text;
	int r;

	if (!root || !arr) {
		json_object_put(root);
		json_object_put(arr);
		return -ENOMEM;
	}
	json_object_object_add(root, "version", json_object_new_int(1));
	for (struct scope *s = d->scopes; s; s = s->next) {
		struct json_object *o = json_object_new_object();
		char hex[2 * HANDLE_MAX + 1];

		hex_encode(s->handle.bytes, s->handle.len, hex);
		json_object_object_add(o, "path", json_object_new_string(s->path));
		json_object_object_add(o, "filesystem", json_object_new_string(s->fs_id));
		json_object_object_add(o, "handle_type", json_object_new_int(s->handle.type));
		json_object_object_add(o, "handle", json_object_new_string(hex));
		json_object_object_add(o, "journal", json_object_new_string(s->journal_uuid));
		json_object_object_add(o, "added_seq", json_object_new_uint64(s->added_seq));
		json_object_array_add(arr, o);
	}
	json_object_object_add(root, "scopes", arr);
	text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
	r = write_file_atomic(d->scopes_path, text, strlen(text), 0600);
	json_object_put(root);
	if (r < 0)
		log_errno(LOG_LEVEL_ERR, r, "cannot save %s", d->scopes_path);
	return r;
}

/*
 * Attach scope s to its filesystem if its directory is there and is still
 * the same directory. Returns 0 when active.
 */
static int scope_attach(struct daemon *d, struct scope *s, char *errbuf, size_t errlen)
{
	struct fsys *fs;
	struct fhandle now;
	char hex[33];
	int fd, r;

	fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "%s: %s", s->path, strerror(-r));
		return r;
	}
	r = fsys_for_dir(d, fd, s->path, &fs, errbuf, errlen);
	if (r == 0)
		r = fhandle_of(fd, "", AT_EMPTY_PATH, &now);
	safe_close(fd);
	if (r < 0)
		return r;
	journal_uuid_hex(fs->journal, hex);
	if (strcmp(hex, s->journal_uuid) != 0 || !fhandle_eq(&now, &s->handle)) {
		/*
		 * Another directory now stands at this path, or the journal was
		 * started anew: what the scope's tokens refer to is gone.
		 */
		log_warn("scope %s: %s; its old tokens answer fresh", s->path,
			 strcmp(hex, s->journal_uuid) ? "the journal was started anew"
						      : "the directory was replaced");
		s->handle = now;
		snprintf(s->journal_uuid, sizeof(s->journal_uuid), "%s", hex);
		s->added_seq = journal_next_seq(fs->journal);
	}
	s->fs = fs;
	snprintf(s->fs_id, sizeof(s->fs_id), "%s", fs->id);
	s->state = SCOPE_ACTIVE;
	return 0;
}

int scopes_load(struct daemon *d)
{
	struct json_object *root, *arr;
	char *text = NULL;
	int r = read_file(d->scopes_path, &text, NULL);
	struct scope **tail = &d->scopes;

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return log_errno(LOG_LEVEL_ERR, r, "cannot read %s", d->scopes_path);
	root = json_tokener_parse(text);
	free(text);
	if (!root || !json_object_object_get_ex(root, "scopes", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		json_object_put(root);
		log_error("%s is damaged; starting with no scopes (watch them again)",
			  d->scopes_path);
		return -EBADMSG;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i), *v;
		struct scope *s = calloc(1, sizeof(*s));
		size_t len = 0;
		char errbuf[512];

		if (!s)
			break;
		if (json_object_object_get_ex(o, "path", &v))
			snprintf(s->path, sizeof(s->path), "%s", json_object_get_string(v));
		if (json_object_object_get_ex(o, "filesystem", &v))
			snprintf(s->fs_id, sizeof(s->fs_id), "%s", json_object_get_string(v));
		if (json_object_object_get_ex(o, "journal", &v))
			snprintf(s->journal_uuid, sizeof(s->journal_uuid), "%s",
				 json_object_get_string(v));
		if (json_object_object_get_ex(o, "handle_type", &v))
			s->handle.type = json_object_get_int(v);
		if (json_object_object_get_ex(o, "added_seq", &v))
			s->added_seq = json_object_get_uint64(v);
		if (!json_object_object_get_ex(o, "handle", &v) ||
		    hex_decode(json_object_get_string(v), s->handle.bytes, HANDLE_MAX, &len) < 0 ||
		    s->path[0] != '/') {
			log_warn("%s: entry %zu is damaged; skipped", d->scopes_path, i);
			free(s);
			continue;
		}
		s->handle.len = (uint16_t)len;
		bool dup = false;
		for (struct scope *other = d->scopes; other; other = other->next)
			dup |= strcmp(other->path, s->path) == 0;
		if (dup) {
			log_warn("%s: %s is listed twice; the second entry is dropped",
				 d->scopes_path, s->path);
			free(s);
			continue;
		}
		s->state = SCOPE_MISSING;
		*tail = s;
		tail = &s->next;
		r = scope_attach(d, s, errbuf, sizeof(errbuf));
		if (r < 0)
			log_warn("scope %s is not available: %s (tracking resumes when it is back)",
				 s->path, errbuf);
		else
			log_info("watching %s again", s->path);
	}
	json_object_put(root);
	for (struct fsys *fs = d->filesystems; fs; fs = fs->next)
		fsys_kick(fs);
	return scopes_save(d);
}

/* Take s off the scope list (and off a scan still to come) and free it. */
static void scope_unlink(struct daemon *d, struct scope *s)
{
	struct scope **pp;
	struct fsys *fs = s->fs;

	for (pp = &d->scopes; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	log_info("no longer watching %s", s->path);
	if (fs) {
		/* a scan still to come must not visit a freed scope */
		for (size_t i = 0; i < fs->n_scan_roots; i++)
			if (fs->scan_roots[i] == s)
				fs->scan_roots[i] = fs->scan_roots[--fs->n_scan_roots];
	}
	free(s);
}

int scope_add(struct daemon *d, const char *path, char *errbuf, size_t errlen,
	      struct scope **ret)
{
	struct scope *s;
	struct fsys *fs;
	char canon[PATH_MAX];
	int fd, r;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "cannot open %s: %s", path, strerror(-r));
		return r;
	}
	r = fsys_for_dir(d, fd, path, &fs, errbuf, errlen);
	if (r == 0) {
		r = query_canonical_dir(fs, fd, canon, sizeof(canon));
		if (r < 0)
			snprintf(errbuf, errlen, "cannot resolve %s through %s: %s", path,
				 fs->mount_path, strerror(-r));
	}
	if (r < 0) {
		safe_close(fd);
		return r;
	}
	/* A scope at this path whose directory is gone is replaced. */
	for (struct scope *o = d->scopes; o; o = o->next) {
		char now[PATH_MAX];
		if (o->fs == fs && strcmp(o->path, canon) == 0 &&
		    fsys_resolve(fs, &o->handle, now, sizeof(now)) < 0) {
			scope_unlink(d, o); /* the filesystem stays: it gets the new scope */
			break;
		}
	}
	s = scope_find_for(d, fs, canon, true);
	if (s) {
		safe_close(fd);
		*ret = s;
		return 0; /* watching twice is fine: same scope */
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		safe_close(fd);
		return -ENOMEM;
	}
	r = fhandle_of(fd, "", AT_EMPTY_PATH, &s->handle);
	safe_close(fd);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot get a file handle for %s: %s", path, strerror(-r));
		free(s);
		return r;
	}
	snprintf(s->path, sizeof(s->path), "%s", canon);
	snprintf(s->fs_id, sizeof(s->fs_id), "%s", fs->id);
	journal_uuid_hex(fs->journal, s->journal_uuid);
	s->fs = fs;
	s->state = SCOPE_ACTIVE;
	/* Commit first so the scope's first seq is a durable position. */
	r = fsys_drain(fs);
	if (r == 0)
		r = fsys_commit(fs);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot commit the journal: %s", strerror(-r));
		free(s);
		return r;
	}
	s->added_seq = journal_next_seq(fs->journal);
	s->next = d->scopes;
	d->scopes = s;
	r = scopes_save(d);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot save the scope list in %s: %s", d->scopes_path,
			 strerror(-r));
		d->scopes = s->next;
		free(s);
		return r;
	}
	log_info("watching %s", canon);
	*ret = s;
	return 0;
}

int scope_remove(struct daemon *d, struct scope *s)
{
	struct fsys *fs = s->fs;
	bool fs_used = false;

	scope_unlink(d, s);
	for (struct scope *o = d->scopes; o; o = o->next)
		fs_used |= o->fs == fs;
	if (fs && !fs_used) {
		/* Nobody watches this filesystem any more: drop its mark. */
		struct fsys **fp;
		fsys_commit(fs);
		for (fp = &d->filesystems; *fp; fp = &(*fp)->next)
			if (*fp == fs) {
				*fp = fs->next;
				break;
			}
		server_fs_ready(d, fs); /* streams on it end with "gap" */
		fsys_free(fs);
	}
	return scopes_save(d);
}

/*
 * The mount table changed: a filesystem whose mount went away is closed
 * (its scopes wait as missing); a missing scope whose directory is back is
 * attached again, and the scan of its gap starts.
 */
void daemon_recheck_mounts(struct daemon *d)
{
	struct fsys **fp = &d->filesystems;

	while (*fp) {
		struct fsys *fs = *fp;
		char path[PATH_MAX], type[64];
		struct stat st;

		if (stat(fs->mount_path, &st) == 0 && st.st_dev == fs->dev &&
		    find_mount(fs->sb_dev, 0, NULL, path, sizeof(path), type, sizeof(type)) == 0) {
			fp = &fs->next;
			continue;
		}
		log_warn("%s (%s) was unmounted; its scopes wait for it to come back",
			 fs->mount_path, fs->id);
		for (struct scope *s = d->scopes; s; s = s->next)
			if (s->fs == fs) {
				s->fs = NULL;
				s->state = SCOPE_MISSING;
			}
		fsys_commit(fs);
		*fp = fs->next;
		server_fs_ready(d, fs); /* fail queries waiting on it */
		fsys_free(fs);
	}
	for (struct scope *s = d->scopes; s; s = s->next) {
		char errbuf[512];
		if (s->state == SCOPE_MISSING && scope_attach(d, s, errbuf, sizeof(errbuf)) == 0) {
			log_info("scope %s is back", s->path);
			fsys_kick(s->fs);
			scopes_save(d);
		}
	}
}
