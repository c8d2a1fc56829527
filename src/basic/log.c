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
	fprintf(stderr, "<%d>fstrackd: %s%s%s\n", level, buf, suffix ? ": " : "", suffix ? suffix : "");
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
