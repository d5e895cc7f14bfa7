"""trttt_mm.benchmark.figures: Fig. 3."""
from test_benchmark_protocols import run

from trttt_mm.benchmark.figures import fig3


def test_fig3_written_only_with_curves(tmp_path):
    runs = [run('A', 0, 1.0), run('A', 1, 2.0), run('B', 0, 3.0)]
    png = tmp_path / 'fig.png'
    assert fig3(runs, 'mixed', ['A', 'B'], str(png), reference='A')
    assert png.read_bytes()[:4] == b'\x89PNG'
    other = tmp_path / 'none.png'
    assert not fig3(runs, 'geometry', ['A'], str(other))
    assert not other.exists()
    failed = [dict(run('A', 0, 1.0), status='failed')]
    assert not fig3(failed, 'mixed', ['A'], str(other))
