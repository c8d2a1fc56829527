/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of src/gitfsm: git's pkt-line framing as its simple IPC uses
 * it (the bytes git's reader and writer agree on: pkt-line.c), and git's
 * fsmonitor answer from fstrackd's changes in a scratch work tree (the
 * token, the rescan names, "/" where only it will do).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fstrack.h"
#include "gitfsm/gitfsm.h"
#include "gitfsm/pktline.h"
#include "unit-util.h"

/* ---- pkt-line ------------------------------------------------------------- */

static void test_frame_small(void **state)
{
	struct pktline_buf b = {0};

	assert_int_equal(pktline_frame("quit", 4, &b), 0);
	assert_int_equal(b.len, 12);
	assert_memory_equal(b.p, "0008quit0000", 12);
	pktline_buf_release(&b);
	/* nothing at all: only the flush (git's answer to "quit") */
	assert_int_equal(pktline_frame("", 0, &b), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.p, "0000", 4);
	pktline_buf_release(&b);
}

/* Packets of at most 65516 bytes of data, the last one short, never an empty one. */
static void test_frame_split(void **state)
{
	size_t sizes[] = {PKTLINE_DATA_MAX - 1, PKTLINE_DATA_MAX, PKTLINE_DATA_MAX + 1,
			  3 * PKTLINE_DATA_MAX};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], off = 0, got = 0, packets = 0;
		char *data = malloc(n);
		struct pktline_buf b = {0};

		for (size_t k = 0; k < n; k++)
			data[k] = (char)('a' + k % 26);
		assert_int_equal(pktline_frame(data, n, &b), 0);
		for (;;) {
			unsigned len;

			assert_true(sscanf(b.p + off, "%4x", &len) == 1);
			if (len == 0)
				break;
			assert_true(len > 4 && len <= PKTLINE_MAX);
			assert_memory_equal(b.p + off + 4, data + got, len - 4);
			got += len - 4;
			off += len;
			packets++;
		}
		assert_int_equal(got, n);
		assert_int_equal(off + 4, b.len);
		assert_int_equal(packets, (n + PKTLINE_DATA_MAX - 1) / PKTLINE_DATA_MAX);
		pktline_buf_release(&b);
		free(data);
	}
}

/* What is framed reads back, however the bytes arrive. */
static void test_take_roundtrip(void **state)
{
	size_t n = 2 * PKTLINE_DATA_MAX + 100;
	char *data = malloc(n);
	struct pktline_buf framed = {0}, msg = {0}, in = {0};
	size_t used;
	int r = 0;

	for (size_t k = 0; k < n; k++)
		data[k] = (char)(k * 7);
	assert_int_equal(pktline_frame(data, n, &framed), 0);
	/* in pieces of 1000 bytes */
	for (size_t off = 0; off < framed.len && r == 0; off += 1000) {
		size_t piece = framed.len - off < 1000 ? framed.len - off : 1000;

		in.p = realloc(in.p, in.len + piece);
		memcpy(in.p + in.len, framed.p + off, piece);
		in.len += piece;
		r = pktline_take(in.p, in.len, &used, &msg, n);
		memmove(in.p, in.p + used, in.len - used);
		in.len -= used;
	}
	assert_int_equal(r, 1);
	assert_int_equal(in.len, 0);
	assert_int_equal(msg.len, n);
	assert_memory_equal(msg.p, data, n);
	pktline_buf_release(&framed);
	pktline_buf_release(&msg);
	free(in.p);
	free(data);
}

static int take_all(const char *in, struct pktline_buf *msg, size_t max)
{
	size_t used;

	return pktline_take(in, strlen(in), &used, msg, max);
}

