/* SPDX-License-Identifier: MIT */
#include "basic/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The one piece of process-wide state: how much to say. */
static int max_level = LOG_LEVEL_INFO;

void log_set_level(int level)
{
	max_level = level;
}

int log_get_level(void)
{
	return max_level;
}

static void vlog(int level, const char *suffix, const char *fmt, va_list ap)
{
	char buf[2048];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n < 0)
		return;
	/* "<N>" prefixes are understood by journald when run under systemd. */
	fprintf(stderr, "<%d>fstrackd: %s%s%s\n", level, buf, suffix ? ": " : "",
		suffix ? suffix : "");
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

void log_msg_rl(struct log_ratelimit *rl, int level, const char *fmt, ...)
{
	struct timespec ts;
	uint64_t now;
	char extra[96];
	va_list ap;

	if (level > max_level)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (now - rl->window_start_ns >= LOG_RATE_WINDOW_S * 1000000000ull) {
		rl->window_start_ns = now;
		rl->in_window = 0;
	}
	if (rl->in_window >= LOG_RATE_BURST) {
		rl->suppressed++;
		return;
	}
	rl->in_window++;
	extra[0] = '\0';
	if (rl->suppressed)
		snprintf(extra, sizeof(extra), "%lu similar lines before this one were not logged",
			 rl->suppressed);
	rl->suppressed = 0;
	va_start(ap, fmt);
	vlog(level, extra[0] ? extra : NULL, fmt, ap);
	va_end(ap);
}

int log_errno(int level, int err, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level)
		return err;
	va_start(ap, fmt);
	vlog(level, strerror(err < 0 ? -err : err), fmt, ap);
	va_end(ap);
	return err;
}
