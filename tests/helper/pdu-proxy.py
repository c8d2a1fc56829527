# SPDX-License-Identifier: MIT
"""A Unix socket proxy for tests/t/t5040: every connection to LISTEN is
passed to TARGET, and each PDU a client sends is logged to LOG as one JSON
line {"encoding": "json"|"bser"|"bser-v2", "command": [...]}, so a test
can say what a client (Watchman 4.9's command line) sends.

    pdu-proxy.py LISTEN TARGET LOG     (runs until killed; LISTEN appears when ready)
"""
import json
import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wmtest  # noqa: E402

listen_path, target_path, log_path = sys.argv[1:4]
log_lock = threading.Lock()


def log(entry):
    with log_lock, open(log_path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def pdus(buf):
    """Complete PDUs at the start of buf: [(encoding, value)], rest."""
    out = []
    while len(buf) >= 2:
        if buf[:2] in (b"\x00\x01", b"\x00\x02"):
            v2 = buf[1] == 2
            hdr = 6 if v2 else 2
            if len(buf) < hdr + 1:
                break
            width = {3: 1, 4: 2, 5: 4, 6: 8}[buf[hdr]]
            if len(buf) < hdr + 1 + width:
                break
            fmt = {1: "<b", 2: "<h", 4: "<i", 8: "<q"}[width]
            total = hdr + 1 + width + struct.unpack(fmt, buf[hdr + 1:hdr + 1 + width])[0]
            if len(buf) < total:
                break
            import pywatchman.bser as bser
            out.append(("bser-v2" if v2 else "bser", wmtest.text(bser.loads(buf[:total]))))
            buf = buf[total:]
        else:
            if b"\n" not in buf:
                break
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                out.append(("json", json.loads(line)))
    return out, buf


def pipe(src, dst, watch):
    buf = b""
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            if watch:  # logged before it goes on: before the answer can come back
                buf += d
                got, buf = pdus(buf)
                for enc, value in got:
                    log({"encoding": enc, "command": value})
            dst.sendall(d)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.connect(target_path)
    a = threading.Thread(target=pipe, args=(client, server, True), daemon=True)
    b = threading.Thread(target=pipe, args=(server, client, False), daemon=True)
    a.start()
    b.start()
    a.join()
    b.join()
    client.close()
    server.close()


tmp = listen_path + ".tmp"
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(tmp)
s.listen(16)
os.rename(tmp, listen_path)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
