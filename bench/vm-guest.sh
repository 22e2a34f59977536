#!/bin/bash
# Guest side of bench/vm.sh (run by tests/vm/run.sh as root in the VM; not a test):
# fio through tcm_loop on three backstores over the same raw file on the guest's scratch
# ext4 (a brd RAM disk):
#   qemu    TCMU served by our daemon (qemu-tcmu, subtype qemu, cache=writeback)
#   fileio  LIO's in-kernel fileio backstore, buffered (fd_buffered_io=1: the page cache,
#           as our cache=writeback)
#   runner  TCMU served by tcmu-runner's qcow handler (which serves raw files too)
# With RBD backends (bench/vm.sh --rbd), a one-node Ceph in the guest
# (tests/ceph/ceph-one-node.sh, memstore, `rbd cache = false` for every client) and one
# image `rbd/bench` of SIZE_MB, written whole first (so reads reach the OSD):
#   rbd         our daemon, native librbd (subtype qemu, @driver=rbd@pool=rbd@image=bench)
#   runner-rbd  tcmu-runner's rbd handler (subtype rbd, `rbd/bench`, as ceph-iscsi creates it)
#   fio-rbd     fio --ioengine=rbd in the guest: librbd directly, no SCSI, the ceiling
# Workloads: 4K randread and randwrite at QD16, 1M sequential read and write at QD8
# (libaio, direct=1 on the SCSI disk).  ROUNDS rounds, the backend order rotating each
# round; medians.  CPU per command: the whole guest's busy time (/proc/stat) and the
# serving daemon's own (utime+stime of qemu-tcmu or tcmu-runner) over each run, divided
# by the commands done.  Then the daemon's RSS with no device, one idle device, and the
# same device idle after I/O.  With PROFILE=1, last, a system-wide perf profile of one
# run of each PROFILE_JOBS on each backend (perf report by thread and by symbol, and the
# serving thread's call graph, in $VM_OUT).
# Under TCG only the ratios mean anything.
#
# Environment: ROUNDS=3 RUNTIME=10 SIZE_MB=256 BACKENDS="qemu fileio runner" QT_ARGS=""
#              JOBS="randread:4k:16 ..." (rw:bs:qd) PROFILE=0 PROFILE_JOBS="randread:4k:16 read:1M:8"
#              TCMU_MAX_SECTORS=2048 (hw_max_sectors of the TCMU backstores: 1 MiB, so a
#              1M request is one command, as on fileio whose limit is 8 MiB)
# Results: a table on stdout, $VM_OUT/vm-bench.{md,json}, fio's JSON per run.
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap 'lio_cleanup; [ -n "${CEPH_CONF:-}" ] && "$SRC_DIR/tests/ceph/ceph-one-node.sh" stop /run/ceph' EXIT

ROUNDS=${ROUNDS:-3}
RUNTIME=${RUNTIME:-10}
SIZE_MB=${SIZE_MB:-256}
BACKENDS=${BACKENDS:-qemu fileio runner}
TCMU_MAX_SECTORS=${TCMU_MAX_SECTORS:-2048}
SIZE=$((SIZE_MB << 20))
S=/mnt/bench
IMG=$S/bench.img
RES=$LIO_LOGDIR/bench-results.txt
JOBS=${JOBS:-randread:4k:16 randwrite:4k:16 read:1M:8 write:1M:8}
PROFILE=${PROFILE:-0}
PROFILE_JOBS=${PROFILE_JOBS:-randread:4k:16 read:1M:8}

die() {
	echo "vm-bench: $*" >&2
	exit 1
}

tcmu_create() { # NAME SUBTYPE CFG: a TCMU backstore of SIZE bytes, 512-byte blocks
	local d=$CFS/core/user_$LIO_HBA/$1
	mkdir -p "$d" || return 1
	echo -n "dev_config=$2/$3" >"$d/control" || return 1
	echo -n "dev_size=$SIZE" >"$d/control" || return 1
	echo -n "hw_block_size=512" >"$d/control" || return 1
	echo -n "hw_max_sectors=$TCMU_MAX_SECTORS" >"$d/control" || return 1
	lio_enable "$d" || return 1
	echo "$d"
}

fileio_create() { # NAME
	local d=$CFS/core/fileio_$LIO_HBA/$1
	mkdir -p "$d" || return 1
	echo -n "fd_dev_name=$IMG,fd_dev_size=$SIZE,fd_buffered_io=1" >"$d/control" || return 1
	echo 1 >"$d/enable" || return 1
	echo "$d"
}

