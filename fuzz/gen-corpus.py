#!/usr/bin/env python3
# Writes the seed inputs of the fuzz targets cfgstring, netlink, configfs and export-cli
# into fuzz/corpus/NAME/ (named by their SHA-1, as libFuzzer names what it finds), in the
# input formats their harnesses describe (fuzz/fuzz-NAME.c).  The committed corpora are
# these seeds plus what fuzzing found, minimised (fuzz/run.sh --merge).
#   fuzz/gen-corpus.py [NAME...]
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, seeds):
    out = os.path.join(HERE, 'corpus', name)
    os.makedirs(out, exist_ok=True)
    for s in seeds:
        with open(os.path.join(out, hashlib.sha1(s).hexdigest()), 'wb') as f:
            f.write(s)


# ---- cfgstring: [flags][string]; flags: form (0 daemon, 1 daemon rbd, 2 kv, 3 cfgstring),
# 4 = read-write, image << 3 (0 raw, 1 qcow2, 3 empty)
def cfgstring():
    daemon = [
        '@file=/img@format=raw@cache=none@discard=unmap',
        '/var/lib/images/disk.qcow2',
        '@file=/img@driver=qcow2@l2-cache-size=1M@refcount-cache-size=256k'
        '@cache-clean-interval=0@lazy-refcounts=on',
        '@id=mem0@driver=memory@size=1M',
        '@driver=null@size=1G@read-zeroes=off',
        '@file=/img@format=raw@offset=512@size=32k',
        '@file=/img@aio=threads@read-only=on@cache=writethrough',
        '@file=/img@aio=io_uring@cache=unsafe@discard=ignore',
        '@file=/img@format=qcow2@cache=directsync@helper=off',
        '@file=nbd://localhost:10809/exp@reconnect-timeout=5@connect-timeout=3',
        '@file=nbd+unix:///exp?socket=/run/nbd.sock',
        '@driver=nbd@server=unix:/run/nbd.sock@export=disk',
        '@driver=nbd@server=[::1]:10809@export=disk@reconnect-delay=2',
        '@driver=nbd@server.type=inet@server.host=127.0.0.1@server.port=10809@open-timeout=9',
        '@driver=nbd@server.type=unix@server.path=/s',
        '@file=rbd:pool/ns/image@snap:conf=/etc/ceph/ceph.conf:id=admin'
        ':mon_host=1.2.3.4\\:6789',
        '@driver=rbd@pool=rbd@image=disk@user=admin@keyring=/etc/ceph/k@mon-host=10.0.0.1'
        '@osd-op-timeout=30@mount-timeout=5@shared-connection=on',
        '@driver=rbd@pool=rbd@namespace=ns@image=disk@snapshot=s1@conf=/etc/ceph/ceph.conf',
        '@file=/img@helper=qemu@format=vmdk@io-timeout=30',
        '@file=ssh://user@host/path/disk.qcow2@helper=auto',
        '@file=/img@format=raw@@@size=4096',
        '@file=/img@format=qcow2@file.driver=file@object=secret,id=s0,data=x',
    ]
    for i, s in enumerate(daemon):
        yield bytes([0 | (i & 1) << 2 | (i % 3 == 1) << 3]) + s.encode()
    for s in ['pool/image', 'rbd/pool/image@snap;osd_op_timeout=30;conf=/etc/ceph/ceph.conf'
              ';id=admin', 'pool/image;id=a;conf=b', '@driver=rbd@pool=p@image=i']:
        yield bytes([1]) + s.encode()
    for s in ['file=/img,format=raw,cache=none', '/img.qcow2,l2-cache-size=1M',
              'driver=memory,size=1M', 'file=a,,b,driver=raw', 'driver=null,size=64k']:
        yield bytes([2 | 4 | 1 << 3]) + s.encode()
    yield bytes([3 | 4]) + b'@file=/img@format=raw'
    yield bytes([3 | 3 << 3]) + b'@file=/img'


# ---- netlink: one datagram of TCM-USER messages (family id 0x1d in the harness)
FAMILY = 0x1d
A_DEVICE, A_MINOR, A_PAD, A_CFG, A_SIZE, A_WCE, A_STATUS, A_DEVID = range(1, 9)


def nla(t, payload):
    n = 4 + len(payload)
    return struct.pack('=HH', n, t) + payload + b'\0' * ((4 - n % 4) % 4)


def genl(cmd, attrs, version=2, typ=FAMILY):
    body = struct.pack('=BBH', cmd, version, 0) + b''.join(attrs)
    return struct.pack('=IHHII', 16 + len(body), typ, 0, 0, 0) + body


def netlink():
    name = b'tcm-user/1/disk0/qemu/@file=/img.qcow2@cache=none\0'
    yield genl(1, [nla(A_DEVICE, name), nla(A_MINOR, struct.pack('=I', 0)),
                   nla(A_DEVID, struct.pack('=I', 7))])
    yield genl(1, [nla(A_DEVICE, b'tcm-user/3/d\0'), nla(A_MINOR, struct.pack('=I', 2))], 1)
    yield genl(2, [nla(A_DEVICE, name), nla(A_MINOR, struct.pack('=I', 0)),
                   nla(A_DEVID, struct.pack('=I', 7))])
    yield genl(3, [nla(A_DEVICE, name), nla(A_MINOR, struct.pack('=I', 0)),
                   nla(A_CFG, b'qemu/@file=/new.img@format=raw@id=x\0'),
                   nla(A_DEVID, struct.pack('=I', 7))])
    yield genl(3, [nla(A_DEVICE, name), nla(A_MINOR, struct.pack('=I', 0)),
                   nla(A_SIZE, struct.pack('=Q', 1 << 30))])
    yield genl(3, [nla(A_DEVICE, name), nla(A_MINOR, struct.pack('=I', 0)),
                   nla(A_WCE, b'\1')])
    # two messages in one datagram, then an ack of another family
    yield (genl(1, [nla(A_DEVICE, b'tcm-user/0/a/qemu/x\0')]) +
           genl(2, [nla(A_DEVICE, b'tcm-user/0/a\0')]) + genl(0, [], 1, 2))
    yield genl(3, [nla(A_CFG, b'qemu/pool/image;id=admin\0'), nla(A_PAD, b'')])


