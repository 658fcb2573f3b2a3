#!/usr/bin/env bash
# fio inside a throw-away VM (/work/shared/vm/run-in-vm.sh: Debian 6.12 kernel with ublk_drv and
# the in-tree DRBD 8.4 module, qemu), three targets side by side in the same guest boot:
#
#   loop         plain loop device over a file
#   kernel-drbd  the kernel's DRBD 8.4 (driven by Debian's drbd-utils), protocol C, two
#                resources in the one guest connected over 127.0.0.1, on loop devices
#   ours-ublk    our drbd-ublkd, protocol C, two daemons over 127.0.0.1, when the daemon serves
#                the device through ublk (DRBD_UBLK_FRONTEND=ublk and /dev/ublkbN appears);
#   ours-fuse    otherwise our loop-over-FUSE front-end inside the guest (labelled so)
#
# All backing files live in one tmpfs inside the guest (guest RAM), so every target has the
# same storage under it. Jobs: benches/fio/*.fio (4 KiB random read/write QD 1 and 32, 1 MiB
# sequential write QD 4), direct=1, io_uring.
#
# Under TCG (no usable KVM here) every instruction is emulated: absolute numbers mean nothing,
# only the ratios between targets of the same boot do.
#
# Usage (root, on the host):  benches/vm-fio.sh [--runs N] [--runtime S] [--out FILE.csv]
#   --runs N      N separate VM boots (default 1)      --runtime S  seconds per job (default 10)
#   --out FILE    CSV (default benches/results/device-vm.csv)
# Environment: VM_TARGETS (default "kernel-drbd ours"; the plain loop always runs),
#   BACKING_MB (160), FIO_SIZE (128M), DRBD_UBLK_FRONTEND (passed to the guest's drbd-ublkd),
#   VM_OPTS (extra options for run-in-vm.sh, e.g. "--kvm"), NO_BUILD=1 (use target/release as
#   it is).
# The guest side of this script is `vm-fio.sh --guest XDIR RUNTIME RUN` (run by the VM).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
jobs=(randread-4k-qd1 randread-4k-qd32 randwrite-4k-qd1 randwrite-4k-qd32 seqwrite-1M-qd4)
RUN_IN_VM=${RUN_IN_VM:-/work/shared/vm/run-in-vm.sh}
BACKING_MB=${BACKING_MB:-160}   # each backing file (guest RAM); fio works on the first FIO_SIZE
FIO_SIZE=${FIO_SIZE:-128M}
VM_TARGETS=${VM_TARGETS:-kernel-drbd ours}   # besides the plain loop