static void test_take_ends_and_errors(void **state)
{
	struct pktline_buf msg = {0};
	size_t used;

	/* git's reader ends a message at 0000, 0001, 0002 and an empty packet */
	const char *ends[] = {"0010builtin:fake0000", "0010builtin:fake0001",
			      "0010builtin:fake0002", "0010builtin:fake0004"};
	for (size_t i = 0; i < 4; i++) {
		msg.len = 0;
		assert_int_equal(take_all(ends[i], &msg, 100), 1);
		assert_int_equal(msg.len, 12);
		assert_memory_equal(msg.p, "builtin:fake", 12);
	}
	/* upper-case hex, as git's hexval takes it */
	msg.len = 0;
	assert_int_equal(take_all("000Aabcdef0000", &msg, 100), 1);
	assert_int_equal(msg.len, 6);
	/* more is needed: a cut header, a cut packet; whole packets are taken */
	msg.len = 0;
	assert_int_equal(pktline_take("000", 3, &used, &msg, 100), 0);
	assert_int_equal(used, 0);
	assert_int_equal(pktline_take("0009abc", 7, &used, &msg, 100), 0);
	assert_int_equal(used, 0);
	assert_int_equal(pktline_take("0008abcd0009x", 13, &used, &msg, 100), 0);
	assert_int_equal(used, 8);
	assert_int_equal(msg.len, 4);
	/* lengths git refuses, and a message past the bound */
	msg.len = 0;
	assert_int_equal(take_all("0003", &msg, 100), -EPROTO);
	assert_int_equal(take_all("zzzz", &msg, 100), -EPROTO);
	assert_int_equal(take_all("fff1", &msg, 100), -EPROTO);
	assert_int_equal(take_all("000faaaaaaaaaaa0000", &msg, 10), -EMSGSIZE);
	msg.len = 0;
	assert_int_equal(take_all("000faaaaaaaaaaa0000", &msg, 11), 1);
	pktline_buf_release(&msg);
}

/* ---- the answer ------------------------------------------------------------ */

static char tmp[UNIT_TMP_MAX];
static int top_fd = -1;

static int setup_tree(void **state)
{
	assert_int_equal(unit_tmpdir(tmp, "test-gitfsm"), 0);
	top_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(top_fd >= 0);
	return 0;
}

static int teardown_tree(void **state)
{
	close(top_fd);
	unit_rmtree(tmp);
	return 0;
}

static void make(const char *path, bool dir)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmp, path);
	if (dir)
		assert_int_equal(mkdir(p, 0755), 0);
	else
		assert_int_equal(close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)), 0);
}

/* The answer's strings, one line each ("TOKEN\npath\n..."). */
static char *lines(const struct gitfsm_answer *a)
{
	char *s = malloc(a->len + 1);

	for (size_t i = 0; i < a->len; i++)
		s[i] = a->buf[i] ? a->buf[i] : '\n';
	s[a->len] = '\0';
	return s;
}

static void test_token_marked(void **state)
{
	size_t len;

	assert_false(gitfsm_token_marked("fst1:ab:12", &len));
	assert_int_equal(len, strlen("fst1:ab:12"));
	assert_true(gitfsm_token_marked("fst1:ab:12+untracked-rescan", &len));
	assert_int_equal(len, strlen("fst1:ab:12"));
	assert_false(gitfsm_token_marked("", &len));
	assert_int_equal(len, 0);
}

static void test_everything(void **state)
{
	struct gitfsm_answer a = {0};

	assert_int_equal(gitfsm_answer_everything(&a, "T", true), 0);
	assert_true(a.everything);
	assert_int_equal(a.len, strlen("T+untracked-rescan") + 3);
	assert_memory_equal(a.buf, "T+untracked-rescan\0/\0", a.len);
	/* marked once only; without mark the token goes back as it is */
	assert_int_equal(gitfsm_answer_everything(&a, "T+untracked-rescan", true), 0);
	assert_memory_equal(a.buf, "T+untracked-rescan\0/\0", a.len);
	assert_int_equal(gitfsm_answer_everything(&a, "T", false), 0);
	assert_int_equal(a.len, 4);
	assert_memory_equal(a.buf, "T\0/\0", 4);
	gitfsm_answer_release(&a);
}

static void test_changes(void **state)
{
	struct gitfsm_answer a = {0};
	struct gitfsm_change v[] = {
	    {"f", FST_MODIFIED},
	    {"d", FST_ENTRIES},		  /* "d/" and its rescan name, a file first */
	    {"e", FST_ENTRIES},		  /* empty: the made-up rescan name */
	    {".git/index", FST_MODIFIED}, /* git's own: left out */
	    {".", FST_ATTRIB},		  /* the top's own attributes: nothing */
	    {"gone", FST_DELETED},
	};
	char *s;

	make("f", false);
	make("d", true);
	make("d/sub", true);
	make("d/x", false);
	make("e", true);
	make(".git", true);
	make(".git/index", false);
	assert_int_equal(gitfsm_answer_changes(&a, "T2", false, false, v, 6, top_fd), 0);
	assert_false(a.everything);
	s = lines(&a);
	assert_string_equal(s, "T2\nf\nd/\nd/x\ne/\ne/.fstrack-rescan\ngone\n");
	free(s);
	gitfsm_answer_release(&a);
}

/*
 * A directory's own change (modified, attrib) is left out, its names come
 * by their own paths; not a new directory, nor a nested repository.
 */
