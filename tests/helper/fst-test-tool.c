/* SPDX-License-Identifier: MIT */
/*
 * fst-test-tool: the ground truth of the shell tests, and the workloads
 * they run. Nothing here trusts fstrack: a manifest is read from the
 * filesystem itself, and "check" applies DESIGN.md's coverage rule to two
 * manifests and one `fstrack changes --json` answer.
 *
 *   manifest DIR                       one line per path under DIR
 *   check --before M1 --after M2 --answer A.json [--report] [--json]
 *   validate A.json                    the answer keeps the command-line contract
 *   has A.json PATH [KIND...]          PATH is listed (with every KIND)
 *   covers A.json PATH                 PATH is covered by the coverage rule
 *   answer A.json token|fresh|count|dump
 *   workload --seed N --ops K [--start I] [--log FILE] DIR
 *   storm DIR N                        create/delete files fast (queue overflow)
 *   shutdown [--flush|--logflush|--nologflush] MOUNTPOINT
 *   oracle [--omit N] M1 M2            the perfect answer (without its Nth change)
 *   json FILE [KEY...]                 a value of a JSON document, jq-free
 *   probe-fanotify DIR                 FAN_MARK_FILESYSTEM with FAN_REPORT_DFID_NAME works
 *   mmap-write, splice-write, copy-range   writes by other paths than write(2)
 *
 * Exit status: 0 success, 1 failure (a false negative, a missing entry, an
 * error), 2 usage.
 *
 * Manifest line (fields separated by one space, paths escaped so that any
 * byte of a name is safe: bytes <= 0x20, >= 0x7f, '%' and '#' become %XX):
 *
 *   path type mode uid gid size mtime_ns ctime_ns nlink rdev content xattrs target ino
 *
 * Every field but ino is compared: the guarantee covers existence, type,
 * content and metadata (mode, owner, mtime/ctime, xattrs, link count), not
 * atime. ino only serves the hard-link rule ("every changed inode is
 * reported under at least one of its names").
 */
#include "basic/hashmap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>

#ifndef FS_IOC_SHUTDOWN
#define FS_IOC_SHUTDOWN _IOR('X', 125, uint32_t)
#endif
#define FS_SHUTDOWN_FLAGS_DEFAULT 0
#define FS_SHUTDOWN_FLAGS_LOGFLUSH 1
#define FS_SHUTDOWN_FLAGS_NOLOGFLUSH 2

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define EXIT_USAGE 2

static const char *prog = "fst-test-tool";

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static void __attribute__((format(printf, 1, 2), noreturn)) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void __attribute__((format(printf, 1, 2), noreturn)) usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (run '%s help')\n", prog);
	exit(EXIT_USAGE);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory");
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		die("out of memory");
	return p;
}

static char *__attribute__((format(printf, 1, 2))) xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		die("out of memory");
	return s;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* qsort() of an array of strings; NULL with n == 0 is fine. */
static void sort_strings(char **v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_strp);
}

/* A growing byte string, always NUL-terminated. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_grow(struct sbuf *sb, size_t more)
{
	if (sb->len + more + 1 <= sb->cap)
		return;
	while (sb->len + more + 1 > sb->cap)
		sb->cap = sb->cap ? sb->cap * 2 : 64;
	sb->s = xrealloc(sb->s, sb->cap);
}

static void sb_add(struct sbuf *sb, const void *p, size_t n)
{
	sb_grow(sb, n);
	memcpy(sb->s + sb->len, p, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
}

static void sb_adds(struct sbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

static void sb_reset(struct sbuf *sb)
{
	sb_grow(sb, 0);
	sb->len = 0;
	sb->s[0] = '\0';
}

/* Escape the bytes of a name or path: any byte is safe in the result. */
static void sb_add_escaped(struct sbuf *sb, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '%' || c == '#') {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			sb_add(sb, e, 3);
		} else {
			sb_add(sb, &s[i], 1);
		}
	}
}

static char *escape(const char *s)
{
	struct sbuf sb = {0};

	sb_add_escaped(&sb, s, strlen(s));
	if (!sb.s)
		return xstrdup("");
	return sb.s;
}

static bool parse_u64(const char *s, uint64_t *ret)
{
	char *end;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static bool parse_i64(const char *s, int64_t *ret)
{
	char *end;

	if (!*s)
		return false;
	errno = 0;
	*ret = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0';
}

/* ------------------------------------------------------------------ */
/* content hash: MurmurHash3 x64 128, streaming. Equal bytes, equal hash. */

struct h128 {
	uint64_t h1, h2, len;
	uint8_t tail[16];
	size_t ntail;
};

static uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

static uint64_t load_le64(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#define MUR_C1 0x87c37b91114253d5ull
#define MUR_C2 0x4cf5ad432745937full

static void h128_init(struct h128 *h, uint64_t seed)
{
	memset(h, 0, sizeof(*h));
	h->h1 = h->h2 = seed;
}

static void h128_block(struct h128 *h, const uint8_t *p)
{
	uint64_t k1 = load_le64(p, 8), k2 = load_le64(p + 8, 8);

	k1 *= MUR_C1;
	k1 = rotl64(k1, 31);
	k1 *= MUR_C2;
	h->h1 ^= k1;
	h->h1 = rotl64(h->h1, 27);
	h->h1 += h->h2;
	h->h1 = h->h1 * 5 + 0x52dce729;
	k2 *= MUR_C2;
	k2 = rotl64(k2, 33);
	k2 *= MUR_C1;
	h->h2 ^= k2;
	h->h2 = rotl64(h->h2, 31);
	h->h2 += h->h1;
	h->h2 = h->h2 * 5 + 0x38495ab5;
}

static void h128_update(struct h128 *h, const void *data, size_t n)
{
	const uint8_t *p = data;

	h->len += n;
	if (h->ntail) {
		size_t take = 16 - h->ntail;
		if (take > n)
			take = n;
		memcpy(h->tail + h->ntail, p, take);
		h->ntail += take;
		p += take;
		n -= take;
		if (h->ntail < 16)
			return;
		h128_block(h, h->tail);
		h->ntail = 0;
	}
	for (; n >= 16; p += 16, n -= 16)
		h128_block(h, p);
	memcpy(h->tail, p, n);
	h->ntail = n;
}

static void h128_final(struct h128 *h, char out[33])
{
	uint64_t k1 = 0, k2 = 0, h1 = h->h1, h2 = h->h2;

	if (h->ntail > 8) {
		k2 = load_le64(h->tail + 8, h->ntail - 8);
		k2 *= MUR_C2;
		k2 = rotl64(k2, 33);
		k2 *= MUR_C1;
		h2 ^= k2;
	}
	if (h->ntail > 0) {
		k1 = load_le64(h->tail, h->ntail > 8 ? 8 : h->ntail);
		k1 *= MUR_C1;
		k1 = rotl64(k1, 31);
		k1 *= MUR_C2;
		h1 ^= k1;
	}
	h1 ^= h->len;
	h2 ^= h->len;
	h1 += h2;
	h2 += h1;
	h1 = fmix64(h1);
	h2 = fmix64(h2);
	h1 += h2;
	h2 += h1;
	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, h1, h2);
}

/* ------------------------------------------------------------------ */
/* manifest                                                             */

struct mentry {
	char *path; /* escaped, relative to the root; "." is the root */
	char type;  /* f d l p s c b ? */
	unsigned mode;
	unsigned long uid, gid;
	uint64_t size, nlink, rdev, ino;
	int64_t mtime, ctime;
	char content[33]; /* hash of a regular file's bytes, else "-" */
	char xattrs[33];  /* hash of every xattr name and value, "-" if none */
	char *target;	  /* escaped symlink target, else "-" */
	int ino_next;	  /* (check) next entry with the same inode, -1 */
};

struct manifest {
	struct mentry *v;
	size_t n, cap;
	struct hashmap *by_path; /* path -> index + 1 */
	struct hashmap *by_ino;	 /* ino (8 bytes) -> first index + 1 (nlink > 1 only) */
};

static struct mentry *manifest_add(struct manifest *m)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
	}
	memset(&m->v[m->n], 0, sizeof(m->v[0]));
	m->v[m->n].ino_next = -1;
	return &m->v[m->n++];
}

static void manifest_release(struct manifest *m)
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
	size_t nnames = 0, valcap = 0;
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
		names = xrealloc(names, (nnames + 1) * sizeof(*names));
		names[nnames++] = list + i;
	}
	sort_strings(names, nnames);
	h128_init(&h, 0x78617474); /* "xatt" */
	for (size_t i = 0; i < nnames; i++) {
		ssize_t vlen = lgetxattr(abs, names[i], NULL, 0);
		uint8_t lenbuf[8];
		if (vlen < 0)
			die("cannot read xattr %s of %s: %s", names[i], abs, strerror(errno));
		if ((size_t)vlen > valcap) {
			valcap = (size_t)vlen;
			val = xrealloc(val, valcap);
		}
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

static void manifest_walk(struct manifest *m, struct sbuf *abs, struct sbuf *rel, dev_t dev)
{
	DIR *d = opendir(abs->s);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	size_t abs_len = abs->len, rel_len = rel->len;

	if (!d)
		die("cannot open directory %s: %s", abs->s, strerror(errno));
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
		errno = 0;
	}
	if (errno)
		die("cannot read directory %s: %s", abs->s, strerror(errno));
	closedir(d);
	sort_strings(names, n);

	for (size_t i = 0; i < n; i++) {
		bool at_root = strcmp(rel->s, ".") == 0;
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
		abs->len = abs_len;
		abs->s[abs_len] = '\0';
		if (at_root) {
			sb_reset(rel);
			sb_adds(rel, ".");
		} else {
			rel->len = rel_len;
			rel->s[rel_len] = '\0';
		}
		free(names[i]);
	}
	free(names);
}

