#!/bin/bash
# nfs:// through the QEMU helper (QEMU's libnfs client, NFSv3) against nfs-ganesha with
# its VFS backend, a userspace NFS server, on 127.0.0.1 (with rpcbind: libnfs finds mountd
# and nfsd through the portmapper).  Every format qemu-img creates (raw qcow2 qcow qed vdi
# vmdk vhdx vpc luks parallels) is made on the export by qemu-img convert, read back
# through us (format probed), written by us as qemu-io writes a local copy (qemu-img
# compare against the exported file); ganesha killed under I/O through the daemon's path
# fails commands with ABORTED COMMAND (0b/08/00) in bounded time, another LUN goes on,
# and I/O resumes when ganesha is back.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../nbd/nbd-lib.sh"
. "$(dirname "$0")/proto-lib.sh"

make_patterned "$T/base.raw"
start_ganesha
echo "nfs-ganesha $(dpkg-query -W -f='${Version}' nfs-ganesha 2>/dev/null), export $T/nfs/export"
E=$T/nfs/export
SECRET=(--object secret,id=sec0,data=hunter2)
LUKS="@key-secret=sec0@object=secret,id=sec0,data=hunter2"
# QEMU's options pass through only with its structured names (not with a URL)
nfs_img() { # FMT
  if [ "$1" = luks ]; then
    echo "@format=luks@file.driver=nfs@file.server.type=inet@file.server.host=127.0.0.1@file.path=$E/d.luks$LUKS"
  else
    echo "@file=$NFS_URL/d.$1@format=$1"
  fi
}

for fmt in raw qcow2 qcow qed vdi vmdk vhdx vpc luks parallels; do
  step "$fmt made by qemu-img on nfs://"
  if [ "$fmt" = luks ]; then
    luks_convert "$T/base.raw" "$NFS_URL/d.$fmt" || fail "qemu-img convert to luks on nfs://"
  else
    qemu-img convert -f raw -O "$fmt" "$T/base.raw" "$NFS_URL/d.$fmt"
  fi
  cp "$E/d.$fmt" "$T/oracle.$fmt"
  verify_regions "$(nfs_img $fmt)"
  case $fmt in qcow2 | vmdk | vhdx) verify_regions "$NFS_URL/d.$fmt" ;; esac # probed
  "$QT_IO" -c info "$(nfs_img $fmt)" | grep -q "nbd server: $fmt image" ||
    fail "$fmt: not through the helper"
  "$QT_IO" "${WRITES[@]}" "$(nfs_img $fmt)" >/dev/null
  if [ "$fmt" = luks ]; then
    qemu-io "${SECRET[@]}" --image-opts "${WRITES[@]}" \
      "driver=luks,key-secret=sec0,file.filename=$T/oracle.luks" >/dev/null
    qemu-img compare "${SECRET[@]}" --image-opts "driver=luks,key-secret=sec0,file.filename=$E/d.luks" \
      "driver=luks,key-secret=sec0,file.filename=$T/oracle.luks"
  else
    qemu-io -f "$fmt" "${WRITES[@]}" "$T/oracle.$fmt" >/dev/null
    qemu-img compare -f "$fmt" -F "$fmt" "$E/d.$fmt" "$T/oracle.$fmt"
  fi
done

step "ganesha dies under I/O (daemon path, two LUNs), then comes back"
simfault_start 16 "@file=$NFS_URL/d.raw@format=raw@io-timeout=2@reconnect-timeout=3"
sleep 3
kill_wait "$GANESHA_PID"
echo "ganesha killed at $(date +%T.%N)"
sleep 6
start_ganesha_only
echo "ganesha back at $(date +%T.%N)"
simfault_wait
check_simfault "$T/sim.out" 9000
no_helpers_left
echo ok
