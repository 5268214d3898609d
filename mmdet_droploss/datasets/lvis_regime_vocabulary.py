"""The vocabulary of the LVIS-regime set: its long tail, its categories' shared attributes
and how one object is drawn (see :mod:`.lvis_regime` for why each choice)."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .synthetic_lvis import _shape_polygon

# Shapes in similar pairs; 'circle' is drawn as a 20-gon.
SHAPES: Tuple[str, ...] = ('square', 'diamond', 'hexagon', 'circle', 'triangle', 'star')
# Five hues, each in a dark and a light shade (BGR).
# The shades of a hue are about 20 % apart, within reach of the per-image illumination change.
HUES: Dict[str, Tuple[Tuple[int, int, int], Tuple[int, int, int]]] = {
    'red': ((40, 40, 180), (55, 55, 220)),
    'green': ((40, 150, 40), (55, 185, 55)),
    'blue': ((180, 80, 30), (220, 100, 40)),
    'yellow': ((30, 170, 190), (40, 205, 230)),
    'purple': ((150, 50, 130), (185, 65, 160)),
}
# Hues only the 'distinct' tail uses (a tail whose (shape, hue) no frequent category has needs
# more cells than the five hues give).
TAIL_ONLY_HUES: Dict[str, Tuple[Tuple[int, int, int], Tuple[int, int, int]]] = {
    'cyan': ((170, 160, 30), (210, 200, 45)),
    'pink': ((150, 110, 220), (185, 140, 250)),
}
# Clutter: shapes and colours that no category has.
CLUTTER_COLOURS: Tuple[Tuple[int, int, int], ...] = ((60, 60, 60), (40, 80, 120), (200, 200, 190))
# The two-tone fills a tail category (and the clutter) can have, as the pixels drawn in the
# bright tone: diagonal stripes, 3-pixel checks, horizontal bands. A vocabulary of hundreds of
# categories needs more looks than (shape, hue, shade) give; the fill is one more attribute.
TAIL_FILLS = {
    'striped': lambda xx, yy: ((xx + yy) // 3) % 2 == 0,
    'checkered': lambda xx, yy: (xx // 3 + yy // 3) % 2 == 0,
    'banded': lambda xx, yy: (yy // 3) % 2 == 0,
}

def long_tail_counts(num_rare: int = 22, num_common: int = 23,
                     num_frequent: int = 15, max_count: int = 320) -> Tuple[int, ...]:
    """Training-image counts, most frequent first, geometric inside each LVIS bin:
    frequent ``max_count`` .. 110, common 95 .. 12, rare 10 .. 1."""
    def geometric(high: float, low: float, n: int) -> List[int]:
        if n == 1:
            return [int(round(high))]
        return [int(round(high * (low / high) ** (k / (n - 1)))) for k in range(n)]
    return tuple(geometric(max_count, 110, num_frequent) + geometric(95, 12, num_common) +
                 geometric(10, 1, num_rare))


def category_attributes(counts: Sequence[int], seed: int = 0, tail_look: str = 'shared',
                        tail_fills: Sequence[str] = ('striped',)
                        ) -> List[Tuple[str, str, int, str]]:
    """The categories' (shape, hue, shade, pattern), in id order (``counts``: training images
    per category, most frequent first).

    Frequent categories are solid and come in sibling pairs that differ only in shade (dark /
    light of one hue and shape), as LVIS's frequent classes come with near-synonyms ("cup" /
    "mug"). Tail categories are two-toned, in one of ``tail_fills`` (names of
    :data:`TAIL_FILLS`; striped by default): each shares shape, hue and shade with solid
    categories and its fill with the clutter, so that rare classes can be taken for frequent
    ones and for background. A fixed random choice otherwise.

    ``tail_look='distinct'`` draws the tail only in (shape, hue) cells that no frequent
    category has (two more hues make room): tail classes then look like the clutter, not like
    frequent objects, as most of LVIS's rare classes look like no frequent one. Each tail
    (shape, hue, shade) holds one category per fill, so more fills make room for a vocabulary
    of hundreds of categories.
    """
    if tail_look not in ('shared', 'distinct'):
        raise ValueError(f"tail_look must be 'shared' or 'distinct', got {tail_look!r}.")
    if not tail_fills or any(f not in TAIL_FILLS for f in tail_fills):
        raise ValueError(f'tail_fills must be a non-empty selection of {sorted(TAIL_FILLS)}, '
                         f'got {list(tail_fills)}.')
    rng = np.random.default_rng(seed + 7919)
    frequent = [k for k, c in enumerate(counts) if c > 100]
    tail = [k for k, c in enumerate(counts) if c <= 100]
    cells = [(s, h) for s in SHAPES for h in HUES]
    cells = [cells[i] for i in rng.permutation(len(cells))]
    if len(frequent) > 2 * len(cells):
        raise ValueError(f'At most {2 * len(cells)} frequent categories can be drawn, got '
                         f'{len(frequent)}.')
    attrs: List[Tuple[str, str, int, str]] = [('', '', 0, '')] * len(counts)
    for n, k in enumerate(frequent):
        shape, hue = cells[n // 2]
        attrs[k] = (shape, hue, n % 2, 'solid')
    if tail_look == 'distinct':
        used = {(shape, hue) for shape, hue, _, _ in (attrs[k] for k in frequent)}
        tail_looks = [(s, h, d, f) for s in SHAPES for h in (*HUES, *TAIL_ONLY_HUES)
                      for d in (0, 1) for f in tail_fills if (s, h) not in used]
    else:
        tail_looks = [(s, h, d, f) for s in SHAPES for h in HUES for d in (0, 1)
                      for f in tail_fills]
    if len(tail) > len(tail_looks):
        raise ValueError(f'At most {len(tail_looks)} {tail_look} tail categories can be drawn '
                         f'with the fills {list(tail_fills)}, got {len(tail)}: add tail_fills.')
    for n, i in zip(tail, rng.permutation(len(tail_looks))):
        attrs[n] = tail_looks[i]
    return attrs


def hue_colours(hue: str) -> Tuple[Tuple[int, int, int], Tuple[int, int, int]]:
    """The (dark, light) BGR colours of a hue, the tail-only ones included."""
    return HUES[hue] if hue in HUES else TAIL_ONLY_HUES[hue]


def siblings(attrs: Sequence[Tuple[str, str, int, str]]) -> List[Optional[int]]:
    """For each category, the earlier category that differs from it only in shade (or None)."""
    first: Dict[tuple, int] = {}
    out: List[Optional[int]] = []
    for k, (shape, hue, _, pattern) in enumerate(attrs):
        out.append(first.get((shape, hue, pattern)))
        first.setdefault((shape, hue, pattern), k)
    return out


def category_name(attrs: Tuple[str, str, int, str]) -> str:
    shape, hue, shade, pattern = attrs
    return f"{'dark' if shade == 0 else 'light'}_{hue}_{pattern}_{shape}"


def draw_object(canvas: np.ndarray, shape: str, colour: np.ndarray, pattern: str, cx: float, cy: float,
          size: float, angle: float) -> np.ndarray:
    """Draw one object; returns its polygon (K, 2)."""
    import cv2

    if shape == 'circle':
        theta = np.deg2rad(np.arange(20) * 18.0)
        points = np.stack([cx + size / 2 * np.cos(theta), cy - size / 2 * np.sin(theta)], 1)
    else:
        points = _shape_polygon(shape, cx, cy, size, angle)
    h, w = canvas.shape[:2]
    points = np.clip(points, 0, [w - 1, h - 1])
    poly = np.round(points).astype(np.int32)
    if pattern == 'solid':
        cv2.fillPoly(canvas, [poly], tuple(int(c) for c in colour))
    else:
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [poly], 1)
        yy, xx = np.mgrid[:h, :w]
        stripe = TAIL_FILLS[pattern](xx, yy)
        canvas[(mask == 1) & stripe] = colour
        canvas[(mask == 1) & ~stripe] = (colour * 0.45).astype(np.uint8)
    return points
