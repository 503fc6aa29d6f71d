# Copyright (c) mmattn contributors. All rights reserved.
"""Data transforms of the mask-scoring pipeline: load a binary mask (or, for
a class-aware scorer, a label map), pack image + mask into one 4-channel
tensor."""
from typing import Optional, Sequence

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.fileio import get
from mmengine.structures import BaseDataElement
from mmseg.registry import TRANSFORMS

__all__ = ['LoadBinaryMask', 'LoadLabelMask', 'PackMaskScoringInputs']


def _read_mask(results: dict, check_shape: bool, backend: str,
               what: str) -> np.ndarray:
    """``results['mask_path']`` as a 2-d array, its size checked against
    ``results['img']`` when ``check_shape``."""
    path = results['mask_path']
    try:
        mask = mmcv.imfrombytes(get(path), flag='unchanged', backend=backend)
    except FileNotFoundError as e:
        raise FileNotFoundError(f'mask file not found: {path}') from e
    if mask is None:
        raise ValueError(f'{path}: cannot decode the mask image')
    if mask.ndim != 2:
        raise ValueError(f'{path}: a {what} must have one channel (or be a '
                         f'palette PNG), got shape {mask.shape}')
    if check_shape and 'img' in results and \
            mask.shape != results['img'].shape[:2]:
        raise ValueError(
            f'{path}: mask size {mask.shape} differs from its image '
            f'{results.get("img_path", "")} size {results["img"].shape[:2]}')
    return mask


def _set_seg_map(results: dict, mask: np.ndarray) -> dict:
    results['gt_seg_map'] = mask
    results.setdefault('seg_fields', [])
    if 'gt_seg_map' not in results['seg_fields']:
        results['seg_fields'].append('gt_seg_map')
    return results


@TRANSFORMS.register_module()
class LoadBinaryMask(BaseTransform):
    """Read ``results['mask_path']`` as a binary mask into ``gt_seg_map``.

    Mask files are single-channel images, 0 = background and any non-zero
    value = object (the synthesis writes 0/255 so they are viewable). The
    mask goes to ``gt_seg_map`` as uint8 {0, 1} so mmcv's ``Resize`` and
    ``RandomFlip`` treat it as a segmentation map (nearest interpolation).

    Required keys: ``mask_path``; ``img`` if ``check_shape``.
    Added keys: ``gt_seg_map``, ``seg_fields``.

    Args:
        check_shape: Raise if the mask's size differs from ``img``'s.
        imdecode_backend: mmcv decoding backend.
    """

    def __init__(self,
                 check_shape: bool = True,
                 imdecode_backend: str = 'pillow') -> None:
        self.check_shape = check_shape
        self.imdecode_backend = imdecode_backend

    def transform(self, results: dict) -> dict:
        mask = _read_mask(results, self.check_shape, self.imdecode_backend,
                          'binary mask')
        return _set_seg_map(results, (mask > 0).astype(np.uint8))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(check_shape={self.check_shape}, '
                f'imdecode_backend={self.imdecode_backend!r})')


@TRANSFORMS.register_module()
class LoadLabelMask(BaseTransform):
    """Read ``results['mask_path']`` as a label map into ``gt_seg_map``: the
    mask of a class-aware scorer (see :class:`MaskScoringDataPreprocessor`'s
    ``num_classes``).

    Mask files hold class indices (a palette PNG as VOC's, or a grey PNG):
    0 background, ``1..K-1`` the classes. ``ignore_index`` pixels (unlabeled
    proxy pixels) count as background, as they do for the binary mask.
    Range checking against the scorer's classes happens in the data
    preprocessor, which knows ``K``.

    Required keys: ``mask_path``; ``img`` if ``check_shape``.
    Added keys: ``gt_seg_map`` (uint8 ``(H, W)`` class indices),
    ``seg_fields``.

    Args:
        ignore_index: Label read as background.
        check_shape: Raise if the mask's size differs from ``img``'s.
        imdecode_backend: mmcv decoding backend (pillow reads a palette
            PNG's indices).
    """

    def __init__(self,
                 ignore_index: int = 255,
                 check_shape: bool = True,
                 imdecode_backend: str = 'pillow') -> None:
        self.ignore_index = ignore_index
        self.check_shape = check_shape
        self.imdecode_backend = imdecode_backend

    def transform(self, results: dict) -> dict:
        mask = _read_mask(results, self.check_shape, self.imdecode_backend,
                          'label-map mask')
        if mask.dtype != np.uint8:
            raise ValueError(f'{results["mask_path"]}: a label-map mask '
                             f'must be 8-bit, got {mask.dtype}')
        return _set_seg_map(
            results, np.where(mask == self.ignore_index, 0, mask).astype(
                np.uint8))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ignore_index={self.ignore_index}'
                f', check_shape={self.check_shape}, '
                f'imdecode_backend={self.imdecode_backend!r})')


