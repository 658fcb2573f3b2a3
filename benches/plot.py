#!/usr/bin/env python3
"""Tables and an SVG bar chart from the CSV files of benches/device.sh and benches/vm-fio.sh.

  plot.py table    FILE.csv            text table (mean of the runs, spread, ratio to baseline)
  plot.py markdown FILE.csv            the same as a Markdown table
  plot.py ratios   FILE.csv            Markdown: per job, the baseline's IOPS and each
                                       other target's IOPS ratio to it (range over the runs)
  plot.py svg      FILE.csv OUT.svg [TITLE]
                                       grouped bar chart: per job, each target's IOPS relative
                                       to the baseline target of the same run (whiskers: the
                                       lowest and highest run), absolute IOPS written above

CSV: '#' comment lines, then the header run,target,job,iops,mib_s,lat_mean_us,lat_p99_us.
The baseline is the first target in the file (the plain loop device). Python 3 standard
library only.
"""
import csv
import sys
from collections import OrderedDict
from xml.sax.saxutils import escape

FIELDS = ("iops", "mib_s", "lat_mean_us", "lat_p99_us")


def load(path):
    """Returns (comments, jobs, targets, data) with data[(job, target)][run] = {field: value}."""
    comments, rows = [], []
    with open(path, newline="") as f:
        lines = []
        for line in f:
            if line.startswith("#"):
                comments.append(line[1:].strip())
            elif line.strip():
                lines.append(line)
    for row in csv.DictReader(lines):
        rows.append(row)
    jobs, targets = OrderedDict(), OrderedDict()
    data = {}
    for r in rows:
        jobs[r["job"]] = 1
        targets[r["target"]] = 1
        data.setdefault((r["job"], r["target"]), {})[r["run"]] = {k: float(r[k]) for k in FIELDS}
    return comments, list(jobs), list(targets), data


def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def summary(jobs, targets, data):
    """One dict per (job, target): means, spread of IOPS between runs, ratio to baseline."""
    base = targets[0]
    out = []
    for job in jobs:
        b = data.get((job, base), {})
        for t in targets:
            runs = data.get((job, t), {})
            if not runs:
                continue
            m = {k: mean([v[k] for v in runs.values()]) for k in FIELDS}
            iops = [v["iops"] for v in runs.values()]
            m["spread"] = (max(iops) - min(iops)) / m["iops"] * 100 if m["iops"] > 0 else 0.0
            ratios = [runs[r]["iops"] / b[r]["iops"] for r in runs if r in b and b[r]["iops"] > 0]
            m["ratio"] = mean(ratios) if ratios else None
            m["ratio_min"] = min(ratios) if ratios else None
            m["ratio_max"] = max(ratios) if ratios else None
            m["runs"] = len(runs)
            m["job"], m["target"] = job, t
            out.append(m)
    return out


def fmt_ratio(m, base):
    if m["target"] == base:
        return "1 (baseline)"
    if m["ratio"] is None:
        return "-"
    if m["runs"] > 1:
        return "%.2f (%.2f-%.2f)" % (m["ratio"], m["ratio_min"], m["ratio_max"])
    return "%.2f" % m["ratio"]


def table(path, markdown):
    comments, jobs, targets, data = load(path)
    rows = summary(jobs, targets, data)
    head = ["job", "target", "IOPS", "MiB/s", "mean lat us", "p99 clat us",
            "IOPS vs %s" % targets[0], "run spread"]
    body = []
    for m in rows:
        body.append([m["job"], m["target"], "%.0f" % m["iops"], "%.1f" % m["mib_s"],
                     "%.0f" % m["lat_mean_us"], "%.0f" % m["lat_p99_us"], fmt_ratio(m, targets[0]),
                     "%.0f %%" % m["spread"] if m["runs"] > 1 else "-"])
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for b in body:
            print("| " + " | ".join(b) + " |")
        return
    for c in comments:
        print("# " + c)
    w = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    for r in [head] + body:
        print("  ".join(r[i].ljust(w[i]) if i < 2 else r[i].rjust(w[i]) for i in range(len(r))))
    runs = max(m["runs"] for m in rows) if rows else 0
    if runs > 1:
        print("(means of %d runs; ratio range and spread = (max - min) / mean of IOPS over the runs)"
              % runs)


