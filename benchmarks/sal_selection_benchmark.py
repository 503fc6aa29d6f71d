# Copyright (c) mmattn contributors. All rights reserved.
"""SAL-Net retraining on generated data with controlled proxy noise: does
selecting proxy masks (and the attention loss) recover what noisy proxies
cost? (SAL paper Table VI, columns P2-P5, on CPU-sized data.)

Steps:

1. Generate a VOC-style dataset (``mmattn.synthetic.make_seg_dataset``)
   with a proxy noise mixture heavy in severe proxies, so that training on
   all of them hurts and selection has something to remove.
2. Score the train proxies: coarse AC/CD/SC (``score_proxy_masks``, Eq.
   3-5); an "oracle" score file whose P and SF are the recorded true proxy
   quality (``proxy_quality.json``, ``--oracle-metric``); and, with
   ``--scorer-config/--scorer-checkpoint``, the trained scoring network's
   P and SF = P * CD (Eq. 7). All go through ``dump_mask_scores``.
3. Train every variant for every seed with mmengine's ``Runner`` from the
   shipped tiny configs (``configs/sal/salnet_r18_tiny_synthetic*.py``),
   overridden for size, schedule and selection; evaluate mIoU on the val
   split's ground truth with mmseg's ``IoUMetric``.

Variants (same model, data, schedule and seeds):

=============  ==============================================================
``P2``         all proxies, plain CE (the ``_plain_ce`` config)
``P3``         selection loss on the coarse score, ``SC >= --tau-sc``
``P4``         selection loss on the scorer's ``SF >= --tau-sf`` (needs the
               scorer)
``P5``         ``P4`` + classification branch, Eq. 11, attention loss
``P4-oracle``  selection on the true proxy quality ``>= --tau-oracle``
``P5-oracle``  ``P4-oracle`` + classification branch, Eq. 11, attention loss
``P5-oracle-no-eq11``  ``P5-oracle`` without Eq. 11 (``attention_guided=
               False``): the attention loss as an auxiliary task only
``P4-oracle-soft``  selection loss with soft weights ``w_i`` = the true
               proxy quality (``weighting='soft'``, weighted mean)
``clean``      the ground-truth masks, plain CE (the ceiling)
``clean-selected``  the ground-truth masks of the images that ``P4-oracle``
               keeps (diagnostic: what hard selection could reach with
               perfect labels on the same images)
=============  ==============================================================

Gap recovered = (mIoU(variant) - mIoU(P2)) / (mIoU(clean) - mIoU(P2)).

The defaults are sized for ~25 minutes on 2 shared CPU cores (15 runs of
~1.5 min): 800 images of 64x64 with 2 foreground classes, the tiny R-18
(GN) d8 at half width (``--backbone-width 32``), batch 8, 600 iterations,
lr 0.05, 1 torch thread. Trained from scratch (no weights can be
downloaded), the shipped full-width model at 96x96 and 100 iterations
still predicts background only (val mIoU 16.8, measured), so the default
trades width and image size for iterations. Half the proxies are severe
(``--mixture``). (Session 1 hoped that 640 train images would leave the
selected subset large enough that data quantity does not swamp label
quality; sessions 2 and 3 measured that from scratch it does: see the
``clean-selected`` diagnostic in docs/benchmarks_sal.md.)

    python benchmarks/sal_selection_benchmark.py --work-dir /tmp/salsel

``--eval-last K`` reports the mean of the last K evaluations (every
``--eval-interval`` iterations up to the last one) instead of one
evaluation after training. The session-2 run (docs/benchmarks_sal.md)
trains longer on smaller images:

    python benchmarks/sal_selection_benchmark.py --work-dir /tmp/salsel2 \\
        --img-size 48 --iters 2000 --num-images 1000 --eval-last 3

``--pretrain-iters N`` first trains the plain-CE model for N iterations
on the ground truth of a second generated dataset (another data seed, so
no benchmark image is seen) and initialises every variant's backbone from
it, the analogue of the paper's ImageNet-initialised networks. The
session-3 run adds ``--pretrain-iters 2000`` to the line above. A long
benchmark can be split over parallel invocations with their own work
dirs (e.g. by variants) and reported together with ``--reuse-from``.

Per-run logs are in ``<work-dir>/runs/<variant>_seed<k>/``; the table is
printed and saved with a bar chart (``results.md``, ``results.png``,
``results.json``). Results are recorded in docs/benchmarks_sal.md.
"""
import argparse
import gc
import json
import logging
import os
import os.path as osp
import platform
import statistics
import time
from typing import Dict, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import MMLogger, print_log
from mmengine.runner import Runner

