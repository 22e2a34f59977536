#!/bin/bash
# Every format only QEMU knows, through the QEMU helper: vmdk (monolithicSparse and
# streamOptimized), vhdx, vdi, vpc, qed and luks images made by qemu-img convert from a
# patterned raw image read back region by region (probed and with format=); our writes
# land exactly as qemu-io's do (qemu-img compare); map -j agrees with qemu-img map on
# which ranges hold data; no helper outlives the tool.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nbd-lib.sh"

make_patterned "$T/base.raw"
SECRET=(--object secret,id=sec0,data=hunter2)

convert() { # FMT OUT [OPTS]
  local fmt=$1 out=$2 o=${3:-}
  if [ "$fmt" = luks ]; then
    luks_convert "$T/base.raw" "$out" "$o"
  else
    qemu-img convert -f raw -O "$fmt" ${o:+-o "$o"} "$T/base.raw" "$out"
  fi
}

for spec in vmdk vmdk:subformat=streamOptimized vhdx vdi vpc:subformat=fixed vpc qed luks; do
  fmt=${spec%%:*}
  o=${spec#"$fmt"}; o=${o#:}
  name=$fmt${o:+-${o#subformat=}}
  img=$T/$name.img
  step "$name"
  convert "$fmt" "$img" "$o"
  extra=""
  [ "$fmt" = luks ] && extra="@key-secret=sec0@object=secret,id=sec0,data=hunter2"
  # probed (no format): as qemu-img probes it (a fixed VHD has its footer at the end
  # only, so QEMU sees raw data there, and so do we)
  verify_regions "@file=$img$extra"
  probed=$(qemu-img info --output=json "$img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["format"])')
  if [ "$probed" = "$fmt" ]; then
    "$QT_IO" -c info "@file=$img$extra" | grep -q "nbd server: $fmt image '$img'" ||
      fail "$name was not opened through the helper"
  else
    "$QT_IO" -c info "@file=$img" | grep -q "^format: $probed" || fail "$name: not $probed"
  fi
  verify_regions "@file=$img@format=$fmt$extra"

  # writes: ours through the helper, qemu-io's on a copy
  cp "$img" "$T/oracle.img"
  writes=("${WRITES[@]}")
  if [ "$name" = vmdk-streamOptimized ]; then
    writes=("${WRITES_NEW[@]}")
    # an allocated grain cannot be rewritten: EIO through us as through qemu-io
    out=$("$QT_IO" -c 'write -P 1 0 4k' "@file=$img" 2>&1) && fail "rewrite accepted"
    echo "$out" | grep -q 'write failed: Input/output error' || fail "got: $out"
    out=$(qemu-io -f vmdk -c 'write -P 1 0 4k' "$T/oracle.img" 2>&1 || true)
    echo "$out" | grep -q 'write failed' || fail "qemu-io rewrote a streamOptimized grain"
  fi
  "$QT_IO" "${writes[@]}" "@file=$img@format=$fmt$extra" >/dev/null
  if [ "$fmt" = luks ]; then
    qemu-io "${SECRET[@]}" --image-opts "${writes[@]}" \
      "driver=luks,key-secret=sec0,file.filename=$T/oracle.img" >/dev/null
    qemu-img compare "${SECRET[@]}" --image-opts "driver=luks,key-secret=sec0,file.filename=$img" \
      "driver=luks,key-secret=sec0,file.filename=$T/oracle.img"
  else
    qemu-io -f "$fmt" "${writes[@]}" "$T/oracle.img" >/dev/null
    qemu-img compare -f "$fmt" -F "$fmt" "$img" "$T/oracle.img"
    qemu-img check -f "$fmt" "$img" >/dev/null 2>&1 || [ $? = 63 ] ||
      fail "qemu-img check $name: $(qemu-img check -f "$fmt" "$img" 2>&1)"
  fi

  # map: data vs zero agrees with qemu-img (offsets are the helper's business)
  if [ "$fmt" != luks ]; then
    "$QT_IO" -c 'map -j' "@file=$img@format=$fmt" > "$T/ours.json"
    qemu-img map -f "$fmt" --output=json "$img" > "$T/theirs.json"
    python3 - "$T/ours.json" "$T/theirs.json" <<'PY'
import json, sys
def data(p):
    runs = []
    for e in json.load(open(p)):
        if e["data"] and not e["zero"]:
            if runs and runs[-1][1] == e["start"]:
                runs[-1][1] += e["length"]
            else:
                runs.append([e["start"], e["start"] + e["length"]])
    return runs
a, b = data(sys.argv[1]), data(sys.argv[2])
# ours may report data at a finer grain than the format's clusters, never more
for s, e in a:
    assert any(bs <= s and e <= be for bs, be in b), (a, b)
print("data ranges within qemu-img's:", a)
PY
  fi
done
no_helpers_left

step "helper=qemu serves even a raw image through QEMU"
verify_regions "@file=$T/base.raw@format=raw@helper=qemu"
"$QT_IO" -c info "@file=$T/base.raw@format=raw@helper=qemu" | grep -q "nbd server: raw image" ||
  fail "helper=qemu was not honoured"

step "unknown to us and to QEMU: raw (block 0 protection: tests/unit/nbd)"
head -c 1048576 /dev/urandom > "$T/noise.img"
"$QT_IO" -c info "$T/noise.img" | grep -q '^format: raw'
expect_fail "unknown format 'vhdz'" "$QT_IO" -c info "@file=$T/noise.img@format=vhdz"
expect_fail "could not open '$T/missing.vmdk': No such file or directory" "$QT_IO" -c info "@file=$T/missing.vmdk@format=vmdk"
expect_fail "is a vmdk image, which needs the QEMU helper (helper=off)" \
  "$QT_IO" -c info "@file=$T/vmdk.img@helper=off"
echo ok
