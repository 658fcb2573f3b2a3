#!/usr/bin/env bash
# The ublk front-end, tested inside a VM whose kernel has ublk_drv (this host's kernel has not).
#
#   scripts/vm-test.sh            build, then boot the VM (../shared/vm/run-in-vm.sh) and run
#                                 the guest part below in it; exit code = the guest's
#   scripts/vm-test.sh --guest    the guest part (run as root inside the VM)
#
# Guest part: first the crate's own ublk device tests (ublk::device_tests), then on the ublk
# front-end (DRBD_UBLK_FRONTEND=ublk): two nodes as network namespaces
# (vmt-alice 10.213.210.1, vmt-bob 10.213.210.2), one drbd-ublkd each, 64 MiB volumes,
# the walkthrough's configuration:
#   19-21  configuration, create-md, up, Connected
#   22     primary --force on alice; mkfs.ext4 and files written while the initial sync runs
#   23     status
#   24     role switch: files identical on bob, fsck -f clean
#   R      user recovery: ext4 mounted on bob's /dev/ublkbN, files written + fsync, kill -9
#          of bob's daemon, a new daemon re-attaches the same device (START_USER_RECOVERY),
#          the files are there, new writes work, umount, fsck -f clean
#   25     Secondary fails and returns: alice's daemon killed, bob writes, alice resyncs
#   26     Primary fails: bob's daemon killed, alice promoted by hand, files identical
#   27     split brain: both Primary while disconnected, detected, `connect --discard-my-data`
# A failure prints "VM TEST FAILED at step: <step>" and the daemons' logs.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_IN_VM=../shared/vm/run-in-vm.sh

if [ "${1:-}" != --guest ]; then
  [ -x "$RUN_IN_VM" ] || { echo "vm-test: $RUN_IN_VM not found: skipped"; exit 0; }
  export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
  cargo build -q -p tools --bin drbd-ublkd --bin drbdadm
  # The crate's unit tests on a real ublk device (they skip on this host).
  VMT_UNIT=$(cargo test -p drbd-ublk --lib --no-run 2>&1 | grep -o 'target/debug/deps/drbd_ublk-[0-9a-f]*' | tail -1)
  export VMT_UNIT RVM_ENV="${RVM_ENV:-} VMT_UNIT"
  t0=$(date +%s)
  set +e
  "$RUN_IN_VM" --timeout "${VM_TEST_TIMEOUT:-600}" -- bash scripts/vm-test.sh --guest
  rc=$?
  set -e
  echo "vm-test: exit $rc after $(( $(date +%s) - t0 )) s (boot included)"
  exit $rc
fi

# ------------------------------------------------------------------------- guest part
BIN="$PWD/target/debug"
NS_A=vmt-alice NS_B=vmt-bob
WORK=$(mktemp -d /tmp/vmt.XXXXXX)
CONF="$WORK/etc/drbd.conf"
export DRBD_UBLK_FRONTEND=ublk
declare -A PID
STEP=setup
T0=$(date +%s)

