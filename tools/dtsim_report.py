#!/usr/bin/python3
"""dtsim_report.py: one self-contained HTML page from a results database.

  tools/dtsim_report.py DB --html report.html [--run ID]
  (or: dtsim report DB --html report.html)

The page holds the table of runs, a table of experiments (runs that differ
only in their seed, with the mean and spread of their final accuracy), test
accuracy against simulated time, bytes and rounds, and the timeline of one
run that recorded events (the last one, or --run ID). Charts are inline SVG
drawn by dtsim_plot.py, so the page needs no network and no other file. A few
lines of script mark the page once the browser has laid the charts out
(body data-charts, data-errors), which is what the browser test reads.
"""

import argparse
import html
import io
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dtsim_plot as dp  # noqa: E402

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       margin: 2em auto; max-width: 1280px; padding: 0 1.5em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.1em; }
h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f6f6f6; position: sticky; top: 0; }
td.l, th.l { text-align: left; }
tr:hover td { background: #f4f8fc; }
.scroll { max-height: 24em; overflow: auto; border: 1px solid #eee; }
.chart svg { max-width: 100%; height: auto; }
.status-diverged { color: #b35900; } .status-failed { color: #b00020; }
.note { color: #666; font-size: 0.92em; }
"""

# Marks the page for the browser test and for anyone reading the console:
# how many charts have a laid-out size, and whether any script error fired.
SCRIPT = """
(function () {
  var errors = 0;
  window.addEventListener('error', function () {
    errors++; document.body.dataset.errors = errors;
  });
  window.addEventListener('load', function () {
    var n = 0;
    document.querySelectorAll('.chart svg').forEach(function (s) {
      var r = s.getBoundingClientRect();
      if (r.width > 50 && r.height > 50) n++;
    });
    document.body.dataset.charts = n;
    document.body.dataset.errors = errors;
  });
})();
"""


def svg_of(fig):
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    dp.plt.close(fig)
    text = buf.getvalue()
    # Inline SVG: drop the XML prologue and DOCTYPE, keep the <svg> element.
    return text[text.index("<svg"):]


def fmt(v, spec):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float) and abs(v) < 1e-12:
        v = 0.0  # rounding residue of sums of times, not a real duration
    return format(v, spec)


def runs_table(db):
    rows = db.execute(
        "SELECT run_id, name, algorithm, seed, status, final_accuracy, steps,"
        " sim_seconds, total_bytes, wall_seconds, started_at FROM runs "
        "ORDER BY run_id").fetchall()
    out = ['<div class="scroll"><table><tr><th>run</th><th class="l">name'
           '</th><th class="l">algorithm</th><th>seed</th><th class="l">status'
           '</th><th>final accuracy</th><th>rounds</th><th>simulated s</th>'
           '<th>bytes sent</th><th>wall s</th><th class="l">started (UTC)'
           '</th></tr>']
    for r in rows:
        (rid, name, alg, seed, status, acc, steps, sim, total, wall,
         started) = r
        out.append(
            f'<tr><td>{rid}</td><td class="l">{html.escape(str(name))}</td>'
            f'<td class="l">{html.escape(str(alg))}</td><td>{seed}</td>'
            f'<td class="l status-{html.escape(str(status))}">'
            f'{html.escape(str(status))}</td><td>{fmt(acc, ".4f")}</td>'
            f'<td>{fmt(steps, "d")}</td><td>{fmt(sim, ".4g")}</td>'
            f'<td>{fmt(total, ",d")}</td><td>{fmt(wall, ".3f")}</td>'
            f'<td class="l">{html.escape(str(started or ""))}</td></tr>')
    out.append("</table></div>")
    return "\n".join(out), len(rows)


def experiments_table(groups):
    out = ['<table><tr><th class="l">experiment</th><th>runs</th>'
           '<th>mean accuracy</th><th>sd</th><th>min</th><th>max</th>'
           '<th>simulated s</th><th>bytes sent</th></tr>']
    for label, rs in groups:
        accs = [r["final_accuracy"] for r in rs
                if r["final_accuracy"] is not None]
        n = len(accs)
        mean = sum(accs) / n if n else None
        sd = (math.sqrt(sum((a - mean) ** 2 for a in accs) / (n - 1))
              if n > 1 else None)
        sim = sum(r["sim_seconds"] or 0 for r in rs) / len(rs)
        total = sum(r["total_bytes"] or 0 for r in rs) / len(rs)
        out.append(
            f'<tr><td class="l">{html.escape(label)}</td><td>{len(rs)}</td>'
            f'<td>{fmt(mean, ".4f")}</td><td>{fmt(sd, ".4f")}</td>'
            f'<td>{fmt(min(accs) if accs else None, ".4f")}</td>'
            f'<td>{fmt(max(accs) if accs else None, ".4f")}</td>'
            f'<td>{sim:.4g}</td><td>{total:,.0f}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


def workers_table(db, run):
    """Where each worker's time went in the timeline's run (whole run)."""
    rows = db.execute(
        "SELECT w.worker, w.compute_seconds, w.comm_seconds, w.idle_seconds,"
        " w.updates, w.bytes_sent, w.bytes_received, r.sim_seconds "
        "FROM workers w JOIN runs r USING (run_id) WHERE run_id = ? "
        "ORDER BY worker", (run,)).fetchall()
    if not rows:
        return ""
    out = ["<p class='note'>Each worker over the whole run: computing, its "
           "messages in transit, and the rest (waiting).</p>"
           '<table><tr><th class="l">worker</th><th>compute s</th>'
           "<th>comm s</th><th>idle s</th><th>computing</th><th>updates</th>"
           "<th>bytes sent</th><th>bytes received</th></tr>"]
    for wk, comp, comm, idle, upd, sent, recv, sim in rows:
        share = comp / sim if comp is not None and sim else None
        out.append(
            f'<tr><td class="l">worker{wk}</td><td>{fmt(comp, ".4g")}</td>'
            f'<td>{fmt(comm, ".4g")}</td><td>{fmt(idle, ".4g")}</td>'
            f'<td>{fmt(share * 100 if share is not None else None, ".1f")}%'
            f'</td><td>{fmt(upd, "d")}</td><td>{fmt(sent, ",d")}</td>'
            f'<td>{fmt(recv, ",d")}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


def build(db_path, run=None):
    db = dp.open_db(db_path)
    table, n_runs = runs_table(db)
    runs = dp.select_runs(db)
    parts = [f"<h1>dtsim report</h1><p class='sub'>"
             f"{html.escape(os.path.basename(db_path))}: {n_runs} runs, "
             f"{len(runs)} finished</p>"]
    if runs:
        groups = dp.group_runs(runs)
        parts.append("<h2>Experiments</h2><p class='note'>Runs that differ "
                     "only in their seed are one experiment.</p>")
        parts.append(experiments_table(groups))
        parts.append("<h2>Test accuracy</h2><p class='note'>Against simulated "
                     "time, bytes sent and rounds. With repeats: the mean over "
                     "seeds and a min-max band.</p>")
        fig = dp.plot_curves(db, runs, None)
        parts.append(f'<div class="chart" id="curves">{svg_of(fig)}</div>')
    if run is None:
        r = db.execute("SELECT MAX(run_id) FROM events").fetchone()
        run = r[0] if r else None
    parts.append("<h2>Timeline</h2>")
    if run is not None:
        tl = dp.load_timeline(db, run)
        # A long run's thousands of rounds are a grey blur: show the first
        # dozen or so rounds, where one can see who waits for whom.
        computes = sorted(t for t, _ in tl["bars"][tl["entities"][0]]
                          ["compute"])
        until = None
        if len(computes) > 15:
            until = computes[15]
        fig = dp.plot_timeline(db, run, None, until)
        shown = (f"the first {until:.4g} simulated seconds of {tl['end']:.4g}"
                 if until else "the whole run")
        parts.append(f"<p class='note'>Run {run}, {shown}: compute, send, "
                     "receive and idle per worker, and the server link's "
                     "utilisation. The full timeline: <code>dtsim run CONFIG "
                     "--trace out.json</code>, opened in Perfetto.</p>")
        parts.append(f'<div class="chart" id="timeline">{svg_of(fig)}</div>')
        parts.append(workers_table(db, run))
    else:
        parts.append("<p class='note'>No run recorded events; run one with "
                     "<code>--set output.events=true</code> to see its "
                     "timeline here.</p>")
    parts.append("<h2>Runs</h2>")
    parts.append(table)
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<title>dtsim report</title>"
            f"<style>{CSS}</style><script>{SCRIPT}</script></head><body>"
            + "\n".join(parts) + "</body></html>\n")


def main(argv=None):
    p = argparse.ArgumentParser(prog="dtsim report",
                                description="One self-contained HTML page "
                                "from a dtsim results database.")
    p.add_argument("db")
    p.add_argument("--html", required=True, help="output file")
    p.add_argument("--run", type=int, help="run whose timeline to show")
    a = p.parse_args(argv)
    try:
        page = build(a.db, a.run)
    except dp.InputError as e:
        print(f"dtsim: {e}", file=sys.stderr)
        return 2
    try:
        with open(a.html, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as e:
        print(f"dtsim: {a.html}: cannot write the report: {e.strerror}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