import mmattn  # noqa: F401  (registers the SAL modules)
from mmattn.segmentation.mask_scoring import (MaskScorer, read_id_list,
                                              read_tags, score_proxy_masks)
from mmattn.segmentation.mask_scoring.metrics import (pearson_correlation,
                                                      spearman_correlation)
from mmattn.segmentation.score_file import dump_mask_scores
from mmattn.synthetic import make_seg_dataset, resolve_class_ids

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SAL_CFG = osp.join(ROOT, 'configs', 'sal', 'salnet_r18_tiny_synthetic.py')
PLAIN_CFG = osp.join(ROOT, 'configs', 'sal',
                     'salnet_r18_tiny_synthetic_plain_ce.py')
ALL_VARIANTS = ('P2', 'P3', 'P4', 'P5', 'P4-oracle', 'P5-oracle',
                'P5-oracle-no-eq11',
                'P4-oracle-soft', 'clean', 'clean-selected')
DEFAULT_VARIANTS = ('P2', 'P3', 'P4-oracle', 'P5-oracle', 'clean')
# Half the proxies severe (the generator's default is 30/30/25/15): at this
# CPU scale milder noise costs less than the seed-to-seed spread, so
# selection would have nothing to show.
DEFAULT_MIXTURE = 'clean=0.3,mild=0.1,moderate=0.1,severe=0.5'
LOGGER_NAME = 'sal_selection_benchmark'


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
    p.add_argument('--work-dir', default='/tmp/mmattn_sal_selection_bench')
    p.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=[0, 1, 2],
        help='training seeds (the data stays the same)')
    p.add_argument(
        '--iters', type=int, default=600, help='training iterations per run')
    p.add_argument(
        '--num-images',
        type=int,
        default=800,
        help='generated images, train + val (20%% val)')
    p.add_argument(
        '--img-size', type=int, default=64, help='square image and crop side')
    p.add_argument(
        '--variants',
        nargs='+',
        default=None,
        choices=ALL_VARIANTS,
        help=f'default: {" ".join(DEFAULT_VARIANTS)} (+ P4 P5 '
        'with a scorer)')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument(
        '--backbone-width',
        type=int,
        default=32,
        help='base_channels of the R-18 backbone (64: the '
        'shipped config; a multiple of 32 for GN(32))')
    p.add_argument('--lr', type=float, default=0.05)
    p.add_argument('--data-seed', type=int, default=0)
    p.add_argument(
        '--eval-last',
        type=int,
        default=1,
        help='report the mean val mIoU of the last K evaluations, '
        '--eval-interval iterations apart, ending at the last iteration '
        '(1: one evaluation after training); averages out part of the '
        'end-of-training fluctuation')
    p.add_argument(
        '--eval-interval',
        type=int,
        default=None,
        help='iterations between the --eval-last evaluations (default: '
        '--iters // 10)')
    p.add_argument(
        '--num-classes',
        type=int,
        default=2,
        help='foreground classes of the generated data (VOC '
        'indices 1..N)')
    p.add_argument(
        '--class-ids',
        type=int,
        nargs='+',
        default=None,
        help='foreground VOC indices of the generated data instead of '
        '1..--num-classes, e.g. 1 7: plain rectangles and striped '
        'ellipses, told apart by texture as well as outline')
    p.add_argument(
        '--mixture',
        type=parse_mixture,
        default=DEFAULT_MIXTURE,
        help='proxy noise mixture, tier=weight,... over clean, '
        f'mild, moderate, severe (default {DEFAULT_MIXTURE})')
    p.add_argument(
        '--oracle-metric',
        default='miou',
        choices=('miou', 'fg_fmeasure', 'fg_iou', 'pixel_acc'),
        help='true proxy quality used as the oracle P and SF')
    p.add_argument('--tau-oracle', type=float, default=0.8)
    p.add_argument(
        '--tau-sc',
        type=float,
        default=0.55,
        help='coarse selection threshold (paper VGG16: 0.55)')
    p.add_argument(
        '--tau-sf',
        type=float,
        default=0.5,
        help='refined selection threshold with the trained '
        'scorer (the tiny config: 0.5)')
    p.add_argument('--scorer-config', default=None)
    p.add_argument('--scorer-checkpoint', default=None)
    p.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch CPU threads; 1 is faster and far steadier '
        'than 2 when other jobs share the 2 cores (no spinning '
        'OpenMP threads fighting for them)')
    p.add_argument(
        '--reuse-runs',
        action='store_true',
        help='take the runs of an earlier invocation in the same work dir '
        '(its results.json) whose settings are identical to these (all '
        'arguments but the seeds, variants, threads and workers), and train '
        'only the missing (variant, seed) pairs')
    p.add_argument(
        '--pretrain-iters',
        type=int,
        default=0,
        help='initialise every variant\'s backbone from a model trained '
        'this many iterations on the ground truth of a second, disjoint '
        'generated dataset (--pretrain-data-seed): the analogue of the '
        'paper\'s ImageNet initialisation, which no variant\'s own data '
        'sees (0: from scratch)')
    p.add_argument(
        '--pretrain-data-seed',
        type=int,
        default=None,
        help='seed of the pretraining dataset (default: --data-seed + 1)')
    p.add_argument(
        '--reuse-from',
        nargs='+',
        default=[],
        metavar='DIR',
        help='also take matching runs from these work dirs (implies '
        '--reuse-runs): split one benchmark over parallel invocations with '
        'their own work dirs, then run once more with --reuse-from to '
        'report them together')
    p.add_argument(
        '--num-workers',
        type=int,
        default=0,
        help='data loader workers (0: load in the main process; '
        'cheaper on 2 shared cores)')
    args = p.parse_args(argv)
    if (args.scorer_config is None) != (args.scorer_checkpoint is None):
        p.error('--scorer-config and --scorer-checkpoint go together')
    has_scorer = args.scorer_config is not None
    if args.variants is None:
        args.variants = list(DEFAULT_VARIANTS)
        if has_scorer:
            args.variants[3:3] = ['P4', 'P5']
    elif not has_scorer and {'P4', 'P5'} & set(args.variants):
        p.error('P4/P5 select on the trained scorer\'s SF: pass '
                '--scorer-config and --scorer-checkpoint, or use '
                'P4-oracle/P5-oracle')
    for name in ('tau_oracle', 'tau_sc', 'tau_sf'):
        if not 0 <= getattr(args, name) <= 1:
            p.error(f'--{name.replace("_", "-")} must be in [0, 1]')
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


