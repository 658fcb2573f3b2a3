#!/usr/bin/env bash
# fio on our replicated device against a plain loop device, on this host, in one run:
#
#   loop        plain loop device (--direct-io=on) over node A's backing file
#   standalone  our device on node A, StandAlone (no peer): drbd-ublkd's I/O path alone
#   protocol-C  our device on node A, connected with protocol C to node B (a second
#               drbd-ublkd in its own network namespace, over a veth pair)
#
# Jobs (benches/fio/*.fio, direct=1, io_uring): 4 KiB random read and write at QD 1 and 32,
# 1 MiB sequential write (QD 4). Every job runs on every target; fio covers the same first
# FIO_SIZE bytes of the same backing file on each (the plain loop runs first, before the
# DRBD metadata is written, so all three targets hit the same blocks of the same file).
#
# Usage (root):  benches/device.sh [--runs N] [--runtime S] [--out FILE.csv]
#   --runs N      repeat the whole measurement N times (fresh setup each time; default 1)
#   --runtime S   seconds per fio job (default 10; plus 1 s ramp)
#   --out FILE    CSV written here (default benches/results/device-host.csv)
# Environment:
#   BENCH_DIR       where the backing files live (default /var/tmp: the real disk, not tmpfs)
#   BACKING_SIZE    size of each backing file (default 256M)
#   FIO_SIZE        span fio works on, below the usable size (default 240M)
#   DRBD_UBLK_FRONTEND  passed through to drbd-ublkd (front-end selection, when it has one)
#   NO_BUILD=1      use target/release as it is
#
# Names used: namespaces fb-a / fb-b, veth fb-va / fb-vb, 10.213.210.1 / .2, port 7810.
# Everything is removed at the end, also on failure and on Ctrl-C.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
runs=1 runtime=10 out="$here/results/device-host.csv"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift ;;
    --runtime) runtime=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "device.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
backing_size=${BACKING_SIZE:-256M}
fio_size=${FIO_SIZE:-240M}
jobs=(randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1 randwrite-4k-qd32 seqwrite-1M-qd4)
targets=(loop standalone protocol-C)
NS_A=fb-a NS_B=fb-b IP_A=10.213.210.1 IP_B=10.213.210.2 PORT=7810

[ "$(id -u)" = 0 ] || { echo "device.sh: needs root" >&2; exit 1; }
if ! command -v fio >/dev/null; then
  echo "device.sh: installing fio" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q fio >&2
fi
command -v python3 >/dev/null || { echo "device.sh: needs python3" >&2; exit 1; }

if [ "${NO_BUILD:-0}" != 1 ]; then
  echo "device.sh: building drbd-ublkd and drbdadm (release)..." >&2
  (cd "$repo" && CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} \
    cargo build -q --release -p tools --bin drbd-ublkd --bin drbdadm)
fi
BIN="$repo/target/release"
commit=$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD -- drbd-ublk tools 2>/dev/null || commit="$commit+dirty"
subject=$(git -C "$repo" log -1 --format=%s 2>/dev/null || echo "")
bin_date=$(date -u -r "$BIN/drbd-ublkd" +%FT%TZ)

work=""
plain_dev=""
made_ns=0
daemons=()
ENV=()
node_env() { # node -> env assignments of that node
  echo "DRBD_UBLK_RUN_DIR=$work/run-$1" "DRBD_UBLK_DEV_ROOT=$work/dev-$1" "DRBD_UBLK_HOSTNAME=$1"
}
on() { local n=$1; shift; env $(node_env "$n") "$@"; }

teardown() {
  set +e
  [ -n "$plain_dev" ] && losetup -d "$plain_dev" 2>/dev/null
  plain_dev=""
  if [ -n "$work" ]; then
    for n in a b; do
      if [ -S "$work/run-$n/ctl.sock" ]; then
        on "$n" timeout 20 "$BIN/drbdadm" -c "$work/drbd.conf" down --force r0 >/dev/null 2>&1
        on "$n" timeout 10 "$BIN/drbd-ublkd" --shutdown >/dev/null 2>&1
      fi
    done
  fi
  for p in "${daemons[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  daemons=()
  if [ "$made_ns" = 1 ]; then
    ip netns del "$NS_A" 2>/dev/null
    ip netns del "$NS_B" 2>/dev/null
  fi
  made_ns=0
  [ -n "$work" ] && rm -rf "$work"
  work=""
}
trap 'teardown' EXIT
trap 'echo "device.sh: interrupted" >&2; exit 130' INT TERM

