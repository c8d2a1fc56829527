/* SPDX-License-Identifier: MIT */
/*
 * fst-journal-tool: the journal seen from the shell, for tests and for
 * people (like redis-check-aof).
 *
 *   verify DIR             check every segment and the summary without
 *                          changing anything; exit 0 when intact, 1 when
 *                          damage is found
 *   dump DIR [--from SEQ]  one line per record:
 *                          seq type kinds time_ns handle name
 *                          (the summary's records first, seq "S0..T")
 *   append DIR N [--segment-bytes B] [--max-bytes B]
 *                          append N synthetic events, commit (folding the
 *                          oldest segments past B bytes)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/util.h"
#include "daemon/journal.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: fst-journal-tool verify DIR\n"
		"       fst-journal-tool dump DIR [--from SEQ]\n"
		"       fst-journal-tool append DIR N [--segment-bytes B] [--max-bytes B]\n");
	return 2;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static const char *type_name(uint8_t type)
{
	switch (type) {
	case JREC_EVENT:
		return "event";
	case JREC_WATERMARK:
		return "watermark";
	case JREC_START:
		return "start";
	case JREC_CLEAN_STOP:
		return "clean_stop";
	case JREC_WIDE:
		return "wide";
	default:
		return "?";
	}
}

static int open_journal(const char *dir, const struct journal_options *opt, struct journal **ret)
{
	int r = journal_open(dir, opt, ret);

	if (r < 0)
		fprintf(stderr, "fst-journal-tool: cannot open journal %s: %s\n", dir,
			strerror(-r));
	return r;
}

/* The summary's line; true when it is damage (present and not used). */
static bool print_summary(const struct journal *j)
{
	struct journal_summary_info si;

	journal_get_summary(j, &si);
	if (!si.present)
		return false;
	if (!si.valid) {
		printf("summary.fsj: IGNORED (%s), %" PRIu64 " bytes\n", si.problem, si.bytes);
		return true;
	}
	printf("summary.fsj: seqs %" PRIu64 "..%" PRIu64 ", %" PRIu64 " places, %" PRIu64
	       " bytes, %" PRIu64 " records folded, %zu checkpoints%s%s%s\n",
	       si.from_seq, si.to_seq - 1, si.records, si.bytes, si.folded, si.checkpoints,
	       si.level >= 1 ? ", names folded into their directory" : "",
	       si.level >= 2 ? ", moved directories too" : "", si.wide ? ", WIDE" : "");
	return false;
}

static int cmd_verify(const char *dir)
{
	struct journal_options opt = {.read_only = true};
	struct journal_segment_info si;
	struct journal_stats st;
	struct journal *j;
	uint64_t from, to, records = 0;
	char uuid[33];
	bool damaged, sum_damaged;
	size_t i;

	if (open_journal(dir, &opt, &j) < 0)
		return 1;
	journal_get_stats(j, &st);
	for (i = 0; journal_get_segment(j, i, &si) == 0; i++) {
		bool newest = i + 1 == st.segments;
		if (si.problem && si.valid_bytes == 0) {
			printf("%s: BROKEN (%s), %" PRIu64 " bytes\n", si.name, si.problem,
			       si.bytes);
			continue;
		}
		if (si.end_seq > si.first_seq)
			printf("%s: seqs %" PRIu64 "..%" PRIu64 ", %" PRIu64 " records, %" PRIu64
			       " bytes",
			       si.name, si.first_seq, si.end_seq - 1, si.records, si.bytes);
		else
			printf("%s: empty, %" PRIu64 " bytes", si.name, si.bytes);
		if (si.corrupt_bytes)
			printf(", %" PRIu64 " corrupt bytes", si.corrupt_bytes);
		if (si.tail_bytes)
			printf(", %s %" PRIu64 " bytes", newest ? "torn tail" : "garbage after end",
			       si.tail_bytes);
		if (si.problem)
			printf(", %s", si.problem);
		printf("\n");
		records += si.records;
	}
	sum_damaged = print_summary(j);
	if (st.leftover_segments)
		printf("%" PRIu64 " segments already folded into the summary (an interrupted "
		       "compaction): ignored, removed at the next open\n",
		       st.leftover_segments);
	for (i = 0; journal_get_bad_range(j, i, &from, &to) == 0; i++)
		printf("bad range: seqs %" PRIu64 "..%" PRIu64 "\n", from, to - 1);
	journal_uuid_hex(j, uuid);
	damaged =
	    st.bad_ranges > 0 || st.broken_segments > 0 || st.corrupt_bytes > 0 || sum_damaged;
	printf("summary: uuid %s, first_seq %" PRIu64 ", next_seq %" PRIu64 ", %" PRIu64
	       " segments, %" PRIu64 " records, %" PRIu64 " bad ranges, %" PRIu64
	       " broken segments, %" PRIu64 " corrupt bytes, torn tail %" PRIu64
	       " bytes, %s, answers from seq %" PRIu64 "\n",
	       uuid, st.first_seq, st.next_seq, st.segments, records, st.bad_ranges,
	       st.broken_segments, st.corrupt_bytes, st.truncated_bytes,
	       st.recovered_clean ? "clean stop" : "no clean stop", st.summary_from_seq);
	printf("%s\n", damaged ? "DAMAGED" : "intact");
	journal_free(j);
	return damaged ? 1 : 0;
}

