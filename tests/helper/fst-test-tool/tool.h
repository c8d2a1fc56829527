/* SPDX-License-Identifier: MIT */
/*
 * fst-test-tool: what its parts share. Each file is one job:
 *
 *   main.c      the command table and `help`
 *   util.c      dying with a message, allocation, byte strings, escaping, parsing
 *   hash128.c   the content hash of the manifest (MurmurHash3 x64 128)
 *   manifest.c  `manifest`: a tree as one line per path; reading and comparing manifests
 *   answer.c    `validate`, `has`, `covers`, `answer`, `json`: reading answers and
 *               the coverage rule of docs/design.md ("The promise")
 *   check.c     `check`, `oracle`: an answer against two manifests
 *   gitcheck.c  `gitcheck`: an answer of git's fsmonitor protocol against two
 *               manifests, the way git uses it
 *   workload.c  `workload`, `storm`: deterministic operations on a tree
 *   probes.c    `probe-fanotify`, `shutdown`, `mmap-write`, `splice-write`,
 *               `copy-range`: system calls the shell cannot make
 *
 * Exit status of every command: 0 success, 1 failure (a false negative, a
 * missing entry, an error), 2 usage. Nothing here trusts fstrack.
 */
#ifndef FST_TEST_TOOL_H
#define FST_TEST_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <dirent.h>

#include "basic/hashmap.h"

#define EXIT_USAGE 2
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

extern const char *const prog;

/* ------------------------------------------------------------------ */
/* util.c                                                               */

/* Print "fst-test-tool: MESSAGE" and exit 1. */
void __attribute__((format(printf, 1, 2), noreturn)) die(const char *fmt, ...);
/* Print "fst-test-tool: MESSAGE (run 'fst-test-tool help')" and exit 2. */
void __attribute__((format(printf, 1, 2), noreturn)) usage_error(const char *fmt, ...);

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *__attribute__((format(printf, 1, 2))) xasprintf(const char *fmt, ...);
/* p with room for at least `need` elements of `size` bytes; *cap (elements) doubles. */
void *xgrow(void *p, size_t *cap, size_t need, size_t size);

/* qsort() of an array of strings; NULL with n == 0 is fine. */
void sort_strings(char **v, size_t n);
/* The names in directory d but "." and "..", sorted; `shown` names d in errors. */
char **dir_names(DIR *d, const char *shown, size_t *ret_n);
void free_strings(char **v, size_t n);

/* A growing byte string, always NUL-terminated once anything was added. */
struct sbuf {
	char *s;
	size_t len, cap;
};

void sb_add(struct sbuf *sb, const void *p, size_t n);
void sb_adds(struct sbuf *sb, const char *s);
/* Empty it (and make s a valid string). */
void sb_reset(struct sbuf *sb);
/* Add ", " style lists: sep first unless the string is empty. */
void sb_add_item(struct sbuf *sb, const char *sep, const char *item);

/*
 * Paths in manifests, reports and answers are escaped so that any byte of a
 * name is safe: bytes <= 0x20, >= 0x7f, '%' and '#' become %XX.
 */
void sb_add_escaped(struct sbuf *sb, const char *s, size_t n);
char *escape(const char *s);
/* The raw bytes of an escaped path, appended to sb. */
void sb_add_unescaped(struct sbuf *sb, const char *s);

bool parse_u64(const char *s, uint64_t *ret);
bool parse_i64(const char *s, int64_t *ret);

/* ------------------------------------------------------------------ */
/* hash128.c: equal bytes, equal hash; 32 hex digits and a NUL.         */

struct h128 {
	uint64_t h1, h2, len;
	uint8_t tail[16];
	size_t ntail;
};

void h128_init(struct h128 *h, uint64_t seed);
void h128_update(struct h128 *h, const void *data, size_t n);
void h128_final(struct h128 *h, char out[33]);

/* ------------------------------------------------------------------ */
/* manifest.c                                                           */

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
	int ino_next;	  /* (loaded) next entry with the same inode, -1 */
};

struct manifest {
	struct mentry *v;
	size_t n, cap;
	struct hashmap *by_path; /* path -> index + 1 */
	struct hashmap *by_ino;	 /* ino (8 bytes) -> first index + 1 (nlink > 1 only) */
};

