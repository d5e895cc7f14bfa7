"""The config blocks of docs/visualization.md run as written."""
import os
import os.path as osp
import re

import pytest
from mmengine.config import Config
from mmseg.registry import HOOKS, VISUALIZERS

import trttt_mm  # noqa: F401
from trttt_mm.engine.hooks import MultiTaskVisualizationHook
from trttt_mm.visualization import MultiTaskLocalVisualizer
from tool_helpers import ROOT

PAGE = osp.join(ROOT, 'docs', 'visualization.md')
BLOCK = re.compile(r'^```python\n(.*?)^```', re.S | re.M)


def block_under(heading):
    text = open(PAGE, encoding='utf-8').read()
    start = text.index(heading)
    return BLOCK.search(text, start).group(1)


def test_in_a_config_block_builds_the_visualizer_and_the_hook():
    ns = {}
    exec(block_under('### In a config'), ns)
    vis = dict(ns['visualizer'], name='docs_snippet_visualizer')
    visualizer = VISUALIZERS.build(vis)
    assert isinstance(visualizer, MultiTaskLocalVisualizer)
    hook = HOOKS.build(ns['default_hooks']['visualization'])
    assert isinstance(hook, MultiTaskVisualizationHook)
    assert hook.draw and hook.interval == 1 and hook.store


def test_tensorboard_config_block_adds_the_backend(tmp_path):
    folder = tmp_path / 'my_configs'
    folder.mkdir()
    os.symlink(osp.join(ROOT, 'configs'), tmp_path / 'configs')
    code = block_under('### Switching on TensorBoard')
    path = folder / 'synth_t2n_tb.py'
    path.write_text(code)
    cfg = Config.fromfile(str(path))
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend', 'TensorboardVisBackend']
    assert cfg.visualizer.type == 'Visualizer'  # the rest is the setting's
    assert cfg.model.type == 'MultiTaskEncoderDecoder'
    # with tensorboard installed (not a dependency), scalars reach it
    pytest.importorskip('tensorboard')
    vis = dict(cfg.visualizer, name='docs_tb_visualizer',
               save_dir=str(tmp_path / 'run'))
    visualizer = VISUALIZERS.build(vis)
    visualizer.add_scalars({'ttt/delta_ttt': 1.5}, step=1)
    visualizer.close()
    events = [f for _, _, fs in os.walk(tmp_path / 'run') for f in fs
              if f.startswith('events.out.tfevents')]
    assert events
