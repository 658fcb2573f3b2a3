#!/usr/bin/env python3
"""Checks the workspace's dependency directions (DESIGN.md): drbd-ublk and cluster-core never
depend on each other; nothing depends on tools, tests or benches; only drbd-ublk uses the raw
system crates."""
import json
import subprocess
import sys

meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--no-deps"], text=True))
deps = {p["name"]: {d["name"] for d in p["dependencies"] if d.get("kind") != "dev"}
        for p in meta["packages"]}
rules = [
    ("drbd-ublk", {"cluster-core", "agents", "tools", "tests", "benches"}),
    ("cluster-core", {"drbd-ublk", "agents", "tools", "tests", "benches"}),
    ("agents", {"tools", "tests", "benches"}),
]
raw = {"libublk", "io-uring", "libc", "nix", "fuser"}
bad = []
for crate, forbidden in rules:
    for d in sorted(deps.get(crate, set()) & forbidden):
        bad.append(f"{crate} must not depend on {d}")
for crate, ds in deps.items():
    if crate != "drbd-ublk":
        for d in sorted(ds & raw):
            bad.append(f"{crate} must not use {d} (only drbd-ublk touches raw system interfaces)")
for b in bad:
    print("dependency rule broken:", b)
sys.exit(1 if bad else 0)
