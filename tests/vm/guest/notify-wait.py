#!/usr/bin/env python3
"""notify-wait.py SOCKET TIMEOUT: the systemd side of sd_notify(3) for tests.

Binds a datagram socket at SOCKET, prints each notification received and exits 0 on the
first one with READY=1, or 1 when TIMEOUT seconds pass first."""
import os
import socket
import sys
import time

path, timeout = sys.argv[1], float(sys.argv[2])
try:
    os.unlink(path)
except FileNotFoundError:
    pass
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
deadline = time.monotonic() + timeout
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        print("no READY=1 within %g s" % timeout)
        sys.exit(1)
    sock.settimeout(left)
    try:
        msg = sock.recv(4096).decode(errors="replace")
    except socket.timeout:
        continue
    print(msg.replace("\n", " ").strip(), flush=True)
    if "READY=1" in msg.split("\n"):
        sys.exit(0)
