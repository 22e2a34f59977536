#!/bin/bash
# qcow2 interop with QEMU 7.2 as the oracle, for every image option combination:
#  - data qemu-io wrote reads back through qemu-tcmu-io (read -P against a byte model);
#  - the same writes/zero-writes/discards through qemu-tcmu-io and through qemu-io give
#    images that `qemu-img compare` finds identical and `qemu-img check` finds clean;
#  - our `map -j` equals `qemu-img map --output=json` on both images;
#  - snapshots stay intact (reverting to one gives the seed content), bitmaps preserved.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-qcow2.sh"
need qemu-img qemu-io python3

# run_case NAME CLUSTER CREATE_OPTS [snap|bitmap|chain|chain-v2|compress-zlib|compress-zstd|datafile]
run_case() {
  local name=$1 cl=$2 opts=$3 kind=${4:-} a=$T/$1-ours.qcow2 b=$T/$1-qemu.qcow2 img mode=all seeds
  step "$name ($opts${kind:+, $kind})"
  for img in "$a" "$b"; do
    local o=$opts
    case $kind in
      datafile*) o="${o:+$o,}data_file=$img.data" ;;
      chain*) o="${o:+$o,}backing_file=$T/$name-mid.qcow2,backing_fmt=qcow2" ;;
    esac
    case $kind in
      compress-*)
        qemu-img create -q -f raw "$T/$name.raw" $SIZE
        ops_args seed $SIZE
        qemu-io -f raw "${_args[@]}" "$T/$name.raw" >/dev/null
        qemu-img convert -c -O qcow2 -o "${o:+$o,}compression_type=${kind#compress-}" "$T/$name.raw" "$img" ;;
      chain*)
        if [ ! -f "$T/$name-mid.qcow2" ]; then
          qemu-img create -q -f raw "$T/$name-base.raw" $SIZE
          seeds=$($OPS seed $SIZE)
          lines_args "$(head -2 <<<"$seeds")"
          qemu-io -f raw "${_args[@]}" "$T/$name-base.raw" >/dev/null
          qemu-img create -q -f qcow2 -b "$T/$name-base.raw" -F raw "$T/$name-mid.qcow2"
          lines_args "$(tail -n +3 <<<"$seeds")"
          qemu_run "$T/$name-mid.qcow2" "${_args[@]}"
        fi
        qemu-img create -q -f qcow2 ${o:+-o "$o"} "$img" $SIZE ;;
      *)
        qemu-img create -q -f qcow2 ${o:+-o "$o"} "$img" $SIZE
        ops_args seed $SIZE
        qemu_run "$img" "${_args[@]}" ;;
    esac
    [ "$kind" = snap ] && qemu-img snapshot -c s1 "$img"
    [ "$kind" = bitmap ] && qemu-img bitmap --add "$img" b0
  done
  check_content "$a" "$cl" seed
  check_map "$a"
  ops_args seq $SIZE "$cl"
  ours_run "$a" "${_args[@]}" || fail "$name: qemu-tcmu-io failed on the op sequence"
  qemu_run "$b" "${_args[@]}"
  check_clean "$a"
  check_clean "$b"
  qemu-img compare -q "$a" "$b" || fail "$name: qemu-img compare finds differences"
  [ "$kind" = chain-v2 ] && mode=all-nd
  check_content "$a" "$cl" $mode
  check_content "$b" "$cl" $mode
  check_map "$a"
  check_map "$b"
  if [ "$kind" = snap ]; then
    cp "$a" "$T/revert.qcow2"
    qemu-img snapshot -a s1 "$T/revert.qcow2"
    check_content "$T/revert.qcow2" "$cl" seed
  fi
  if [ "$kind" = bitmap ]; then
    qemu-img info "$a" | grep -q 'in-use' || fail "$name: bitmap not marked in use"
    "$QT_IO" -r -c info "$a" | grep -q "^bitmap: 'b0' granularity 65536 (in use)" || fail "$name: info"
  fi
  "$QT_IO" -r -c info "$a" | grep -q "^cluster size: $cl\$" || fail "$name: info lacks the cluster size"
  case $kind in
    snap) "$QT_IO" -r -c info "$a" | grep -q "^snapshot: id 1 name 's1'" || fail "$name: info" ;;
    chain*) "$QT_IO" -r -c info "$a" | grep -q "^backing name: .*-mid.qcow2 (format qcow2)" || fail "$name: info" ;;
  esac
  rm -f "$a" "$b" "$a.data" "$b.data"
}

group_geometry() {
  run_case v3-64k 65536 "compat=1.1"
  run_case v2-64k 65536 "compat=0.10"
  run_case v3-512 512 "cluster_size=512"
  run_case v3-4k-rc1 4096 "cluster_size=4096,refcount_bits=1"
  run_case v3-2M 2097152 "cluster_size=2M"
  run_case v2-4k 4096 "compat=0.10,cluster_size=4096"
}

group_refcounts_extl2() {
  for rb in 2 4 8 32 64; do
    run_case "rc$rb" 65536 "refcount_bits=$rb"
  done
  run_case v3-512-rc64 512 "cluster_size=512,refcount_bits=64"
  run_case extl2-64k 65536 "extended_l2=on"
  run_case extl2-16k 16384 "extended_l2=on,cluster_size=16k"
  run_case extl2-2M 2097152 "extended_l2=on,cluster_size=2M"
}

group_features() {
  run_case lazy 65536 "lazy_refcounts=on"
  run_case zlib 65536 "" compress-zlib
  run_case zstd 65536 "" compress-zstd
  run_case zstd-extl2 65536 "extended_l2=on" compress-zstd
  run_case chain 65536 "" chain
  run_case chain-extl2 32768 "extended_l2=on,cluster_size=32k" chain
  run_case chain-v2 65536 "compat=0.10" chain-v2
  run_case datafile 65536 "" datafile
  run_case datafile-raw 65536 "data_file_raw=on" datafile
}

group_prealloc_snapshots() {
  run_case prealloc-metadata 65536 "preallocation=metadata"
  run_case prealloc-falloc 65536 "preallocation=falloc"
  run_case prealloc-full 4096 "preallocation=full,cluster_size=4k"
  run_case snapshot 65536 "" snap
  run_case snapshot-extl2 65536 "extended_l2=on" snap
  run_case snapshot-v2 65536 "compat=0.10" snap
  run_case bitmap 65536 "" bitmap
  OURS_FLAGS=(-t none -i threads)
  run_case cache-none-threads 4096 "cluster_size=4k"
  OURS_FLAGS=(-t writethrough)
  run_case writethrough 65536 "extended_l2=on"
  OURS_FLAGS=()
}

case ${1:-all} in
  geometry) group_geometry ;;
  refcounts-extl2) group_refcounts_extl2 ;;
  features) group_features ;;
  prealloc-snapshots) group_prealloc_snapshots ;;
  *) group_geometry; group_refcounts_extl2; group_features; group_prealloc_snapshots ;;
esac
echo ok
