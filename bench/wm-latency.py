# SPDX-License-Identifier: MIT
# bench/watchman.sh: Watchman requests timed over one connection (pywatchman,
# BSER v2), the same client for fstrackd's socket and Watchman's.
#   wm-latency.py SOCK clock ROOT                 the clock, printed
#   wm-latency.py SOCK since ROOT CLOCK RUNS      median and min ms of RUNS queries
#                                                 since CLOCK, and the answer's size
#   wm-latency.py SOCK watch ROOT                 ms of "watch" (Watchman crawls here)
#   wm-latency.py SOCK watch-del ROOT
import statistics
import sys
import time

import pywatchman

sock, what, root = sys.argv[1:4]
c = pywatchman.client(sockpath=sock, timeout=3600)
if what == "clock":
    print(c.query("clock", root)["clock"])
elif what == "since":
    clock, runs = sys.argv[4], int(sys.argv[5])
    q = {"since": clock, "fields": ["name", "exists", "new", "size", "mtime_ms"]}
    times, n, fresh = [], 0, None
    for _ in range(runs):
        t0 = time.perf_counter()
        a = c.query("query", root, q)
        times.append((time.perf_counter() - t0) * 1000)
        n, fresh = len(a["files"]), a["is_fresh_instance"]
    print("%.2f %.2f %d %s" % (statistics.median(times), min(times), n, "fresh" if fresh else "-"))
elif what == "watch":
    t0 = time.perf_counter()
    c.query("watch", root)
    print("%.1f" % ((time.perf_counter() - t0) * 1000))
elif what == "watch-del":
    c.query("watch-del", root)
