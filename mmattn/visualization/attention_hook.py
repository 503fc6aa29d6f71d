# Copyright (c) mmattn contributors. All rights reserved.
"""Attention pictures of a few validation images during training."""
import os.path as osp
from typing import Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from mmattn.utils.validation import check_positive_int

from .attention import NoAttentionError, attention_kind
from .render import render_attention


@HOOKS.register_module()
class AttentionVisualizationHook(Hook):
    """Draw the attention maps of the first validation images.

    At every ``interval``-th validation run, the first ``num_images`` images
    of the first validation batch are drawn by
    :func:`~mmattn.visualization.render_attention`, as
    ``tools/visualize_attention.py`` draws them (HAR-Net spatial masks per
    level or SAL-Net class attention), into
    ``<work_dir>/<out_dir>/iter_<runner.iter>/``. For SAL-Net the panels
    are the image's tags when the data samples carry ``img_tags``
    (``WeakVOCDataset`` + ``PackWeakSegInputs``), else the ``topk`` classes.

    Registered in mmengine's root ``HOOKS``, so detection (mmdet) and
    segmentation (mmseg) configs both find it::

        custom_hooks = [dict(type='AttentionVisualizationHook', interval=1)]

    A model without attention to show (e.g. the RetinaNet twin) gets one
    warning and no pictures; training goes on.

    Args:
        interval (int): Draw at every ``interval``-th validation run.
            Defaults to 1.
        num_images (int): Images drawn each time (at most the first batch).
            Defaults to 2.
        out_dir (str): Sub-folder of the work dir. Defaults to
            ``'attention_maps'``.
        topk (int, optional): SAL-Net classes per picture without tags (or
            the number of panels to fill with untagged classes). Defaults to
            None (3 without tags).
        alpha (float): Opacity of the maps. Defaults to 0.5.
    """

    priority = 'LOW'

    def __init__(self,
                 interval: int = 1,
                 num_images: int = 2,
                 out_dir: str = 'attention_maps',
                 topk: Optional[int] = None,
                 alpha: float = 0.5) -> None:
        self.interval = check_positive_int('interval', interval)
        self.num_images = check_positive_int('num_images', num_images)
        if topk is not None:
            check_positive_int('topk', topk)
        if not isinstance(out_dir, str) or not out_dir:
            raise ValueError(
                f'out_dir must be a non-empty str, got {out_dir!r}')
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha must be in [0, 1], got {alpha!r}')
        self.out_dir = out_dir
        self.topk = topk
        self.alpha = alpha
        self._val_runs = 0
        self._disabled = False

    def before_val_epoch(self, runner) -> None:
        self._val_runs += 1

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch: Optional[dict] = None,
                       outputs: Optional[Sequence] = None) -> None:
        if (batch_idx != 0 or data_batch is None or self._disabled
                or not is_main_process()
                or (self._val_runs - 1) % self.interval != 0):
            return
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        try:
            attention_kind(model)
        except NoAttentionError as err:
            print_log(
                f'AttentionVisualizationHook: {err}; no pictures',
                logger='current',
                level=30)
            self._disabled = True
            return
        batch = {
            key: value[:self.num_images]
            for key, value in data_batch.items()
            if key in ('inputs', 'data_samples')
        }
        batch = model.data_preprocessor(batch, False)
        out_dir = osp.join(runner.work_dir, self.out_dir,
                           f'iter_{runner.iter}')
        # Tags (SAL-Net) come from the data samples' img_tags.
        render_attention(
            model, batch, out_dir, topk=self.topk, alpha=self.alpha)
