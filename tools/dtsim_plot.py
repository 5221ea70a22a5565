#!/usr/bin/python3
"""dtsim_plot.py: pictures from a dtsim results database.

  tools/dtsim_plot.py curves DB [--runs 1,2,5] [--name GLOB] [--out PREFIX]
                               [--x time,bytes,step] [--band minmax|sd]
                               [--log auto|on|off] [--title TEXT]
  tools/dtsim_plot.py timeline DB [--run ID[,ID...]] [--out PREFIX]
                               [--until SECONDS] [--title TEXT]
  tools/dtsim_plot.py scaling DB --x cluster.workers
                               [--by network.server.bandwidth] [--out PREFIX]
  tools/dtsim_plot.py tradeoff DB [--x bytes,time] [--by PATH] [--runs 1,2]
                               [--name GLOB] [--log on|off] [--out PREFIX]
  tools/dtsim_plot.py labels DB --run ID[,ID...] [--out PREFIX]

`curves` draws test accuracy against simulated time, bytes sent and
round/update, one line per experiment. Runs that differ only in their seed are
one experiment (a sweep's ",seed=N" at the end of a run name is dropped): the
line is the mean over seeds at each step and the band their min-max (or +-1
sd). `timeline` draws one run's workers as a Gantt chart (compute, send,
receive, idle) and the server link's utilisation; the run needs "output":
{"events": true}; with several run ids their Gantt charts are stacked on one
time axis (without the utilisation). `scaling` draws, against a config value
(e.g. the number of workers), the simulated time of each run and the share of
it the workers spent computing, one line per value of another config value
(e.g. the bandwidth). `tradeoff` draws each experiment's final test accuracy
(mean over seeds, bar min-max) against the bytes and the simulated time its
runs took, coloured by a config value (e.g. network.compression.codec).
`labels` draws each worker's training rows by label (table label_histogram),
one panel per run. All write PREFIX.png and PREFIX.svg.

Reads the database with the sqlite3 module and draws with matplotlib (Debian:
python3-matplotlib). Bad input (no such database, run or events) is one line
on stderr and exit 2.
"""

import argparse
import fnmatch
import json
import math
import os
import re
import sqlite3
import sys

import matplotlib

matplotlib.use("Agg")  # files only: no display on a build machine
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
import matplotlib.ticker  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

X_AXES = {
    "time": ("sim_time", "simulated time (s)"),
    "bytes": ("bytes", "bytes sent (cumulative)"),
    "step": ("step", "round / update"),
}

# Colours of the timeline; the same in the HTML report.
KIND_COLOURS = {
    "compute": "#3b75af",
    "send": "#ef8636",
    "receive": "#519e3e",
    "idle": "#e5e5e5",
}


class InputError(Exception):
    """Bad input: the message is printed as one line, exit 2."""


def open_db(path):
    if not os.path.exists(path):
        raise InputError(f"{path}: no such database")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        db.execute("SELECT run_id FROM runs LIMIT 1")
    except sqlite3.Error as e:
        raise InputError(f"{path}: not a dtsim database ({e})")
    return db


def style():
    plt.rcParams.update({
        "figure.dpi": 110,
        "savefig.dpi": 130,
        "font.size": 9.5,
        "axes.titlesize": 10.5,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#dddddd",
        "grid.linewidth": 0.6,
        "legend.frameon": False,
        "svg.fonttype": "none",  # text stays text in SVG: searchable, small
    })


def save(fig, prefix):
    """Writes PREFIX.png and PREFIX.svg and returns their paths; with no
    prefix returns the figure itself (the HTML report embeds it)."""
    if prefix is None:
        return fig
    d = os.path.dirname(prefix)
    if d:
        os.makedirs(d, exist_ok=True)
    paths = [prefix + ".png", prefix + ".svg"]
    for p in paths:
        fig.savefig(p, bbox_inches="tight")
    plt.close(fig)
    return paths


# --------------------------------------------------------------------------
# Runs and experiments


def select_runs(db, runs=None, name=None):
    """Finished runs (done or diverged) as dicts, oldest first."""
    rows = db.execute(
        "SELECT run_id, name, algorithm, seed, status, config_json, "
        "final_accuracy, sim_seconds, total_bytes FROM runs "
        "WHERE status IN ('done', 'diverged') ORDER BY run_id").fetchall()
    keys = ["run_id", "name", "algorithm", "seed", "status", "config",
            "final_accuracy", "sim_seconds", "total_bytes"]
    out = [dict(zip(keys, r)) for r in rows]
    if runs:
        want = set(runs)
        found = {r["run_id"] for r in out}
        missing = sorted(want - found)
        if missing:
            raise InputError(
                f"run {missing[0]}: no such finished run in the database")
        out = [r for r in out if r["run_id"] in want]
    if name:
        out = [r for r in out if fnmatch.fnmatch(r["name"], name)]
    return out


