# Copyright (c) mmattn contributors. All rights reserved.
"""Parameters, FLOPs and CPU latency of HAR-Net R-50 against RetinaNet R-50.

Both detectors are built from their configs
(``configs/harnet/harnet_r50_fpn_1x_coco.py``, Table IV "HA", and
``configs/harnet/retinanet_r50_fpn_1x_coco.py``, its baseline) without
pretrained weights, for COCO's 80 classes. The input is one 800x1333 image
padded to 800x1344 (mmdet's ``pad_size_divisor=32``); the measured network
is ``model._forward`` (backbone + neck + head up to the raw class and box
maps; the shared post-processing, Soft-NMS and box voting, is left out).

FLOPs are multiply-accumulates, as mmdet and mmcv report them ("GFLOPs"),
counted by mmengine's ``FlopAnalyzer`` (fvcore-style jit tracing: convs,
matmuls, norms; element-wise ops are free). The tracer does not know mmcv's
deformable conv, so a handler is added for ``DeformConv2dFunction`` and
``ModulatedDeformConv2dFunction``:

    MACs = N * C_out * (C_in / groups) * kh * kw * H_out * W_out      (conv)
         + 4 * N * C_in * kh * kw * H_out * W_out                    (sampling)

i.e. the dense conv's MACs plus 4 multiply-adds per bilinearly sampled
value (its four corners; the corner weights are per position and group, a
negligible extra). The offset conv is an ordinary ``nn.Conv2d`` and counted
as such. Without the handler the deformable convs would count 0.

Latency: ``--reps`` timed forwards per model after ``--warmup`` untimed
ones, interleaved (repetition r runs the models in a rotated order), in ONE
process; medians per part (backbone, neck, head) and of the total. The
verdict uses the median of the paired ratios (HAR-Net / RetinaNet within
one repetition, where both ran back to back), which cancels most of the
load drift of a shared machine. HAR-Net is timed with both deformable-conv
implementations (``deform_impl='mmcv'`` and ``'torch'``).

    python benchmarks/harnet_complexity.py
    python benchmarks/harnet_complexity.py --reps 7 --threads 2
    python benchmarks/harnet_complexity.py --dcn-only   # the layer alone
    python benchmarks/harnet_complexity.py --suite heads --reps 5

``--suite heads`` measures HA on the heads of the leaderboard instead
(``configs/harnet/``): ATSS, ATSS+HA, ATSS+DyHead (mmdet's DyHead neck,
the attention add-on mmdet ships), GFL and GFL+HA, each against its base
head in the same run.

Targets: HAR-Net / RetinaNet at most 1.25x FLOPs and 1.3x latency
(``retinanet``); HA at most 1.2x its base head's FLOPs and latency
(``heads``, DyHead's ratio reported beside it). Results are recorded in
docs/benchmarks_harnet.md.
"""
import argparse
import os.path as osp
import platform
import statistics
import time
from collections import OrderedDict
from typing import Dict, List

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import Config
from torch import nn

import mmattn  # noqa: F401  (registers the HAR-Net modules)
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
HARNET_CFG = osp.join(ROOT, 'configs', 'harnet', 'harnet_r50_fpn_1x_coco.py')
RETINA_CFG = osp.join(ROOT, 'configs', 'harnet',
                      'retinanet_r50_fpn_1x_coco.py')

def _cfg(name: str) -> str:
    return osp.join(ROOT, 'configs', 'harnet', name)


