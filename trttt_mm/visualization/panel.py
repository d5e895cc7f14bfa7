"""Geometry and text of a multi-task panel.

A panel is a grid: one column for the input image and one per task; one row
per kind of map (ground truth, the unadapted model's prediction, the
prediction). Every cell is the image size times an integer ``scale``; a
header row holds the column titles, a left margin the row titles, and a
legend (semseg classes, the invalid-pixel hatch) follows the grid.
:class:`PanelLayout` computes where each cell lies, so a test or a script can
cut a cell out of a saved panel.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

#: Row keys in drawing order and their titles.
ROW_TITLES: Dict[str, str] = {
    'gt': 'ground truth',
    'base': 'before TTT',
    'pred': 'after TTT',
}
#: Title of the prediction row when the panel has no ``base`` row.
PRED_ONLY_TITLE = 'prediction'
INPUT_COLUMN = 'input'

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.4
FONT_THICKNESS = 1
TEXT_COLOR = (0, 0, 0)
BACKGROUND = 255
#: Gap between cells and around the grid, in pixels.
GAP = 4
#: Side of a legend swatch, in pixels.
SWATCH = 10


def text_size(text: str) -> Tuple[int, int]:
    """``(width, height)`` of ``text`` in the panel font, descent included."""
    (w, h), base = cv2.getTextSize(text, FONT, FONT_SCALE, FONT_THICKNESS)
    return w, h + base


def put_text(canvas: np.ndarray, text: str, x: int, y: int,
             max_width: int) -> None:
    """Write ``text`` with its top-left corner at ``(x, y)``, clipped to
    ``max_width`` pixels (cv2 clips at the array border)."""
    w, h = text_size(text)
    box = canvas[y:y + h + 1, x:x + max(max_width, 0)]
    if box.size == 0:
        return
    _, base = cv2.getTextSize(text, FONT, FONT_SCALE, FONT_THICKNESS)
    cv2.putText(box, text, (0, h - base), FONT, FONT_SCALE, TEXT_COLOR,
                FONT_THICKNESS, cv2.LINE_AA)


def auto_scale(image_hw: Tuple[int, int], min_cell_size: int) -> int:
    """The smallest integer factor that makes the shorter image side at
    least ``min_cell_size`` pixels (1 for images that are large enough)."""
    short = max(min(image_hw), 1)
    return max(1, int(np.ceil(min_cell_size / short)))


def row_titles(rows: Sequence[str]) -> List[str]:
    """Titles of ``rows`` (the prediction is 'after TTT' only beside a
    'before TTT' row)."""
    return [PRED_ONLY_TITLE if r == 'pred' and 'base' not in rows
            else ROW_TITLES[r] for r in rows]


@dataclass
class PanelLayout:
    """Where the cells of a panel lie.

    Args:
        image_hw: ``(H, W)`` of the input image (every map is brought to it).
        scale: integer upscaling of every cell (nearest neighbour).
        columns: ``'input'`` followed by task names.
        rows: row keys of :data:`ROW_TITLES`, in drawing order.
    """
    image_hw: Tuple[int, int]
    scale: int
    columns: Tuple[str, ...]
    rows: Tuple[str, ...]
    label_width: int = field(init=False)
    header_height: int = field(init=False)

    def __post_init__(self):
        self.columns = tuple(self.columns)
        self.rows = tuple(self.rows)
        self.label_width = max(text_size(t)[0]
                               for t in row_titles(self.rows)) + 2 * GAP
        self.header_height = text_size('Hg')[1] + 2 * GAP

    @property
    def cell_hw(self) -> Tuple[int, int]:
        """``(height, width)`` of one cell."""
        return self.image_hw[0] * self.scale, self.image_hw[1] * self.scale

    @property
    def grid_height(self) -> int:
        """Height of the header and the grid (the legend comes below)."""
        ch = self.cell_hw[0]
        return self.header_height + len(self.rows) * (ch + GAP)

    @property
    def width(self) -> int:
        """Width of the whole panel."""
        cw = self.cell_hw[1]
        return self.label_width + len(self.columns) * (cw + GAP)

    def cell(self, row: str, column: str) -> Tuple[slice, slice]:
        """``(rows, cols)`` slices of one cell in the panel array.

        Raises:
            KeyError: naming the row or column the panel does not have.
        """
        if row not in self.rows:
            raise KeyError(f'panel has no row {row!r}; rows: {self.rows}')
        if column not in self.columns:
            raise KeyError(f'panel has no column {column!r}; columns: '
                           f'{self.columns}')
        ch, cw = self.cell_hw
        i, j = self.rows.index(row), self.columns.index(column)
        y = self.header_height + i * (ch + GAP)
        x = self.label_width + j * (cw + GAP)
        return slice(y, y + ch), slice(x, x + cw)

    def draw_frame(self, canvas: np.ndarray,
                   titles: Dict[str, str]) -> None:
        """Write the column titles (``titles[column]``, default the column
        name) and the row titles onto ``canvas``."""
        ch, cw = self.cell_hw
        for j, col in enumerate(self.columns):
            x = self.label_width + j * (cw + GAP)
            put_text(canvas, titles.get(col, col), x, GAP, cw + GAP)
        for i, title in enumerate(row_titles(self.rows)):
            y = self.header_height + i * (ch + GAP)
            th = text_size(title)[1]
            put_text(canvas, title, GAP, y + max((ch - th) // 2, 0),
                     self.label_width - GAP)


def legend_height(items: Sequence[str], width: int) -> int:
    """Height of the legend that :func:`draw_legend` writes for ``items``
    within ``width`` pixels (0 without items)."""
    return _legend_rows(items, width)[1]


def _legend_rows(items: Sequence[str], width: int):
    line_h = max(text_size('Hg')[1], SWATCH) + GAP
    places, x, y = [], GAP, GAP
    for text in items:
        w = SWATCH + GAP + text_size(text)[0] + 3 * GAP
        if x > GAP and x + w > width:
            x, y = GAP, y + line_h
        places.append((x, y))
        x += w
    return places, (y + line_h + GAP) if items else 0


def draw_legend(canvas: np.ndarray, top: int,
                items: Sequence[Tuple[str, np.ndarray]]) -> None:
    """Write ``(text, swatch)`` items (swatch: ``(SWATCH, SWATCH, 3)``
    uint8) in lines from row ``top`` of ``canvas``."""
    places, _ = _legend_rows([t for t, _ in items], canvas.shape[1])
    for (text, swatch), (x, y) in zip(items, places):
        yy = top + y
        canvas[yy:yy + SWATCH, x:x + SWATCH] = swatch
        put_text(canvas, text, x + SWATCH + GAP, yy - 1,
                 canvas.shape[1] - x - SWATCH - GAP)
