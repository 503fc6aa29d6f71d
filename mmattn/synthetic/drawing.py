# Copyright (c) mmattn contributors. All rights reserved.
"""Drawing primitives shared by the generated detection and segmentation
datasets: shape outlines, textured fills and cluttered backgrounds.

Every function takes a ``numpy.random.Generator`` and draws nothing else at
random, so an image is a pure function of the generator's state. Images are
float32 RGB arrays of shape ``(H, W, 3)`` in ``[0, 255]`` until
:func:`finish_image` turns them into uint8.
"""
import math
from typing import Sequence, Tuple

import cv2
import numpy as np

from mmattn.utils.validation import check_choice

#: The shape classes, in label order. Colour and texture are drawn
#: independently of the shape, so only the outline tells classes apart.
SHAPE_NAMES = ('rectangle', 'ellipse', 'triangle', 'star', 'cross')

#: Fill patterns. The detection set picks one at random per object; the
#: segmentation set ties one to each class when there are more classes than
#: shapes.
TEXTURE_PATTERNS = ('plain', 'stripes', 'checker', 'dots')

# Sub-pixel precision of cv2.fillPoly, so that small shapes keep their
# outline instead of snapping to the integer grid.
_POLY_SHIFT = 4


def unit_shape(shape: str, rng: np.random.Generator) -> np.ndarray:
    """The outline of a shape in the square ``[-1, 1]^2``.

    Each class varies within itself (triangle apex, star depth, cross arm
    width) so that the outline, not one exact template, is what a model has
    to learn.

    Args:
        shape (str): One of :data:`SHAPE_NAMES`.
        rng (numpy.random.Generator): Source of the in-class variation.

    Returns:
        numpy.ndarray: Polygon vertices, shape ``(K, 2)``, as ``(x, y)``.
    """
    check_choice('shape', shape, SHAPE_NAMES)
    if shape == 'rectangle':
        pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    elif shape == 'ellipse':
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    elif shape == 'triangle':
        apex = rng.uniform(-0.6, 0.6)
        pts = [(apex, -1), (1, 1), (-1, 1)]
    elif shape == 'star':
        inner = rng.uniform(0.38, 0.5)
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, inner)
        return np.stack([radii * np.cos(angles), radii * np.sin(angles)],
                        axis=1)
    else:  # 'cross'
        t = rng.uniform(0.28, 0.42)
        pts = [(-t, -1), (t, -1), (t, -t), (1, -t), (1, t), (t, t), (t, 1),
               (-t, 1), (-t, t), (-1, t), (-1, -t), (-t, -t)]
    return np.asarray(pts, dtype=np.float64)


def place_shape(unit: np.ndarray, center: Sequence[float],
                half_size: Sequence[float], angle_deg: float) -> np.ndarray:
    """Scale, rotate and move a unit outline into image coordinates.

    Args:
        unit (numpy.ndarray): Vertices from :func:`unit_shape`, ``(K, 2)``.
        center (Sequence[float]): ``(cx, cy)`` in pixels.
        half_size (Sequence[float]): Half width and half height before
            rotation, in pixels.
        angle_deg (float): Rotation in degrees.

    Returns:
        numpy.ndarray: Vertices in pixels, shape ``(K, 2)``.
    """
    theta = math.radians(angle_deg)
    rot = np.array([[math.cos(theta), -math.sin(theta)],
                    [math.sin(theta), math.cos(theta)]])
    return (unit * np.asarray(half_size)) @ rot.T + np.asarray(center)


