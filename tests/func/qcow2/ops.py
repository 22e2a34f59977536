#!/usr/bin/env python3
"""Operation sequences for the qcow2 interop tests, and a byte model of the disk.

  ops.py seq SIZE CLUSTER          -> the op list, one qemu-io command per line
  ops.py seed SIZE                 -> seed writes (done by qemu-io before the ops)
  ops.py checks SIZE CLUSTER [seed|all|base]
                                   -> 'read -P pattern off len' lines for the final content
The model is exact for write -P / write -z / discard on images whose discarded ranges
read as zeroes (no backing file) or for ranges outside the backing file's data.
"""
import sys

K, M = 1024, 1024 * 1024


def seed(size):
    return [f"write -P 0xa1 0 {256 * K}", f"write -P 0xa2 {1 * M} {512 * K}",
            f"write -P 0xa3 {8 * M} {1 * M}", f"write -P 0xa4 {size - 128 * K} {128 * K}"]


def seq(size, cl):
    sub = max(512, cl // 32)
    return [
        f"write -P 0x11 0 {4 * K}",
        f"write -P 0x22 {max(cl, 4 * K) - 512} 1024",
        f"write -P 0x33 {1 * M} {1 * M + 4 * K}",
        f"write -P 0x44 {5 * M + 512} 3584",
        f"write -z {6 * M} {128 * K}",
        f"write -z -u {1 * M} {64 * K}",
        f"discard {2 * M} {1 * M}",
        f"write -P 0x55 {2 * M + 8 * K} {4 * K}",
        f"write -z {7 * M + 1 * K} {2 * K}",
        f"write -P 0x66 {8 * M + 4 * K} {8 * K}",
        f"discard {9 * M + 512} {100 * K}",
        f"write -P 0x77 {size - 4 * K} {4 * K}",
        f"write -P 0x88 {10 * M + max(512, sub // 2)} {sub}",
        f"write -z {10 * M + 3 * sub} {sub}",
        f"write -P 0x99 {11 * M} {min(3 * cl + 512, 4 * M)}",
        f"write -z -u {11 * M + cl} {cl}",
    ]


SEC = 512  # every offset and length in the sequences is a multiple of 512


def apply(disk, cmds, cl, discard=True):
    """disk: one byte value per 512-byte sector."""
    for c in cmds:
        w = c.split()
        off, ln = int(w[-2]), int(w[-1])
        assert off % SEC == 0 and ln % SEC == 0, c
        a, b = off // SEC, (off + ln) // SEC
        if w[0] == "write" and w[1] == "-P":
            disk[a:b] = bytes([int(w[2], 0)]) * (b - a)
        elif w[0] == "write":
            disk[a:b] = bytes(b - a)
        elif w[0] == "discard" and discard:
            a, b = -(-off // cl) * cl // SEC, (off + ln) // cl * cl // SEC
            if b > a:
                disk[a:b] = bytes(b - a)


def checks(disk):
    out, i, n = [], 0, len(disk)
    while i < n:
        j = i + 1
        while j < n and disk[j] == disk[i] and (j - i) * SEC < 4 * M:
            j += 1
        out.append(f"read -P {disk[i]:#x} {i * SEC} {(j - i) * SEC}")
        i = j
    return out


def main():
    what, size = sys.argv[1], int(sys.argv[2])
    if what == "seed":
        print("\n".join(seed(size)))
        return
    cl = int(sys.argv[3])
    if what == "seq":
        print("\n".join(seq(size, cl)))
        return
    disk = bytearray(size // SEC)
    mode = sys.argv[4] if len(sys.argv) > 4 else "all"
    if mode in ("seed", "all"):
        apply(disk, seed(size), cl)
    if mode in ("all", "all-nd"):
        apply(disk, seed(size), cl)
        apply(disk, seq(size, cl), cl, discard=mode == "all")
    print("\n".join(checks(disk)))


main()