# A sweep names its runs NAME/LABEL, the label ending in the seed
# ("non-iid/partition=iid,alg=ma,seed=3"); without it, the name is the
# experiment's.
SEED_LABEL = re.compile(r"(,|/)seed=-?[0-9]+$")


def experiment_key(run):
    """The config without its seed (and the events switch, which changes no
    number): runs with equal keys are repeats of one experiment."""
    name = SEED_LABEL.sub("", run["name"] or "")
    try:
        cfg = json.loads(run["config"])
    except (TypeError, ValueError):
        return (name, str(run["run_id"]))
    cfg.pop("seed", None)
    cfg.pop("output", None)
    cfg.pop("name", None)
    return (name, json.dumps(cfg, sort_keys=True))


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        p = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(_flatten(v, p))
        else:
            out[p] = json.dumps(v)
    return out


def group_runs(runs):
    """Groups runs into experiments, in order of first appearance. Each group
    gets a label: its name, plus the config values that tell apart groups
    sharing a name (e.g. a --set sweep)."""
    groups = {}
    for r in runs:
        groups.setdefault(experiment_key(r), []).append(r)
    groups = list(groups.items())
    by_name = {}
    for key, rs in groups:
        by_name.setdefault(key[0], []).append((key, rs))
    labels = {}
    for name, members in by_name.items():
        if len(members) == 1:
            labels[members[0][0]] = name
            continue
        flats = [_flatten(json.loads(k[1])) if k[1].startswith("{") else {}
                 for k, _ in members]
        paths = sorted(set().union(*flats))
        differ = [p for p in paths
                  if len({f.get(p) for f in flats}) > 1
                  and not p.startswith("network.workers")]
        # File paths make long labels and rarely are the point of a
        # comparison: name them only when nothing else differs.
        plain = [p for p in differ if not p.endswith(("path", "file"))]
        differ = plain or differ

        def show(p, f):
            v = f.get(p, "-")
            if p.endswith(("path", "file")):
                v = os.path.basename(v.strip('"'))
            return f"{p.split('.')[-1]}={v}"

        for (key, _), f in zip(members, flats):
            parts = [show(p, f) for p in differ[:3]]
            labels[key] = f"{name} ({', '.join(parts)})" if parts else name
    return [(labels[k], rs) for k, rs in groups]


def metrics_of(db, run_id):
    return db.execute(
        "SELECT step, sim_time, bytes, test_accuracy FROM metrics "
        "WHERE run_id = ? AND test_accuracy IS NOT NULL ORDER BY step",
        (run_id,)).fetchall()


def aggregate(db, runs, band):
    """Per step over the runs of one experiment: mean x of each axis, and
    mean, low and high accuracy. Steps every run reached only, so the band
    never narrows because runs stopped."""
    per_run = [{m[0]: m for m in metrics_of(db, r["run_id"])} for r in runs]
    per_run = [p for p in per_run if p]
    if not per_run:
        return None
    steps = sorted(set.intersection(*(set(p) for p in per_run)))
    agg = {"step": [], "sim_time": [], "bytes": [], "mean": [], "lo": [],
           "hi": []}
    for s in steps:
        rows = [p[s] for p in per_run]
        acc = [r[3] for r in rows]
        n = len(acc)
        mean = sum(acc) / n
        if band == "sd" and n > 1:
            sd = math.sqrt(sum((a - mean) ** 2 for a in acc) / (n - 1))
            lo, hi = mean - sd, mean + sd
        else:
            lo, hi = min(acc), max(acc)
        agg["step"].append(s)
        agg["sim_time"].append(sum(r[1] for r in rows) / n)
        agg["bytes"].append(sum(r[2] for r in rows) / n)
        agg["mean"].append(mean)
        agg["lo"].append(lo)
        agg["hi"].append(hi)
    agg["n"] = len(per_run)
    return agg