envof() { echo "DRBD_UBLK_RUN_DIR=$WORK/run-$1 DRBD_UBLK_DEV_ROOT=$WORK/dev-$1 DRBD_UBLK_HOSTNAME=$1"; }
on() { local n=$1; shift; env $(envof "$n") "$@"; }
adm() { local n=$1; shift; on "$n" timeout 60 "$BIN/drbdadm" -c "$CONF" "$@"; }
step() {
  STEP="$*"; echo "$STEP" >"$WORK/step"
  printf '\n== [%3ss] %s\n' "$(( $(date +%s) - T0 ))" "$STEP"
}
diagnose() {
  for n in alice bob; do echo "--- $n daemon log (tail)"; tail -25 "$WORK/$n.log" 2>/dev/null; done
  dmesg | grep -iE 'ublk|ext4|I/O error|blocked' | tail -15
  echo "--- processes"; ps -eo pid,stat,wchan:32,args | grep -E 'drbd|mount|fsck|sync|ublk' | grep -v grep
  for p in $(pgrep -f drbd-ublkd); do for t in /proc/$p/task/*; do
    grep -q "^State:.*D" $t/status 2>/dev/null && { echo "D: $t $(cat $t/comm)"; cat $t/stack 2>/dev/null; }
  done; done
}
die() { echo "check failed: $*" >&2; return 1; }
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
  local t=$1; shift
  for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@" || die "timed out after ${t}s: $*"
}
is() { [ "$(adm "$1" "$2" r0 2>/dev/null)" = "$3" ]; }
start_daemon() {
  local n=$1 ns=$NS_A
  [ "$n" = bob ] && ns=$NS_B
  # nsenter --net, not `ip netns exec`: the daemon must stay in the mount namespace of the
  # file systems on its devices (a private copy of a mount would keep ext4 alive after
  # umount, and a killed daemon would then flush it to its own dead device on exit).
  env $(envof "$n") nsenter --net="/run/netns/$ns" "$BIN/drbd-ublkd" --config "$CONF" --hostname "$n" \
    >>"$WORK/$n.log" 2>&1 &
  PID[$n]=$!
  disown "${PID[$n]}"  # killed on purpose below: no job-control notice
  wait_for 10 test -S "$WORK/run-$n/ctl.sock"
}
kill9() { kill -9 "${PID[$1]}"; wait_for 20 gone "${PID[$1]}"; rm -f "$WORK/run-$1/ctl.sock"; }
gone() { ! kill -0 "$1" 2>/dev/null || grep -q "^State:.*Z" "/proc/$1/status"; }
promote() { # promote NODE [--force]: retried while a transient state refuses it
  for _ in $(seq 50); do adm "$@" primary r0 2>/dev/null && return 0; sleep 0.2; done
  adm "$@" primary r0
}
sums() { (cd "$WORK/mnt" && find . -type f ! -path './lost+found/*' -print0 | sort -z | xargs -0 sha256sum); }

cleanup() {
  local rc=$?
  set +e
  if [ $rc -ne 0 ]; then
    echo
    echo "VM TEST FAILED at step: $STEP"
    diagnose
  fi
  mountpoint -q "$WORK/mnt" && umount -l "$WORK/mnt"
  for n in alice bob; do
    [ -S "$WORK/run-$n/ctl.sock" ] && on "$n" timeout 20 "$BIN/drbd-ublkd" --shutdown >/dev/null 2>&1
  done
  for p in "${PID[@]}"; do kill "$p" 2>/dev/null; done
  kill "$WATCHDOG" 2>/dev/null
  ip netns del "$NS_A" 2>/dev/null; ip netns del "$NS_B" 2>/dev/null
  rm -rf "$WORK"
  [ $rc -eq 0 ] && echo "VM TEST PASSED in $(( $(date +%s) - T0 )) s"
  exit $rc
}
trap cleanup EXIT
# A step stuck in the kernel cannot be interrupted: report where it hangs before the VM dies.
( sleep "${VM_TEST_STUCK:-240}"; echo; echo "VM TEST STUCK at step: $(cat "$WORK/step")"; diagnose ) &
WATCHDOG=$!

step "guest: kernel $(uname -r), ublk control $(ls /dev/ublk-control)"
ip netns add "$NS_A"; ip netns add "$NS_B"
ip link add vmt-va type veth peer name vmt-vb
ip link set vmt-va netns "$NS_A"; ip link set vmt-vb netns "$NS_B"
ip -n "$NS_A" addr add 10.213.210.1/24 dev vmt-va
ip -n "$NS_B" addr add 10.213.210.2/24 dev vmt-vb
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set vmt-va up; ip -n "$NS_B" link set vmt-vb up

step "U: UblkDevice over a plain file: concurrent direct I/O, read-only refusal, stop"
[ -n "${VMT_UNIT:-}" ] || die "no unit-test binary given"
"./$VMT_UNIT" --test-threads 1 ublk::device_tests 2>&1 | grep -E '^test |test result' || die "unit tests"

step "19: the walkthrough's configuration files (64 MiB volumes)"
mkdir -p "$WORK/etc/drbd.d" "$WORK/mnt"
truncate -s 64M "$WORK/alice.img" "$WORK/bob.img"
cat >"$CONF" <<EOF
include "drbd.d/global_common.conf";
include "drbd.d/*.res";
EOF
cat >"$WORK/etc/drbd.d/global_common.conf" <<EOF
global { usage-count no; }
common {
  protocol C;
  net { after-sb-0pri discard-zero-changes; after-sb-1pri discard-secondary; after-sb-2pri disconnect; }
}
EOF
cat >"$WORK/etc/drbd.d/r0.res" <<EOF
resource r0 {
  on alice { device /dev/drbd1; disk $WORK/alice.img; address 10.213.210.1:7789; meta-disk internal; }
  on bob   { device /dev/drbd1; disk $WORK/bob.img;   address 10.213.210.2:7789; meta-disk internal; }
}
EOF
DEV_A="$WORK/dev-alice/by-res/r0" DEV_B="$WORK/dev-bob/by-res/r0"

step "20: create-md on both nodes"
adm alice create-md r0 >/dev/null
adm bob create-md r0 >/dev/null

step "21: daemons, up on both, Connected"
start_daemon alice; start_daemon bob
adm alice up r0; adm bob up r0
wait_for 30 is alice cstate Connected
case "$(readlink -f "$DEV_A")" in /dev/ublkb*) ;; *) die "$DEV_A -> $(readlink -f "$DEV_A"), not a ublk device" ;; esac
echo "alice: $DEV_A -> $(readlink -f "$DEV_A"); bob: $DEV_B -> $(readlink -f "$DEV_B")"

step "21b: a Secondary refuses writes"
if dd if=/dev/zero of="$DEV_B" bs=4k count=1 oflag=direct 2>"$WORK/dd.err"; then
  die "write to bob's Secondary device succeeded"
fi
echo "write to the Secondary refused: $(head -1 "$WORK/dd.err")"

step "22: primary --force on alice; mkfs.ext4 and files during the initial sync"
adm alice primary --force r0
adm alice dstate r0
mkfs.ext4 -q -F "$DEV_A"
timeout 60 mount "$DEV_A" "$WORK/mnt"
cp -r /usr/share/doc/e2fsprogs /usr/share/doc/util-linux "$WORK/mnt/"
sync
sums >"$WORK/sums"
echo "$(wc -l <"$WORK/sums") files written on alice"
timeout 60 umount "$WORK/mnt"
wait_for 120 is bob dstate UpToDate/UpToDate

step "23: status"
cat "$WORK/run-alice/proc-drbd"
adm alice status r0

step "24: role switch; files identical on bob; fsck -f clean"
adm alice secondary r0
promote bob
timeout 60 fsck.ext4 -f -n "$DEV_B" >/dev/null
timeout 60 mount "$DEV_B" "$WORK/mnt"
(cd "$WORK/mnt" && sha256sum --quiet -c "$WORK/sums") || die "files differ on bob"
echo "every file identical on bob"

step "R1: user recovery: files written + fsync on bob's mounted device, kill -9 of bob's daemon"
UDEV=$(readlink -f "$DEV_B")
for i in 1 2 3; do head -c 300000 /dev/urandom >"$WORK/mnt/before-$i"; done
sync -f "$WORK/mnt"
(cd "$WORK/mnt" && sha256sum before-*) >"$WORK/sums-before"
kill9 bob
mountpoint -q "$WORK/mnt" || die "ext4 unmounted when the daemon died"
# A write issued now waits in the kernel for the next daemon.
(echo "written while no daemon ran" >"$WORK/mnt/during" && sync -f "$WORK/mnt") &
WRITER=$!
sleep 2
kill -0 $WRITER 2>/dev/null || die "a write completed while no daemon served the device"

step "R2: user recovery: new daemon, up, primary: the same device is re-attached"
start_daemon bob
adm bob up r0
promote bob
[ "$(readlink -f "$DEV_B")" = "$UDEV" ] || die "new device $(readlink -f "$DEV_B"), expected $UDEV"
grep -q "re-attached (user recovery)" "$WORK/bob.log" || die "no recovery in bob's log"
wait $WRITER || die "the waiting write failed"
(cd "$WORK/mnt" && sha256sum --quiet -c "$WORK/sums-before") || die "fsynced files lost"
(cd "$WORK/mnt" && sha256sum --quiet -c "$WORK/sums") || die "older files lost"
grep -q "written while no daemon ran" "$WORK/mnt/during" || die "the waiting write is lost"
head -c 500000 /dev/urandom >"$WORK/mnt/after"
sync -f "$WORK/mnt"
timeout 60 umount "$WORK/mnt"
timeout 60 fsck.ext4 -f -n "$DEV_B" >/dev/null || die "fsck after recovery"
echo "same device $UDEV, files intact, new writes work, fsck -f clean"
timeout 60 mount "$DEV_B" "$WORK/mnt"; sums >"$WORK/sums"; timeout 60 umount "$WORK/mnt"
wait_for 60 is bob dstate UpToDate/UpToDate

step "25: the Secondary fails and returns: alice's daemon killed, bob writes, alice resyncs"
kill9 alice
wait_for 30 is bob cstate WFConnection
timeout 60 mount "$DEV_B" "$WORK/mnt"
head -c 1000000 /dev/urandom >"$WORK/mnt/while-alice-away"
sums >"$WORK/sums"; timeout 60 umount "$WORK/mnt"
start_daemon alice
adm alice up r0
wait_for 60 is alice dstate UpToDate/UpToDate
adm alice status r0

step "26: the Primary fails: bob's daemon killed, alice promoted by hand, files identical"
kill9 bob
wait_for 30 is alice cstate WFConnection
promote alice
timeout 60 fsck.ext4 -f -n "$DEV_A" >/dev/null
timeout 60 mount "$DEV_A" "$WORK/mnt"
(cd "$WORK/mnt" && sha256sum --quiet -c "$WORK/sums") || die "files differ on alice"
timeout 60 umount "$WORK/mnt"
echo "every file identical on alice, fsck -f clean"
start_daemon bob
adm bob up r0
wait_for 60 is bob dstate UpToDate/UpToDate
adm bob status r0

step "27: split brain: both Primary while disconnected, detected, resolved by hand"
adm alice disconnect r0; adm bob disconnect r0
promote bob
for n in alice bob; do
  timeout 60 mount "$WORK/dev-$n/by-res/r0" "$WORK/mnt"
  echo "$n" >"$WORK/mnt/who.txt"
  timeout 60 umount "$WORK/mnt"
done
adm alice connect r0; adm bob connect r0
wait_for 30 grep -q "Split-Brain detected, dropping connection!" "$WORK/alice.log" "$WORK/bob.log"
wait_for 20 sh -c "[ \"\$(env $(envof alice) $BIN/drbdadm -c $CONF cstate r0)\" = StandAlone ] || [ \"\$(env $(envof bob) $BIN/drbdadm -c $CONF cstate r0)\" = StandAlone ]"
is bob cstate StandAlone || adm bob disconnect r0
adm bob secondary r0
adm bob connect --discard-my-data r0
is alice cstate StandAlone && adm alice connect r0
wait_for 60 is bob dstate UpToDate/UpToDate
adm alice secondary r0
promote bob
timeout 60 fsck.ext4 -f -n "$DEV_B" >/dev/null
timeout 60 mount "$DEV_B" "$WORK/mnt"
[ "$(cat "$WORK/mnt/who.txt")" = alice ] || die "bob kept its own change: $(cat "$WORK/mnt/who.txt")"
timeout 60 umount "$WORK/mnt"
echo "split brain detected; bob discarded its change and holds alice's data, fsck -f clean"

step "down: a device left by a killed Secondary's daemon waits for promotion; down deletes it"
UDEV=$(readlink -f "$DEV_A")
kill9 alice
start_daemon alice
adm alice up r0
grep -q "found $UDEV left by a previous daemon: re-attaching it (when promoted)" "$WORK/alice.log" \
  || die "alice's new daemon did not find $UDEV"
adm alice down r0
wait_for 10 test ! -e "$UDEV"
adm bob down r0
[ -z "$(ls /sys/class/ublk-char/ 2>/dev/null)" ] || die "ublk devices left: $(ls /sys/class/ublk-char/)"
STEP=done
