#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Retention on a busy filesystem (issue 11): a load in the style of git's
# own test suite — scratch repositories made, filled, committed, changed,
# checked out and removed, one after the other, for RT_SECONDS (default
# 300) — on the same ext4 filesystem as two quiet scopes (a repository of
# RT_FILES files, default 2000, and a documents tree). The same load runs
# twice, against fstrackd as it is and with --no-scope-filter (every
# directory recorded, as before the filter), each with a 4 MiB journal
# cap (RT_MAX_BYTES) so that the cap is reached. Reported: events read,
# notes dropped as outside every scope, records and journal bytes written,
# the same per day of such a load, whether a token of a quiet scope taken
# before the load is still answered (exact / from the summary / fresh),
# and its coverage of the quiet scope's own 10 changes.
#
# Usage: [BENCH_QUICK=1] bench/retention.sh [BUILD]
. "$(dirname "$0")/lib.sh"
bench_init retention "$@"

if [ "$QUICK" = 1 ]; then d_secs=20 d_files=200; else d_secs=300 d_files=2000; fi
SECS=${RT_SECONDS:-$d_secs}
FILES=${RT_FILES:-$d_files}
MAX_BYTES=${RT_MAX_BYTES:-4194304}

MNT=$WORK/mnt
bench_image "$MNT" 4G 1000000

# The git-suite style load for SECS seconds in $MNT/suite; prints repositories made.
suite_load() {
	local end=$((SECONDS + SECS)) n=0 d
	mkdir -p "$MNT/suite"
	while [ $SECONDS -lt $end ]; do
		n=$((n + 1))
		d=$MNT/suite/trash.t$n
		mkdir -p "$d"
		(
			cd "$d" &&
			git init -q &&
			for i in $(seq 40); do echo "line $i" >"f$i.txt"; done &&
			mkdir -p sub/deep && echo x >sub/deep/y &&
			git add -A && git -c user.name=b -c user.email=b@b commit -qm one &&
			git checkout -qb side &&
			for i in $(seq 10); do echo more >>"f$i.txt"; done &&
			git -c user.name=b -c user.email=b@b commit -qam two &&
			git checkout -q - && git status --porcelain >/dev/null &&
			git gc -q --prune=now 2>/dev/null
		) >/dev/null 2>&1
		rm -rf "$d"
	done
	echo "$n"
}

rows=()
run() {
	local name=$1 repos t0 t1 secs tok ans answered kinds ev dropped recs jb
	shift
	rm -rf "$WORK/state" "$MNT/repo" "$MNT/docs"
	mkdir -p "$MNT/repo" "$MNT/docs"
	"$BT" mktree "$MNT/repo" "$FILES" 100 200
	"$BT" mktree "$MNT/docs" 500 50 1000
	sync
	bench_daemon_start --max-journal-bytes "$MAX_BYTES" --segment-bytes 262144 "$@"
	"$FSTRACK" watch "$MNT/repo" >/dev/null
	t_watch=$(date +%s.%N)
	"$FSTRACK" watch "$MNT/docs" >/dev/null
	tok=$("$FSTRACK" token "$MNT/repo")
	"$BT" change "$MNT/repo" 10 mixed "$WORK/changed.$name" >&2
	bench_say "$name: the git-suite style load for $SECS s"
	t0=$(date +%s.%N)
	repos=$(suite_load)
	t1=$(date +%s.%N)
	secs=$(echo "$t1 - $t0" | bc)
	"$FSTRACK" changes --since "$tok" --json "$MNT/repo" >"$WORK/answer.$name.json"
	if [ "$(jq -r .fresh "$WORK/answer.$name.json")" = true ]; then
		answered=fresh
	elif [ "$(bench_status_field '.filesystems[0].summary.from_seq')" != \
		"$(bench_status_field '.filesystems[0].summary.to_seq')" ] &&
		[ "${tok##*:}" -lt "$(bench_status_field '.filesystems[0].summary.to_seq')" ]; then
		answered="summary ($(jq '.changes | length' "$WORK/answer.$name.json") paths)"
	else
		answered="exact ($(jq '.changes | length' "$WORK/answer.$name.json") paths)"
	fi
	missed=$(bench_missed "$WORK/answer.$name.json" "$WORK/changed.$name")
	ev=$(bench_status_field '.filesystems[0].events_seen')
	dropped=$(bench_status_field '.filesystems[0].notes_outside_scopes')
	recs=$(bench_status_field '.filesystems[0].records_written')
	jb=$(( $(bench_status_field '.filesystems[0].journal_bytes') + $(bench_status_field '.filesystems[0].summary.bytes') ))
	# how far back the quiet repository's tokens are answered, exactly and at all
	"$FSTRACK" status --json >"$WORK/status.$name.json"
	now_ns=$(date +%s%N)
	age() {
		jq -r --arg p "$MNT/repo" --argjson now "$now_ns" \
			".scopes[] | select(.path == \$p) | .$1 as \$t |
			 if \$t > 0 then ((\$now - \$t) / 1e9 | floor | tostring) + \" s\" else \"-\" end" \
			"$WORK/status.$name.json"
	}
	exact_age=$(age oldest_exact_ns)
	widened_age=$(age oldest_widened_ns)
	scope_age=$(printf '%.0f s' "$(echo "$(date +%s.%N) - $t_watch" | bc)")
	bench_daemon_stop
	rows+=("$name|$repos|$secs|$ev|$dropped|$recs|$jb|$answered|$missed|$exact_age|$widened_age|$scope_age")
}

run "fstrackd"
run "no filter" --no-scope-filter

bench_header "Retention: a git-suite style load beside two quiet scopes (ext4, journal cap $((MAX_BYTES / 1048576)) MiB)"
bench_out "$(printf '%-10s %6s %7s %9s %13s %9s %14s %14s %12s %-22s %6s' daemon repos seconds events 'dropped notes' records 'records/day' 'bytes/day' 'journal B' 'old token' missed)"
for r in "${rows[@]}"; do
	IFS='|' read -r name repos secs ev dropped recs jb answered missed exact_age widened_age scope_age <<<"$r"
	perday=$(printf '%.0f' "$(echo "$recs * 86400 / $secs" | bc -l)")
	bytesday=$(printf '%.0f' "$(echo "$recs * 60 * 86400 / $secs" | bc -l)")
	bench_out "$(printf '%-10s %6s %7.0f %9s %13s %9s %14s %14s %12s %-22s %6s' "$name" "$repos" "$secs" "$ev" "$dropped" "$recs" "$perday" "$bytesday" "$jb" "$answered" "$missed")"
done
bench_out ""
bench_out "$(printf '%-10s %22s %22s %22s' daemon 'oldest exact token' 'oldest widened token' 'scope watched for')"
for r in "${rows[@]}"; do
	IFS='|' read -r name repos secs ev dropped recs jb answered missed exact_age widened_age scope_age <<<"$r"
	bench_out "$(printf '%-10s %22s %22s %22s' "$name" "$exact_age" "$widened_age" "$scope_age")"
done
bench_out "   records/day, bytes/day: at this load's rate (a record is about 60 bytes on disk)."
bench_out "   old token: a token of the quiet repository taken before the load, asked after it."
bench_out "   oldest exact/widened token: how old a token of the quiet repository may be and still be"
bench_out "   answered from the detailed journal / at all (status oldest_exact_ns, oldest_widened_ns: the"
bench_out "   scope's start when every token of it is, else a bound as fine as a journal segment)."
