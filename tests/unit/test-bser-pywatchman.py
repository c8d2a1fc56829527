#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Cross-check src/watchman/bser.c against Debian's python3-pywatchman.

Random values (seeded) go both ways through test-bser's converter mode:
  pywatchman bser.dumps(v, 1|2)  ->  test-bser --decode  ->  JSON == v
  JSON(v) -> test-bser --encode 1|2 CAPS  ->  pywatchman bser.loads == v
and for v1 our payload must equal pywatchman's byte for byte (both write
the smallest integers; only the PDU length header may differ in width).
Arrays of objects are sent as BSER templates by the converter, so
pywatchman's template decoder is exercised too (a skipped key comes back
as None there). Output is TAP; without pywatchman the test says so and is
skipped (meson shows SKIP).

usage: test-bser-pywatchman.py PATH/TO/test-bser
"""
import json
import random
import struct
import subprocess
import sys

try:
    from pywatchman import bser
except ImportError as e:
    print("1..0 # SKIP python3-pywatchman is not installed (%s): "
          "apt-get install python3-pywatchman" % e)
    print("SKIPPED: pywatchman cross-check of BSER", file=sys.stderr)
    sys.exit(0)

TOOL = sys.argv[1]
ROUNDS = 200
rnd = random.Random(1207)


def rand_string(key=False):
    kind = rnd.random()
    if kind < 0.1:
        return ""
    if kind < 0.2:
        return "x" * rnd.choice([127, 128, 300, 40000])
    alphabet = "abc/._-~ \t\"\\\u00e9\u4e2d\U0001f600\u007f"
    if not key:
        alphabet += "\u0000"  # json-c keys are C strings: no NUL in keys
    return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 20)))


INTS = [0, 1, -1, 127, 128, -128, -129, 32767, 32768, -32768, -32769,
        2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**63 - 1, -2**63]


def rand_value(depth=0):
    r = rnd.random()
    if depth > 2 or r < 0.45:
        s = rnd.random()
        if s < 0.3:
            return rnd.choice(INTS) if rnd.random() < 0.5 else rnd.randint(-10**6, 10**6)
        if s < 0.4:
            return rnd.choice([0.5, -1.25, 1e300, -3.5e-300, 12345.678])
        if s < 0.5:
            return rnd.choice([True, False, None])
        return rand_string()
    if r < 0.6:
        return [rand_value(depth + 1) for _ in range(rnd.randint(0, 6))]
    if r < 0.75:
        # an array of objects with overlapping keys: sent as a template
        keys = ["name", "exists", "size", "mode", rand_string(True)]
        return [{k: rand_value(depth + 1) for k in rnd.sample(keys, rnd.randint(1, 4))}
                for _ in range(rnd.randint(1, 5))]
    return {rand_string(True): rand_value(depth + 1) for _ in range(rnd.randint(0, 6))}


def as_text(v):
    """pywatchman gives bytes for byte strings: compare as text."""
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, (list, tuple)):
        return [as_text(x) for x in v]
    if isinstance(v, dict):
        return {as_text(k): as_text(x) for k, x in v.items()}
    return v


def with_template_nones(v):
    """What a template decoder gives: every key of the union in each object."""
    if isinstance(v, list):
        v = [with_template_nones(x) for x in v]
        if v and all(isinstance(x, dict) for x in v):
            keys = []
            for x in v:
                for k in x:
                    if k not in keys:
                        keys.append(k)
            if keys:
                return [{k: x.get(k) for k in keys} for x in v]
        return v
    if isinstance(v, dict):
        return {k: with_template_nones(x) for k, x in v.items()}
    return v


def run(args, data):
    p = subprocess.run([TOOL] + args, input=data, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (args, p.stderr.decode(errors="replace")))
    return p.stdout


def payload(pdu):
    # version, capabilities, total length from pywatchman's own header parser
    total = bser.pdu_len(pdu)
    assert total == len(pdu), (total, len(pdu))
    off = 2 if pdu[1] == 1 else 6
    width = {3: 1, 4: 2, 5: 4, 6: 8}[pdu[off]]
    return pdu[off + 1 + width:]


tests = []


def check(name, fn):
    tests.append((name, fn))


def decode_ours(pdus):
    """All PDUs through one test-bser --decode: one value each."""
    out = run(["--decode"], b"".join(pdus)).decode("utf-8").splitlines()
    assert len(out) == len(pdus), (len(out), len(pdus))
    return [json.loads(line) for line in out]


def encode_ours(values, version, caps):
    """All values through one test-bser --encode: one PDU each."""
    data = "".join(json.dumps(v) + "\n" for v in values).encode("utf-8")
    out, pdus = run(["--encode", str(version), str(caps)], data), []
    while out:
        n = struct.unpack("<Q", out[:8])[0]
        pdus.append(out[8:8 + n])
        out = out[8 + n:]
    assert len(pdus) == len(values), (len(pdus), len(values))
    return pdus


def pywatchman_to_ours(version):
    def t():
        values = [rand_value() for _ in range(ROUNDS)]
        pdus = [bser.dumps(v, version, 0) if version == 2 else bser.dumps(v) for v in values]
        for i, (got, v) in enumerate(zip(decode_ours(pdus), values)):
            if got != v:
                return "round %d: %r != %r" % (i, got, v)
        return None
    return t


def ours_to_pywatchman(version, caps):
    def t():
        values = [rand_value() for _ in range(ROUNDS)]
        for i, (pdu, v) in enumerate(zip(encode_ours(values, version, caps), values)):
            got = as_text(bser.loads(pdu))
            want = with_template_nones(v)
            if got != want:
                return "round %d: %r != %r" % (i, got, want)
        return None
    return t


def same_bytes_v1():
    values = []
    while len(values) < ROUNDS:
        v = rand_value()
        if "[{" not in json.dumps(v):  # templates are ours only; compare plain values
            values.append(v)
    for i, (ours, v) in enumerate(zip(encode_ours(values, 1, 0), values)):
        theirs = bser.dumps(v)
        if payload(ours) != payload(theirs):
            return "round %d: %s != %s for %r" % (i, payload(ours).hex(), payload(theirs).hex(), v)
    return None


check("pywatchman bser v1 -> ours", pywatchman_to_ours(1))
check("pywatchman bser v2 -> ours", pywatchman_to_ours(2))
check("ours v1 -> pywatchman", ours_to_pywatchman(1, 0))
check("ours v2 -> pywatchman", ours_to_pywatchman(2, 0))
check("ours v2 DISABLE_UNICODE -> pywatchman", ours_to_pywatchman(2, 1))
check("v1 payload bytes identical to pywatchman's", same_bytes_v1)

print("1..%d" % len(tests))
failed = 0
for n, (name, fn) in enumerate(tests, 1):
    try:
        err = fn()
    except Exception as e:  # a crash of the tool or of pywatchman is a failure
        err = "exception: %r" % e
    if err:
        failed += 1
        print("not ok %d - %s\n# %s" % (n, name, err[:300]))
    else:
        print("ok %d - %s" % (n, name))
sys.exit(1 if failed else 0)
