"""tools/run_demo.py: recognising demo data of an earlier image size."""
import json

from tool_helpers import load_tool


def test_read_meta_and_same_size(tmp_path):
    demo = load_tool('run_demo')
    from trttt_mm.datasets.synthetic.benchmark import DEFAULTS, read_meta
    assert read_meta(str(tmp_path)) is None  # no meta.json
    (tmp_path / 'meta.json').write_text('{not json')
    assert read_meta(str(tmp_path)) is None  # unreadable: no claim
    (tmp_path / 'meta.json').write_text('[1, 2]')
    assert read_meta(str(tmp_path)) is None  # not a generator's meta
    meta = dict(generator='trttt_mm.datasets.synthetic',
                params=dict(seed=0, height=96, width=128))
    (tmp_path / 'meta.json').write_text(json.dumps(meta))
    assert read_meta(str(tmp_path)) == meta
    # the pre-change demo data (96x128) are not the current size
    assert not demo.same_size(meta)
    meta['params'].update(height=DEFAULTS['height'], width=DEFAULTS['width'])
    assert demo.same_size(meta)
    assert (DEFAULTS['height'], DEFAULTS['width']) == (64, 96)
