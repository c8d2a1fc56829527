/* SPDX-License-Identifier: MIT */
/* log: the daemon's diagnostics on stderr (journald picks them up). */
#ifndef FST_LOG_H
#define FST_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARN = 4, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

void log_set_level(int level);
int log_get_level(void);
/* printf-like; "%m" is not special, pass strerror yourself. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs "<message>: <strerror(-err)>" and returns err (a negative errno). */
int log_errno(int level, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Rate limiting, per call site: at most LOG_RATE_BURST lines per
 * LOG_RATE_WINDOW_S seconds; the next line that may go out says how many
 * were left out. For messages a client or a workload can make frequent.
 * Not thread-safe: the loop's thread only.
 */
#define LOG_RATE_BURST 10
#define LOG_RATE_WINDOW_S 10
struct log_ratelimit {
	uint64_t window_start_ns;
	unsigned in_window;
	unsigned long suppressed;
};
void log_msg_rl(struct log_ratelimit *rl, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_ratelimited(level, ...)                                                                \
	do {                                                                                       \
		static struct log_ratelimit log__rl;                                               \
		log_msg_rl(&log__rl, level, __VA_ARGS__);                                          \
	} while (0)

#define log_error(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
