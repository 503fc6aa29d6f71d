# Copyright (c) mmattn contributors. All rights reserved.
"""Checks that an mmattn install works: compiled mmcv ops, registrations,
checkpoint loading. Used by ``tools/demo.py``."""
import io
import traceback
from typing import Callable, Dict, List, NamedTuple, Tuple

import torch

# The registry names users write in configs, by (scope, registry).
PUBLIC_MODULES: Dict[Tuple[str, str], Tuple[str, ...]] = {
    ('mmengine', 'MODELS'): ('SpatialAttention', 'CrossLevelGroupNorm',
                             'CrossLevelSE', 'AlignedAttention', 'GDN'),
    ('mmdet', 'MODELS'): ('AlignedFPN', 'HARRetinaHead', 'HARATSSHead',
                          'HARGFLHead', 'HARFCOSHead'),
    ('mmengine', 'HOOKS'): ('AttentionVisualizationHook', ),
    ('mmengine', 'MODEL_WRAPPERS'): ('CPUDistributedDataParallel', ),
    ('mmdet', 'HOOKS'): ('StagedAttentionHook', ),
    ('mmseg', 'MODELS'): ('SALHead', 'SelectionLoss', 'AttentionLoss',
                          'MaskScoringNet'),
    ('mmseg', 'DATASETS'): ('WeakVOCDataset', 'WeakSegDataset'),
    ('mmseg', 'METRICS'): ('VOCSubmissionMetric', ),
}


class CheckResult(NamedTuple):
    name: str
    ok: bool
    detail: str


def _check_mmcv_ops() -> str:
    from mmcv.ops import DeformConv2d, soft_nms
    conv = DeformConv2d(4, 4, 3, padding=1)
    x = torch.randn(1, 4, 8, 8)
    offset = torch.zeros(1, 18, 8, 8)
    y = conv(x, offset)
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.]])
    scores = torch.tensor([0.9, 0.8])
    dets, _ = soft_nms(boxes, scores, iou_threshold=0.3, sigma=0.5)
    return (f'DeformConv2d {tuple(y.shape)}, soft_nms kept {len(dets)} '
            'boxes (compiled CPU ops)')


def _check_registrations() -> str:
    import importlib
    missing = []
    count = 0
    for (scope, registry_name), names in PUBLIC_MODULES.items():
        registry = getattr(
            importlib.import_module(f'{scope}.registry'), registry_name)
        for name in names:
            count += 1
            if registry.get(name) is None:
                missing.append(f'{scope}.{registry_name}.{name}')
    if missing:
        raise RuntimeError(f'not registered: {missing}')
    return f'{count} public modules registered'


def _check_checkpoint_loading() -> str:
    from mmengine.logging import HistoryBuffer
    buffer = HistoryBuffer()
    buffer.update(1.0)
    file = io.BytesIO()
    torch.save({'message_hub': {'loss': buffer}}, file)
    file.seek(0)
    # torch's default (weights_only=True), as mmengine's loader calls it
    loaded = torch.load(file)
    assert loaded['message_hub']['loss'].current() == 1.0
    return 'mmengine checkpoints load under weights_only=True'


CHECKS: List[Tuple[str, Callable[[], str]]] = [
    ('mmcv ops', _check_mmcv_ops),
    ('registries', _check_registrations),
    ('checkpoints', _check_checkpoint_loading),
]


def check_install() -> List[CheckResult]:
    """Run every install check; never raises, reports each outcome."""
    import mmattn  # noqa: F401
    results = []
    for name, check in CHECKS:
        try:
            results.append(CheckResult(name, True, check()))
        except Exception as e:  # report, don't stop: the user sees them all
            detail = f'{type(e).__name__}: {e}\n{traceback.format_exc()}'
            results.append(CheckResult(name, False, detail))
    return results