@TRANSFORMS.register_module()
class PackMaskScoringInputs(BaseTransform):
    """Pack ``img`` (H, W, 3) and ``gt_seg_map`` (H, W) into ``inputs``
    ``(4, H, W)`` uint8 and a :class:`BaseDataElement` sample.

    The mask channel keeps the values it is given ({0, 1} from
    :class:`LoadBinaryMask`, class indices from :class:`LoadLabelMask`);
    the data preprocessor encodes it for the network.

    The sample's metainfo holds ``meta_keys`` present in ``results``;
    ``gt_score`` (the regression target, a 0-d float tensor) is set when
    ``results`` has it, ``gt_agreement`` (the class head's target) when it
    has ``agreement``.

    Args:
        meta_keys: Keys copied into the sample's metainfo.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_path', 'mask_path',
                                             'sample_id', 'ori_shape',
                                             'img_shape', 'flip')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        mask = results['gt_seg_map']
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'{results.get("img_path", "image")}: expected '
                             f'an (H, W, 3) image, got {img.shape}')
        if mask.shape != img.shape[:2]:
            raise ValueError(
                f'{results.get("mask_path", "mask")}: mask size {mask.shape} '
                f'differs from the image size {img.shape[:2]}')
        stacked = np.concatenate(
            [img.astype(np.uint8), mask.astype(np.uint8)[..., None]],
            axis=2)
        inputs = torch.from_numpy(
            np.ascontiguousarray(stacked.transpose(2, 0, 1)))
        sample = BaseDataElement(metainfo={
            k: results[k]
            for k in self.meta_keys if k in results
        })
        # The regression target and (class-aware) the class head's one.
        for key, field in (('gt_score', 'gt_score'),
                           ('agreement', 'gt_agreement')):
            if results.get(key) is not None:
                sample.set_field(
                    torch.tensor(float(results[key]), dtype=torch.float32),
                    field)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'


def _as_uint8_mask(mask) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool and mask.size and (mask.min() < 0
                                             or mask.max() > 255):
        raise ValueError('a mask holds binary values or class indices in '
                         f'0..255, got values {mask.min()}..{mask.max()}')
    return mask.astype(np.uint8)


def build_inference_inputs(image: np.ndarray,
                           mask: np.ndarray,
                           pipeline: Optional[Sequence] = None) -> dict:
    """Run an in-memory ``image`` (H, W, 3 BGR uint8) and ``mask`` (H, W)
    through the transforms of a test pipeline that follow loading.

    Args:
        image: The image.
        mask: A binary mask (bool or {0, 1}), or for a class-aware scorer
            a label map of class indices (0 background, ignored pixels
            already set to 0).
        pipeline: A :class:`mmcv.transforms.Compose` (or list of callables)
            *without* the loading transforms; ``None`` packs as is.

    Returns:
        dict: ``inputs`` ``(4, H', W')`` and ``data_samples``.
    """
    results = dict(
        img=image,
        img_shape=image.shape[:2],
        ori_shape=image.shape[:2],
        gt_seg_map=_as_uint8_mask(mask),
        seg_fields=['gt_seg_map'])
    if pipeline is None:
        return PackMaskScoringInputs().transform(results)
    if callable(pipeline):
        return pipeline(results)
    for transform in pipeline:
        results = transform(results)
    return results
