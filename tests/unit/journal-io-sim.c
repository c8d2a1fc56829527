/* SPDX-License-Identifier: MIT */
#include "journal-io-sim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/util.h"

#define JIO_RULES_MAX 16

struct jio_rule {
	enum jio_op op;
	uint64_t nth;
	int err;
	size_t partial;
};

/*
 * What crash simulation knows about one file (really one inode under one
 * name): its content at the last sync, and whether its name is durable.
 */
struct jio_file {
	char *path;
	char *dir;
	uint8_t *synced;
	size_t synced_len;
	bool entry_durable; /* the name survives a crash */
	bool removed;	    /* unlinked or renamed away, not yet made durable */
	/*
	 * The directory operation not yet made durable that decides this
	 * record's fate: the one that created the name (!entry_durable) or
	 * that removed it (removed). A seeded crash keeps each such operation
	 * or not, independently (a filesystem may persist them in any order).
	 */
	uint64_t name_op;
};

struct jio_fdmap {
	int fd;
	struct jio_file *file;
};

struct jio_sim {
	struct jio base; /* first: a struct jio * is a struct jio_sim * */
	uint64_t counts[_JIO_OP_MAX];
	uint64_t total;
	jio_fault_fn fault;
	void *userdata;
	struct jio_rule rules[JIO_RULES_MAX];
	size_t n_rules;

	bool tracking;
	bool skip_real_sync;
	uint64_t name_ops; /* directory operations numbered */
	struct jio_file **files;
	size_t n_files, cap_files;
	struct jio_fdmap *fds;
	size_t n_fds, cap_fds;
};

static const char *const op_names[_JIO_OP_MAX] = {
    [JIO_OPEN] = "open",	  [JIO_READ] = "read",	   [JIO_WRITE] = "write",
    [JIO_DATASYNC] = "fdatasync", [JIO_FSYNC] = "fsync",   [JIO_FSYNC_DIR] = "fsync-dir",
    [JIO_TRUNCATE] = "ftruncate", [JIO_RENAME] = "rename", [JIO_UNLINK] = "unlink",
    [JIO_MKDIR] = "mkdir",
};

const char *jio_op_name(enum jio_op op)
{
	return op < _JIO_OP_MAX ? op_names[op] : "?";
}

static const struct jio_ops sim_ops;

static struct jio_sim *sim(const struct jio *io)
{
	return (struct jio_sim *)io;
}

struct jio *jio_new(void)
{
	struct jio_sim *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	io->base.ops = &sim_ops;
	return &io->base;
}

static struct jio_file *file_free(struct jio_file *f)
{
	if (!f)
		return NULL;
	free(f->path);
	free(f->dir);
	free(f->synced);
	free(f);
	return NULL;
}

static void track_reset(struct jio_sim *io)
{
	for (size_t i = 0; i < io->n_files; i++)
		file_free(io->files[i]);
	free(io->files);
	free(io->fds);
	io->files = NULL;
	io->fds = NULL;
	io->n_files = io->n_fds = io->cap_files = io->cap_fds = 0;
}

struct jio *jio_free(struct jio *base)
{
	struct jio_sim *io = sim(base);

	if (!io)
		return NULL;
	track_reset(io);
	free(io);
	return NULL;
}

uint64_t jio_count(const struct jio *base, enum jio_op op)
{
	const struct jio_sim *io = sim(base);

	return io && op < _JIO_OP_MAX ? io->counts[op] : 0;
}

void jio_skip_real_sync(struct jio *base, bool skip)
{
	sim(base)->skip_real_sync = skip;
}

void jio_set_fault(struct jio *base, jio_fault_fn fn, void *userdata)
{
	struct jio_sim *io = sim(base);

	io->fault = fn;
	io->userdata = userdata;
}

int jio_fail_nth(struct jio *base, enum jio_op op, uint64_t nth, int err, size_t partial)
{
	struct jio_sim *io = sim(base);

	if (op >= _JIO_OP_MAX || err >= 0)
		return -EINVAL;
	if (io->n_rules >= JIO_RULES_MAX)
		return -ENOSPC;
	io->rules[io->n_rules++] = (struct jio_rule){op, nth, err, partial};
	return 0;
}

