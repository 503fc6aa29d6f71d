# Copyright (c) mmattn contributors. All rights reserved.
"""Training step time of ``SALHead`` against mmseg's ``ASPPHead``.

One training step is forward + backward + SGD step of the whole
``EncoderDecoder`` (same backbone, channels, input size and batch for
both). Two kinds of setting:

- ``CHANNELS:SIZE:BATCH``: the tiny CPU configs
  (``salnet_r18_tiny_synthetic{,_plain_ce}.py``, R-18 (GN) d8), with the
  ASPP and classification-branch width set to ``CHANNELS``;
- ``r101:SIZE:BATCH``: the paper's SAL-Net-ResNet101 config
  (``salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py``: R-101-d8, ASPP 512,
  classification branch 2048 -> 256 at its configured width) against the
  same model with its decode head swapped for mmseg's ``ASPPHead`` +
  ``CrossEntropyLoss`` (DeepLabV3's head, as in mmseg's
  ``deeplabv3_r50-d8.py``, with this config's rates, width and dropout).
  ``SyncBN`` is replaced by ``BN`` (one CPU process has no process group);
  no pretrained weights are loaded (timing does not depend on them).

``SALHead`` runs with everything on: the classification branch (rates
1/3/6/9), Eq. 11 (``attention_guided``), the selection loss on SF and the
attention loss (lambda 2). ``ASPPHead`` runs with mmseg's
``CrossEntropyLoss``, as in the plain-CE twin config.

The machine this was written for is shared and noisy, so both models are
measured in ONE process, interleaved after a warm-up: repetition ``r`` runs
A then B for even ``r`` and B then A for odd ``r`` (a drift in machine load
hits both alike), and the table reports medians. A second, head-only
measurement (backbone features computed once, gradient still flowing into
them) says where the extra time goes: the classification branch, or the
selection loss and Eq. 11; it also times the same SALHead with the
classification branch's ``fast_forward=False`` (the module-by-module path)
to show what the fast path saves.

    python benchmarks/sal_head_step_time.py
    python benchmarks/sal_head_step_time.py --settings 64:192:4 128:192:4 \\
        --reps 15 --profile
    python benchmarks/sal_head_step_time.py --threads 1 \\
        --settings 64:192:4 128:192:4 r101:321:2 --profile

Target of the issue: SAL / ASPP step-time ratio <= 1.15. Results are
recorded in docs/benchmarks_sal.md.
"""
import argparse
import copy
import os.path as osp
import platform
import statistics
import time
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.structures import PixelData

import mmattn  # noqa: F401  (registers SALHead and its losses)
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SAL_CFG = osp.join(ROOT, 'configs', 'sal', 'salnet_r18_tiny_synthetic.py')
ASPP_CFG = osp.join(ROOT, 'configs', 'sal',
                    'salnet_r18_tiny_synthetic_plain_ce.py')
R101_SAL_CFG = osp.join(ROOT, 'configs', 'sal',
                        'salnet-p5_r101-d8_1xb7-15k_voc12aug-321x321.py')
R101 = 'r101'  # the CHANNELS field of a paper-config setting
TARGET_RATIO = 1.15
NUM_FG_USED = 4  # foreground classes present in the fake labels/tags


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--settings',
        nargs='+',
        default=['64:192:4', '128:192:4'],
        help='CHANNELS:SIZE:BATCH (tiny R-18 configs) or r101:SIZE:BATCH '
        '(the paper\'s SAL-Net-ResNet101 config), one measurement each')
    p.add_argument(
        '--warmup',
        type=int,
        default=3,
        help='untimed steps per model before timing')
    p.add_argument(
        '--reps',
        type=int,
        default=12,
        help='timed steps per model (interleaved)')
    p.add_argument(
        '--head-reps',
        type=int,
        default=20,
        help='timed head-only steps per variant (0: skip)')
    p.add_argument(
        '--r101-warmup',
        type=int,
        default=1,
        help='untimed steps per model for r101 settings')
    p.add_argument(
        '--r101-reps',
        type=int,
        default=4,
        help='timed steps per model for r101 settings (~10-20 s each on '
        'one core)')
    p.add_argument(
        '--r101-head-reps',
        type=int,
        default=3,
        help='timed head-only steps per variant for r101 settings')
    p.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch threads (default: torch\'s choice)')
    p.add_argument(
        '--profile',
        action='store_true',
        help='print the top ops of one SALHead head-only step')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args()
    settings = []
    for text in args.settings:
        try:
            channels, size, batch = text.split(':')
            channels = R101 if channels == R101 else int(channels)
            size, batch = int(size), int(batch)
        except ValueError:
            p.error('--settings entries are CHANNELS:SIZE:BATCH or '
                    f'r101:SIZE:BATCH, got {text!r}')
        if (channels != R101 and channels < 1) or min(size, batch) < 1:
            p.error(f'bad setting {text!r}: positive values')
        if channels != R101 and size % 8:
            p.error(f'bad setting {text!r}: size a multiple of 8')
        settings.append((channels, size, batch))
    args.settings = settings
    return args