# ------------------------------------------------------------------------------ guest side
guest() {
  local xdir=$1 runtime=$2 run=$3
  set +e   # every step below checks its own outcome; one failed target must not stop the rest
  BIN="$repo/target/release"   # global: the EXIT trap uses it
  w=/run/fb-vm   # global: the EXIT trap uses it
  local csv="$xdir/run-$run.csv"
  : >"$csv"
  mkdir -p "$w"
  mount -t tmpfs -o size=$((BACKING_MB * 6 + 64))M fb-vm "$w"
  loops=()   # global: the EXIT trap uses it
  cleanup_guest() {
    set +e
    for n in oa ob; do
      [ -S "$w/run-$n/ctl.sock" ] || continue
      env DRBD_UBLK_RUN_DIR="$w/run-$n" DRBD_UBLK_DEV_ROOT="$w/dev-$n" DRBD_UBLK_HOSTNAME=$n \
        timeout 20 "$BIN/drbdadm" -c "$w/ours.conf" down --force r0 >/dev/null 2>&1
      env DRBD_UBLK_RUN_DIR="$w/run-$n" timeout 10 "$BIN/drbd-ublkd" --shutdown >/dev/null 2>&1
    done
    for r in fbka fbkb; do /lib/drbd/drbdsetup-84 down "$r" >/dev/null 2>&1; done
    for l in "${loops[@]}"; do losetup -d "$l"; done
    umount "$w"
  }
  trap cleanup_guest EXIT
  echo "guest: $(uname -r), $(nproc) vCPUs, $(grep MemTotal /proc/meminfo | awk '{print int($2/1024)}') MiB; $(head -1 /proc/drbd)"
  for f in plain kd-a kd-b ours-a ours-b; do
    dd if=/dev/zero of="$w/$f.img" bs=1M count="$BACKING_MB" status=none
  done

  measure() { # target dev
    local job r
    for job in "${jobs[@]}"; do
      r=$(DEV=$2 RUNTIME=$runtime SIZE=$FIO_SIZE fio --output-format=json "$here/fio/$job.fio" |
        python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
s = j["read"] if j["read"]["io_bytes"] > 0 else j["write"]
p99 = s["clat_ns"].get("percentile", {}).get("99.000000", 0)
print("%.0f,%.2f,%.1f,%.1f" % (s["iops"], s["bw_bytes"] / 1048576, s["lat_ns"]["mean"] / 1000, p99 / 1000))')
      echo "guest: run $run  $1  $job: $r (IOPS,MiB/s,mean-us,p99-us)"
      echo "$run,$1,$job,$r" >>"$csv"
    done
  }

  # 1. plain loop (always: it is the baseline)
  local dev
  dev=$(losetup -f --show "$w/plain.img"); loops+=("$dev"); blockdev --setrw "$dev"
  measure loop "$dev"

  # 2. kernel DRBD 8.4: two resources, one per "node", each configured by drbdadm in its own
  #    UTS namespace (drbdadm picks its `on HOST` section by the host name).
  local la lb
  la=$(losetup -f --show "$w/kd-a.img"); loops+=("$la")
  lb=$(losetup -f --show "$w/kd-b.img"); loops+=("$lb")
  blockdev --setrw "$la"; blockdev --setrw "$lb"
  for r in fbka fbkb; do
    cat >"$w/$r.conf" <<EOF
global { usage-count no; }
resource $r {
  protocol C;
  on fb-ka { device /dev/drbd10 minor 10; disk $la; address 127.0.0.1:7820; meta-disk internal; }
  on fb-kb { device /dev/drbd11 minor 11; disk $lb; address 127.0.0.1:7821; meta-disk internal; }
}
EOF
  done
  kd() { # node resource drbdadm-args...
    local h=$1 r=$2; shift 2
    unshare --uts sh -c 'hostname "$0"; exec "$@"' "$h" "$kadm" -c "$w/$r.conf" "$@"
  }
  # drbd-utils 9's drbdadm hands over to its 8.4 personality for the 8.4 module; call that one
  # directly (the wrapper does not see the resources of a -c file).
  local kadm=/lib/drbd/drbdadm-84 kd_ok=1
  [ -x "$kadm" ] || kadm=/usr/lib/drbd/drbdadm-84
  [ -x "$kadm" ] || kadm=drbdadm
  case " $VM_TARGETS " in *" kernel-drbd "*) ;; *) kd_ok=0 ;; esac
  [ "$kd_ok" = 1 ] && {
    kd fb-ka fbka -- --force create-md fbka </dev/null >/dev/null &&
      kd fb-kb fbkb -- --force create-md fbkb </dev/null >/dev/null &&
      kd fb-ka fbka up fbka && kd fb-kb fbkb up fbkb
  } || { [ "$kd_ok" = 1 ] && echo "guest: kernel DRBD: create-md / up failed"; kd_ok=0; }
  if [ "$kd_ok" = 1 ]; then
    for _ in $(seq 150); do grep -Eq '^ *10: cs:Connected' /proc/drbd && break; sleep 0.2; done
    # Both sides are fresh: skip the initial sync (8.4's documented way), then promote.
    kd fb-ka fbka -- --clear-bitmap new-current-uuid fbka || kd_ok=0
    kd fb-ka fbka primary fbka || kd_ok=0
    sleep 1
    cat /proc/drbd
    grep -E '^ *10: ' /proc/drbd | grep -q 'cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate' || kd_ok=0
  fi
  if [ "$kd_ok" = 1 ]; then
    measure kernel-drbd /dev/drbd10
  elif [[ " $VM_TARGETS " != *" kernel-drbd "* ]]; then
    echo "guest: kernel-drbd not in VM_TARGETS: skipped"
  else
    echo "guest: kernel DRBD did not come up Connected/UpToDate: skipped"
    cat /proc/drbd
  fi
  kd fb-ka fbka down fbka >/dev/null 2>&1 || true
  kd fb-kb fbkb down fbkb >/dev/null 2>&1 || true

  # 3. our daemon, two nodes over 127.0.0.1
  cat >"$w/ours.conf" <<EOF
