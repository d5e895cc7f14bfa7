"""Loading the scripts under tools/ as modules, for tests."""
import importlib.util
import os.path as osp

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def load_tool(name):
    """``tools/<name>.py`` as a module, e.g. ``load_tool('run_demo')`` or
    ``load_tool('analysis/benchmark_ttt_step')``."""
    path = osp.join(ROOT, 'tools', *name.split('/')) + '.py'
    spec = importlib.util.spec_from_file_location(
        'tool_' + name.replace('/', '_'), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