# --------------------------------------------------------------------- #
# data and score files
# --------------------------------------------------------------------- #
def generate_data(data_root: str, seed: int, args) -> dict:
    """Generate the dataset in ``data_root`` unless the one there has the
    same settings; returns its meta."""
    size = [args.img_size, args.img_size]
    meta_path = osp.join(data_root, 'meta.json')
    reuse = False
    if osp.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        reuse = (
            meta.get('seed') == seed
            and meta.get('num_images') == args.num_images
            and list(meta.get('img_size', [])) == size
            and meta.get('classes') == _class_ids(args)
            and _same_mixture(meta.get('proxy_noise_mixture'), args.mixture))
    if not reuse:
        make_seg_dataset(
            data_root,
            num_images=args.num_images,
            seed=seed,
            img_size=size,
            class_ids=_class_ids(args),
            proxy_noise_mixture=args.mixture,
            overwrite=True,
            show_progress=False)
    with open(meta_path) as f:
        return json.load(f)


def prepare_data(args, logger: MMLogger) -> dict:
    """Generate the dataset (reused when its meta matches) and write the
    score files. Returns paths and selection statistics."""
    data_root = osp.join(args.work_dir, 'data')
    meta = generate_data(data_root, args.data_seed, args)
    with open(osp.join(data_root, 'proxy_quality.json')) as f:
        quality = json.load(f)
    train_ids = list(
        read_id_list(
            osp.join(data_root, 'ImageSets', 'Segmentation', 'train.txt')))
    dirs = dict(
        proxy_dir=osp.join(data_root, 'SegmentationClassProxy'),
        ref_dir=osp.join(data_root, 'SaliencyRef'),
        img_dir=osp.join(data_root, 'JPEGImages'))
    tags = read_tags(osp.join(data_root, 'cls_labels.npy'))

    started = time.time()
    scorer = None
    if args.scorer_config is not None:
        scorer = MaskScorer(args.scorer_config, args.scorer_checkpoint)
    results = score_proxy_masks(
        train_ids, tags=tags, scorer=scorer, show_progress=False, **dirs)
    logger.info(f'scored {len(train_ids)} train proxies in '
                f'{time.time() - started:.0f} s')
    fields = ('AC', 'CD', 'SC', 'P', 'SF')
    coarse = {i: {k: r[k] for k in fields} for i, r in results.items()}
    files = {}
    files['coarse'] = dump_mask_scores(
        {
            i: dict(r, P=None, SF=None)
            for i, r in coarse.items()
        },
        osp.join(data_root, 'mask_scores_coarse.json'),
        meta=dict(
            tool='benchmarks/sal_selection_benchmark.py',
            scores='coarse AC, CD, SC (Eq. 3-5)'),
        overwrite=True)
    oracle = {}
    for image_id, row in coarse.items():
        true_quality = float(quality[image_id][args.oracle_metric])
        oracle[image_id] = dict(row, P=true_quality, SF=true_quality)
    files['oracle'] = dump_mask_scores(
        oracle,
        osp.join(data_root, 'mask_scores_oracle.json'),
        meta=dict(
            tool='benchmarks/sal_selection_benchmark.py',
            scores=f'P = SF = true proxy {args.oracle_metric} vs '
            'ground truth (proxy_quality.json): an oracle scorer'),
        overwrite=True)
    if scorer is not None:
        files['scorer'] = dump_mask_scores(
            coarse,
            osp.join(data_root, 'mask_scores_scorer.json'),
            meta=dict(
                tool='benchmarks/sal_selection_benchmark.py',
                scores='AC, CD, SC; P from the scoring network, '
                'SF = P * CD (Eq. 7)',
                config=args.scorer_config,
                checkpoint=args.scorer_checkpoint),
            overwrite=True)

    # What each selection keeps, against the true quality of the proxies.
    truth = np.array([quality[i][args.oracle_metric] for i in train_ids])
    severity = [quality[i]['severity'] for i in train_ids]
    selections = dict(
        SC=(np.array([coarse[i]['SC'] for i in train_ids]), args.tau_sc),
        oracle=(truth, args.tau_oracle))
    if scorer is not None:
        selections['SF'] = (np.array([coarse[i]['SF']
                                      for i in train_ids]), args.tau_sf)
    stats = {}
    for name, (values, tau) in selections.items():
        keep = values >= tau
        per_tier = {
            tier:
            f'{sum(k for k, s in zip(keep, severity) if s == tier)}/'
            f'{severity.count(tier)}'
            for tier in ('clean', 'mild', 'moderate', 'severe')
        }
        stats[name] = dict(
            tau=tau,
            kept=int(keep.sum()),
            total=len(train_ids),
            kept_mean_true_quality=float(truth[keep].mean())
            if keep.any() else float('nan'),
            per_tier=per_tier,
            pearson=pearson_correlation(values, truth)
            if name != 'oracle' else 1.0,
            spearman=spearman_correlation(values, truth)
            if name != 'oracle' else 1.0)
    return dict(
        data_root=data_root,
        files=files,
        meta=meta,
        selection=stats,
        all_mean_true_quality=float(truth.mean()))