# ---- configfs: records [file id][length:2 LE][bytes]; ids in fuzz-configfs.c
def rec(fid, data):
    if isinstance(data, str):
        data = data.encode()
    return bytes([fid]) + struct.pack('<H', len(data)) + data


def configfs():
    NAME, MAPSZ, DEVSZ, BSZ, MAXSEC, QDEPTH, INFO, SERIAL = range(8)
    G_ID, G_STATE, G_SUP, G_STATUS, G_PREF, G_SECS, G_MEMBERS = range(8, 15)
    H_ID, H_STATE, H_MEMBERS = 15, 16, 17
    P_INDX, P_ENABLE, L_INDX = 18, 19, 20
    base = [rec(NAME, 'tcm-user/1/disk0/qemu/@file=/img@format=raw\n'),
            rec(MAPSZ, '0x40800000\n'), rec(DEVSZ, '1048576\n'), rec(BSZ, '512\n'),
            rec(MAXSEC, '128\n'), rec(QDEPTH, '64\n'),
            rec(INFO, 'Status: ACTIVATED  Max Queue Depth: 0  SectorSize: 512  '
                      'HwMaxSectors: 128\n        Config: qemu/@file=/img Size: 1048576 '
                      'MaxDataAreaMB: 1024 DataPagesPerBlk: 1\n'),
            rec(SERIAL, 'T10 VPD Unit Serial Number: 5f2e0e6c-7b1a-4d8e-9f00-123456789abc\n')]
    yield b''.join(base)
    alua = [rec(G_ID, '1\n'), rec(G_STATE, '0\n'), rec(G_SUP, '1\n'),
            rec(G_STATUS, 'Altered by Implicit ALUA\n'), rec(G_PREF, '1\n'),
            rec(G_SECS, '10\n'),
            rec(G_MEMBERS, 'iSCSI/iqn.2003-01.org.linux-iscsi.h:t/tpgt_1/lun_0\n'
                           'loopback/naa.5001405abcdef012/tpgt_1/lun_0\n'),
            rec(H_ID, '2\n'), rec(H_STATE, '1\n'),
            rec(H_MEMBERS, 'iSCSI/iqn.2003-01.org.linux-iscsi.h:t/tpgt_2/lun_0\n'),
            rec(P_INDX, '3\n'), rec(P_ENABLE, '1\n'), rec(L_INDX, '1\n')]
    yield b''.join(base + alua)
    yield b''.join(base[:1] + [rec(MAPSZ, '4096'), rec(BSZ, '4096\n'), rec(DEVSZ, '0\n'),
                               rec(INFO, 'Config: qemu/x Size: 65536 MaxDataAreaMB: 8')])
    yield rec(NAME, 'tcm-user/4294967295/d') + rec(MAPSZ, '1') + rec(SERIAL, 'plain-serial')
    yield b''.join(base[:2] + [rec(BSZ, '1024'), rec(MAXSEC, '0'), rec(DEVSZ, 'junk'),
                               rec(INFO, 'no size here')] + alua[:3] +
                   [rec(G_MEMBERS, 'srpt/fe80:0000/tpgt_1/lun_0\nfc/x/tpgt_1/lun_0\n')])


# ---- export-cli: [command][state] then NUL-separated argument tokens; a token "\x01N"
# is the harness's image N, a digit (fuzz-export-cli.c)
def export_cli():
    EXPORT, UNEXPORT, EXPORTS = 0, 1, 2

    def cmd(c, state, *args):
        return bytes([c, state]) + b'\0'.join(a.encode() for a in args)

    img = '\x010'
    yield cmd(EXPORT, 0, img)
    yield cmd(EXPORT, 1, '--name', 'disk1', '--loop', img)
    yield cmd(EXPORT, 1, '-n', 'd2', '-s', '512k', '-b', '4096', '--iscsi',
              'iqn.2003-01.org.example:d2', '--portal', '127.0.0.1:3261', '--portal',
              '[::1]:3262', '\x011')
    yield cmd(EXPORT, 2, '--iscsi', 'naa.5001405abcdef999', '-x', 'qemu', '\x012')
    yield cmd(EXPORT, 1, '--name', 'disk0', img)
    yield cmd(EXPORT, 0, '--list')
    yield cmd(EXPORT, 0, '--size', '0', img)
    yield cmd(EXPORT, 0, '--portal', '1.2.3.4', img)
    yield cmd(EXPORT, 0, '--help')
    yield cmd(UNEXPORT, 1, 'disk0')
    yield cmd(UNEXPORT, 2, '-x', 'qemu', 'disk0', 'other', 'missing')
    yield cmd(UNEXPORT, 2, '-x', 'rbd', 'other')
    yield cmd(EXPORTS, 2)
    yield cmd(EXPORTS, 1, '-x', 'rbd')


TARGETS = {'cfgstring': cfgstring, 'netlink': netlink, 'configfs': configfs,
           'export-cli': export_cli}

for name in sys.argv[1:] or TARGETS:
    save(name, list(TARGETS[name]()))