wait_for() { # tries cmd... : retries every 0.2 s
  local tries=$1; shift
  for _ in $(seq "$tries"); do "$@" && return 0; sleep 0.2; done
  return 1
}
is() { [ "$(on "$1" "$BIN/drbdadm" -c "$work/drbd.conf" "$2" r0 2>/dev/null)" = "$3" ]; }

fio_job() { # job dev -> "iops mib_s lat_mean_us lat_p99_us"
  if ! DEV=$2 RUNTIME=$runtime SIZE=$fio_size fio --output-format=json \
      --output="$work/fio.json" "$here/fio/$1.fio" 2>"$work/fio.err"; then
    echo "device.sh: fio $1 on $2 failed:" >&2
    cat "$work/fio.err" >&2
    return 1
  fi
  python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
s = j["read"] if j["read"]["io_bytes"] > 0 else j["write"]
p99 = s["clat_ns"].get("percentile", {}).get("99.000000", 0)
print("%.0f %.2f %.1f %.1f" % (s["iops"], s["bw_bytes"] / 1048576, s["lat_ns"]["mean"] / 1000, p99 / 1000))' <"$work/fio.json"
}

results=()   # "run target job iops mib lat p99"
measure() { # run target dev
  local job r
  for job in "${jobs[@]}"; do
    # Drop the backing files' page cache first, so every target starts cold.
    for f in "$work"/*.img; do dd if="$f" iflag=nocache count=0 status=none; done
    r=$(fio_job "$job" "$3") || return 1
    echo "  run $1  $2  $job: $r (IOPS MiB/s mean-us p99-us)" >&2
    results+=("$1 $2 $job $r")
  done
}

# A block device some file system is mounted on (also a stale mount left by a crashed test of
# something else, whose loop device looks free to `losetup -f`) refuses writes with EPERM.
mounted() { # /dev/X -> true when a mount uses its major:minor
  local mm
  mm=$(printf '%d:%d' "0x$(stat -L -c %t "$1")" "0x$(stat -L -c %T "$1")")
  awk -v mm="$mm" '$3 == mm { found = 1 } END { exit !found }' /proc/self/mountinfo
}
attach_loop() { # file -> a free loop device, never one a file system is still mounted on
  local i d
  for i in $(seq 0 255); do
    d=/dev/loop$i
    [ -e "/sys/block/loop$i/loop/backing_file" ] && continue
    [ -b "$d" ] && mounted "$d" && continue
    [ -b "$d" ] || mknod "$d" b 7 "$i" 2>/dev/null || true
    if losetup --direct-io=on "$d" "$1" 2>/dev/null; then
      # The block layer's read-only flag (BLKROSET) outlives a loop device's previous user:
      # a loop device last used by a Secondary drbd-ublkd can come back read-only.
      blockdev --setrw "$d"
      echo "$d"
      return 0
    fi
  done
  echo "device.sh: no free loop device" >&2
  return 1
}

device_of() { # node -> our device's path (the /dev/drbd/by-res link)
  local d=$work/dev-$1/by-res/r0
  [ -e "$d/0" ] && d=$d/0
  echo "$d"
}

one_run() { # run number
  local run=$1
  work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/fb-device-XXXXXX")
  local mb
  mb=$(numfmt --from=iec "$backing_size" | awk '{print int($1/1048576)}')
  for f in a b; do
    # Written out, not sparse: reads hit the disk on every target.
    dd if=/dev/zero of="$work/$f.img" bs=1M count="$mb" oflag=direct status=none
  done
  echo "device.sh: run $run: backing files in $work ($(df --output=source,fstype "$work" | tail -1))" >&2

  plain_dev=$(attach_loop "$work/a.img")
  echo "device.sh: run $run: plain loop $plain_dev" >&2
  measure "$run" loop "$plain_dev"
  losetup -d "$plain_dev"; plain_dev=""

  for ns in "$NS_A" "$NS_B"; do
    if ip netns list | grep -qw "$ns"; then
      echo "device.sh: namespace $ns exists (another device.sh running, or left over: ip netns del $ns)" >&2
      return 1
    fi
  done
  made_ns=1
  ip netns add "$NS_A"; ip netns add "$NS_B"
  ip link add fb-va type veth peer name fb-vb
  ip link set fb-va netns "$NS_A"; ip link set fb-vb netns "$NS_B"
  ip -n "$NS_A" addr add "$IP_A/24" dev fb-va; ip -n "$NS_B" addr add "$IP_B/24" dev fb-vb
  for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
  ip -n "$NS_A" link set fb-va up; ip -n "$NS_B" link set fb-vb up
  cat >"$work/drbd.conf" <<EOF
global { usage-count no; }
common { protocol C; }
resource r0 {
  on a {
    device    /dev/drbd1;
    disk      $work/a.img;
    address   $IP_A:$PORT;
    meta-disk internal;
  }
  on b {
    device    /dev/drbd1;
    disk      $work/b.img;
    address   $IP_B:$PORT;
    meta-disk internal;
  }
}
EOF
  local n
  for n in a b; do
    on "$n" "$BIN/drbdadm" -c "$work/drbd.conf" create-md --force r0 >/dev/null
    ns=$NS_A; [ "$n" = b ] && ns=$NS_B
    on "$n" ip netns exec "$ns" "$BIN/drbd-ublkd" --config "$work/drbd.conf" --hostname "$n" \
      --foreground >"$work/daemon-$n.log" 2>&1 &
    daemons+=($!)
  done
  for n in a b; do
    wait_for 100 test -S "$work/run-$n/ctl.sock" || { echo "device.sh: daemon $n did not start" >&2; cat "$work/daemon-$n.log" >&2; return 1; }
  done

  # Standalone: node A alone, forced Primary, then disconnected.
  on a "$BIN/drbdadm" -c "$work/drbd.conf" up r0
  on a "$BIN/drbdadm" -c "$work/drbd.conf" primary --force r0
  on a "$BIN/drbdadm" -c "$work/drbd.conf" disconnect r0
  wait_for 50 is a cstate StandAlone || { echo "device.sh: node a is not StandAlone" >&2; return 1; }
  local dev
  dev=$(device_of a)
  if mounted "$(readlink -f "$dev")"; then
    echo "device.sh: our device $(readlink -f "$dev") is a loop device a stale mount still holds (writes would fail with EPERM); free it first" >&2
    return 1
  fi
  echo "device.sh: run $run: our device $dev -> $(readlink -f "$dev"), $(on a "$BIN/drbdadm" -c "$work/drbd.conf" cstate r0)" >&2
  measure "$run" standalone "$dev"

  # Protocol C: node B up, A connects, full resync, then measure.
  on b "$BIN/drbdadm" -c "$work/drbd.conf" up r0
  on a "$BIN/drbdadm" -c "$work/drbd.conf" connect r0
  local t0=$SECONDS
  wait_for 3000 is a dstate UpToDate/UpToDate ||
    { echo "device.sh: resync did not finish: $(on a "$BIN/drbdadm" -c "$work/drbd.conf" status r0)" >&2; return 1; }
  echo "device.sh: run $run: connected, resync took $((SECONDS - t0)) s; $(on a "$BIN/drbdadm" -c "$work/drbd.conf" cstate r0)" >&2
  measure "$run" protocol-C "$dev"
  teardown
}

for run in $(seq "$runs"); do one_run "$run"; done

# CSV: comment lines first (what was measured), then one row per run x target x job.
mkdir -p "$(dirname "$out")"
{
  echo "# benches/device.sh on $(uname -n), kernel $(uname -r), $(nproc) CPUs, $(date -u +%FT%TZ)"
  echo "# build: release, commit $commit ($subject), drbd-ublkd built $bin_date"
  echo "# backing: ${BENCH_DIR:-/var/tmp} ($(df --output=fstype "${BENCH_DIR:-/var/tmp}" | tail -1)), file $backing_size, fio span $fio_size, ${runtime}s per job, direct=1 io_uring"
  echo "# frontend: ${DRBD_UBLK_FRONTEND:-default (loop over FUSE)}"
  echo "run,target,job,iops,mib_s,lat_mean_us,lat_p99_us"
  for r in "${results[@]}"; do echo "${r// /,}"; done
} >"$out"
echo "device.sh: wrote $out" >&2
python3 "$here/plot.py" table "$out"
python3 "$here/plot.py" svg "$out" "${out%.csv}.svg" "fio on this host: our device vs a plain loop device"
echo "device.sh: wrote ${out%.csv}.svg" >&2