static void test_changes_dirs(void **state)
{
	struct gitfsm_answer a = {0};
	struct gitfsm_change v[] = {
	    {"d", FST_MODIFIED},      {"d/new", FST_CREATED},
	    {"d/sub", FST_ATTRIB},    {"e", FST_CREATED | FST_MODIFIED},
	    {"nested", FST_MODIFIED}, {"f", FST_MODIFIED | FST_ATTRIB},
	};
	char *s;

	make("d/new", false);
	make("nested", true);
	make("nested/.git", true);
	assert_int_equal(gitfsm_answer_changes(&a, "T5", false, false, v, 6, top_fd), 0);
	s = lines(&a);
	assert_string_equal(s, "T5\nd/new\ne\nnested\nf\n");
	free(s);
	gitfsm_answer_release(&a);
}

/* Only "/" will do: fresh, the top's entries, a path that is not clean. */
static void test_changes_everything(void **state)
{
	struct gitfsm_change top[] = {{"f", FST_MODIFIED}, {".", FST_ENTRIES}};
	struct gitfsm_change unclean[] = {{"a/../b", FST_MODIFIED}};
	struct gitfsm_answer a = {0};

	assert_int_equal(gitfsm_answer_changes(&a, "T3", true, false, NULL, 0, top_fd), 0);
	assert_true(a.everything);
	assert_memory_equal(a.buf, "T3+untracked-rescan\0/\0", a.len);
	assert_int_equal(gitfsm_answer_changes(&a, "T3", false, false, top, 2, top_fd), 0);
	assert_true(a.everything);
	assert_int_equal(gitfsm_answer_changes(&a, "T3", false, false, unclean, 1, top_fd), 0);
	assert_true(a.everything);
	gitfsm_answer_release(&a);
}

/* Since a marked token: the rescan name of every directory (not .git's). */
static void test_rescan_untracked(void **state)
{
	struct gitfsm_change v[] = {{"f", FST_MODIFIED}};
	struct gitfsm_answer a = {0};
	char *s;

	assert_int_equal(gitfsm_answer_changes(&a, "T4", false, true, v, 1, top_fd), 0);
	s = lines(&a);
	assert_non_null(strstr(s, "T4\nf\n"));
	assert_non_null(strstr(s, "\nd/x\n") ? s : NULL);
	assert_non_null(strstr(s, "\nd/sub/.fstrack-rescan\n"));
	assert_non_null(strstr(s, "\ne/.fstrack-rescan\n"));
	assert_null(strstr(s, ".git/"));
	/* the top's own rescan name: a file of it */
	assert_non_null(strstr(s, "\nf\n"));
	free(s);
	gitfsm_answer_release(&a);
}

/*
 * git takes paths through names with a tab or a '\\' (not through ".git"
 * as NTFS spells it): the walk goes below them, though their names are no
 * rescan names to give.
 */
static void test_rescan_odd_names(void **state)
{
	struct gitfsm_change v[] = {{"f", FST_MODIFIED}};
	struct gitfsm_answer a = {0};
	char *s;

	make("odd\tdir", true);
	make("odd\tdir/sub", true);
	make("odd\tdir/sub/g", false);
	make("odd\tdir/in\\.git", true);
	make("odd\tdir/in\\.git/h", false);
	make("back\\slash", true);
	make("back\\slash/t\tx", false);
	make("GIT~1", true);
	make("GIT~1/i", false);
	make(".Git. ", true);
	make(".Git. /j", false);
	assert_int_equal(gitfsm_answer_changes(&a, "T6", false, true, v, 1, top_fd), 0);
	s = lines(&a);
	assert_non_null(strstr(s, "\nodd\tdir/sub\n"));
	assert_non_null(strstr(s, "\nodd\tdir/sub/g\n"));
	assert_non_null(strstr(s, "\nback\\slash/.fstrack-rescan\n"));
	assert_null(strstr(s, "in\\.git"));
	assert_null(strstr(s, "GIT~1"));
	assert_null(strstr(s, ".Git. "));
	free(s);
	gitfsm_answer_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_frame_small),
	    cmocka_unit_test(test_frame_split),
	    cmocka_unit_test(test_take_roundtrip),
	    cmocka_unit_test(test_take_ends_and_errors),
	    cmocka_unit_test(test_token_marked),
	    cmocka_unit_test(test_everything),
	    cmocka_unit_test(test_changes),
	    cmocka_unit_test(test_changes_dirs),
	    cmocka_unit_test(test_changes_everything),
	    cmocka_unit_test(test_rescan_untracked),
	    cmocka_unit_test(test_rescan_odd_names),
	};

	return cmocka_run_group_tests(tests, setup_tree, teardown_tree);
}