def model_cfgs(channels: int) -> Tuple[dict, dict]:
    """The tiny SAL (P5) and plain-CE (P2) model configs at ``channels``."""
    sal = copy.deepcopy(Config.fromfile(SAL_CFG).model)
    aspp = copy.deepcopy(Config.fromfile(ASPP_CFG).model)
    sal.decode_head.channels = channels
    sal.decode_head.cls_branch.channels = channels
    aspp.decode_head.channels = channels
    # Both configs carry a SegDataPreProcessor; the benchmark feeds
    # normalised tensors directly, so it is not part of the timed step.
    for cfg in (sal, aspp):
        cfg.pop('data_preprocessor', None)
    return sal.to_dict(), aspp.to_dict()


def r101_model_cfgs() -> Tuple[dict, dict]:
    """The paper's SAL-Net-ResNet101 (P5) model and the same model with
    mmseg's ``ASPPHead`` + CE in place of ``SALHead``."""
    sal = copy.deepcopy(Config.fromfile(R101_SAL_CFG).model)
    sal.pop('data_preprocessor', None)
    # No downloads; random weights time the same.
    sal.pretrained = None
    # SyncBN needs a process group; one CPU process has none.
    bn = dict(type='BN', requires_grad=True)
    sal.backbone.norm_cfg = bn
    sal.decode_head.norm_cfg = bn
    head = sal.decode_head
    aspp = copy.deepcopy(sal)
    # mmseg deeplabv3_r50-d8.py's ASPPHead arguments, with this config's
    # input, width, rates, dropout and classes, so only the head differs.
    aspp.decode_head = dict(
        type='ASPPHead',
        in_channels=head.in_channels,
        in_index=head.in_index,
        channels=head.channels,
        dilations=tuple(head.dilations),
        dropout_ratio=head.dropout_ratio,
        num_classes=head.num_classes,
        norm_cfg=bn,
        align_corners=head.align_corners,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))
    return sal.to_dict(), aspp.to_dict()


def fake_batch(size: int, batch: int,
               gen: torch.Generator) -> Tuple[torch.Tensor, List]:
    """Random images and SegDataSamples with labels, tags and SF = 1."""
    inputs = torch.randn(batch, 3, size, size, generator=gen)
    samples = []
    for _ in range(batch):
        label = torch.randint(
            0, NUM_FG_USED + 1, (1, size, size), generator=gen)
        label[:, :2] = 255  # a few ignored pixels, as VOC's void band
        tags = torch.zeros(20)
        tags[torch.unique(label[(label > 0) & (label < 255)]) - 1] = 1.0
        sample = SegDataSample(
            metainfo=dict(
                img_shape=(size, size),
                pad_shape=(size, size),
                ori_shape=(size, size),
                img_tags=tags,
                mask_scores=dict(AC=1.0, CD=1.0, SC=1.0, P=1.0, SF=1.0)))
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return inputs, samples


