"""The synthetic generator deletes only what it wrote, never writes through a
symbolic link, and leaves layouts it was not asked for alone."""
import json
import os
import os.path as osp

import pytest

from trttt_mm.datasets.synthetic import generate_benchmark
from trttt_mm.datasets.synthetic.manifest import MANIFEST_NAME
from trttt_mm.datasets.synthetic.writers import WRITERS
from tool_helpers import load_tool

H, W = 16, 20
SMALL = dict(num_train=2, num_val=1, num_target_train=1, num_target_val=1,
             height=H, width=W, images_per_building=2, progress=False)
ALL = ('taskonomy', 'nyudv2', 'pascal')


def tree(root):
    """rel path -> bytes (files) or 'link -> target' (links), no following.
    """
    out = {}
    for dirpath, dirnames, names in os.walk(root):
        for n in dirnames + names:
            p = osp.join(dirpath, n)
            rel = osp.relpath(p, root)
            if osp.islink(p):
                out[rel] = 'link -> ' + os.readlink(p)
            elif osp.isfile(p):
                with open(p, 'rb') as f:
                    out[rel] = f.read()
    return out


def real_dataset(tmp_path):
    """A stand-in for a user's real NYUDv2 copy."""
    real = tmp_path / 'datasets' / 'NYUDv2'
    (real / 'images').mkdir(parents=True)
    (real / 'gt_sets').mkdir()
    (real / 'images' / '0000.png').write_bytes(b'real image')
    (real / 'gt_sets' / 'train.txt').write_text('0000\n')
    return real


def test_issue_case_symlink_and_user_file_refused_nothing_touched(tmp_path):
    """--force with DIR/NYUDv2 a link to a real dataset and a user file in
    DIR/taskonomy: refused, naming both; nothing deleted or written."""
    out = tmp_path / 'synth'
    generate_benchmark(str(out), seed=0, layouts=ALL, **SMALL)
    real = real_dataset(tmp_path)
    real_before = tree(str(real.parent))
    # the user swaps NYUDv2 for a link and keeps notes in taskonomy/
    for dirpath, dirnames, names in os.walk(out / 'NYUDv2', topdown=False):
        for n in names:
            os.remove(osp.join(dirpath, n))
        os.rmdir(dirpath)
    os.symlink(str(real), str(out / 'NYUDv2'))
    (out / 'taskonomy' / 'notes.txt').write_text('precious')
    before = tree(str(out))
    with pytest.raises(FileExistsError) as err:
        generate_benchmark(str(out), seed=1, force=True, **SMALL)
    msg = str(err.value)
    assert str(out / 'NYUDv2') in msg and 'symbolic link' in msg
    assert str(out / 'taskonomy' / 'notes.txt') in msg
    assert 'not written by the generator' in msg
    assert tree(str(out)) == before  # nothing deleted, nothing written
    assert tree(str(real.parent)) == real_before


def test_link_deep_inside_a_layout_is_refused(tmp_path):
    out = tmp_path / 'synth'
    generate_benchmark(str(out), seed=0, **SMALL)
    real = real_dataset(tmp_path)
    target = out / 'NYUDv2' / 'images' / '0000.png'
    target.unlink()
    os.symlink(str(real / 'images' / '0000.png'), str(target))
    with pytest.raises(FileExistsError, match=r'images/0000\.png -> '):
        generate_benchmark(str(out), seed=1, force=True, **SMALL)
    # complete with the same parameters: cached, nothing written
    assert generate_benchmark(str(out), seed=0, **SMALL)['cached']
    # incomplete (regenerated without --force): refused too
    meta = json.loads((out / 'meta.json').read_text())
    (out / 'meta.json').write_text(json.dumps(dict(meta, complete=False)))
    with pytest.raises(FileExistsError, match='symbolic link'):
        generate_benchmark(str(out), seed=0, **SMALL)
    assert (real / 'images' / '0000.png').read_bytes() == b'real image'


def test_foreign_files_are_named_and_kept(tmp_path):
    out = tmp_path / 'synth'
    generate_benchmark(str(out), seed=0, **SMALL)
    extra = [out / 'taskonomy' / f'mine{i}.txt' for i in range(7)]
    for p in extra:
        p.write_text('mine')
    with pytest.raises(FileExistsError) as err:
        generate_benchmark(str(out), seed=1, force=True, **SMALL)
    msg = str(err.value)
    assert '7 file(s) not written by the generator' in msg
    assert str(extra[0]) in msg and 'and 2 more' in msg
    assert all(p.read_text() == 'mine' for p in extra)
    # after moving them away, --force works
    for p in extra:
        p.unlink()
    assert not generate_benchmark(str(out), seed=1, force=True,
                                  **SMALL)['cached']