static int cmp_mentry(const void *a, const void *b)
{
	return strcmp(((const struct mentry *)a)->path, ((const struct mentry *)b)->path);
}

static void manifest_print(FILE *f, const struct mentry *e)
{
	fprintf(f, "%s %c %04o %lu %lu %" PRIu64 " %" PRId64 " %" PRId64 " %" PRIu64 " %" PRIu64
		   " %s %s %s %" PRIu64 "\n",
		e->path, e->type, e->mode, e->uid, e->gid, e->size, e->mtime, e->ctime, e->nlink,
		e->rdev, e->content, e->xattrs, e->target, e->ino);
}

static int cmd_manifest(int argc, char **argv)
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
		abs.s[--abs.len] = '\0';
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

/* Read a manifest written by cmd_manifest. */
static void manifest_load(const char *file, struct manifest *m)
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
		char *field[14], *save = NULL, *tok;
		unsigned nf = 0;
		uint64_t mode, uid, gid;
		struct mentry *e;
		uintptr_t *slot;

		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		for (tok = strtok_r(line, " ", &save); tok && nf < 14; tok = strtok_r(NULL, " ", &save))
			field[nf++] = tok;
		if (nf != 14 || tok)
			die("%s:%u: not a manifest line", file, lineno);
		e = manifest_add(m);
		e->path = xstrdup(field[0]);
		e->type = field[1][0];
		e->target = xstrdup(field[12]);
		if (strlen(field[1]) != 1 || !parse_u64(field[3], &uid) ||
		    !parse_u64(field[4], &gid) || !parse_u64(field[5], &e->size) ||
		    !parse_i64(field[6], &e->mtime) || !parse_i64(field[7], &e->ctime) ||
		    !parse_u64(field[8], &e->nlink) || !parse_u64(field[9], &e->rdev) ||
		    strlen(field[10]) > 32 || strlen(field[11]) > 32 ||
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
		if (hashmap_upsert(m->by_path, e->path, strlen(e->path), &slot) < 0)
			die("out of memory");
		if (*slot)
			die("%s:%u: path %s listed twice", file, lineno, e->path);
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

static const struct mentry *manifest_get(const struct manifest *m, const char *path)
{
	uintptr_t *slot = hashmap_get(m->by_path, path, strlen(path));

	return slot ? &m->v[*slot - 1] : NULL;
}

/* Which fields differ ("" if none); ino is not compared. */
static void mentry_diff(const struct mentry *a, const struct mentry *b, struct sbuf *out)
{
	sb_reset(out);
#define DIFF(cond, name)                                                                           \
	do {                                                                                       \
		if (cond) {                                                                        \
			if (out->len)                                                              \
				sb_adds(out, ",");                                                 \
			sb_adds(out, name);                                                        \
		}                                                                                  \
	} while (0)
	DIFF(a->type != b->type, "type");
	DIFF(a->mode != b->mode, "mode");
	DIFF(a->uid != b->uid, "uid");
	DIFF(a->gid != b->gid, "gid");
	DIFF(a->size != b->size, "size");
	DIFF(a->mtime != b->mtime, "mtime");
	DIFF(a->ctime != b->ctime, "ctime");
	DIFF(a->nlink != b->nlink, "nlink");
	DIFF(a->rdev != b->rdev, "rdev");
	DIFF(strcmp(a->content, b->content) != 0, "content");
	DIFF(strcmp(a->xattrs, b->xattrs) != 0, "xattrs");
	DIFF(strcmp(a->target, b->target) != 0, "target");
#undef DIFF
}

/* ------------------------------------------------------------------ */
/* answers: the JSON document of `fstrack changes --json`               */

static const char *const kind_names[] = {"created",	 "deleted",    "modified", "attrib",
					 "renamed_from", "renamed_to", "entries",  "recursive"};
#define K_ENTRIES (1u << 6)
#define K_RECURSIVE (1u << 7)

static unsigned kind_from_name(const char *s)
{
	for (unsigned i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (!strcmp(s, kind_names[i]))
			return 1u << i;
	return 0;
}

static void kinds_format(unsigned kinds, struct sbuf *out)
{
	sb_reset(out);
	for (unsigned i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (!(kinds & (1u << i)))
			continue;
		if (out->len)
			sb_adds(out, ",");
		sb_adds(out, kind_names[i]);
	}
	if (!out->len)
		sb_adds(out, "-");
}

struct answer {
	char *token;
	bool fresh;
	size_t n;
	char **paths;	    /* escaped, in answer order */
	unsigned *kinds;    /* per path */
	struct hashmap *by_path; /* escaped path -> index + 1 */
	unsigned problems;  /* contract violations found while loading */
};

static void __attribute__((format(printf, 2, 3))) answer_problem(struct answer *a, const char *fmt,
								     ...)
{
	va_list ap;

	a->problems++;
	fprintf(stderr, "BAD ANSWER: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Is p a well-formed path of the contract: "." or a/b/c, no "", ".", ".." parts? */
static bool path_well_formed(const char *p, size_t len)
{
	size_t start = 0;

	if (len == 1 && p[0] == '.')
		return true;
	if (len == 0 || memchr(p, '\0', len))
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && p[i] != '/')
			continue;
		size_t clen = i - start;
		if (clen == 0 || (clen == 1 && p[start] == '.') ||
		    (clen == 2 && p[start] == '.' && p[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

static void answer_load(const char *file, struct answer *a)
{
	json_object *root, *o, *changes;
	struct sbuf sb = {0};

	memset(a, 0, sizeof(*a));
	a->by_path = hashmap_new();
	if (!a->by_path)
		die("out of memory");
	root = json_object_from_file(file);
	if (!root)
		die("%s is not a JSON document: %s", file, json_util_get_last_err());
	if (!json_object_is_type(root, json_type_object))
		die("%s: not a JSON object", file);

	if (!json_object_object_get_ex(root, "token", &o) || !json_object_is_type(o, json_type_string))
		answer_problem(a, "no \"token\" string");
	else if (strncmp(json_object_get_string(o), "fst1:", 5) != 0)
		answer_problem(a, "token \"%s\" does not start with fst1:", json_object_get_string(o));
	a->token = xstrdup(o && json_object_is_type(o, json_type_string) ? json_object_get_string(o)
									 : "");
	if (!json_object_object_get_ex(root, "fresh", &o) || !json_object_is_type(o, json_type_boolean))
		answer_problem(a, "no \"fresh\" boolean");
	else
		a->fresh = json_object_get_boolean(o);
	if (!json_object_object_get_ex(root, "changes", &changes) ||
	    !json_object_is_type(changes, json_type_array)) {
		answer_problem(a, "no \"changes\" array");
		changes = NULL;
	}
	if (a->fresh && changes && json_object_array_length(changes) > 0)
		answer_problem(a, "fresh answer with a non-empty \"changes\" array");

	for (size_t i = 0; changes && i < json_object_array_length(changes); i++) {
		json_object *c = json_object_array_get_idx(changes, i), *p, *k;
		const char *path;
		size_t plen;
		unsigned kinds = 0;
		uintptr_t *slot;

		if (!json_object_is_type(c, json_type_object) ||
		    !json_object_object_get_ex(c, "path", &p) ||
		    !json_object_is_type(p, json_type_string) ||
		    !json_object_object_get_ex(c, "kinds", &k) ||
		    !json_object_is_type(k, json_type_array)) {
			answer_problem(a, "changes[%zu] is not {\"path\": string, \"kinds\": array}", i);
			continue;
		}
		path = json_object_get_string(p);
		plen = (size_t)json_object_get_string_len(p);
		sb_reset(&sb);
		sb_add_escaped(&sb, path, plen);
		if (!path_well_formed(path, plen))
			answer_problem(a, "changes[%zu]: path \"%s\" is not relative and normalized",
				       i, sb.s);
		if (json_object_array_length(k) == 0)
			answer_problem(a, "changes[%zu]: path \"%s\" has no kinds", i, sb.s);
		for (size_t j = 0; j < json_object_array_length(k); j++) {
			json_object *kn = json_object_array_get_idx(k, j);
			unsigned bit = json_object_is_type(kn, json_type_string)
					       ? kind_from_name(json_object_get_string(kn))
					       : 0;
			if (!bit)
				answer_problem(a, "changes[%zu]: path \"%s\": unknown kind %s", i,
					       sb.s, json_object_to_json_string(kn));
			kinds |= bit;
		}
		if (hashmap_upsert(a->by_path, sb.s, sb.len, &slot) < 0)
			die("out of memory");
		if (*slot) {
			answer_problem(a, "path \"%s\" listed twice", sb.s);
			a->kinds[*slot - 1] |= kinds;
			continue;
		}
		a->paths = xrealloc(a->paths, (a->n + 1) * sizeof(*a->paths));
		a->kinds = xrealloc(a->kinds, (a->n + 1) * sizeof(*a->kinds));
		a->paths[a->n] = xstrdup(sb.s);
		a->kinds[a->n] = kinds;
		a->n++;
		*slot = a->n;
	}
	json_object_put(root);
	free(sb.s);
}

static void answer_release(struct answer *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->paths[i]);
	free(a->paths);
	free(a->kinds);
	free(a->token);
	hashmap_free(a->by_path);
	memset(a, 0, sizeof(*a));
}

/* The kinds of an escaped path in the answer; -1 if it is not listed. */
static int answer_kinds(const struct answer *a, const char *path, size_t len)
{
	uintptr_t *slot = hashmap_get(a->by_path, path, len);

	return slot ? (int)a->kinds[*slot - 1] : -1;
}

enum cover {
	COVER_NONE,
	COVER_FRESH,
	COVER_EXACT,
	COVER_ENTRIES,	 /* the parent is listed with "entries" */
	COVER_RECURSIVE, /* an ancestor is listed with "recursive" */
	COVER_HARDLINK,	 /* another name of the same inode is listed */
};

static const char *const cover_names[] = {"none",    "fresh",	  "exact",
					  "entries", "recursive", "hardlink"};

/*
 * The coverage rule of DESIGN.md for escaped path p, without the hard-link
 * rule. *ret_via gets the covering path (points into p, or ".").
 */
static enum cover cover_by_rule(const struct answer *a, const char *p, const char **ret_via,
				size_t *ret_via_len)
{
	size_t len = strlen(p);
	const char *slash;
	int k;

	*ret_via = p;
	*ret_via_len = len;
	if (a->fresh)
		return COVER_FRESH;
	if (answer_kinds(a, p, len) >= 0)
		return COVER_EXACT;
	if (!strcmp(p, "."))
		return COVER_NONE;
	/* The parent, with "entries". */
	slash = memrchr(p, '/', len);
	if (slash)
		k = answer_kinds(a, p, (size_t)(slash - p));
	else
		k = answer_kinds(a, ".", 1);
	if (k >= 0 && (k & K_ENTRIES)) {
		*ret_via = slash ? p : ".";
		*ret_via_len = slash ? (size_t)(slash - p) : 1;
		return COVER_ENTRIES;
	}
	/* Any ancestor with "recursive", the root "." included. */
	k = answer_kinds(a, ".", 1);
	if (k >= 0 && (k & K_RECURSIVE)) {
		*ret_via = ".";
		*ret_via_len = 1;
		return COVER_RECURSIVE;
	}
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '/')
			continue;
		k = answer_kinds(a, p, i);
		if (k >= 0 && (k & K_RECURSIVE)) {
			*ret_via = p;
			*ret_via_len = i;
			return COVER_RECURSIVE;
		}
	}
	return COVER_NONE;
}

/*
 * The hard-link rule: p names the same inode before and after and that
 * inode has other names; p is covered when one of those names (in the
 * same manifest) is listed itself in the answer.
 */
static const char *cover_by_hardlink(const struct answer *a, const struct manifest *m,
				     const struct mentry *e)
{
	uintptr_t *slot;

	if (!e || e->type == 'd' || e->nlink < 2)
		return NULL;
	slot = hashmap_get(m->by_ino, &e->ino, sizeof(e->ino));
	for (int i = slot ? (int)*slot - 1 : -1; i >= 0; i = m->v[i].ino_next) {
		const struct mentry *q = &m->v[i];
		if (q == e)
			continue;
		if (answer_kinds(a, q->path, strlen(q->path)) >= 0)
			return q->path;
	}
	return NULL;
}

struct check_opts {
	const char *before, *after, *answer;
	bool report, json;
};

static void print_listed_near(const struct answer *a, const char *p, struct sbuf *tmp)
{
	/* What the answer says about p's parent, to make a report actionable. */
	const char *slash = strrchr(p, '/');
	const char *parent = slash ? p : ".";
	size_t plen = slash ? (size_t)(slash - p) : 1;
	int k = answer_kinds(a, parent, plen);

	if (!strcmp(p, "."))
		return;
	if (k < 0) {
		printf("    parent %.*s: not listed\n", (int)plen, parent);
	} else {
		kinds_format((unsigned)k, tmp);
		printf("    parent %.*s: listed as %s\n", (int)plen, parent, tmp->s);
	}
}

static int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"before", required_argument, NULL, 'b'}, {"after", required_argument, NULL, 'a'},
		{"answer", required_argument, NULL, 'A'}, {"report", no_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},	  {0},
	};
	struct check_opts o = {0};
	struct manifest m1 = {0}, m2 = {0};
	struct answer a;
	struct sbuf why = {0}, tmp = {0};
	char **all;
	size_t nall = 0, ndiff = 0, ncreated = 0, ndeleted = 0, nuncovered = 0, nhits = 0,
	       nunknown = 0;
	size_t by[6] = {0};
	json_object *jun = json_object_new_array();
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o.before = optarg;
			break;
		case 'a':
			o.after = optarg;
			break;
		case 'A':
			o.answer = optarg;
			break;
		case 'r':
			o.report = true;
			break;
		case 'j':
			o.json = true;
			break;
		default:
			usage_error("usage: check --before M1 --after M2 --answer A.json [--report] "
				    "[--json]");
		}
	}
	if (!o.before || !o.after || !o.answer || optind != argc)
		usage_error("usage: check --before M1 --after M2 --answer A.json [--report] [--json]");
	manifest_load(o.before, &m1);
	manifest_load(o.after, &m2);
	answer_load(o.answer, &a);

	/* Every path of either manifest, in order. */
	all = xmalloc((m1.n + m2.n) * sizeof(*all));
	for (size_t i = 0; i < m1.n; i++)
		all[nall++] = m1.v[i].path;
	for (size_t i = 0; i < m2.n; i++)
		if (!manifest_get(&m1, m2.v[i].path))
			all[nall++] = m2.v[i].path;
	sort_strings(all, nall);

	for (size_t i = 0; i < nall; i++) {
		const char *p = all[i], *via;
		const struct mentry *e1 = manifest_get(&m1, p), *e2 = manifest_get(&m2, p);
		enum cover cov;
		size_t via_len;

		if (!e1) {
			sb_reset(&why);
			sb_adds(&why, "created");
			ncreated++;
		} else if (!e2) {
			sb_reset(&why);
			sb_adds(&why, "deleted");
			ndeleted++;
		} else {
			mentry_diff(e1, e2, &why);
			if (!why.len)
				continue;
		}
		ndiff++;
		cov = cover_by_rule(&a, p, &via, &via_len);
		if (cov == COVER_NONE && e1 && e2 && e1->ino == e2->ino && e1->type == e2->type) {
			const char *q = cover_by_hardlink(&a, &m1, e1);
			if (!q)
				q = cover_by_hardlink(&a, &m2, e2);
			if (q) {
				cov = COVER_HARDLINK;
				via = q;
				via_len = strlen(q);
			}
		}
		by[cov]++;
		if (cov == COVER_NONE) {
			nuncovered++;
			printf("FALSE NEGATIVE: %s (%s)\n", p, why.s);
			print_listed_near(&a, p, &tmp);
			json_object_array_add(jun, json_object_new_string(p));
		} else if (o.report) {
			printf("covered: %s (%s) by %s via %.*s\n", p, why.s, cover_names[cov],
			       (int)via_len, via);
		}
	}

	/* Precision: the share of reported paths that really differ. */
	for (size_t i = 0; i < a.n; i++) {
		const struct mentry *e1 = manifest_get(&m1, a.paths[i]);
		const struct mentry *e2 = manifest_get(&m2, a.paths[i]);
		if (!e1 && !e2) {
			nunknown++;
			continue;
		}
		if (!e1 || !e2) {
			nhits++;
			continue;
		}
		mentry_diff(e1, e2, &why);
		if (why.len)
			nhits++;
	}
	if (o.report) {
		for (size_t i = 0; i < a.n; i++) {
			kinds_format(a.kinds[i], &tmp);
			printf("reported: %s [%s]\n", a.paths[i], tmp.s);
		}
	}

	{
		double precision = a.n ? (double)nhits / (double)a.n : 1.0;
		if (o.json) {
			json_object *j = json_object_new_object();
			json_object_object_add(j, "differing", json_object_new_int64((int64_t)ndiff));
			json_object_object_add(j, "created", json_object_new_int64((int64_t)ncreated));
			json_object_object_add(j, "deleted", json_object_new_int64((int64_t)ndeleted));
			json_object_object_add(j, "reported", json_object_new_int64((int64_t)a.n));
			json_object_object_add(j, "hits", json_object_new_int64((int64_t)nhits));
			json_object_object_add(j, "reported_unknown",
					       json_object_new_int64((int64_t)nunknown));
			json_object_object_add(j, "precision", json_object_new_double(precision));
			json_object_object_add(j, "fresh", json_object_new_boolean(a.fresh));
			json_object_object_add(j, "uncovered",
					       json_object_new_int64((int64_t)nuncovered));
			json_object_object_add(j, "bad_answer",
					       json_object_new_int64((int64_t)a.problems));
			for (int k = COVER_FRESH; k <= COVER_HARDLINK; k++) {
				char *key = xasprintf("covered_%s", cover_names[k]);
				json_object_object_add(j, key, json_object_new_int64((int64_t)by[k]));
				free(key);
			}
			json_object_object_add(j, "uncovered_paths", json_object_get(jun));
			printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
			json_object_put(j);
		} else {
			printf("stats: differing=%zu (created=%zu deleted=%zu) reported=%zu hits=%zu "
			       "unknown=%zu precision=%.3f fresh=%s uncovered=%zu bad_answer=%u\n",
			       ndiff, ncreated, ndeleted, a.n, nhits, nunknown, precision,
			       a.fresh ? "yes" : "no", nuncovered, a.problems);
		}
	}
	json_object_put(jun);
	free(all);
	free(why.s);
	free(tmp.s);
	manifest_release(&m1);
	manifest_release(&m2);
	c = (nuncovered || a.problems) ? 1 : 0;
	answer_release(&a);
	return c;
}

