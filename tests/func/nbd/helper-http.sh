#!/bin/bash
# @file=http(s)://... goes through the helper's curl driver and is read-only: the data
# reads back (probed format), and writes are refused with EROFS.  HTTPS with a
# self-signed certificate needs QEMU's own option, passed through: file.sslverify=off.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nbd-lib.sh"
make_patterned "$T/base.raw"
qemu-img convert -f raw -O qcow2 "$T/base.raw" "$T/disk.qcow2"

# a minimal HTTP server with Range support (QEMU's curl driver needs it)
cat > "$T/httpd.py" <<'PY'
import http.server, os, re, sys
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def send_head(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404); return None
        size = os.path.getsize(path)
        f = open(path, 'rb')
        m = re.match(r'bytes=(\d+)-(\d*)', self.headers.get('Range', ''))
        if m:
            a = int(m.group(1)); b = int(m.group(2)) if m.group(2) else size - 1
            b = min(b, size - 1)
            self.send_response(206)
            self.send_header('Content-Range', 'bytes %d-%d/%d' % (a, b, size))
            f.seek(a); self.remaining = b - a + 1
        else:
            self.send_response(200); self.remaining = size
        self.send_header('Accept-Ranges', 'bytes')
        self.send_header('Content-Length', str(self.remaining))
        self.end_headers()
        return f
    def copyfile(self, src, dst):
        dst.write(src.read(self.remaining))
os.chdir(sys.argv[1])
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
if len(sys.argv) > 3:
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
open(sys.argv[2], 'w').write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$T/httpd.py" "$T" "$T/port" &
cleanup_fn "kill $! 2>/dev/null"
wait_for "$T/port"
sleep 0.1
url="http://127.0.0.1:$(cat "$T/port")/disk.qcow2"

step "read through curl, format probed by qemu-img"
verify_regions "@file=$url"
verify_regions "$url"
"$QT_IO" -c info "@file=$url" | grep -q '^read-only: yes' || fail "not read-only"

step "writes are refused"
out=$("$QT_IO" -c 'write -P 1 0 4k' "@file=$url" 2>&1) && fail "a write succeeded"
echo "$out" | grep -q 'Read-only file system' || fail "got: $out"

step "https with a self-signed certificate: QEMU's sslverify=off passes through"
need openssl
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
  -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
python3 "$T/httpd.py" "$T" "$T/sport" "$T/cert.pem" "$T/key.pem" &
cleanup_fn "kill $! 2>/dev/null"
wait_for "$T/sport"
sleep 0.1
surl="https://127.0.0.1:$(cat "$T/sport")/disk.qcow2"
verify_regions "@file=$surl@format=qcow2@file.sslverify=off"
"$QT_IO" -c info "@file=$surl@format=qcow2@file.sslverify=off" | grep -q '^read-only: yes' ||
  fail "https not read-only"
out=$("$QT_IO" -c 'read 0 4k' "@file=$surl@format=qcow2" 2>&1) && fail "an unverified certificate was accepted"
echo "$out" | grep -qi 'certificate' || fail "no certificate error: $out"
no_helpers_left
echo ok
