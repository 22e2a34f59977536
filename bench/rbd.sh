#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench/rbd.sh: the native rbd driver against its peers, on one one-node Ceph
# (tests/ceph/ceph-one-node.sh, memstore), one 1 GiB image, interleaved rounds, medians.
#
#   bench/rbd.sh [-b BUILD_DIR] [-r ROUNDS] [-t SECONDS] [-o OUT.md]
#
#   native   BUILD/bench/sim-bench over rbd:rbd/bench (ring simulator -> ring_dev -> SCSI
#            -> our rbd driver -> librbd): the daemon's whole path minus the kernel
#   helper   the same sim-bench over @file=rbd:rbd/bench@helper=qemu (qemu-nbd + nbd)
#   fio-rbd  fio --ioengine=rbd (librbd directly: the ceiling for one client)
#   rbd      rbd bench (librbd's own tool)
# fio and rbd bench run with rbd_cache=false like our driver: with librbd's default cache
# their writes complete in librbd's memory (fio flushes once at start, which turns the
# cache from writethrough to writeback), which is not what a gateway may do.
# Each round first fills the image with sim-bench's stamped data (its reads check it),
# then runs the read workloads, then the write workloads; the backends' order rotates
# from round to round (run 4 rounds for each to go first once).
# Workloads: 4K random read/write at QD1 and QD32, 1M sequential read/write at QD8.
# Use a release build (meson setup build-rel -Dbuildtype=release): the default test build
# has ASan.  Prints a Markdown table of IOPS and the ratios the docs quote.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build-rel ROUNDS=3 SECS=5 OUT=
while getopts "b:r:t:o:" c; do
	case $c in
	b) B=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	t) SECS=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) sed -n '2,16p' "$0"; exit 2 ;;
	esac
done
SIMB=$B/bench/sim-bench
[ -x "$SIMB" ] || { echo "no $SIMB: build it first" >&2; exit 1; }
W=$(mktemp -d /var/tmp/qt-rbd-bench.XXXXXX)
trap '"$ROOT/tests/ceph/ceph-one-node.sh" stop "$W/ceph"; rm -rf "$W"' EXIT
"$ROOT/tests/ceph/ceph-one-node.sh" start "$W/ceph" >/dev/null
export CEPH_CONF=$W/ceph/ceph.conf
rbd create --size 1G rbd/bench
# the peers' librbd without its cache (ours: rbd_cache=false is the driver's default)
FIO_CONF=$W/fio.conf
cp "$CEPH_CONF" "$FIO_CONF"
printf '[client]\nrbd cache = false\n' >>"$FIO_CONF"

# key bs qd pattern(rand|seq) rw(read|write): reads first (each round fills the image)
WORKLOADS="rr4k-qd1 4k 1 rand read
rr4k-qd32 4k 32 rand read
sr1m-qd8 1M 8 seq read
rw4k-qd1 4k 1 rand write
rw4k-qd32 4k 32 rand write
sw1m-qd8 1M 8 seq write"

sim() { # CFG BS QD PAT RW
	local a=(-T "$SECS" -W 1 -d "$3" -s "$2")
	[ "$4" = rand ] && a+=(-r)
	[ "$5" = write ] && a+=(-w)
	"$SIMB" "${a[@]}" "$1" </dev/null | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["iops"]))'
}
fio_rbd() { # BS QD PAT RW
	local rw=$4
	[ "$3" = rand ] && rw=rand$4
	CEPH_CONF=$FIO_CONF fio --name=b --ioengine=rbd --clientname=admin --pool=rbd --rbdname=bench --rw="$rw" \
		--bs="$1" --iodepth="$2" --runtime="$SECS" --ramp_time=1 --time_based \
		--output-format=json 2>/dev/null </dev/null |
		python3 -c "import json,sys; j=json.load(sys.stdin)['jobs'][0]; print(round(j['$4']['iops']))"
}
rbd_bench() { # BS QD PAT RW
	local total=$((SECS * 20))M
	[ "$1" = 1M ] && total=$((SECS * 400))M
	[ "$2" = 1 ] && total=$((SECS * 12))M
	rbd --rbd_cache=false bench --io-type "$4" --io-size "${1^^}" --io-threads "$2" --io-total "$total" \
		--io-pattern "$3" rbd/bench 2>/dev/null </dev/null | awk '/^elapsed:/ { print int($6) }'
}

BACKENDS=(native helper fio rbd)
order() { # ROUND: the backends, starting with the (ROUND-1)th
	local i n=${#BACKENDS[@]}
	for ((i = 0; i < n; i++)); do echo "${BACKENDS[(i + $1 - 1) % n]}"; done
}
declare -A R
for round in $(seq "$ROUNDS"); do
	"$SIMB" -F -c 1 -d 8 -s 1M rbd:rbd/bench </dev/null >/dev/null
	while read -r key bs qd pat rw; do
		# the order rotates each round: whoever runs first after a workload of another
		# kind pays for the OSD catching up (1M writes right after 4K random writes: about a
		# third of the IOPS the next run gets)
		for b in $(order "$round"); do
			case $b in
			native) v=$(sim rbd:rbd/bench "$bs" "$qd" "$pat" "$rw") ;;
			helper) v=$(sim "@file=rbd:rbd/bench@helper=qemu" "$bs" "$qd" "$pat" "$rw") ;;
			fio) v=$(fio_rbd "$bs" "$qd" "$pat" "$rw") ;;
			rbd) v=$(rbd_bench "$bs" "$qd" "$pat" "$rw") ;;
			esac
			R[$key,$b]+="$v "
		done
		echo "round $round $key: native ${R[$key,native]}| helper ${R[$key,helper]}| fio ${R[$key,fio]}| rbd ${R[$key,rbd]}" >&2
	done <<<"$WORKLOADS"
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
{
	echo "| workload | native | helper | fio-rbd | rbd bench | native/fio | native/helper |"
	echo "|---|---|---|---|---|---|---|"
	while read -r key bs qd pat rw; do
		n=$(echo "${R[$key,native]}" | median) h=$(echo "${R[$key,helper]}" | median)
		f=$(echo "${R[$key,fio]}" | median) r=$(echo "${R[$key,rbd]}" | median)
		printf "| %s | %s | %s | %s | %s | %.2f | %.2f |\n" "$key" "$n" "$h" "$f" "$r" \
			"$(echo "$n / $f" | bc -l)" "$(echo "$n / $h" | bc -l)"
	done <<<"$WORKLOADS"
	echo
	echo "IOPS, medians of $ROUNDS interleaved rounds of ${SECS} s; $(nproc) CPUs, $(uname -r), ceph $(ceph --version | awk '{print $3}') (one memstore OSD)"
} | tee ${OUT:+"$OUT"}
