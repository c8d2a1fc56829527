/* SPDX-License-Identifier: MIT */
/*
 * manifest: a tree read from the filesystem itself, one line per path
 * (fields separated by one space, paths and link targets escaped):
 *
 *   path type mode uid gid size mtime_ns ctime_ns nlink rdev content xattrs target ino
 *
 * Every field but ino is compared: the guarantee covers existence, type,
 * content and metadata (mode, owner, mtime/ctime, xattrs, link count), not
 * atime. ino only serves the hard-link rule ("every changed inode is
 * reported under at least one of its names").
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MANIFEST_FIELDS 14

static struct mentry *manifest_add(struct manifest *m)
{
	m->v = xgrow(m->v, &m->cap, m->n + 1, sizeof(*m->v));
	memset(&m->v[m->n], 0, sizeof(m->v[0]));
	m->v[m->n].ino_next = -1;
	return &m->v[m->n++];
}

void manifest_release(struct manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].path);
		free(m->v[i].target);
	}
	free(m->v);
	hashmap_free(m->by_path);
	hashmap_free(m->by_ino);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* writing a manifest                                                   */

static char mode_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return 'f';
	case S_IFDIR:
		return 'd';
	case S_IFLNK:
		return 'l';
	case S_IFIFO:
		return 'p';
	case S_IFSOCK:
		return 's';
	case S_IFCHR:
		return 'c';
	case S_IFBLK:
		return 'b';
	default:
		return '?';
	}
}

static void hash_content(const char *abs, char out[33])
{
	static uint8_t buf[1 << 16];
	struct h128 h;
	int fd;

	fd = open(abs, O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC);
	if (fd < 0 && errno == EPERM)
		fd = open(abs, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		die("cannot open %s: %s", abs, strerror(errno));
	h128_init(&h, 0x66737472); /* "fstr" */
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("cannot read %s: %s", abs, strerror(errno));
		}
		if (n == 0)
			break;
		h128_update(&h, buf, (size_t)n);
	}
	close(fd);
	h128_final(&h, out);
}

static void hash_xattrs(const char *abs, char out[33])
{
	char *list = NULL, **names = NULL, *val = NULL;
	size_t nnames = 0, namecap = 0, valcap = 0;
	ssize_t len;
	struct h128 h;

	len = llistxattr(abs, NULL, 0);
	if (len < 0 && (errno == ENOTSUP || errno == ENOSYS)) {
		strcpy(out, "-");
		return;
	}
	if (len < 0)
		die("cannot list xattrs of %s: %s", abs, strerror(errno));
	if (len == 0) {
		strcpy(out, "-");
		return;
	}
	list = xmalloc((size_t)len);
	len = llistxattr(abs, list, (size_t)len);
	if (len < 0)
		die("cannot list xattrs of %s: %s", abs, strerror(errno));
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(list + i) + 1) {
		names = xgrow(names, &namecap, nnames + 1, sizeof(*names));
		names[nnames++] = list + i;
	}
	sort_strings(names, nnames);
	h128_init(&h, 0x78617474); /* "xatt" */
	for (size_t i = 0; i < nnames; i++) {
		ssize_t vlen = lgetxattr(abs, names[i], NULL, 0);
		uint8_t lenbuf[8];
		if (vlen < 0)
			die("cannot read xattr %s of %s: %s", names[i], abs, strerror(errno));
		val = xgrow(val, &valcap, (size_t)vlen, 1);
		vlen = lgetxattr(abs, names[i], val, (size_t)vlen);
		if (vlen < 0)
			die("cannot read xattr %s of %s: %s", names[i], abs, strerror(errno));
		h128_update(&h, names[i], strlen(names[i]) + 1);
		for (int b = 0; b < 8; b++)
			lenbuf[b] = (uint8_t)((uint64_t)vlen >> (8 * b));
		h128_update(&h, lenbuf, 8);
		h128_update(&h, val, (size_t)vlen);
	}
	h128_final(&h, out);
	free(val);
	free(names);
	free(list);
}

static void manifest_stat(struct manifest *m, const char *abs, const char *rel,
			  const struct stat *st)
{
	struct mentry *e = manifest_add(m);

	e->path = xstrdup(rel);
	e->type = mode_type(st->st_mode);
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->size = (uint64_t)st->st_size;
	e->nlink = st->st_nlink;
	e->rdev = (e->type == 'c' || e->type == 'b') ? st->st_rdev : 0;
	e->ino = st->st_ino;
	e->mtime = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	e->ctime = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	if (e->type == 'f')
		hash_content(abs, e->content);
	else
		strcpy(e->content, "-");
	hash_xattrs(abs, e->xattrs);
	if (e->type == 'l') {
		char buf[PATH_MAX + 1];
		ssize_t n = readlink(abs, buf, sizeof(buf) - 1);
		if (n < 0)
			die("cannot read link %s: %s", abs, strerror(errno));
		buf[n] = '\0';
		e->target = escape(buf);
	} else {
		e->target = xstrdup("-");
	}
}

