#!/usr/bin/env python3
"""Tiny crafted qcow2 images (512-byte clusters, 1 MiB virtual), valid and corrupt.

  make-images.py OUTDIR     writes OUTDIR/<name>.qcow2 for every case below and prints
                            one line per image: name, expectation, message substring

Expectations: "open" = the open must be refused with that message; "rdonly" = refused
read-write, fine read-only; "eio-read"/"eio-write" = open works, reading/writing guest
cluster 1 (offset 512) fails with EIO; "ok" = valid.  A fourth column, when present, is a
guest offset whose discard must fail with EIO too (on a fresh copy).  The layout of the
valid image: cluster 0 header, 1 refcount table, 2 refcount block, 3 L1 table, 4 L2 table,
5 data (guest cluster 0, bytes 0x5a), 6 compressed data (guest cluster 2); images with a
snapshot add 7 snapshot table, 8 its L1 table, 9 its own L2 table; images with a bitmap
add 7 bitmap directory, 8 bitmap table, 9 bitmap data.
"""
import os
import struct
import sys
import zlib

CB, CS = 9, 512
SIZE = 1 << 20
L2_ENTRIES = CS // 8
L1_SIZE = SIZE // (CS * L2_ENTRIES)


def hdr(**kw):
    f = dict(magic=0x514649FB, version=3, backing_offset=0, backing_size=0, cluster_bits=CB,
             size=SIZE, crypt=0, l1_size=L1_SIZE, l1_offset=3 * CS, rt_offset=1 * CS,
             rt_clusters=1, nb_snap=0, snap_offset=0, incompat=0, compat=0, autoclear=0,
             refcount_order=4, header_length=104)
    f.update(kw)
    return struct.pack(">IIQIIQIIQQIIQQQQII", f["magic"], f["version"], f["backing_offset"],
                       f["backing_size"], f["cluster_bits"], f["size"], f["crypt"],
                       f["l1_size"], f["l1_offset"], f["rt_offset"], f["rt_clusters"],
                       f["nb_snap"], f["snap_offset"], f["incompat"], f["compat"],
                       f["autoclear"], f["refcount_order"], f["header_length"])


def compressed_entry(off, nsec):
    shift = 62 - (CB - 8)
    return (1 << 62) | ((nsec - 1) << shift) | off


def image(h=None, l1=None, l2=None, rt=None, rb=None, ext=b"", cdata=None, tail=b""):
    ncl = 7 + len(tail) // CS
    cl = [bytearray(CS) for _ in range(7)]
    cl[0][:] = (h or hdr()) + ext + bytes(CS - len(h or hdr()) - len(ext))
    rt = rt or [2 * CS]
    cl[1][:] = b"".join(struct.pack(">Q", e) for e in rt) + bytes(CS - 8 * len(rt))
    rb = rb or {c: 1 for c in range(ncl)}
    for c, v in rb.items():
        struct.pack_into(">H", cl[2], 2 * c, v)
    l1 = l1 or [(4 * CS) | (1 << 63)]
    cl[3][:] = b"".join(struct.pack(">Q", e) for e in l1) + bytes(CS - 8 * len(l1))
    if l2 is None:
        l2 = [(5 * CS) | (1 << 63), 0, compressed_entry(6 * CS, 1)]
    cl[4][:] = b"".join(struct.pack(">Q", e) for e in l2) + bytes(CS - 8 * len(l2))
    cl[5][:] = b"\x5a" * CS
    if cdata is None:
        c = zlib.compressobj(9, zlib.DEFLATED, -12)
        cdata = c.compress(b"\xa5" * CS) + c.flush()
    cl[6][:len(cdata)] = cdata
    return b"".join(bytes(c) for c in cl) + tail


def ext(t, data):
    return struct.pack(">II", t, len(data)) + data + bytes(-len(data) % 8)


def cluster(data=b""):
    return data + bytes(CS - len(data))


def table(entries):
    return cluster(b"".join(struct.pack(">Q", e) for e in entries))


def with_snapshot(snap_l1=None, snap_l1_at=8, **kw):
    """One snapshot 's' (v3 entry with disk size) at cluster 7; its L1 table at 8 (or
    snap_l1_at) maps its own L2 table at 9 (empty) unless snap_l1 says otherwise."""
    snap_l1 = snap_l1 or [9 * CS]
    sn = struct.pack(">QIHHIIQII", snap_l1_at * CS, L1_SIZE, 1, 1, 0, 0, 0, 0, 16)
    sn += struct.pack(">QQ", 0, SIZE) + b"1s"
    sn += bytes(-len(sn) % 8)
    return image(hdr(nb_snap=1, snap_offset=7 * CS), tail=cluster(sn) + table(snap_l1) +
                 cluster(), **kw)


def with_bitmap(**kw):
    """One persistent bitmap 'b' (in use, so a read-write open changes nothing): directory
    at cluster 7, bitmap table at 8 pointing at the bitmap data cluster 9."""
    d = struct.pack(">QIIBBHI", 8 * CS, 1, 1, 1, 16, 1, 0) + b"b"
    d += bytes(-len(d) % 8)
    bm = ext(0x23852875, struct.pack(">IIQQ", 1, 0, len(d), 7 * CS))
    return image(hdr(autoclear=1), ext=bm, tail=cluster(d) + table([9 * CS]) + cluster(),
                 **kw)


def l2_to(c):
    """The valid L2 table with guest cluster 1 mapped (COPIED) at host cluster @c."""
    return [(5 * CS) | (1 << 63), (c * CS) | (1 << 63), compressed_entry(6 * CS, 1)]


