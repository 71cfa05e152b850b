"""The paper figure of every check: the ``figures=`` hooks of :mod:`numerics.checks` (report protocol in
:mod:`numerics.run.report`).

A hook ``hook(result, directory) -> [Path]`` draws from what the :class:`~numerics.verify.CheckResult`
stores — its rows (parsed from their quantity names), notes and parameters — or from a cheap recomputation of
a closed form (a density, a diffusion curve; well under a second); it never re-simulates. Every figure has its
axes labelled with the symbols of the paper, a legend, and the check's verdict in its title. A module whose name
starts with ``_``: the check registry does not import it as a check module.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np

__all__ = ["mode_sde", "stationary_density", "diffusion_peak", "law_of_balance", "covariance_parity",
           "exponents_vs_chi", "crossover", "network_phases", "noise_curvature", "gamma_grid", "rank_one_family",
           "least_squares_curvature", "ivfr", "ivfr_network"]

_FLOAT = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


# --------------------------------------------------------------------------- helpers
def _figure(ncols: int = 1, nrows: int = 1, width: float = 5.4, height: float = 4.2):
    from matplotlib.figure import Figure  # object API: no pyplot state, no display backend

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False).ravel()


def _save(fig, result, directory: Path, suffix: str, title: str) -> Path:
    width = int(fig.get_figwidth() * 11)  # characters of the title per line
    fig.suptitle(f"{result.check} — {result.verdict}\n" + textwrap.fill(title, width), fontsize=11)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in result.check)
    path = Path(directory) / f"{stem}.{suffix}.png"
    fig.savefig(path, dpi=110)
    return path


def _rows(result, pattern: str):
    """(match, row) for every row whose quantity matches ``pattern`` (re.fullmatch)."""
    return [(m, r) for r in result.rows if (m := re.fullmatch(pattern, r.quantity))]


def _err(values):
    a = np.asarray(values, dtype=float)
    return np.where(np.isfinite(a), a, 0.0)


# --------------------------------------------------------------------------- dln
def mode_sde(result, directory):
    """E u and Var u against t = ηk per depth L: SGD (points ± stderr) and the per-mode SDE ensemble (lines)."""
    fig, (ax_m, ax_v) = _figure(2)
    for ax, stat, label in ((ax_m, "E u", "E[u]"), (ax_v, "Var u", "Var[u]")):
        rows = _rows(result, rf"{stat} L=(\d+) t=({_FLOAT})")
        for depth in sorted({int(m[1]) for m, _ in rows}):
            sel = [(float(m[2]), r) for m, r in rows if int(m[1]) == depth]
            t = np.array([x for x, _ in sel])
            line, = ax.plot(t, [r.predicted for _, r in sel], "-", lw=1.2, label=f"L = {depth}: SDE (Itô)")
            ax.errorbar(t, [r.measured for _, r in sel], yerr=_err([r.stderr for _, r in sel]), fmt="o", ms=3.5,
                        capsize=2, color=line.get_color(), label=f"L = {depth}: SGD ± stderr")
        ax.set(xlabel="t = ηk", ylabel=label, title=f"{label} of the mode u = a^L")
    fig.legend(*ax_m.get_legend_handles_labels(), fontsize=7.5, ncol=4, loc="outside lower center", frameon=False)
    return [_save(fig, result, directory, "paper", "width-1 deep linear network: SGD vs the per-mode SDE")]


def stationary_density(result, directory):
    """p(u) for L = 1, 2 (the registered zero-flux density) with the mutant densities and the measured moments."""
    from numerics.models.deep_linear import ModeDensity

    p = result.params
    s, sigma = float(p["s"]), float(p["sigma"])
    fig, axes = _figure(2, 2, height=3.6)
    for col, (depth, T) in enumerate(zip((1, 2), p["temperatures"])):
        density = ModeDensity(depth, s, sigma, float(T), 1.0, n_grid=8001)
        mean, var = density.mean, density.variance
        grid = np.linspace(mean - 5.5 * np.sqrt(var), mean + 6.5 * np.sqrt(var), 600)
        curves = [(density.pdf(grid), "k-", 1.6, "zero-flux density (prediction)"),
                  (np.exp(-(grid - mean) ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var), "C1--", 1.1,
                   "mutant: moment-matched Gaussian"),
                  (ModeDensity(depth, s, sigma, 2 * float(T), 1.0, n_grid=8001).pdf(grid), "C4:", 1.1,
                   "mutant: density at 2T")]
        if depth > 1:
            curves.append((ModeDensity(depth, s, sigma, float(T), 1.0, ito=False, n_grid=8001).pdf(grid), "C2-.",
                           1.1, "mutant: without the Itô term"))
        moments = {m[1]: r for m, r in _rows(result, rf"(mean|variance|skewness|excess kurtosis) of u, L={depth} .*")}
        for row, ax in enumerate(axes[[col, col + 2]]):
            for y, style, lw, label in curves:
                ax.plot(grid, y, style, lw=lw, label=label)
            if "mean" in moments:
                m = moments["mean"]
                ax.axvline(m.measured, color="C0", lw=1, label=f"measured mean {m.measured:.4f} ± {m.stderr:.1g}")
            if "variance" in moments:
                m, v = moments.get("mean", None), moments["variance"]
                centre = m.measured if m else mean
                half = np.sqrt(max(v.measured, 0))
                level = density.pdf(np.array([mean]))[0] * np.exp(-0.5)
                ax.annotate("", (centre - half, level), (centre + half, level),
                            arrowprops=dict(arrowstyle="<->", color="C0", lw=1.2))
                ax.plot([], [], color="C0", lw=1.2, label=f"measured ± std (var {v.measured:.4g} ± {v.stderr:.1g})")
            if row == 1:
                ax.set_yscale("log")
                ax.set_ylim(density.pdf(grid).max() * 1e-4, density.pdf(grid).max() * 2)
            ax.set(xlabel="u", ylabel="p(u)" + (" (log)" if row else ""), title=f"L = {depth}, T = η/B = {T:g}")
        text = "\n".join(f"{k}: pred {r.predicted:.3f}, meas {r.measured:.3f} ± {r.stderr:.2g}"
                         for k, r in moments.items() if k in ("skewness", "excess kurtosis"))
        axes[col + 2].text(0.5, 0.03, text, transform=axes[col + 2].transAxes, fontsize=7.5, va="bottom",
                           ha="center", bbox=dict(fc="white", ec="0.8"))
        axes[col].legend(fontsize=6.5, loc="upper right", framealpha=0.9)
    return [_save(fig, result, directory, "paper", "stationary density of a mode, p(u) ∝ u^(−3(L−1)/L) Q(u)^(−1) "
                  "exp(−(B/η)∫V′/Q); moments of the SDE ensemble (dt → 0)")]


def diffusion_peak(result, directory):
    """Predicted D_u/(η/B) against u/s per depth (normalised to its peak; label-free, every mode on one curve),
    the measured binned ratio measured/predicted times the curve, the predicted and measured peaks u*/s, the
    u = s mutant and the 0.9 s bound."""
    peaks = _rows(result, rf"L=(\d+) s=({_FLOAT}) D_u u\*/s")
    depths = sorted({int(m[1]) for m, _ in peaks})
    binned = {}
    for note in result.notes:
        m = re.match(rf"L=(\d+) s=({_FLOAT}) D_u: .*?bins of u/s ({_FLOAT})\.\.({_FLOAT}): ((?:{_FLOAT} ?)+) "
                     rf"\(stderr <= ({_FLOAT})", note)
        if m:
            binned[(int(m[1]), float(m[2]))] = (float(m[3]), float(m[4]), np.array(m[5].split(), dtype=float),
                                                float(m[6]))
    fig, axes = _figure(len(depths), height=5.6)
    x = np.linspace(1e-3, 1, 400)
    judged = any(r.rule == "agree" for _, r in peaks)
    for ax, depth in zip(axes, depths):
        curve = depth ** 2 * x ** (4 - 4 / depth) * 2 * (1 - x) ** 2  # L² u^(4−4/L) Q(u), σ = 0, s = 1
        top = curve.max()
        ax.plot(x, curve / top, "k-", lw=1.5, label="predicted D_u/(η/B) (normalised)")
        rows = [(float(m[2]), r) for m, r in peaks if int(m[1]) == depth]
        u_star = rows[0][1].predicted if rows else np.nan
        ax.axvline(u_star, color="k", ls=":", lw=1, label=f"predicted peak u*/s = {u_star:.3f}")
        for i, (s_k, r) in enumerate(rows):
            colour = f"C{i}"
            if (depth, s_k) in binned:
                lo, hi, ratio, bound = binned[(depth, s_k)]
                edges = np.linspace(lo, hi, ratio.size + 1)
                centres = (edges[:-1] + edges[1:]) / 2
                pred = depth ** 2 * centres ** (4 - 4 / depth) * 2 * (1 - centres) ** 2 / top
                ax.errorbar(centres, ratio * pred, yerr=bound * pred, fmt="s", ms=3, color=colour, alpha=0.55,
                            capsize=1.5, label=f"s = {s_k:g}: binned D_u (bar: largest stderr)")
            ax.errorbar([r.measured], [1.04 + 0.05 * i], xerr=[_err([r.stderr])[0]], fmt="o", color=colour, capsize=3,
                        label=f"s = {s_k:g}: peak {r.measured:.3f} ± {r.stderr:.3f}")
        per_layer = (2 - 2 / depth) / (2 - 2 / depth + 2)
        ax.axvline(per_layer, color="C3", ls="-.", lw=0.9, label=f"mutant: per-layer D_a peak, {per_layer:.3f}")
        ax.axvline(1.0, color="C3", ls="--", lw=0.9, label="mutant: peak at u = s")
        ax.axvspan(0.9, 1.0, color="0.85", zorder=0, label="criterion: peaks below 0.9 s (grey excluded)")
        ax.set(xlabel="u/s", ylabel="D_u / max D_u", title=f"L = {depth}", xlim=(0, 1.02), ylim=(0, 1.25))
        ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    note = "" if judged else " (from small random initialisation: the peak rows are reported, not judged)"
    return [_save(fig, result, directory, "paper", "end-to-end gradient variance along a mode, "
                  "D_u = (η/B) L² u^(4−4/L) Q(u)" + note)]


def law_of_balance(result, directory):
    """The drift of D = w1² − w2² per step against η (exact discrete prediction, measured) and the measured /
    Itô-increment ratio against η with its η → 0 extrapolation (prediction 1)."""
    fig, (ax_d, ax_r) = _figure(2)
    rows = _rows(result, rf"dD exact eta=({_FLOAT}) B=(\d+)")
    for i, B in enumerate(sorted({int(m[2]) for m, _ in rows})):
        sel = sorted((float(m[1]), r) for m, r in rows if int(m[2]) == B)
        eta = np.array([e for e, _ in sel])
        ax_d.plot(eta, [-r.predicted for _, r in sel], "-", color=f"C{i}", label=f"B = {B}: exact discrete (prediction)")
        ax_d.errorbar(eta, [-r.measured for _, r in sel], yerr=_err([r.stderr for _, r in sel]), fmt="o",
                      color=f"C{i}", capsize=2, label=f"B = {B}: SGD ± stderr")
    ax_d.set(xscale="log", yscale="log", xlabel="η", ylabel="−E[ΔD] per step", title="drift of D = w1² − w2²")
    ax_d.legend(fontsize=7)
    ratios = {}
    for note in result.notes:
        for part in re.findall(r"B=(\d+): ((?:" + _FLOAT + r": " + _FLOAT + r" ± " + _FLOAT + r",? ?)+)", note):
            ratios[int(part[0])] = np.array(re.findall(rf"({_FLOAT}): ({_FLOAT}) ± ({_FLOAT})", part[1]), dtype=float)
    limit = {int(m[1]): r for m, r in _rows(result, r"Ito ratio eta->0 B=(\d+)")}
    for i, B in enumerate(sorted(set(ratios) | set(limit))):
        if B in ratios:
            a = ratios[B]
            ax_r.errorbar(a[:, 0], a[:, 1], yerr=a[:, 2], fmt="o-", color=f"C{i}", ms=3.5, capsize=2,
                          label=f"B = {B}: measured / Itô increment")
        if B in limit:
            r = limit[B]
            ax_r.errorbar([0.002 * i], [r.measured], yerr=[_err([r.stderr])[0]], fmt="D", color=f"C{i}", capsize=3,
                          label=f"B = {B}: η → 0 limit {r.measured:.3f} ± {r.stderr:.3f}")
    ax_r.axhline(1.0, color="k", lw=1, label="prediction: the Itô term −η²κVΔ (ratio 1)")
    ax_r.axhline(0.0, color="C3", ls="--", lw=1, label="mutant: D conserved (gradient flow)")
    ax_r.set(xlabel="η", ylabel="E[ΔD] / (−η²κVΔ)", title="law of balance: ratio to the Itô increment")
    ax_r.legend(fontsize=7)
    return [_save(fig, result, directory, "paper", "two-layer scalar network: the noise breaks the conservation of "
                  "w1² − w2²")]


# --------------------------------------------------------------------------- covariances
_ENTRY = re.compile(r"^(?P<group>.*?)\s*(?P<matrix>[A-Za-z]+)\[(?P<i>\d+),(?P<j>\d+)\](?P<rest>.*)$")


def covariance_parity(result, directory):
    """Measured vs predicted matrix entries with error bars on the 1:1 line, one colour per group (the text
    before the entry), diagonal entries filled; right: the residual measured − predicted ± stderr."""
    groups: dict[str, list] = {}
    for r in result.rows:
        m = _ENTRY.match(r.quantity)
        key = ((m["group"] + ": " + m["matrix"] + m["rest"]).strip(": ") if m else r.quantity.rsplit(" ", 1)[0])
        key = key.replace("eta->0", "η → 0").replace("/eta", "/η")
        groups.setdefault(key, []).append((m is not None and m["i"] == m["j"], r))
    fig, (ax, ax_res) = _figure(2, height=4.8)
    values = []
    for i, (key, rows) in enumerate(groups.items()):
        scale = max(abs(r.predicted) for _, r in rows) or 1.0
        for diagonal in (True, False):
            sel = [r for d, r in rows if d == diagonal]
            if not sel:
                continue
            pred = np.array([r.predicted for r in sel])
            meas = np.array([r.measured for r in sel])
            err = _err([r.stderr for r in sel])
            values += [*pred, *meas]
            style = dict(fmt="o" if diagonal else "^", ms=4, capsize=1.5, color=f"C{i % 10}",
                         mfc=f"C{i % 10}" if diagonal else "none")
            label = f"{key} ({'diagonal' if diagonal else 'off-diagonal'})"
            ax.errorbar(pred, meas, yerr=err, label=label, **style)
            ax_res.errorbar(pred / scale, (meas - pred) / scale, yerr=err / scale, **style)
    if values:
        lo, hi = np.nanmin(values), np.nanmax(values)
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
    ax_res.axhline(0, color="k", lw=1, ls="--")
    ax.set(xlabel="predicted entry", ylabel="measured entry ± stderr", title="entries on the 1:1 line")
    ax_res.set(xlabel="predicted entry / max |predicted| of its group",
               ylabel="(measured − predicted) / max |predicted| ± stderr", title="residuals, per group's scale")
    for a in (ax, ax_res):
        a.ticklabel_format(style="sci", scilimits=(-2, 3))
    ax.legend(fontsize=6.5, ncol=1 + len(groups) // 6)
    return [_save(fig, result, directory, "paper", "stationary second moments: measured vs predicted entries")]


# --------------------------------------------------------------------------- perceptron
_FAMILY = re.compile(rf"^(?P<family>.*?),?\s*chi=(?P<chi>{_FLOAT})$")


def _exponent_families(result):
    families: dict[str, list] = {}
    for r in result.rows:
        m = _FAMILY.match(r.quantity)
        if m:
            families.setdefault(m["family"], []).append((float(m["chi"]), r))
    return families


def _draw_exponents(ax, result):
    chi = np.linspace(0, max([3.0] + [c for rows in _exponent_families(result).values() for c, _ in rows]), 200)
    for i, (family, rows) in enumerate(_exponent_families(result).items()):
        c = np.array([x for x, _ in rows])
        pred = np.array([r.predicted for _, r in rows])
        colour = f"C{i}"
        if np.allclose(pred, 1 / (1 + c)):
            ax.plot(chi, 1 / (1 + chi), "-", color=colour, lw=1.3, label=f"{family}: derived 1/(1+χ)")
            ax.plot(chi, 1 / (1 + 2 * chi), ":", color=colour, lw=1, label="mutant: neighbouring 1/(1+2χ)")
        else:
            ax.plot(c, pred, "-", color=colour, lw=1.3, label=f"{family}: derived")
        ax.errorbar(c + 0.04 * i, [r.measured for _, r in rows], yerr=_err([r.stderr for _, r in rows]), fmt="o",
                    color=colour, capsize=3, label=f"{family}: measured ± stderr")
    ax.axhline(1.0, color="0.5", ls="--", lw=0.8, label="mutant: χ-independent (Gaussian value)")
    ax.set(xlabel="χ (data density exponent near the boundary)", ylabel="exponent", title="exponents against χ")
    ax.legend(fontsize=6.5)


def exponents_vs_chi(result, directory):
    """Measured exponents against χ with the derived curve 1/(1+χ), the neighbouring mutant 1/(1+2χ) and
    error bars; rows without χ (e.g. the T-exponent) in a second panel."""
    others = [r for r in result.rows if not _FAMILY.match(r.quantity)]
    fig, axes = _figure(2 if others else 1, width=6.0 if others else 6.4)
    _draw_exponents(axes[0], result)
    if others:
        ax = axes[1]
        x = np.arange(len(others))
        ax.errorbar(x, [r.measured for r in others], yerr=_err([r.stderr for r in others]), fmt="o", capsize=3,
                    label="measured ± stderr")
        ax.plot(x, [r.predicted for r in others], "k_", ms=20, mew=2, label="derived")
        ax.set_xticks(x, [r.quantity for r in others], fontsize=8)
        ax.set(ylabel="exponent", title="other exponents", xlim=(-0.8, len(others) - 0.2))
        ax.legend(fontsize=7)
    return [_save(fig, result, directory, "exponents", "perceptron: scaling exponents against the data exponent χ")]


def crossover(result, directory):
    """The crossover (B* or T_c) against P on log–log axes per χ, from the notes, with the measured power law and
    the derived slope through the same geometric mean; and the exponents against χ."""
    sizes = np.asarray(result.params.get("sizes", []), dtype=float)
    fig, (ax, ax_e) = _figure(2, width=6.0)
    for i, note in enumerate(n for n in result.notes if re.match(rf"chi={_FLOAT}: (B\*|T_c) = ", n)):
        m = re.match(rf"chi=({_FLOAT}): (B\*|T_c) = ((?:{_FLOAT}, )+{_FLOAT});", note)
        if not m or sizes.size == 0:
            continue
        chi, symbol, values = float(m[1]), m[2], np.array(m[3].split(", "), dtype=float)
        P = sizes[:values.size]
        ax.plot(P, values, "o", color=f"C{i}", label=f"χ = {chi:g}: measured {symbol}")
        slope, intercept = np.polyfit(np.log(P), np.log(values), 1)
        ax.plot(P, np.exp(intercept) * P ** slope, "-", color=f"C{i}", lw=1, label=f"fit: slope {slope:+.3f}")
        derived = (1 if symbol == "B*" else -1) / (1 + chi)
        centre = np.exp(np.mean(np.log(values))) * (P / np.exp(np.mean(np.log(P)))) ** derived
        ax.plot(P, centre, ":", color=f"C{i}", lw=1.2, label=f"derived slope {derived:+.3f}")
        ax.set(ylabel=f"{symbol}")
    ax.set(xscale="log", yscale="log", xlabel="P (training set size)", title="crossover against P")
    if sizes.size:
        ax.set_xticks(sizes, [f"{p:g}" for p in sizes])
        ax.xaxis.set_minor_locator(__import__("matplotlib.ticker").ticker.NullLocator())
    ax.legend(fontsize=6.5)
    _draw_exponents(ax_e, result)
    return [_save(fig, result, directory, "paper", "perceptron: the crossover between the noise-dominated and the "
                  "large-first-step regimes")]


def _log_edges(values):
    """Cell edges on a log axis for cells centred on ``values``."""
    lv = np.log(np.asarray(values, dtype=float))
    mid = (lv[1:] + lv[:-1]) / 2
    return np.exp(np.concatenate([[2 * lv[0] - mid[0]], mid, [2 * lv[-1] - mid[-1]]]))


def _level_crossing(x, y, level):
    """The first x where y crosses ``level`` upwards, log–log interpolated between neighbouring finite points."""
    for (x1, y1), (x2, y2) in zip(zip(x, y), zip(x[1:], y[1:])):
        if np.isfinite(y1) and np.isfinite(y2) and y1 < level <= y2:
            return float(np.exp(np.log(x1) + np.log(level / y1) * np.log(x2 / x1) / np.log(y2 / y1)))
    return float("nan")


def network_phases(result, directory):
    """The (α, T) phase diagram of the network as two heat maps — log₁₀ of the relative weight change and the
    test error, cells where some network was not trained left blank — with the line where the change reaches the T_c
    criterion in every α row; and T_c against P on log–log axes with the fitted power law and, beside it, the
    perceptron's derived slopes (the check's mutants: no prediction for the network). From the notes."""
    cells = {}
    for note in result.notes:
        m = re.match(rf"phase alpha=({_FLOAT}) T=({_FLOAT}): relative change (\S+) ± \S+, test error (\S+) ± .*"
                     r"trained (\d+)/(\d+)", note)
        if m:  # a cell counts where every network trained (a mean over the few that did is a selection)
            cells[float(m[1]), float(m[2])] = (float(m[3]), float(m[4])) if m[5] == m[6] else (np.nan, np.nan)
    alphas, temps = sorted({a for a, _ in cells}), sorted({T for _, T in cells})
    change, error = (np.array([[cells.get((a, T), (np.nan, np.nan))[k] for T in temps] for a in alphas])
                     for k in (0, 1))
    tc = next((n for n in result.notes if n.startswith("T_c(P) where")), "")
    level = float(re.search(rf"= ({_FLOAT}), alpha", tc)[1]) if tc else float(result.params.get("target", 1.0))
    m = re.search(rf"P = ((?:\d+, )*\d+); T_c = ((?:{_FLOAT}, )*{_FLOAT}); log stderr = ((?:{_FLOAT}, )*{_FLOAT})", tc)
    P, T_c, err = (np.array(g.split(", "), dtype=float) for g in m.groups()) if m else (np.array([]),) * 3
    alpha_c = float(re.search(rf"alpha = ({_FLOAT}):", tc)[1]) if m else np.nan
    here = T_c[P == result.params.get("n_train")]
    fig, axes = _figure(3, width=4.8)
    for ax, values, label in ((axes[0], np.log10(change), "log10 ||w - w0|| / ||w0||"),
                              (axes[1], error, "test error")):
        if not alphas:
            continue
        ax.set_facecolor("0.85")  # blank cells: some network not trained (step cap or divergence)
        im = ax.pcolormesh(_log_edges(temps), _log_edges(alphas), np.ma.masked_invalid(values), cmap="viridis")
        fig.colorbar(im, ax=ax, label=label)
        line = [(_level_crossing(temps, row, level), a) for a, row in zip(alphas, change)]
        line = [(T, a) for T, a in line if np.isfinite(T)]
        if line:
            ax.plot(*zip(*line), "w--o", ms=3, lw=1.2, label=f"change = {level:g} (T_c criterion)")
        if here.size:
            ax.plot(here, [alpha_c] * here.size, "r*", ms=9, label=f"T_c at α = {alpha_c:g} (crossover search)")
        if line or here.size:
            ax.legend(loc="lower left", fontsize=6.5)
        ax.set(xscale="log", yscale="log", xlabel="T = η/B", ylabel="α (lazy ≫ 1, feature learning ≪ 1)",
               title=f"{label}, P = {result.params.get('n_train')}")
    ax = axes[2]
    if m:
        ax.errorbar(P, T_c, yerr=[T_c * (1 - np.exp(-err)), T_c * (np.exp(err) - 1)], fmt="o", capsize=3,
                    label="measured T_c ± stderr")
        centre = np.exp(np.mean(np.log(P))), np.exp(np.mean(np.log(T_c)))
        row = next((r for r in result.rows if r.quantity.startswith("T_c exponent")), None)
        if row is not None:
            ax.plot(P, centre[1] * (P / centre[0]) ** -row.measured, "C0-", lw=1,
                    label=f"fit: a = {row.measured:.3f} ± {row.stderr:.3f}")
        for chi, style in ((0.0, ":"), (1.0, "-.")):
            ax.plot(P, centre[1] * (P / centre[0]) ** (-1 / (1 + chi)), "k" + style, lw=1,
                    label=f"perceptron, derived a = 1/(1+χ), χ = {chi:g} (a mutant here)")
    ax.set(xscale="log", yscale="log", xlabel="P (training set size)", ylabel="T_c", title="T_c against P")
    if m:
        from matplotlib.ticker import NullLocator

        ax.set_xticks(P, [f"{p:g}" for p in P])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.legend(fontsize=6.5)
    return [_save(fig, result, directory, "paper", "ReLU MLP on digits parity: the (α, T) phase diagram and the "
                  "crossover temperature T_c(P)")]


# --------------------------------------------------------------------------- curvature
def noise_curvature(result, directory):
    """γ per loss: γ_C (noise covariance vs curvature) and γ of E[h²], with the paper's band [1, 2], the C ∝ H
    mutant (γ = 1); from the notes, where every loss (the judged ones and the reported mse) is stated."""
    stats = []
    for note in result.notes:
        m = re.match(rf"(\w+) \((.*?)\): gamma_C = ({_FLOAT}) ± ({_FLOAT}), gamma_Eh2 = ({_FLOAT}) ± ({_FLOAT})", note)
        if m:
            stats.append((m[1], m[2].startswith("judged"), *map(float, m.group(3, 4, 5, 6))))
    if not stats:  # fall back to the rows
        for m, r in _rows(result, r"gamma_C (\w+) \(C ∝ E\[h\^2\]\)"):
            stats.append((m[1], True, r.measured, r.stderr, r.predicted, 0.0))
    fig, (ax,) = _figure(1, width=7.0)
    x = np.arange(len(stats))
    ax.axhspan(1, 2, color="#d5efd5", zorder=0, label="the paper's band 1 ≤ γ ≤ 2")
    ax.errorbar(x - 0.08, [s[2] for s in stats], yerr=[s[3] for s in stats], fmt="o", capsize=3,
                label="γ_C: C against H (measured)")
    ax.errorbar(x + 0.08, [s[4] for s in stats], yerr=[s[5] for s in stats], fmt="s", capsize=3,
                label="γ of E[h²] (the prediction for γ_C)")
    ax.axhline(1.0, color="C3", ls="--", lw=1, label="mutant: C ∝ H (γ = 1)")
    ax.axhline(2.0, color="C4", ls=":", lw=1, label="mutant: C ∝ H² (γ = 2)")
    ax.set_xticks(x, [s[0] + ("" if s[1] else "\n(reported, not judged)") for s in stats])
    ax.set(ylabel="γ  (C_ii ∝ H_ii^γ in the Hessian eigenbasis)", xlabel="loss", title="γ per loss",
           xlim=(-0.6, len(stats) - 0.4), ylim=(0.8, 2.2))
    ax.legend(fontsize=7)
    return [_save(fig, result, directory, "paper", "noise covariance vs curvature of a trained MLP")]


def gamma_grid(result, directory):
    """γ per cell as a grid: one panel per data set, the losses along x, one marker per architecture (hollow where
    the cell is not judged), the 95 % Student-t interval across trainings (n_seeds − 1 dof), the band 1 ≤ γ ≤ 2 and
    its ends, the mutants."""
    from scipy import stats as sp_stats

    cells = [(m[1], m[2], m[3], r) for m, r in _rows(result, r"gamma_C (\w+) (\w+) (\w+) in .*")]
    losses, archs, sets = ([c[k] for c in cells] for k in range(3))
    losses, archs, sets = (list(dict.fromkeys(v)) for v in (losses, archs, sets))
    t = sp_stats.t.ppf(0.975, result.params["n_seeds"] - 1)
    fig, axes = _figure(len(sets), width=4.6)
    for ax, dataset in zip(axes, sets):
        ax.axhspan(1, 2, color="#d5efd5", zorder=0, label="the claim 1 ≤ γ ≤ 2")
        ax.axhline(1.0, color="C3", ls="--", lw=1, label="mutant: C ∝ H (γ = 1)")
        ax.axhline(2.0, color="C4", ls=":", lw=1, label="mutant: C ∝ H² (γ = 2)")
        for j, arch in enumerate(archs):
            sel = [(losses.index(c[0]), c[3]) for c in cells if c[1] == arch and c[2] == dataset]
            offset = 0.12 * (j - (len(archs) - 1) / 2)
            for k, (x, r) in enumerate(sel):  # hollow: a cell reported, not judged (untrained, or beside the claim)
                ax.errorbar([x + offset], [r.measured], yerr=t * _err([r.stderr]), fmt="os^D"[j % 4], capsize=3,
                            color=f"C{j}", mfc="none" if r.rule in ("unmet", "beside") else f"C{j}",
                            label=arch if k == 0 else None)
        ax.set_xticks(range(len(losses)), losses)
        ax.set(xlabel="loss", ylabel="γ  (C_ii ∝ H_ii^γ, layer W₂)", title=dataset, xlim=(-0.5, len(losses) - 0.5))
    axes[0].legend(fontsize=7)
    return [_save(fig, result, directory, "paper", "γ per loss × architecture × data set, 95 % intervals across "
                  "independently trained networks; hollow: not judged (untrained, or beside the claim)")]


def rank_one_family(result, directory):
    """γ against q: the derived (1 + 2q)/(1 + q), measured points ± stderr, the mutants γ = 1 and γ = 2."""
    rows = [(float(m[1]), r) for m, r in _rows(result, rf"gamma\(q=({_FLOAT})\)")]
    q = np.linspace(0, max([4.0] + [x for x, _ in rows]), 200)
    fig, (ax,) = _figure(1, width=6.4)
    ax.plot(q, (1 + 2 * q) / (1 + q), "k-", label="derived γ = (1 + 2q)/(1 + q)")
    ax.axhline(1, color="C3", ls="--", lw=1, label="mutant: C ∝ H (γ = 1)")
    ax.axhline(2, color="C4", ls=":", lw=1, label="mutant: γ = 2 (the upper bound)")
    ax.errorbar([x for x, _ in rows], [r.measured for _, r in rows], yerr=_err([r.stderr for _, r in rows]), fmt="o",
                capsize=3, label="measured ± stderr")
    ax.set(xlabel="q (power of the curvature in the dual weights)", ylabel="γ", title="γ against q")
    ax.legend(fontsize=7)
    return [_save(fig, result, directory, "paper", "rank-one family: the exponent between noise and curvature")]


def least_squares_curvature(result, directory):
    """C_ii (measured ± stderr) against the predicted σ_w² S_i on log–log axes, and γ with its bounds."""
    rows = [r for _, r in _rows(result, r"C_ii \(i=\d+\)")]
    fig, (ax, ax_g) = _figure(2)
    pred = np.array([r.predicted for r in rows])
    ax.errorbar(pred, [r.measured for r in rows], yerr=_err([r.stderr for r in rows]), fmt="o", ms=4, capsize=2,
                label="measured C_ii ± stderr")
    if pred.size:
        ax.plot([pred.min(), pred.max()], [pred.min(), pred.max()], "k--", lw=1, label="C_ii = σ_w² S_i (prediction)")
    ax.set(xscale="log", yscale="log", xlabel="predicted σ_w² S_i", ylabel="measured C_ii",
           title="noise covariance in the Hessian eigenbasis")
    ax.legend(fontsize=7)
    gamma = [r for _, r in _rows(result, r"gamma")]
    for r in gamma:
        ax_g.errorbar([0], [r.measured], yerr=[_err([r.stderr])[0]], fmt="o", capsize=4, label="measured γ of C")
        ax_g.plot([0], [r.predicted], "k_", ms=30, mew=2, label=f"predicted γ = {r.predicted:.3f}")
    ax_g.axhline(1, color="C3", ls="--", lw=1, label="mutant: C ∝ H (γ = 1)")
    ax_g.axhline(2, color="C4", ls=":", lw=1, label="mutant: γ = 2 (upper bound)")
    ax_g.set(xlim=(-1, 1), xticks=[], ylabel="γ", title="slope of log C_ii on log H_ii")
    ax_g.legend(fontsize=7)
    return [_save(fig, result, directory, "paper", "least squares: C against H")]


# --------------------------------------------------------------------------- fluctuations
def ivfr(result, directory):
    """σ²/η against the flatness F on log–log axes per output mode k: the closed form (a curve parametrised by
    the first layer's singular value s), the measured directions ± stderr in both, the ψ chords between
    directions of one mode with their measured ψ; right: the single-layer control."""
    var = {(int(m[1]), int(m[2])): r for m, r in _rows(result, r"sigma\^2/eta \(k=(\d+),m=(\d+)\)")}
    flat = {(int(m[1]), int(m[2])): r for m, r in _rows(result, r"F \(k=(\d+),m=(\d+)\)")}
    chords = [(int(m[1]), int(m[2]), int(m[3]), r) for m, r in _rows(result, r"psi chord k=(\d+): m=(\d+),(\d+)")]
    lam = np.sort(np.asarray(result.params.get("singular_values", []), dtype=float))
    both = sorted(set(var) & set(flat))
    fig, (ax, ax_s) = _figure(2, width=6.0, height=4.6)
    if both and lam.size:
        # closed forms at H = I: F = K/s, sigma^2/eta = h s^2/(alpha + s^2) with alpha_k = s_k^2 = lambda_k
        K = np.median([flat[key].predicted * np.sqrt(lam[key[1] - 1]) for key in both])
        h = np.median([var[key].predicted * (lam[key[0] - 1] + lam[key[1] - 1]) / lam[key[1] - 1] for key in both])
        s = np.geomspace(np.sqrt(lam.min()) / 1.8, np.sqrt(lam.max()) * 1.8, 300)
        for k in sorted({key[0] for key in both}):
            alpha = lam[k - 1]
            colour = f"C{k - 1}"
            ax.plot(K / s, h * s ** 2 / (alpha + s ** 2), "-", color=colour, lw=1.2,
                    label=f"k = {k} (α = {alpha:g}): closed form")
            keys = [key for key in both if key[0] == k]
            ax.errorbar([flat[key].measured for key in keys], [var[key].measured for key in keys],
                        xerr=_err([flat[key].stderr for key in keys]), yerr=_err([var[key].stderr for key in keys]),
                        fmt="o", color=colour, capsize=2, label=f"k = {k}: measured directions")
        for k, m1, m2, r in chords:
            if (k, m1) in both and (k, m2) in both:
                pts = [(flat[(k, m)].predicted, var[(k, m)].predicted) for m in (m1, m2)]
                ax.plot(*zip(*pts), "--", color=f"C{k - 1}", lw=0.9)
                mid = np.exp(np.mean(np.log(pts), axis=0))
                ax.annotate(f"ψ = {r.measured:.2f} ± {r.stderr:.2f} (pred. {r.predicted:.2f})", mid, fontsize=6.5,
                            xytext=(-6, -12), textcoords="offset points", ha="center", color=f"C{k - 1}")
        ax.plot([], [], "k--", lw=0.9, label="ψ chord between directions of one k")
        F = np.geomspace(K / s.max(), K / s.min(), 10)
        ax.plot(F, h * 0.5 * (F / F[0]) ** -2 * (K / s.min() / F[0]) ** 2 * 0.02, color="0.6", lw=0.8, ls="-.",
                label="reference slope −2 (ψ = 2, the flat limit)")
    ax.set(xscale="log", yscale="log", xlabel="flatness F", ylabel="σ²/η (η → 0)",
           title="inverse variance–flatness relation, two-layer (W2)")
    if both:
        ax.legend(fontsize=6.5)
    single = [(int(m[1]), r) for m, r in _rows(result, r"single layer: var along PCA direction (\d+)")]
    if single:
        i = np.array([n for n, _ in single])
        ax_s.plot(i, [r.predicted for _, r in single], "k-", lw=1.2, label="exact discrete Σ (prediction)")
        ax_s.errorbar(i, [r.measured for _, r in single], yerr=_err([r.stderr for _, r in single]), fmt="o", ms=3,
                      capsize=2, label="measured variance ± stderr")
        ax_s.set(yscale="log", xlabel="PCA direction", ylabel="σ² along the direction",
                 title="control: single layer (no IVFR)")
        ax_s.legend(fontsize=7)
    else:
        ax_s.set_axis_off()
    return [_save(fig, result, directory, "paper", "weight fluctuations against flatness (Feng–Tu analysis)")]


def ivfr_network(result, directory):
    """σ_i² against F_i on log–log axes for the PCA directions of the trained MLP's windows (geometric means over
    the networks, from the notes), the fit σ² ∝ F^(−ψ) with the measured mean ψ through their centroid, and the
    equilibrium mutant's slope (σ² ∝ F², ψ = −2) through the same point; the stationarity gate in the title."""
    note = next((n for n in result.notes if n.startswith("directions (")), "")
    found = re.search(r"sigma\^2 = \[([^]]*)\], F = \[([^]]*)\]", note)
    var, flat = ((np.array([float(v) for v in re.findall(_FLOAT, g)]) for g in found.groups()) if found
                 else (np.array([]), np.array([])))
    psi = next((r for _, r in _rows(result, r"psi .*")), None)
    fig, (ax,) = _figure(1, width=6.2, height=4.6)
    ax.plot(flat, var, "o", label="PCA directions (geometric means over networks)")
    if var.size and psi is not None:
        centre = np.exp(np.mean(np.log(flat))), np.exp(np.mean(np.log(var)))
        F = np.geomspace(flat.min() / 1.1, flat.max() * 1.1, 50)
        ax.plot(F, centre[1] * (F / centre[0]) ** -psi.measured, "k-",
                label=f"fit σ² ∝ F^(−ψ), ψ = {psi.measured:.2f} ± {psi.stderr:.2f}")
        ax.plot(F, centre[1] * (F / centre[0]) ** 2, "C3--", lw=1, label="mutant: equilibrium σ² ∝ F² (ψ = −2)")
    for i, (x, y) in enumerate(zip(flat, var)):
        ax.annotate(str(i + 1), (x, y), fontsize=6.5, xytext=(3, 3), textcoords="offset points")
    ax.set(xscale="log", yscale="log", xlabel="flatness F_i (width at e·L₀)", ylabel="variance σ_i²",
           title="inverse variance–flatness relation, trained MLP")
    ax.legend(fontsize=7)
    gate = "stationary window" if psi is not None and psi.rule == "above" else "window NOT stationary: ψ not judged"
    return [_save(fig, result, directory, "paper", f"weight variance against flatness (Feng–Tu analysis); {gate}")]