def rasterize(poly: np.ndarray, height: int, width: int) -> np.ndarray:
    """Fill a polygon into a boolean mask clipped to the image.

    Args:
        poly (numpy.ndarray): Vertices in pixels, ``(K, 2)``.
        height (int): Image height.
        width (int): Image width.

    Returns:
        numpy.ndarray: Boolean mask, shape ``(height, width)``.
    """
    mask = np.zeros((height, width), np.uint8)
    pts = np.round(poly * (1 << _POLY_SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=_POLY_SHIFT)
    return mask.astype(bool)


def ellipse_mask(center: Sequence[float], axes: Sequence[float],
                 angle_deg: float, height: int, width: int) -> np.ndarray:
    """A filled ellipse as a boolean mask (used for blobs, not for shapes).

    Args:
        center (Sequence[float]): ``(cx, cy)`` in pixels.
        axes (Sequence[float]): Semi-axes in pixels.
        angle_deg (float): Rotation in degrees.
        height (int): Image height.
        width (int): Image width.

    Returns:
        numpy.ndarray: Boolean mask, shape ``(height, width)``.
    """
    t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    unit = np.stack([np.cos(t), np.sin(t)], axis=1)
    return rasterize(place_shape(unit, center, axes, angle_deg), height, width)


def contrasting_colour(rng: np.random.Generator,
                       reference: np.ndarray,
                       min_distance: float = 80.0,
                       tries: int = 20) -> np.ndarray:
    """A random RGB colour at least ``min_distance`` away from a reference.

    Objects whose colour happens to match what is under them would be
    invisible, which no model can learn; redrawing keeps colour random while
    ruling that out.

    Args:
        rng (numpy.random.Generator): Colour source.
        reference (numpy.ndarray): RGB colour to stay away from, ``(3,)``.
        min_distance (float): Minimal Euclidean RGB distance.
        tries (int): Random draws before falling back to a pushed-away
            colour.

    Returns:
        numpy.ndarray: float64 RGB colour, shape ``(3,)``.
    """
    reference = np.asarray(reference, dtype=np.float64)
    for _ in range(tries):
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - reference) >= min_distance:
            return colour
    return np.clip(reference + np.where(reference < 127.5, 110.0, -110.0), 0,
                   255)


def textured_fill(rng: np.random.Generator, height: int, width: int,
                  base_colour: np.ndarray, pattern: str,
                  scale: float) -> np.ndarray:
    """A textured patch to paint an object with.

    Args:
        rng (numpy.random.Generator): Texture source.
        height (int): Patch height.
        width (int): Patch width.
        base_colour (numpy.ndarray): Main RGB colour, ``(3,)``.
        pattern (str): One of :data:`TEXTURE_PATTERNS`.
        scale (float): Image side / 192, so pattern periods follow the image
            size.

    Returns:
        numpy.ndarray: float32 patch, shape ``(height, width, 3)``.
    """
    check_choice('pattern', pattern, TEXTURE_PATTERNS)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    u = xx * math.cos(theta) + yy * math.sin(theta)
    v = -xx * math.sin(theta) + yy * math.cos(theta)
    shading = (u - u.mean()) / max(height, width, 1) * rng.uniform(0, 60)
    base = np.asarray(base_colour, np.float32)
    patch = base + shading[..., None]
    if pattern != 'plain':
        second = contrasting_colour(rng, base, 60.0).astype(np.float32)
        period = rng.uniform(4.0, 9.0) * max(scale, 0.4)
        if pattern == 'stripes':
            select = (u / period) % 2.0 < 1.0
        elif pattern == 'checker':
            select = (np.floor(u / period) + np.floor(v / period)) % 2 == 0
        else:  # dots
            du = (u % period) - period / 2
            dv = (v % period) - period / 2
            select = du * du + dv * dv < (0.3 * period)**2
        patch = np.where(select[..., None], second + shading[..., None], patch)
    noise_std = rng.uniform(2.0, 10.0)
    patch = patch + rng.normal(0, noise_std, (height, width, 3))
    return patch.astype(np.float32)


def paint(canvas: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
          pattern: str, scale: float) -> None:
    """Paint a textured object into ``canvas`` where ``mask`` is set.

    The base colour contrasts with the mean of what the object covers.

    Args:
        canvas (numpy.ndarray): float32 image ``(H, W, 3)``, changed in
            place.
        mask (numpy.ndarray): Boolean object mask ``(H, W)``, not empty.
        rng (numpy.random.Generator): Colour and texture source.
        pattern (str): One of :data:`TEXTURE_PATTERNS`.
        scale (float): Image side / 192.
    """
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    under = canvas[mask].mean(axis=0)
    colour = contrasting_colour(rng, under)
    patch = textured_fill(rng, y1 - y0, x1 - x0, colour, pattern, scale)
    crop = mask[y0:y1, x0:x1]
    canvas[y0:y1, x0:x1][crop] = patch[crop]