void jio_clear_faults(struct jio *base)
{
	struct jio_sim *io = sim(base);

	io->n_rules = 0;
	io->fault = NULL;
	io->userdata = NULL;
}

/* Count the call and ask the hook and the rules whether it fails. */
static int check(struct jio_sim *io, enum jio_op op, const char *name, size_t len,
		 size_t *ret_partial)
{
	struct jio_call call;
	size_t partial = 0;
	int r = 0;

	if (ret_partial)
		*ret_partial = 0;
	io->counts[op]++;
	io->total++;
	call = (struct jio_call){op, io->counts[op], io->total, name, len};
	if (io->fault)
		r = io->fault(io->userdata, &call, &partial);
	for (size_t i = 0; r == 0 && i < io->n_rules; i++) {
		if (io->rules[i].op == op && io->rules[i].nth == call.nth) {
			r = io->rules[i].err;
			partial = io->rules[i].partial;
		}
	}
	if (r < 0 && ret_partial)
		*ret_partial = partial < len ? partial : 0;
	return r < 0 ? r : 0;
}

/* ---- crash tracking ---- */

static int read_all_fd(int fd, uint8_t **ret, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	size_t len = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (len < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + len, (size_t)st.st_size - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

static int dir_path(int dirfd, char *buf, size_t size)
{
	if (dirfd == AT_FDCWD) {
		if (!getcwd(buf, size))
			return -errno;
		return 0;
	}
	return fd_get_path(dirfd, buf, size);
}

/* Split an openat-style (dirfd, name) into the directory path and the full path. */
static int make_paths(int dirfd, const char *name, char **ret_dir, char **ret_path)
{
	char d[PATH_MAX], *dir, *path;
	const char *base = name;
	int r;

	if (name[0] == '/') {
		const char *slash = strrchr(name, '/');
		size_t dlen = slash == name ? 1 : (size_t)(slash - name);
		if (dlen >= sizeof(d))
			return -ENAMETOOLONG;
		memcpy(d, name, dlen);
		d[dlen] = '\0';
		base = slash + 1;
	} else {
		r = dir_path(dirfd, d, sizeof(d));
		if (r < 0)
			return r;
		if (strchr(name, '/'))
			return -EINVAL; /* the journal only names files in its directory */
	}
	dir = strdup(d);
	if (!dir)
		return -ENOMEM;
	if (asprintf(&path, "%s/%s", strcmp(d, "/") == 0 ? "" : d, base) < 0) {
		free(dir);
		return -ENOMEM;
	}
	*ret_dir = dir;
	*ret_path = path;
	return 0;
}

static struct jio_file *find_file(struct jio_sim *io, const char *path)
{
	for (size_t i = 0; i < io->n_files; i++)
		if (!io->files[i]->removed && strcmp(io->files[i]->path, path) == 0)
			return io->files[i];
	return NULL;
}

static int add_file(struct jio_sim *io, struct jio_file *f)
{
	if (GROW(io->files, io->cap_files, io->n_files + 1) < 0)
		return -ENOMEM;
	io->files[io->n_files++] = f;
	return 0;
}

static void drop_file(struct jio_sim *io, struct jio_file *f)
{
	for (size_t i = 0; i < io->n_fds;) {
		if (io->fds[i].file == f)
			io->fds[i] = io->fds[--io->n_fds];
		else
			i++;
	}
	for (size_t i = 0; i < io->n_files; i++) {
		if (io->files[i] == f) {
			io->files[i] = io->files[--io->n_files];
			break;
		}
	}
	file_free(f);
}

static struct jio_file *new_file(const char *dir, const char *path)
{
	struct jio_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->dir = strdup(dir);
	f->path = strdup(path);
	if (!f->dir || !f->path)
		return file_free(f);
	return f;
}

/*
 * The record of an existing name, created on first sight: a file that
 * existed before we looked is taken as durable, as it is now.
 */
static int get_existing(struct jio_sim *io, const char *dir, const char *path,
			struct jio_file **ret)
{
	struct jio_file *f = find_file(io, path);
	int fd, r;

	if (f) {
		*ret = f;
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	f = new_file(dir, path);
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	r = read_all_fd(fd, &f->synced, &f->synced_len);
	close(fd);
	if (r < 0) {
		file_free(f);
		return r;
	}
	f->entry_durable = true;
	r = add_file(io, f);
	if (r < 0) {
		file_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

static struct jio_file *file_of_fd(struct jio_sim *io, int fd)
{
	for (size_t i = 0; io && i < io->n_fds; i++)
		if (io->fds[i].fd == fd)
			return io->fds[i].file;
	return NULL;
}

static int map_fd(struct jio_sim *io, int fd, struct jio_file *f)
{
	if (GROW(io->fds, io->cap_fds, io->n_fds + 1) < 0)
		return -ENOMEM;
	io->fds[io->n_fds++] = (struct jio_fdmap){fd, f};
	return 0;
}

int jio_track_unsynced(struct jio *base, bool on)
{
	struct jio_sim *io = sim(base);

	if (!io)
		return -EINVAL;
	track_reset(io);
	io->tracking = on;
	return 0;
}

static int write_whole(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r;

	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static uint32_t next_rand(uint32_t *state)
{
	/* xorshift32: deterministic per seed, which is what a test wants */
	uint32_t x = *state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *state = x;
}

/* Did the directory operation op reach the disk before the power cut? */
static bool op_kept(uint32_t seed, uint64_t op)
{
	uint32_t x = seed ^ (uint32_t)(op * 0x9e3779b9u) ^ (uint32_t)(op >> 32);

	if (!x)
		x = 1;
	next_rand(&x);
	next_rand(&x);
	return x & 1;
}

/* What a crash leaves of a present file: its synced bytes, maybe a torn prefix of the rest. */
static int crash_content(struct jio_file *f, uint32_t *rnd, uint8_t **ret, size_t *ret_len)
{
	uint8_t *cur = NULL, *out;
	size_t cur_len = 0, keep = 0, junk = 0;
	int fd, r;

	if (*rnd) {
		fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			r = read_all_fd(fd, &cur, &cur_len);
			close(fd);
			if (r < 0)
				return r;
		}
		if (cur_len > f->synced_len) {
			keep = next_rand(rnd) % (cur_len - f->synced_len + 1);
			if (next_rand(rnd) % 2)
				junk = next_rand(rnd) % 64; /* a half-written sector */
		}
	}
	out = malloc(f->synced_len + keep + junk + 1);
	if (!out) {
		free(cur);
		return -ENOMEM;
	}
	if (f->synced_len)
		memcpy(out, f->synced, f->synced_len);
	if (keep)
		memcpy(out + f->synced_len, cur + f->synced_len, keep);
	for (size_t i = 0; i < junk; i++)
		out[f->synced_len + keep + i] = (uint8_t)next_rand(rnd);
	free(cur);
	*ret = out;
	*ret_len = f->synced_len + keep + junk;
	return 0;
}

int jio_crash(struct jio *base, uint32_t seed)
{
	struct jio_sim *io = sim(base);
	uint32_t rnd = seed ? seed : 0;
	int r = 0;

	/*
	 * seed != 0: each directory operation since the last fsync of its
	 * directory reached the disk or not, independently; seed == 0: none.
	 */

	if (!io || !io->tracking)
		return -EINVAL;
	/* Names that exist now first (their removal), then names that come back. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < io->n_files; i++) {
			struct jio_file *f = io->files[i];
			uint8_t *data;
			size_t len;
			int q;

			if (f->removed != (pass == 1))
				continue;
			if (f->removed && seed && op_kept(seed, f->name_op))
				continue; /* its removal persisted */
			if (!f->entry_durable && !(seed && op_kept(seed, f->name_op))) {
				if (!f->removed && unlink(f->path) < 0 && errno != ENOENT && r == 0)
					r = -errno;
				continue;
			}
			q = crash_content(f, f->removed ? &(uint32_t){0} : &rnd, &data, &len);
			if (q == 0) {
				q = write_whole(f->path, data, len);
				free(data);
			}
			if (q < 0 && r == 0)
				r = q;
		}
	}
	track_reset(io);
	return r;
}

/* ---- the calls ---- */

static int sim_openat(struct jio *base, int dirfd, const char *name, int flags, mode_t mode)
{
	struct jio_sim *io = sim(base);
	bool writable = (flags & O_ACCMODE) != O_RDONLY && !(flags & O_DIRECTORY);
	struct jio_file *f = NULL;
	char *dir = NULL, *path = NULL;
	bool existed = true;
	int fd, r;

	r = check(io, JIO_OPEN, name, 0, NULL);
	if (r < 0)
		return r;
	if (io->tracking && writable) {
		struct stat st;
		r = make_paths(dirfd, name, &dir, &path);
		if (r < 0)
			return r;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT) {
				r = -errno;
				goto out;
			}
			existed = false;
		}
		if (existed) {
			r = get_existing(io, dir, path, &f);
			if (r < 0)
				goto out;
		}
	}
	fd = jio_sys_openat(dirfd, name, flags, mode);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	if (io->tracking && writable) {
		if (!f) {
			f = new_file(dir, path); /* created now: nothing durable yet */
			if (!f || add_file(io, f) < 0) {
				file_free(f);
				close(fd);
				r = -ENOMEM;
				goto out;
			}
			f->name_op = ++io->name_ops;
		}
		r = map_fd(io, fd, f);
		if (r < 0) {
			close(fd);
			goto out;
		}
	}
	r = fd;
out:
	free(dir);
	free(path);
	return r;
}

static int sim_close(struct jio *base, int fd)
{
	struct jio_sim *io = sim(base);
	if (fd < 0)
		return 0;
	for (size_t i = 0; i < io->n_fds; i++) {
		if (io->fds[i].fd == fd) {
			io->fds[i] = io->fds[--io->n_fds];
			break;
		}
	}
	return jio_sys_close(fd);
}

static ssize_t sim_pread(struct jio *base, int fd, void *buf, size_t len, uint64_t off)
{
	int r = check(sim(base), JIO_READ, NULL, len, NULL);

	return r < 0 ? r : jio_sys_pread(fd, buf, len, off);
}

static int sim_pwrite(struct jio *base, int fd, const void *buf, size_t len, uint64_t off)
{
	size_t partial;
	int r;

	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -EFBIG;
	r = check(sim(base), JIO_WRITE, NULL, len, &partial);
	if (r < 0) {
		if (partial)
			(void)jio_sys_pwrite(fd, buf, partial,
					     off); /* the torn part; the error wins */
		return r;
	}
	return jio_sys_pwrite(fd, buf, len, off);
}

static int snapshot(struct jio_sim *io, int fd)
{
	struct jio_file *f = file_of_fd(io, fd);
	uint8_t *data;
	size_t len;
	int r;

	if (!f)
		return 0;
	r = read_all_fd(fd, &data, &len);
	if (r < 0)
		return r;
	free(f->synced);
	f->synced = data;
	f->synced_len = len;
	return 0;
}

static int sim_fdatasync(struct jio *base, int fd)
{
	struct jio_sim *io = sim(base);
	int r = check(io, JIO_DATASYNC, NULL, 0, NULL);

	if (r < 0)
		return r;
	r = io->skip_real_sync ? 0 : jio_sys_fdatasync(fd);
	return r < 0 ? r : snapshot(io, fd);
}

static int sim_fsync(struct jio *base, int fd)
{
	struct jio_sim *io = sim(base);
	int r = check(io, JIO_FSYNC, NULL, 0, NULL);

	if (r < 0)
		return r;
	r = io->skip_real_sync ? 0 : jio_sys_fsync(fd);
	return r < 0 ? r : snapshot(io, fd);
}

static int sim_fsync_dir(struct jio *base, int dirfd)
{
	struct jio_sim *io = sim(base);
	char d[PATH_MAX];
	int r = check(io, JIO_FSYNC_DIR, NULL, 0, NULL);

	if (r < 0)
		return r;
	r = io->skip_real_sync ? 0 : jio_sys_fsync(dirfd);
	if (r < 0 || !io->tracking)
		return r;
	r = dir_path(dirfd, d, sizeof(d));
	if (r < 0)
		return r;
	for (size_t i = 0; i < io->n_files;) {
		struct jio_file *f = io->files[i];
		if (strcmp(f->dir, d) != 0) {
			i++;
		} else if (f->removed) {
			drop_file(io, f); /* moves another record into slot i */
		} else {
			f->entry_durable = true;
			i++;
		}
	}
	return 0;
}

static int sim_ftruncate(struct jio *base, int fd, uint64_t len)
{
	struct jio_sim *io = sim(base);
	int r = check(io, JIO_TRUNCATE, NULL, 0, NULL);

	if (r < 0)
		return r;
	return jio_sys_ftruncate(fd, len);
}

/* Before a name goes away: remember what a crash would bring back. */
static int track_remove(struct jio_sim *io, int dirfd, const char *name, struct jio_file **ret)
{
	char *dir, *path;
	int r;

	*ret = NULL;
	if (!io->tracking)
		return 0;
	r = make_paths(dirfd, name, &dir, &path);
	if (r < 0)
		return r;
	r = get_existing(io, dir, path, ret);
	free(dir);
	free(path);
	return r == -ENOENT ? 0 : r;
}

static void track_removed(struct jio_sim *io, struct jio_file *f, uint64_t op)
{
	if (!f)
		return;
	if (f->entry_durable) {
		f->removed = true;
		f->name_op = op;
	} else {
		drop_file(io, f);
	}
}

static int sim_unlinkat(struct jio *base, int dirfd, const char *name)
{
	struct jio_sim *io = sim(base);
	struct jio_file *f;
	int r = check(io, JIO_UNLINK, name, 0, NULL);

	if (r < 0)
		return r;
	r = track_remove(io, dirfd, name, &f);
	if (r < 0)
		return r;
	r = jio_sys_unlinkat(dirfd, name);
	if (r < 0)
		return r;
	track_removed(io, f, ++io->name_ops);
	return 0;
}

static int sim_renameat(struct jio *base, int dirfd, const char *from, const char *to)
{
	struct jio_sim *io = sim(base);
	struct jio_file *f, *victim, *nf = NULL;
	uint64_t op;
	int r = check(io, JIO_RENAME, to, 0, NULL);

	if (r < 0)
		return r;
	r = track_remove(io, dirfd, from, &f);
	if (r < 0)
		return r;
	r = track_remove(io, dirfd, to, &victim);
	if (r < 0)
		return r;
	if (f && f->entry_durable) {
		/* The old name may come back: keep it, and give the new name its own record. */
		char *dir, *path;
		r = make_paths(dirfd, to, &dir, &path);
		if (r < 0)
			return r;
		nf = new_file(dir, path);
		free(dir);
		free(path);
		if (!nf)
			return -ENOMEM;
		if (f->synced_len) {
			nf->synced = malloc(f->synced_len);
			if (!nf->synced) {
				file_free(nf);
				return -ENOMEM;
			}
			memcpy(nf->synced, f->synced, f->synced_len);
			nf->synced_len = f->synced_len;
		}
		r = add_file(io, nf);
		if (r < 0) {
			file_free(nf);
			return r;
		}
	}
	r = jio_sys_renameat(dirfd, from, to);
	if (r < 0) {
		if (nf)
			drop_file(io, nf);
		return r;
	}
	op = ++io->name_ops; /* one operation: the old name goes, the new one comes */
	if (victim)
		track_removed(io, victim, op);
	if (!f)
		return 0;
	if (nf) {
		for (size_t i = 0; i < io->n_fds; i++)
			if (io->fds[i].file == f)
				io->fds[i].file = nf;
		nf->name_op = op;
		f->removed = true;
		f->name_op = op;
	} else {
		char *p = NULL, *d = NULL;
		r = make_paths(dirfd, to, &d, &p);
		if (r < 0)
			return r;
		free(d);
		free(f->path);
		f->path = p;	 /* never durable under either name: only the new one can exist */
		f->name_op = op; /* (a crash keeps it under the new name, or not at all) */
	}
	return 0;
}

static int sim_mkdir(struct jio *base, const char *path, mode_t mode)
{
	struct jio_sim *io = sim(base);
	int r = check(io, JIO_MKDIR, path, 0, NULL);

	if (r < 0)
		return r;
	return jio_sys_mkdir(path, mode);
}

static const struct jio_ops sim_ops = {
    .openat = sim_openat,
    .close = sim_close,
    .pread = sim_pread,
    .pwrite = sim_pwrite,
    .fdatasync = sim_fdatasync,
    .fsync = sim_fsync,
    .fsync_dir = sim_fsync_dir,
    .ftruncate = sim_ftruncate,
    .renameat = sim_renameat,
    .unlinkat = sim_unlinkat,
    .mkdir = sim_mkdir,
};