# suite -> [(model name, config, deform_impl or None, baseline name or None)]
SUITES = {
    'retinanet': [
        ('RetinaNet R-50', RETINA_CFG, None, None),
        ('HAR-Net R-50 (mmcv DCN)', HARNET_CFG, 'mmcv', 'RetinaNet R-50'),
        ('HAR-Net R-50 (torch DCN)', HARNET_CFG, 'torch', 'RetinaNet R-50'),
    ],
    'heads': [
        ('ATSS', _cfg('atss_r50_fpn_1x_coco.py'), None, None),
        ('ATSS+HA', _cfg('harnet_atss_r50_fpn_1x_coco.py'), 'mmcv', 'ATSS'),
        ('ATSS+DyHead', _cfg('atss_r50_fpn_dyhead_1x_coco.py'), None,
         'ATSS'),
        ('GFL', _cfg('gfl_r50_fpn_1x_coco.py'), None, None),
        ('GFL+HA', _cfg('harnet_gfl_r50_fpn_1x_coco.py'), 'mmcv', 'GFL'),
    ],
}
# suite -> (FLOPs target, latency target, models the targets apply to)
TARGETS = {
    'retinanet': (1.25, 1.3, ('HAR-Net R-50 (mmcv DCN)',
                              'HAR-Net R-50 (torch DCN)')),
    'heads': (1.2, 1.2, ('ATSS+HA', 'GFL+HA')),
}
PARTS = ('backbone', 'neck', 'bbox_head')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--height', type=int, default=800)
    p.add_argument('--width', type=int, default=1333)
    p.add_argument('--warmup', type=int, default=1,
                   help='untimed forwards per model')
    p.add_argument('--reps', type=int, default=9,
                   help='timed forwards per model (interleaved)')
    p.add_argument('--threads', type=int, default=1,
                   help='torch intra-op threads; on a loaded 2-core machine '
                   '1 gives far steadier numbers than 2')
    p.add_argument('--suite', choices=sorted(SUITES), default='retinanet',
                   help='retinanet: HAR-Net vs RetinaNet (the paper); '
                   'heads: HA on ATSS and GFL, with DyHead on ATSS')
    p.add_argument('--dcn-only', action='store_true',
                   help='only time the deformable conv layer alone (mmcv vs '
                   'torch, forward and forward + backward) at the sizes of '
                   'the tiny synthetic config and of HAR-Net R-50 C4/C5')
    p.add_argument('--no-anchor', action='store_true',
                   help="skip RetinaNet's FLOPs at 1280x800 (the model-zoo "
                   'anchor, about 239 G)')
    return p.parse_args()


def deform_conv_flop_handle(inputs, outputs) -> int:
    """MACs of mmcv's (modulated) deformable conv: conv + bilinear sampling.

    Inputs of both autograd functions start with ``input, offset``; the
    weight is the third (v1) or the fourth (v2, after the mask) tensor.
    """
    x_shape = get_shape(inputs[0])
    out_shape = get_shape(outputs[0])
    weight_shape = None
    for value in inputs[2:4]:
        shape = get_shape(value)
        if shape is not None and len(shape) == 4 and shape[0] == out_shape[1]:
            weight_shape = shape
    n, c_in = x_shape[:2]
    c_out, c_in_per_group, kh, kw = weight_shape
    positions = n * out_shape[2] * out_shape[3]
    conv = positions * c_out * c_in_per_group * kh * kw
    sampling = 4 * positions * c_in * kh * kw
    return conv + sampling


