#!/usr/bin/env python3
"""SIGKILL a qemu-tcmu-io writer at random instants of a write/discard/zero/flush workload
and check, after every kill, that `qemu-img check` reports no corruption (leaks only) and
that every 4 KiB block holds the value it had at the last acknowledged flush or a value
written after it.

  crash.py QT_IO IMAGE CLUSTER KILLS SEED [lazy]

lazy: the image uses lazy refcounts; it is reopened read-write through qemu-tcmu-io (which
repairs the refcounts) before `qemu-img check`, which must then find it clean.
"""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

BLK = 4096  # the check unit: min(4 KiB page, cluster): a write not covered by a flush may
            # be torn at cluster granularity, a page is copied whole


def image_blocks(img, size):
    raw = img + ".raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", img, raw], check=True)
    with open(raw, "rb") as f:
        data = f.read()
    os.unlink(raw)
    assert len(data) == size
    out = bytearray(size // BLK)
    for i in range(size // BLK):
        b = data[i * BLK:(i + 1) * BLK]
        if b.count(b[0]) != BLK:
            sys.exit(f"block {i} is not uniform (torn or garbage): {b[:16].hex()}...")
        out[i] = b[0]
    return out


def qemu_check(img):
    p = subprocess.run(["qemu-img", "check", "--output=json", img], capture_output=True, text=True)
    try:
        res = json.loads(p.stdout)
    except json.JSONDecodeError:
        sys.exit(f"qemu-img check failed (rc={p.returncode}): {p.stdout} {p.stderr}")
    if p.returncode not in (0, 3) or res.get("corruptions", 0) or res.get("check-errors", 0):
        sys.exit(f"qemu-img check: rc={p.returncode} {p.stdout} {p.stderr}")
    return res.get("leaks", 0)


class Writer:
    def __init__(self, qt_io, img):
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
        self.p = subprocess.Popen([qt_io, img], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, text=True, bufsize=1)
        self.acked = 0
        self.errors = []
        self.t = threading.Thread(target=self.reader, daemon=True)
        self.t.start()

    def reader(self):
        for line in self.p.stdout:
            if line.strip().isdigit():
                self.acked += 1
            elif "failed" in line:
                self.errors.append(line)

    def send(self, cmd):
        try:
            self.p.stdin.write(cmd + "\n")
            return True
        except (BrokenPipeError, ValueError):
            return False


def one_run(qt_io, img, size, cl, state, rng):
    nblk = size // BLK
    latest = bytearray(state)
    snaps = [bytes(state)]       # snaps[k]: latest values when flush k was sent
    after = [dict()]             # after[k]: block -> values sent after flush k
    w = Writer(qt_io, img)
    deadline = time.time() + rng.uniform(0.05, 0.6)
    killer = threading.Timer(deadline - time.time(), lambda: w.p.send_signal(signal.SIGKILL))
    killer.start()
    while time.time() < deadline + 0.05:
        op = rng.random()
        if op < 0.08:
            snaps.append(bytes(latest))
            after.append(dict())
            if not (w.send("flush") and w.send("length")):
                break
            continue
        if op < 0.14:
            c = rng.randrange(0, size // cl)
            n = rng.randint(1, max(1, 65536 // cl))
            a, b = c * cl, min(size, (c + n) * cl)
            cmd, val = f"discard {a} {b - a}", 0
        else:
            a = rng.randrange(0, size // 4096) * 4096
            b = min(size, a + rng.choice([1, 1, 2, 4, 16, 33]) * 4096)
            val = rng.randint(1, 255)
            cmd = f"write -P {val:#x} {a} {b - a}"
            if op < 0.2:
                cmd, val = f"write -z {a} {b - a}", 0
        for blk in range(a // BLK, b // BLK):
            latest[blk] = val
            for d in after:
                d.setdefault(blk, set()).add(val)
        if not w.send(cmd):
            break
    killer.join()
    w.p.wait()
    w.t.join(timeout=5)
    if w.p.returncode != -signal.SIGKILL:
        sys.exit(f"writer exited with {w.p.returncode} before the kill: {w.p.stderr.read()}")
    if w.errors:
        sys.exit(f"writer reported errors: {w.errors[:3]}")
    k = min(w.acked, len(snaps) - 1)
    return snaps[k], after[k], k


def main():
    qt_io, img, cl, kills, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    lazy = len(sys.argv) > 6 and sys.argv[6] == "lazy"
    global BLK
    BLK = min(BLK, cl)
    rng = random.Random(seed)
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", img],
                                     capture_output=True, text=True, check=True).stdout)
    size = info["virtual-size"]
    state = image_blocks(img, size)
    flushes = leaks = 0
    for i in range(kills):
        durable, later, k = one_run(qt_io, img, size, cl, state, rng)
        flushes += k
        if lazy:
            subprocess.run([qt_io, "-q", "-c", "length", img], check=True, capture_output=True)
        leaks = qemu_check(img)
        if lazy and leaks:
            sys.exit(f"kill {i}: lazy refcounts repaired but {leaks} leaks remain")
        state = image_blocks(img, size)
        for blk in range(len(state)):
            if state[blk] != durable[blk] and state[blk] not in later.get(blk, ()):
                sys.exit(f"kill {i}: block {blk} holds {state[blk]:#x}; the last acknowledged "
                         f"flush ({k}) left {durable[blk]:#x}, later writes "
                         f"{sorted(later.get(blk, ()))}")
    print(f"{kills} kills, {flushes} acknowledged flushes verified, leaks at the end: {leaks}")


main()
