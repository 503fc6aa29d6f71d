# Copyright (c) mmattn contributors. All rights reserved.
"""A miniature of HAR-Net's Tables I, II and IV on the generated shapes.

Every variant is the demo's RetinaNet twin
(``configs/demo/retinanet_r18_demo.py``: R-18 with GN from scratch, a
64-channel FPN, a GN tower of 2 convs, 128 px easy shapes) plus config
overrides that switch one attention part on, and ``HA`` is the shipped
``configs/demo/harnet_r18_demo.py`` itself. All variants share the data,
the schedule, the post-processing and the tower initialisation, and run
with the same training seeds through mmengine's ``Runner``
(:mod:`mmattn.experiment`). Reported per variant: COCO bbox AP on the val
split, the per-seed paired difference to the twin with its standard error,
and for variants with spatial attention the mask's mean inside the
ground-truth boxes minus outside, per level, on the val images.

    python benchmarks/harnet_ablation.py                    # everything
    python benchmarks/harnet_ablation.py --variants RetinaNet +SA --seeds 0
    python benchmarks/harnet_ablation.py --report-only      # table from runs

``--suite heads`` (issue 15 item 4) runs the attention on another head
instead: ``ATSS`` (``configs/demo/atss_r18_demo.py``, the same demo model
and data with mmdet's ATSS head and the RetinaNet demo's Soft-NMS), and its
twins ``ATSS+HA`` (``configs/demo/harnet_atss_r18_demo.py``) and
``ATSS+DyHead`` (``configs/demo/atss_r18_dyhead_demo.py``). Each variant is
paired with its own baseline (``BASELINES``): the ATSS variants with ATSS,
every other one with the RetinaNet twin.

The twins share the initialisation *scheme* of the parts they have in
common, not the values: a twin constructs its attention modules before
``init_weights`` re-draws every weight, so one seed gives other draws.
``--shared-init`` makes the values equal: before the first iteration each
run copies in every parameter and buffer that its baseline, built with the
run's seed and initialised, has under the same name and shape (backbone,
FPN, towers, predictors; a list neck's first module counts as the FPN).

Each run writes ``<work-dir>/runs/<variant>_seed<S>.json``; a run whose
file exists is skipped, so an interrupted benchmark resumes and several
invocations (one per core, ``OMP_NUM_THREADS=1``) can share a work dir.
The report (``results.md``, ``results.json``, ``ablation.png``) covers every
run file present.
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import platform
import statistics
import sys
import time
from typing import Dict, List

import torch
from mmengine.hooks import Hook

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import mmattn  # noqa: E402,F401  (registers the HAR-Net modules)
from mmattn.detection.evaluation import spatial_mask_contrast  # noqa: E402
from mmattn.experiment import (apply_overrides, load_config,  # noqa: E402
                               prepare_dataset, shorten_schedule,
                               train_config)
from mmattn.synthetic import make_det_dataset  # noqa: E402

TWIN = osp.join(ROOT, 'configs', 'demo', 'retinanet_r18_demo.py')
HARNET = osp.join(ROOT, 'configs', 'demo', 'harnet_r18_demo.py')
# Issue 15 item 4: the head the attention sits on. ATSS at the demo's size,
# with HA (the attention of HARNET on HARATSSHead) and with DyHead.
ATSS = osp.join(ROOT, 'configs', 'demo', 'atss_r18_demo.py')
ATSS_HA = osp.join(ROOT, 'configs', 'demo', 'harnet_atss_r18_demo.py')
ATSS_DYHEAD = osp.join(ROOT, 'configs', 'demo', 'atss_r18_dyhead_demo.py')

# The attention parts are the shipped CPU-size HAR-Net configs' own
# (configs/harnet/_base_/hybrid_attention.py), less the `_delete_` a config
# file needs: apply_overrides replaces a part whole anyway.
_PARTS = load_config(
    osp.join(ROOT, 'configs', 'harnet', '_base_', 'hybrid_attention.py'))


def _part(name: str) -> dict:
    part = _PARTS[name].to_dict()
    part.pop('_delete_', None)
    return part


_CLGN = _part('cross_level_norm')
_SA = _part('spatial_attention')
_CLSE = _part('channel_attention_cpu')
# +AA replaces the whole neck: the twin's FPN made an AlignedFPN.
_AA = dict(load_config(TWIN).model.neck.to_dict(), **_part('aligned_fpn_cpu'))


def _staged(patterns):
    # switch_iter is set from --iters (half-way) in build_variant
    return dict(type='StagedAttentionHook', switch_iter=None,
                patterns=list(patterns), stage1='bypass')


# name -> (config, overrides). Table I: SA; Table II: CLGN, CLSE with the
# extra conv; Table IV: AA and the full hybrid attention.
VARIANTS = {
    'RetinaNet': (TWIN, {}),
    '+CLGN': (TWIN, {'model.bbox_head.cross_level_norm': _CLGN}),
    '+SA': (TWIN, {'model.bbox_head.spatial_attention': _SA}),
    '+CLSE': (TWIN, {'model.bbox_head.channel_attention': _CLSE,
                     'model.bbox_head.extra_conv': True}),
    '+AA': (TWIN, {'model.neck': _AA}),
    'HA': (HARNET, {}),
    # mmattn's box-objectness supervision of the mask (HARRetinaHead's
    # spatial_attention_loss; weight 0.2 chosen on seed 0, see the docs),
    # with SA alone and in the full model.
    '+SA-obj': (TWIN, {'model.bbox_head.spatial_attention': _SA,
                       'model.bbox_head.spatial_attention_loss':
                       dict(loss_weight=0.2)}),
    'HA-obj': (HARNET, {'model.bbox_head.spatial_attention_loss':
                        dict(loss_weight=0.2)}),
    # The init choice: the mask starting at 0.5 instead of the default 0.9.
    '+SA-m0.5': (TWIN, {'model.bbox_head.spatial_attention':
                        dict(_SA, mask_init=0.5)}),
    # The paper's remedy for attention slowing convergence (Sec. III-D):
    # the main network first, the attention switched on half-way
    # (StagedAttentionHook, as configs/harnet/*_staged*.py).
    '+SA-staged': (TWIN, {'model.bbox_head.spatial_attention': _SA,
                          'custom_hooks': [_staged(('spatial_attention', ))]}),
    'HA-staged': (HARNET, {'custom_hooks': [
        _staged(('spatial_attention', 'channel_attention'))]}),
    # Issue 15 item 4 (--suite heads): HA and DyHead on ATSS, each paired
    # with ATSS, not with RetinaNet.
    'ATSS': (ATSS, {}),
    'ATSS+HA': (ATSS_HA, {}),
    'ATSS+DyHead': (ATSS_DYHEAD, {}),
}
# The variant each one is paired with (default: BASELINE); a baseline is
# paired with nothing.
BASELINE = 'RetinaNet'
BASELINES = {'ATSS': None, 'ATSS+HA': 'ATSS', 'ATSS+DyHead': 'ATSS'}
BASELINES[BASELINE] = None
# --suite: the variants run when --variants is not given.
SUITES = {
    'retinanet': ['RetinaNet', '+CLGN', '+SA', '+CLSE', '+AA', 'HA'],
    'heads': ['ATSS', 'ATSS+HA', 'ATSS+DyHead'],
}
METRICS = (('AP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50'))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--suite', choices=list(SUITES), default='retinanet',
                   help='variants run when --variants is not given: '
                   'retinanet (the attention parts on the RetinaNet twin) '
                   'or heads (ATSS, ATSS+HA, ATSS+DyHead; issue 15 item 4)')
    p.add_argument('--variants', nargs='+', default=None,
                   choices=list(VARIANTS))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--iters', type=int, default=500,
                   help='training iterations (batch 8); the demo configs\' '
                   'schedule scaled to it')
    p.add_argument('--overrides', default='{}',
                   help='JSON dict of dotted-key overrides applied to every '
                   'variant (e.g. a learning rate), recorded in the report')
    p.add_argument('--data-seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--contrast-images', type=int, default=120,
                   help='val images the mask contrast is measured on')
    p.add_argument('--work-dir', default='work_dirs/harnet_ablation')
    p.add_argument('--data-dir', default=None,
                   help='generated data (default: <work-dir>/data)')
    p.add_argument('--shared-init', action='store_true',
                   help='start every run from its baseline\'s initial '
                   'values of the shared parameters (see above)')
    p.add_argument('--report-only', action='store_true')
    args = p.parse_args()
    if args.variants is None:
        args.variants = list(SUITES[args.suite])
    return args


def baseline_of(name: str):
    """The variant ``name`` is paired with, or None for a baseline."""
    return BASELINES.get(name, BASELINE)


def build_variant(name: str, args, data_root: str):
    path, overrides = VARIANTS[name]
    cfg = apply_overrides(load_config(path, overrides),
                          json.loads(args.overrides))
    shorten_schedule(cfg, args.iters)
    for hook in cfg.get('custom_hooks', []):
        if hook.get('type') == 'StagedAttentionHook' and \
                hook.get('switch_iter') is None:
            hook['switch_iter'] = args.iters // 2
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    ann_val = osp.join(data_root, 'annotations', 'instances_val.json')
    cfg.val_evaluator.ann_file = ann_val
    cfg.test_evaluator.ann_file = ann_val
    return cfg


def reference_key(key: str) -> str:
    """The baseline's name of a twin's tensor: the FPN is ``neck.0`` under
    a list neck (FPN then DyHead) and ``neck`` in the baseline."""
    return key.replace('neck.0.', 'neck.', 1) if key.startswith(
        'neck.0.') else key


def initial_state(cfg, seed: int) -> Dict[str, torch.Tensor]:
    """``cfg.model`` built with torch seeded to ``seed`` and initialised;
    torch's global random state is left as it was."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
        model.init_weights()
    return model.state_dict()