CASES = [
    ("valid", "ok", "", image()),
    ("bad-magic", "open", "qcow2", image(hdr(magic=0x514649FC))),
    ("version-4", "open", "unsupported version 4", image(hdr(version=4))),
    ("cluster-bits-30", "open", "cluster_bits 30 out of range", image(hdr(cluster_bits=30))),
    ("cluster-bits-8", "open", "cluster_bits 8 out of range", image(hdr(cluster_bits=8))),
    ("huge-size", "open", "too large", image(hdr(size=1 << 63))),
    ("l1-too-small", "open", "L1 table has 1 entries", image(hdr(l1_size=1))),
    ("l1-beyond-eof", "open", "L1 table", image(hdr(l1_offset=1 << 40))),
    ("l1-on-header", "open", "L1 table", image(hdr(l1_offset=0))),
    ("l1-unaligned", "open", "not cluster aligned", image(hdr(l1_offset=3 * CS + 8))),
    ("rt-unaligned", "open", "not cluster aligned", image(hdr(rt_offset=CS + 16))),
    ("rt-overlaps-l1", "open", "overlaps the refcount table", image(hdr(rt_offset=3 * CS))),
    ("rt-huge", "open", "refcount table of", image(hdr(rt_clusters=1 << 20))),
    ("incompat-unknown", "open", "incompatible feature bits 0x400",
     image(hdr(incompat=1 << 10))),
    ("corrupt-bit", "rdonly", "marked corrupt", image(hdr(incompat=2))),
    ("encrypted", "open", "encrypted", image(hdr(crypt=2))),
    ("refcount-order-7", "open", "refcount order 7", image(hdr(refcount_order=7))),
    ("header-length-bad", "open", "invalid header length", image(hdr(header_length=100))),
    ("extl2-small-cluster", "open", "extended L2", image(hdr(incompat=1 << 4))),
    ("zstd-without-bit", "open", "compression type",
     image(hdr(header_length=112) + b"\x01" + bytes(7))),
    ("ext-overrun", "open", "overruns the header cluster",
     image(ext=struct.pack(">II", 0xE2792ACA, 4000))),
    ("backing-name-long", "open", "backing file name is invalid",
     image(hdr(backing_offset=200, backing_size=2000))),
    ("snapshots-beyond-eof", "open", "snapshot table",
     image(hdr(nb_snap=1, snap_offset=1 << 30))),
    ("data-file-missing-name", "open", "names none", image(hdr(incompat=1 << 2))),
    ("l1-entry-beyond-eof", "open", "L1 entry 0", image(l1=[(1 << 40) | (1 << 63)])),
    ("l1-entry-on-rt", "open", "L1 entry 0", image(l1=[(1 * CS) | (1 << 63)])),
    ("rt-entry-beyond-eof", "open", "refcount table entry 0", image(rt=[1 << 40])),
    ("rt-entry-on-l1", "open", "refcount table entry 0", image(rt=[3 * CS])),
    ("l2-entry-beyond-eof", "eio-read", "beyond the image file",
     image(l2=[(5 * CS) | (1 << 63), (1 << 40) | (1 << 63)])),
    ("l2-entry-on-rt", "eio-write", "overlap", image(l2=l2_to(1)), 512),
    ("l2-entry-on-l1", "eio-write", "overlap", image(l2=l2_to(3)), 512),
    # the metadata that changes at run time: refcount blocks and L2 tables
    ("l2-entry-on-rb", "eio-write", "overlap", image(l2=l2_to(2)), 512),
    ("l2-entry-on-l2", "eio-write", "overlap", image(l2=l2_to(4)), 512),
    ("l1-entry-on-rb", "open", "L1 entry 0", image(l1=[(2 * CS) | (1 << 63)])),
    ("l1-entries-share-l2", "eio-write", "overlap",
     image(l1=[(4 * CS) | (1 << 63), (4 * CS) | (1 << 63)]), 0),
    # one cluster both a refcount block and an L2 table, as in l1-entry-on-rb: refcount
    # blocks are mapped first, so the L1 entry is the one named
    ("rt-entry-on-l2", "open", "L1 entry 0", image(rt=[4 * CS])),
    ("rt-entries-share-rb", "open", "refcount table entry 1", image(rt=[2 * CS, 2 * CS])),
    # snapshots and bitmaps: their tables and clusters are metadata too
    ("snapshot-valid", "ok", "", with_snapshot()),
    ("bitmap-valid", "ok", "", with_bitmap()),
    ("l2-entry-on-snapshot-table", "eio-write", "overlap", with_snapshot(l2=l2_to(7)), 512),
    ("l2-entry-on-snapshot-l1", "eio-write", "overlap", with_snapshot(l2=l2_to(8)), 512),
    ("l2-entry-on-snapshot-l2", "eio-write", "overlap", with_snapshot(l2=l2_to(9)), 512),
    ("snapshot-l1-on-rt", "open", "L1 table of snapshot '1' overlaps the refcount table",
     with_snapshot(snap_l1_at=1)),
    ("snapshot-l1-entry-on-rb", "rdonly", "snapshot '1' L1 entry 0",
     with_snapshot(snap_l1=[2 * CS])),
    ("l2-entry-on-bitmap-table", "eio-write", "overlap", with_bitmap(l2=l2_to(8)), 512),
    ("l2-entry-on-bitmap-data", "eio-write", "overlap", with_bitmap(l2=l2_to(9)), 512),
    ("compressed-garbage", "eio-compressed", "corrupt compressed cluster",
     image(cdata=b"\xff" * 64)),
]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, expect, msg, data, *discard in CASES:
        with open(os.path.join(out, name + ".qcow2"), "wb") as f:
            f.write(data)
        print("\t".join([name, expect, msg] + [str(d) for d in discard]))


main()
