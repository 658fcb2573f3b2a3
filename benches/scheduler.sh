#!/usr/bin/env bash
# Scheduler benchmark: our crm_simulate against Pacemaker's /usr/sbin/crm_simulate on the same
# generated CIBs (gen_cib.py, fixed seeds). Measures wall time and peak RSS with /usr/bin/time,
# compares the "Transition Summary:" sections line by line and prints a table plus the growth
# between sizes. Usage: benches/scheduler.sh [SIZES...] where a size is NODESxRESOURCES
# (default: 4x200 16x1000 32x2000). Environment: GEN (generator path), OURS (our binary),
# PCMK (Pacemaker's binary), WORK (scratch dir, kept for inspection), MODES (default "R S"),
# S_SIZES (sizes where Pacemaker's -S also runs, default 4x200: it replays every probe and
# monitor one by one and needs 12-95 s already at 4x200, well over an hour at 16x1000; ours
# runs -S at every size), PCMK_CACHE (a directory holding pcmk-SIZE-MODE.out and .time from
# an earlier run on the same generated CIB: reused instead of running Pacemaker again, since
# its -R takes minutes at 32x2000), PCMK_SKIP (sizes where Pacemaker is not run at all).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
GEN=${GEN:-$root/../shared/bench/gen_cib.py}
[ -f "$GEN" ] || GEN=/work/shared/bench/gen_cib.py
OURS=${OURS:-$root/target/release/crm_simulate}
PCMK=${PCMK:-/usr/sbin/crm_simulate}
WORK=${WORK:-$(mktemp -d /tmp/schedbench.XXXXXX)}
MODES=${MODES:-"R S"}
S_SIZES=${S_SIZES:-4x200}
PCMK_CACHE=${PCMK_CACHE:-}
PCMK_SKIP=${PCMK_SKIP:-}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(4x200 16x1000 32x2000)

[ -x /usr/bin/time ] || { echo "need /usr/bin/time (apt-get install time)" >&2; exit 1; }
[ -x "$PCMK" ] || { echo "need $PCMK (pacemaker-cli-utils)" >&2; exit 1; }
if [ ! -x "$OURS" ]; then
  (cd "$root" && cargo build --release -p tools --bin crm_simulate)
fi
mkdir -p "$WORK"
echo "scratch: $WORK"

# run LABEL BIN MODE CIB: prints "SECONDS MB" and leaves the output in $WORK/LABEL.out
# (wall time from date's nanoseconds: /usr/bin/time's own has a 0.01 s resolution).
run() {
  local label=$1 bin=$2 mode=$3 cib=$4 t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f '%e %M' -o "$WORK/$label.time" "$bin" -x "$cib" "-$mode" \
    >"$WORK/$label.out" 2>"$WORK/$label.err" || true
  t1=$(date +%s%N)
  awk -v ns=$((t1 - t0)) '{printf "%.3f %.1f\n", ns / 1e9, $2/1024}' "$WORK/$label.time" | tail -n 1
}

summary() { # the Transition Summary section only
  awk '/^Transition Summary:/{f=1;next} f&&/^$/{exit} f' "$1"
}