create() { # BACKEND -> configfs dir
	case $1 in
	qemu) tcmu_create bench qemu "@id=bench@file=$IMG@format=raw" ;;
	fileio) fileio_create bench ;;
	runner) tcmu_create bench qcow "$IMG" ;;
	rbd) tcmu_create bench qemu "@id=bench@driver=rbd@pool=rbd@image=bench" ;;
	runner-rbd) tcmu_create bench rbd "rbd/bench;conf=$CEPH_CONF" ;;
	*) die "unknown backend $1" ;;
	esac
}

rss() { # PID -> "VmRSS RssAnon RssFile RssShmem" in KiB
	awk '/^(VmRSS|RssAnon|RssFile|RssShmem):/ { v[$1] = $2 }
		END { print v["VmRSS:"], v["RssAnon:"], v["RssFile:"], v["RssShmem:"] }' "/proc/$1/status"
}

busy_ticks() { # the guest's non-idle CPU time so far, in clock ticks
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

daemon_pid() { # BACKEND -> the pid of the process serving it (none for fileio)
	case $1 in
	qemu | rbd) qt_pid qemu-tcmu ;;
	runner | runner-rbd) pgrep -x tcmu-runner | head -n1 ;;
	esac
}

proc_ticks() { # PID -> utime+stime of the whole process (all threads), in clock ticks
	[ -n "$1" ] && awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

run_fio() { # BACKEND DEV ROUND (DEV "-": fio's rbd engine on rbd/bench)
	local be=$1 dev=$2 round=$3 job rw bs qd out pid b0 b1 d0 d1 target
	pid=$(daemon_pid "$be")
	target=(--filename="$dev" --ioengine=libaio --direct=1)
	[ "$dev" = - ] && target=(--ioengine=rbd --clientname=admin --pool=rbd --rbdname=bench)
	for job in $JOBS; do
		IFS=: read -r rw bs qd <<<"$job"
		out=$LIO_LOGDIR/fio-$be-$rw-$round.json
		b0=$(busy_ticks)
		d0=$(proc_ticks "$pid")
		fio --name="$be-$rw" "${target[@]}" --bs="$bs" \
			--iodepth="$qd" --rw="$rw" --size=${SIZE_MB}M --runtime="$RUNTIME" --time_based \
			--norandommap --randrepeat=0 --output-format=json --output="$out" >/dev/null 2>&1 ||
			die "fio failed: $be $rw (see $out)"
		b1=$(busy_ticks)
		d1=$(proc_ticks "$pid")
		python3 - "$be" "$job" "$round" "$out" $((b1 - b0)) $((d1 - d0)) "$(getconf CLK_TCK)" \
			>>"$RES" <<-'PY'
			import json, sys
			be, rw, rnd, f, busy, dmn, hz = sys.argv[1:]
			j = json.load(open(f))["jobs"][0]
			d = j["read" if "read" in rw else "write"]
			p = d.get("clat_ns", {}).get("percentile", {})
			ios = max(d["total_ios"], 1)
			print(be, rw, rnd, "%.0f" % d["iops"], "%.1f" % (d["bw_bytes"] / 1e6),
			      "%.0f" % (p.get("50.000000", 0) / 1e3), "%.0f" % (p.get("99.000000", 0) / 1e3),
			      "%.1f" % (int(busy) * 1e6 / int(hz) / ios), "%.1f" % (int(dmn) * 1e6 / int(hz) / ios))
		PY
		tail -n1 "$RES" | awk '{ printf "  round %s %-7s %-9s %8s IOPS %9s MB/s  p50 %s us  p99 %s us  CPU/op %s us (daemon %s)\n", $3, $1, $2, $4, $5, $6, $7, $8, $9 }'
	done
}

ceph_setup() { # the one-node Ceph and rbd/bench, written whole
	local t
	t=$(qt_ms)
	CEPH_MGR=0 CEPH_MEMSTORE_BYTES=$(((SIZE_MB + 512) << 20)) \
		"$SRC_DIR/tests/ceph/ceph-one-node.sh" start /run/ceph >&2 || return 1
	export CEPH_CONF=/run/ceph/ceph.conf
	printf '[client]\nrbd cache = false\n' >>"$CEPH_CONF"
	rbd create --size "${SIZE_MB}M" rbd/bench || return 1
	rbd bench --io-type write --io-size 4M --io-pattern seq --io-threads 4 \
		--io-total "${SIZE_MB}M" rbd/bench >/dev/null || return 1
	echo "vm-bench: ceph up and rbd/bench written in $(($(qt_ms) - t)) ms"
}

setup() {
	: >"$RES"
	case " $BACKENDS " in *" qemu "* | *" fileio "* | *" runner "*)
		lio_scratch_fs $S $((SIZE_MB + 128)) || die "no scratch file system"
		dd if=/dev/zero of=$IMG bs=1M count="$SIZE_MB" conv=fsync status=none || die "dd"
		;;
	esac
	case " $BACKENDS " in *rbd*) ceph_setup || die "ceph" ;; esac
	case " $BACKENDS " in *" runner"*) lio_start_tcmu_runner || die "tcmu-runner" ;; esac
	case " $BACKENDS " in *" qemu "* | *" rbd "*)
		# shellcheck disable=SC2086 # QT_ARGS: options for our daemon, split on spaces
		qt_daemon_start ${QT_ARGS:-} || die "qemu-tcmu"
		echo "rss start $(rss "$(qt_pid qemu-tcmu)")" >>"$RES"
		;;
	esac
}

