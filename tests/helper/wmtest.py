# SPDX-License-Identifier: MIT
"""A raw Watchman connection for the t50xx tests: send a PDU in a chosen
encoding (json, bser, bser-v2), read the next PDU and say which encoding it
came in. BSER through Debian's pywatchman.bser (only when a test uses it).

    import sys; sys.path.insert(0, HELPER_DIR); import wmtest
    c = wmtest.Conn(sock)
    ans, enc = c.call(["version"], "bser-v2")
"""
import json
import socket
import struct


def _bser():
    import pywatchman.bser as bser
    return bser


class Conn:
    def __init__(self, path, timeout=60):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def close(self):
        self.s.close()

    def send_raw(self, data):
        self.s.sendall(data)

    def send(self, obj, enc="json"):
        if enc == "json":
            self.send_raw(json.dumps(obj).encode() + b"\n")
        else:
            v = 1 if enc == "bser" else 2
            self.send_raw(_bser().dumps(obj, version=v, capabilities=0))

    def _fill(self, n):
        while len(self.buf) < n:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("connection closed")
            self.buf += d

    def recv(self):
        """The next PDU: (value, "json"|"bser"|"bser-v2")."""
        self._fill(2)
        if self.buf[:2] in (b"\x00\x01", b"\x00\x02"):
            v2 = self.buf[1] == 2
            hdr = 6 if v2 else 2
            self._fill(hdr + 1)
            width = {3: 1, 4: 2, 5: 4, 6: 8}[self.buf[hdr]]
            self._fill(hdr + 1 + width)
            fmt = {1: "<b", 2: "<h", 4: "<i", 8: "<q"}[width]
            n = struct.unpack(fmt, self.buf[hdr + 1:hdr + 1 + width])[0]
            total = hdr + 1 + width + n
            self._fill(total)
            pdu, self.buf = self.buf[:total], self.buf[total:]
            return text(_bser().loads(pdu)), "bser-v2" if v2 else "bser"
        while b"\n" not in self.buf:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line), "json"

    def call(self, obj, enc="json"):
        """Send a command, return its answer (unilateral PDUs are skipped)."""
        self.send(obj, enc)
        while True:
            ans, aenc = self.recv()
            if not (isinstance(ans, dict) and text(ans.get("unilateral", False)) is True):
                return ans, aenc


def text(v):
    """BSER v1 byte strings as str, recursively."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    if isinstance(v, list):
        return [text(x) for x in v]
    if isinstance(v, dict):
        return {text(k): text(x) for k, x in v.items()}
    return v
