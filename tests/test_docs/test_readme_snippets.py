"""The README's config snippets run as written, every Python block of the
docs is run by a test, and the command lines of README and docs give each
tool only options it has."""
import argparse
import copy
import glob
import importlib
import os.path as osp
import re
import sys
from unittest import mock

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.testing import RunnerTestCase

from mmseg.registry import HOOKS, MODELS

import toy_data  # noqa: F401  (registers ToyMultiTaskDataset)
from model_helpers import small_model_cfg
from tool_helpers import load_tool

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
PAGES = ['README.md'] + sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'docs', '*.md')))
#: Python blocks run by another test: (page, section title, test)
RUN_ELSEWHERE = [('docs/methods.md', '## Adding a method: a worked example',
                  'tests/test_docs/test_methods_example.py')]


def read(page):
    with open(osp.join(ROOT, page), encoding='utf-8') as f:
        return f.read()


def fenced_blocks(page):
    """(language, code, section heading it is under) of every fenced
    block, in order."""
    out, heading, block = [], '', None
    for line in read(page).splitlines(keepends=True):
        if block is None:
            if line.startswith('```'):
                block = (line[3:].strip().split(' ')[0], [])
            elif line.startswith('#'):
                heading = line.strip()
        elif line.startswith('```'):
            out.append((block[0], ''.join(block[1]), heading))
            block = None
        else:
            block[1].append(line)
    assert block is None, f'{page}: a code block is not closed'
    return out


def python_blocks(page):
    """(block, section heading it is under) of every ```python block."""
    return [(code, heading) for lang, code, heading in fenced_blocks(page)
            if lang == 'python']


def is_config(code):
    """A config snippet: assignments only, no function or class."""
    return not re.search(r'^\s*(def|class)\s', code, re.M)


def run_elsewhere(page, heading):
    return any(page == p and heading.startswith(h)
               for p, h, _ in RUN_ELSEWHERE)


def config_snippets():
    """(page, index, code) of every config snippet of README and docs that
    no other test runs."""
    out = []
    for page in PAGES:
        blocks = [c for c, h in python_blocks(page)
                  if is_config(c) and not run_elsewhere(page, h)]
        out += [(page, i, code) for i, code in enumerate(blocks)]
    return out


def readme_configs():
    return [code for page, _, code in config_snippets()
            if page == 'README.md']


def exec_config(code, page='README.md'):
    namespace = {}
    exec(compile(code, f'<{page} snippet>', 'exec'), namespace)
    return {k: v for k, v in namespace.items() if not k.startswith('__')}


def typed_dicts(value):
    """Every dict with a string ``type`` inside ``value``."""
    if isinstance(value, dict):
        if isinstance(value.get('type'), str):
            yield value
        for v in value.values():
            yield from typed_dicts(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from typed_dicts(v)


def registered(name):
    from mmseg import registry
    registries = [getattr(registry, n) for n in dir(registry)
                  if n.isupper() and hasattr(getattr(registry, n), 'get')]
    return any(r.get(name) is not None for r in registries)


def test_every_python_block_of_the_docs_is_run_by_a_test():
    assert readme_configs(), 'README.md has no config snippet'
    not_run = []
    for page in PAGES:
        for code, heading in python_blocks(page):
            compile(code, f'<{page} block>', 'exec')  # at least it parses
            if is_config(code):
                continue  # the tests below run them
            if not run_elsewhere(page, heading):
                not_run.append(f'{page} under {heading!r}: '
                               f'{code.splitlines()[0]}')
    assert not not_run, (
        'Python blocks that no test runs (run them in a test, listed in '
        'RUN_ELSEWHERE, or mark them ```text when they are not meant to '
        f'run): {not_run}')


@pytest.mark.parametrize('page,index,code', config_snippets(),
                         ids=lambda v: v if isinstance(v, str) and
                         v.endswith('.md') else None)
def test_config_snippet_builds(page, index, code):
    """Each config snippet runs, imports what it names, its ``_base_`` files
    exist (relative to a config folder at the repository root), every
    ``type`` it names is registered, and its hooks build with the arguments
    it gives them."""
    cfg = exec_config(code, page)
    for module in cfg.get('custom_imports', {}).get('imports', []):
        importlib.import_module(module)
    import trttt_mm  # noqa: F401  (the docs' types are trttt_mm's)
    # a snippet may name its own file in a first-line comment
    # (``# my_configs/x.py``); else it is taken to lie in a folder at the
    # repository root, as configs/ does
    named = re.match(r'#\s*([\w./-]+\.py)\s*\n', code)
    folder = osp.dirname(named.group(1)) if named else 'my_configs'
    bases = cfg.get('_base_', [])
    for base in [bases] if isinstance(bases, str) else bases:
        path = osp.normpath(osp.join(ROOT, folder, base))
        assert osp.isfile(path), f'{page}: _base_ {base} ({path}) not found'
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'mmseg')):
        unknown = [d['type'] for d in typed_dicts(cfg)
                   if not registered(d['type'])]
        assert not unknown, f'{page}: types not registered: {unknown}'
        hooks = list(cfg.get('custom_hooks', [])) + [
            h for h in (cfg.get('default_hooks') or {}).values()
            if isinstance(h, dict) and 'type' in h]
        for hook in hooks:
            HOOKS.build(copy.deepcopy(hook))