def test_foreign_meta_json_and_file_as_layout(tmp_path):
    out = tmp_path / 'user'
    out.mkdir()
    (out / 'meta.json').write_text('{"mine": 1}')
    with pytest.raises(FileExistsError, match=r'meta\.json.*not written'):
        generate_benchmark(str(out), force=True, **SMALL)
    assert (out / 'meta.json').read_text() == '{"mine": 1}'
    (out / 'meta.json').unlink()
    (out / 'taskonomy').write_text('a file where a folder goes')
    with pytest.raises(FileExistsError, match='not written by the generator'):
        generate_benchmark(str(out), force=True, **SMALL)
    assert (out / 'taskonomy').read_text() == 'a file where a folder goes'


def test_unrequested_layout_is_left_intact(tmp_path):
    out = tmp_path / 'synth'
    generate_benchmark(str(out), seed=0, layouts=ALL, **SMALL)
    pascal_before = tree(str(out / 'PASCAL_MT'))
    nyud_before = tree(str(out / 'NYUDv2'))
    s = generate_benchmark(str(out), seed=1, force=True, **SMALL)
    assert not s['cached'] and s['params']['layouts'] == [
        'taskonomy', 'nyudv2'
    ]
    assert tree(str(out / 'PASCAL_MT')) == pascal_before
    assert tree(str(out / 'NYUDv2')) != nyud_before  # regenerated (seed 1)
    # a user-made folder named like a layout that was not asked for
    mine = tmp_path / 'mine'
    (mine / 'PASCAL_MT').mkdir(parents=True)
    (mine / 'PASCAL_MT' / 'keep.txt').write_text('x')
    generate_benchmark(str(mine), force=True, **SMALL)
    assert (mine / 'PASCAL_MT' / 'keep.txt').read_text() == 'x'


def test_regeneration_replaces_exactly_the_generated_files(tmp_path):
    out = tmp_path / 'synth'
    big = dict(SMALL, num_train=5, num_target_train=3)
    generate_benchmark(str(out), seed=0, **big)
    (out / 'notes.txt').write_text('top-level user file')
    s = generate_benchmark(str(out), seed=0, force=True, **SMALL)
    assert not s['cached']
    for name in ('taskonomy', 'nyudv2'):
        writer = s['layouts'][name]
        cls = WRITERS[name]
        w = (cls(str(out), writer['counts'], 2)
             if name == 'taskonomy' else cls(str(out), writer['counts']))
        on_disk = {k for k, v in tree(w.root).items() if isinstance(v, bytes)}
        assert on_disk == set(w.files()) | {MANIFEST_NAME}, name
        manifest = json.loads((out / w.dirname / MANIFEST_NAME).read_text())
        assert manifest['files'] == sorted(w.files())
    # stale buildings of the bigger run are gone (no empty folders left)
    assert not (out / 'taskonomy' / 'rgb' / 'taskonomy' / 'synthC').exists()
    assert (out / 'notes.txt').read_text() == 'top-level user file'
    # and the cache still works
    assert generate_benchmark(str(out), seed=0, **SMALL)['cached']


def test_output_of_an_older_version_without_manifests(tmp_path):
    """Files of an earlier run without manifests are recognised from the
    parameters its meta.json records."""
    out = tmp_path / 'synth'
    generate_benchmark(str(out), seed=0, **SMALL)
    for d in ('taskonomy', 'NYUDv2'):
        (out / d / MANIFEST_NAME).unlink()
    s = generate_benchmark(str(out), seed=2, force=True, **SMALL)
    assert not s['cached'] and (out / 'NYUDv2' / MANIFEST_NAME).is_file()


def test_cli_refuses_with_a_clear_message(tmp_path, capsys):
    mod = load_tool('data/make_synthetic')
    out = tmp_path / 'cli'
    real = real_dataset(tmp_path)
    out.mkdir()
    os.symlink(str(real), str(out / 'NYUDv2'))
    argv = ['--out', str(out), '--num-train', '1', '--num-val', '1',
            '--num-target-train', '1', '--num-target-val', '1', '--height',
            str(H), '--width', str(W), '--quiet', '--force']
    assert mod.main(argv) == 1
    err = capsys.readouterr().err
    assert 'refusing' in err and str(out / 'NYUDv2') in err
    assert (real / 'images' / '0000.png').read_bytes() == b'real image'
    assert sorted(os.listdir(real)) == ['gt_sets', 'images']
    assert sorted(os.listdir(real / 'images')) == ['0000.png']
