"""The benchmark report's plots, as PNG files. Plain data in, a file out; no Django.

matplotlib is imported on first use and drawn on the Agg canvas (no display, no pyplot
global state), so plots can be made from a command or a worker.
"""

import numpy as np

DPI = 110
HUMAN_COLOUR = "#d95f02"
MACHINE_COLOUR = "#1b9e77"
REFERENCE_COLOUR = "#9e9e9e"
MACHINE_COLOURS = ["#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4", "#666666"]


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, format="png")


def bars_with_ci(path, labels, values, cis, *, xlabel, title, human=(), xmax=None):
    """One horizontal bar per method with its 95% interval as a whisker and its value written
    above the bar's end (at the value, not at the interval's end); methods named in `human` are
    drawn in the human colour."""
    fig = _figure(7, 0.55 * len(labels) + 1.4)
    ax = fig.add_subplot()
    y = np.arange(len(labels))[::-1]
    values = np.array(values, dtype=np.float64)
    low = np.array([v - c[0] if c else 0.0 for v, c in zip(values, cis, strict=True)])
    high = np.array([c[1] - v if c else 0.0 for v, c in zip(values, cis, strict=True)])
    colours = [HUMAN_COLOUR if label in human else MACHINE_COLOUR for label in labels]
    ax.barh(y, values, height=0.55, color=colours, xerr=[low, high], capsize=4, error_kw={"elinewidth": 1.2})
    ax.set_yticks(y, labels)
    right = xmax or max(1.0, float(np.max(values + high)) * 1.15)
    ax.set_xlim(0, right)
    for yi, v in zip(y, values, strict=True):
        ax.text(v, yi + 0.3, f"{v:.1f}", ha="center", va="bottom", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def grouped_bars(path, categories, series, *, ylabel, title, ymax=None, human=(), reference=()):
    """Bars per category (e.g. city), one bar per series (e.g. method) side by side, each
    with its value on top when there are few enough to read; series named in `human` are
    drawn in the human colour, those in `reference` in grey."""
    fig = _figure(max(7.5, 0.25 * len(categories) * (len(series) + 1) + 3.5), 4.4)
    ax = fig.add_subplot()
    x = np.arange(len(categories))
    width = 0.8 / max(1, len(series))
    colours = _series_colours(series, human, reference)
    label_bars = len(categories) * len(series) <= 48
    for k, (name, values) in enumerate(series.items()):
        values = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        bars = ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=name, color=colours[name])
        if label_bars:
            ax.bar_label(bars, labels=["" if np.isnan(v) else f"{v:.0f}" for v in values], fontsize=7)
    ax.set_xticks(x, categories, rotation=30, ha="right")
    if ymax is not None:
        ax.set_ylim(0, ymax)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never over a bar
    _save(fig, path)


def confusion_heatmap(path, rows, columns, counts, *, title):
    """True city down, answered city across; every cell holds its count (seed 003's S1-S8 in
    one picture: a row is where that city's locations were placed). The colour is the cell's share
    of its row, on one 0-100 % scale for every method, so heatmaps of methods with different
    numbers of answers compare."""
    counts = np.array(counts, dtype=np.float64).reshape(len(rows), len(columns))
    shares = 100.0 * counts / np.maximum(1.0, counts.sum(axis=1, keepdims=True))
    fig = _figure(0.7 * len(columns) + 3, 0.55 * len(rows) + 2.2)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(np.arange(len(columns)), columns, rotation=35, ha="right")
    ax.set_yticks(np.arange(len(rows)), rows)
    for i in range(len(rows)):
        for j in range(len(columns)):
            dark = shares[i, j] > 60
            ax.text(j, i, f"{counts[i, j]:.0f}", ha="center", va="center", color="white" if dark else "black")
    ax.set_xlabel("answered")
    ax.set_ylabel("true city")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="% of the true city's answers")
    _save(fig, path)


def distance_cdf(path, series, thresholds, *, title, human=()):
    """Share of answers within each distance (log scale), one line per method; the report's
    thresholds are marked. NaN distances (no answer) count as never within."""
    fig = _figure(7, 4.2)
    ax = fig.add_subplot()
    finite = np.concatenate([np.asarray(km, dtype=np.float64) for km in series.values()])
    finite = finite[np.isfinite(finite)]
    lo = max(0.01, float(finite.min()) / 2) if len(finite) else 0.01
    hi = max(thresholds[-1] * 2, float(finite.max()) * 1.2) if len(finite) else thresholds[-1] * 2
    grid = np.geomspace(lo, hi, 400)
    colours = _series_colours(series, human, ())
    for name, km in series.items():
        km = np.asarray(km, dtype=np.float64)
        share = [100.0 * np.mean(km <= d) for d in grid]
        ax.plot(grid, share, label=name, color=colours[name], linewidth=2)
    for t in thresholds:
        ax.axvline(t, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.set_xlabel("distance from the true location, km (log scale)")
    ax.set_ylabel("% of answers within")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)


def _series_colours(names, human, reference):
    machine = iter(MACHINE_COLOURS * (1 + len(names) // len(MACHINE_COLOURS)))
    return {
        name: HUMAN_COLOUR if name in human else REFERENCE_COLOUR if name in reference else next(machine)
        for name in names
    }