def copy_shared(model: torch.nn.Module,
                reference: Dict[str, torch.Tensor]) -> List[str]:
    """Copy into ``model`` every tensor of ``reference`` with the same name
    (:func:`reference_key`) and shape; returns the copied names."""
    copied = []
    with torch.no_grad():
        for key, value in model.state_dict().items():
            ref = reference.get(reference_key(key))
            if ref is not None and ref.shape == value.shape:
                value.copy_(ref)
                copied.append(key)
    return copied


class SharedInitHook(Hook):
    """Before the first iteration, :func:`copy_shared` from ``reference``
    (after the Runner's ``init_weights``, before the optimiser's first
    step). ``copied`` holds the names."""

    priority = 'VERY_HIGH'

    def __init__(self, reference: Dict[str, torch.Tensor]) -> None:
        self.reference = reference
        self.copied: List[str] = []

    def before_train(self, runner) -> None:
        self.copied = copy_shared(runner.model, self.reference)


def run_one(name: str, seed: int, args, data_root: str) -> dict:
    cfg = build_variant(name, args, data_root)
    work_dir = osp.join(args.work_dir, f'{name.strip("+")}_seed{seed}')
    hooks = []
    if getattr(args, 'shared_init', False):
        base = baseline_of(name) or name
        hooks.append(SharedInitHook(initial_state(
            build_variant(base, args, data_root), seed)))
    result = train_config(cfg, work_dir, seed, extra_hooks=hooks)
    model = result.runner.model
    row = {label: 100 * float(result.metrics.get(key, 0.0))
           for label, key in METRICS}
    row.update(variant=name, seed=seed, seconds=result.seconds,
               empty=not result.metrics, iters=args.iters)
    if hooks:
        row['shared_init'] = len(hooks[0].copied)
    head = model.bbox_head
    if getattr(head, 'spatial_attention', None) is not None:
        row['mask'] = spatial_mask_contrast(
            model, result.runner.val_dataloader,
            max_images=args.contrast_images)
    return row