def linear_gradient(rng: np.random.Generator, height: int,
                    width: int) -> np.ndarray:
    """A two-colour linear gradient in a random direction, the base of
    every generated background.

    Args:
        rng (numpy.random.Generator): Draws the direction, then the two
            colours.
        height (int): Image height.
        width (int): Image width.

    Returns:
        numpy.ndarray: float32 image in [20, 235], shape
        ``(height, width, 3)``.
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    proj = xx * math.cos(theta) + yy * math.sin(theta)
    t = (proj - proj.min()) / (np.ptp(proj) + 1e-6)
    c0, c1 = rng.uniform(20, 235, (2, 3)).astype(np.float32)
    return c0 + t[..., None] * (c1 - c0)


def cluttered_background(rng: np.random.Generator, height: int,
                         width: int) -> np.ndarray:
    """A background with a colour gradient, blotchy low-frequency colour
    noise, finer noise and random distractor strokes.

    Strokes are open, thin lines and arcs: they clutter the image without
    forming a closed filled outline that could pass for a shape.

    Args:
        rng (numpy.random.Generator): Source of every random choice.
        height (int): Image height.
        width (int): Image width.

    Returns:
        numpy.ndarray: float32 image, shape ``(height, width, 3)``.
    """
    side = min(height, width)
    scale = side / 256.0
    img = linear_gradient(rng, height, width)

    cell = rng.uniform(12.0, 48.0) * max(scale, 0.25)
    grid = (max(2, int(round(height / cell))), max(2,
                                                   int(round(width / cell))))
    low = rng.normal(0, rng.uniform(8, 30), grid + (3, )).astype(np.float32)
    img += cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    fine_grid = (max(2, height // 4), max(2, width // 4))
    fine = rng.normal(0, rng.uniform(0, 12), fine_grid + (3, ))
    img += cv2.resize(
        fine.astype(np.float32), (width, height),
        interpolation=cv2.INTER_LINEAR)
    img = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))

    max_thickness = max(1, int(round(3 * scale)))
    num_strokes = int(rng.integers(2, 5 + int(8 * height * width / 65536)))
    for _ in range(num_strokes):
        colour = tuple(float(c) for c in rng.uniform(0, 255, 3))
        thickness = int(rng.integers(1, max_thickness + 1))
        kind = rng.integers(3)
        if kind == 0:  # a straight polyline
            pts = rng.uniform(-0.1, 1.1, (int(rng.integers(2, 5)), 2))
            pts = (pts * [width, height]).astype(np.int32)
            cv2.polylines(img, [pts], False, colour, thickness, cv2.LINE_AA)
        elif kind == 1:  # an open arc
            center = (int(rng.integers(0,
                                       width)), int(rng.integers(0, height)))
            axes = tuple(int(a) for a in rng.uniform(0.05, 0.4, 2) * side + 1)
            start = float(rng.uniform(0, 360))
            cv2.ellipse(img, center, axes, float(rng.uniform(0, 180)), start,
                        start + float(rng.uniform(40, 200)), colour, thickness,
                        cv2.LINE_AA)
        else:  # a scribble (random walk)
            steps = rng.normal(0, 0.06 * side, (int(rng.integers(5, 13)), 2))
            start = rng.uniform(0, 1, 2) * [width, height]
            pts = (start + np.cumsum(steps, axis=0)).astype(np.int32)
            cv2.polylines(img, [pts], False, colour, thickness, cv2.LINE_AA)
    return img.astype(np.float32)


def finish_image(rng: np.random.Generator, canvas: np.ndarray) -> np.ndarray:
    """Soften edges slightly and add sensor-like noise.

    Args:
        rng (numpy.random.Generator): Noise source.
        canvas (numpy.ndarray): float32 image ``(H, W, 3)``.

    Returns:
        numpy.ndarray: uint8 RGB image ``(H, W, 3)``.
    """
    img = cv2.GaussianBlur(canvas, (0, 0), float(rng.uniform(0.4, 0.8)))
    img = img + rng.normal(0, rng.uniform(1.0, 6.0), img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def mask_bbox(mask: np.ndarray) -> Tuple[int, int, int, int]:
    """Tight box of a non-empty mask as ``(x0, y0, x1, y1)``, ``x1``/``y1``
    exclusive."""
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