static int cmd_validate(int argc, char **argv)
{
	struct answer a;
	int r;

	if (argc != 2)
		usage_error("usage: validate ANSWER.json");
	answer_load(argv[1], &a);
	r = a.problems ? 1 : 0;
	answer_release(&a);
	return r;
}

static int cmd_has(int argc, char **argv)
{
	struct answer a;
	struct sbuf tmp = {0};
	unsigned want = 0;
	char *p;
	int k, r = 0;

	if (argc < 3)
		usage_error("usage: has ANSWER.json PATH [KIND...]");
	for (int i = 3; i < argc; i++) {
		unsigned bit = kind_from_name(argv[i]);
		if (!bit)
			usage_error("unknown kind '%s'", argv[i]);
		want |= bit;
	}
	answer_load(argv[1], &a);
	p = escape(argv[2]);
	k = answer_kinds(&a, p, strlen(p));
	if (k < 0) {
		fprintf(stderr, "%s: %s is not listed in %s (%s%zu paths:", prog, p, argv[1],
			a.fresh ? "fresh, " : "", a.n);
		for (size_t i = 0; i < a.n && i < 30; i++) {
			kinds_format(a.kinds[i], &tmp);
			fprintf(stderr, " %s[%s]", a.paths[i], tmp.s);
		}
		fprintf(stderr, "%s)\n", a.n > 30 ? " ..." : "");
		r = 1;
	} else if (((unsigned)k & want) != want) {
		kinds_format((unsigned)k, &tmp);
		fprintf(stderr, "%s: %s is listed as [%s], ", prog, p, tmp.s);
		kinds_format(want & ~(unsigned)k, &tmp);
		fprintf(stderr, "without [%s]\n", tmp.s);
		r = 1;
	}
	free(p);
	free(tmp.s);
	answer_release(&a);
	return r;
}