def _class_ids(args) -> List[int]:
    if args.class_ids is not None:
        return resolve_class_ids(None, args.class_ids)
    return resolve_class_ids(args.num_classes, None)


def _same_mixture(recorded, wanted: Dict[str, float]) -> bool:
    if not isinstance(recorded, dict):
        return False
    total = sum(wanted.values())
    return all(
        abs(float(recorded.get(k, 0.0)) - wanted.get(k, 0.0) / total) < 1e-6
        for k in set(recorded) | set(wanted))


# --------------------------------------------------------------------- #
# configs and runs
# --------------------------------------------------------------------- #
def build_cfg(variant: str, seed: int, args, data: dict) -> Config:
    """The shipped tiny config of ``variant``, overridden for this run."""
    plain = variant in ('P2', 'clean')
    cfg = Config.fromfile(PLAIN_CFG if plain else SAL_CFG)
    size = (args.img_size, args.img_size)
    run_name = f'{variant}_seed{seed}'
    cfg.work_dir = osp.join(args.work_dir, 'runs', run_name)
    cfg.experiment_name = run_name
    cfg.randomness = dict(seed=seed)
    cfg.model.data_preprocessor.size = size
    if args.backbone_width != 64:
        cfg.model.backbone.base_channels = args.backbone_width
        # BasicBlock stages: base, 2x, 4x, 8x channels.
        cfg.model.decode_head.in_channels = 8 * args.backbone_width

    head = cfg.model.decode_head
    if plain:
        # Mean over non-ignored pixels, as the selection loss: the clean
        # masks have a void band, the proxies do not.
        head.loss_decode.avg_non_ignore = True
    else:
        score_key, tau, score_file = dict(
            P3=('SC', args.tau_sc, 'coarse'),
            P4=('SF', args.tau_sf, 'scorer'),
            P5=('SF', args.tau_sf, 'scorer'),
        ).get(variant, ('SF', args.tau_oracle, 'oracle'))
        head.loss_decode.score_key = score_key
        head.loss_decode.tau = tau
        if variant == 'P5-oracle-no-eq11':
            head.attention_guided = False
        if variant == 'P4-oracle-soft':
            head.loss_decode.weighting = 'soft'
            head.loss_decode.normalize = 'weighted_pixels'
        if variant in ('P3', 'P4', 'P4-oracle', 'P4-oracle-soft',
                       'clean-selected'):
            # Selection only: SALHead without the classification subnetwork
            # is ASPPHead with the selection loss.
            head.cls_branch = None
            head.attention_guided = False
            head.loss_attention = None
        cfg.train_dataloader.dataset.score_file = data['files'][score_file]
        cfg.train_dataloader.dataset.required_scores = (score_key, )

    train_ds = cfg.train_dataloader.dataset
    train_ds.data_root = data['data_root']
    if variant in ('clean', 'clean-selected'):
        train_ds.data_prefix.seg_map_path = 'SegmentationClass'
    for transform in train_ds.pipeline:
        if transform['type'] == 'RandomResize':
            transform['scale'] = size
        elif transform['type'] == 'RandomCrop':
            transform['crop_size'] = size
    for loader_name in ('train_dataloader', 'val_dataloader',
                        'test_dataloader'):
        loader = cfg[loader_name]
        loader.num_workers = args.num_workers
        loader.persistent_workers = args.num_workers > 0
        loader.dataset.data_root = data['data_root']
    cfg.train_dataloader.batch_size = args.batch_size

    cfg.optim_wrapper.optimizer.lr = args.lr
    cfg.param_scheduler[0].end = args.iters
    if args.eval_last == 1:
        # No validation inside the loop: the benchmark validates once at
        # the end (val_begin past the last iteration) and reads the metrics.
        val_interval, val_begin = args.iters, args.iters + 1
    else:
        # Validate at iters - (K-1) * interval, ..., iters (the loop also
        # validates at the last iteration); MetricsHistoryHook records them.
        val_interval = args.eval_interval
        val_begin = args.iters - (args.eval_last - 1) * args.eval_interval
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop',
        max_iters=args.iters,
        val_interval=val_interval,
        val_begin=val_begin)
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = max(1, min(20, args.iters // 5))
    if data.get('pretrained_backbone'):
        cfg.model.backbone.init_cfg = dict(
            type='Pretrained', checkpoint=data['pretrained_backbone'])
    return cfg


def pretrain_backbone(args, logger: MMLogger) -> str:
    """Train the plain-CE model on the ground truth of a disjoint
    generated dataset and save its backbone; reused when a backbone with
    the same settings exists. Returns the checkpoint path."""
    pre_dir = osp.join(args.work_dir, 'pretrain')
    ckpt = osp.join(pre_dir, 'backbone.pth')
    settings = dict(
        iters=args.pretrain_iters,
        data_seed=args.pretrain_data_seed,
        num_images=args.num_images,
        img_size=args.img_size,
        classes=_class_ids(args),
        backbone_width=args.backbone_width,
        batch_size=args.batch_size,
        lr=args.lr)
    settings_path = osp.join(pre_dir, 'settings.json')
    if osp.isfile(ckpt) and osp.isfile(settings_path):
        with open(settings_path) as f:
            if json.load(f) == settings:
                logger.info(f'reusing the pretrained backbone {ckpt}')
                return ckpt
    data_root = osp.join(pre_dir, 'data')
    generate_data(data_root, args.pretrain_data_seed, args)
    pre_args = argparse.Namespace(**vars(args))
    pre_args.iters, pre_args.eval_last = args.pretrain_iters, 1
    pre_args.work_dir = pre_dir
    cfg = build_cfg('clean', 0, pre_args, dict(data_root=data_root))
    cfg.work_dir = osp.join(pre_dir, 'run')
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=args.pretrain_iters)
    started = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    torch.save(dict(state_dict=runner.model.backbone.state_dict()), ckpt)
    with open(settings_path, 'w') as f:
        json.dump(settings, f)
    logger.info(f'pretrained the backbone for {args.pretrain_iters} '
                f'iterations on the ground truth of data seed '
                f'{args.pretrain_data_seed} in {time.time() - started:.0f} s: '
                f'{ckpt}')
    del runner
    gc.collect()
    return ckpt


class MetricsHistoryHook(Hook):
    """Keeps the metrics of every validation run during training."""

    priority = 'LOWEST'

    def __init__(self):
        self.history: List[dict] = []

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.history.append(dict(iter=runner.iter, **(metrics or {})))


def run_one(variant: str, seed: int, args, data: dict,
            logger: MMLogger) -> dict:
    cfg = build_cfg(variant, seed, args, data)
    started = time.time()
    runner = Runner.from_cfg(cfg)
    history = MetricsHistoryHook()
    runner.register_hook(history)
    runner.train()
    train_s = time.time() - started
    if args.eval_last == 1:
        evals = [dict(iter=args.iters, **runner.val_loop.run())]
    else:
        evals = history.history[-args.eval_last:]
        if len(evals) != args.eval_last:
            raise RuntimeError(f'expected {args.eval_last} evaluations, got '
                               f'{[e["iter"] for e in history.history]}')
    miou = statistics.fmean(float(e['mIoU']) for e in evals)
    result = dict(
        variant=variant,
        seed=seed,
        mIoU=miou,
        mIoU_evals={int(e['iter']): float(e['mIoU'])
                    for e in evals},
        aAcc=float(evals[-1].get('aAcc', float('nan'))),
        train_s=train_s,
        total_s=time.time() - started,
        log_dir=runner.log_dir)
    head = runner.model.decode_head
    losses = head.loss_decode if isinstance(
        head.loss_decode, torch.nn.ModuleList) else [head.loss_decode]
    empty = [
        getattr(m, 'run_stats', {}).get('num_empty_batches') for m in losses
    ]
    if any(e is not None for e in empty):
        result['empty_batches'] = sum(e or 0 for e in empty)
    logger.info(f'{variant} seed {seed}: mIoU {miou:.2f} '
                f'(evaluations {result["mIoU_evals"]}) '
                f'(train {train_s:.0f} s, total {result["total_s"]:.0f} s, '
                f'logs {runner.log_dir})')
    del runner
    gc.collect()
    return result


# --------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------- #
def summarize(runs: List[dict], variants: List[str]) -> Dict[str, dict]:
    summary = {}
    for variant in variants:
        values = [r['mIoU'] for r in runs if r['variant'] == variant]
        if not values:
            continue
        summary[variant] = dict(
            n=len(values),
            mean=statistics.fmean(values),
            std=statistics.stdev(values) if len(values) > 1 else 0.0,
            min=min(values),
            max=max(values),
            values=values)
    p2, clean = summary.get('P2'), summary.get('clean')
    for row in summary.values():
        row['gap'] = None
        if p2 and clean and clean['mean'] - p2['mean'] > 0:
            row['gap'] = (row['mean'] - p2['mean']) / (
                clean['mean'] - p2['mean'])
    return summary


def paired_delta(runs: List[dict], a: str, b: str) -> Optional[dict]:
    """Per-seed ``b - a`` (same seed: same data order and backbone init)."""
    by = {(r['variant'], r['seed']): r['mIoU'] for r in runs}
    seeds = sorted({r['seed'] for r in runs})
    deltas = [
        by[(b, s)] - by[(a, s)] for s in seeds if (a, s) in by and (b, s) in by
    ]
    if not deltas:
        return None
    return dict(
        mean=statistics.fmean(deltas),
        std=statistics.stdev(deltas) if len(deltas) > 1 else 0.0,
        values=deltas)


def format_report(args, data: dict, runs: List[dict], summary: Dict[str, dict],
                  wall_s: float) -> str:
    lines = []
    meta = data['meta']
    mixture = ', '.join(f'{k} {v:.2f}'
                        for k, v in meta['proxy_noise_mixture'].items())
    lines.append('## SAL selection benchmark\n')
    lines.append(
        f'date {time.strftime("%Y-%m-%d %H:%M %Z")}; {platform.node()}, '
        f'{os.cpu_count()} CPU cores, torch {torch.__version__} '
        f'({torch.get_num_threads()} threads)')
    lines.append(
        f'data: {meta["num_images"]} generated images '
        f'{args.img_size}x{args.img_size} ({meta["num_train"]} train, '
        f'{meta["num_val"]} val), classes {meta["classes"]} '
        f'{meta.get("class_appearance")}, data seed '
        f'{args.data_seed}; proxy noise mixture {mixture}; train proxy '
        f'mIoU {meta["proxy_miou"]["train"]:.3f}, severity counts '
        f'{meta["severity_counts"]["train"]}')
    eval_iters = [
        args.iters - k * args.eval_interval
        for k in range(args.eval_last - 1, -1, -1)
    ]
    lines.append(
        f'schedule: R-18 (GN) d8 (base width {args.backbone_width}), '
        f'64-ch ASPP, batch {args.batch_size}, '
        f'{args.iters} iterations, SGD lr {args.lr} poly, ' +
        (f'backbone pretrained {args.pretrain_iters} iterations on the '
         f'ground truth of data seed {args.pretrain_data_seed}; '
         if args.pretrain_iters else 'from scratch; ') +
        f'seeds {args.seeds}; mIoU (%) of mmseg IoUMetric on the '
        f'{meta["num_val"]} val ground-truth masks' +
        (f', mean of the evaluations at iterations {eval_iters}'
         if args.eval_last > 1 else ''))
    lines.append('\nWhat each selection keeps (train split; true quality = '
                 f'proxy {args.oracle_metric} vs ground truth, mean over all '
                 f'proxies {data["all_mean_true_quality"]:.3f}):\n')
    lines.append('| score | tau | kept | kept per tier (clean, mild, '
                 'moderate, severe) | mean true quality kept | Pearson / '
                 'Spearman vs true quality |')
    lines.append('| --- | --- | --- | --- | --- | --- |')
    for name, s in data['selection'].items():
        tiers = ', '.join(s['per_tier'].values())
        lines.append(
            f'| {name} | {s["tau"]} | {s["kept"]}/{s["total"]} | {tiers} | '
            f'{s["kept_mean_true_quality"]:.3f} | {s["pearson"]:.3f} / '
            f'{s["spearman"]:.3f} |')
    lines.append('\n| variant | mIoU mean | std | min-max | per seed | '
                 'gap recovered |')
    lines.append('| --- | --- | --- | --- | --- | --- |')
    for variant, s in summary.items():
        gap = '' if s['gap'] is None else f'{s["gap"]:+.2f}'
        if variant in ('P2', 'clean'):
            gap = f'({gap})' if gap else ''
        per_seed = ', '.join(f'{v:.2f}' for v in s['values'])
        lines.append(f'| {variant} | {s["mean"]:.2f} | {s["std"]:.2f} | '
                     f'{s["min"]:.2f}-{s["max"]:.2f} | {per_seed} | {gap} |')
    lines.append('')
    for sel in ('P4-oracle', 'P4-oracle-soft', 'P4'):
        s = summary.get(sel)
        if s and s['gap'] is not None:
            verdict = 'met' if s['gap'] >= 0.5 else 'NOT met'
            lines.append(f'target "{sel} recovers >= half of the P2-clean '
                         f'gap": {s["gap"]:.2f} -> {verdict}')
    for a, b in (('P4-oracle', 'P5-oracle'),
                 ('P4-oracle', 'P5-oracle-no-eq11'), ('P4', 'P5')):
        d = paired_delta(runs, a, b)
        if d is None:
            continue
        se = d['std'] / max(1, len(d['values']))**0.5
        hurt = d['mean'] < 0 and abs(d['mean']) > 2 * se
        verdict = ('NOT met (lower by more than 2 standard errors)' if hurt
                   else 'met (not lower by more than 2 standard errors)')
        lines.append(
            f'target "attention loss does not hurt" ({b} - {a}, paired by '
            f'seed): {d["mean"]:+.2f} +- {d["std"]:.2f} (std; per seed '
            f'{", ".join(f"{v:+.2f}" for v in d["values"])}) -> '
            f'{verdict}')
    empty = [r for r in runs if r.get('empty_batches')]
    if empty:
        lines.append('batches with no selected image (zero loss): ' +
                     ', '.join(f'{r["variant"]} s{r["seed"]} '
                               f'{r["empty_batches"]}' for r in empty))
    mean_run = statistics.fmean(r['total_s'] for r in runs)
    lines.append(f'\n{len(runs)} runs, {mean_run:.0f} s per run on average; '
                 f'wall time {wall_s / 60:.1f} min')
    return '\n'.join(lines)


def plot(summary: Dict[str, dict], path: str, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = list(summary)
    means = [summary[n]['mean'] for n in names]
    stds = [summary[n]['std'] for n in names]
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 4))
    colors = [
        '#999999' if n == 'P2' else '#4c9a2a'
        if n == 'clean' else '#3b6ea8' if n.startswith('P3') else '#d9822b'
        for n in names
    ]
    ax.bar(names, means, yerr=stds, capsize=4, color=colors, alpha=0.85)
    for x, n in enumerate(names):
        vals = summary[n]['values']
        ax.scatter([x] * len(vals), vals, color='black', s=12, zorder=3)
    lo = min(summary[n]['min'] for n in names)
    hi = max(summary[n]['max'] for n in names)
    ax.set_ylim(max(0.0, lo - 0.15 * (hi - lo + 1)), hi + 0.1 * (hi - lo + 1))
    ax.set_ylabel('val mIoU (%)')
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# Arguments that do not change what a run computes.
_RUN_INDEPENDENT_ARGS = ('seeds', 'variants', 'threads', 'num_workers',
                         'reuse_runs', 'reuse_from', 'work_dir')