declare -A our_t pcmk_t
rows=()
for size in "${sizes[@]}"; do
  nodes=${size%x*}
  rscs=${size#*x}
  cib=$WORK/cib-$size.xml
  python3 "$GEN" --nodes "$nodes" --resources "$rscs" --seed 42 -o "$cib" >/dev/null
  for mode in $MODES; do
    read -r os om < <(run "ours-$size-$mode" "$OURS" "$mode" "$cib")
    summary "$WORK/ours-$size-$mode.out" >"$WORK/ours-$size-$mode.sum"
    ps=- pm=- ratio=- match="(Pacemaker not run)"
    if [ "$mode" = S ] && [[ " $S_SIZES " != *" $size "* ]]; then
      match="(Pacemaker -S not run at this size)"
    elif [[ " $PCMK_SKIP " == *" $size "* ]]; then
      :
    else
      if [ -n "$PCMK_CACHE" ] && [ -s "$PCMK_CACHE/pcmk-$size-$mode.time" ]; then
        cp "$PCMK_CACHE/pcmk-$size-$mode.out" "$WORK/pcmk-$size-$mode.out"
        read -r ps pm < <(awk '{printf "%s %.1f\n", $1, $2/1024}' "$PCMK_CACHE/pcmk-$size-$mode.time" | tail -n 1)
        ps="$ps*"
      else
        read -r ps pm < <(run "pcmk-$size-$mode" "$PCMK" "$mode" "$cib")
      fi
      summary "$WORK/pcmk-$size-$mode.out" >"$WORK/pcmk-$size-$mode.sum"
      total=$(wc -l <"$WORK/pcmk-$size-$mode.sum")
      if cmp -s "$WORK/ours-$size-$mode.sum" "$WORK/pcmk-$size-$mode.sum"; then
        match="yes ($total lines)"
      else
        ndiff=$(diff "$WORK/ours-$size-$mode.sum" "$WORK/pcmk-$size-$mode.sum" | grep -c '^[<>]' || true)
        match="NO: $ndiff diff lines (ours $(wc -l <"$WORK/ours-$size-$mode.sum"), pcmk $total)"
      fi
      if [ "$mode" = S ]; then
        # The simulated execution's result: the Revised Cluster Status sections.
        sed -n '/^Revised Cluster Status:/,$p' "$WORK/ours-$size-$mode.out" >"$WORK/ours-$size-$mode.rev"
        sed -n '/^Revised Cluster Status:/,$p' "$WORK/pcmk-$size-$mode.out" >"$WORK/pcmk-$size-$mode.rev"
        if cmp -s "$WORK/ours-$size-$mode.rev" "$WORK/pcmk-$size-$mode.rev"; then
          match="$match, revised status identical"
        else
          match="$match, revised status DIFFERS"
        fi
      fi
      ratio=$(awk -v a="$os" -v b="${ps%\*}" 'BEGIN{ if (b>0) printf "%.4f", a/b; else print "-" }')
    fi
    rows+=("$(printf '%-9s -%-2s %8s s %7s MB | %9s s %7s MB | %6s | %s' \
      "$size" "$mode" "$os" "$om" "$ps" "$pm" "$ratio" "$match")")
    our_t[$size-$mode]=$os
    pcmk_t[$size-$mode]=${ps%\*}
    echo "done: ${rows[-1]}" >&2
  done
done

echo
printf '%-13s %-21s | %-22s | %-6s | %s\n' "size (N x R)" "ours (wall / peak)" \
  "Pacemaker (wall/peak)" "ratio" "summary match"
for r in "${rows[@]}"; do echo "$r"; done
echo "(* = Pacemaker figure reused from PCMK_CACHE)"

echo
echo "growth of wall time between sizes (vs. growth of nodes x resources; single runs on a"
echo "shared machine, and a few milliseconds at the smallest size are mostly process start):"
for mode in $MODES; do
  prev=""
  for size in "${sizes[@]}"; do
    [ -n "${our_t[$size-$mode]:-}" ] || continue
    if [ -n "$prev" ]; then
      awk -v a="${our_t[$prev-$mode]}" -v b="${our_t[$size-$mode]}" -v p="$prev" -v s="$size" \
        -v c="${pcmk_t[$prev-$mode]}" -v d="${pcmk_t[$size-$mode]}" \
        -v m="$mode" 'BEGIN{ split(p,x,"x"); split(s,y,"x");
          w=(y[1]*y[2])/(x[1]*x[2]);
          printf "  -%s %s -> %s: nodes*resources x%.1f, ours x%s, Pacemaker x%s\n", m, p, s, w,
            (a>0 ? sprintf("%.1f", b/a) : "inf"), (c>0 && d>0 ? sprintf("%.1f", d/c) : "-") }'
    fi
    prev=$size
  done
done