global { usage-count no; }
common { protocol C; }
resource r0 {
  on oa { device /dev/drbd1; disk $w/ours-a.img; address 127.0.0.1:7830; meta-disk internal; }
  on ob { device /dev/drbd1; disk $w/ours-b.img; address 127.0.0.1:7831; meta-disk internal; }
}
EOF
  on() { local n=$1; shift; env DRBD_UBLK_RUN_DIR="$w/run-$n" DRBD_UBLK_DEV_ROOT="$w/dev-$n" DRBD_UBLK_HOSTNAME=$n "$@"; }
  adm() { local n=$1; shift; on "$n" "$BIN/drbdadm" -c "$w/ours.conf" "$@"; }
  local ours_ok=1 n
  case " $VM_TARGETS " in *" ours "*) ;; *) return 0 ;; esac
  for n in oa ob; do
    adm "$n" create-md --force r0 >/dev/null || ours_ok=0
    on "$n" "$BIN/drbd-ublkd" --config "$w/ours.conf" --hostname "$n" --foreground >"$xdir/daemon-$n-$run.log" 2>&1 &
  done
  for n in oa ob; do
    for _ in $(seq 100); do [ -S "$w/run-$n/ctl.sock" ] && break; sleep 0.2; done
    adm "$n" up r0 || ours_ok=0
  done
  if [ "$ours_ok" = 1 ]; then
    for _ in $(seq 150); do [ "$(adm oa cstate r0)" = Connected ] && break; sleep 0.2; done
    adm oa primary --force r0 || ours_ok=0
    for _ in $(seq 1500); do [ "$(adm oa dstate r0)" = UpToDate/UpToDate ] && break; sleep 0.2; done
    adm oa status r0
    [ "$(adm oa dstate r0)" = UpToDate/UpToDate ] || ours_ok=0
  fi
  if [ "$ours_ok" = 1 ]; then
    dev=$w/dev-oa/by-res/r0; [ -e "$dev/0" ] && dev=$dev/0
    local real label
    real=$(readlink -f "$dev")
    case "$real" in
      /dev/ublkb*) label=ours-ublk ;;
      *) label=ours-fuse
         [ "${DRBD_UBLK_FRONTEND:-}" = ublk ] &&
           echo "guest: DRBD_UBLK_FRONTEND=ublk asked, but the daemon serves $real: measuring it as ours-fuse" ;;
    esac
    echo "guest: our device $dev -> $real ($label)"
    measure "$label" "$dev"
  else
    echo "guest: our daemon did not come up Connected/UpToDate: skipped (logs in $xdir)"
  fi
}

if [ "${1:-}" = --guest ]; then
  guest "$2" "$3" "$4"
  exit 0
fi

# ------------------------------------------------------------------------------- host side
runs=1 runtime=10 out="$here/results/device-vm.csv"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift ;;
    --runtime) runtime=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "vm-fio.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "vm-fio.sh: needs root" >&2; exit 1; }
