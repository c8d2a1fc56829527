/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "basic/log.h"
#include "basic/util.h"
#include "daemon/fsys-internal.h"

#define IDLE_TICK_MS 1000
/* scopes looked at for a vanished directory, each second */
#define SWEEP_BUDGET 64

/*
 * The commit timer ticks every commit_ms while there is work (records to
 * commit, scans, failing commits) and once a second when idle, so an idle
 * daemon does not wake 20 times a second. A filesystem that appends
 * records switches it back to fast.
 */
static void on_tick(void *data)
{
	struct tracker *t = data;
	uint64_t now = now_monotonic_ns();
	bool fast = false;

	if (t->mounts_retry)
		tracker_recheck_mounts(t);
	if (now - t->last_sweep_ns >= 1000000000ull) {
		t->last_sweep_ns = now;
		scopes_sweep(t, SWEEP_BUDGET, (uint64_t)t->cfg.vanished_grace_s * 1000000000ull,
			     now);
	}
	for (struct fsys *fs = t->filesystems; fs; fs = fs->next)
		fast |= fsys_tick(fs, now);
	if (fast != t->timer_fast) {
		t->timer_fast = fast;
		loop_timer_set(t->commit_timer, fast ? t->cfg.commit_ms : IDLE_TICK_MS);
	}
}

static void on_mounts(void *data, uint32_t events)
{
	tracker_recheck_mounts(data);
}

int tracker_add_observer(struct tracker *t, const struct tracker_observer *obs)
{
	if (t->n_obs == TRACKER_OBSERVERS_MAX)
		return -ENOSPC;
	t->obs[t->n_obs++] = *obs;
	return 0;
}

int tracker_new(const struct tracker_config *cfg, struct loop *loop, struct tracker **ret)
{
	struct tracker *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->loop = loop;
	t->pid = getpid();
	t->mountinfo_fd = -1;
	t->state_dir = strdup(cfg->state_dir);
	if (!t->state_dir) {
		tracker_free(t);
		return -ENOMEM;
	}
	t->cfg.state_dir = t->state_dir;
	snprintf(t->scopes_path, sizeof(t->scopes_path), "%s/scopes.json", t->state_dir);
	r = loop_add_timer(loop, cfg->commit_ms, on_tick, t, &t->commit_timer);
	if (r < 0) {
		tracker_free(t);
		return r;
	}
	t->timer_fast = true;
	/* The mount table: EPOLLPRI when it changes. */
	t->mountinfo_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (t->mountinfo_fd < 0) {
		r = log_errno(LOG_LEVEL_ERR, -errno, "open /proc/self/mountinfo");
		tracker_free(t);
		return r;
	}
	r = loop_add_fd(loop, t->mountinfo_fd, EPOLLPRI, on_mounts, t, &t->mounts_src);
	if (r < 0) {
		tracker_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

int tracker_load(struct tracker *t)
{
	return scopes_load(t);
}

/*
 * The mount table changed: a filesystem whose mount went away is detached
 * (its scopes wait as missing); every missing scope whose directory is
 * back is attached again. A table that cannot be read is looked at again
 * on the next tick: never taken for "unmounted".
 */
void tracker_recheck_mounts(struct tracker *t)
{
	struct fsys *fs = t->filesystems, *next;

	t->mounts_retry = false;
	for (; fs; fs = next) {
		int r = fsys_check_mounted(fs);

		next = fs->next;
		if (r > 0)
			continue;
		if (r < 0) {
			if (!t->mounts_retry)
				log_errno(LOG_LEVEL_WARN, r,
					  "cannot read the mount table; looking again in a moment");
			t->mounts_retry = true;
			continue;
		}
		log_warn("%s (%s) was unmounted; its scopes wait for it to come back",
			 fsys_mount_path(fs), fs->id);
		scopes_fs_gone(t, fs);
		fsys_detach(fs, "unmounted");
	}
	/* all of them first, so one catch-up round covers every scope that is back */
	scopes_reattach(t);
}

void tracker_shutdown(struct tracker *t)
{
	/* news nobody will hear now; a detached filesystem still waiting for it goes */
	loop_cancel(t->loop, &t->notify_node);
	while (t->notify) {
		struct fsys *fs = t->notify;
		t->notify = fs->notify_next;
		fs->queued = false;
		if (fs->detached && !fs->free_node.queued)
			fsys_free(fs);
	}
	while (t->filesystems) {
		struct fsys *fs = t->filesystems;
		t->filesystems = fs->next;
		fsys_close_clean(fs);
		fsys_free(fs);
	}
	scopes_free(t);
}

struct tracker *tracker_free(struct tracker *t)
{
	if (!t)
		return NULL;
	tracker_shutdown(t);
	t->commit_timer = loop_del(t->commit_timer);
	t->mounts_src = loop_del(t->mounts_src);
	safe_close(t->mountinfo_fd);
	free(t->state_dir);
	free(t);
	return NULL;
}

const struct tracker_config *tracker_config(const struct tracker *t)
{
	return &t->cfg;
}

struct fsys *tracker_first_fsys(const struct tracker *t)
{
	return t->filesystems;
}

struct fsys *tracker_next_fsys(const struct fsys *fs)
{
	return fs->next;
}
