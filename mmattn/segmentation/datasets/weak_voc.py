# Copyright (c) mmattn contributors. All rights reserved.
"""PASCAL VOC with proxy masks, image tags and per-image mask scores: the
training set of SAL-Net's retraining stage (paper Sec. III-A, III-D)."""
import hashlib
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import mmcv
import numpy as np
from mmengine import fileio
from mmengine.logging import print_log

from mmattn.segmentation.score_file import (SCORE_FIELDS, MaskScoreFileError,
                                            StaleMaskScoresError,
                                            load_mask_score_file,
                                            stale_proxy_masks)
from mmattn.segmentation.tag_file import read_tags
from mmattn.utils.validation import check_bool, is_real
from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS
from .sample_check import check_label_mask

Policy = Union[str, float]


def _check_policy(name: str, value, allow_fill: bool) -> Policy:
    if value in ('error', 'skip'):
        return value
    if allow_fill and is_real(value) and 0.0 <= float(value) <= 1.0:
        return float(value)
    allowed = "'error', 'skip'" + (' or a fill score in [0, 1]'
                                   if allow_fill else '')
    raise ValueError(f'{name} must be {allowed}, got {value!r}')


@DATASETS.register_module()
class WeakVOCDataset(PascalVOCDataset):
    """VOC-layout dataset whose masks are proxy annotations, with image tags
    and per-image mask scores attached to every sample.

    Each data info (and, through :class:`PackWeakSegInputs`, each data
    sample's metainfo) gets:

    - ``img_id`` (str): the image id (file name without suffix);
    - ``img_tags``: float32 ``(num_classes - 1,)`` 0/1 foreground tags
      (index ``k`` is class ``k + 1``), read from ``tag_file`` (the IRN/SEAM
      ``cls_labels.npy`` dict ``id -> (20,)``) or, with
      ``tags_from_masks=True``, derived from the loaded mask (useful for
      ground-truth masks of the strong set in semi-supervised training);
    - ``mask_scores`` (dict): ``{'AC', 'CD', 'SC', 'P', 'SF'}`` of the image
      from ``score_file`` (written by ``dump_mask_scores``).

    What happens when something is missing is a policy, checked when the
    dataset is built:

    - ``on_missing_tag``: the tag file lacks the image. ``'error'``
      (default: ``ValueError`` naming image and file) or ``'skip'`` (drop
      the image; logged).
    - ``on_unscored_image``: the score file lacks the image. ``'error'``
      (default), ``'skip'``, or a number in [0, 1] filled into every field.
    - ``on_missing_score``: the image is in the score file but one of
      ``required_scores`` is ``null`` (e.g. SF of a coarse-only file).
      ``'error'`` (default), ``'skip'`` or a fill number.

    - ``on_stale_scores``: the proxy masks are no longer those the score
      file scored (their fingerprints, recorded by ``dump_mask_scores``,
      differ: the folder was regenerated or edited after scoring).
      ``'error'`` (default: ``StaleMaskScoresError`` naming the score file
      and the changed masks) or ``'warn'`` (train with the old scores; one
      warning). A score file without fingerprints (older mmattn, or written
      without a proxy folder) cannot be checked: one warning, then it is
      used.

    Every sample is checked as it is loaded (``check_samples``): right
    after the pipeline's annotation loading, the mask must be a
    single-channel label map of its image's size whose labels lie in
    ``0 .. num_classes - 1`` or are ``ignore_index``; otherwise
    ``SegSampleError`` names the mask, its image and the problem (instead
    of a torch error naming no file, iterations later).

    With ``score_file=None`` the dataset carries no scores (fine for losses
    that need none, e.g. ``SelectionLoss(weighting='none')``), unless
    ``on_unscored_image`` is a number: then every image gets that score,
    which is how trusted (strong) annotations join a selection-loss run
    (``on_unscored_image=1.0``: ``w_i = 1``).

    Args:
        ann_file (str): Split file (one image id per line).
        data_prefix (dict): ``img_path`` and ``seg_map_path`` (the proxy
            mask folder). Default: JPEGImages / SegmentationClassProxy.
        tag_file (str, optional): ``cls_labels.npy``; relative paths are
            joined with ``data_root``. Ignored with ``tags_from_masks``.
            Default: 'cls_labels.npy'.
        tags_from_masks (bool): Derive tags from the masks. Default: False.
        score_file (str, optional): Mask score file; relative paths are
            joined with ``data_root``. Default: 'mask_scores.json'.
        required_scores (Sequence[str]): Score fields that must be non-null
            (``on_missing_score`` applies). Default: ('SF', ).
        on_missing_tag (str): See above. Default: 'error'.
        on_unscored_image (str | float): See above. Default: 'error'.
        on_missing_score (str | float): See above. Default: 'error'.
        on_stale_scores (str): ``'error'`` or ``'warn'``, see above.
            Default: 'error'.
        check_samples (bool): Check each loaded mask, see above.
            Default: True.
        **kwargs: :class:`PascalVOCDataset` / ``BaseSegDataset`` arguments.
    """

    def __init__(self,
                 ann_file: str,
                 data_prefix: dict = dict(
                     img_path='JPEGImages',
                     seg_map_path='SegmentationClassProxy'),
                 tag_file: Optional[str] = 'cls_labels.npy',
                 tags_from_masks: bool = False,
                 score_file: Optional[str] = 'mask_scores.json',
                 required_scores: Sequence[str] = ('SF', ),
                 on_missing_tag: str = 'error',
                 on_unscored_image: Policy = 'error',
                 on_missing_score: Policy = 'error',
                 on_stale_scores: str = 'error',
                 check_samples: bool = True,
                 **kwargs) -> None:
        if isinstance(required_scores, str):
            required_scores = (required_scores, )
        unknown = [k for k in required_scores if k not in SCORE_FIELDS]
        if unknown:
            raise ValueError(f'required_scores must be among {SCORE_FIELDS}, '
                             f'got {list(required_scores)!r}')
        if not tags_from_masks and tag_file is None:
            raise ValueError('tag_file is None and tags_from_masks is False: '
                             'the image tags must come from somewhere')
        self.tag_file = tag_file
        self.tags_from_masks = bool(tags_from_masks)
        self.score_file = score_file
        self.required_scores = tuple(required_scores)
        self.on_missing_tag = _check_policy(
            'on_missing_tag', on_missing_tag, allow_fill=False)
        self.on_unscored_image = _check_policy(
            'on_unscored_image', on_unscored_image, allow_fill=True)
        self.on_missing_score = _check_policy(
            'on_missing_score', on_missing_score, allow_fill=True)
        if on_stale_scores not in ('error', 'warn'):
            raise ValueError("on_stale_scores must be 'error' or 'warn', "
                             f'got {on_stale_scores!r}')
        self.on_stale_scores = on_stale_scores
        self.check_samples = check_bool('check_samples', check_samples)
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def _join_prefix(self) -> None:
        super()._join_prefix()
        for attr in ('tag_file', 'score_file'):
            path = getattr(self, attr)
            if path and not osp.isabs(path) and self.data_root:
                setattr(self, attr, osp.join(self.data_root, path))

    @staticmethod
    def _image_id(img_path: str) -> str:
        return osp.splitext(osp.basename(img_path))[0]

    def _load_tags(self) -> Optional[Dict[str, np.ndarray]]:
        if self.tags_from_masks:
            return None
        return read_tags(self.tag_file)

    def _tags_from_mask(self, seg_map_path: str) -> np.ndarray:
        mask = mmcv.imfrombytes(
            fileio.get(seg_map_path, backend_args=self.backend_args),
            flag='unchanged',
            backend='pillow')
        num_fg = len(self.metainfo['classes']) - 1
        labels = np.unique(mask)
        labels = labels[(labels >= 1) & (labels <= num_fg)]
        tags = np.zeros(num_fg, dtype=np.float32)
        tags[labels.astype(np.int64) - 1] = 1.0
        return tags

    def load_data_list(self) -> List[dict]:
        """Load the split, then attach ``img_id``, ``img_tags`` and
        ``mask_scores`` to every data info, applying the policies."""
        data_list = super().load_data_list()
        num_fg = len(self.metainfo['classes']) - 1
        tag_table = self._load_tags()
        score_file = (
            load_mask_score_file(self.score_file)
            if self.score_file is not None else None)
        score_table = score_file.scores if score_file is not None else None
        kept, skipped = [], {}
        for data_info in data_list:
            img_id = self._image_id(data_info['img_path'])
            data_info['img_id'] = img_id

            if tag_table is None:
                tags = self._tags_from_mask(data_info['seg_map_path'])
            elif img_id in tag_table:
                tags = np.asarray(
                    tag_table[img_id], dtype=np.float32).reshape(-1)
                if tags.shape != (num_fg, ):
                    raise ValueError(
                        f'{self.tag_file}: image {img_id!r} has '
                        f'{tags.size} tags, expected {num_fg} (one per '
                        'foreground class, no background)')
            elif self.on_missing_tag == 'skip':
                skipped.setdefault('no tag', []).append(img_id)
                continue
            else:
                raise ValueError(
                    f'image {img_id!r} has no tags in {self.tag_file} '
                    "(set on_missing_tag='skip' to drop such images)")
            data_info['img_tags'] = tags

            scores = self._scores_for(img_id, score_table, skipped)
            if scores is False:
                continue
            if scores is not None:
                data_info['mask_scores'] = scores
            kept.append(data_info)

        for reason, ids in skipped.items():
            print_log(
                f'WeakVOCDataset: skipped {len(ids)} image(s) ({reason}), '
                f'e.g. {ids[:5]}',
                logger='current',
                level=logging.WARNING)
        if not kept:
            raise ValueError(
                f'WeakVOCDataset ({self.ann_file}): no image left after '
                f'applying the policies (skipped: '
                f'{ {k: len(v) for k, v in skipped.items()} })')
        if score_file is not None:
            self._check_scores_match_masks(score_file, kept)
        return kept

    def _fingerprint(self, path: str) -> str:
        return hashlib.sha1(fileio.get(
            path, backend_args=self.backend_args)).hexdigest()

    def _check_scores_match_masks(self, score_file, data_list) -> None:
        """Compare the masks with the fingerprints of the masks that were
        scored; apply ``on_stale_scores``."""
        masks = {
            info['img_id']: info['seg_map_path']
            for info in data_list if info['img_id'] in score_file.scores
        }
        if not masks:
            return
        if score_file.fingerprints is None:
            print_log(
                f'WeakVOCDataset: {score_file.path} records no fingerprints '
                'of the proxy masks it scored (written by an older mmattn '
                'or without a proxy folder), so it cannot be checked '
                'against the masks in use; re-score with '
                'tools/score_masks.py to record them',
                logger='current',
                level=logging.WARNING)
            return
        stale = stale_proxy_masks(score_file, masks, self._fingerprint)
        if not stale:
            return
        scored = score_file.proxy_dir or '?'
        tool = score_file.meta.get('tool', 'tools/score_masks.py')
        message = (
            f'{score_file.path}: stale mask scores: {len(stale)} of '
            f'{len(masks)} proxy masks differ from the ones that were '
            f'scored (e.g. {stale[:3]}; scored folder {scored!r}, by '
            f'{tool}). The folder was regenerated (tools/make_data.py '
            '--overwrite) or edited after scoring, so the scores describe '
            'other masks. Re-score the masks (tools/score_masks.py ... '
            '--overwrite, the settings used are under "meta" in the score '
            'file)')
        if self.on_stale_scores == 'error':
            raise StaleMaskScoresError(
                f"{message}, or set on_stale_scores='warn' to train with "
                'these scores anyway.')
        print_log(
            f"WeakVOCDataset: {message}. on_stale_scores='warn': training "
            'with these scores anyway.',
            logger='current',
            level=logging.WARNING)

    def prepare_data(self, idx: int):
        """Run the pipeline on sample ``idx``, checking the mask right after
        the transform that loads it (``check_samples``).

        Raises:
            SegSampleError: The mask does not fit its image or the class
                list; the message names the files.
        """
        data_info = self.get_data_info(idx)
        if not self.check_samples:
            return self.pipeline(data_info)
        results, checked = data_info, False
        for transform in self.pipeline.transforms:
            results = transform(results)
            if results is None:
                return None
            if not checked and 'gt_seg_map' in results:
                checked = True
                check_label_mask(
                    np.asarray(results['gt_seg_map']),
                    results.get('ori_shape',
                                getattr(results.get('img'), 'shape', None)),
                    len(self.metainfo['classes']),
                    self.ignore_index,
                    seg_map_path=results.get('seg_map_path', '<mask>'),
                    img_path=results.get('img_path'))
        return results

    def _scores_for(self, img_id: str, score_table, skipped: dict):
        """Score dict of an image, None (no scores carried) or False (skip).
        """
        if score_table is None:
            if isinstance(self.on_unscored_image, float):
                return {k: self.on_unscored_image for k in SCORE_FIELDS}
            return None
        if img_id not in score_table:
            if self.on_unscored_image == 'skip':
                skipped.setdefault('not in the score file', []).append(img_id)
                return False
            if self.on_unscored_image == 'error':
                raise MaskScoreFileError(
                    f'{self.score_file}: image {img_id!r} has no scores '
                    "(set on_unscored_image='skip' or a fill value)")
            return {k: self.on_unscored_image for k in SCORE_FIELDS}
        scores = dict(score_table[img_id])
        for key in self.required_scores:
            if scores.get(key) is not None:
                continue
            if self.on_missing_score == 'skip':
                skipped.setdefault(f'{key} missing', []).append(img_id)
                return False
            if self.on_missing_score == 'error':
                raise MaskScoreFileError(
                    f'{self.score_file}: image {img_id!r} has no {key!r} '
                    "score (coarse-only file? set on_missing_score='skip' or "
                    'a fill value, or required_scores)')
            scores[key] = self.on_missing_score
        return scores