def wants_log(ends, mode, axis):
    if mode == "on":
        return True
    if mode == "off" or axis == "step":
        return False
    pos = [v for v in ends if v > 0]
    # Log helps when the lines end more than a factor 20 apart (a bandwidth
    # sweep): on a linear axis the fast runs would be squeezed into a corner.
    return len(pos) > 1 and max(pos) / min(pos) > 20


def smooth(values, width):
    """A centred moving average; single-run accuracy on 171 test rows jumps
    by whole rows, and the trend is what the eye should follow."""
    if width <= 1 or len(values) < 3 * width:
        return values
    half = width // 2
    out, acc = [], 0.0
    pref = [0.0]
    for v in values:
        acc += v
        pref.append(acc)
    for i in range(len(values)):
        a, b = max(0, i - half), min(len(values), i + half + 1)
        out.append((pref[b] - pref[a]) / (b - a))
    return out


def plot_curves(db, runs, prefix, xs=("time", "bytes", "step"), band="minmax",
                log="auto", title=None, smooth_width=None):
    groups = group_runs(runs)
    if not groups:
        raise InputError("no finished runs to plot")
    aggs = [(label, aggregate(db, rs, band)) for label, rs in groups]
    aggs = [(label, a) for label, a in aggs if a and a["step"]]
    if not aggs:
        raise InputError("the selected runs have no accuracy rows")
    style()
    fig, axes = plt.subplots(1, len(xs), figsize=(4.3 * len(xs), 3.6),
                             sharey=True, squeeze=False)
    axes = axes[0]
    colours = plt.get_cmap("tab10").colors
    smoothed = False
    for i, x in enumerate(xs):
        col, xlabel = X_AXES[x]
        ax = axes[i]
        logx = wants_log([a[col][-1] for _, a in aggs], log, x)
        for j, (label, a) in enumerate(aggs):
            c = colours[j % len(colours)]
            xv = a[col]
            keep = [k for k, v in enumerate(xv) if v > 0 or not logx]
            xv = [xv[k] for k in keep]
            w = smooth_width
            if w is None:
                w = max(1, len(a["mean"]) // 60)
            ys = [smooth(a[s], w) for s in ("mean", "lo", "hi")]
            smoothed = smoothed or ys[0] is not a["mean"]
            ys = [[y[k] for k in keep] for y in ys]
            lab = f"{label} (n={a['n']})" if a["n"] > 1 else label
            ax.plot(xv, ys[0], color=c, lw=1.4, label=lab)
            if a["n"] > 1:
                ax.fill_between(xv, ys[1], ys[2], color=c, alpha=0.18, lw=0)
        if logx:
            ax.set_xscale("log")
        if x == "bytes":
            ax.xaxis.set_major_formatter(EngFormatter(unit="B"))
        ax.set_xlabel(xlabel + (" (log)" if logx else ""))
        if i == 0:
            ax.set_ylabel("test accuracy")
    lo = min(min(a["lo"]) for _, a in aggs)
    axes[0].set_ylim(max(0.0, lo - 0.02), 1.0)
    handles, labels = axes[0].get_legend_handles_labels()
    multi = any(a["n"] > 1 for _, a in aggs)
    notes = []
    if multi:
        notes.append("line: mean over seeds, band: "
                     + ("±1 sd" if band == "sd" else "min-max"))
    if smoothed:
        notes.append("moving average over "
                     + (f"{smooth_width} points" if smooth_width
                        else "1/60 of the points"))
    note = "; ".join(notes)
    # As many legend columns as fit under the panels.
    longest = max(len(lab) for lab in labels)
    ncol = max(1, min(len(labels), int(4.3 * len(xs) * 11 / (longest + 6))))
    rows = (len(labels) + ncol - 1) // ncol
    fig.legend(handles, labels, loc="lower center", ncol=ncol,
               bbox_to_anchor=(0.5, 0.0))
    if title or note:
        fig.suptitle("  —  ".join(t for t in (title, note) if t), fontsize=10.5)
    legend_h = 0.25 + 0.2 * rows  # inches
    fig.set_figheight(3.6 + legend_h)
    fig.tight_layout(rect=(0, legend_h / (3.6 + legend_h), 1, 1))
    return save(fig, prefix)


# --------------------------------------------------------------------------
# Timeline


def load_timeline(db, run_id):
    """Bars per row from the events table. Events name the sender only; a
    server send's receiver is the worker that starts computing the moment it
    arrives (every synchronous algorithm starts a step on receipt), and a
    worker's send goes to the server (a star with one parameter server)."""
    row = db.execute("SELECT name, algorithm, config_json, sim_seconds "
                     "FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if not row:
        raise InputError(f"run {run_id}: no such run in the database")
    evs = db.execute("SELECT time, entity, kind, duration, bytes FROM events "
                     "WHERE run_id = ? ORDER BY time, entity",
                     (run_id,)).fetchall()
    if not evs:
        raise InputError(f"run {run_id}: no events (run it with --set "
                         "output.events=true)")
    name, alg, cfg_json, sim_seconds = row
    try:
        cfg = json.loads(cfg_json)
    except (TypeError, ValueError):
        cfg = {}
    workers = sorted({e[1] for e in evs if e[1].startswith("worker")},
                     key=lambda s: int(s[6:]))
    k = cfg.get("cluster", {}).get("workers")
    if k:
        workers = [f"worker{i}" for i in range(k)]
    entities = workers + ["server"]
    bars = {e: {"compute": [], "send": [], "receive": []} for e in entities}
    starts = {}
    for t, ent, kind, d, b in evs:
        if kind == "compute" and ent in bars:
            bars[ent]["compute"].append((t, d))
            starts.setdefault(_tkey(t), []).append(ent)
    flows = []  # (src, dst, t_send, t_arrive, bytes)
    unmatched = 0
    for t, ent, kind, d, b in evs:
        if kind != "send" or ent not in bars:
            continue
        bars[ent]["send"].append((t, d))
        if ent == "server":
            cands = starts.get(_tkey(t + d))
            if cands:
                dst = cands.pop(0)
                bars[dst]["receive"].append((t, d))
                flows.append((ent, dst, t, t + d, b))
            else:
                unmatched += 1
        else:
            bars["server"]["receive"].append((t, d))
            flows.append((ent, "server", t, t + d, b))
    end = max(max(t + d for t, _, _, d, _ in evs), sim_seconds or 0)
    return {"name": name, "algorithm": alg, "config": cfg,
            "entities": entities, "bars": bars, "flows": flows, "end": end,
            "unmatched": unmatched, "events": evs}


def _tkey(t):
    # Arrival (send start + transit) and compute start are the same double
    # up to rounding in the addition.
    return round(t, 12)


def merge(intervals):
    out = []
    for s, d in sorted(intervals):
        e = s + d
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def idle_of(bars, end):
    busy = merge(bars["compute"] + bars["send"] + bars["receive"])
    idle, t = [], 0.0
    for s, e in busy:
        if s > t:
            idle.append((t, s - t))
        t = max(t, e)
    if end > t:
        idle.append((t, end - t))
    return idle


def link_utilisation(tl, end, bins=200):
    """Utilisation of the server's link in each direction over time bins.
    A send of B bytes that took d seconds, of which L were latency, kept
    B / (d - L) bytes/s on the links it crossed (the fair share it got, on
    average). Latency and bandwidth come from the config as run."""
    net = tl["config"].get("network", {})
    srv = net.get("server", {})
    bw = srv.get("bandwidth")
    lat = {"server": srv.get("latency", 0.0)}
    for w in net.get("workers", []):
        lat[f"worker{w.get('worker')}"] = w.get("latency", 0.0)
    if not bw:
        return None
    width = end / bins
    out_b = [0.0] * bins
    in_b = [0.0] * bins
    for src, dst, t0, t1, b in tl["flows"]:
        lats = lat.get(src, 0.0) + lat.get(dst, 0.0)
        busy = max(t1 - t0 - lats, 1e-15)
        rate = b / busy
        # Transmission occupies [t0 + lat_src, t1 - lat_dst] in a store-free
        # flow model; spread it over the bins it overlaps.
        s, e = t0 + lat.get(src, 0.0), t0 + lat.get(src, 0.0) + busy
        target = out_b if src == "server" else in_b
        i0 = max(0, int(s / width))
        if s >= end:
            continue
        i1 = min(bins - 1, int(e / width))
        for i in range(i0, i1 + 1):
            lo, hi = max(s, i * width), min(e, (i + 1) * width)
            if hi > lo:
                target[i] += rate * (hi - lo) / width
    xs = [(i + 0.5) * width for i in range(bins)]
    return xs, [v / bw for v in out_b], [v / bw for v in in_b]


def draw_gantt(ax, tl, end):
    """One run's rows (workers, then the server) on ax: idle, compute, and
    sends (upper half) and receives (lower half)."""
    ents = tl["entities"]
    for row, ent in enumerate(ents):
        y = len(ents) - 1 - row
        b = tl["bars"][ent]
        ax.broken_barh(idle_of(b, tl["end"]), (y - 0.4, 0.8),
                       facecolors=KIND_COLOURS["idle"])
        ax.broken_barh(b["compute"], (y - 0.4, 0.8),
                       facecolors=KIND_COLOURS["compute"])
        # Sends on the upper half and receives on the lower half: an
        # asynchronous worker may do both at once, and neither hides the
        # other.
        ax.broken_barh(b["send"], (y, 0.4), facecolors=KIND_COLOURS["send"])
        ax.broken_barh(b["receive"], (y - 0.4, 0.4),
                       facecolors=KIND_COLOURS["receive"])
    ax.set_yticks(range(len(ents)))
    ax.set_yticklabels(list(reversed(ents)))
    ax.set_ylim(-0.6, len(ents) - 0.4)
    ax.set_xlim(0, end)
    ax.grid(axis="y", visible=False)


def kind_legend(ax):
    ax.legend(handles=[Patch(color=KIND_COLOURS[k], label=k)
                       for k in ("compute", "send", "receive", "idle")],
              loc="upper left", bbox_to_anchor=(1.0, 1.0))


def plot_timeline(db, run_id, prefix, until=None):
    tl = load_timeline(db, run_id)
    style()
    ents = tl["entities"]
    end = until if until else tl["end"]
    util = link_utilisation(tl, end)
    heights = [max(2.2, 0.42 * len(ents) + 0.8)] + ([1.4] if util else [])
    fig, axes = plt.subplots(len(heights), 1, figsize=(10, sum(heights) + 0.6),
                             sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    ax = axes[0][0]
    draw_gantt(ax, tl, end)
    ax.set_title(f"run {run_id}: {tl['name']} ({tl['algorithm']}), "
                 f"{len(ents) - 1} workers")
    kind_legend(ax)
    if util:
        ux = axes[1][0]
        xs, o, i = util
        ux.plot(xs, o, color=KIND_COLOURS["send"], lw=1.1,
                label="server → workers")
        ux.plot(xs, i, color=KIND_COLOURS["receive"], lw=1.1,
                label="workers → server")
        ux.set_ylabel("server link\nutilisation")
        ux.set_ylim(0, max(1.05, max(o + i) * 1.05))
        ux.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        axes[-1][0].set_xlabel("simulated time (s)")
    else:
        ax.set_xlabel("simulated time (s)")
    fig.tight_layout()
    return save(fig, prefix)


def plot_timelines(db, run_ids, prefix, until=None, title=None):
    """Several runs' timelines stacked on one time axis, one panel each
    (without the link utilisation), to compare how their workers spend
    the same stretch of simulated time."""
    if len(run_ids) == 1:
        return plot_timeline(db, run_ids[0], prefix, until)
    tls = [(r, load_timeline(db, r)) for r in run_ids]
    style()
    end = until if until else max(tl["end"] for _, tl in tls)
    heights = [max(1.6, 0.36 * len(tl["entities"]) + 0.5) for _, tl in tls]
    fig, axes = plt.subplots(len(tls), 1,
                             figsize=(10, sum(heights) + 0.5
                                      + (0.3 if title else 0)),
                             sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for i, (r, tl) in enumerate(tls):
        ax = axes[i][0]
        draw_gantt(ax, tl, end)
        ax.set_title(f"run {r}: {tl['name']} ({tl['algorithm']}), "
                     f"{len(tl['entities']) - 1} workers", loc="left")
        if i == 0:
            kind_legend(ax)
    axes[-1][0].set_xlabel("simulated time (s)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, prefix)


# --------------------------------------------------------------------------
# Scaling


def config_value(cfg, path):
    v = cfg
    for part in path.split("."):
        if not isinstance(v, dict) or part not in v:
            return None
        v = v[part]
    return v


def human(path, v):
    """Bandwidths in bits per second, as configs are usually written."""
    if isinstance(v, (int, float)) and path.endswith("bandwidth"):
        bits = v * 8
        for unit, f in (("Tbps", 1e12), ("Gbps", 1e9), ("Mbps", 1e6),
                        ("kbps", 1e3)):
            if bits >= f:
                return f"{bits / f:g} {unit}"
        return f"{bits:g} bps"
    return str(v)


def plot_scaling(db, runs, prefix, xpath, bypath=None, title=None):
    series = {}
    for r in runs:
        cfg = json.loads(r["config"])
        x = config_value(cfg, xpath)
        if not isinstance(x, (int, float)):
            raise InputError(f"run {r['run_id']}: config has no number at "
                             f"{xpath}")
        by = config_value(cfg, bypath) if bypath else None
        w = db.execute("SELECT AVG(compute_seconds) FROM workers "
                       "WHERE run_id = ?", (r["run_id"],)).fetchone()[0]
        share = (w / r["sim_seconds"]) if w is not None and r["sim_seconds"] \
            else None
        series.setdefault(by, {}).setdefault(x, []).append(
            (r["sim_seconds"], share))
    if not series:
        raise InputError("no finished runs to plot")
    style()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    colours = plt.get_cmap("viridis")
    keys = sorted(series, key=lambda k: (k is None, k if k is not None
                                         else 0), reverse=True)
    for i, by in enumerate(keys):
        pts = sorted(series[by].items())
        xs = [x for x, _ in pts]
        t = [sum(v[0] for v in vs) / len(vs) for _, vs in pts]
        sh = [sum(v[1] or 0 for v in vs) / len(vs) for _, vs in pts]
        c = colours(i / max(1, len(keys) - 1) * 0.85)
        lab = human(bypath, by) if bypath else None
        a1.plot(xs, t, "o-", color=c, lw=1.5, ms=4, label=lab)
        a2.plot(xs, sh, "o-", color=c, lw=1.5, ms=4, label=lab)
        best = min(range(len(t)), key=lambda j: t[j])
        a1.plot([xs[best]], [t[best]], "o", ms=9, mfc="none", mec=c, mew=1.5)
    for a in (a1, a2):
        a.set_xscale("log", base=2)
        a.set_xlabel(xpath)
        a.xaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    a1.set_yscale("log")
    a1.set_ylabel("simulated time of the run (s, log)")
    a1.set_title("time to train (circled: fastest)")
    a2.set_ylabel("share of time the workers compute")
    a2.set_ylim(0, 1)
    a2.set_title("computation against communication")
    if bypath:
        a2.legend(title=bypath.split(".")[-2] + " " + bypath.split(".")[-1]
                  if "." in bypath else bypath, loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, prefix)


# --------------------------------------------------------------------------
# Trade-off


FRONTIER_X = {
    "bytes": ("total_bytes", "bytes sent in the run"),
    "time": ("sim_seconds", "simulated time of the run (s)"),
}


def plot_tradeoff(db, runs, prefix, xs=("bytes", "time"), bypath=None,
                  title=None, log="on"):
    """Final test accuracy against what the run cost (bytes, simulated
    time), one point per experiment: the mean over its seeds, with a bar
    from the lowest to the highest seed. Points are coloured by a config
    value (e.g. network.compression.codec) and labelled with the
    experiment."""
    groups = group_runs(runs)
    if not groups:
        raise InputError("no finished runs to plot")
    pts = []
    for label, rs in groups:
        acc = [r["final_accuracy"] for r in rs
               if r["final_accuracy"] is not None]
        if not acc:
            continue
        cfg = json.loads(rs[0]["config"]) if rs[0]["config"] else {}
        by = config_value(cfg, bypath) if bypath else None
        if isinstance(by, (dict, list)):
            by = json.dumps(by, sort_keys=True)
        # A config stores no value where the default is off (no
        # compression section without a codec): "none".
        pt = {"label": label, "by": "none" if by is None else str(by),
              "mean": sum(acc) / len(acc), "lo": min(acc), "hi": max(acc),
              "n": len(acc)}
        for x, (col, _) in FRONTIER_X.items():
            vals = [r[col] for r in rs if r[col] is not None]
            pt[x] = sum(vals) / len(vals) if vals else None
        pts.append(pt)
    if not pts:
        raise InputError("the selected runs have no final accuracy")
    style()
    fig, axes = plt.subplots(1, len(xs), figsize=(5.2 * len(xs), 4.2),
                             sharey=True, squeeze=False)
    axes = axes[0]
    colours = plt.get_cmap("tab10").colors
    keys = list(dict.fromkeys(p["by"] for p in pts))
    for i, x in enumerate(xs):
        ax = axes[i]
        _, xlabel = FRONTIER_X[x]
        for j, key in enumerate(keys):
            c = colours[j % len(colours)]
            mine = [p for p in pts if p["by"] == key and p[x]]
            if not mine:
                continue
            ax.errorbar([p[x] for p in mine], [p["mean"] for p in mine],
                        yerr=[[p["mean"] - p["lo"] for p in mine],
                              [p["hi"] - p["mean"] for p in mine]],
                        fmt="o", color=c, ms=5, capsize=2, lw=1,
                        label=key if bypath else None)
            # Slanted labels: points of similar cost and accuracy (a
            # codec's neighbouring settings) do not write over each other.
            for p in mine:
                ax.annotate(p["label"], (p[x], p["mean"]), fontsize=7.5,
                            xytext=(3, 4), textcoords="offset points",
                            color=c, rotation=35, rotation_mode="anchor")
        if log == "on":
            ax.set_xscale("log")
        if x == "bytes":
            ax.xaxis.set_major_formatter(EngFormatter(unit="B"))
        ax.set_xlabel(xlabel + (" (log)" if log == "on" else ""))
        if i == 0:
            ax.set_ylabel("final test accuracy")
    lo = max(0.0, min(p["lo"] for p in pts) - 0.03)
    # Room above 1 for the slanted labels of the best points.
    axes[0].set_ylim(lo, 1.0 + 0.12 * (1.0 - lo))
    axes[0].set_yticks([t for t in axes[0].get_yticks() if lo <= t <= 1.0])
    if bypath:
        axes[-1].legend(title=bypath.split(".")[-1], loc="lower right")
    multi = any(p["n"] > 1 for p in pts)
    note = "point: mean over seeds, bar: min-max" if multi else ""
    if title or note:
        fig.suptitle("  —  ".join(t for t in (title, note) if t),
                     fontsize=10.5)
    fig.tight_layout()
    return save(fig, prefix)


# --------------------------------------------------------------------------
# Labels


def plot_labels(db, run_ids, prefix, title=None):
    """Each worker's training rows by label (table label_histogram) as a
    stacked bar, one panel per run: how the partition spread the classes."""
    panels = []
    for r in run_ids:
        row = db.execute("SELECT name FROM runs WHERE run_id = ?",
                         (r,)).fetchone()
        if not row:
            raise InputError(f"run {r}: no such run in the database")
        try:
            rows = db.execute("SELECT worker, label, rows FROM "
                              "label_histogram WHERE run_id = ? ORDER BY "
                              "worker, label", (r,)).fetchall()
        except sqlite3.Error:
            rows = []
        if not rows:
            raise InputError(f"run {r}: no rows in table label_histogram")
        panels.append((r, row[0], rows))
    style()
    fig, axes = plt.subplots(1, len(panels),
                             figsize=(4.6 * len(panels) + 0.9, 3.6),
                             sharey=True, squeeze=False)
    axes = axes[0]
    labels = sorted({lab for _, _, rows in panels for _, lab, _ in rows})
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    for ax, (r, name, rows) in zip(axes, panels):
        workers = sorted({w for w, _, _ in rows})
        count = {(w, lab): n for w, lab, n in rows}
        bottom = [0] * len(workers)
        for j, lab in enumerate(labels):
            h = [count.get((w, lab), 0) for w in workers]
            ax.bar(workers, h, bottom=bottom, color=cmap(j % cmap.N),
                   width=0.75, label=str(lab))
            bottom = [b + v for b, v in zip(bottom, h)]
        ax.set_xticks(workers)
        ax.set_xlabel("worker")
        ax.grid(axis="x", visible=False)
        ax.set_title(f"run {r}: {name}", fontsize=9)
    axes[0].set_ylabel("training rows")
    axes[-1].legend(title="label", loc="upper left", bbox_to_anchor=(1.0, 1.0),
                    ncol=1 if len(labels) <= 12 else 2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, prefix)


# --------------------------------------------------------------------------
# Command line


def parse_ids(text):
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise InputError(f"--runs {text}: expected run ids like 1,2,5")


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="dtsim_plot.py",
        description="Plots from a dtsim results database (PNG and SVG).")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("curves", help="test accuracy against time, bytes "
                       "and rounds; mean and band over seeds")
    c.add_argument("db")
    c.add_argument("--runs", help="run ids, e.g. 1,2,5 (default: all)")
    c.add_argument("--name", help="only runs whose name matches this glob")
    c.add_argument("--out", default="results/curves",
                   help="output prefix (writes PREFIX.png and PREFIX.svg)")
    c.add_argument("--x", default="time,bytes,step",
                   help="x axes, from time, bytes, step")
    c.add_argument("--band", choices=["minmax", "sd"], default="minmax")
    c.add_argument("--log", choices=["auto", "on", "off"], default="auto")
    c.add_argument("--smooth", type=int,
                   help="moving-average width in evaluation points (default: "
                   "1/60 of the points; 1 = raw)")
    c.add_argument("--title")
    t = sub.add_parser("timeline", help="one run's workers as a Gantt chart "
                       "and the server link's utilisation")
    t.add_argument("db")
    t.add_argument("--run",
                   help="run id, or several (1,2,3) stacked on one time "
                   "axis (default: the last run with events)")
    t.add_argument("--out", default="results/timeline")
    t.add_argument("--until", type=float,
                   help="show only [0, SECONDS] of simulated time")
    t.add_argument("--title", help="a title over several runs' panels")
    g = sub.add_parser("scaling", help="run time and compute share against "
                       "a config value, one line per value of another")
    g.add_argument("db")
    g.add_argument("--x", required=True, help="config path, e.g. "
                   "cluster.workers")
    g.add_argument("--by", help="config path of the lines, e.g. "
                   "network.server.bandwidth")
    g.add_argument("--runs", help="run ids, e.g. 1,2,5 (default: all)")
    g.add_argument("--name", help="only runs whose name matches this glob")
    g.add_argument("--out", default="results/scaling")
    g.add_argument("--title")
    f = sub.add_parser("tradeoff", help="final accuracy against bytes and "
                       "simulated time, one point per experiment")
    f.add_argument("db")
    f.add_argument("--x", default="bytes,time",
                   help="x axes, from bytes, time")
    f.add_argument("--by", help="config path that colours the points, e.g. "
                   "network.compression.codec")
    f.add_argument("--runs", help="run ids, e.g. 1,2,5 (default: all)")
    f.add_argument("--name", help="only runs whose name matches this glob")
    f.add_argument("--log", choices=["on", "off"], default="on")
    f.add_argument("--out", default="results/tradeoff")
    f.add_argument("--title")
    lb = sub.add_parser("labels", help="each worker's training rows by "
                        "label, one panel per run")
    lb.add_argument("db")
    lb.add_argument("--run", required=True,
                    help="run id, or several side by side (1,21)")
    lb.add_argument("--out", default="results/labels")
    lb.add_argument("--title")
    a = p.parse_args(argv)
    try:
        db = open_db(a.db)
        if a.cmd == "curves":
            xs = [x.strip() for x in a.x.split(",") if x.strip()]
            bad = [x for x in xs if x not in X_AXES]
            if bad or not xs:
                raise InputError(f"--x {a.x}: expected time, bytes or step")
            runs = select_runs(db, parse_ids(a.runs) if a.runs else None,
                               a.name)
            paths = plot_curves(db, runs, a.out, xs, a.band, a.log, a.title,
                                a.smooth)
        elif a.cmd == "tradeoff":
            xs = [x.strip() for x in a.x.split(",") if x.strip()]
            bad = [x for x in xs if x not in FRONTIER_X]
            if bad or not xs:
                raise InputError(f"--x {a.x}: expected bytes or time")
            runs = select_runs(db, parse_ids(a.runs) if a.runs else None,
                               a.name)
            paths = plot_tradeoff(db, runs, a.out, xs, a.by, a.title, a.log)
        elif a.cmd == "labels":
            paths = plot_labels(db, parse_ids(a.run), a.out, a.title)
        elif a.cmd == "scaling":
            runs = select_runs(db, parse_ids(a.runs) if a.runs else None,
                               a.name)
            paths = plot_scaling(db, runs, a.out, a.x, a.by, a.title)
        else:
            if a.run is None:
                r = db.execute("SELECT MAX(run_id) FROM events").fetchone()
                if not r or r[0] is None:
                    raise InputError(f"{a.db}: no run has events (run with "
                                     "--set output.events=true)")
                run_ids = [r[0]]
            else:
                try:
                    run_ids = [int(t) for t in a.run.split(",") if t.strip()]
                except ValueError:
                    run_ids = []
                if not run_ids:
                    raise InputError(f"--run {a.run}: expected a run id or "
                                     "ids like 1,2,3")
            paths = plot_timelines(db, run_ids, a.out, a.until, a.title)
    except InputError as e:
        print(f"dtsim_plot: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"dtsim_plot: {e}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