def load_runs(work_dir: str) -> Dict[str, Dict[int, dict]]:
    runs: Dict[str, Dict[int, dict]] = {}
    for path in sorted(glob.glob(osp.join(work_dir, 'runs', '*.json'))):
        with open(path) as f:
            row = json.load(f)
        runs.setdefault(row['variant'], {})[row['seed']] = row
    return runs


def paired(runs, name, metric='AP'):
    """Per-seed differences to the variant's baseline over the seeds both
    have."""
    base = runs.get(baseline_of(name), {})
    seeds = sorted(set(base) & set(runs[name]))
    diffs = [runs[name][s][metric] - base[s][metric] for s in seeds]
    return seeds, diffs


def report(args) -> str:
    runs = load_runs(args.work_dir)
    if not runs:
        raise SystemExit(f'no runs in {args.work_dir}/runs')
    order = [v for v in VARIANTS if v in runs]
    lines = [
        '| variant | baseline | seeds | AP mean ± std | AP50 mean ± std | '
        'ΔAP vs baseline per seed | ΔAP mean ± SE | ΔAP / SE | s/run |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    verdicts = {}
    for name in order:
        rows = [runs[name][s] for s in sorted(runs[name])]
        cells = []
        for label, _ in METRICS:
            vals = [r[label] for r in rows]
            std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f'{statistics.mean(vals):.1f} ± {std:.1f}')
        secs = statistics.median(r['seconds'] for r in rows)
        base = baseline_of(name)
        if base is None:
            lines.append(f'| {name} | - | {len(rows)} | {cells[0]} | '
                         f'{cells[1]} | | | | {secs:.0f} |')
            continue
        seeds, diffs = paired(runs, name)
        if len(diffs) > 1:
            mean = statistics.mean(diffs)
            se = statistics.stdev(diffs) / math.sqrt(len(diffs))
            ratio = mean / se if se > 0 else float('inf')
            verdicts[name] = (mean, se, ratio)
            delta = f'{mean:+.2f} ± {se:.2f}'
            ratio_cell = f'{ratio:+.1f}'
        else:
            delta, ratio_cell = (f'{diffs[0]:+.2f}' if diffs else ''), ''
        per_seed = ', '.join(f'{d:+.1f}' for d in diffs)
        lines.append(f'| {name} | {base} | {len(rows)} | {cells[0]} | '
                     f'{cells[1]} | {per_seed} | {delta} | {ratio_cell} | '
                     f'{secs:.0f} |')
    contrast_lines = [
        '', 'Spatial mask on val images: mean inside GT boxes - outside '
        '(range), per level, mean over seeds', '',
        '| variant | seed | ' + ' | '.join(f'P{l + 3}' for l in range(5)) +
        ' |', '| --- | --- |' + ' --- |' * 5
    ]
    best_contrast = {}
    for name in order:
        for seed in sorted(runs[name]):
            mask = runs[name][seed].get('mask')
            if not mask:
                continue
            cells = [f"{m['contrast']:+.3f} ({m['min']:.2f}-{m['max']:.2f})"
                     for m in mask]
            best_contrast[(name, seed)] = max(m['contrast'] for m in mask)
            contrast_lines.append(f'| {name} | {seed} | ' +
                                  ' | '.join(cells) + ' |')
    targets = ['', 'Targets:']
    if 'HA' in verdicts:
        mean, se, ratio = verdicts['HA']
        targets.append(f'- full HA beats the twin by more than 2 SE: '
                       f'{mean:+.2f} ± {se:.2f} ({ratio:+.1f} SE) -> '
                       f'{"met" if ratio > 2 else "missed"}')
    if '+SA' in verdicts:
        mean, se, _ = verdicts['+SA']
        targets.append(f'- SA alone not below the twin: {mean:+.2f} ± '
                       f'{se:.2f} -> {"met" if mean >= 0 else "missed"}')
    if best_contrast:
        per_variant = {}
        for (name, _), value in best_contrast.items():
            per_variant.setdefault(name, []).append(value)
        for name, values in per_variant.items():
            targets.append(
                f'- {name}: best level contrast per seed '
                f'{", ".join(f"{v:.3f}" for v in values)} (target >= 0.1 '
                f'on one level) -> '
                f'{"met" if min(values) >= 0.1 else "missed"}')
    # The schedule the runs were trained with (run files record it; older
    # ones do not, and then only --iters can say).
    recorded = sorted({r['iters'] for seeds in runs.values()
                       for r in seeds.values() if 'iters' in r})
    if not recorded:
        iters = f'{args.iters} (--iters; the run files do not record it)'
    elif len(recorded) == 1:
        iters = str(recorded[0])
    else:
        iters = f'MIXED {recorded}'
    header = (f'{iters} iters x batch 8, demo data (easy, 128 px, '
              f'data seed {args.data_seed}), overrides {args.overrides}, '
              f'torch {torch.__version__}, {platform.machine()}')
    shared = sorted({r.get('shared_init') is not None
                     for seeds in runs.values() for r in seeds.values()})
    if shared == [True]:
        header += ', shared init (--shared-init)'
    elif shared == [False, True]:
        header += ', SOME runs with --shared-init (mixed work dir)'

    text = '\n'.join([header, ''] + lines + contrast_lines + targets)
    print(text)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(header=header, runs=runs), f, indent=1)
    plot(runs, order, osp.join(args.work_dir, 'ablation.png'), header)
    return text


