/* SPDX-License-Identifier: MIT */
/* query-private: the compiled query, shared by query.c and query-run.c. */
#ifndef FST_WATCHMAN_QUERY_PRIVATE_H
#define FST_WATCHMAN_QUERY_PRIVATE_H

#include "watchman/query.h"
#include "watchman/wildmatch.h"

enum wq_field {
	F_NAME,
	F_SYMLINK_TARGET,
	F_EXISTS,
	F_SIZE,
	F_MODE,
	F_UID,
	F_GID,
	F_ATIME,
	F_ATIME_MS,
	F_ATIME_US,
	F_ATIME_NS,
	F_ATIME_F,
	F_MTIME,
	F_MTIME_MS,
	F_MTIME_US,
	F_MTIME_NS,
	F_MTIME_F,
	F_CTIME,
	F_CTIME_MS,
	F_CTIME_US,
	F_CTIME_NS,
	F_CTIME_F,
	F_INO,
	F_DEV,
	F_NLINK,
	F_NEW,
	F_OCLOCK,
	F_CCLOCK,
	F_TYPE,
	F_SHA1,
	F_COUNT
};

/* Field names, indexed by enum wq_field. */
extern const char *const wq_field_names[F_COUNT];

struct wq_expr;

struct wq_path {
	char *name;    /* canonical, "" for the root */
	int64_t depth; /* < 0: unlimited */
};

/* One component of a glob: a name pattern, or "**..." with the rest of the glob. */
struct wq_glob_comp {
	struct wm_pattern *pat;
	bool doublestar;
};

struct wq_glob {
	struct wq_glob_comp *comps;
	size_t n;
};

struct wq {
	struct wq_expr *expr; /* NULL: every file */
	enum wq_field fields[F_COUNT * 4];
	size_t nfields;

	bool has_since;
	struct wclockspec since;
	char *since_str; /* the clock or cursor, owned */

	char *relative_root; /* NULL or canonical */
	bool has_paths;
	struct wq_path *paths;
	size_t npaths;
	bool has_glob;
	struct wq_glob *globs;
	size_t nglobs;
	bool has_suffix;
	char **suffixes; /* lowercased */
	size_t nsuffixes;

	bool dedup, empty_on_fresh, case_sensitive, omit_changed_files;
	int64_t sync_timeout_ms;
};

/* Does name (basename) end with "." suffix for one of the suffixes, ignoring ASCII case? */
bool wq_has_suffix(const char *base, size_t len, char *const *suffixes, size_t n);
/* The last component of a wholename. */
const char *wq_basename(const char *name);
/* Make sure f->st is loaded (see struct wq_file); 0 or -errno other than ENOENT. */
int wq_file_load(struct wq_file *f);

#endif
