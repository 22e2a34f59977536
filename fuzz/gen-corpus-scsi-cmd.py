#!/usr/bin/env python3
# Writes the seed corpus of fuzz-scsi-cmd (fuzz/corpus/scsi-cmd/): one valid command of
# each kind the SCSI layer knows, a few error cases and multi-command sequences.
# Record: [lun][cdb_len][buf_len:2 big-endian][cdb][data]; see fuzz/fuzz-scsi-cmd.c.
import os
import struct
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus', 'scsi-cmd')
os.makedirs(out, exist_ok=True)


def rec(cdb, buf_len=0, data=b'', lun=0):
    return bytes([lun, len(cdb), buf_len >> 8, buf_len & 0xff]) + bytes(cdb) + data


def rw16(op, lba, nlb, b1=0):
    return [op, b1] + list(struct.pack('>QI', lba, nlb)) + [0, 0]


def rw10(op, lba, nlb, b1=0):
    return [op, b1] + list(struct.pack('>I', lba)) + [0] + list(struct.pack('>H', nlb)) + [0]


def unmap_list(descs):
    body = b''.join(struct.pack('>QII', l, n, 0) for l, n in descs)
    return struct.pack('>HH4x', len(body) + 6, len(body)) + body


seeds = {
    'tur': rec([0x00, 0, 0, 0, 0, 0]),
    'inquiry': rec([0x12, 0, 0, 0, 96, 0], 96),
    'inquiry-vpd83': rec([0x12, 1, 0x83, 0, 255, 0], 255),
    'inquiry-vpd00': rec([0x12, 1, 0x00, 0, 255, 0], 255),
    'inquiry-vpdb0': rec([0x12, 1, 0xb0, 0, 64, 0], 64),
    'inquiry-vpdb2': rec([0x12, 1, 0xb2, 0, 8, 0], 8),
    'request-sense': rec([0x03, 1, 0, 0, 252, 0], 252),
    'mode-sense6': rec([0x1a, 0, 0x3f, 0, 255, 0], 255),
    'mode-sense10': rec([0x5a, 0x10, 0x48, 0, 0, 0, 0, 1, 0, 0], 256),
    'mode-select6': rec([0x15, 0x10, 0, 0, 16, 0], 16,
                        bytes([0, 0, 0, 0, 0x0a, 0x0a, 0x04, 0x10, 0, 0x40, 0, 0, 0xff, 0xff, 0, 0])),
    'mode-select10-wce': rec([0x55, 0x10, 0, 0, 0, 0, 0, 0, 28, 0], 28,
                             bytes(8) + bytes([0x08, 0x12]) + bytes(18)),
    'rsoc-all': rec([0xa3, 0x0c, 0x80, 0, 0, 0, 0, 0, 0x10, 0, 0, 0], 4096),
    'rsoc-one': rec([0xa3, 0x0c, 0x02, 0x9e, 0, 0x10, 0, 0, 0, 64, 0, 0], 64),
    'read-capacity10': rec([0x25] + [0] * 9, 8),
    'read-capacity16': rec([0x9e, 0x10] + [0] * 8 + [0, 0, 0, 32, 0, 0], 32),
    'get-lba-status': rec([0x9e, 0x12] + [0] * 8 + [0, 0, 1, 0, 0, 0], 256),
    'read6': rec([0x08, 0, 0, 8, 2, 0], 1024),
    'write6': rec([0x0a, 0, 0, 8, 1, 0], 512, b'\xab' * 512),
    'read10': rec(rw10(0x28, 16, 4), 2048),
    'write10-fua': rec(rw10(0x2a, 16, 2, 0x08), 1024, b'\x5a' * 1024),
    'read12': rec([0xa8, 0, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0], 512),
    'write12': rec([0xaa, 0x10, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0], 512, b'\x12' * 512),
    'read16-4k': rec(rw16(0x88, 3, 1), 4096, lun=1),
    'write16-4k': rec(rw16(0x8a, 3, 1), 4096, b'\x77' * 4096, lun=1),
    'write16-ro': rec(rw16(0x8a, 0, 1), 512, b'\x01' * 512, lun=2),
    'read16-oob': rec(rw16(0x88, 0xffffffffffffffff, 1), 512),
    'read16-maxsect': rec(rw16(0x88, 0, 65), 65 * 512, lun=3),
    'read-residual-short': rec(rw10(0x28, 0, 1), 200),
    'write-residual-long': rec(rw10(0x2a, 0, 1), 1024, b'\x01' * 1024),
    'verify10': rec(rw10(0x2f, 16, 2, 0x02), 1024, b'\x5a' * 1024),
    'verify16-bytchk3': rec(rw16(0x8f, 16, 4, 0x06), 512, b'\x5a' * 512),
    'write-verify10': rec(rw10(0x2e, 40, 1, 0x02), 512, b'\x33' * 512),
    'sync-cache10': rec([0x35, 0x02] + [0] * 8),
    'sync-cache16': rec([0x91, 0] + [0] * 14),
    'write-same10': rec(rw10(0x41, 100, 300), 512, b'\xcd' * 512),
    'write-same16-unmap': rec(rw16(0x93, 0, 2048, 0x08), 512, bytes(512)),
    'write-same16-ndob': rec(rw16(0x93, 0, 16, 0x09)),
    'unmap': rec([0x42, 0, 0, 0, 0, 0, 0, 0, 40, 0], 40, unmap_list([(0, 128), (1000, 7)])),
    'unmap-bad': rec([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], 24, unmap_list([(0xffffffffffffff00, 256)])),
    'caw': rec([0x89, 0x08] + list(struct.pack('>Q', 7)) + [0, 0, 0, 1, 0, 0], 1024, bytes(1024)),
    'start-stop': rec([0x1b, 1, 0, 0, 0, 0]) + rec([0x00] * 6) + rec([0x1b, 0, 0, 0, 1, 0]),
    'format-unit': rec([0x04, 0, 0, 0, 0, 0]),
    'unknown-opcode': rec([0xc5, 1, 2, 3, 4, 5]),
    'unknown-sa': rec([0x9e, 0x1f] + [0] * 14, 64),
    'reserved-bit': rec([0x28, 0x04, 0, 0, 0, 0, 0, 0, 1, 0x80], 512),
    'variable-length': rec([0x7f, 0, 0, 0, 0, 0, 0, 8, 0, 9, 0, 0, 0, 0, 0, 0]),
    'capacity-change': bytes([0x80 | 0x20, 6, 0, 0, 0, 0, 0, 0, 0, 0]) + rec([0x25] + [0] * 9, 8),
    'dsense-then-error': rec([0x15, 0x10, 0, 0, 16, 0], 16,
                             bytes([0, 0, 0, 0, 0x0a, 0x0a, 0x04, 0x10, 0, 0x40, 0, 0, 0xff, 0xff, 0, 0]))
    + rec(rw16(0x88, 0xffffffffffffffff, 1), 512)
    + rec([0x15, 0x10, 0, 0, 16, 0], 16,
          bytes([0, 0, 0, 0, 0x0a, 0x0a, 0x00, 0x10, 0, 0x40, 0, 0, 0xff, 0xff, 0, 0])),
    'overlapping-writes': b''.join(rec(rw10(0x2a, i % 3, 2), 1024, bytes([i]) * 1024) for i in range(6))
    + rec([0x89, 0] + list(struct.pack('>Q', 1)) + [0, 0, 0, 1, 0, 0], 1024, bytes(1024)),
}

for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
print(f'{len(seeds)} seeds in {out}')
