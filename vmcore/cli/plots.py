"""The pictures ``vmcore compare`` draws with matplotlib (the optional ``vmcore[plot]``).

``--plot FILE``: grouped bars, one panel per metric, one group per scenario id, one bar
per policy combination (the median over seeds, the min-max as an error bar).
``--timeline FILE``: per scenario id, VRAM in use, GPU faults and migrations over
simulated time, one line per combination (the first seed's run). PNG or SVG, from the
suffix. Drawn without a display (the Agg backend), the same for the same rows.
"""

from __future__ import annotations

import io
import statistics
import textwrap
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vmcore.cli.compare import Row, label
from vmcore.cli.files import atomic_write
from vmcore.cli.options import UsageError
from vmcore.engine.monitor import TIMELINE_SERIES

FORMATS = (".png", ".svg")


def check_target(path: str, option: str) -> str:
    """The picture format of ``path`` (``png`` or ``svg``), or a usage error."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"{option} {path}: the file name must end in .png or .svg, not {suffix or 'nothing'!r}")
    return suffix[1:]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plots need matplotlib: pip install 'vmcore[plot]'") from None
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "vmcore"  # the same SVG for the same rows
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, plt: Any, path: str, fmt: str) -> None:
    buf = io.BytesIO()
    meta = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, bbox_inches="tight", metadata=meta)
    plt.close(fig)
    atomic_write(path, buf.getvalue())


def plot_bars(path: str, rows: Sequence[Row], metrics: Sequence[str]) -> None:
    fmt = check_target(path, "--plot")
    plt = _pyplot()
    ids = list(dict.fromkeys(r.scenario.id for r in rows))
    combos = list(dict.fromkeys(label(r.combo) for r in rows))
    fig, axes = plt.subplots(len(metrics), 1, figsize=(max(6, 0.9 * len(ids) * len(combos) + 2), 2.2 * len(metrics)),
                             squeeze=False, sharex=True)  # fmt: skip
    width = 0.8 / max(1, len(combos))
    for ax, m in zip(axes[:, 0], metrics, strict=True):
        for j, combo in enumerate(combos):
            xs, meds, lo, hi = [], [], [], []
            for i, sid in enumerate(ids):
                row = next((r for r in rows if r.scenario.id == sid and label(r.combo) == combo), None)
                v = row.values(m) if row else []
                if not v:
                    continue
                med = statistics.median(v)
                xs.append(i + (j - (len(combos) - 1) / 2) * width)
                meds.append(med)
                lo.append(med - min(v))
                hi.append(max(v) - med)
            ax.bar(xs, meds, width, yerr=[lo, hi], capsize=2, label=combo)
        ax.set_ylabel(m)
    axes[-1, 0].set_xticks(range(len(ids)))
    axes[-1, 0].set_xticklabels([textwrap.fill(s.split("::", 1)[-1], 28) for s in ids], fontsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, plt, path, fmt)


def plot_timeline(path: str, rows: Sequence[Row]) -> None:
    fmt = check_target(path, "--timeline")
    plt = _pyplot()
    ids = list(dict.fromkeys(r.scenario.id for r in rows))
    fig, axes = plt.subplots(len(TIMELINE_SERIES), len(ids), figsize=(5 * len(ids), 7), squeeze=False, sharex="col")
    for col, sid in enumerate(ids):
        for r in (r for r in rows if r.scenario.id == sid):
            raw = r.cells[0].timeline if r.cells else None
            if raw is None:
                continue
            samples = array("q")
            samples.frombytes(raw)
            for k, name in enumerate(TIMELINE_SERIES):
                t = [samples[i] / 1000 for i in range(0, len(samples), 3) if samples[i + 1] == k]
                scale = 1 << 20 if name == "vram_used" else 1
                v = [samples[i + 2] / scale for i in range(0, len(samples), 3) if samples[i + 1] == k]
                # every series starts at 0 when the run does
                axes[k, col].step([0.0, *t], [0.0, *v], where="post", label=label(r.combo))
        for k, name in enumerate(TIMELINE_SERIES):
            ax = axes[k, col]
            ax.set_ylabel({"vram_used": "VRAM in use (MiB)"}.get(name, name))
            if k == 0:
                ax.set_title(textwrap.fill(sid.split("::", 1)[-1], 48), fontsize=8)
            if k == len(TIMELINE_SERIES) - 1:
                ax.set_xlabel("simulated time (us)")
    axes[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _save(fig, plt, path, fmt)