class TestReadmeConfigRuns(RunnerTestCase):
    """The README's hooks adapt a tiny model in mmengine's test loop and
    report what the README says (base metrics and Δ_TTT)."""

    def test_readme_hooks_in_a_test_run(self):
        snippet = [c for c in map(exec_config, readme_configs())
                   if c.get('custom_hooks')]
        assert snippet, 'no README config with custom_hooks'
        hooks = copy.deepcopy(snippet[0]['custom_hooks'])
        steps = {h['type']: h.get('steps') for h in hooks}
        assert steps.get('TRTTTHook') == 40
        torch.manual_seed(0)
        cfg = copy.deepcopy(self.epoch_based_cfg)
        cfg.update(
            default_scope='mmseg', model=small_model_cfg(True, True),
            test_dataloader=dict(
                batch_size=2, num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False),
                dataset=dict(type='ToyMultiTaskDataset', num=2, shift=40.0)),
            test_evaluator=dict(type='MultiTaskMetric'),
            test_cfg=dict(type='TestLoop'), custom_hooks=hooks)
        for key in ('train_dataloader', 'val_dataloader', 'val_evaluator',
                    'train_cfg', 'val_cfg', 'optim_wrapper',
                    'param_scheduler'):
            cfg.pop(key, None)
        cfg.experiment_name = 'readme_snippet'
        metrics = self.build_runner(cfg).test()
        assert metrics['ttt/steps'] == 40  # one batch, the README's steps
        assert 'base/semseg/mIoU' in metrics and 'delta_ttt' in metrics


# ------------------------------------------------------------ command lines
COMMAND = re.compile(r'(?<![\w/.])(tools/[\w/]+\.py)\b([^\n`;|&#]*)')


class _Parser(Exception):
    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def tool_options(script):
    """The option strings of ``tools/<script>``'s argument parser (captured
    when the tool parses its arguments)."""
    def capture(self, *args, **kwargs):
        raise _Parser(self)

    module = load_tool(script[len('tools/'):-len('.py')])
    with mock.patch.object(argparse.ArgumentParser, 'parse_args', capture), \
            mock.patch.object(argparse.ArgumentParser, 'parse_known_args',
                              capture), \
            mock.patch.object(sys, 'argv', [script]):
        try:
            entry = getattr(module, 'parse_args', None) or module.main
            try:
                entry([])
            except TypeError:
                entry()
        except _Parser as got:
            return set(got.parser._option_string_actions)
    raise AssertionError(f'{script}: found no argument parser')


def documented_commands():
    """(page, script, options) of every command line in README and docs
    (backslash continuations joined)."""
    found = []
    for page in PAGES:
        text = read(page).replace('\\\n', ' ')
        for script, rest in COMMAND.findall(text):
            opts = re.findall(r'(?<![\w-])(--[a-zA-Z][\w-]*)', rest)
            found.append((page, script, sorted(set(opts))))
    return found


def test_documented_options_exist():
    commands = documented_commands()
    assert any(s == 'tools/test.py' and '--tta-hook' in o
               for _, s, o in commands)
    known = {}
    bad = []
    for page, script, opts in commands:
        if not opts or not osp.isfile(osp.join(ROOT, script)):
            continue  # a missing script is test_references.py's finding
        if script not in known:
            known[script] = tool_options(script)
        unknown = [o for o in opts if o not in known[script]]
        if unknown:
            bad.append(f'{page}: {script} {unknown}')
    assert not bad, f'options the tools do not have: {bad}'