/* Put back the length of an sbuf that had more added. */
static void sb_cut(struct sbuf *sb, size_t len)
{
	sb->len = len;
	sb->s[len] = '\0';
}

/* Every entry below abs (rel: its escaped path, "." at the root) on device dev. */
static void manifest_walk(struct manifest *m, struct sbuf *abs, struct sbuf *rel, dev_t dev)
{
	DIR *d = opendir(abs->s);
	char **names;
	size_t n;
	size_t abs_len = abs->len, rel_len = rel->len;
	bool at_root = strcmp(rel->s, ".") == 0;

	if (!d)
		die("cannot open directory %s: %s", abs->s, strerror(errno));
	names = dir_names(d, abs->s, &n);
	closedir(d);

	for (size_t i = 0; i < n; i++) {
		struct stat st;

		sb_adds(abs, "/");
		sb_adds(abs, names[i]);
		if (at_root)
			sb_reset(rel);
		else
			sb_adds(rel, "/");
		sb_add_escaped(rel, names[i], strlen(names[i]));
		if (lstat(abs->s, &st) < 0)
			die("cannot stat %s: %s", abs->s, strerror(errno));
		/* Mount points (and btrfs subvolumes) are not crossed. */
		if (st.st_dev == dev) {
			manifest_stat(m, abs->s, rel->s, &st);
			if (S_ISDIR(st.st_mode))
				manifest_walk(m, abs, rel, dev);
		}
		sb_cut(abs, abs_len);
		if (at_root) {
			sb_reset(rel);
			sb_adds(rel, ".");
		} else {
			sb_cut(rel, rel_len);
		}
	}
	free_strings(names, n);
}

static int cmp_mentry(const void *a, const void *b)
{
	return strcmp(((const struct mentry *)a)->path, ((const struct mentry *)b)->path);
}

static void manifest_print(FILE *f, const struct mentry *e)
{
	fprintf(f,
		"%s %c %04o %lu %lu %" PRIu64 " %" PRId64 " %" PRId64 " %" PRIu64 " %" PRIu64
		" %s %s %s %" PRIu64 "\n",
		e->path, e->type, e->mode, e->uid, e->gid, e->size, e->mtime, e->ctime, e->nlink,
		e->rdev, e->content, e->xattrs, e->target, e->ino);
}

int cmd_manifest(int argc, char **argv)
{
	struct manifest m = {0};
	struct sbuf abs = {0}, rel = {0};
	struct stat st;

	if (argc != 2)
		usage_error("usage: manifest DIR");
	if (lstat(argv[1], &st) < 0)
		die("cannot stat %s: %s", argv[1], strerror(errno));
	if (!S_ISDIR(st.st_mode))
		die("%s is not a directory", argv[1]);
	sb_adds(&abs, argv[1]);
	while (abs.len > 1 && abs.s[abs.len - 1] == '/')
		sb_cut(&abs, abs.len - 1);
	manifest_stat(&m, abs.s, ".", &st);
	sb_adds(&rel, ".");
	manifest_walk(&m, &abs, &rel, st.st_dev);
	/* The walk visits in name order per directory; print sorted by path. */
	if (m.n > 1)
		qsort(m.v, m.n, sizeof(*m.v), cmp_mentry);
	for (size_t i = 0; i < m.n; i++)
		manifest_print(stdout, &m.v[i]);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("cannot write the manifest: %s", strerror(errno));
	manifest_release(&m);
	free(abs.s);
	free(rel.s);
	return 0;
}

/* ------------------------------------------------------------------ */
/* reading and comparing manifests                                      */

/* One line (without its newline) into a new entry of m; dies if it is malformed. */
static void manifest_parse_line(struct manifest *m, char *line, const char *file, unsigned lineno)
{
	char *field[MANIFEST_FIELDS], *save = NULL, *tok;
	unsigned nf = 0;
	uint64_t mode, uid, gid;
	struct mentry *e;

	for (tok = strtok_r(line, " ", &save); tok && nf < MANIFEST_FIELDS;
	     tok = strtok_r(NULL, " ", &save))
		field[nf++] = tok;
	if (nf != MANIFEST_FIELDS || tok)
		die("%s:%u: not a manifest line", file, lineno);
	e = manifest_add(m);
	e->path = xstrdup(field[0]);
	e->type = field[1][0];
	e->target = xstrdup(field[12]);
	if (strlen(field[1]) != 1 || !parse_u64(field[3], &uid) || !parse_u64(field[4], &gid) ||
	    !parse_u64(field[5], &e->size) || !parse_i64(field[6], &e->mtime) ||
	    !parse_i64(field[7], &e->ctime) || !parse_u64(field[8], &e->nlink) ||
	    !parse_u64(field[9], &e->rdev) || strlen(field[10]) > 32 || strlen(field[11]) > 32 ||
	    !parse_u64(field[13], &e->ino))
		die("%s:%u: bad field in manifest line", file, lineno);
	errno = 0;
	mode = strtoull(field[2], &tok, 8);
	if (errno || *tok || mode > 07777)
		die("%s:%u: bad mode in manifest line", file, lineno);
	e->mode = (unsigned)mode;
	e->uid = (unsigned long)uid;
	e->gid = (unsigned long)gid;
	strcpy(e->content, field[10]);
	strcpy(e->xattrs, field[11]);
}