static int cmd_covers(int argc, char **argv)
{
	struct answer a;
	const char *via;
	size_t via_len;
	enum cover cov;
	char *p;

	if (argc != 3)
		usage_error("usage: covers ANSWER.json PATH");
	answer_load(argv[1], &a);
	p = escape(argv[2]);
	cov = cover_by_rule(&a, p, &via, &via_len);
	if (cov == COVER_NONE)
		fprintf(stderr, "%s: %s is not covered by %s\n", prog, p, argv[1]);
	else
		printf("%s: %s via %.*s\n", p, cover_names[cov], (int)via_len, via);
	free(p);
	answer_release(&a);
	return cov == COVER_NONE ? 1 : 0;
}

static int cmd_answer(int argc, char **argv)
{
	struct answer a;
	struct sbuf tmp = {0};

	if (argc != 3)
		usage_error("usage: answer ANSWER.json token|fresh|count|dump");
	answer_load(argv[1], &a);
	if (!strcmp(argv[2], "token")) {
		printf("%s\n", a.token);
	} else if (!strcmp(argv[2], "fresh")) {
		printf("%s\n", a.fresh ? "true" : "false");
	} else if (!strcmp(argv[2], "count")) {
		printf("%zu\n", a.n);
	} else if (!strcmp(argv[2], "dump")) {
		char **sorted = xmalloc(a.n * sizeof(*sorted));
		if (a.n)
			memcpy(sorted, a.paths, a.n * sizeof(*sorted));
		sort_strings(sorted, a.n);
		for (size_t i = 0; i < a.n; i++) {
			kinds_format((unsigned)answer_kinds(&a, sorted[i], strlen(sorted[i])), &tmp);
			printf("%s %s\n", sorted[i], tmp.s);
		}
		free(sorted);
	} else {
		usage_error("answer: unknown field '%s'", argv[2]);
	}
	free(tmp.s);
	answer_release(&a);
	return 0;
}

/*
 * The answer a perfect tracker would give: every differing path, exactly
 * (created / deleted / modified). Used to prove that check can fail: drop
 * one line of it and check must find the hole.
 */
static int cmd_oracle(int argc, char **argv)
{
	struct manifest m1 = {0}, m2 = {0};
	struct sbuf why = {0}, raw = {0};
	json_object *root = json_object_new_object(), *changes = json_object_new_array();
	char **all;
	size_t nall = 0, nchanges = 0;
	uint64_t omit = UINT64_MAX;

	if (argc == 5 && !strcmp(argv[1], "--omit") && parse_u64(argv[2], &omit)) {
		argc -= 2;
		argv += 2;
	}
	if (argc != 3)
		usage_error("usage: oracle [--omit N] M1 M2");
	manifest_load(argv[1], &m1);
	manifest_load(argv[2], &m2);
	all = xmalloc((m1.n + m2.n) * sizeof(*all));
	for (size_t i = 0; i < m1.n; i++)
		all[nall++] = m1.v[i].path;
	for (size_t i = 0; i < m2.n; i++)
		if (!manifest_get(&m1, m2.v[i].path))
			all[nall++] = m2.v[i].path;
	sort_strings(all, nall);
	for (size_t i = 0; i < nall; i++) {
		const struct mentry *e1 = manifest_get(&m1, all[i]), *e2 = manifest_get(&m2, all[i]);
		const char *kind = !e1 ? "created" : !e2 ? "deleted" : "modified";
		json_object *c, *k;

		if (e1 && e2) {
			mentry_diff(e1, e2, &why);
			if (!why.len)
				continue;
		}
		if (nchanges++ == omit) {
			/* Left out on purpose: say which one on stderr. */
			fprintf(stderr, "%s\n", all[i]);
			continue;
		}
		/* Unescape %XX back to the raw bytes of the path. */
		sb_reset(&raw);
		for (const char *q = all[i]; *q; q++) {
			if (*q == '%' && q[1] && q[2]) {
				char hx[3] = {q[1], q[2], 0};
				char byte = (char)strtol(hx, NULL, 16);
				sb_add(&raw, &byte, 1);
				q += 2;
			} else {
				sb_add(&raw, q, 1);
			}
		}
		c = json_object_new_object();
		k = json_object_new_array();
		json_object_array_add(k, json_object_new_string(kind));
		json_object_object_add(c, "path", json_object_new_string_len(raw.s, (int)raw.len));
		json_object_object_add(c, "kinds", k);
		json_object_array_add(changes, c);
	}
	json_object_object_add(root, "token", json_object_new_string("fst1:oracle:0"));
	json_object_object_add(root, "fresh", json_object_new_boolean(false));
	json_object_object_add(root, "changes", changes);
	printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	free(all);
	free(why.s);
	free(raw.s);
	manifest_release(&m1);
	manifest_release(&m2);
	return 0;
}

static void json_print_value(json_object *o)
{
	if (json_object_is_type(o, json_type_string))
		printf("%s\n", json_object_get_string(o));
	else
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								     JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int json_walk(json_object *o, char **keys, int nkeys)
{
	int found = 0;

	if (nkeys == 0) {
		json_print_value(o);
		return 1;
	}
	if (!strcmp(keys[0], "*")) {
		if (!json_object_is_type(o, json_type_array))
			return 0;
		for (size_t i = 0; i < json_object_array_length(o); i++)
			found += json_walk(json_object_array_get_idx(o, i), keys + 1, nkeys - 1);
		return found;
	}
	if (json_object_is_type(o, json_type_array)) {
		uint64_t idx;
		if (!parse_u64(keys[0], &idx) || idx >= json_object_array_length(o))
			return 0;
		return json_walk(json_object_array_get_idx(o, (size_t)idx), keys + 1, nkeys - 1);
	}
	if (json_object_is_type(o, json_type_object)) {
		json_object *v;
		if (!json_object_object_get_ex(o, keys[0], &v))
			return 0;
		return json_walk(v, keys + 1, nkeys - 1);
	}
	return 0;
}

/* json FILE [KEY...]: print the value at KEY/KEY/... ("*" maps over an array). */
static int cmd_json(int argc, char **argv)
{
	json_object *root;
	int found;

	if (argc < 2)
		usage_error("usage: json FILE [KEY...]");
	root = strcmp(argv[1], "-") ? json_object_from_file(argv[1]) : json_object_from_fd(0);
	if (!root)
		die("%s is not a JSON document: %s", argv[1], json_util_get_last_err());
	found = json_walk(root, argv + 2, argc - 2);
	json_object_put(root);
	if (!found) {
		fprintf(stderr, "%s: no such key in %s\n", prog, argv[1]);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* workload: deterministic random operations of every kind              */

/*
 * The state is the tree itself: before each operation the tree is read
 * again (names sorted), and operation i draws from a generator seeded by
 * (seed, i). So running ops 1..50, then 51..60 (with anything in between
 * that leaves the tree alone, a daemon killed for instance) does the same
 * as running 1..60.
 */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

struct wnode {
	char *path; /* relative to the workload root, raw bytes; "." is the root */
	char type;  /* f d l or o (other) */
	int depth;  /* the root is 0 */
	int height; /* dirs: how many levels of directories below (0: none) */
	int parent; /* index, -1 for the root */
	size_t nchildren;
	uint64_t size;
};

struct wctx {
	const char *root; /* as given, for the *xattr calls */
	int rootfd;
	dev_t dev;
	struct wnode *v;
	size_t n, cap;
	struct rng rng;
	uint64_t opno;
	unsigned max_entries, max_depth;
	FILE *log;
	struct sbuf msg; /* what the op did, for the log */
};

static void wtree_free(struct wctx *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i].path);
	w->n = 0;
}

static int wtree_read(struct wctx *w, const char *rel, int depth, int parent)
{
	struct stat st;
	size_t idx;
	int height = 0;

	if (fstatat(w->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		die("workload: cannot stat %s: %s", rel, strerror(errno));
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 256;
		w->v = xrealloc(w->v, w->cap * sizeof(*w->v));
	}
	idx = w->n++;
	w->v[idx] = (struct wnode){
		.path = xstrdup(rel),
		.type = S_ISREG(st.st_mode)   ? 'f'
			: S_ISDIR(st.st_mode) ? 'd'
			: S_ISLNK(st.st_mode) ? 'l'
					      : 'o',
		.depth = depth,
		.parent = parent,
		.size = (uint64_t)st.st_size,
	};
	if (parent >= 0)
		w->v[parent].nchildren++;
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(w->rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;
		char **names = NULL;
		size_t n = 0;

		if (!d)
			die("workload: cannot open directory %s: %s", rel, strerror(errno));
		while ((de = readdir(d))) {
			struct stat cst;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			/* Never cross into another mount. */
			if (fstatat(dirfd(d), de->d_name, &cst, AT_SYMLINK_NOFOLLOW) < 0)
				die("workload: cannot stat %s/%s: %s", rel, de->d_name,
				    strerror(errno));
			if (cst.st_dev != w->dev)
				continue;
			names = xrealloc(names, (n + 1) * sizeof(*names));
			names[n++] = xstrdup(de->d_name);
		}
		closedir(d);
		sort_strings(names, n);
		for (size_t i = 0; i < n; i++) {
			char *child = strcmp(rel, ".") ? xasprintf("%s/%s", rel, names[i])
						       : xstrdup(names[i]);
			int h = wtree_read(w, child, depth + 1, (int)idx);
			if (h >= 0 && h + 1 > height)
				height = h + 1;
			free(child);
			free(names[i]);
		}
		free(names);
		w->v[idx].height = height;
		return height;
	}
	return -1;
}

static void wtree_load(struct wctx *w)
{
	wtree_free(w);
	wtree_read(w, ".", 0, -1);
}

/* Is a equal to b or an ancestor of it? */
static bool wpath_within(const char *a, const char *b)
{
	size_t la = strlen(a);

	if (!strcmp(a, "."))
		return true;
	return strncmp(a, b, la) == 0 && (b[la] == '\0' || b[la] == '/');
}

enum wkind { W_ANY, W_FILE, W_NONDIR, W_DIR, W_SUBDIR, W_NOTLINK };

static bool wnode_is(const struct wnode *e, enum wkind k)
{
	switch (k) {
	case W_ANY:
		return true;
	case W_FILE:
		return e->type == 'f';
	case W_NONDIR:
		return e->type != 'd';
	case W_DIR:
		return e->type == 'd';
	case W_SUBDIR:
		return e->type == 'd' && e->parent >= 0;
	case W_NOTLINK:
		return e->type == 'f' || e->type == 'd';
	}
	return false;
}

/* A random node of kind k, or -1 when there is none. */
static int wpick(struct wctx *w, enum wkind k)
{
	size_t count = 0, choice;

	for (size_t i = 0; i < w->n; i++)
		count += wnode_is(&w->v[i], k);
	if (!count)
		return -1;
	choice = rng_below(&w->rng, count);
	for (size_t i = 0; i < w->n; i++)
		if (wnode_is(&w->v[i], k) && choice-- == 0)
			return (int)i;
	return -1;
}

/* A random directory where a new directory may go (depth limit). */
static int wpick_dir_for_mkdir(struct wctx *w)
{
	size_t count = 0, choice;

	for (size_t i = 0; i < w->n; i++)
		count += w->v[i].type == 'd' && (unsigned)w->v[i].depth < w->max_depth;
	if (!count)
		return -1;
	choice = rng_below(&w->rng, count);
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].type == 'd' && (unsigned)w->v[i].depth < w->max_depth && choice-- == 0)
			return (int)i;
	return -1;
}

