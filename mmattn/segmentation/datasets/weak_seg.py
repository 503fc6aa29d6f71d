# Copyright (c) mmattn contributors. All rights reserved.
"""The SAL-Net training set for any class set: a user's own folder of images,
proxy masks, tags and mask scores in the VOC layout."""
from mmseg.registry import DATASETS

from .weak_voc import WeakVOCDataset


@DATASETS.register_module()
class WeakSegDataset(WeakVOCDataset):
    """:class:`WeakVOCDataset` whose classes come from the config.

    ``WeakVOCDataset`` inherits PASCAL VOC's fixed 21 classes, and mmseg only
    accepts a ``metainfo`` whose classes are a subset of them. This dataset
    has no built-in class list, so ``metainfo=dict(classes=...)`` (background
    first: label ``k`` is ``classes[k]``) is required and taken as given.
    Image tags then have ``len(classes) - 1`` entries. Everything else
    (layout, tag and score files, missing-entry policies) is as in
    :class:`WeakVOCDataset`.

    Args:
        metainfo (dict): Must contain ``classes`` (a sequence of at least two
            names, background first); ``palette`` is optional.
        **kwargs: :class:`WeakVOCDataset` arguments.
    """
    METAINFO = dict()

    def __init__(self, metainfo: dict = None, **kwargs) -> None:
        classes = (metainfo or {}).get('classes')
        if classes is None or isinstance(classes, str) or len(classes) < 2:
            raise ValueError(
                'WeakSegDataset needs metainfo=dict(classes=(...)) with the '
                'background first and at least one foreground class, got '
                f'metainfo={metainfo!r}; for PASCAL VOC classes use '
                'WeakVOCDataset')
        super().__init__(metainfo=metainfo, **kwargs)
