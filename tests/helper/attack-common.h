/* SPDX-License-Identifier: MIT */
/* attack-common: what the attack helpers fst-attack and fst-fuzz share. */
#ifndef FST_ATTACK_COMMON_H
#define FST_ATTACK_COMMON_H

#include <stdint.h>

/* "PROGRAM: message" on stderr, exit 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t now_ms(void);

/* RLIMIT_NOFILE up to its hard limit (floods hold many connections). */
void raise_fd_limit(void);

/*
 * A blocking connection to the Unix socket at path that gives up after
 * 2 s in a full listen backlog: the fd, or -errno.
 */
int connect_to(const char *path);

/* connect_to(), tried again for 30 s while the listen backlog is full (a flood). */
int connect_patient(const char *path);

#endif