static const char *const odd_names[] = {
	"sp ace", "caf\xc3\xa9", "new\nline", "-dash", ".hidden", "tab\tx", "#hash", "100%",
	"back\\slash", "q\"uote", "star*", "colon:x", "\xe2\x9c\x93" "check",
};

static void wgen_name(struct wctx *w, char prefix, char *buf, size_t size)
{
	uint64_t r = rng_below(&w->rng, 100);
	unsigned pool = prefix == 'f' ? 40 : prefix == 'd' ? 12 : 10;

	if (r < 4) {
		snprintf(buf, size, "%s %c%u",
			 odd_names[rng_below(&w->rng, sizeof(odd_names) / sizeof(odd_names[0]))],
			 prefix, (unsigned)rng_below(&w->rng, 4));
	} else if (r < 5) {
		memset(buf, 'L', 200);
		snprintf(buf + 200, size - 200, "%c%u", prefix, (unsigned)rng_below(&w->rng, 3));
	} else {
		snprintf(buf, size, "%c%u", prefix, (unsigned)rng_below(&w->rng, pool));
	}
}

static char *wjoin(const char *dir, const char *name)
{
	return strcmp(dir, ".") ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

static bool wexists(struct wctx *w, const char *rel)
{
	struct stat st;

	return fstatat(w->rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* A new path in directory dir whose name does not exist yet, or NULL. */
static char *wfree_name(struct wctx *w, int dir, char prefix)
{
	char name[256];

	for (int tries = 0; tries < 6; tries++) {
		char *p;
		wgen_name(w, prefix, name, sizeof(name));
		p = wjoin(w->v[dir].path, name);
		if (!wexists(w, p))
			return p;
		free(p);
	}
	return NULL;
}

static void wlog(struct wctx *w, const char *op, const char *a, const char *b, const char *extra)
{
	sb_reset(&w->msg);
	sb_adds(&w->msg, op);
	if (a) {
		sb_adds(&w->msg, " ");
		sb_add_escaped(&w->msg, a, strlen(a));
	}
	if (b) {
		sb_adds(&w->msg, " -> ");
		sb_add_escaped(&w->msg, b, strlen(b));
	}
	if (extra) {
		sb_adds(&w->msg, " ");
		sb_adds(&w->msg, extra);
	}
}

static void __attribute__((noreturn)) wfail(struct wctx *w, const char *what, const char *path)
{
	char *e = escape(path);

	die("workload op %" PRIu64 ": %s %s: %s", w->opno, what, e, strerror(errno));
}

static void wfill(struct wctx *w, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = rng_next(&w->rng);
		for (size_t b = 0; b < 8 && i + b < n; b++)
			buf[i + b] = (uint8_t)(r >> (8 * b));
	}
}

static void wwrite_at(struct wctx *w, int fd, const char *path, size_t len, off_t off)
{
	uint8_t *buf = xmalloc(len);
	size_t done = 0;

	wfill(w, buf, len);
	while (done < len) {
		ssize_t n = off >= 0 ? pwrite(fd, buf + done, len - done, off + (off_t)done)
				     : write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			wfail(w, "write", path);
		done += (size_t)n;
	}
	free(buf);
}

static int wopen(struct wctx *w, const char *path, int flags, mode_t mode)
{
	int fd = openat(w->rootfd, path, flags | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		wfail(w, "open", path);
	return fd;
}

static void wclose(struct wctx *w, int fd, const char *path)
{
	if (close(fd) < 0)
		wfail(w, "close", path);
}

static const mode_t file_modes[] = {0600, 0644, 0640, 0755, 0700, 0444, 04755, 02750};
static const mode_t dir_modes[] = {0755, 0700, 0775, 0711, 01777, 0555};
static const uid_t owners[] = {0, 1000, 1001, 65534};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Each op returns 0 when done, 1 when it does not apply to this tree. */

static void wcreate_file(struct wctx *w, const char *p)
{
	mode_t mode = file_modes[rng_below(&w->rng, 3)];
	size_t size = rng_below(&w->rng, 5) == 0 ? 0 : (size_t)rng_below(&w->rng, 8193);
	int fd = wopen(w, p, O_WRONLY | O_CREAT | O_EXCL, mode);
	char extra[32];

	wwrite_at(w, fd, p, size, -1);
	wclose(w, fd, p);
	snprintf(extra, sizeof(extra), "size=%zu", size);
	wlog(w, "create", p, NULL, extra);
}

static int op_create(struct wctx *w)
{
	int d = wpick(w, W_DIR);
	char *p = d >= 0 ? wfree_name(w, d, 'f') : NULL;

	if (!p)
		return 1;
	wcreate_file(w, p);
	free(p);
	return 0;
}

static int op_write(struct wctx *w)
{
	int f = wpick(w, W_FILE);
	const char *p;
	off_t off;
	size_t len;
	char extra[64];
	int fd;

	if (f < 0)
		return 1;
	p = w->v[f].path;
	off = (off_t)rng_below(&w->rng, w->v[f].size + 1);
	len = 1 + (size_t)rng_below(&w->rng, 4096);
	fd = wopen(w, p, O_WRONLY, 0);
	wwrite_at(w, fd, p, len, off);
	wclose(w, fd, p);
	snprintf(extra, sizeof(extra), "off=%lld len=%zu", (long long)off, len);
	wlog(w, "write", p, NULL, extra);
	return 0;
}

static int op_append(struct wctx *w)
{
	int f = wpick(w, W_FILE);
	size_t len;
	char extra[32];
	int fd;

	if (f < 0)
		return 1;
	len = 1 + (size_t)rng_below(&w->rng, 2048);
	fd = wopen(w, w->v[f].path, O_WRONLY | O_APPEND, 0);
	wwrite_at(w, fd, w->v[f].path, len, -1);
	wclose(w, fd, w->v[f].path);
	snprintf(extra, sizeof(extra), "len=%zu", len);
	wlog(w, "append", w->v[f].path, NULL, extra);
	return 0;
}

static int op_truncate(struct wctx *w)
{
	int f = wpick(w, W_FILE);
	uint64_t size;
	char extra[32];
	int fd;

	if (f < 0)
		return 1;
	size = w->v[f].size > 32768 ? rng_below(&w->rng, w->v[f].size)
				    : rng_below(&w->rng, w->v[f].size + 4097);
	fd = wopen(w, w->v[f].path, O_WRONLY, 0);
	if (ftruncate(fd, (off_t)size) < 0)
		wfail(w, "truncate", w->v[f].path);
	wclose(w, fd, w->v[f].path);
	snprintf(extra, sizeof(extra), "size=%" PRIu64, size);
	wlog(w, "truncate", w->v[f].path, NULL, extra);
	return 0;
}

static int op_otrunc(struct wctx *w)
{
	int f = wpick(w, W_FILE);
	size_t len;
	char extra[32];
	int fd;

	if (f < 0)
		return 1;
	len = (size_t)rng_below(&w->rng, 4097);
	fd = wopen(w, w->v[f].path, O_WRONLY | O_TRUNC, 0);
	wwrite_at(w, fd, w->v[f].path, len, -1);
	wclose(w, fd, w->v[f].path);
	snprintf(extra, sizeof(extra), "len=%zu", len);
	wlog(w, "open-trunc-write", w->v[f].path, NULL, extra);
	return 0;
}

static int op_chmod(struct wctx *w)
{
	int e = wpick(w, W_NOTLINK);
	mode_t mode;
	char extra[32];

	if (e < 0)
		return 1;
	if (w->v[e].type == 'd')
		mode = dir_modes[rng_below(&w->rng, N_OF(dir_modes))];
	else
		mode = file_modes[rng_below(&w->rng, N_OF(file_modes))];
	if (fchmodat(w->rootfd, w->v[e].path, mode, 0) < 0)
		wfail(w, "chmod", w->v[e].path);
	snprintf(extra, sizeof(extra), "mode=%04o", (unsigned)mode);
	wlog(w, "chmod", w->v[e].path, NULL, extra);
	return 0;
}

static int op_chown(struct wctx *w)
{
	int e = wpick(w, W_ANY);
	uint64_t which;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	char extra[48];

	if (e < 0)
		return 1;
	which = rng_below(&w->rng, 3);
	if (which != 1)
		uid = owners[rng_below(&w->rng, N_OF(owners))];
	if (which != 0)
		gid = (gid_t)owners[rng_below(&w->rng, N_OF(owners))];
	if (fchownat(w->rootfd, w->v[e].path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		wfail(w, "chown", w->v[e].path);
	snprintf(extra, sizeof(extra), "uid=%d gid=%d", (int)uid, (int)gid);
	wlog(w, "chown", w->v[e].path, NULL, extra);
	return 0;
}

static int op_utimes(struct wctx *w)
{
	int e = wpick(w, W_ANY);
	struct timespec ts[2];
	char extra[64];

	if (e < 0)
		return 1;
	if (rng_below(&w->rng, 4) == 0) {
		ts[0].tv_nsec = ts[1].tv_nsec = UTIME_NOW;
		ts[0].tv_sec = ts[1].tv_sec = 0;
		snprintf(extra, sizeof(extra), "now");
	} else {
		/* A fixed old time, so that mtime goes backwards. */
		ts[1].tv_sec = 946684800 + (time_t)rng_below(&w->rng, 700000000);
		ts[1].tv_nsec = (long)rng_below(&w->rng, 1000000000);
		ts[0] = ts[1];
		snprintf(extra, sizeof(extra), "mtime=%lld.%09ld", (long long)ts[1].tv_sec,
			 ts[1].tv_nsec);
	}
	if (utimensat(w->rootfd, w->v[e].path, ts, AT_SYMLINK_NOFOLLOW) < 0)
		wfail(w, "utimes", w->v[e].path);
	wlog(w, "utimes", w->v[e].path, NULL, extra);
	return 0;
}

static int op_setxattr(struct wctx *w)
{
	int e = wpick(w, W_NOTLINK);
	char name[32], extra[64];
	uint8_t val[64];
	size_t len;
	char *abs;

	if (e < 0)
		return 1;
	snprintf(name, sizeof(name), "user.x%u", (unsigned)rng_below(&w->rng, 4));
	len = 1 + (size_t)rng_below(&w->rng, sizeof(val));
	wfill(w, val, len);
	abs = xasprintf("%s/%s", w->root, w->v[e].path);
	if (lsetxattr(abs, name, val, len, 0) < 0) {
		if (errno == ENOTSUP) {
			free(abs);
			return 1;
		}
		wfail(w, "setxattr", w->v[e].path);
	}
	free(abs);
	snprintf(extra, sizeof(extra), "%s len=%zu", name, len);
	wlog(w, "setxattr", w->v[e].path, NULL, extra);
	return 0;
}

static int op_rmxattr(struct wctx *w)
{
	int e = wpick(w, W_NOTLINK);
	char list[4096], *names[64], *abs;
	size_t n = 0;
	ssize_t len;
	const char *victim;

	if (e < 0)
		return 1;
	abs = xasprintf("%s/%s", w->root, w->v[e].path);
	len = llistxattr(abs, list, sizeof(list));
	if (len < 0 && errno != ENOTSUP)
		wfail(w, "listxattr", w->v[e].path);
	for (ssize_t i = 0; i < len && n < N_OF(names); i += (ssize_t)strlen(list + i) + 1)
		if (!strncmp(list + i, "user.", 5))
			names[n++] = list + i;
	if (!n) {
		free(abs);
		return 1;
	}
	sort_strings(names, n);
	victim = names[rng_below(&w->rng, n)];
	if (lremovexattr(abs, victim) < 0)
		wfail(w, "removexattr", w->v[e].path);
	free(abs);
	wlog(w, "removexattr", w->v[e].path, NULL, victim);
	return 0;
}

static void wrename(struct wctx *w, const char *op, const char *from, const char *to)
{
	if (renameat(w->rootfd, from, w->rootfd, to) < 0)
		wfail(w, op, from);
	wlog(w, op, from, to, NULL);
}

static int op_rename_file(struct wctx *w)
{
	int f = wpick(w, W_NONDIR);
	char *to;

	if (f < 0 || !(to = wfree_name(w, w->v[f].parent, w->v[f].type == 'l' ? 's' : 'f')))
		return 1;
	wrename(w, "rename-file", w->v[f].path, to);
	free(to);
	return 0;
}

static int op_rename_file_across(struct wctx *w)
{
	int f = wpick(w, W_NONDIR), d;
	char *to;

	if (f < 0)
		return 1;
	d = wpick(w, W_DIR);
	if (d < 0 || d == w->v[f].parent)
		return 1;
	to = wfree_name(w, d, w->v[f].type == 'l' ? 's' : 'f');
	if (!to)
		return 1;
	wrename(w, "rename-file-across", w->v[f].path, to);
	free(to);
	return 0;
}

static int op_rename_over(struct wctx *w)
{
	int f = wpick(w, W_NONDIR), g = wpick(w, W_NONDIR);

	if (f < 0 || g < 0 || f == g)
		return 1;
	wrename(w, "rename-over", w->v[f].path, w->v[g].path);
	return 0;
}

/* A target for moving directory dn into directory pn: an empty dir or a free name. */
static char *wdir_target(struct wctx *w, int dn, int pn)
{
	if (rng_below(&w->rng, 4) == 0) {
		size_t count = 0, choice;
		for (size_t i = 0; i < w->n; i++)
			count += w->v[i].parent == pn && w->v[i].type == 'd' &&
				 w->v[i].nchildren == 0 && (int)i != dn;
		if (count) {
			choice = rng_below(&w->rng, count);
			for (size_t i = 0; i < w->n; i++)
				if (w->v[i].parent == pn && w->v[i].type == 'd' &&
				    w->v[i].nchildren == 0 && (int)i != dn && choice-- == 0)
					return xstrdup(w->v[i].path);
		}
	}
	return wfree_name(w, pn, 'd');
}

static int op_rename_dir(struct wctx *w)
{
	int d = wpick(w, W_SUBDIR);
	char *to;

	if (d < 0 || !(to = wdir_target(w, d, w->v[d].parent)))
		return 1;
	wrename(w, "rename-dir", w->v[d].path, to);
	free(to);
	return 0;
}

static int op_rename_dir_across(struct wctx *w)
{
	int d = wpick(w, W_SUBDIR);
	size_t count = 0, choice;
	int p = -1;
	char *to;

	if (d < 0)
		return 1;
	/* Any directory outside d's subtree, other than its parent, deep enough room. */
#define FITS(i)                                                                                    \
	(w->v[i].type == 'd' && (int)(i) != w->v[d].parent &&                                      \
	 !wpath_within(w->v[d].path, w->v[i].path) &&                                              \
	 (unsigned)(w->v[i].depth + 1 + w->v[d].height) <= w->max_depth)
	for (size_t i = 0; i < w->n; i++)
		count += FITS(i);
	if (!count)
		return 1;
	choice = rng_below(&w->rng, count);
	for (size_t i = 0; i < w->n && p < 0; i++)
		if (FITS(i) && choice-- == 0)
			p = (int)i;
#undef FITS
	to = wdir_target(w, d, p);
	if (!to)
		return 1;
	wrename(w, "rename-dir-across", w->v[d].path, to);
	free(to);
	return 0;
}

static int op_mkdir(struct wctx *w)
{
	int d = wpick_dir_for_mkdir(w);
	mode_t mode;
	char *p;

	if (d < 0 || !(p = wfree_name(w, d, 'd')))
		return 1;
	mode = rng_below(&w->rng, 4) ? 0755 : dir_modes[rng_below(&w->rng, N_OF(dir_modes))];
	if (mkdirat(w->rootfd, p, mode) < 0)
		wfail(w, "mkdir", p);
	wlog(w, "mkdir", p, NULL, NULL);
	free(p);
	return 0;
}

static int op_unlink(struct wctx *w)
{
	int f = wpick(w, W_NONDIR);

	if (f < 0)
		return 1;
	if (unlinkat(w->rootfd, w->v[f].path, 0) < 0)
		wfail(w, "unlink", w->v[f].path);
	wlog(w, "unlink", w->v[f].path, NULL, NULL);
	return 0;
}

static void wrm_tree(struct wctx *w, int dfd, const char *name, const char *shown)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;

	if (!d)
		wfail(w, "open directory", shown);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	sort_strings(names, n);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			wfail(w, "stat", names[i]);
		if (S_ISDIR(st.st_mode))
			wrm_tree(w, dirfd(d), names[i], names[i]);
		else if (unlinkat(dirfd(d), names[i], 0) < 0)
			wfail(w, "unlink", names[i]);
		free(names[i]);
	}
	free(names);
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0)
		wfail(w, "rmdir", shown);
}

static int op_rmtree(struct wctx *w)
{
	int d = wpick(w, W_SUBDIR);
	char extra[32];

	if (d < 0)
		return 1;
	wrm_tree(w, w->rootfd, w->v[d].path, w->v[d].path);
	snprintf(extra, sizeof(extra), "(%zu below)", w->v[d].nchildren);
	wlog(w, "rmtree", w->v[d].path, NULL, extra);
	return 0;
}

static int op_link(struct wctx *w)
{
	int f = wpick(w, W_FILE), d = wpick(w, W_DIR);
	char *p;

	if (f < 0 || d < 0 || !(p = wfree_name(w, d, 'h')))
		return 1;
	if (linkat(w->rootfd, w->v[f].path, w->rootfd, p, 0) < 0)
		wfail(w, "link", w->v[f].path);
	wlog(w, "link", w->v[f].path, p, NULL);
	free(p);
	return 0;
}

static int op_symlink(struct wctx *w)
{
	int d = wpick(w, W_DIR), t;
	char *p, *target;
	struct sbuf sb = {0};

	if (d < 0 || !(p = wfree_name(w, d, 's')))
		return 1;
	t = rng_below(&w->rng, 3) ? wpick(w, W_ANY) : -1;
	if (t > 0) {
		for (int i = 0; i < w->v[d].depth; i++)
			sb_adds(&sb, "../");
		sb_adds(&sb, w->v[t].path);
		target = sb.s;
	} else {
		target = xasprintf("nowhere/x%u", (unsigned)rng_below(&w->rng, 100));
		free(sb.s);
	}
	if (symlinkat(target, w->rootfd, p) < 0)
		wfail(w, "symlink", p);
	wlog(w, "symlink", target, p, NULL);
	free(target);
	free(p);
	return 0;
}

static int op_replace(struct wctx *w)
{
	/* Delete a name and create it again at once: a new inode under an old name. */
	if (rng_below(&w->rng, 3) == 0) {
		int d = wpick(w, W_SUBDIR);
		if (d < 0)
			return 1;
		wrm_tree(w, w->rootfd, w->v[d].path, w->v[d].path);
		if (mkdirat(w->rootfd, w->v[d].path, 0755) < 0)
			wfail(w, "mkdir", w->v[d].path);
		wlog(w, "rmtree-mkdir", w->v[d].path, NULL, NULL);
	} else {
		int f = wpick(w, W_FILE);
		if (f < 0)
			return 1;
		if (unlinkat(w->rootfd, w->v[f].path, 0) < 0)
			wfail(w, "unlink", w->v[f].path);
		wcreate_file(w, w->v[f].path);
		wlog(w, "unlink-create", w->v[f].path, NULL, NULL);
	}
	return 0;
}

static int op_exchange(struct wctx *w)
{
	int a = wpick(w, W_ANY), b = wpick(w, W_ANY);
	const struct wnode *x, *y;

	if (a <= 0 || b <= 0 || a == b)
		return 1;
	x = &w->v[a];
	y = &w->v[b];
	if (wpath_within(x->path, y->path) || wpath_within(y->path, x->path))
		return 1;
	if ((x->type == 'd' && (unsigned)(y->depth + x->height) > w->max_depth) ||
	    (y->type == 'd' && (unsigned)(x->depth + y->height) > w->max_depth))
		return 1;
	if (renameat2(w->rootfd, x->path, w->rootfd, y->path, RENAME_EXCHANGE) < 0) {
		if (errno == EINVAL || errno == ENOTSUP)
			return 1;
		wfail(w, "rename-exchange", x->path);
	}
	wlog(w, "exchange", x->path, y->path, NULL);
	return 0;
}

static int op_mmap(struct wctx *w)
{
	int f = wpick(w, W_FILE), fd;
	size_t size, off, len;
	uint8_t *map;
	char extra[64];

	if (f < 0 || w->v[f].size == 0 || w->v[f].size > (1u << 20))
		return 1;
	size = (size_t)w->v[f].size;
	off = (size_t)rng_below(&w->rng, size);
	len = 1 + (size_t)rng_below(&w->rng, size - off < 512 ? size - off : 512);
	fd = wopen(w, w->v[f].path, O_RDWR, 0);
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		wfail(w, "mmap", w->v[f].path);
	wfill(w, map + off, len);
	if (munmap(map, size) < 0)
		wfail(w, "munmap", w->v[f].path);
	wclose(w, fd, w->v[f].path);
	snprintf(extra, sizeof(extra), "off=%zu len=%zu", off, len);
	wlog(w, "mmap-write", w->v[f].path, NULL, extra);
	return 0;
}

static int op_punch(struct wctx *w)
{
	int f = wpick(w, W_FILE), fd;
	off_t off, len;
	char extra[64];

	if (f < 0 || w->v[f].size == 0)
		return 1;
	off = (off_t)rng_below(&w->rng, w->v[f].size);
	len = 1 + (off_t)rng_below(&w->rng, w->v[f].size - (uint64_t)off);
	fd = wopen(w, w->v[f].path, O_WRONLY, 0);
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) < 0) {
		if (errno == EOPNOTSUPP) {
			close(fd);
			return 1;
		}
		wfail(w, "fallocate", w->v[f].path);
	}
	wclose(w, fd, w->v[f].path);
	snprintf(extra, sizeof(extra), "off=%lld len=%lld", (long long)off, (long long)len);
	wlog(w, "punch-hole", w->v[f].path, NULL, extra);
	return 0;
}

