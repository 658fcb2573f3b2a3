#!/usr/bin/env bash
# The main job: the administrator's walkthrough, as far as the product carries it today.
#
#   Part 2: two nodes (network namespaces 10.213.200.1 and .2, a veth pair, no route out), one
#           drbd-ublkd each, configured with the walkthrough's own drbd.conf / global_common.conf
#           / r0.res; create-md, up, primary --force with the initial sync, ext4 on the Primary,
#           role switch, the files identical and fsck clean on the other node.
#   Parts 1 and 3: the walkthrough's crm commands against a CIB file, crm configure show,
#           crm_verify, and what the policy engine decides for it (crm_simulate).
#
# Run as root on Debian 12. Everything it creates is removed at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

[ "$(id -u)" = 0 ] || { echo "demo: run as root" >&2; exit 1; }
scripts/install-deps.sh
cargo build -q --workspace --bins
BIN="$PWD/target/debug"

NS_A=demo-alice NS_B=demo-bob
WORK=$(mktemp -d /tmp/ha-demo.XXXXXX)
DAEMONS=()
# Per-node environment: where a node keeps its control socket, its /dev/drbd links and its
# name (as `uname -n` would give in a real machine).
ENV=(DRBD_UBLK_RUN_DIR="$WORK/run-@" DRBD_UBLK_DEV_ROOT="$WORK/dev-@" DRBD_UBLK_HOSTNAME=@)
cleanup() {
  set +e
  mountpoint -q "$WORK/mnt" && umount "$WORK/mnt"
  for n in alice bob; do
    [ -S "$WORK/run-$n/ctl.sock" ] && env "${ENV[@]/@/$n}" "$BIN/drbd-ublkd" --shutdown >/dev/null 2>&1
  done
  sleep 1
  for p in "${DAEMONS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$NS_A" 2>/dev/null
  ip netns del "$NS_B" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { local shown="$*"; printf '%s$ %s\n' "${PROMPT:-}" "${shown//$BIN\//}"; "$@"; }

on() {
  local n=$1; shift
  local shown="$*"
  printf '[%s] $ %s\n' "$n" "${shown//$BIN\//}"
  env "${ENV[@]/@/$n}" "$@"
}

say "Two nodes: network namespaces $NS_A (10.213.200.1) and $NS_B (10.213.200.2)"
ip netns add "$NS_A"; ip netns add "$NS_B"
ip link add demo-va type veth peer name demo-vb
ip link set demo-va netns "$NS_A"; ip link set demo-vb netns "$NS_B"
ip -n "$NS_A" addr add 10.213.200.1/24 dev demo-va
ip -n "$NS_B" addr add 10.213.200.2/24 dev demo-vb
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set demo-va up; ip -n "$NS_B" link set demo-vb up

say "Step 19: the walkthrough's configuration files"
mkdir -p "$WORK/etc/drbd.d" "$WORK/mnt"
truncate -s 256M "$WORK/alice.img" "$WORK/bob.img"
cat > "$WORK/etc/drbd.conf" <<EOF
include "drbd.d/global_common.conf";
include "drbd.d/*.res";
EOF
cat > "$WORK/etc/drbd.d/global_common.conf" <<EOF
global {
  usage-count no;
}
common {
  protocol C;
  net {
    after-sb-0pri discard-zero-changes;
    after-sb-1pri discard-secondary;
    after-sb-2pri disconnect;
  }
}
EOF
cat > "$WORK/etc/drbd.d/r0.res" <<EOF
resource r0 {
  on alice {
    device    /dev/drbd1;
    disk      $WORK/alice.img;
    address   10.213.200.1:7789;
    meta-disk internal;
  }
  on bob {
    device    /dev/drbd1;
    disk      $WORK/bob.img;
    address   10.213.200.2:7789;
    meta-disk internal;
  }
}
EOF
CONF="$WORK/etc/drbd.conf"
on alice "$BIN/drbdadm" -c "$CONF" dump r0

say "Step 20: drbdadm create-md r0 on both nodes"
on alice "$BIN/drbdadm" -c "$CONF" create-md r0
on bob "$BIN/drbdadm" -c "$CONF" create-md r0

say "Step 21: start the node daemons, drbdadm up r0 on both"
for n in alice bob; do
  ns=$NS_A; [ "$n" = bob ] && ns=$NS_B
  env "${ENV[@]/@/$n}" ip netns exec "$ns" "$BIN/drbd-ublkd" --config "$CONF" --hostname "$n" \
    --foreground >"$WORK/$n.log" 2>&1 &
  DAEMONS+=($!)
done
for n in alice bob; do
  for _ in $(seq 100); do [ -S "$WORK/run-$n/ctl.sock" ] && break; sleep 0.1; done
done
on alice "$BIN/drbdadm" -c "$CONF" up r0
on bob "$BIN/drbdadm" -c "$CONF" up r0
for _ in $(seq 200); do
  [ "$(env "${ENV[@]/@/alice}" "$BIN/drbdadm" -c "$CONF" cstate r0)" = Connected ] && break
  sleep 0.1
done
on alice cat "$WORK/run-alice/proc-drbd"

say "Step 22: drbdadm primary --force r0 on alice: the initial sync runs, the device is usable"
on alice "$BIN/drbdadm" -c "$CONF" primary --force r0
sleep 1
on bob "$BIN/drbdadm" -c "$CONF" status r0
DEV_A="$WORK/dev-alice/by-res/r0"
DEV_B="$WORK/dev-bob/by-res/r0"
on alice mkfs.ext4 -q -F "$DEV_A"
on alice mount "$DEV_A" "$WORK/mnt"
on alice cp -r /usr/share/doc/e2fsprogs /usr/share/doc/util-linux "$WORK/mnt/"
( cd "$WORK/mnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum ) >"$WORK/sums"
echo "$(wc -l <"$WORK/sums") files written on alice"
on alice umount "$WORK/mnt"
for _ in $(seq 600); do
  [ "$(env "${ENV[@]/@/bob}" "$BIN/drbdadm" -c "$CONF" dstate r0)" = UpToDate/UpToDate ] && break
  sleep 0.2
done

say "Step 23: status"
on alice cat "$WORK/run-alice/proc-drbd"
on alice "$BIN/drbd-overview"
on alice "$BIN/drbdadm" -c "$CONF" status r0

say "Step 24: roles switch by hand"
on alice "$BIN/drbdadm" -c "$CONF" secondary r0
on bob "$BIN/drbdadm" -c "$CONF" primary r0
on bob "$BIN/drbdadm" -c "$CONF" role r0
on bob fsck.ext4 -f -n "$DEV_B"
on bob mount "$DEV_B" "$WORK/mnt"
( cd "$WORK/mnt" && sha256sum --quiet -c "$WORK/sums" ) && echo "every file identical on bob"
on bob umount "$WORK/mnt"
on bob "$BIN/drbdadm" -c "$CONF" down r0
on alice "$BIN/drbdadm" -c "$CONF" down r0

say "Parts 1 and 3: the walkthrough's crm commands on a CIB file"
export CIB_file="$WORK/cib.xml" CIB_shadow_dir="$WORK"
env -u CIB_file "$BIN/cibadmin" --empty >"$CIB_file"
run "$BIN/crm_verify" -L || true
run "$BIN/crm" configure property stonith-enabled=false
run "$BIN/crm_verify" -L
run "$BIN/crm" configure property no-quorum-policy=ignore
run "$BIN/crm" configure primitive ClusterIP ocf:heartbeat:IPaddr2 \
  params ip=10.213.200.100 cidr_netmask=32 op monitor interval=30s
run "$BIN/crm" configure primitive WebSite ocf:heartbeat:apache \
  params configfile=/etc/apache2/apache2.conf op monitor interval=1min
run "$BIN/crm" configure colocation website-with-ip INFINITY: WebSite ClusterIP
run "$BIN/crm" configure order apache-after-ip mandatory: ClusterIP WebSite
run "$BIN/crm" configure location prefer-node1 WebSite 50: alice
"$BIN/crm" <<'EOF'
cib new drbd
configure primitive WebData ocf:linbit:drbd params drbd_resource=r0 op monitor interval=60s
configure ms WebDataClone WebData meta master-max=1 master-node-max=1 clone-max=2 clone-node-max=1 notify=true
cib commit drbd
cib new fs
configure primitive WebFS ocf:heartbeat:Filesystem params device="/dev/drbd/by-res/r0" directory="/var/www/html" fstype="ext4"
configure colocation fs_on_drbd inf: WebFS WebDataClone:Master
configure order WebFS-after-WebData inf: WebDataClone:promote WebFS:start
configure colocation WebSite-with-WebFS inf: WebSite WebFS
configure order WebSite-after-WebFS inf: WebFS WebSite
cib commit fs
quit
EOF
run "$BIN/crm" configure show
run "$BIN/crm_verify" -L -V
# The policy engine's decision for two fresh, online nodes.
python3 - "$CIB_file" <<'EOF'
import sys, xml.etree.ElementTree as ET
path = sys.argv[1]
t = ET.parse(path); cib = t.getroot()
cib.set("have-quorum", "1"); cib.set("dc-uuid", "1")
nodes = cib.find("configuration/nodes")
status = cib.find("status")
for i, n in enumerate(["alice", "bob"], 1):
    if nodes.find(f"node[@uname='{n}']") is None:
        ET.SubElement(nodes, "node", id=str(i), uname=n)
    ET.SubElement(status, "node_state", id=str(i), uname=n, in_ccm="true", crmd="online",
                  join="member", expected="member")
t.write(path)
EOF
run "$BIN/crm_simulate" -S -x "$CIB_file"
if [ -x /usr/sbin/crm_simulate ]; then
  say "For comparison, Pacemaker 2.1.5's own decision on the same CIB (test oracle only)"
  /usr/sbin/crm_simulate -S -x "$CIB_file" 2>/dev/null | sed -n '/^Transition Summary:/,/^Executing/p' | sed '$d'
fi

say "Done: everything made by the demo is removed now"
