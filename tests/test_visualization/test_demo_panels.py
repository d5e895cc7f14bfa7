"""tools/run_demo.py's panel part: which batch it draws and the stacked
figure."""
import cv2
import numpy as np
import pytest

from config_helpers import synthetic_benchmark
from tool_helpers import load_tool


def test_stack_panels_in_stream_order(tmp_path):
    demo = load_tool('run_demo')
    folder = tmp_path / 'vis_data' / 'vis_image'
    folder.mkdir(parents=True)
    # file names as the hook writes them: test_<image>_<stream position>
    for name, pos, width, value in (('b.png', 10, 7, 30), ('a.png', 9, 5, 20),
                                    ('c.png', 100, 6, 40)):
        cv2.imwrite(str(folder / f'test_{name}_{pos}.png'),
                    np.full((3, width, 3), value, np.uint8))
    out = str(tmp_path / 'stack.png')
    assert demo.stack_panels(str(tmp_path), out) == 3
    got = cv2.imread(out)
    assert got.shape == (9, 7, 3)
    assert [int(got[3 * i, 0, 0]) for i in range(3)] == [20, 30, 40]
    assert (got[0:3, 5:] == 255).all()  # narrower panels padded white
    assert demo.stack_panels(str(tmp_path), out, limit=1) == 1
    assert cv2.imread(out).shape == (3, 5, 3)
    with pytest.raises(SystemExit, match='no readable panels'):
        demo.stack_panels(str(tmp_path / 'empty'), out)


def test_last_batch_interval_follows_the_data_and_the_options(tmp_path):
    demo = load_tool('run_demo')
    synth = synthetic_benchmark(tmp_path / 'synth')  # 2 target val images
    root = f'test_dataloader.dataset.data_root={synth}/NYUDv2'
    config = 'configs/trttt/synth_t2n.py'
    assert demo.last_batch_interval(config, [root]) == 1  # batch 8
    assert demo.last_batch_interval(
        config, [root, 'test_dataloader.batch_size=1']) == 2
