# Copyright (c) mmattn contributors. All rights reserved.
"""Merging the head outputs of images 2x apart (HAR-Net Sec. IV-B, Fig. 6).

Geometry. Let image ``k`` be the input resized by ``f_k``, with
``f_{k+1} = 2 f_k``, and let pyramid level ``l`` have stride ``s_l = s_0 2^l``
in its own image. Measured in input pixels, level ``l`` of image ``k`` has
stride ``s_l / f_k = (s_0 / f_0) 2^(l - k)``. So level ``l + 1`` of the
*larger* image ``k + 1`` has the same stride and, the image being exactly
twice as large, the same map size as level ``l`` of the *smaller* image
``k``. (Not level ``l`` of the larger image: that one is twice as fine.)
Grouping maps by ``m = l - k`` gives the merged pyramid: with ``n`` scales
and ``L`` levels, ``m`` runs from ``-(n - 1)`` (level 0 of the largest image,
finer than any level of the input) to ``L - 1`` (the coarsest level of the
smallest image), ``L + n - 1`` merged levels in all. For the paper's two
scales and five levels (P3-P7): the larger image's P3 passes through as the
finest merged level, the larger image's P4-P7 are averaged with the smaller
image's P3-P6, and the smaller image's P7 passes through as the coarsest.

Anchors. A RetinaNet anchor at level ``l`` is ``base_size_l`` times the
octave scales, centred at ``stride_l`` times the grid index. When strides
and base sizes double from level to level, the anchors of image ``k + 1``
level ``l + 1`` divided by ``f_{k+1}`` equal the anchors of image ``k``
level ``l`` divided by ``f_k``: the averaged maps refer to the very same
anchors in input pixels. Regression deltas of the delta-xywh coder are
relative to the anchor's own width and height (``dx = (gx - ax) / aw``,
``dw = log(gw / aw)``), so a delta means the same thing at both scales and
averaging them is consistent; decoding a merged level with its anchors
expressed in input pixels gives boxes in input pixels.
"""
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

#: One merged level: the ``(scale index, level index)`` pairs it averages.
MergePlan = List[List[Tuple[int, int]]]


def check_two_x_scale_factors(scale_factors: Sequence[float]) -> List[float]:
    """Check that scale factors are increasing and exactly 2x apart.

    Args:
        scale_factors (Sequence[float]): Resize factors relative to the
            input image, e.g. ``[1.0, 2.0]``.

    Returns:
        list[float]: The factors as floats, in the given (increasing) order.

    Raises:
        ValueError: If there are fewer than two factors, a factor is not a
            positive number, or two neighbours are not exactly 2x apart.
    """
    if isinstance(scale_factors, (str, bytes)) \
            or not isinstance(scale_factors, Sequence) \
            or len(scale_factors) < 2:
        raise ValueError('multi-scale merging needs a list of at least two '
                         f'scale factors, got {scale_factors!r}')
    factors = []
    for factor in scale_factors:
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) \
                or factor <= 0:
            raise ValueError('scale factors must be positive numbers, got '
                             f'{list(scale_factors)!r}')
        factors.append(float(factor))
    for small, large in zip(factors[:-1], factors[1:]):
        if abs(large - 2 * small) > 1e-6 * large:
            raise ValueError(
                'the paper merges output maps of scales exactly 2x apart, in '
                f'increasing order; got scale factors {list(scale_factors)!r}'
                ' (use extra_scale_factors for scales that are only combined '
                'at the detection level)')
    return factors


def pyramid_merge_plan(num_levels: int, num_scales: int) -> MergePlan:
    """Which maps each merged level averages.

    Args:
        num_levels (int): Pyramid levels per image (5 for P3-P7).
        num_scales (int): Number of images, scale factors 2x apart, index 0
            the smallest.

    Returns:
        list[list[tuple[int, int]]]: ``num_levels + num_scales - 1`` merged
        levels, finest first; entry ``i`` lists the ``(scale, level)`` pairs
        with ``level - scale == i - (num_scales - 1)``, smallest image first.
    """
    if num_levels < 1 or num_scales < 1:
        raise ValueError('num_levels and num_scales must be >= 1, got '
                         f'{num_levels} and {num_scales}')
    plan = []
    for merged in range(num_levels + num_scales - 1):
        offset = merged - (num_scales - 1)  # m = level - scale
        plan.append([(scale, scale + offset) for scale in range(num_scales)
                     if 0 <= scale + offset < num_levels])
    return plan


def merge_pyramid_maps(maps_per_scale: Sequence[Sequence[Tensor]],
                       plan: MergePlan) -> List[Tensor]:
    """Average the maps that share a resolution, following ``plan``.

    Args:
        maps_per_scale (Sequence[Sequence[Tensor]]): ``maps_per_scale[k][l]``
            is level ``l`` of image ``k``, shape ``(N, C, H_kl, W_kl)``.
        plan (list[list[tuple[int, int]]]): From :func:`pyramid_merge_plan`.

    Returns:
        list[Tensor]: One ``(N, C, H, W)`` map per merged level, finest first:
        the mean of the contributing maps, or the single map unchanged.

    Raises:
        ValueError: If maps to be averaged differ in shape (the larger image
            was not exactly twice the smaller one).
    """
    merged = []
    for contributors in plan:
        maps = [maps_per_scale[k][l] for k, l in contributors]
        shapes = {tuple(m.shape) for m in maps}
        if len(shapes) > 1:
            raise ValueError(
                'maps of one merged level must have the same shape, got '
                f'{[tuple(m.shape) for m in maps]} for (scale, level) '
                f'{contributors}; the images must be exactly 2x apart, so '
                'pad the input to a multiple of 32 (pad_size_divisor=32)')
        if len(maps) == 1:
            merged.append(maps[0])
        else:
            merged.append(torch.stack(maps).mean(0))
    return merged