def plot(runs, order, path, header) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.6))
    names = [n for n in order if baseline_of(n) is not None]
    for i, name in enumerate(names):
        _, diffs = paired(runs, name)
        if not diffs:
            continue
        mean = statistics.mean(diffs)
        se = statistics.stdev(diffs) / math.sqrt(len(diffs)) \
            if len(diffs) > 1 else 0.0
        ax1.bar(i, mean, yerr=2 * se, capsize=4, color='tab:blue')
        ax1.scatter([i] * len(diffs), diffs, color='black', s=12, zorder=3)
    ax1.axhline(0, color='grey', lw=0.8)
    ax1.set_xticks(range(len(names)))
    ax1.set_xticklabels([f'{n} - {baseline_of(n)}' for n in names],
                        rotation=35, ha='right', fontsize=8)
    ax1.set_ylabel('AP - baseline AP (per seed; bar: mean, whisker: 2 SE)')
    ax1.set_title('Paired AP difference to the baseline', fontsize=9)
    width = 0.8 / max(1, sum(1 for n in order if any(
        r.get('mask') for r in runs[n].values())))
    k = 0
    for name in order:
        masks = [r['mask'] for r in runs[name].values() if r.get('mask')]
        if not masks:
            continue
        levels = len(masks[0])
        means = [statistics.mean(m[l]['contrast'] for m in masks)
                 for l in range(levels)]
        ax2.bar([l + k * width for l in range(levels)], means, width,
                label=name)
        k += 1
    ax2.axhline(0.1, color='red', lw=0.8, ls='--', label='target 0.1')
    ax2.set_xticks([l + width * (k - 1) / 2 for l in range(5)])
    ax2.set_xticklabels([f'P{l + 3}' for l in range(5)])
    ax2.set_ylabel('mask inside GT boxes - outside')
    ax2.set_title('Spatial mask contrast on val images (mean of seeds)',
                  fontsize=9)
    ax2.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(header, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(osp.join(args.work_dir, 'runs'), exist_ok=True)
    if not args.report_only:
        data_root = osp.abspath(args.data_dir or
                                osp.join(args.work_dir, 'data'))
        demo_data = dict(load_config(TWIN).demo_data)
        prepare_dataset(make_det_dataset, data_root, seed=args.data_seed,
                        **demo_data)
        todo = [(v, s) for s in args.seeds for v in args.variants]
        start = time.time()
        for k, (name, seed) in enumerate(todo):
            out = osp.join(args.work_dir, 'runs',
                           f'{name.strip("+")}_seed{seed}.json')
            if osp.exists(out):
                print(f'[{k + 1}/{len(todo)}] {name} seed {seed}: done '
                      'before, skipped', flush=True)
                continue
            row = run_one(name, seed, args, data_root)
            with open(out + '.partial', 'w') as f:
                json.dump(row, f, indent=1)
            os.replace(out + '.partial', out)
            contrast = ''
            if row.get('mask'):
                contrast = ', mask contrast per level ' + ' '.join(
                    f"{m['contrast']:+.3f}" for m in row['mask'])
            print(f'[{k + 1}/{len(todo)}] [{time.time() - start:.0f}s] '
                  f'{name} seed {seed}: AP {row["AP"]:.1f} AP50 '
                  f'{row["AP50"]:.1f} ({row["seconds"]:.0f}s){contrast}',
                  flush=True)
    report(args)


if __name__ == '__main__':
    main()