static const struct wop {
	const char *name;
	int (*fn)(struct wctx *w);
	unsigned weight;
	bool grows; /* adds entries to the tree */
} wops[] = {
	{"create", op_create, 12, true},
	{"write", op_write, 9, false},
	{"append", op_append, 6, false},
	{"truncate", op_truncate, 4, false},
	{"open-trunc-write", op_otrunc, 2, false},
	{"chmod", op_chmod, 5, false},
	{"chown", op_chown, 4, false},
	{"utimes", op_utimes, 4, false},
	{"setxattr", op_setxattr, 4, false},
	{"removexattr", op_rmxattr, 3, false},
	{"rename-file", op_rename_file, 4, false},
	{"rename-file-across", op_rename_file_across, 4, false},
	{"rename-over", op_rename_over, 3, false},
	{"rename-dir", op_rename_dir, 2, false},
	{"rename-dir-across", op_rename_dir_across, 3, false},
	{"mkdir", op_mkdir, 6, true},
	{"unlink", op_unlink, 6, false},
	{"rmtree", op_rmtree, 1, false},
	{"link", op_link, 4, true},
	{"symlink", op_symlink, 4, true},
	{"replace", op_replace, 3, false},
	{"exchange", op_exchange, 2, false},
	{"mmap-write", op_mmap, 2, false},
	{"punch-hole", op_punch, 2, false},
};

