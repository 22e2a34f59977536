# shellcheck shell=bash
# For the rbd func tests (sourced after lib.sh): a one-node Ceph for this script, stopped
# on exit, with CEPH_CONF exported so that every client (ours, qemu-img, rbd) finds it.
need ceph-mon ceph-osd ceph-mgr rbd qemu-img qemu-io
SIM=$BUILD_DIR/tests/func/transport/qemu-tcmu-simtest
CEPH_DIR=$T/ceph
ONE_NODE=$SRC_DIR/tests/ceph/ceph-one-node.sh

ceph_start() {
  local t0=$SECONDS
  cleanup_fn "$ONE_NODE" stop "$CEPH_DIR"
  "$ONE_NODE" start "$CEPH_DIR" >/dev/null || fail "the one-node Ceph did not start"
  export CEPH_CONF=$CEPH_DIR/ceph.conf
  echo "ceph up in $((SECONDS - t0)) s"
}

# elapsed_ms CMD...: run, print the milliseconds it took on fd 3
now_ms() { date +%s%3N; }
