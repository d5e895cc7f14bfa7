"""The benchmark's figures: Fig. 3, the running Δ_TTT over the stream."""
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
