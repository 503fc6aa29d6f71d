# Copyright (c) mmattn contributors. All rights reserved.
"""The (image, binary mask, target score) samples the mask-scoring network
trains on."""
import math
import os.path as osp
from typing import List

from mmengine.dataset import BaseDataset
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS

__all__ = ['MaskScoringDataset']


@DATASETS.register_module()
class MaskScoringDataset(BaseDataset):
    """Samples written by :func:`synthesize_scoring_set`.

    The annotation file is OpenMMLab 2.0 JSON::

        {"metainfo": {"target": "reference", ...},
         "data_list": [
            {"sample_id": "000012_erode_0", "img_path": "images/000012.jpg",
             "mask_path": "masks/000012_erode_0.png", "gt_score": 0.61,
             "kind": "erode", "source_ids": ["000012"]}, ...]}

    ``img_path`` and ``mask_path`` are relative to ``data_root`` (joined
    with ``data_prefix``); ``gt_score`` is the regression target in
    ``[0, 1]`` (Eq. 6's ``AC_i``). A class-aware synthesis adds
    ``agreement`` in ``[0, 1]``, the class head's target.

    Args:
        ann_file: The annotation JSON.
        data_prefix: Prefixes for ``img_path`` and ``mask_path``.
        **kwargs: See :class:`mmengine.dataset.BaseDataset`.
    """

    METAINFO = dict(task='mask_scoring')

    def __init__(self,
                 ann_file: str = '',
                 data_prefix: dict = dict(img_path='', mask_path=''),
                 **kwargs) -> None:
        # The pipeline's transforms live in mmseg's registry, whatever scope
        # is current (none in scripts and notebooks, mmdet after a detector
        # was built in the same process).
        with DefaultScope.overwrite_default_scope('mmseg'):
            super().__init__(
                ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'mask-scoring annotation file not found: {self.ann_file}')
        try:
            return super().load_data_list()
        except (ValueError, TypeError, KeyError) as e:
            raise ValueError(f'{self.ann_file}: not a valid mask-scoring '
                             f'annotation file ({e})') from e

    def parse_data_info(self, raw_data_info: dict) -> dict:
        for key in ('img_path', 'mask_path', 'gt_score'):
            if key not in raw_data_info:
                raise KeyError(f'sample {raw_data_info!r} lacks {key!r}')
        score = raw_data_info['gt_score']
        if isinstance(score, bool) or not isinstance(
                score, (int, float)) or not math.isfinite(score) or \
                not 0 <= score <= 1:
            raise ValueError(f'sample {raw_data_info.get("sample_id")!r}: '
                             f'gt_score {score!r} is not a score in [0, 1]')
        agreement = raw_data_info.get('agreement')
        if agreement is not None and (
                isinstance(agreement, bool)
                or not isinstance(agreement, (int, float))
                or not 0 <= agreement <= 1):
            raise ValueError(f'sample {raw_data_info.get("sample_id")!r}: '
                             f'agreement {agreement!r} is not a share in '
                             '[0, 1]')
        info = dict(raw_data_info)
        for key in ('img_path', 'mask_path'):
            # BaseDataset has already joined data_root into the prefixes.
            info[key] = osp.join(self.data_prefix.get(key, ''), info[key])
        info['gt_score'] = float(score)
        return info