void manifest_load(const char *file, struct manifest *m)
{
	FILE *f = fopen(file, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;

	if (!f)
		die("cannot open manifest %s: %s", file, strerror(errno));
	m->by_path = hashmap_new();
	m->by_ino = hashmap_new();
	if (!m->by_path || !m->by_ino)
		die("out of memory");
	while ((len = getline(&line, &cap, f)) >= 0) {
		const char *path;
		uintptr_t *slot;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		manifest_parse_line(m, line, file, lineno);
		path = m->v[m->n - 1].path;
		if (hashmap_upsert(m->by_path, path, strlen(path), &slot) < 0)
			die("out of memory");
		if (*slot)
			die("%s:%u: path %s listed twice", file, lineno, path);
		*slot = m->n;
	}
	if (ferror(f))
		die("cannot read manifest %s: %s", file, strerror(errno));
	free(line);
	fclose(f);
	/* Chain the names of each inode with more than one link. */
	for (size_t i = 0; i < m->n; i++) {
		struct mentry *e = &m->v[i];
		uintptr_t *slot;

		if (e->type == 'd' || e->nlink < 2)
			continue;
		if (hashmap_upsert(m->by_ino, &e->ino, sizeof(e->ino), &slot) < 0)
			die("out of memory");
		e->ino_next = *slot ? (int)*slot - 1 : -1;
		*slot = i + 1;
	}
}

const struct mentry *manifest_get(const struct manifest *m, const char *path)
{
	uintptr_t *slot = hashmap_get(m->by_path, path, strlen(path));

	return slot ? &m->v[*slot - 1] : NULL;
}

void mentry_diff(const struct mentry *a, const struct mentry *b, struct sbuf *out)
{
	const struct {
		bool differs;
		const char *name;
	} fields[] = {
	    {a->type != b->type, "type"},
	    {a->mode != b->mode, "mode"},
	    {a->uid != b->uid, "uid"},
	    {a->gid != b->gid, "gid"},
	    {a->size != b->size, "size"},
	    {a->mtime != b->mtime, "mtime"},
	    {a->ctime != b->ctime, "ctime"},
	    {a->nlink != b->nlink, "nlink"},
	    {a->rdev != b->rdev, "rdev"},
	    {strcmp(a->content, b->content) != 0, "content"},
	    {strcmp(a->xattrs, b->xattrs) != 0, "xattrs"},
	    {strcmp(a->target, b->target) != 0, "target"},
	};

	sb_reset(out);
	for (size_t i = 0; i < N_OF(fields); i++)
		if (fields[i].differs)
			sb_add_item(out, ",", fields[i].name);
}

struct mchange *manifest_changes(const struct manifest *m1, const struct manifest *m2,
				 size_t *ret_n)
{
	char **all = xmalloc((m1->n + m2->n) * sizeof(*all));
	struct mchange *v = NULL;
	size_t nall = 0, n = 0, cap = 0;
	struct sbuf why = {0};

	/* Every path of either manifest, in order. */
	for (size_t i = 0; i < m1->n; i++)
		all[nall++] = m1->v[i].path;
	for (size_t i = 0; i < m2->n; i++)
		if (!manifest_get(m1, m2->v[i].path))
			all[nall++] = m2->v[i].path;
	sort_strings(all, nall);

	for (size_t i = 0; i < nall; i++) {
		const struct mentry *e1 = manifest_get(m1, all[i]), *e2 = manifest_get(m2, all[i]);

		sb_reset(&why);
		if (!e1)
			sb_adds(&why, "created");
		else if (!e2)
			sb_adds(&why, "deleted");
		else
			mentry_diff(e1, e2, &why);
		if (!why.len)
			continue;
		v = xgrow(v, &cap, n + 1, sizeof(*v));
		v[n++] =
		    (struct mchange){.path = all[i], .e1 = e1, .e2 = e2, .why = xstrdup(why.s)};
	}
	free(why.s);
	free(all);
	*ret_n = n;
	return v;
}

void mchanges_free(struct mchange *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].why);
	free(v);
}