def make_step(model: torch.nn.Module, inputs, samples) -> Callable[[], None]:
    """One full training step: forward (losses), backward, SGD step."""
    optimizer = torch.optim.SGD(
        model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        losses = model.loss(inputs, samples)
        loss, _ = model.parse_losses(losses)
        loss.backward()
        optimizer.step()

    return step


def make_head_step(head: torch.nn.Module, feats: Sequence[torch.Tensor],
                   samples) -> Callable[[], None]:
    """One head-only training step on fixed backbone features; the gradient
    w.r.t. the features is computed too, as in a full step."""
    optimizer = torch.optim.SGD(head.parameters(), lr=1e-3, momentum=0.9)
    leaves = [f.detach().requires_grad_(True) for f in feats]

    def step():
        optimizer.zero_grad(set_to_none=True)
        for leaf in leaves:
            leaf.grad = None
        losses = head.loss(leaves, samples, train_cfg=dict())
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        loss.backward()
        optimizer.step()

    return step


def interleaved_medians(steps: Dict[str, Callable[[], None]], warmup: int,
                        reps: int) -> Dict[str, List[float]]:
    """Time each step function ``reps`` times, alternating the order
    (ABC.., ..CBA) per repetition after ``warmup`` untimed calls each."""
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
    times: Dict[str, List[float]] = {name: [] for name in names}
    for rep in range(reps):
        order = names if rep % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            steps[name]()
            times[name].append((time.perf_counter() - start) * 1e3)
    return times


def quartiles(values: List[float]) -> Tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    qs = statistics.quantiles(values, n=4)
    return qs[0], qs[2]


def count_params(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def run_setting(channels, size: int, batch: int, args) -> dict:
    paper = channels == R101
    sal_cfg, aspp_cfg = r101_model_cfgs() if paper else model_cfgs(channels)
    warmup = args.r101_warmup if paper else args.warmup
    reps = args.r101_reps if paper else args.reps
    head_reps = args.r101_head_reps if paper else args.head_reps
    torch.manual_seed(args.seed)
    sal = MODELS.build(sal_cfg)
    aspp = MODELS.build(aspp_cfg)
    # Same backbone weights, so the backbone does the same work.
    aspp.backbone.load_state_dict(sal.backbone.state_dict())
    sal.train()
    aspp.train()
    gen = torch.Generator().manual_seed(args.seed)
    inputs, samples = fake_batch(size, batch, gen)
    full = interleaved_medians(
        dict(
            ASPPHead=make_step(aspp, inputs, samples),
            SALHead=make_step(sal, inputs, samples)), warmup, reps)

    result = dict(
        channels=channels,
        label=(f'R-101 (cls {sal_cfg["decode_head"]["cls_branch"]["channels"]}'
               f', ASPP {sal_cfg["decode_head"]["channels"]})'
               if paper else f'R-18 {channels}'),
        size=size,
        batch=batch,
        full=full,
        params=dict(
            backbone=count_params(sal.backbone),
            ASPPHead=count_params(aspp.decode_head),
            SALHead=count_params(sal.decode_head)))

    if head_reps > 0:
        with torch.no_grad():
            feats = [f.detach() for f in sal.extract_feat(inputs)]
        # SALHead without its classification branch: ASPP + the selection
        # loss; isolates the loss's cost from the branch's.
        no_cls_cfg = copy.deepcopy(sal_cfg['decode_head'])
        no_cls_cfg.update(
            cls_branch=None, attention_guided=False, loss_attention=None)
        torch.manual_seed(args.seed)
        # The same SALHead running its classification branch module by
        # module (fast_forward=False): what the fast path saves.
        literal = copy.deepcopy(sal.decode_head)
        literal.cls_branch.fast_forward = False
        heads = dict(
            ASPPHead=aspp.decode_head,
            SALHead=sal.decode_head,
            SALHead_literal=literal,
            SALHead_no_cls=MODELS.build(no_cls_cfg).train())
        head_steps = {
            name: make_head_step(head, feats, samples)
            for name, head in heads.items()
        }
        cls_branch = sal.decode_head.cls_branch
        cls_opt = torch.optim.SGD(
            cls_branch.parameters(), lr=1e-3, momentum=0.9)
        cls_leaf = feats[-1].detach().requires_grad_(True)
        tags = torch.stack([s.metainfo['img_tags'] for s in samples])

        def cls_only_step():
            cls_opt.zero_grad(set_to_none=True)
            cls_leaf.grad = None
            logits = cls_branch(cls_leaf)
            sal.decode_head.loss_attention(logits, tags).backward()
            cls_opt.step()

        head_steps['cls_branch_only'] = cls_only_step
        result['head'] = interleaved_medians(head_steps, 1 if paper else 2,
                                             head_reps)
        result['feat_shape'] = tuple(feats[-1].shape)

        if args.profile:
            from torch.profiler import ProfilerActivity, profile
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(1 if paper else 3):
                    head_steps['SALHead']()
            result['profile'] = prof.key_averages().table(
                sort_by='self_cpu_time_total', row_limit=12)
    return result


def fmt_ms(values: List[float]) -> str:
    q1, q3 = quartiles(values)
    return f'{statistics.median(values):.1f} ({q1:.1f}-{q3:.1f})'


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.time()
    print('## SALHead vs ASPPHead training step time\n')
    print(f'date {time.strftime("%Y-%m-%d %H:%M %Z")}; {platform.node()}; '
          f'{platform.processor() or platform.machine()}; torch '
          f'{torch.__version__}, {torch.get_num_threads()} threads; '
          f'warm-up {args.warmup}, {args.reps} interleaved timed steps per '
          f'model (r101: {args.r101_warmup}, {args.r101_reps}; head-only '
          f'{args.head_reps} / {args.r101_head_reps}); medians '
          '(interquartile range) in ms')
    results = [run_setting(c, s, b, args) for c, s, b in args.settings]

    print('\nFull training step (EncoderDecoder, forward + backward + SGD '
          'step); the verdict uses the per-pair ratio (each SALHead step '
          'over the ASPPHead step run next to it), which cancels slow load '
          'drift better than the ratio of medians:\n')
    print('| model | input | batch | steps | ASPPHead ms/step | SALHead '
          'ms/step | ratio of medians | per-pair ratio median (IQR) | '
          '<= 1.15 |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for r in results:
        a = statistics.median(r['full']['ASPPHead'])
        s = statistics.median(r['full']['SALHead'])
        pairs = [
            s / a for a, s in zip(r['full']['ASPPHead'], r['full']['SALHead'])
        ]
        q1, q3 = quartiles(pairs)
        pair = statistics.median(pairs)
        r['pair_ratio'] = pair
        print(f'| {r["label"]} | {r["size"]}x{r["size"]} | {r["batch"]} | '
              f'{len(pairs)} | {fmt_ms(r["full"]["ASPPHead"])} | '
              f'{fmt_ms(r["full"]["SALHead"])} | {s / a:.3f} | '
              f'{pair:.3f} ({q1:.3f}-{q3:.3f}) | '
              f'{"yes" if pair <= TARGET_RATIO else "NO"} |')
    print()
    for r in results:
        pairs = [
            s / a for a, s in zip(r['full']['ASPPHead'], r['full']['SALHead'])
        ]
        print(f'{r["label"]}: per-pair ratios in run order '
              f'{", ".join(f"{v:.3f}" for v in pairs)}')
    for r in results:
        print(f'{r["label"]}: params backbone {r["params"]["backbone"]:.2f} '
              f'M, ASPPHead {r["params"]["ASPPHead"]:.3f} M, SALHead '
              f'{r["params"]["SALHead"]:.3f} M')

    if any('head' in r for r in results):
        print('\nHead only (fixed backbone features, forward + backward '
              'incl. the feature gradient + SGD step), ms/step:\n')
        print('| model | feature | ASPPHead (CE) | SALHead (full) | '
              'SALHead, cls branch fast_forward=False | '
              'SALHead, no cls branch (sel. loss) | cls branch + att. loss '
              'alone |')
        print('| --- | --- | --- | --- | --- | --- | --- |')
        for r in results:
            if 'head' not in r:
                continue
            h = r['head']
            shape = 'x'.join(str(v) for v in r['feat_shape'])
            print(f'| {r["label"]} | {shape} | {fmt_ms(h["ASPPHead"])} | '
                  f'{fmt_ms(h["SALHead"])} | {fmt_ms(h["SALHead_literal"])} | '
                  f'{fmt_ms(h["SALHead_no_cls"])} | '
                  f'{fmt_ms(h["cls_branch_only"])} |')
    for r in results:
        if 'profile' in r:
            print(f'\nTop ops of SALHead head-only steps '
                  f'({r["label"]}, {r["size"]}):\n')
            print(r['profile'])
    print(f'\ntotal {time.time() - started:.0f} s')


if __name__ == '__main__':
    main()
