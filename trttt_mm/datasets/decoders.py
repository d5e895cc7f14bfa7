"""File decoders: read PNG, ``.npy`` and ``.mat`` files and check what they
hold.

Every function names the file and its role (``what``) in its errors and says
what was expected, so that a bad file in a dataset of thousands can be found
from the message alone. Used by the loading transforms
(:mod:`trttt_mm.datasets.transforms.loading`) and by the dataset checker
(:mod:`trttt_mm.datasets.check`).
"""
import io
from typing import Optional

import mmcv
import mmengine.fileio as fileio
import numpy as np

from .base import DataFormatError
from .paths import path_problem

#: PNG colour types (byte 25 of the file, in the IHDR chunk).
PNG_COLOR_TYPES = {
    0: 'greyscale',
    2: 'RGB',
    3: 'palette',
    4: 'greyscale+alpha',
    6: 'RGBA',
}
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def read_bytes(path: str, what: str,
               backend_args: Optional[dict] = None) -> bytes:
    """Read a file, naming it and its role if it cannot be read.

    Raises:
        FileNotFoundError: the file is missing, a folder, a broken symbolic
            link or a symbolic link loop (the message says which).
    """
    try:
        return fileio.get(path, backend_args=backend_args)
    except OSError:
        problem = path_problem(path) or 'cannot be read'
    raise FileNotFoundError(f'{what} file {path!r} {problem}')


def png_color_type(content: bytes) -> Optional[int]:
    """The PNG colour type of ``content`` (see :data:`PNG_COLOR_TYPES`), or
    None if the bytes are not a PNG file."""
    if len(content) < 26 or not content.startswith(_PNG_SIGNATURE) or \
            content[12:16] != b'IHDR':
        return None
    return content[25]


def decode_png(content: bytes, path: str, what: str,
               bit_depth: Optional[int], backend: str = 'cv2') -> np.ndarray:
    """Decode an image file unchanged and check its bit depth.

    Args:
        content: the file's bytes.
        path, what: for error messages.
        bit_depth: 8 or 16 to require ``uint8`` / ``uint16`` data, None to
            accept either.
        backend: mmcv image-decoding backend (``'cv2'`` reads 16-bit PNGs).

    Raises:
        DataFormatError: the bytes do not decode, or the bit depth differs.
    """
    try:
        arr = mmcv.imfrombytes(content, flag='unchanged', backend=backend)
    except Exception as exc:  # decoders raise many types on garbage
        raise DataFormatError(
            f'could not decode {what} file {path!r}: expected a '
            f'{bit_depth or 8}-bit PNG ({type(exc).__name__}: {exc})'
        ) from None
    if arr is None or arr.size == 0:
        raise DataFormatError(
            f'could not decode {what} file {path!r}: expected a '
            f'{bit_depth or 8}-bit PNG')
    expected = {8: np.uint8, 16: np.uint16}.get(bit_depth)
    if bit_depth is not None and expected is None:
        raise ValueError(f'bit_depth must be 8, 16 or None, got {bit_depth}')
    if expected is not None and arr.dtype != expected:
        raise DataFormatError(
            f'{what} file {path!r}: expected a {bit_depth}-bit PNG, got '
            f'{arr.dtype}')
    return arr


def decode_color_png(content: bytes, path: str, what: str,
                     bit_depth: Optional[int],
                     backend: str = 'cv2') -> np.ndarray:
    """Decode a colour (RGB or RGBA) image; returns ``(H, W, 3|4)`` BGR(A).

    OpenCV expands a greyscale+alpha PNG to four channels (three equal grey
    channels and alpha), which would pass for an RGBA image; the PNG header
    tells them apart, so a grey or grey+alpha PNG is refused here.

    Raises:
        DataFormatError: the file does not decode, has the wrong bit depth,
            is a greyscale (+alpha) PNG or does not have 3 or 4 channels.
    """
    color_type = png_color_type(content)
    if color_type in (0, 4):
        raise DataFormatError(
            f'{what} file {path!r} is a {PNG_COLOR_TYPES[color_type]} PNG '
            f'(PNG colour type {color_type}); expected a 3-channel RGB (or '
            'RGBA) PNG with x, y, z in R, G, B')
    arr = decode_png(content, path, what, bit_depth, backend)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise DataFormatError(
            f'{what} file {path!r}: expected a 3-channel RGB PNG, got shape '
            f'{arr.shape}')
    return arr


def load_npy(content: bytes, path: str, what: str) -> np.ndarray:
    """Load a ``.npy`` file (no pickles)."""
    try:
        return np.load(io.BytesIO(content), allow_pickle=False)
    except Exception as exc:
        raise DataFormatError(
            f'could not read {what} file {path!r}: expected a .npy array '
            f'({type(exc).__name__}: {exc})') from None


def single_channel(arr: np.ndarray, path: str, what: str) -> np.ndarray:
    """Return a (H, W) view; 3/4-channel images must repeat one channel."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        return arr[..., 0]
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        first = arr[..., 0]
        if all(np.array_equal(first, arr[..., c]) for c in (1, 2)):
            return first
    raise DataFormatError(
        f'{what} file {path!r}: expected a single-channel map, got shape '
        f'{arr.shape}')


def load_label_map(content: bytes, path: str, key: str,
                   what: str = 'label map') -> np.ndarray:
    """Read the 2-D integer array ``key`` of a MATLAB ``.mat`` file.

    Raises:
        DataFormatError: the file is not a readable (v5) ``.mat`` file, has
            no variable ``key``, or the variable is not a 2-D integer map.
    """
    from scipy.io import loadmat
    try:
        mat = loadmat(io.BytesIO(content))
    except Exception as exc:  # MatReadError, ValueError, NotImplementedError
        raise DataFormatError(
            f'could not read {what} file {path!r}: expected a MATLAB (v5) '
            f'.mat file with a {key!r} array ({type(exc).__name__}: {exc})'
        ) from None
    if key not in mat:
        found = sorted(k for k in mat if not k.startswith('__'))
        raise DataFormatError(
            f'{what} file {path!r}: no variable {key!r} (found {found}); '
            f'expected the PASCAL-Context label map under {key!r}')
    arr = np.asarray(mat[key])
    if arr.ndim != 2 or not (np.issubdtype(arr.dtype, np.integer) or (
            np.issubdtype(arr.dtype, np.floating)
            and np.array_equal(arr, np.round(arr)))):
        raise DataFormatError(
            f'{what} file {path!r}: {key!r} must be a 2-D array of integer '
            f'class ids, got {arr.dtype} {arr.shape}')
    return arr.astype(np.int64, copy=False)


def describe_values(known: np.ndarray) -> str:
    """'0..40' style description of the True entries of a boolean mask."""
    values = np.flatnonzero(known).tolist()
    if not values:
        return 'none'
    runs, start = [], values[0]
    for prev, cur in zip(values, values[1:] + [None]):
        if cur is None or cur != prev + 1:
            runs.append(f'{start}..{prev}' if prev != start else f'{start}')
            start = cur
    return ', '.join(runs)