static void print_name(const char *name, size_t len)
{
	if (len == 0) {
		fputc('-', stdout);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		/* one field, no spaces: escape anything unusual (and a lone "-") */
		if (c <= 0x20 || c >= 0x7f || c == '\\' || (len == 1 && c == '-'))
			printf("\\x%02x", c);
		else
			fputc(c, stdout);
	}
}

static int dump_one(const struct jrec *r, void *userdata)
{
	const struct journal_stats *st = userdata;

	if (r->summary) /* somewhere in the summary's range */
		printf("%" PRIu64 "..%" PRIu64, r->seq, st->summary_to_seq - 1);
	else
		printf("%" PRIu64, r->seq);
	printf(" %s 0x%02x %" PRIu64 " ", type_name(r->type), r->kinds, r->time_ns);
	if (r->handle_len) {
		char hex[2 * JOURNAL_HANDLE_MAX + 1];
		hex_encode(r->handle, r->handle_len, hex);
		printf("%" PRId32 ":%s ", r->handle_type, hex);
	} else {
		printf("- ");
	}
	print_name(r->name, r->name_len);
	fputc('\n', stdout);
	return 0;
}

static int cmd_dump(const char *dir, uint64_t from)
{
	struct journal_options opt = {.read_only = true};
	struct journal_stats st;
	struct journal *j;
	int r;

	if (open_journal(dir, &opt, &j) < 0)
		return 1;
	journal_get_stats(j, &st);
	r = journal_read(j, from, dump_one, &st);
	journal_free(j);
	if (fflush(stdout) != 0 || r < 0) {
		fprintf(stderr, "fst-journal-tool: reading %s: %s\n", dir,
			strerror(r < 0 ? -r : EIO));
		return 1;
	}
	return 0;
}

static int cmd_append(const char *dir, uint64_t n, const struct journal_options *opt)
{
	struct journal *j;
	uint64_t first;
	char uuid[33];
	int r = 0;

	if (open_journal(dir, opt, &j) < 0)
		return 1;
	first = journal_next_seq(j);
	for (uint64_t i = 0; i < n && r == 0; i++) {
		uint64_t seq = journal_next_seq(j);
		uint8_t handle[8];
		char name[32];
		struct jrec rec = {
		    .type = JREC_EVENT,
		    .kinds = (uint8_t)(1u << (seq % 8)),
		    .time_ns = now_realtime_ns(),
		    .handle_type = 1,
		    .handle_len = sizeof(handle),
		    .handle = handle,
		};
		for (int k = 0; k < 8; k++)
			handle[k] = (uint8_t)(seq >> (8 * k));
		rec.name_len = (uint16_t)snprintf(name, sizeof(name), "file-%" PRIu64, seq);
		rec.name = name;
		r = journal_append(j, &rec);
	}
	if (r == 0)
		r = journal_commit(j, now_realtime_ns());
	if (r < 0) {
		fprintf(stderr, "fst-journal-tool: appending to %s: %s\n", dir, strerror(-r));
		journal_free(j);
		return 1;
	}
	journal_uuid_hex(j, uuid);
	printf("appended %" PRIu64 " events from seq %" PRIu64 ", next_seq %" PRIu64 ", uuid %s\n",
	       n, first, journal_next_seq(j), uuid);
	journal_free(j);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t v = 0;

	if (argc < 3)
		return usage();
	if (strcmp(argv[1], "verify") == 0 && argc == 3)
		return cmd_verify(argv[2]);
	if (strcmp(argv[1], "dump") == 0) {
		if (argc == 3)
			return cmd_dump(argv[2], 0);
		if (argc == 5 && strcmp(argv[3], "--from") == 0 && parse_u64(argv[4], &v) == 0)
			return cmd_dump(argv[2], v);
		return usage();
	}
	if (strcmp(argv[1], "append") == 0 && argc >= 4 && parse_u64(argv[3], &v) == 0) {
		struct journal_options opt = {0};
		for (int i = 4; i < argc; i += 2) {
			uint64_t *o = !strcmp(argv[i], "--segment-bytes") ? &opt.segment_bytes
				      : !strcmp(argv[i], "--max-bytes")	  ? &opt.max_bytes
									  : NULL;
			if (!o || i + 1 >= argc || parse_u64(argv[i + 1], o) < 0)
				return usage();
		}
		return cmd_append(argv[2], v, &opt);
	}
	return usage();
}