class TensorForward(nn.Module):
    """``detector._forward`` as a module the tracer can call."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, x):
        return self.detector._forward(x)


def build(cfg_path: str, deform_impl: str = None) -> nn.Module:
    cfg = Config.fromfile(cfg_path)
    cfg.model.backbone.init_cfg = None  # no pretrained download
    if deform_impl is not None:  # an AlignedFPN neck
        cfg.model.neck.aligned_attention.deform_impl = deform_impl
    model = MODELS.build(cfg.model)
    model.eval()
    return model


def count_params(model: nn.Module) -> Dict[str, int]:
    counts = OrderedDict(
        (part, sum(p.numel() for p in getattr(model, part).parameters()))
        for part in PARTS)
    counts['total'] = sum(p.numel() for p in model.parameters())
    return counts


def count_flops(model: nn.Module, shape) -> Dict[str, int]:
    x = torch.randn(1, 3, *shape)
    analyzer = FlopAnalyzer(TensorForward(model), (x, ))
    analyzer.set_op_handle(
        'prim::PythonOp.DeformConv2dFunction', deform_conv_flop_handle,
        'prim::PythonOp.ModulatedDeformConv2dFunction',
        deform_conv_flop_handle)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    by_module = analyzer.by_module()
    counts = OrderedDict(
        (part, by_module[f'detector.{part}']) for part in PARTS)
    counts['total'] = analyzer.total()
    skipped = {k: v for k, v in analyzer.unsupported_ops().items()}
    counts['_unsupported'] = skipped
    return counts


def padded(size: int, divisor: int = 32) -> int:
    return (size + divisor - 1) // divisor * divisor


def time_models(models: Dict[str, nn.Module], shape, warmup: int,
                reps: int) -> Dict[str, Dict[str, List[float]]]:
    """Seconds per forward, per part (backbone, neck, head) and in total."""
    x = torch.randn(1, 3, *shape)
    names = list(models)
    times = {name: {part: [] for part in PARTS + ('total', )}
             for name in names}
    with torch.no_grad():
        for name in names:
            for _ in range(warmup):
                models[name]._forward(x)
        for r in range(reps):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                model = models[name]
                t0 = time.perf_counter()
                feats = model.backbone(x)
                t1 = time.perf_counter()
                feats = model.neck(feats)
                t2 = time.perf_counter()
                model.bbox_head(feats)
                t3 = time.perf_counter()
                for part, secs in zip(PARTS + ('total', ),
                                      (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                    times[name][part].append(secs)
    return times


def time_deform_convs(reps: int) -> None:
    """The deformable conv alone: mmcv's op, the torch one, a dense conv.

    Sizes ``(N, C, H, W)`` with ``deform_groups=4``, ``C`` in and out, 3x3:
    the tiny synthetic HAR-Net's C4 at 192 px (batch 8, 64 channels, 12x12)
    and HAR-Net R-50's C4 and C5 at 800x1344 (batch 1, 256 channels).
    """
    from mmcv.ops import DeformConv2dPack

    from mmattn.blocks.deform_conv import TorchDeformConv2dPack

    sizes = [(8, 64, 12, 12), (1, 256, 50, 84), (1, 256, 25, 42)]
    lines = ['| N, C, H, W | mode | mmcv s | torch s | dense conv s | '
             'mmcv / torch |', '| --- | --- | --- | --- | --- | --- |']
    for size in sizes:
        n, c, h, w = size
        ref = DeformConv2dPack(c, c, 3, padding=1, deform_groups=4)
        nn.init.normal_(ref.conv_offset.weight, std=0.01)
        layer = TorchDeformConv2dPack(c, c, 3, padding=1, deform_groups=4)
        layer.load_state_dict(ref.state_dict())
        dense = nn.Conv2d(c, c, 3, padding=1, bias=False)
        x = torch.randn(*size, requires_grad=True)
        for mode in ('forward (no grad)', 'forward + backward'):
            times = {'mmcv': [], 'torch': [], 'dense': []}
            for r in range(reps + 1):
                for name, module in (('mmcv', ref), ('torch', layer),
                                     ('dense', dense)):
                    t0 = time.perf_counter()
                    if mode.startswith('forward +'):
                        module(x).sum().backward()
                    else:
                        with torch.no_grad():
                            module(x)
                    if r > 0:  # the first round is the warm-up
                        times[name].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k, v in times.items()}
            lines.append(f'| {n}, {c}, {h}, {w} | {mode} | {med["mmcv"]:.4f} '
                         f'| {med["torch"]:.4f} | {med["dense"]:.4f} | '
                         f'{med["mmcv"] / med["torch"]:.1f}x |')
    print('\n'.join(lines))


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.dcn_only:
        print(f'torch {torch.__version__}, {args.threads} thread(s), '
              f'{args.reps} repetitions, medians')
        time_deform_convs(args.reps)
        return
    register_all_modules(init_default_scope=True)
    shape = (padded(args.height), padded(args.width))
    suite = SUITES[args.suite]
    models = OrderedDict(
        (name, build(cfg, impl)) for name, cfg, impl, _ in suite)
    baseline = {name: base for name, _, _, base in suite}
    flop_target, latency_target, targeted = TARGETS[args.suite]
    # FLOPs and params do not depend on the deformable-conv implementation:
    # count each config once.
    counted = [name for name, cfg, impl, _ in suite
               if impl != 'torch']
    print(f'input 1x3x{shape[0]}x{shape[1]} ({args.height}x{args.width} '
          f'padded to /32), torch {torch.__version__}, '
          f'{args.threads} thread(s), {platform.machine()}')

    params = {name: count_params(models[name]) for name in counted}
    flops = {name: count_flops(models[name], shape) for name in counted}
    unsupported = sorted(
        set().union(*(flops[name]['_unsupported'] for name in counted)))
    print(f'ops the FLOP counter skips (element-wise, free by convention): '
          f'{unsupported}')

    def short(name):
        return name.split(' (')[0]

    lines = ['| | ' + ' | '.join(PARTS + ('total', )) + ' |',
             '| --- |' + ' --- |' * (len(PARTS) + 1)]
    for label, table, scale, fmt in (('params (M)', params, 1e6, '.2f'),
                                     ('GFLOPs', flops, 1e9, '.1f')):
        for name in counted:
            lines.append(f'| {label}, {short(name)} | ' + ' | '.join(
                f'{table[name][k] / scale:{fmt}}'
                for k in PARTS + ('total', )) + ' |')
        for name in counted:
            base = baseline[name]
            if base is None:
                continue
            lines.append(f'| {label} ratio, {short(name)} / {base} | ' +
                         ' | '.join(f'{table[name][k] / table[base][k]:.3f}'
                                    for k in PARTS + ('total', )) + ' |')
    print('\n'.join(lines))

    if args.suite == 'retinanet' and not args.no_anchor:
        base = 'RetinaNet R-50'
        anchor = count_flops(models[base], (800, 1280))
        print(f'anchor: RetinaNet R-50 at 1280x800: '
              f'{anchor["total"] / 1e9:.1f} GFLOPs, '
              f'{params[base]["total"] / 1e6:.2f} M params '
              '(model zoo: about 239 GFLOPs, 37.7 M)')

    times = time_models(models, shape, args.warmup, args.reps)
    med = {name: {part: statistics.median(ts) for part, ts in parts.items()}
           for name, parts in times.items()}
    # Paired ratios: the models of one repetition run back to back, so the
    # ratio within a repetition cancels most of the machine's load drift.
    paired = {
        name: [t / b for t, b in zip(times[name]['total'],
                                     times[baseline[name]]['total'])]
        for name in times if baseline[name] is not None
    }
    lat = ['| model | baseline | ' + ' | '.join(f'{p} s' for p in PARTS) +
           ' | total s | total min-max s | ratio of medians | '
           'paired ratio: median (min-max) |',
           '| --- |' + ' --- |' * (len(PARTS) + 5)]
    for name in times:
        ts = times[name]['total']
        base = baseline[name]
        if base is None:
            ratios = ' | | |'
        else:
            pr = paired[name]
            ratios = (f" | {med[name]['total'] / med[base]['total']:.3f} | "
                      f'{statistics.median(pr):.3f} '
                      f'({min(pr):.2f}-{max(pr):.2f}) |')
        lat.append(f'| {name} | {base or "-"} | ' + ' | '.join(
            f'{med[name][p]:.2f}' for p in PARTS) +
            f" | {med[name]['total']:.2f} | {min(ts):.2f}-{max(ts):.2f}" +
            ratios)
    print(f'latency: {args.reps} interleaved forwards per model after '
          f'{args.warmup} warm-up; medians')
    print('\n'.join(lat))
    for name in counted:
        base = baseline[name]
        if base is None:
            continue
        ratio = flops[name]['total'] / flops[base]['total']
        verdict = ((f'target <= {flop_target}: '
                    f'{"met" if ratio <= flop_target else "MISSED"}')
                   if name in targeted else 'for comparison')
        print(f'FLOPs ratio {name} / {base}: {ratio:.3f} ({verdict})')
    for name in paired:
        ratio = statistics.median(paired[name])
        verdict = ((f'target <= {latency_target}: '
                    f'{"met" if ratio <= latency_target else "MISSED"}')
                   if name in targeted else 'for comparison')
        print(f'latency ratio {name} / {baseline[name]}: {ratio:.3f} '
              f'({verdict})')

if __name__ == '__main__':
    main()