static void workload_op(struct wctx *w, uint64_t seed, uint64_t opno)
{
	unsigned total = 0;
	bool full;

	w->opno = opno;
	w->rng.s = seed * 0x9e3779b97f4a7c15ull ^ (opno * 0xd1b54a32d192ed03ull);
	rng_next(&w->rng);
	wtree_load(w);
	full = w->n >= w->max_entries;
	for (size_t i = 0; i < N_OF(wops); i++)
		total += wops[i].weight;
	for (int attempt = 0; attempt < 32; attempt++) {
		unsigned r = (unsigned)rng_below(&w->rng, total);
		size_t i = 0;
		while (r >= wops[i].weight)
			r -= wops[i++].weight;
		if (full && wops[i].grows)
			continue;
		if (wops[i].fn(w) == 0) {
			if (w->log)
				fprintf(w->log, "%" PRIu64 " %s\n", opno, w->msg.s);
			return;
		}
	}
	if (w->log)
		fprintf(w->log, "%" PRIu64 " nothing-to-do\n", opno);
}

static int cmd_workload(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"seed", required_argument, NULL, 's'},
		{"ops", required_argument, NULL, 'o'},
		{"start", required_argument, NULL, 'S'},
		{"log", required_argument, NULL, 'l'},
		{"max-entries", required_argument, NULL, 'e'},
		{"max-depth", required_argument, NULL, 'd'},
		{0},
	};
	const char *usage = "usage: workload --seed N --ops K [--start I] [--log FILE] "
			    "[--max-entries N] [--max-depth N] DIR";
	uint64_t seed = 0, ops = 0, start = 1, v;
	bool have_seed = false, have_ops = false;
	struct wctx w = {.max_entries = 300, .max_depth = 5};
	struct stat st;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!parse_u64(optarg, &seed))
				usage_error("bad --seed '%s'", optarg);
			have_seed = true;
			break;
		case 'o':
			if (!parse_u64(optarg, &ops))
				usage_error("bad --ops '%s'", optarg);
			have_ops = true;
			break;
		case 'S':
			if (!parse_u64(optarg, &start) || start == 0)
				usage_error("bad --start '%s'", optarg);
			break;
		case 'l':
			w.log = fopen(optarg, "ae");
			if (!w.log)
				die("cannot open log %s: %s", optarg, strerror(errno));
			setvbuf(w.log, NULL, _IOLBF, 0);
			break;
		case 'e':
			if (!parse_u64(optarg, &v) || v < 2 || v > 1000000)
				usage_error("bad --max-entries '%s'", optarg);
			w.max_entries = (unsigned)v;
			break;
		case 'd':
			if (!parse_u64(optarg, &v) || v < 1 || v > 64)
				usage_error("bad --max-depth '%s'", optarg);
			w.max_depth = (unsigned)v;
			break;
		default:
			usage_error("%s", usage);
		}
	}
	if (!have_seed || !have_ops || optind != argc - 1)
		usage_error("%s", usage);
	w.root = argv[optind];
	w.rootfd = open(w.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w.rootfd < 0 || fstat(w.rootfd, &st) < 0)
		die("cannot open directory %s: %s", w.root, strerror(errno));
	w.dev = st.st_dev;
	umask(0);
	for (uint64_t i = 0; i < ops; i++)
		workload_op(&w, seed, start + i);
	wtree_free(&w);
	free(w.v);
	free(w.msg.s);
	close(w.rootfd);
	if (w.log)
		fclose(w.log);
	return 0;
}

