# Copyright (c) mmattn contributors. All rights reserved.
"""Test support for test_distributed_training.py (not a test module).

Imported by the training processes through ``custom_imports``: every rank
saves its own model weights, so the test can check that data-parallel
training kept all ranks identical.
"""
import os
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

__all__ = ['DumpRankWeightsHook']


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):
    """Save each rank's ``state_dict`` before and after training.

    Writes ``{out_dir}/rank{R}_{before,after}.pth`` with the unwrapped
    model's ``state_dict``, ``world_size``, the wrapper's class name and
    the names of BN layers (whose running statistics DDP does not sync
    under mmengine's ``broadcast_buffers=False``). ``before`` is taken at
    ``before_train``, after the Runner has initialised the weights (and
    broadcast rank 0's), so that the test can see that training changed
    them; ``after`` at ``after_run``.

    Args:
        out_dir (str): Folder to write into; created if missing.
    """

    priority = 'VERY_LOW'

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def _dump(self, runner, stage: str) -> None:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        state = {
            key: value.detach().cpu().clone()
            for key, value in model.state_dict().items()
        }
        bn_layers = [
            name for name, layer in model.named_modules()
            if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm)
        ]
        torch.save(
            dict(
                state_dict=state,
                world_size=runner.world_size,
                wrapper=type(runner.model).__name__,
                bn_layers=bn_layers),
            osp.join(self.out_dir, f'rank{get_rank()}_{stage}.pth'))

    def before_train(self, runner) -> None:
        os.makedirs(self.out_dir, exist_ok=True)
        self._dump(runner, 'before')

    def after_run(self, runner) -> None:
        self._dump(runner, 'after')