/* A manifest written by `manifest`; dies on any error. */
void manifest_load(const char *file, struct manifest *m);
void manifest_release(struct manifest *m);
const struct mentry *manifest_get(const struct manifest *m, const char *path);
/* Which fields differ, comma-separated ("" if none); ino is not compared. */
void mentry_diff(const struct mentry *a, const struct mentry *b, struct sbuf *out);

/* One path whose manifest lines differ: created, deleted or changed fields. */
struct mchange {
	const char *path;	 /* escaped; points into one of the manifests */
	const struct mentry *e1; /* before, NULL when created */
	const struct mentry *e2; /* after, NULL when deleted */
	char *why;		 /* "created", "deleted" or the fields that differ */
};

/* Every path whose line differs between m1 and m2, sorted by path. */
struct mchange *manifest_changes(const struct manifest *m1, const struct manifest *m2,
				 size_t *ret_n);
void mchanges_free(struct mchange *v, size_t n);

int cmd_manifest(int argc, char **argv);

/* ------------------------------------------------------------------ */
/* answer.c: the JSON document of `fstrack changes --json`              */

#define K_ENTRIES (1u << 6)
#define K_RECURSIVE (1u << 7)

struct listed {
	char *path;	/* escaped */
	unsigned kinds; /* 1 << index in the list of kind names */
};

struct answer {
	char *token;
	bool fresh;
	struct listed *v; /* in answer order */
	size_t n, cap;
	struct hashmap *by_path; /* escaped path -> index + 1 */
	unsigned problems;	 /* contract violations found while loading (on stderr) */
};

/* Count a break of an answer's contract in *problems; "BAD ANSWER: MESSAGE" on stderr. */
void __attribute__((format(printf, 2, 3))) bad_answer(unsigned *problems, const char *fmt, ...);
/* Is p a well-formed path of the contract: "." or a/b/c, no "", ".", ".." parts? */
bool path_well_formed(const char *p, size_t len);
/* Load an answer, counting (and printing) every break of the contract. */
void answer_load(const char *file, struct answer *a);
void answer_release(struct answer *a);
/* The kinds of an escaped path in the answer; -1 if it is not listed. */
int answer_kinds(const struct answer *a, const char *path, size_t len);
/* "created,modified" ("-" for none). */
void kinds_format(unsigned kinds, struct sbuf *out);

enum cover {
	COVER_NONE,
	COVER_FRESH,
	COVER_EXACT,
	COVER_ENTRIES,	 /* the parent is listed with "entries" */
	COVER_RECURSIVE, /* an ancestor is listed with "recursive" */
	COVER_HARDLINK,	 /* another name of the same inode is listed */
	COVER_N,
};

extern const char *const cover_names[COVER_N];

/*
 * The coverage rule for escaped path p, without the hard-link rule.
 * *ret_via gets the covering path (points into p, or ".").
 */
enum cover cover_by_rule(const struct answer *a, const char *p, const char **ret_via,
			 size_t *ret_via_len);
/* The hard-link rule: another name of e's inode in m listed by the answer, or NULL. */
const char *cover_by_hardlink(const struct answer *a, const struct manifest *m,
			      const struct mentry *e);

int cmd_validate(int argc, char **argv);
int cmd_has(int argc, char **argv);
int cmd_covers(int argc, char **argv);
int cmd_answer(int argc, char **argv);
int cmd_json(int argc, char **argv);

/* ------------------------------------------------------------------ */
/* check.c, gitcheck.c, workload.c, probes.c                                        */

/*
 * What check and gitcheck start with: the options --before M1, --after M2,
 * --answer FILE, --report and a flag of each (--FLAG), and the manifests
 * M1 and M2 loaded. usage_error() with usage when the options are wrong.
 */
struct check_args {
	const char *answer;
	bool report, flag;
	struct manifest m1, m2;
};

void check_args_load(int argc, char **argv, const char *flag, const char *usage,
		     struct check_args *ret);
void check_args_release(struct check_args *args);

int cmd_check(int argc, char **argv);
int cmd_oracle(int argc, char **argv);
int cmd_gitcheck(int argc, char **argv);
int cmd_workload(int argc, char **argv);
int cmd_storm(int argc, char **argv);
int cmd_shutdown(int argc, char **argv);
int cmd_mmap_write(int argc, char **argv);
int cmd_splice_write(int argc, char **argv);
int cmd_copy_range(int argc, char **argv);
int cmd_probe_fanotify(int argc, char **argv);

#endif
