# Copyright (c) mmattn contributors. All rights reserved.
"""Packing of the weak labels (image tags, mask scores) into data
samples."""
from typing import Sequence

import numpy as np
import torch

from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS

WEAK_META_KEYS = ('img_id', 'img_tags', 'mask_scores')


@TRANSFORMS.register_module()
class PackWeakSegInputs(PackSegInputs):
    """``PackSegInputs`` that keeps the weak labels of
    :class:`WeakVOCDataset` in the data sample's metainfo.

    mmseg's ``PackSegInputs`` drops every key that is not in its
    ``meta_keys``; this transform always adds ``img_id``, ``img_tags`` and
    ``mask_scores`` to them (also to a custom ``meta_keys``), turns the tags
    into a float32 tensor ``(num_classes - 1,)`` and copies the score dict.
    Keys absent from the results (e.g. a plain ``PascalVOCDataset`` in
    validation) are skipped, so it can replace ``PackSegInputs`` anywhere.

    Args:
        meta_keys (Sequence[str]): Meta keys to pack besides the weak ones.
            Default: those of ``PackSegInputs``.
    """

    def __init__(
        self,
        meta_keys: Sequence[str] = ('img_path', 'seg_map_path', 'ori_shape',
                                    'img_shape', 'pad_shape', 'scale_factor',
                                    'flip', 'flip_direction',
                                    'reduce_zero_label')
    ) -> None:
        meta_keys = tuple(meta_keys)
        super().__init__(meta_keys=meta_keys +
                         tuple(k
                               for k in WEAK_META_KEYS if k not in meta_keys))

    def transform(self, results: dict) -> dict:
        """Pack image, mask and metainfo (weak labels included).

        Returns:
            dict: ``inputs`` and ``data_samples`` (``SegDataSample``).
        """
        if 'img_tags' in results:
            results['img_tags'] = torch.as_tensor(
                np.asarray(results['img_tags'], dtype=np.float32))
        if 'mask_scores' in results:
            results['mask_scores'] = dict(results['mask_scores'])
        return super().transform(results)
