"""The benchmark's figures: Fig. 3, the running Δ_TTT over the stream;
the validation Δ_TTT against the learning rate (``--select-hparams``)."""
import statistics
from typing import List, Optional, Sequence

from .stats import mean_std


def fig3(runs: List[dict], family: str, labels: Sequence[str],
         path: str, reference: Optional[str] = None) -> bool:
    """Running Δ_TTT over the stream (mean ± std over seeds) per method:
    a colour and a line style of its own for each (20 colours), the
    ``reference`` method thick, so that a method hidden under another one
    (a control that reproduces it) still shows; the legend beside the
    axes.

    Returns:
        Whether a figure was written to ``path`` (False: no finished run
        with a curve).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    colours = plt.get_cmap('tab20').colors
    styles = ('-', '--', '-.', ':')
    fig, ax = plt.subplots(figsize=(8.4, 4.2), dpi=110)
    drawn = 0
    for i_label, label in enumerate(labels):
        sel = [r for r in runs if r['family'] == family and
               r['method'] == label and r['kind'] == 'test' and
               r.get('status') == 'done' and r.get('curve')]
        if not sel:
            continue
        n = min(len(r['curve']) for r in sel)
        xs = [sel[0]['curve'][i]['images'] for i in range(n)]
        ys, es = [], []
        for i in range(n):
            m, s = mean_std([r['curve'][i]['delta_ttt'] for r in sel])
            ys.append(float('nan') if m is None else m)
            es.append(0.0 if s is None else s)
        spb = statistics.fmean(r['steps_per_batch'] for r in sel)
        ref = label == reference
        line, = ax.plot(xs, ys, marker='o', ms=3,
                        color=colours[(2 * i_label) % 20 + (i_label // 10)
                                      % 2],
                        ls=styles[i_label % len(styles)],
                        lw=3.5 if ref else 1.4, zorder=3 if ref else 4,
                        alpha=0.6 if ref else 1.0,
                        label=f'{label} ({spb:g} steps/batch)')
        if len(sel) > 1:
            ax.fill_between(xs, [y - e for y, e in zip(ys, es)],
                            [y + e for y, e in zip(ys, es)],
                            color=line.get_color(), alpha=0.15)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return False
    ax.axhline(0.0, color='k', lw=0.8)
    ax.set_xlabel('target images seen (online stream)')
    ax.set_ylabel('running Δ_TTT (%)')
    ax.set_title(f'{family} shift: running Δ_TTT (mean ± std over seeds)')
    ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0.0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def lr_points(choice: dict, lr_key: str) -> List[tuple]:
    """(learning rate, validation Δ_TTT) of a choice's grid, sorted by the
    learning rate, at the selected setting's other values (e.g. its steps:
    one curve per method)."""
    sel = choice['setting']
    pts = []
    for g in choice['grid']:
        st = g['setting']
        if lr_key not in st:
            continue
        if any(st.get(k) != v for k, v in sel.items() if k != lr_key):
            continue
        pts.append((float(st[lr_key]), float(g['validation_delta'])))
    return sorted(pts)


def lr_figure(choices: dict, methods: dict, family: str,
              labels: Sequence[str], path: str) -> bool:
    """Validation Δ_TTT against the learning rate (log axis, each method's
    own learning-rate key) per method of one family, the selected value
    starred and circled in red when it sits on an edge of its grid.

    Args:
        choices: (method, family) -> the selection's choice (its ``grid``
            of settings and validation Δ_TTT).
        methods: the benchmark's methods (their ``lr_key``).

    Returns:
        Whether a figure was written (False: no method has a grid over a
        learning rate in this family).
    """
    from .selection import lr_edge
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    colours = plt.get_cmap('tab20').colors
    fig, ax = plt.subplots(figsize=(8.4, 4.2), dpi=110)
    drawn = 0
    crosses = []  # (learning rate, colour) of the settings that diverged
    for i_label, label in enumerate(labels):
        ch = choices.get((label, family))
        lr_key = (methods.get(label) or {}).get('lr_key', 'optimizer.lr')
        if not ch or not lr_key or lr_key not in (ch.get('setting') or {}):
            continue
        pts = lr_points(ch, lr_key)
        if len(pts) < 2:
            continue
        colour = colours[(2 * i_label) % 20 + (i_label // 10) % 2]
        crosses += [(float(c[lr_key]), colour)
                    for c in ch.get('diverged') or [] if lr_key in c]
        edge = lr_edge(ch, lr_key)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker='o', ms=3,
                color=colour, ls=('-', '--', '-.', ':')[i_label % 4],
                label=f'{label} ({lr_key})' +
                (f' — selected on the {edge} edge' if edge else ''))
        x = float(ch['setting'][lr_key])
        y = dict(pts).get(x, ch['validation_delta'])
        ax.plot([x], [y], marker='*', ms=12, color=colour, zorder=5)
        if edge:
            ax.plot([x], [y], marker='o', ms=16, mfc='none', mec='red',
                    mew=1.5, zorder=6)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return False
    ax.set_xscale('log')
    if crosses:
        # at the bottom of the axis: a diverged run has no Δ_TTT
        low = ax.get_ylim()[0]
        for x, colour in crosses:
            ax.plot([x], [low], marker='x', ms=8, mew=2, color=colour,
                    clip_on=False, zorder=5)
        ax.plot([], [], marker='x', ls='none', color='k',
                label='× diverged (non-finite predictions)')
        ax.set_ylim(bottom=low)
    ax.axhline(0.0, color='k', lw=0.8)
    ax.set_xlabel('learning rate (each method\'s own key; log scale)')
    ax.set_ylabel('validation Δ_TTT (%)')
    ax.set_title(f'{family} shift: validation Δ_TTT against the learning '
                 'rate (★ selected, red ring: on a grid edge)', fontsize=9)
    ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1.0),
              borderaxespad=0.0)
    ax.grid(alpha=0.3, which='both')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True