def ratios(path):
    """Markdown: one row per job, the baseline's IOPS, then each target's ratio to it."""
    _, jobs, targets, data = load(path)
    rows = {(m["job"], m["target"]): m for m in summary(jobs, targets, data)}
    print("| job | %s IOPS | " % targets[0] + " | ".join(targets[1:]) + " |")
    print("|" + "---|" * len(targets) + "---|")
    for job in jobs:
        b = rows.get((job, targets[0]))
        cells = ["%.0f" % b["iops"] if b else "-"]
        for t in targets[1:]:
            m = rows.get((job, t))
            cells.append(fmt_ratio(m, targets[0]).replace("-", "–") if m else "-")
        print("| %s | " % job + " | ".join(cells) + " |")


COLOURS = ["#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]


def human(x):
    if x >= 10000:
        return "%.0fk" % (x / 1000)
    if x >= 1000:
        return "%.1fk" % (x / 1000)
    return "%.0f" % x


def svg(path, out, title):
    comments, jobs, targets, data = load(path)
    rows = {(m["job"], m["target"]): m for m in summary(jobs, targets, data)}
    top = max([m["ratio_max"] or 0 for m in rows.values()] + [1.0])
    top = 1.25 * top
    bar_w, gap = 26, 30
    group_w = bar_w * len(targets) + gap
    left, right, plot_top, plot_h = 60, 20, 70, 260
    width = max(left + right + group_w * len(jobs), 760)
    group_w = (width - left - right) / len(jobs)
    gap = group_w - bar_w * len(targets)
    chars = int((width - left - 10) / 5.2)   # 9 px sans-serif: about 5 px per character
    notes = [c[i:i + chars] for c in comments for i in range(0, len(c), chars)]
    height = plot_top + plot_h + 70 + 13 * len(notes)
    y0 = plot_top + plot_h

    def y(v):
        return y0 - v / top * plot_h

    s = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="11">' % (width, height),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>'
         % (left, escape(title)),
         '<text x="%d" y="36" fill="#444">IOPS relative to %s in the same run (1.0 = %s); '
         'number above a bar: its IOPS (mean of the runs);</text>'
         % (left, escape(targets[0]), escape(targets[0])),
         '<text x="%d" y="50" fill="#444">whiskers: the lowest and the highest run</text>' % left]
    # grid
    step = 0.25 if top <= 2 else (0.5 if top <= 4 else 1.0)
    v = 0.0
    while v <= top:
        s.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>'
                 % (left, width - right, y(v), y(v), "#999" if v == 1.0 else "#e5e5e5"))
        s.append('<text x="%d" y="%.1f" text-anchor="end" fill="#444">%.2f</text>'
                 % (left - 6, y(v) + 4, v))
        v += step
    for gi, job in enumerate(jobs):
        gx = left + gap / 2 + gi * group_w
        for ti, t in enumerate(targets):
            m = rows.get((job, t))
            if not m or m["ratio"] is None:
                continue
            x = gx + ti * bar_w
            s.append('<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s">'
                     '<title>%s %s: %.0f IOPS, ratio %.2f</title></rect>'
                     % (x, y(m["ratio"]), bar_w - 3, y0 - y(m["ratio"]),
                        COLOURS[ti % len(COLOURS)], escape(job), escape(t), m["iops"], m["ratio"]))
            if m["runs"] > 1:
                cx = x + (bar_w - 3) / 2
                s.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black"/>'
                         % (cx, cx, y(m["ratio_min"]), y(m["ratio_max"])))
                for r in (m["ratio_min"], m["ratio_max"]):
                    s.append('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black"/>'
                             % (cx - 4, cx + 4, y(r), y(r)))
            ty = min(y(m["ratio"]), y(m["ratio_max"] or m["ratio"])) - 4
            s.append('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9">%s</text>'
                     % (x + (bar_w - 3) / 2, ty, human(m["iops"])))
        s.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                 % (gx + bar_w * len(targets) / 2, y0 + 16, escape(job)))
    s.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>' % (left, width - right, y0, y0))
    lx = left
    for ti, t in enumerate(targets):
        s.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                 % (lx, y0 + 32, COLOURS[ti % len(COLOURS)]))
        s.append('<text x="%d" y="%d">%s</text>' % (lx + 16, y0 + 42, escape(t)))
        lx += 30 + 7 * len(t)
    for i, c in enumerate(notes):
        s.append('<text x="%d" y="%d" fill="#666" font-size="9">%s</text>'
                 % (left, y0 + 64 + 13 * i, escape(c)))
    s.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(s) + "\n")


def main(argv):
    if len(argv) >= 3 and argv[1] in ("table", "markdown"):
        table(argv[2], argv[1] == "markdown")
    elif len(argv) >= 3 and argv[1] == "ratios":
        ratios(argv[2])
    elif len(argv) >= 4 and argv[1] == "svg":
        svg(argv[2], argv[3], argv[4] if len(argv) > 4 else "fio")
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
