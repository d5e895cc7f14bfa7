"""Say why a path cannot be read: missing, a folder, a broken link, a loop.

``os.path.isfile`` and ``os.path.isdir`` answer False for a missing file, a
symbolic link loop, a broken link and a permission problem alike; error
messages built on them say "not found" for all four. :func:`path_problem`
tells them apart, so the datasets, the loaders and the dataset checker can
name the real cause.
"""
import errno
import os
import os.path as osp
import stat
from typing import Optional

#: What :func:`path_problem` may return for a path that does not exist.
NOT_FOUND = 'not found'


def _first_bad_ancestor(path: str) -> Optional[str]:
    """A phrase for the first parent folder of ``path`` that is a loop or a
    broken link, or None."""
    parts = []
    head = osp.abspath(path)
    while True:
        head, tail = osp.split(head)
        if not tail:
            break
        parts.append(osp.join(head, tail))
    for ancestor in reversed(parts[1:]):  # outermost first, not path itself
        try:
            os.stat(ancestor)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return (f'lies under {ancestor!r}, a symbolic link loop (a '
                        'link that points back to itself)')
            if osp.islink(ancestor):
                return (f'lies under {ancestor!r}, a broken symbolic link '
                        f'(to {os.readlink(ancestor)!r}, which does not '
                        'exist)')
            return None
    return None


def path_problem(path: str, expect: str = 'file') -> Optional[str]:
    """Why ``path`` is not a readable file (or folder); None if it is one.

    Args:
        path: the path to look at.
        expect: ``'file'`` or ``'folder'``.

    Returns:
        None when ``path`` is what is expected, else a phrase that reads
        after the path, e.g. ``'not found'``, ``'is a symbolic link loop
        ...'``, ``'is a broken symbolic link (to ...)'``, ``'is a folder,
        expected a file'``.
    """
    if expect not in ('file', 'folder'):
        raise ValueError(f"expect must be 'file' or 'folder', got {expect!r}")
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            if osp.islink(path):
                return ('is a symbolic link loop (it points back to itself, '
                        'directly or through other links)')
            return _first_bad_ancestor(path) or (
                'passes through a symbolic link loop')
        if osp.islink(path):
            return (f'is a broken symbolic link (to {os.readlink(path)!r}, '
                    'which does not exist)')
        if exc.errno == errno.EACCES:
            return 'cannot be read (permission denied)'
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return _first_bad_ancestor(path) or NOT_FOUND
        return f'cannot be accessed ({exc.strerror})'
    if expect == 'file' and stat.S_ISDIR(st.st_mode):
        return 'is a folder, expected a file'
    if expect == 'folder' and not stat.S_ISDIR(st.st_mode):
        return 'is a file, expected a folder'
    return None
