/* SPDX-License-Identifier: MIT */
/*
 * fsys: one tracked filesystem: its fanotify group (watcher), its
 * "already recorded" set (recorder), its journal, its gap machinery
 * (catchup) and its mount. The struct is opaque: what a caller may ask is
 * below. Attaching and detaching are the scope layer's business.
 */
#ifndef FST_FSYS_H
#define FST_FSYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/token.h"
#include "daemon/catchup.h"
#include "daemon/journal.h"
#include "daemon/query.h"
#include "daemon/recorder.h"
#include "daemon/scopefilter.h"
#include "daemon/watcher.h"

struct fsys;
struct perm_cache;

/*
 * A token for fs now: the queue drained, the journal durable up to it,
 * and a new epoch begun (changes from now on are recorded after it).
 */
int fsys_token(struct fsys *fs, char buf[static TOKEN_MAX]);
/* The text of the token naming position seq of fs's journal. */
void fsys_format_token(const struct fsys *fs, uint64_t seq, char buf[static TOKEN_MAX]);

/* Must answers on fs wait for a catch-up scan? */
bool fsys_busy(const struct fsys *fs);

/* Changes since seq from under canon_dir (see query.h). */
int fsys_query(struct fsys *fs, uint64_t from, const char *canon_dir, struct perm_cache *pc,
	       struct change_set **ret);
/* Every seq below this is durable. */
uint64_t fsys_durable_seq(const struct fsys *fs);
/*
 * Live subscribers want every change, not one per token: start an epoch.
 * An error means the kernel may still drop writes (its ignore marks could
 * not be removed): the stream cannot go on exactly.
 */
int fsys_new_epoch(struct fsys *fs);

const char *fsys_mount_path(const struct fsys *fs);

struct fsys_status {
	const char *id;
	const char *mount;
	const char *fstype;
	char journal_uuid[33];
	struct journal_stats journal;
	struct watcher_stats watcher;
	struct recorder_stats recorder;
	size_t recorder_entries;
	struct sfilter_stats filter;
	struct catchup_status catchup;
	size_t scopes;		    /* active scopes on it */
	size_t scope_index_entries; /* their index, empty entries of unwatched ones included */
};
void fsys_get_status(const struct fsys *fs, struct fsys_status *ret);

/* Journal bytes by the age of their newest record: < 1 h, < 1 d, < 7 d, < 30 d, older. */
#define FSYS_AGE_BUCKETS 5
void fsys_bytes_by_age(const struct fsys *fs, uint64_t now_ns, uint64_t ret[FSYS_AGE_BUCKETS]);

/*
 * How far back a scope added at added_seq (at realtime added_ns, 0 if
 * unknown) is answered: the oldest token answered exactly (from the
 * detailed history), and the oldest answered at all (widened, from the
 * summary), as seqs and times: the scope's start where the seq is its
 * added_seq, else the latest time such tokens can have been issued (0:
 * unknown).
 */
struct fsys_horizon {
	uint64_t exact_seq, exact_time_ns;
	uint64_t widened_seq, widened_time_ns;
};
void fsys_horizon(const struct fsys *fs, uint64_t added_seq, uint64_t added_ns,
		  struct fsys_horizon *ret);

#endif
