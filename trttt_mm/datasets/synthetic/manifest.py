"""What the generator owns in its output folder, and how it clears it safely.

Every layout folder the generator writes (``taskonomy/``, ``NYUDv2/``,
``PASCAL_MT/``) holds a manifest, :data:`MANIFEST_NAME`, listing the files
the generator writes there (written *before* the files, so an interrupted
run leaves no file the manifest does not name). Before writing a layout the
generator inspects its folder and refuses (``FileExistsError``) when

* the folder, or anything in it, is a symbolic link (writing or deleting
  through it could reach files outside the output folder, e.g. a real
  dataset), or
* the folder holds files the generator did not write (not in the manifest).

Only then does it delete the files of its manifest (never following links)
and the folders they leave empty. Layouts that were not asked for are not
looked at.
"""
import json
import os
import os.path as osp
from typing import Iterable, List, Optional, Set

#: File name of the manifest in each layout folder.
MANIFEST_NAME = '.synthetic_manifest.json'
#: How many offending paths an error message lists.
MAX_LISTED = 5


def _listing(paths: List[str]) -> str:
    shown = ', '.join(repr(p) for p in paths[:MAX_LISTED])
    more = len(paths) - MAX_LISTED
    return shown + (f' and {more} more' if more > 0 else '')


def write_json_nofollow(path: str, obj) -> None:
    """Write ``obj`` as JSON to ``path`` via a temporary file that is never
    opened through a symbolic link; ``os.replace`` then replaces ``path``
    itself (a link at ``path`` is replaced, not followed)."""
    tmp = path + '.tmp'
    if osp.islink(tmp):
        os.remove(tmp)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(
        os, 'O_NOFOLLOW', 0)
    fd = os.open(tmp, flags, 0o644)
    with os.fdopen(fd, 'w') as f:
        json.dump(obj, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def read_manifest(layout_root: str, generator: str) -> Optional[Set[str]]:
    """The relative paths of the manifest in ``layout_root``; None when
    there is no readable manifest of ``generator`` (a manifest that is a
    symbolic link is not read)."""
    path = osp.join(layout_root, MANIFEST_NAME)
    if osp.islink(path) or not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get('generator') != generator or \
            not isinstance(data.get('files'), list):
        return None
    return {str(p) for p in data['files']}


def write_manifest(layout_root: str, files: Iterable[str],
                   generator: str) -> None:
    """Record ``files`` (relative to ``layout_root``) as the generator's."""
    write_json_nofollow(
        osp.join(layout_root, MANIFEST_NAME),
        dict(generator=generator, files=sorted(files)))


class LayoutState:
    """What :func:`inspect_layout` found in one layout folder.

    Attributes:
        root: the layout folder.
        links: symbolic links at or under ``root`` (absolute paths).
        foreign: files under ``root`` that the generator did not write.
        ours: files under ``root`` listed by the manifest (relative).
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.links: List[str] = []
        self.foreign: List[str] = []
        self.ours: List[str] = []


def inspect_layout(layout_root: str, owned: Optional[Set[str]]
                   ) -> LayoutState:
    """Sort the content of ``layout_root`` without following any link.

    Args:
        layout_root: the layout folder (may not exist).
        owned: relative paths the generator wrote there (its manifest, or
            for an output of an older version the files its recorded
            parameters imply); None or empty when it wrote nothing.
    """
    state = LayoutState(layout_root)
    owned = owned or set()
    if osp.islink(layout_root):
        state.links.append(layout_root)
        return state
    if not osp.lexists(layout_root):
        return state
    if not osp.isdir(layout_root):
        state.foreign.append(layout_root)
        return state
    for dirpath, dirnames, filenames in os.walk(layout_root):
        for name in sorted(dirnames):
            full = osp.join(dirpath, name)
            if osp.islink(full):  # os.walk does not descend into it
                state.links.append(full)
        for name in sorted(filenames):
            full = osp.join(dirpath, name)
            rel = osp.relpath(full, layout_root).replace(os.sep, '/')
            if osp.islink(full):
                state.links.append(full)
            elif rel == MANIFEST_NAME:
                continue
            elif rel in owned:
                state.ours.append(rel)
            else:
                state.foreign.append(full)
    return state


def refusal(states: List[LayoutState], out_dir: str) -> Optional[str]:
    """The error message for the states that forbid writing, or None."""
    lines = []
    for st in states:
        if st.links:
            targets = [f'{p} -> {os.readlink(p)}' for p in st.links]
            lines.append(
                f'{st.root}: symbolic link(s) {_listing(targets)}. The '
                'generator never writes or deletes through a symbolic link '
                f'(it could reach files outside {out_dir!r}, such as a real '
                'dataset); remove the link(s) or choose another --out')
        if st.foreign:
            lines.append(
                f'{st.root}: {len(st.foreign)} file(s) not written by the '
                f'generator: {_listing(st.foreign)}. Move them away (or '
                'choose another --out); --force only replaces files the '
                'generator wrote itself')
    if not lines:
        return None
    return (f'refusing to write the synthetic benchmark into {out_dir!r}:\n  '
            + '\n  '.join(lines))


def clear_layout(state: LayoutState) -> None:
    """Delete the generator's files of ``state`` (never through links), its
    manifest, and the folders under ``state.root`` left empty."""
    root = state.root
    for rel in state.ours:
        path = osp.join(root, rel)
        if osp.isfile(path) and not osp.islink(path):
            os.remove(path)
    manifest = osp.join(root, MANIFEST_NAME)
    if osp.lexists(manifest):
        os.remove(manifest)
    if not osp.isdir(root) or osp.islink(root):
        return
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        if dirpath != root and not os.listdir(dirpath):
            os.rmdir(dirpath)
    if not os.listdir(root):
        os.rmdir(root)