need=()
command -v fio >/dev/null || need+=(fio)
command -v drbdadm >/dev/null || need+=(drbd-utils)
if [ ${#need[@]} -gt 0 ]; then
  echo "vm-fio.sh: installing ${need[*]} (the guest runs the host's programs)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q "${need[@]}" >&2
fi
if [ "${NO_BUILD:-0}" != 1 ]; then
  echo "vm-fio.sh: building drbd-ublkd and drbdadm (release)..." >&2
  (cd "$repo" && CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} \
    cargo build -q --release -p tools --bin drbd-ublkd --bin drbdadm)
fi
commit=$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git -C "$repo" diff --quiet HEAD -- drbd-ublk tools 2>/dev/null || commit="$commit+dirty"
subject=$(git -C "$repo" log -1 --format=%s 2>/dev/null || echo "")

xdir=$(mktemp -d /var/tmp/fb-vm-XXXXXX)
trap 'rm -rf "$xdir"' EXIT
trap 'echo "vm-fio.sh: interrupted" >&2; exit 130' INT TERM
accel="" kernel=""
for run in $(seq "$runs"); do
  echo "vm-fio.sh: boot $run of $runs" >&2
  # A guest that never reports (exit 125: it died while booting; under TCG the guest kernel
  # has been seen to oops at boot now and then) is booted once more.
  for attempt in 1 2; do
    rc=0
    # shellcheck disable=SC2086
    RVM_ENV="DRBD_UBLK_FRONTEND BACKING_MB FIO_SIZE VM_TARGETS" DRBD_UBLK_FRONTEND=${DRBD_UBLK_FRONTEND:-} \
      BACKING_MB=$BACKING_MB FIO_SIZE=$FIO_SIZE VM_TARGETS=$VM_TARGETS \
      "$RUN_IN_VM" --drbd --mem 3072 --timeout $((600 + 20 * runtime * 3 * ${#jobs[@]})) \
      --rw "$xdir" ${VM_OPTS:-} -- "bash '$here/vm-fio.sh' --guest '$xdir' '$runtime' '$run'" \
      2> >(tee "$xdir/vm-$run.err" >&2) || rc=$?
    sleep 0.5
    [ "$rc" = 0 ] && break
    echo "vm-fio.sh: boot $run attempt $attempt failed (exit $rc)" >&2
    [ "$rc" = 125 ] && [ ! -s "$xdir/run-$run.csv" ] || break
  done
  a=$(grep -o 'accel=[a-z]*' "$xdir/vm-$run.err" | tail -1 || true)
  accel=${accel:-${a#accel=}}
  k=$(grep -o ' kernel=[^ ]*' "$xdir/vm-$run.err" | tail -1 || true)
  kernel=${kernel:-${k# kernel=}}
done
cat "$xdir"/run-*.csv >"$xdir/all.csv" 2>/dev/null || true
[ -s "$xdir/all.csv" ] || { echo "vm-fio.sh: no results came back" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
{
  echo "# benches/vm-fio.sh: guest kernel ${kernel:-?} under qemu accel=${accel:-?} on $(uname -n) ($(nproc) host CPUs), $(date -u +%FT%TZ)"
  echo "# build: release, commit $commit ($subject)"
  echo "# backing: tmpfs in guest RAM, files ${BACKING_MB}M, fio span $FIO_SIZE, ${runtime}s per job, direct=1 io_uring; ratios only (TCG: absolute numbers are meaningless)"
  echo "# frontend asked: ${DRBD_UBLK_FRONTEND:-default}"
  echo "run,target,job,iops,mib_s,lat_mean_us,lat_p99_us"
  cat "$xdir/all.csv"
} >"$out"
echo "vm-fio.sh: wrote $out" >&2
python3 "$here/plot.py" table "$out"
python3 "$here/plot.py" svg "$out" "${out%.csv}.svg" "fio in a qemu guest: plain loop, kernel DRBD 8.4, our device (ratios only)"
echo "vm-fio.sh: wrote ${out%.csv}.svg" >&2