def reusable_runs(args, logger: MMLogger) -> List[dict]:
    """Runs recorded in ``results.json`` of the work dir and of
    ``--reuse-from`` dirs whose settings equal these; the first dir that
    has a (variant, seed) pair wins."""
    current = json.loads(json.dumps(vars(args), default=str))
    runs, seen = [], set()
    for work_dir in [args.work_dir] + list(args.reuse_from):
        path = osp.join(work_dir, 'results.json')
        if not osp.isfile(path):
            if work_dir != args.work_dir:
                raise FileNotFoundError(
                    f'--reuse-from {work_dir}: no results.json there')
            continue
        with open(path) as f:
            earlier = json.load(f)
        differ = sorted(
            k for k in set(current) | set(earlier['args'])
            if k not in _RUN_INDEPENDENT_ARGS
            and current.get(k) != earlier['args'].get(k))
        if differ:
            logger.info(f'not reusing the runs of {path}: settings differ '
                        f'in {differ}')
            continue
        found = [
            r for r in earlier['runs']
            if r['variant'] in args.variants and r['seed'] in args.seeds
            and (r['variant'], r['seed']) not in seen
        ]
        seen.update((r['variant'], r['seed']) for r in found)
        runs.extend(found)
        logger.info(f'reusing {len(found)} runs of {path}: ' +
                    ', '.join(f'{r["variant"]} s{r["seed"]}' for r in found))
    return runs


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.work_dir, exist_ok=True)
    started = time.time()
    logger = MMLogger.get_instance(
        LOGGER_NAME,
        log_file=osp.join(args.work_dir, 'benchmark.log'),
        log_level='INFO')
    logger.info(f'arguments: {vars(args)}')
    data = prepare_data(args, logger)
    logger.info(f'selection: {json.dumps(data["selection"])}')
    runs = reusable_runs(
        args, logger) if args.reuse_runs or args.reuse_from else []
    done = {(r['variant'], r['seed']) for r in runs}
    todo = [(variant, seed) for seed in args.seeds
            for variant in args.variants if (variant, seed) not in done]
    if todo and args.pretrain_iters:
        data['pretrained_backbone'] = pretrain_backbone(args, logger)
    runs_path = osp.join(args.work_dir, 'runs.json')
    for variant, seed in todo:
        runs.append(run_one(variant, seed, args, data, logger))
        with open(runs_path, 'w') as f:
            json.dump(runs, f, indent=1)
    order = {v: i for i, v in enumerate(args.variants)}
    runs.sort(key=lambda r: (r['seed'], order[r['variant']]))
    summary = summarize(runs, args.variants)
    report = format_report(args, data, runs, summary, time.time() - started)
    chart = osp.join(args.work_dir, 'results.png')
    plot(
        summary, chart,
        f'SAL selection, {args.img_size}px, {args.iters} it' +
        (', pretrained backbone' if args.pretrain_iters else '') + ', seeds '
        f'{args.seeds} (bars: mean +- std; dots: seeds)')
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(report + f'\n\nchart: {chart}\n')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(
            dict(
                args={
                    k: v
                    for k, v in vars(args).items()
                },
                selection=data['selection'],
                summary=summary,
                runs=runs),
            f,
            indent=1,
            default=str)
    print_log(
        '\n' + report + f'\n\nchart: {chart}',
        logger=LOGGER_NAME,
        level=logging.INFO)


if __name__ == '__main__':
    main()
