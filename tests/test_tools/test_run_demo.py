"""tools/run_demo.py: recognising demo data of an earlier image size."""
import importlib.util
import json
import os.path as osp

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def _demo():
    path = osp.join(ROOT, 'tools', 'run_demo.py')
    spec = importlib.util.spec_from_file_location('run_demo', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_data_params_and_same_size(tmp_path):
    demo = _demo()
    from trttt_mm.datasets.synthetic.benchmark import DEFAULTS
    assert demo.data_params(str(tmp_path)) is None  # no meta.json
    (tmp_path / 'meta.json').write_text('{not json')
    assert demo.data_params(str(tmp_path)) is None  # unreadable: no claim
    meta = dict(generator='trttt_mm.datasets.synthetic',
                params=dict(seed=0, height=96, width=128))
    (tmp_path / 'meta.json').write_text(json.dumps(meta))
    assert demo.data_params(str(tmp_path)) == meta
    # the pre-change demo data (96x128) are not the current size
    assert not demo.same_size(meta)
    meta['params'].update(height=DEFAULTS['height'], width=DEFAULTS['width'])
    assert demo.same_size(meta)
    assert (DEFAULTS['height'], DEFAULTS['width']) == (64, 96)