rss_report() { # the daemon: no device, one idle device, idle after the I/O
	local pid so dev r0 r1 r2
	pid=$(qt_pid qemu-tcmu)
	r0=$(rss "$pid")
	so=$(create qemu) || die "cannot create the device"
	dev=$(lio_loop_export "$so") || die "no disk"
	sleep 1
	r1=$(rss "$pid")
	run_fio qemu "$dev" rss >/dev/null
	sleep 2
	r2=$(rss "$pid")
	lio_teardown
	echo "rss none $r0" >>"$RES"
	echo "rss idle $r1" >>"$RES"
	echo "rss after $r2" >>"$RES"
}

setup
echo "vm-bench: $ROUNDS rounds of ${RUNTIME}s per job, $SIZE_MB MiB raw file on ext4 (brd), backends: $BACKENDS"
set -- $BACKENDS
for round in $(seq "$ROUNDS"); do
	for be in "$@"; do
		if [ "$be" = fio-rbd ]; then
			run_fio "$be" - "$round"
			continue
		fi
		so=$(create "$be") || die "cannot create the $be backstore"
		dev=$(lio_loop_export "$so") || die "no disk for $be"
		run_fio "$be" "$dev" "$round"
		lio_teardown
	done
	set -- "${@:2}" "$1" # rotate the order for the next round
done
case " $BACKENDS " in *" qemu "*) rss_report ;; esac

profile() { # BACKEND: perf record -a over one run of each PROFILE_JOBS; reports in $VM_OUT
	local be=$1 so dev job rw bs qd d
	so=$(create "$be") || die "cannot create the $be backstore"
	dev=$(lio_loop_export "$so") || die "no disk for $be"
	for job in $PROFILE_JOBS; do
		IFS=: read -r rw bs qd <<<"$job"
		d=$LIO_LOGDIR/perf-$be-$rw.data
		perf record -a -g -o "$d" -- \
			fio --name=prof --filename="$dev" --ioengine=libaio --direct=1 --bs="$bs" \
			--iodepth="$qd" --rw="$rw" --size=${SIZE_MB}M --runtime="$RUNTIME" --time_based \
			--norandommap --output=/dev/null >/dev/null 2>&1 ||
			echo "vm-bench: perf record failed ($be $rw)" >&2
		perf report -i "$d" --no-children --sort comm,dso --stdio -g none \
			>"$VM_OUT/perf-$be-$rw-comm.txt" 2>/dev/null
		perf report -i "$d" --no-children --sort comm,sym --stdio -g none --percent-limit 0.3 \
			>"$VM_OUT/perf-$be-$rw-sym.txt" 2>/dev/null
		perf report -i "$d" --no-children --comm "$(profile_comm "$be")" --sort sym --stdio \
			-G --percent-limit 2 >"$VM_OUT/perf-$be-$rw-daemon-graph.txt" 2>/dev/null
	done
	lio_teardown
}
profile_comm() { # BACKEND -> the thread name serving its commands
	case $1 in
	qemu | rbd) echo qt-bench ;;
	runner | runner-rbd) echo aio-uio0 ;;
	*) echo fio ;;
	esac
}
if [ "$PROFILE" = 1 ]; then
	for be in $BACKENDS; do [ "$be" != fio-rbd ] && profile "$be"; done
