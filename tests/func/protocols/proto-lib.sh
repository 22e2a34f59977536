# shellcheck shell=bash
# Servers for the protocol tests (sourced after ../lib.sh and ../nbd/nbd-lib.sh).  Each is
# started by the test on loopback, with its state under $T, and stopped by pid at exit.
SIMFAULT=$BUILD_DIR/tests/func/protocols/qemu-tcmu-simfault

# free_port: a TCP port nobody listens on now
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most)
wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "nothing listens on 127.0.0.1:$1"
}

# kill_wait PID...: SIGKILL and wait until gone (5 s at most)
kill_wait() {
  local p i
  for p in "$@"; do
    kill -9 "$p" 2>/dev/null || continue
    for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  done
}

# ---- Gluster ---------------------------------------------------------------------------
# glusterd with its working directory in $T; one brick volume "gv0" on 127.0.0.2 (the CLI
# refuses 127.0.0.1 and localhost as brick hosts; glusterd takes any 127.x as local).
# glusterd runs a python helper (gsyncd) some 25 times at each start to write the
# geo-replication template (~8 s on this machine); the test's glusterd runs in a private
# mount namespace where gsyncd is a stub that answers --version, so it starts in ~1 s.
GLUSTER_HOST=127.0.0.2
GSYNCD=/usr/lib/x86_64-linux-gnu/glusterfs/gsyncd
start_glusterd() {
  need glusterd gluster unshare
  [ -e "$GSYNCD" ] || fail "no $GSYNCD (glusterfs-server)"
  ! pgrep -x glusterd >/dev/null || fail "a glusterd runs already (port 24007 is taken)"
  mkdir -p "$T/gl/wd" "$T/gl/log" "$T/gl/b1"
  sed "s|/var/lib/glusterd|$T/gl/wd|" /etc/glusterfs/glusterd.vol > "$T/gl/glusterd.vol"
  printf '#!/bin/sh\n[ "$1" = --version ] && echo "gsyncd.py 4.0.0"\nexit 0\n' > "$T/gl/gsyncd"
  chmod 755 "$T/gl/gsyncd"
  unshare -m --propagation private sh -c "mount --bind '$T/gl/gsyncd' '$GSYNCD' &&
    exec glusterd -f '$T/gl/glusterd.vol' -p '$T/gl/glusterd.pid' -l '$T/gl/log/glusterd.log'" ||
    fail "glusterd did not start"
  cleanup_fn "stop_glusterd"
  local i
  for ((i = 0; i < 100; i++)); do gluster --mode=script pool list >/dev/null 2>&1 && break; sleep 0.1; done
  gluster --mode=script volume create gv0 "$GLUSTER_HOST:$T/gl/b1" force >/dev/null
  gluster --mode=script volume start gv0 >/dev/null
  echo "glusterd $(glusterd --version | head -1 | awk '{print $2}'), volume gv0 on $GLUSTER_HOST:$T/gl/b1"
}
brick_pid() { cat /var/run/gluster/vols/gv0/*.pid 2>/dev/null; }
stop_glusterd() {
  gluster --mode=script volume stop gv0 force >/dev/null 2>&1
  gluster --mode=script volume delete gv0 >/dev/null 2>&1
  kill_wait "$(brick_pid)" "$(cat "$T/gl/glusterd.pid" 2>/dev/null)"
  rm -rf /var/run/gluster/vols/gv0
}

# ---- iSCSI: tgtd (Debian tgt) ------------------------------------------------------------
# start_tgtd: tgtd in the foreground on 127.0.0.1:$TGT_PORT with its own control port
start_tgtd() {
  need tgtd tgtadm
  TGT_PORT=$(free_port)
  TGT_CTL=$((RANDOM % 1000 + 100))
  tgtd -f -C "$TGT_CTL" --iscsi "portal=127.0.0.1:$TGT_PORT" >"$T/tgtd.log" 2>&1 &
  TGT_PID=$!
  cleanup_fn "kill_wait $TGT_PID"
  wait_port "$TGT_PORT"
  for ((i = 0; i < 50; i++)); do tgtadm -C "$TGT_CTL" --mode sys --op show >/dev/null 2>&1 && break; sleep 0.1; done
}
# tgt_lun TID IQN FILE: a target with the file as LUN 1 (LUN 0 is tgt's controller)
tgt_lun() {
  tgtadm -C "$TGT_CTL" --lld iscsi --op new --mode target --tid "$1" -T "$2"
  tgtadm -C "$TGT_CTL" --lld iscsi --op new --mode logicalunit --tid "$1" --lun 1 -b "$3"
  tgtadm -C "$TGT_CTL" --lld iscsi --op bind --mode target --tid "$1" -I ALL
}

# ---- NFS: nfs-ganesha (VFS) and rpcbind --------------------------------------------------
# QEMU's nfs driver (libnfs) mounts with NFSv3 and finds mountd and nfsd through the
# portmapper, so rpcbind runs too (port 111; ganesha on 2049).
start_ganesha() {
  need ganesha.nfsd rpcbind
  ! pgrep -x rpcbind >/dev/null || fail "an rpcbind runs already (port 111 is taken)"
  ! pgrep -f ganesha.nfsd >/dev/null || fail "an nfs-ganesha runs already"
  mkdir -p "$T/nfs/export" "$T/nfs/rec"
  cat > "$T/nfs/ganesha.conf" <<EOF
NFS_CORE_PARAM { Protocols = 3; Bind_addr = 127.0.0.1; Enable_NLM = false; Enable_RQUOTA = false; }
NFSv4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = $T/nfs/rec; }
EXPORT {
  Export_Id = 1; Path = $T/nfs/export; Pseudo = /export; Access_Type = RW;
  Squash = No_Root_Squash; SecType = sys; Protocols = 3; Transports = TCP;
  FSAL { Name = VFS; }
}
EOF
  rpcbind -f >"$T/rpcbind.log" 2>&1 &
  RPCBIND_PID=$!
  cleanup_fn "kill_wait $RPCBIND_PID"
  wait_port 111
  start_ganesha_only
  NFS_URL=nfs://127.0.0.1$T/nfs/export
}
start_ganesha_only() {
  rm -f "$T/nfs/ganesha.pid"
  ganesha.nfsd -F -f "$T/nfs/ganesha.conf" -L "$T/nfs/ganesha.log" -p "$T/nfs/ganesha.pid" &
  GANESHA_PID=$!
  cleanup_fn "kill_wait $GANESHA_PID"
  local i
  for ((i = 0; i < 100; i++)); do
    rpcinfo -p 127.0.0.1 2>/dev/null | grep -q ' mountd' && grep -q 'NFS SERVER INITIALIZED' "$T/nfs/ganesha.log" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "nfs-ganesha did not start: $(tail -5 "$T/nfs/ganesha.log")"
}

# ---- SSH: OpenSSH sshd, an ssh-agent with the client key --------------------------------
# QEMU's ssh driver authenticates through ssh-agent or ~/.ssh keys; the test's agent
# holds a key made for it, so nothing in anyone's ~/.ssh is used or changed.
start_sshd() {
  need sshd ssh-keygen ssh-agent ssh-add
  mkdir -p "$T/ssh" /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/client_key"
  cp "$T/ssh/client_key.pub" "$T/ssh/authorized_keys"
  SSH_PORT=$(free_port)
  cat > "$T/ssh/sshd_config" <<EOF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $T/ssh/host_key
AuthorizedKeysFile $T/ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $T/ssh/sshd.pid
Subsystem sftp internal-sftp
EOF
  /usr/sbin/sshd -D -e -f "$T/ssh/sshd_config" 2>"$T/ssh/sshd.log" &
  SSHD_PID=$!
  cleanup_fn "pkill -9 -P $SSHD_PID 2>/dev/null; kill_wait $SSHD_PID"
  wait_port "$SSH_PORT"
  eval "$(ssh-agent -s -a "$T/ssh/agent.sock")" >/dev/null
  cleanup_fn "kill_wait $SSH_AGENT_PID"
  ssh-add -q "$T/ssh/client_key"
  export SSH_AUTH_SOCK
  # sha256 of the host key as QEMU's host_key_check=sha256:HEX wants it (hex, not base64)
  SSH_HOSTKEY_SHA256=$(awk '{print $2}' "$T/ssh/host_key.pub" | base64 -d | sha256sum | awk '{print $1}')
}

# check_simfault OUT MAX_MS: qemu-tcmu-simfault's lines, with the server of LUN A stopped
# and started again meanwhile: LUN B never failed nor waited a second; LUN A's commands
# worked, then failed with CHECK CONDITION, ABORTED COMMAND / LOGICAL UNIT COMMUNICATION
# FAILURE (0b/08/00) each within MAX_MS, then worked again (reads seeing the last good
# write); both closed quickly.
check_simfault() {
  python3 - "$1" "$2" <<'PY' || { cat "$1"; fail "see above"; }
import sys
a, b, closed = [], [], {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 9 and f[0] in "AB" and f[2] in ("read", "write"):
        rec = dict(t=int(f[1]), op=f[2], lat=int(f[4]), st=f[6], sense=f[8], bad="MISMATCH" in line)
        (a if f[0] == "A" else b).append(rec)
    elif len(f) == 5 and f[1] == "closed":
        closed[f[0]] = int(f[3])
assert not any(r["bad"] for r in a + b), "a read returned other data than the last good write"
assert all(r["st"] == "0x00" for r in b) and b, "LUN B failed"
print("B: %d commands, max latency %d ms" % (len(b), max(r["lat"] for r in b)))
assert max(r["lat"] for r in b) < 1000, "LUN B was held up"
failed = [r for r in a if r["st"] != "0x00"]
assert failed, "no command failed while the brick was down"
for r in failed:
    assert r["st"] == "0x02" and r["sense"] == "0b/08/00", "not ABORTED COMMAND/COMM FAILURE: %s" % r
    assert r["lat"] < int(sys.argv[2]), "failure after %d ms" % r["lat"]
first, last = a.index(failed[0]), a.index(failed[-1])
assert any(r["st"] == "0x00" for r in a[:first]), "nothing worked before the kill"
after = [r for r in a[last + 1:]]
assert any(r["st"] == "0x00" and r["op"] == "read" for r in after), "I/O did not resume"
print("A: %d commands, %d failed with 0b/08/00 (latency %d..%d ms), %d good after" % (
    len(a), len(failed), min(r["lat"] for r in failed), max(r["lat"] for r in failed), len(after)))
print("closed in: A %d ms, B %d ms" % (closed["A"], closed["B"]))
assert closed["A"] < 2000, "closing LUN A took %d ms" % closed["A"]
PY
}

# simfault_start SECONDS CFG_A: qemu-tcmu-simfault on CFG_A and a memory LUN, in the
# background, until it is ready; simfault_wait: its end (then check_simfault $T/sim.out)
simfault_start() {
  "$SIMFAULT" --seconds "$1" --interval-ms 200 "$2" "@driver=memory@size=16M" \
    >"$T/sim.out" 2>"$T/sim.err" &
  SIM_PID=$!
  cleanup_fn "kill $SIM_PID 2>/dev/null"
  local i
  for ((i = 0; i < 300; i++)); do grep -q ready "$T/sim.out" && return 0; sleep 0.05; done
  fail "simfault did not start: $(cat "$T/sim.err")"
}
simfault_wait() {
  wait "$SIM_PID" || fail "simfault failed: $(tail -n 5 "$T/sim.out" "$T/sim.err")"
  cat "$T/sim.err"
  ! grep -q 'did not exit' "$T/sim.err" || fail "false alarm: $(grep 'did not exit' "$T/sim.err")"
  grep -q 'reconnected' "$T/sim.err" || fail "no reconnect in the log"
}