/* ------------------------------------------------------------------ */
/* storm, shutdown                                                      */

static int cmd_storm(int argc, char **argv)
{
	uint64_t n;
	int dfd;

	if (argc != 3 || !parse_u64(argv[2], &n))
		usage_error("usage: storm DIR N");
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		die("cannot open directory %s: %s", argv[1], strerror(errno));
	/* Each round is a create, a modify, a close and most often a delete. */
	for (uint64_t i = 0; i < n; i++) {
		char name[32];
		int fd;

		snprintf(name, sizeof(name), "storm%" PRIu64, i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			die("cannot create %s/%s: %s", argv[1], name, strerror(errno));
		if (write(fd, "x", 1) != 1)
			die("cannot write %s/%s: %s", argv[1], name, strerror(errno));
		close(fd);
		if (i % 97 != 0 && unlinkat(dfd, name, 0) < 0)
			die("cannot unlink %s/%s: %s", argv[1], name, strerror(errno));
	}
	close(dfd);
	return 0;
}

static int cmd_shutdown(int argc, char **argv)
{
	uint32_t flags = FS_SHUTDOWN_FLAGS_NOLOGFLUSH;
	const char *mnt;
	int fd;

	if (argc == 3 && !strcmp(argv[1], "--flush"))
		flags = FS_SHUTDOWN_FLAGS_DEFAULT;
	else if (argc == 3 && !strcmp(argv[1], "--logflush"))
		flags = FS_SHUTDOWN_FLAGS_LOGFLUSH;
	else if (argc == 3 && !strcmp(argv[1], "--nologflush"))
		flags = FS_SHUTDOWN_FLAGS_NOLOGFLUSH;
	else if (argc != 2)
		usage_error("usage: shutdown [--flush|--logflush|--nologflush] MOUNTPOINT");
	mnt = argv[argc - 1];
	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open %s: %s", mnt, strerror(errno));
	if (ioctl(fd, FS_IOC_SHUTDOWN, &flags) < 0)
		die("cannot shut down %s: %s", mnt, strerror(errno));
	close(fd);
	return 0;
}

/*
 * Write STRING at OFFSET of FILE through a shared mapping. --close-first
 * closes the fd before the write (no close event follows it); --wait maps,
 * prints "mapped" and waits for a line on stdin before writing, so that
 * the mapping can be made before a token and the write done after it.
 */
static int cmd_mmap_write(int argc, char **argv)
{
	bool close_first = false, wait_input = false;
	const char *file, *data;
	uint64_t off;
	struct stat st;
	uint8_t *map;
	int fd;

	while (argc > 1 && argv[1][0] == '-') {
		if (!strcmp(argv[1], "--close-first"))
			close_first = true;
		else if (!strcmp(argv[1], "--wait"))
			wait_input = true;
		else
			break;
		argc--;
		argv++;
	}
	if (argc != 4 || !parse_u64(argv[2], &off))
		usage_error("usage: mmap-write [--close-first] [--wait] FILE OFFSET STRING");
	file = argv[1];
	data = argv[3];
	fd = open(file, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		die("cannot open %s: %s", file, strerror(errno));
	if (off + strlen(data) > (uint64_t)st.st_size)
		die("%s: %" PRIu64 " bytes at %" PRIu64 " go past the end (%lld)", file,
		    (uint64_t)strlen(data), off, (long long)st.st_size);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("cannot map %s: %s", file, strerror(errno));
	if (close_first)
		close(fd);
	if (wait_input) {
		char line[64];
		printf("mapped\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			die("mmap-write: no go-ahead on stdin");
	}
	memcpy(map + off, data, strlen(data));
	if (munmap(map, (size_t)st.st_size) < 0)
		die("munmap: %s", strerror(errno));
	if (!close_first)
		close(fd);
	return 0;
}

/* Write STRING at OFFSET of FILE with splice(2) from a pipe. */
static int cmd_splice_write(int argc, char **argv)
{
	uint64_t off;
	loff_t pos;
	int fd, p[2];
	size_t len;
	ssize_t n;

	if (argc != 4 || !parse_u64(argv[2], &off))
		usage_error("usage: splice-write FILE OFFSET STRING");
	fd = open(argv[1], O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open %s: %s", argv[1], strerror(errno));
	if (pipe(p) < 0)
		die("pipe: %s", strerror(errno));
	len = strlen(argv[3]);
	if (write(p[1], argv[3], len) != (ssize_t)len)
		die("write to pipe: %s", strerror(errno));
	pos = (loff_t)off;
	n = splice(p[0], NULL, fd, &pos, len, 0);
	if (n != (ssize_t)len)
		die("splice into %s: %s", argv[1], n < 0 ? strerror(errno) : "short");
	close(p[0]);
	close(p[1]);
	close(fd);
	return 0;
}

/* Copy SRC over the start of DST with copy_file_range(2) (a reflink on some filesystems). */
static int cmd_copy_range(int argc, char **argv)
{
	int in, out;
	struct stat st;
	ssize_t n;

	if (argc != 3)
		usage_error("usage: copy-range SRC DST");
	in = open(argv[1], O_RDONLY | O_CLOEXEC);
	out = open(argv[2], O_WRONLY | O_CLOEXEC);
	if (in < 0 || out < 0 || fstat(in, &st) < 0)
		die("cannot open %s or %s: %s", argv[1], argv[2], strerror(errno));
	n = copy_file_range(in, NULL, out, NULL, (size_t)st.st_size, 0);
	if (n != st.st_size)
		die("copy_file_range: %s", n < 0 ? strerror(errno) : "short");
	close(in);
	close(out);
	return 0;
}

/* Can this process mark DIR's filesystem the way fstrackd does? */
static int cmd_probe_fanotify(int argc, char **argv)
{
	unsigned flags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_REPORT_DFID_NAME;
	uint64_t mask = FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_ONDIR;
	int fd;

	if (argc != 2)
		usage_error("usage: probe-fanotify DIR");
	fd = fanotify_init(flags, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("fanotify_init(FAN_REPORT_DFID_NAME): %s", strerror(errno));
	if (fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, argv[1]) < 0)
		die("fanotify_mark(FAN_MARK_FILESYSTEM, %s): %s", argv[1], strerror(errno));
	close(fd);
	return 0;
}

/* ------------------------------------------------------------------ */

static int cmd_help(int argc, char **argv)
{
	printf("usage: %s COMMAND ...\n"
	       "  manifest DIR                  one line per path under DIR (stdout)\n"
	       "  check --before M1 --after M2 --answer A.json [--report] [--json]\n"
	       "                                every differing path is covered by the answer\n"
	       "  validate A.json               the answer keeps the command-line contract\n"
	       "  has A.json PATH [KIND...]     PATH is listed in the answer (with every KIND)\n"
	       "  covers A.json PATH            PATH is covered by the answer\n"
	       "  answer A.json token|fresh|count|dump\n"
	       "  oracle [--omit N] M1 M2       the exact answer for two manifests (JSON),\n"
	       "                                without its Nth change (named on stderr)\n"
	       "  json FILE [KEY...]            print the value at KEY/KEY ('*': every element)\n"
	       "  probe-fanotify DIR            can a filesystem mark be put on DIR's fs?\n"
	       "  mmap-write [--close-first] [--wait] FILE OFFSET STRING\n"
	       "                                write through a shared mapping\n"
	       "  splice-write FILE OFFSET STRING                 write with splice(2)\n"
	       "  copy-range SRC DST            copy_file_range(2) SRC over DST\n"
	       "  workload --seed N --ops K [--start I] [--log FILE] [--max-entries N]\n"
	       "           [--max-depth N] DIR  deterministic random operations in DIR\n"
	       "  storm DIR N                   N quick create+write+close(+unlink) rounds\n"
	       "  shutdown [--flush|--logflush|--nologflush] MOUNTPOINT\n"
	       "                                FS_IOC_SHUTDOWN (default: no log flush)\n",
	       prog);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{"manifest", cmd_manifest}, {"check", cmd_check},	  {"validate", cmd_validate},
		{"has", cmd_has},	    {"covers", cmd_covers},	  {"answer", cmd_answer},
		{"workload", cmd_workload}, {"storm", cmd_storm},	  {"shutdown", cmd_shutdown},
		{"mmap-write", cmd_mmap_write}, {"splice-write", cmd_splice_write},
		{"copy-range", cmd_copy_range},
		{"oracle", cmd_oracle},	    {"json", cmd_json},	  {"probe-fanotify", cmd_probe_fanotify},
		{"help", cmd_help},	    {"--help", cmd_help},
	};

	if (argc < 2)
		usage_error("no command");
	for (size_t i = 0; i < N_OF(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	usage_error("unknown command '%s'", argv[1]);
}