fi

python3 - "$RES" "$VM_OUT" "$ROUNDS" "$RUNTIME" "$SIZE_MB" "$TCMU_MAX_SECTORS" "$BACKENDS" "$JOBS" <<'PY'
import json, os, statistics, sys
res, out, rounds, runtime, size_mb, maxsec, backends, jobspec = sys.argv[1:]
rows, rss = {}, {}
for line in open(res):
    f = line.split()
    if f[0] == "rss":
        rss[f[1]] = dict(zip(("vmrss_kib", "anon_kib", "file_kib", "shmem_kib"), map(int, f[2:])))
        continue
    if f[2] == "rss":
        continue
    rows.setdefault((f[1], f[0]), []).append(dict(iops=float(f[3]), mbps=float(f[4]),
                                                  p50_us=float(f[5]), p99_us=float(f[6]),
                                                  cpu_us=float(f[7]), daemon_us=float(f[8])))
med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in rows.items()}
jobs, titles = [], {}
for spec in jobspec.split():
    rw, bs, qd = spec.split(":")
    jobs.append(spec)
    titles[spec] = "%s %s QD%s" % (bs.upper(), {"read": "seq read", "write": "seq write"}.get(rw, rw), qd)
bes = [b for b in backends.split() if any(k[1] == b for k in med)]
pairs = [p for p in (("qemu", "fileio"), ("qemu", "runner"), ("rbd", "runner-rbd"), ("rbd", "fio-rbd"))
         if p[0] in bes and p[1] in bes]
md = ["| workload | " + " | ".join("%s IOPS | %s MB/s | %s p50 µs" % (b, b, b) for b in bes)
      + " | " + " | ".join("%s/%s" % p for p in pairs) + " |",
      "|---|" + "---:|" * (3 * len(bes) + len(pairs))]
result = dict(rounds=int(rounds), runtime_s=int(runtime), size_mb=int(size_mb),
              tcmu_max_sectors=int(maxsec), rows=[], rss=rss)
for j in jobs:
    cells, row = [], dict(workload=j, title=titles[j])
    for b in bes:
        m = med.get((j, b))
        row[b] = m
        cells += ["%.0f" % m["iops"], "%.1f" % m["mbps"], "%.0f" % m["p50_us"]] if m else ["-"] * 3
    for a, b in pairs:
        q, o = med.get((j, a)), med.get((j, b))
        r = q["iops"] / o["iops"] if q and o and o["iops"] else None
        row["%s_vs_%s" % (a, b)] = r
        cells.append("%.2f" % r if r else "-")
    result["rows"].append(row)
    md.append("| %s | %s |" % (titles[j], " | ".join(cells)))
md += ["", "CPU per command, µs (the whole guest / the serving daemon alone):", "",
       "| workload | " + " | ".join(bes) + " |", "|---|" + "---:|" * len(bes)]
for j in jobs:
    cells = []
    for b in bes:
        m = med.get((j, b))
        cells.append(("%.0f / %.0f" % (m["cpu_us"], m["daemon_us"]) if b not in ("fileio", "fio-rbd")
                      else "%.0f" % m["cpu_us"]) if m else "-")
    md.append("| %s | %s |" % (titles[j], " | ".join(cells)))
if rss:
    md += ["", "qemu-tcmu RSS (KiB: VmRSS / RssAnon / RssFile / RssShmem): " + "; ".join(
        "%s %d / %d / %d / %d" % (k, v["vmrss_kib"], v["anon_kib"], v["file_kib"], v["shmem_kib"])
        for k, v in rss.items())]
text = "\n".join(md) + "\n"
print("\nmedians of %s rounds:\n" % rounds + text)
if out:
    open(os.path.join(out, "vm-bench.md"), "w").write(text)
    json.dump(result, open(os.path.join(out, "vm-bench.json"), "w"), indent=1)
PY
cp "$LIO_LOGDIR"/fio-*.json "$VM_OUT/" 2>/dev/null
grep -h "closed (uio" "$QT_LOG" >"$VM_OUT/daemon-stats.txt" 2>/dev/null
exit 0
