# Copyright (c) mmattn contributors. All rights reserved.
"""SAL-Net's Table VI (P2-P5) in miniature, with mmattn's own scorer: does
selecting proxy masks by a learned score recover what noisy proxies cost,
and does the attention loss keep that gain?

Steps:

1. Generate a VOC-style dataset (:func:`mmattn.synthetic.make_seg_dataset`)
   whose proxy noise is heavy in severe proxies, so that training on all of
   them hurts and selection has something to remove. Reused when the one in
   the work dir was generated with the same arguments.
2. Score its training proxies with ``tools/sal_pipeline.py`` itself, run
   up to its ``tau`` stage (``--stop-after tau``), twice: on the coarse
   score SC (P3), and on SF from the scorer the pipeline synthesises a
   training set for and trains on these very proxies (P4, P5). Both use the
   same tau rule (``--tau-rule``). An oracle score file (P = SF = the
   recorded true proxy quality) gives the upper bound of selection.
3. Train every variant for every seed through :mod:`mmattn.experiment`
   (mmengine's ``Runner``). A variant is the shipped tiny config
   (``configs/sal/salnet_r18_tiny_synthetic*.py``) plus a table of
   overrides (:data:`VARIANTS`), the same keys that turn the shipped
   ``salnet-p5`` paper config into ``salnet-p2/p3/p4``; the benchmark's
   size, schedule and data are one more table (:func:`run_overrides`)
   shared by every variant. mIoU is mmseg's ``IoUMetric`` on the val
   split's ground truth; SAL variants with the classification branch also
   report the class-attention contrast of their d_s maps on those images.

Variants (same data, schedule, initialisation and seeds):

=====================  ======================================================
``P2``                 all proxies, plain CE (the ``_plain_ce`` config)
``P3``                 selection on the coarse score SC (pipeline, SC)
``P4``                 selection on SF of the pipeline's scorer
``P5``                 ``P4`` + classification branch, Eq. 11, attention
                       loss (the shipped tiny SAL config as it is)
``P4-oracle``          selection on the true quality ``>= --tau-oracle``
``P5-oracle``          ``P4-oracle`` + branch, Eq. 11, attention loss
``P5-oracle-no-eq11``  ``P5-oracle`` without Eq. 11 (attention loss only)
``P4-oracle-soft``     soft weights ``w_i`` = true quality
``clean``              the ground-truth masks, plain CE (the ceiling)
``clean-selected``     ground-truth masks of the images ``P4`` keeps
                       (what its selection could reach with perfect labels)
=====================  ======================================================

Gap recovered = (mIoU(variant) - mIoU(P2)) / (mIoU(clean) - mIoU(P2)).

The defaults are the pretrained setting of docs/benchmarks_sal.md: 1000
images of 48x48 with 2 foreground classes, the tiny R-18 (GN) d8 at half
width, batch 8, 2000 iterations, lr 0.05, mean of the last 3 evaluations,
every backbone initialised from one trained 2000 iterations on the ground
truth of a second, disjoint generated set (the analogue of the paper's
ImageNet initialisation)::

    OMP_NUM_THREADS=1 python benchmarks/sal_selection_benchmark.py \\
        --work-dir work_dirs/sal_selection --seeds 1 2 3

Each run writes ``<work-dir>/runs/<variant>_seed<S>.json`` and is skipped
when that file exists, so an interrupted benchmark resumes and several
invocations (one per core, ``--variants`` split between them) can share a
work dir; the settings of a work dir are fixed by its first invocation
(``settings.json``). The report (``results.md``, ``results.json``,
``results.png``) covers every run present; ``--report-only`` writes it
without training. Results are recorded in docs/benchmarks_sal.md.
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import mmattn  # noqa: E402,F401  (registers the SAL modules)
from mmattn.experiment import (apply_overrides, load_config,  # noqa: E402
                               prepare_dataset, train_backbone, train_config)
from mmattn.segmentation.evaluation import \
    class_attention_contrast  # noqa: E402
from mmattn.segmentation.mask_scoring.metrics import (  # noqa: E402
    pearson_correlation, spearman_correlation)
from mmattn.segmentation.score_file import (dump_mask_scores,  # noqa: E402
                                            load_mask_scores)
from mmattn.synthetic import make_seg_dataset, resolve_class_ids  # noqa

SAL_CFG = osp.join(ROOT, 'configs', 'sal', 'salnet_r18_tiny_synthetic.py')
PLAIN_CFG = osp.join(ROOT, 'configs', 'sal',
                     'salnet_r18_tiny_synthetic_plain_ce.py')
PIPELINE = osp.join(ROOT, 'tools', 'sal_pipeline.py')

#: What turns the shipped ``salnet-p5`` config into ``salnet-p3/p4``: the
#: selection loss alone (SALHead without its classification subnetwork is
#: ASPPHead with the selection loss). ``test_sal_selection_benchmark_cfg``
#: checks it against the shipped paper configs.
SELECTION_ONLY = {
    'model.decode_head.cls_branch': None,
    'model.decode_head.attention_guided': False,
    'model.decode_head.loss_attention': None,
}

# name -> dict(config, score, masks, overrides): ``score`` names the score
# file the selection reads ('SC' and 'SF': the pipeline's, 'oracle': the
# true quality; None: no selection), ``masks`` the training masks.
VARIANTS = {
    'P2': dict(config=PLAIN_CFG, score=None, masks='proxy', overrides={}),
    'P3': dict(config=SAL_CFG, score='SC', masks='proxy',
               overrides=SELECTION_ONLY),
    'P4': dict(config=SAL_CFG, score='SF', masks='proxy',
               overrides=SELECTION_ONLY),
    'P5': dict(config=SAL_CFG, score='SF', masks='proxy', overrides={}),
    'P4-oracle': dict(config=SAL_CFG, score='oracle', masks='proxy',
                      overrides=SELECTION_ONLY),
    'P5-oracle': dict(config=SAL_CFG, score='oracle', masks='proxy',
                      overrides={}),
    'P5-oracle-no-eq11': dict(
        config=SAL_CFG, score='oracle', masks='proxy',
        overrides={'model.decode_head.attention_guided': False}),
    'P4-oracle-soft': dict(
        config=SAL_CFG, score='oracle', masks='proxy',
        overrides=dict(
            SELECTION_ONLY, **{
                'model.decode_head.loss_decode.weighting': 'soft',
                'model.decode_head.loss_decode.normalize': 'weighted_pixels'
            })),
    'clean': dict(config=PLAIN_CFG, score=None, masks='gt', overrides={}),
    'clean-selected': dict(config=SAL_CFG, score='SF', masks='gt',
                           overrides=SELECTION_ONLY),
}
DEFAULT_VARIANTS = ('P2', 'P3', 'P4', 'P5', 'clean-selected', 'clean')
# Half the proxies severe (the generator's default is 30/30/25/15): at this
# CPU scale milder noise costs less than the seed-to-seed spread, so
# selection would have nothing to show.
DEFAULT_MIXTURE = 'clean=0.3,mild=0.1,moderate=0.1,severe=0.5'
# The scorer recipe of the pipeline's SF: the best of four measured on the
# default data (docs/benchmarks_sal.md): 3 degraded and 1 cut-paste sample
# per positive, dilation beside the paper's erosion and erasing, 40 epochs.
DEFAULT_SYNTHESIS = ('intermediate_ratio=3', 'paste_ratio=1',
                     'ops=[erode,erase,dilate]')
DEFAULT_SCORER_OPTIONS = ('train_cfg.max_epochs=40', )
# The paper's binary scorer. The class-aware ones (configs/mask_scoring/
# mask-scorer-tiny-cls*.py) score lower here: at 48 px the tiny networks do
# not tell the two classes apart (docs/benchmarks_sal.md, session 9).
DEFAULT_SCORER_CONFIG = osp.join(
    ROOT, 'configs', 'mask_scoring',
    'mask-scorer-tiny_1xb16-20e_synthetic-48x48.py')
MASK_DIRS = dict(proxy='SegmentationClassProxy', gt='SegmentationClass')
# Arguments that do not change what a run computes.
_RUN_INDEPENDENT_ARGS = ('seeds', 'variants', 'threads', 'num_workers',
                         'work_dir', 'report_only')


def parse_mixture(text: str) -> Dict[str, float]:
    mixture = {}
    for part in text.split(','):
        name, _, value = part.partition('=')
        try:
            mixture[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'mixture entries are tier=weight, got {part!r}')
    return mixture


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--work-dir', default='work_dirs/sal_selection')
    p.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3],
                   help='training seeds (the data stays the same)')
    p.add_argument('--variants', nargs='+', default=list(DEFAULT_VARIANTS),
                   choices=list(VARIANTS))
    p.add_argument('--report-only', action='store_true',
                   help='write the report from the runs present')
    data = p.add_argument_group('data')
    data.add_argument('--num-images', type=int, default=1000,
                      help='generated images, train + val (20%% val)')
    data.add_argument('--img-size', type=int, default=48,
                      help='square image and crop side')
    data.add_argument('--num-classes', type=int, default=2,
                      help='foreground classes (VOC indices 1..N)')
    data.add_argument('--class-ids', type=int, nargs='+', default=None,
                      help='foreground VOC indices instead of '
                      '1..--num-classes')
    data.add_argument('--mixture', type=parse_mixture,
                      default=DEFAULT_MIXTURE,
                      help='proxy noise mixture, tier=weight,... (default '
                      f'{DEFAULT_MIXTURE})')
    data.add_argument('--data-seed', type=int, default=0)
    sel = p.add_argument_group('selection')
    sel.add_argument('--tau-rule', default='keep-fraction',
                     choices=('keep-fraction', 'mixture', 'val-proxy'),
                     help="the pipeline's tau rule for P3 and P4 (val-proxy: "
                     'the paper\'s way, tau chosen on the val split)')
    sel.add_argument('--keep-fraction', type=float, default=0.43,
                     help='with --tau-rule keep-fraction (default: the '
                     'fraction P4-oracle keeps at --tau-oracle 0.8 on the '
                     'default data, 342/800, so that P3, P4 and P4-oracle '
                     'train on as many images and differ only in which)')
    sel.add_argument('--scorer-config', default=DEFAULT_SCORER_CONFIG,
                     help="passed to the pipeline's --scorer-config "
                     "(default: the tiny binary scorer, the paper's "
                     'design; configs/mask_scoring/mask-scorer-tiny-cls*.py '
                     'are class-aware)')
    sel.add_argument('--synthesis-options', nargs='+',
                     default=list(DEFAULT_SYNTHESIS), metavar='KEY=VALUE',
                     help="passed to the pipeline's --synthesis-options "
                     f'(default: {" ".join(DEFAULT_SYNTHESIS)})')
    sel.add_argument('--scorer-cfg-options', nargs='+',
                     default=list(DEFAULT_SCORER_OPTIONS), metavar='KEY=VALUE',
                     help="passed to the pipeline's --scorer-cfg-options "
                     f'(default: {" ".join(DEFAULT_SCORER_OPTIONS)})')
    sel.add_argument('--oracle-metric', default='miou',
                     choices=('miou', 'fg_fmeasure', 'fg_iou', 'pixel_acc'),
                     help='true proxy quality used as the oracle P and SF')
    sel.add_argument('--tau-oracle', type=float, default=0.8)
    train = p.add_argument_group('training')
    train.add_argument('--iters', type=int, default=2000)
    train.add_argument('--batch-size', type=int, default=8)
    train.add_argument('--backbone-width', type=int, default=32,
                       help='base_channels of the R-18 backbone (64: the '
                       'shipped config; a multiple of 32 for GN(32))')
    train.add_argument('--lr', type=float, default=0.05)
    train.add_argument('--eval-last', type=int, default=3,
                       help='report the mean val mIoU of the last K '
                       'evaluations, --eval-interval iterations apart')
    train.add_argument('--eval-interval', type=int, default=None,
                       help='default: --iters // 10')
    train.add_argument('--pretrain-iters', type=int, default=2000,
                       help='initialise every backbone from one trained '
                       'this many iterations on the ground truth of a '
                       'disjoint generated set (0: from scratch)')
    train.add_argument('--pretrain-data-seed', type=int, default=None,
                       help='default: --data-seed + 1')
    train.add_argument('--threads', type=int, default=1)
    train.add_argument('--num-workers', type=int, default=0)
    args = p.parse_args(argv)
    # Score files go into configs whose dataset joins relative paths to its
    # data_root, so every path derived from the work dir must be absolute.
    args.work_dir = osp.abspath(args.work_dir)
    if args.backbone_width < 32 or args.backbone_width % 32:
        p.error('--backbone-width must be a positive multiple of 32 (GN '
                f'with 32 groups), got {args.backbone_width}')
    if args.class_ids is not None:
        try:
            args.num_classes = len(resolve_class_ids(None, args.class_ids))
        except ValueError as err:
            p.error(f'--class-ids: {err}')
    if args.iters < 1 or args.img_size < 32 or args.num_images < 10:
        p.error('need --iters >= 1, --img-size >= 32, --num-images >= 10')
    if args.pretrain_iters < 0:
        p.error('--pretrain-iters must be >= 0')
    if not 0 <= args.tau_oracle <= 1:
        p.error('--tau-oracle must be in [0, 1]')
    if args.pretrain_data_seed is None:
        args.pretrain_data_seed = args.data_seed + 1
    if args.pretrain_iters and args.pretrain_data_seed == args.data_seed:
        p.error('--pretrain-data-seed must differ from --data-seed: the '
                'pretraining data must be disjoint from the benchmark\'s')
    if args.eval_interval is None:
        args.eval_interval = max(1, args.iters // 10)
    if args.eval_last < 1 or args.eval_interval < 1 or (
            args.eval_last - 1) * args.eval_interval >= args.iters:
        p.error('need --eval-last >= 1, --eval-interval >= 1 and '
                '(eval_last - 1) * eval_interval < iters, got '
                f'{args.eval_last}, {args.eval_interval}, {args.iters}')
    return args


def class_ids(args) -> List[int]:
    if args.class_ids is not None:
        return resolve_class_ids(None, args.class_ids)
    return resolve_class_ids(args.num_classes, None)


# --------------------------------------------------------------------- #
# data and scores
# --------------------------------------------------------------------- #
def generate(args, out_dir: str, seed: int) -> dict:
    """The generated dataset (reused when it has these arguments)."""
    prepare_dataset(
        make_seg_dataset, out_dir, num_images=args.num_images, seed=seed,
        img_size=(args.img_size, args.img_size), class_ids=class_ids(args),
        proxy_noise_mixture=args.mixture)
    with open(osp.join(out_dir, 'meta.json')) as f:
        return json.load(f)


def pipeline_command(args, data_root: str, key: str) -> List[str]:
    """The ``tools/sal_pipeline.py`` command that scores the data's
    training proxies on ``key`` (SC or SF) up to its tau stage."""
    work_dir = osp.join(args.work_dir, f'pipeline_{key}')
    cmd = [sys.executable, PIPELINE, data_root, '--work-dir', work_dir,
           '--score-key', key, '--tau-rule', args.tau_rule,
           '--keep-fraction', str(args.keep_fraction), '--stop-after', 'tau',
           '--seed', str(args.data_seed), '--no-progress']
    if key == 'SF':
        cmd += ['--scorer-config', args.scorer_config]
    if key == 'SF' and args.synthesis_options:
        cmd += ['--synthesis-options'] + list(args.synthesis_options)
    if key == 'SF' and args.scorer_cfg_options:
        cmd += ['--scorer-cfg-options'] + list(args.scorer_cfg_options)
    return cmd


def run_pipeline_scores(args, data_root: str, key: str) -> dict:
    """Run ``tools/sal_pipeline.py`` on the data up to its tau stage;
    returns the score file, tau and what the pipeline recorded."""
    work_dir = osp.join(args.work_dir, f'pipeline_{key}')
    cmd = pipeline_command(args, data_root, key)
    log_path = work_dir + '.log'
    print(f'[benchmark] {" ".join(cmd)}  (log: {log_path})', flush=True)
    with open(log_path, 'a') as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f'the pipeline failed ({key}); see {log_path}')
    stage = 'fine_scores' if key == 'SF' else 'coarse_scores'
    score_file = osp.join(work_dir, stage,
                          'mask_scores.json' if key == 'SF' else
                          'mask_scores_coarse.json')
    with open(osp.join(work_dir, 'tau', 'tau.json')) as f:
        tau = json.load(f)
    return dict(score_file=score_file, tau=tau['tau'], key=key,
                rule=tau['rule_text'], work_dir=work_dir)


def prepare_scores(args, data_root: str) -> Dict[str, dict]:
    """Score files and taus of the selections: SC and SF from the
    pipeline, and the oracle (the true proxy quality)."""
    selections = {key: run_pipeline_scores(args, data_root, key)
                  for key in ('SC', 'SF')}
    with open(osp.join(data_root, 'proxy_quality.json')) as f:
        quality = json.load(f)
    path = osp.join(args.work_dir, 'mask_scores_oracle.json')
    selections['oracle'] = dict(score_file=path, tau=args.tau_oracle,
                                key='SF', rule=f'fixed {args.tau_oracle}')
    if osp.isfile(path):  # the work dir's settings are fixed
        return selections
    coarse = load_mask_scores(selections['SC']['score_file'])
    oracle = {}
    for image_id, row in coarse.items():
        truth = float(quality[image_id][args.oracle_metric])
        oracle[image_id] = dict(row, P=truth, SF=truth)
    dump_mask_scores(
        oracle, path[:-len('.json')] + '.tmp.json',
        meta=dict(tool='benchmarks/sal_selection_benchmark.py',
                  scores=f'P = SF = true proxy {args.oracle_metric} vs '
                  'ground truth (proxy_quality.json): an oracle scorer'),
        overwrite=True)
    os.replace(path[:-len('.json')] + '.tmp.json', path)
    return selections


def selection_stats(args, data_root: str, selections: dict) -> dict:
    """What each selection keeps, against the true proxy quality."""
    with open(osp.join(data_root, 'proxy_quality.json')) as f:
        quality = json.load(f)
    stats = {}
    for name, sel in selections.items():
        scores = load_mask_scores(sel['score_file'])
        ids = sorted(scores)
        truth = np.array([quality[i][args.oracle_metric] for i in ids])
        severity = [quality[i]['severity'] for i in ids]
        values = np.array([scores[i][sel['key']] for i in ids])
        keep = values >= sel['tau']
        row = dict(
            tau=sel['tau'], rule=sel['rule'], kept=int(keep.sum()),
            total=len(ids),
            kept_mean_true_quality=float(truth[keep].mean())
            if keep.any() else float('nan'),
            all_mean_true_quality=float(truth.mean()),
            per_tier={
                tier: [int(sum(k for k, s in zip(keep, severity)
                               if s == tier)), severity.count(tier)]
                for tier in ('clean', 'mild', 'moderate', 'severe')
            })
        if name != 'oracle':
            row.update(pearson=pearson_correlation(values, truth),
                       spearman=spearman_correlation(values, truth))
        if name == 'SF':
            p = np.array([scores[i]['P'] for i in ids])
            row['pearson_P'] = pearson_correlation(p, truth)
        stats[name] = row
    return stats


def pretrain_backbone(args, data_root_name: str = 'pretrain') -> str:
    """The backbone of the plain-CE model trained on the ground truth of a
    disjoint generated set; reused when the checkpoint exists (the work
    dir's settings are fixed, see :func:`check_settings`)."""
    pre_dir = osp.join(args.work_dir, data_root_name)
    ckpt = osp.join(pre_dir, 'backbone.pth')
    if osp.isfile(ckpt):
        return ckpt
    data_root = osp.join(pre_dir, 'data')
    generate(args, data_root, args.pretrain_data_seed)
    cfg = build_cfg('clean', args, data_root, selections={}, backbone=None)
    cfg.train_cfg = dict(type='IterBasedTrainLoop',
                         max_iters=args.pretrain_iters)
    cfg.param_scheduler[0].end = args.pretrain_iters
    return train_backbone(cfg, ckpt)


# --------------------------------------------------------------------- #
# configs and runs
# --------------------------------------------------------------------- #
def run_overrides(cfg, args, data_root: str, variant: dict,
                  selections: dict, backbone: Optional[str]) -> dict:
    """The overrides every variant shares (size, schedule, data) plus its
    masks and score file."""
    size = (args.img_size, args.img_size)
    last = args.iters
    first_eval = last - (args.eval_last - 1) * args.eval_interval
    options = {
        'model.data_preprocessor.size': size,
        'model.backbone.base_channels': args.backbone_width,
        # BasicBlock stages: base, 2x, 4x, 8x channels.
        'model.decode_head.in_channels': 8 * args.backbone_width,
        'train_dataloader.batch_size': args.batch_size,
        'train_dataloader.dataset.data_prefix.seg_map_path':
        MASK_DIRS[variant['masks']],
        'optim_wrapper.optimizer.lr': args.lr,
        'param_scheduler.0.end': last,
        'train_cfg': dict(type='IterBasedTrainLoop', max_iters=last,
                          val_interval=args.eval_interval,
                          val_begin=first_eval),
        'default_hooks.logger.interval': max(1, min(50, last // 10)),
    }
    transforms = cfg.train_dataloader.dataset.pipeline
    for index, transform in enumerate(transforms):
        if transform['type'] == 'RandomResize':
            options[f'train_dataloader.dataset.pipeline.{index}.scale'] = size
        elif transform['type'] == 'RandomCrop':
            options[f'train_dataloader.dataset.pipeline.{index}.'
                    'crop_size'] = size
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is None:
            continue
        options[f'{loader}.dataset.data_root'] = data_root
        options[f'{loader}.num_workers'] = args.num_workers
        options[f'{loader}.persistent_workers'] = args.num_workers > 0
    if variant['score'] is not None:
        sel = selections[variant['score']]
        options.update({
            'model.decode_head.loss_decode.score_key': sel['key'],
            'model.decode_head.loss_decode.tau': sel['tau'],
            'train_dataloader.dataset.score_file': sel['score_file'],
            'train_dataloader.dataset.required_scores': (sel['key'], ),
        })
        if variant['masks'] != 'proxy':
            # clean-selected trains on ground truth with the scores of the
            # proxies on purpose (what the selection keeps, perfectly
            # labelled): the dataset's check that the scores describe the
            # masks it loads would stop it.
            options['train_dataloader.dataset.on_stale_scores'] = 'warn'
    if backbone:
        options['model.backbone.init_cfg'] = dict(
            type='Pretrained', checkpoint=backbone)
    return options


def build_cfg(name: str, args, data_root: str, selections: dict,
              backbone: Optional[str]):
    """The shipped config of variant ``name`` with its overrides, then the
    benchmark's."""
    variant = VARIANTS[name]
    cfg = load_config(variant['config'], variant['overrides'])
    return apply_overrides(
        cfg, run_overrides(cfg, args, data_root, variant, selections,
                           backbone))


def run_one(name: str, seed: int, args, data_root: str, selections: dict,
            backbone: Optional[str]) -> dict:
    cfg = build_cfg(name, args, data_root, selections, backbone)
    result = train_config(cfg, osp.join(args.work_dir, 'logs',
                                        f'{name}_seed{seed}'), seed)
    evals = result.history[-args.eval_last:]
    if len(evals) != args.eval_last:
        raise RuntimeError(f'{name} seed {seed}: expected {args.eval_last} '
                           f'evaluations, got {len(result.history)}')
    row = dict(
        variant=name, seed=seed,
        mIoU=statistics.fmean(float(m['mIoU']) for _, m in evals),
        mIoU_evals={int(it): float(m['mIoU']) for it, m in evals},
        seconds=result.seconds)
    model = result.runner.model
    if getattr(model.decode_head, 'cls_branch', None) is not None:
        contrast = class_attention_contrast(model,
                                            result.runner.val_dataloader)
        row['attention'] = dict(
            mean_contrast=contrast['mean_contrast'], pairs=contrast['pairs'],
            per_class={str(k): v for k, v in contrast['per_class'].items()})
    loss = model.decode_head.loss_decode
    stats = getattr(loss, 'run_stats', None)
    if stats:
        row['empty_batches'] = stats.get('num_empty_batches')
    print(f'[benchmark] {name} seed {seed}: mIoU {row["mIoU"]:.2f} '
          f'({result.seconds:.0f} s)', flush=True)
    return row


# --------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------- #
def load_runs(work_dir: str) -> Dict[str, Dict[int, dict]]:
    runs: Dict[str, Dict[int, dict]] = {}
    for path in sorted(glob.glob(osp.join(work_dir, 'runs', '*.json'))):
        with open(path) as f:
            row = json.load(f)
        runs.setdefault(row['variant'], {})[row['seed']] = row
    return runs


def paired(runs, a: str, b: str) -> Optional[dict]:
    """Per-seed ``b - a`` over the seeds both have, with the standard
    error of the mean difference."""
    seeds = sorted(set(runs.get(a, {})) & set(runs.get(b, {})))
    if not seeds:
        return None
    diffs = [runs[b][s]['mIoU'] - runs[a][s]['mIoU'] for s in seeds]
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) \
        if len(diffs) > 1 else float('nan')
    return dict(seeds=seeds, diffs=diffs, mean=statistics.fmean(diffs),
                se=se)


def summarize(runs) -> Dict[str, dict]:
    summary = {}
    for name in VARIANTS:
        if name not in runs:
            continue
        values = [runs[name][s]['mIoU'] for s in sorted(runs[name])]
        summary[name] = dict(
            n=len(values), mean=statistics.fmean(values),
            std=statistics.stdev(values) if len(values) > 1 else 0.0,
            values=values, seeds=sorted(runs[name]))
    p2, clean = summary.get('P2'), summary.get('clean')
    for row in summary.values():
        row['gap'] = None
        if p2 and clean and clean['mean'] > p2['mean']:
            row['gap'] = (row['mean'] - p2['mean']) / (
                clean['mean'] - p2['mean'])
    return summary


def targets(runs, summary) -> List[str]:
    lines = []
    p4 = summary.get('P4')
    if p4 and p4['gap'] is not None:
        lines.append(f'P4 recovers >= 0.5 of the P2-clean gap: '
                     f'{p4["gap"]:+.2f} -> '
                     f'{"met" if p4["gap"] >= 0.5 else "MISSED"}')
    for a, b in (('P2', 'P3'), ('P3', 'P4'), ('P2', 'P4')):
        d = paired(runs, a, b)
        if d:
            lines.append(
                f'{a} < {b} (paired): {b} - {a} = {d["mean"]:+.2f} +- '
                f'{d["se"]:.2f} SE (per seed '
                f'{", ".join(f"{x:+.2f}" for x in d["diffs"])}) -> '
                f'{"met" if d["mean"] > 0 else "MISSED"}')
    for a, b in (('P4', 'P5'), ('P4-oracle', 'P5-oracle')):
        d = paired(runs, a, b)
        if d:
            ok = d['mean'] >= -d['se']
            lines.append(
                f'{b} >= {a} - 1 SE: {b} - {a} = {d["mean"]:+.2f} +- '
                f'{d["se"]:.2f} SE -> {"met" if ok else "MISSED"}')
    for name in ('P5', 'P5-oracle', 'P5-oracle-no-eq11'):
        values = [r['attention']['mean_contrast']
                  for r in runs.get(name, {}).values() if 'attention' in r]
        if values:
            mean = statistics.fmean(values)
            lines.append(
                f'{name} class-attention contrast >= 0.1: {mean:.3f} (per '
                f'seed {", ".join(f"{v:.3f}" for v in values)}) -> '
                f'{"met" if mean >= 0.1 else "MISSED"}')
    return lines


def format_report(args, meta: dict, stats: dict, runs) -> str:
    summary = summarize(runs)
    mixture = ', '.join(f'{k} {v:.2f}'
                        for k, v in meta['proxy_noise_mixture'].items())
    lines = ['## SAL selection benchmark\n']
    lines.append(
        f'{time.strftime("%Y-%m-%d %H:%M %Z")}; {platform.node()}, '
        f'{os.cpu_count()} CPU cores, torch {torch.__version__}')
    lines.append(
        f'data: {meta["num_train"]} train / {meta["num_val"]} val generated '
        f'images {args.img_size}x{args.img_size}, classes {meta["classes"]}, '
        f'data seed {args.data_seed}; proxy noise {mixture}')
    lines.append(
        f'schedule: R-18 (GN) d8 width {args.backbone_width}, batch '
        f'{args.batch_size}, {args.iters} iterations, SGD lr {args.lr} '
        'poly, ' + (f'backbone pretrained {args.pretrain_iters} iterations '
                    f'on data seed {args.pretrain_data_seed}'
                    if args.pretrain_iters else 'from scratch') +
        f'; mIoU (%) = mean of the val evaluations at the last '
        f'{args.eval_last} x {args.eval_interval} iterations')
    lines.append('\n| selection | tau (rule) | kept | kept per tier (clean, '
                 'mild, moderate, severe) | true quality kept (all) | '
                 'Pearson / Spearman vs true quality |')
    lines.append('| --- | --- | --- | --- | --- | --- |')
    for name, s in stats.items():
        tiers = ', '.join(f'{k}/{n}' for k, n in s['per_tier'].values())
        corr = '' if 'pearson' not in s else \
            f'{s["pearson"]:.3f} / {s["spearman"]:.3f}'
        if 'pearson_P' in s:
            corr += f' (P alone: {s["pearson_P"]:.3f})'
        lines.append(
            f'| {name} | {s["tau"]:.3f} ({s["rule"]}) | {s["kept"]}/'
            f'{s["total"]} | {tiers} | {s["kept_mean_true_quality"]:.3f} '
            f'({s["all_mean_true_quality"]:.3f}) | {corr} |')
    lines.append('\n| variant | mIoU mean | std | per seed | gap recovered '
                 '| d_s contrast |')
    lines.append('| --- | --- | --- | --- | --- | --- |')
    for name, s in summary.items():
        gap = '' if s['gap'] is None else f'{s["gap"]:+.2f}'
        contrast = [r['attention']['mean_contrast']
                    for r in runs[name].values() if 'attention' in r]
        lines.append(
            f'| {name} | {s["mean"]:.2f} | {s["std"]:.2f} | ' +
            ', '.join(f's{k} {v:.2f}' for k, v in zip(s['seeds'],
                                                      s['values'])) +
            f' | {gap} | ' +
            (f'{statistics.fmean(contrast):.3f}' if contrast else '') + ' |')
    lines.append('')
    lines.extend(targets(runs, summary))
    seconds = [r['seconds'] for rs in runs.values() for r in rs.values()]
    if seconds:
        lines.append(f'\n{len(seconds)} runs, {statistics.fmean(seconds):.0f}'
                     ' s per run on average')
    return '\n'.join(lines)


def plot(runs, path: str, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    summary = summarize(runs)
    names = list(summary)
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 4))
    colors = ['#999999' if n == 'P2' else '#4c9a2a' if n.startswith('clean')
              else '#3b6ea8' if n == 'P3' else '#d9822b' for n in names]
    ax.bar(names, [summary[n]['mean'] for n in names],
           yerr=[summary[n]['std'] for n in names], capsize=4, color=colors,
           alpha=0.85)
    for x, n in enumerate(names):
        ax.scatter([x] * summary[n]['n'], summary[n]['values'],
                   color='black', s=12, zorder=3)
    values = [v for n in names for v in summary[n]['values']]
    lo, hi = min(values), max(values)
    ax.set_ylim(max(0.0, lo - 0.3 * (hi - lo + 1)), hi + 0.1 * (hi - lo + 1))
    ax.set_ylabel('val mIoU (%)')
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def claim(path: str) -> bool:
    """Claim a run for this process (invocations sharing a work dir take
    different runs); a claim whose process is gone is taken over."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            with open(path) as f:
                owner = f.read().strip()
            if not owner:
                return False  # being claimed this very moment
            try:
                os.kill(int(owner), 0)
                return False  # another live invocation runs it
            except (ValueError, ProcessLookupError):
                os.remove(path)  # left by a killed invocation
                continue
        with os.fdopen(fd, 'w') as f:
            f.write(str(os.getpid()))
        return True
    return False


def _settings(args) -> dict:
    return {k: v for k, v in json.loads(
        json.dumps(vars(args), default=str)).items()
            if k not in _RUN_INDEPENDENT_ARGS}


def check_settings(args, defaults=None) -> None:
    """Fix the work dir's settings on first use; refuse others later (runs
    of other settings must not be reported together).

    Args:
        args: The parsed arguments.
        defaults: The arguments' defaults (parsed arguments too). An option
            added after the work dir was made is then accepted at its
            default, which is what its earlier runs used.
    """
    path = osp.join(args.work_dir, 'settings.json')
    current = _settings(args)
    if osp.isfile(path):
        with open(path) as f:
            earlier = json.load(f)
        if defaults is not None:
            earlier = dict(_settings(defaults), **earlier)
        differ = sorted(k for k in set(current) | set(earlier)
                        if current.get(k) != earlier.get(k))
        if differ:
            raise SystemExit(
                f'{args.work_dir} holds runs with other settings (they '
                f'differ in {differ}, see {path}); use another --work-dir')
    else:
        os.makedirs(args.work_dir, exist_ok=True)
        with open(path, 'w') as f:
            json.dump(current, f, indent=1, sort_keys=True)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    check_settings(args, defaults=parse_args(['--work-dir', args.work_dir]))
    data_root = osp.join(args.work_dir, 'data')
    meta = generate(args, data_root, args.data_seed)
    selections = prepare_scores(args, data_root)
    stats = selection_stats(args, data_root, selections)
    if not args.report_only:
        backbone = pretrain_backbone(args) if args.pretrain_iters else None
        os.makedirs(osp.join(args.work_dir, 'runs'), exist_ok=True)
        todo = [(name, seed) for seed in args.seeds for name in args.variants]
        for k, (name, seed) in enumerate(todo, 1):
            path = osp.join(args.work_dir, 'runs', f'{name}_seed{seed}.json')
            if osp.isfile(path) or not claim(path + '.claim'):
                continue
            print(f'[benchmark] run {k}/{len(todo)}: {name} seed {seed}',
                  flush=True)
            row = run_one(name, seed, args, data_root, selections, backbone)
            with open(path, 'w') as f:
                json.dump(row, f, indent=1)
            os.remove(path + '.claim')
    runs = load_runs(args.work_dir)
    report = format_report(args, meta, stats, runs)
    plot(runs, osp.join(args.work_dir, 'results.png'),
         f'SAL selection, {args.img_size}px, {args.iters} it, '
         f'{args.tau_rule} tau (bars: mean +- std; dots: seeds)')
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(report + '\n')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(settings=vars(args), selection=stats,
                       summary=summarize(runs), runs=runs), f, indent=1,
                  default=str)
    print(report, flush=True)


if __name__ == '__main__':
    main()
