# Copyright (c) mmattn contributors. All rights reserved.
"""mmseg's visualization hook, made usable for testing without a training
set."""
import os.path as osp
from typing import Optional, Sequence

import mmcv
from mmengine import fileio

from mmseg.engine.hooks import SegVisualizationHook
from mmseg.registry import HOOKS

__all__ = ['SegTestVisualizationHook']


@HOOKS.register_module()
class SegTestVisualizationHook(SegVisualizationHook):
    """``SegVisualizationHook`` that numbers test pictures by image.

    mmseg 1.2's hook passes ``step=runner.iter`` to the visualizer for test
    pictures too. ``Runner.iter`` reads ``Runner.train_loop``, which *builds*
    the training loop: its dataloader and dataset. So ``tools/test.py
    --show-dir`` (mmseg's or ``mim test``) on a SAL-Net config loads the
    training set, and fails when its score file is absent or lacks the
    training scores (``MaskScoreFileError ... has no 'SF' score``), or
    simply when the training images are not there. This hook draws the same
    pictures as mmseg's, but during testing it counts the images itself, as
    mmdet's ``DetVisualizationHook`` does, so testing never touches the
    training set. Validation during training is mmseg's unchanged.

    Args: as :class:`mmseg.engine.hooks.SegVisualizationHook` (``draw``,
        ``interval``, ``show``, ``wait_time``, ``backend_args``).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._test_index = 0

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        """Draw every ``interval``-th test batch, pictures numbered by image
        (``step``), without reading ``runner.iter``."""
        if self.draw is False or not outputs:
            return
        if not self.every_n_inner_iters(batch_idx, self.interval):
            return
        for output in outputs:
            self._test_index += 1
            img_path = output.img_path
            img_bytes = fileio.get(img_path, backend_args=self.backend_args)
            img = mmcv.imfrombytes(img_bytes, channel_order='rgb')
            self._visualizer.add_datasample(
                f'test_{osp.basename(img_path)}',
                img,
                data_sample=output,
                show=self.show,
                wait_time=self.wait_time,
                step=self._test_index)
