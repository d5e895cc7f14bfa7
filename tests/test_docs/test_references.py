"""Every file the docs and the README refer to is in the repository (or is a
public URL), and every test that docs/reliability.md names exists.

References checked, in README.md and docs/*.md:

- Markdown links and images ``[text](target)``: an ``http(s)://`` URL, an
  anchor, or a path (relative to the page) of a file or folder in the
  repository.
- Paths (in code or prose) that start at a top-level entry of the
  repository (``trttt_mm/``, ``tools/``, ``configs/``, ...):
  they exist. ``{a,b}`` alternatives are expanded; ``<name>``, ``X`` and
  ``*`` stand for any name.
- Test references ``test_<area>/test_<name>.py[::test]`` (relative to
  ``tests/``, as docs/reliability.md writes them): the file exists and
  defines the test.
- Nothing points outside the repository: a design note or paper beside it
  (``shared/``, ``DESIGN.md``, ``paper/*.md``), absolute paths of this
  machine.
"""
import glob
import os
import os.path as osp
import re

import pytest

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
PAGES = ['README.md'] + sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'docs', '*.md')))
TOP = ('trttt_mm', 'tools', 'configs', 'tests', 'docs', '.ci')
TOP_FILES = ('README.md', 'Makefile', 'pyproject.toml', 'setup.cfg')

LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
PATH = re.compile(
    r'(?<![\w./-])((?:%s)/[\w.*<>{},/-]*|(?:%s)\b)' % (
        '|'.join(re.escape(t) for t in TOP),
        '|'.join(re.escape(t) for t in TOP_FILES)))
#: the areas of tests/ (test_datasets, test_tools, ...): a ``test_x/y.py``
#: under another name is a file of an upstream repository (e.g.
#: ``test_calls/test_adapt.py`` of the TTT code), not one of ours
AREAS = sorted(d for d in os.listdir(osp.join(ROOT, 'tests'))
               if d.startswith('test_')
               and osp.isdir(osp.join(ROOT, 'tests', d)))
TEST_REF = re.compile(r'(?<![\w/])((?:%s)/test_\w+\.py)(?:::(\w+))?'
                      % '|'.join(AREAS))
OUTSIDE = re.compile(
    r'(?<![\w.-])(shared/[\w./-]+|DESIGN\.md|DESIGN §\s*\d+|'
    r'paper/[\w./-]+\.md|/work/[\w./-]+|/tmp/[\w./-]+)')


def read(page):
    with open(osp.join(ROOT, page), encoding='utf-8') as f:
        return f.read()


def expand(path):
    """``a/{b,c}.py`` -> ``a/b.py``, ``a/c.py`` (nested braces too)."""
    match = re.search(r'\{([^{}]*)\}', path)
    if not match:
        return [path]
    out = []
    for alt in match.group(1).split(','):
        out += expand(path[:match.start()] + alt + path[match.end():])
    return out


def as_glob(path):
    path = re.sub(r'<[^<>/]*>', '*', path)
    # a lone capital X (or N) stands for a name: gt_sets/X.txt, iter_N
    path = re.sub(r'(?<![\w])[XN](?=[._/]|$)', '*', path)
    return path


def exists(path):
    path = path.rstrip('.,:;')
    if path.endswith('/'):
        path = path.rstrip('/')
    pattern = as_glob(path)
    if any(ch in pattern for ch in '*?['):
        return bool(glob.glob(osp.join(ROOT, pattern)))
    return osp.exists(osp.join(ROOT, pattern))


def repo_paths(text):
    """Repository paths mentioned on a page (in code or in prose)."""
    return {path.rstrip('.,') for raw in PATH.findall(text)
            for path in expand(raw)}


@pytest.mark.parametrize('page', PAGES)
def test_markdown_links_resolve(page):
    text = read(page)
    bad = []
    for target in LINK.findall(text):
        if re.match(r'https?://', target) or target.startswith('#'):
            continue
        path = osp.normpath(osp.join(osp.dirname(osp.join(ROOT, page)),
                                     target.split('#')[0]))
        inside = osp.commonpath([path, ROOT]) == ROOT
        if not inside or not osp.exists(path):
            bad.append(target)
    assert not bad, f'{page}: links that do not resolve in the repository: ' \
        f'{bad}'


@pytest.mark.parametrize('page', PAGES)
def test_repository_paths_exist(page):
    missing = sorted(p for p in repo_paths(read(page)) if not exists(p))
    assert not missing, f'{page}: paths that are not in the repository: ' \
        f'{missing}'


@pytest.mark.parametrize('page', PAGES)
def test_no_reference_outside_the_repository(page):
    hits = sorted(set(OUTSIDE.findall(read(page))))
    assert not hits, (f'{page}: refers to files a user of the repository '
                      f'does not have: {hits}')


@pytest.mark.parametrize('page', PAGES)
def test_named_tests_exist(page):
    text = read(page)
    bad = []
    for path, name in set(TEST_REF.findall(text)):
        file = osp.join(ROOT, 'tests', path)
        if not osp.isfile(file):
            bad.append(f'{path} (no such file)')
            continue
        if name and not re.search(rf'^\s*(?:async\s+)?(?:def|class)\s+{name}\b',
                                  read(osp.relpath(file, ROOT)), re.M):
            bad.append(f'{path}::{name} (not defined there)')
    assert not bad, f'{page}: tests that do not exist: {bad}'


def test_the_checks_catch_what_they_should():
    """The patterns find a broken path, an outside reference and a missing
    test; globbed and braced paths that exist pass."""
    text = ('see `tools/nope.py` and `configs/baselines/<method>/` and '
            '`configs/baselines/actmad/{t2n,t2p}.py`; the design note '
            'shared/DESIGN.md and paper/tr-ttt-paper.md')
    paths = repo_paths(text)
    assert 'tools/nope.py' in paths and not exists('tools/nope.py')
    assert exists('configs/baselines/<method>/')
    assert exists('configs/baselines/actmad/t2n.py')
    assert 'configs/baselines/actmad/t2p.py' in paths
    assert set(OUTSIDE.findall(text)) == {'shared/DESIGN.md',
                                          'paper/tr-ttt-paper.md'}
    assert TEST_REF.findall('`test_docs/test_references.py::test_x`') == [
        ('test_docs/test_references.py', 'test_x')]
    assert expand('a/{b,c}/{d,e}.py') == ['a/b/d.py', 'a/b/e.py',
                                          'a/c/d.py', 'a/c/e.py']
