# Copyright (c) mmattn contributors. All rights reserved.
"""SAL-Net end to end on a user's folder: proxy masks in, a retrained
segmenter and a report out (what ``tools/sal_pipeline.py`` runs).

Stages, each in its own folder under ``--work-dir`` and skipped while up to
date (:mod:`.stages`):

1. ``check``: every input, before any compute (sizes, label ranges, tags,
   ids, reference masks, ground truth, the configs, a given scorer
   checkpoint against its config);
2. ``coarse_scores``: ``AC``, ``CD``, ``SC`` of every training proxy
   (Eq. 3-5; :func:`score_folder`, as ``tools/score_masks.py``);
3. ``scoring_set``: the scorer's training set synthesised from these
   training images' own proxies (Sec. III-B.2, Fig. 5);
4. ``scorer``: ``MaskScoringNet`` trained by mmengine's Runner from the
   scorer config (as ``tools/train.py``);
5. ``fine_scores``: ``P`` and ``SF = P * CD`` (Eq. 7) with the trained
   scorer, loaded strictly;
6. ``tau``: the selection threshold by the stated rule (:mod:`.tau_rules`);
7. ``sal``: SAL-Net retrained from the SAL config with the score file and
   ``tau`` set by config overrides (as ``tools/train.py``);
8. ``eval``: mIoU on the val split (mmseg's ``IoUMetric`` through the
   Runner's test loop, as ``tools/test.py``);
9. ``report``: ``report.md``/``report.json``, the score histogram with
   ``tau`` and a picture of kept and dropped proxies.

With ``--score-key SC`` stages 3-5 are not needed (selection on the coarse
score); with ``--scorer-checkpoint`` stages 3-4 are not needed.
"""
import argparse
import copy
import glob
import json
import os
import os.path as osp
import time
from typing import Any, Callable, Dict, Optional

import numpy as np
from mmengine.config import Config, DictAction

from mmattn.segmentation.mask_scoring.folder_scoring import (
    build_strict_scorer, score_folder)
from mmattn.segmentation.mask_scoring.synthesis import (
    SynthesisConfig, synthesize_scoring_set)
from mmattn.segmentation.score_file import load_mask_scores
from mmattn.segmentation.tag_file import read_tags
from .inputs import (WEAK_DATASETS, PipelineInputError, check_inputs,
                     input_fingerprints, resolve_inputs)
from .report import (markdown_report, pick_examples, plot_examples,
                     plot_score_histogram, val_correlation)
from .stages import StageRunner, claim_work_dir, settings_digest
from .tau_rules import (TAU_RULES, describe_rule, keep_fraction_tau,
                        mixture_tau, val_proxy_tau)

__all__ = [
    'STAGES', 'PipelineError', 'build_parser', 'parse_args', 'run_pipeline',
    'default_config', 'DEFAULT_SCORER_CONFIG', 'DEFAULT_SAL_CONFIG'
]

STAGES = ('check', 'coarse_scores', 'scoring_set', 'scorer', 'fine_scores',
          'tau', 'sal', 'eval', 'report')

DEFAULT_SCORER_CONFIG = \
    'configs/mask_scoring/mask-scorer-tiny_1xb16-20e_synthetic-48x48.py'
DEFAULT_SAL_CONFIG = 'configs/sal/salnet_r18_tiny_synthetic.py'

_PACKAGE_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: ``train_fn(config, work_dir, resume, experiment_name)``.
TrainFn = Callable[[str, str, bool, str], None]
#: ``test_fn(config, checkpoint, work_dir, experiment_name) -> metrics``.
TestFn = Callable[[str, str, str, str], Dict[str, float]]


class _StoppedAfter(Exception):
    """Raised after the ``--stop-after`` stage (caught in ``run``)."""

    def __init__(self, stage: str) -> None:
        super().__init__(stage)
        self.stage = stage


class PipelineError(RuntimeError):
    """A stage cannot produce a usable result (the message says why and
    what to change)."""


def default_config(relative: str) -> str:
    """A shipped config: in the source checkout, or in the installed
    package's ``.mim`` folder; the relative path itself when neither has
    it (then resolved against the current folder)."""
    for root in (osp.dirname(_PACKAGE_ROOT), osp.join(_PACKAGE_ROOT,
                                                       '.mim')):
        path = osp.join(root, relative)
        if osp.isfile(path):
            return path
    return relative


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description='SAL-Net end to end: score the proxy masks (coarse, '
        'then with a scorer trained on this data), choose tau, retrain the '
        'segmenter, evaluate and report. Every output goes under '
        '--work-dir; stages that are up to date are skipped.')
    p.add_argument('data_root', help='the folder (VOC layout, see '
                   'docs/sal_walkthrough.md)')
    p.add_argument('--work-dir', required=True,
                   help='new or empty folder, or one this tool wrote')
    data = p.add_argument_group('folder layout (relative to data_root)')
    data.add_argument('--img-dir', default='JPEGImages')
    data.add_argument('--img-suffix', default='.jpg')
    data.add_argument('--proxy-dir', default='SegmentationClassProxy')
    data.add_argument('--ref-dir', default='SaliencyRef',
                      help='reference (saliency) masks, grey 0..255')
    data.add_argument('--gt-dir', default='SegmentationClass',
                      help='ground truth of the val split')
    data.add_argument('--tag-file', default='cls_labels.npy')
    data.add_argument('--train-split',
                      default='ImageSets/Segmentation/train.txt')
    data.add_argument('--val-split', default='ImageSets/Segmentation/val.txt',
                      help='val ids (optional: no file, no evaluation)')
    data.add_argument('--num-classes', type=int, default=None,
                      help='classes including the background (default: '
                      "the SAL config's decode_head.num_classes)")
    data.add_argument('--ignore-index', type=int, default=255)
    scoring = p.add_argument_group('scoring')
    scoring.add_argument('--score-key', choices=('SF', 'SC'), default='SF',
                         help='select on the fine score SF (trains a '
                         'scorer) or the coarse SC (no scorer)')
    scoring.add_argument('--b', type=float, default=0.1,
                         help='objectness weight of Eq. 3')
    scoring.add_argument('--ref-threshold', type=int, default=128)
    scoring.add_argument('--scorer-config', default=None,
                         help=f'default: {DEFAULT_SCORER_CONFIG}')
    scoring.add_argument('--scorer-checkpoint', default=None,
                         help='a trained scorer of --scorer-config (skips '
                         'synthesis and scorer training; must load '
                         'strictly)')
    scoring.add_argument('--scorer-cfg-options', nargs='+',
                         action=DictAction, default=None,
                         help='overrides of the scorer config, e.g. '
                         'train_cfg.max_epochs=5')
    scoring.add_argument('--synthesis-options', nargs='+',
                         action=DictAction, default=None,
                         help='SynthesisConfig arguments of the scorer\'s '
                         'training set, e.g. intermediate_ratio=3 '
                         'ops="[erode,erase,dilate]"')
    scoring.add_argument('--scoring-val-fraction', type=float, default=0.2,
                         help="share of source images held out for the "
                         "scorer's validation (best checkpoint by Pearson)")
    scoring.add_argument('--device', default=None,
                         help='scorer inference device (default: cuda if '
                         'available)')
    tau = p.add_argument_group('tau (Eq. 9)')
    tau.add_argument('--tau-rule', choices=TAU_RULES,
                     default='keep-fraction')
    tau.add_argument('--keep-fraction', type=float, default=0.5)
    tau.add_argument('--tau', type=float, default=None,
                     help='with --tau-rule fixed')
    tau.add_argument('--good-quality', type=float, default=0.8,
                     help='val-proxy: a val proxy is good when its '
                     'class-aware AC against the ground truth is >= this')
    sal = p.add_argument_group('retraining')
    sal.add_argument('--sal-config', default=None,
                     help=f'default: {DEFAULT_SAL_CONFIG}')
    sal.add_argument('--sal-cfg-options', nargs='+', action=DictAction,
                     default=None,
                     help='overrides of the SAL config (applied after the '
                     "pipeline's), e.g. train_cfg.max_iters=2000")
    run = p.add_argument_group('run')
    run.add_argument('--seed', type=int, default=0)
    run.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                            'mpi'],
                     default='none', help='as tools/train.py')
    run.add_argument('--local_rank', '--local-rank', type=int, default=0)
    run.add_argument('--examples', type=int, default=4,
                     help='kept and dropped proxies drawn in the report')
    run.add_argument('--no-progress', action='store_true')
    run.add_argument('--stop-after', choices=STAGES, default=None,
                     help='stop once this stage is done (e.g. fine_scores '
                     'to score the proxies only, tau to see the selection '
                     'before retraining); a later run without it resumes')
    return p


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.tau_rule == 'fixed':
        if args.tau is None or not 0 <= args.tau <= 1:
            parser.error('--tau-rule fixed needs --tau in [0, 1]')
    elif args.tau is not None:
        parser.error('--tau goes with --tau-rule fixed')
    if not 0 < args.keep_fraction <= 1:
        parser.error(f'--keep-fraction must be in (0, 1], got '
                     f'{args.keep_fraction}')
    if not 0 <= args.scoring_val_fraction < 1:
        parser.error('--scoring-val-fraction must be in [0, 1)')
    if args.scorer_checkpoint and args.score_key == 'SC':
        parser.error('--scorer-checkpoint gives fine scores: use it with '
                     '--score-key SF')
    if args.scorer_checkpoint and args.scorer_config is None:
        parser.error('--scorer-checkpoint needs the --scorer-config it was '
                     'trained with')
    if args.examples < 1:
        parser.error('--examples must be >= 1')
    if args.synthesis_options:
        import inspect
        allowed = set(inspect.signature(SynthesisConfig).parameters) - {
            'val_fraction', 'b'}
        unknown = sorted(set(args.synthesis_options) - allowed)
        if unknown:
            parser.error(f'--synthesis-options: unknown {unknown}; '
                         f'SynthesisConfig takes {sorted(allowed)} (b and '
                         'val_fraction have their own flags)')
        try:
            # class_aware comes from the scorer config (checked later).
            SynthesisConfig(**dict(dict(class_aware=True),
                                   **args.synthesis_options))
        except (TypeError, ValueError) as err:
            parser.error(f'--synthesis-options: {err}')
    args.scorer_config = args.scorer_config or default_config(
        DEFAULT_SCORER_CONFIG)
    args.sal_config = args.sal_config or default_config(DEFAULT_SAL_CONFIG)
    if args.device is None:
        import torch
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _load_config(path: str, what: str) -> Config:
    if not osp.isfile(path):
        raise PipelineInputError(f'{what} not found: {path}')
    return Config.fromfile(path)


def _scorer_classes(cfg: Config, options: Optional[dict]) -> Optional[int]:
    """``num_classes`` of a class-aware scorer config (its data
    preprocessor's), ``None`` for the paper's binary scorer."""
    cfg = copy.deepcopy(cfg)
    if options:
        cfg.merge_from_dict(options)
    preprocessor = cfg.get('model', {}).get('data_preprocessor') or {}
    return preprocessor.get('num_classes')


def _config_digest(cfg: Config) -> str:
    return settings_digest(cfg.to_dict())


class _Pipeline:
    """The stages, with what they share (see the module docstring)."""

    def __init__(self, args, train_fn: TrainFn, test_fn: TestFn,
                 log: Callable[[str], None], rank: int,
                 sync: Callable[[Any], Any]) -> None:
        self.args = args
        self.train_fn = train_fn
        self.test_fn = test_fn
        self.log = log
        self.rank = rank
        self.sync = sync
        self.work_dir = osp.abspath(args.work_dir)
        self.sal_cfg = _load_config(args.sal_config, 'SAL config')
        self.scorer_cfg = _load_config(args.scorer_config, 'scorer config')
        head = self.sal_cfg.get('model', {}).get('decode_head', {})
        self.num_classes = args.num_classes or head.get('num_classes')
        if not isinstance(self.num_classes, int) or self.num_classes < 2:
            raise PipelineInputError(
                f'--num-classes not given and {args.sal_config} has no '
                'model.decode_head.num_classes')
        self.scorer_classes = _scorer_classes(self.scorer_cfg,
                                              args.scorer_cfg_options)
        self.need_val_proxies = args.tau_rule == 'val-proxy'
        self.inputs = resolve_inputs(
            args.data_root, img_dir=args.img_dir, proxy_dir=args.proxy_dir,
            ref_dir=args.ref_dir, gt_dir=args.gt_dir, tag_file=args.tag_file,
            train_split=args.train_split, val_split=args.val_split,
            img_suffix=args.img_suffix)
        self.fingerprints = input_fingerprints(self.inputs,
                                               self.need_val_proxies)
        self.stages = StageRunner(self.work_dir, STAGES, log, rank, sync)
        self.uses_scorer = args.score_key == 'SF'
        self.trains_scorer = self.uses_scorer and not args.scorer_checkpoint
        self.score_stage = 'fine_scores' if self.uses_scorer \
            else 'coarse_scores'
        # Why the eval stage does not run, or None when it does.
        self.no_eval = None
        if not self.inputs.has_val:
            self.no_eval = 'no val split with ground truth'
        elif self.sal_cfg.get('test_dataloader') is None:
            self.no_eval = (f'{args.sal_config} has no test_dataloader '
                            '(gt_dir = None?)')

    # ----------------------------------------------------------- helpers --
    def _scoring_kwargs(self) -> dict:
        return dict(b=self.args.b, num_classes=self.num_classes,
                    ignore_index=self.args.ignore_index,
                    ref_threshold=self.args.ref_threshold)

    def _experiment_name(self, stage: str) -> str:
        name = None
        if self.rank == 0:
            name = f'{stage}_{time.strftime("%Y%m%d_%H%M%S")}_{os.getpid()}'
        return self.sync(name)

    def _score(self, stage_dir: str, stem: str, split: str,
               scorer: Optional[dict]) -> dict:
        """Score the training (or val) proxies into ``<stem>.json``."""
        inputs = self.inputs
        val = split == 'val'
        out = osp.join(stage_dir, f'{stem}.json')
        summary, results = score_folder(
            inputs.proxy_dir, inputs.ref_dir, out, img_dir=inputs.img_dir,
            ann_file=inputs.val_split if val else inputs.train_split,
            cls_labels=inputs.tag_file, gt_dir=inputs.gt_dir if val else None,
            scorer_config=scorer and scorer['config'],
            scorer_checkpoint=scorer and scorer['checkpoint'],
            device=self.args.device, tau=0.5,
            show_progress=not self.args.no_progress,
            tool='tools/sal_pipeline.py', **self._scoring_kwargs())
        if val:
            with open(osp.join(stage_dir, f'{stem}_results.json'), 'w') as f:
                json.dump(results, f, indent=1, sort_keys=True)
        return summary

    # ------------------------------------------------------------ stages --
    def stage_check(self, stage_dir: str, resume: bool) -> dict:
        args, inputs = self.args, self.inputs
        warnings = check_inputs(inputs, self.num_classes, args.ignore_index,
                                self.need_val_proxies)
        for line in warnings:
            self.log(f'[sal_pipeline] WARNING {line}')
        self._check_sal_config()
        if self.uses_scorer:
            from mmattn.segmentation.mask_scoring.scoring import MaskScorer
            if args.scorer_checkpoint:
                # Refuses another config's checkpoint, naming the keys.
                build_strict_scorer(
                    args.scorer_config, args.scorer_checkpoint,
                    advice='Pass the --scorer-config the checkpoint was '
                    'trained with')
            else:
                MaskScorer(args.scorer_config)  # builds a MaskScoringNet
            if self.scorer_classes not in (None, self.num_classes):
                raise PipelineInputError(
                    f'{args.scorer_config} is a class-aware scorer for '
                    f'{self.scorer_classes} classes (model.data_preprocessor.'
                    f'num_classes) but the proxy masks have '
                    f'{self.num_classes}: set num_classes = '
                    f'{self.num_classes} in the scorer config')
            try:
                self._synthesis_config()
            except ValueError as err:
                raise PipelineInputError(
                    f'--synthesis-options with {args.scorer_config}: {err}')
            explicit = (args.synthesis_options or {}).get('class_aware')
            if explicit is not None and \
                    bool(explicit) != (self.scorer_classes is not None):
                raise PipelineInputError(
                    f'--synthesis-options class_aware={explicit} does not fit '
                    f'{args.scorer_config}, a '
                    + ('class-aware' if self.scorer_classes else 'binary') +
                    ' scorer; leave class_aware out: the scorer config '
                    'decides it')
        report = dict(
            num_train=len(inputs.train_ids), num_val=len(inputs.val_ids),
            evaluates=self.no_eval is None, num_classes=self.num_classes,
            warnings=warnings, fingerprints=self.fingerprints)
        with open(osp.join(stage_dir, 'inputs.json'), 'w') as f:
            json.dump(report, f, indent=1, sort_keys=True)
        return dict(outputs=['inputs.json'], **report)

    def _check_sal_config(self) -> None:
        cfg, path = self.sal_cfg, self.args.sal_config
        dataset = cfg.get('train_dataloader', {}).get('dataset', {})
        if dataset.get('type') not in WEAK_DATASETS:
            raise PipelineInputError(
                f'{path}: train_dataloader.dataset.type is '
                f'{dataset.get("type")!r}; the pipeline retrains configs '
                f'whose training set is one of {WEAK_DATASETS} (they read '
                'the score file), e.g. configs/sal/*.py')
        loss = cfg.model.get('decode_head', {}).get('loss_decode')
        if not isinstance(loss, dict) or loss.get('type') != 'SelectionLoss':
            raise PipelineInputError(
                f'{path}: model.decode_head.loss_decode must be a '
                f'SelectionLoss (the selection of Eq. 9), got {loss!r:.120}')
        head_classes = cfg.model.decode_head.get('num_classes')
        if head_classes != self.num_classes:
            raise PipelineInputError(
                f'--num-classes {self.num_classes} differs from {path}: '
                f'model.decode_head.num_classes = {head_classes}')

    def stage_coarse(self, stage_dir: str, resume: bool) -> dict:
        summary = self._score(stage_dir, 'mask_scores_coarse', 'train', None)
        outputs = ['mask_scores_coarse.json']
        if self.need_val_proxies and not self.uses_scorer:
            self._score(stage_dir, 'val_scores_coarse', 'val', None)
            outputs.append('val_scores_coarse_results.json')
        return dict(outputs=outputs, score_file='mask_scores_coarse.json',
                    mean=summary['mean'])

    def _synthesis_config(self) -> SynthesisConfig:
        """The scorer's training-set synthesis: ``--synthesis-options``,
        class-aware exactly when the scorer config is."""
        options = dict(self.args.synthesis_options or {})
        options['class_aware'] = self.scorer_classes is not None
        return SynthesisConfig(
            val_fraction=self.args.scoring_val_fraction, b=self.args.b,
            **options)

    def stage_scoring_set(self, stage_dir: str, resume: bool) -> dict:
        inputs = self.inputs
        cfg = self._synthesis_config()
        summary = synthesize_scoring_set(
            stage_dir, inputs.proxy_dir, inputs.ref_dir, inputs.img_dir,
            image_ids=inputs.train_ids, cfg=cfg, seed=self.args.seed,
            num_classes=self.num_classes,
            ignore_index=self.args.ignore_index,
            ref_threshold=self.args.ref_threshold,
            show_progress=not self.args.no_progress)
        if summary['num_positive_sources'] == 0:
            raise PipelineError(
                f'no training proxy reaches AC >= {cfg.positive_thr} against '
                f'its reference mask ({inputs.ref_dir}), so the scorer would '
                'have no positive sample to learn from. Check the reference '
                'masks, or select on the coarse score: --score-key SC')
        if summary['num_train'] == 0:
            raise PipelineError(
                f'the synthesised scorer training set is empty (every source '
                f'image was held out: --scoring-val-fraction '
                f'{self.args.scoring_val_fraction})')
        self.log(
            f'[sal_pipeline] scorer training set: {summary["num_train"]} '
            f'train / {summary["num_val"]} val samples from '
            f'{summary["num_sources"]} images '
            f'({summary["num_positive_sources"]} positive sources)')
        keep = {k: v for k, v in summary.items() if k != 'source_scores'}
        return dict(outputs=['train.json', 'val.json', 'summary.json'],
                    summary=keep)

    def _scorer_config(self, scoring_dir: str, has_val: bool) -> Config:
        cfg = Config.fromfile(self.args.scorer_config)
        options = {'randomness.seed': self.args.seed}
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader'):
            if cfg.get(loader) is not None:
                ann = 'train.json' if loader == 'train_dataloader' \
                    else 'val.json'
                options[f'{loader}.dataset.data_root'] = scoring_dir
                options[f'{loader}.dataset.ann_file'] = ann
        cfg.merge_from_dict(options)
        if not has_val:
            # mmengine wants loader, loop and evaluator all set or all None.
            for key in ('val_dataloader', 'val_cfg', 'val_evaluator',
                        'test_dataloader', 'test_cfg', 'test_evaluator'):
                cfg[key] = None
            checkpoint = cfg.get('default_hooks', {}).get('checkpoint')
            if checkpoint is not None:
                checkpoint['save_best'] = None
        if self.args.scorer_cfg_options:
            cfg.merge_from_dict(self.args.scorer_cfg_options)
        return cfg

    def stage_scorer(self, stage_dir: str, resume: bool) -> dict:
        scoring = self.stages.results['scoring_set']['summary']
        has_val = scoring['num_val'] > 0
        config_path = osp.join(stage_dir, 'scorer_config.py')
        if self.rank == 0:
            self._scorer_config(
                self.stages.stage_dir('scoring_set'), has_val).dump(
                    config_path)
        self.sync(None)
        # The Runner's own work dir: it writes its copy of the config
        # there (with its resume settings), never over ours.
        train_dir = osp.join(stage_dir, 'train')
        self.train_fn(config_path, train_dir, resume,
                      self._experiment_name('scorer'))
        checkpoint = None
        if self.rank == 0:
            best = sorted(glob.glob(osp.join(train_dir, 'best_*.pth')))
            if len(best) == 1:
                checkpoint, chosen = best[0], 'best validation Pearson'
            else:
                checkpoint, chosen = _last_checkpoint(train_dir), 'last'
            self.log(f'[sal_pipeline] scorer checkpoint ({chosen}): '
                     f'{checkpoint}')
        checkpoint = self.sync(checkpoint)
        rel = osp.relpath(checkpoint, stage_dir)
        # Paths relative to the stage folder: the work dir may move.
        return dict(outputs=['scorer_config.py', rel],
                    config='scorer_config.py', checkpoint=rel,
                    validated=has_val)

    def _scorer(self) -> dict:
        if self.args.scorer_checkpoint:
            return dict(config=osp.abspath(self.args.scorer_config),
                        checkpoint=osp.abspath(self.args.scorer_checkpoint))
        result = self.stages.results['scorer']
        return dict(config=self._path('scorer', result['config']),
                    checkpoint=self._path('scorer', result['checkpoint']))

    def _path(self, stage: str, relative: str) -> str:
        """A stage's output, from its path relative to the stage folder."""
        return osp.join(self.stages.stage_dir(stage), relative)

    def stage_fine(self, stage_dir: str, resume: bool) -> dict:
        scorer = self._scorer()
        summary = self._score(stage_dir, 'mask_scores', 'train', scorer)
        outputs = ['mask_scores.json']
        if self.need_val_proxies:
            self._score(stage_dir, 'val_scores', 'val', scorer)
            outputs.append('val_scores_results.json')
        return dict(outputs=outputs, score_file='mask_scores.json',
                    mean=summary['mean'])

    def _score_file(self) -> str:
        result = self.stages.results[self.score_stage]
        return osp.join(self.stages.stage_dir(self.score_stage),
                        result['score_file'])

    def _val_results(self) -> dict:
        stem = 'val_scores' if self.uses_scorer else 'val_scores_coarse'
        with open(osp.join(self.stages.stage_dir(self.score_stage),
                           f'{stem}_results.json')) as f:
            return json.load(f)

    def _tau_details(self, values) -> dict:
        """The rule's ``tau`` and what it computed on the way."""
        args = self.args
        if args.tau_rule == 'fixed':
            return dict(tau=float(args.tau))
        if args.tau_rule == 'keep-fraction':
            return keep_fraction_tau(values, args.keep_fraction)
        if args.tau_rule == 'mixture':
            return mixture_tau(values)
        val = self._val_results()
        ids = sorted(val)
        return val_proxy_tau([val[i][args.score_key] for i in ids],
                             [val[i]['AC_gt_cls'] for i in ids],
                             args.good_quality)

    def stage_tau(self, stage_dir: str, resume: bool) -> dict:
        args, key = self.args, self.args.score_key
        scores = {
            i: s[key]
            for i, s in load_mask_scores(self._score_file()).items()
        }
        values = list(scores.values())
        try:
            details = self._tau_details(values)
        except ValueError as err:
            raise PipelineError(f'--tau-rule {args.tau_rule}: {err}') from err
        tau = details['tau']
        kept = sorted(i for i, s in scores.items() if s >= tau)
        if not kept:
            raise PipelineError(
                f'tau = {tau:.4f} ({args.tau_rule}) keeps none of the '
                f'{len(scores)} training images (highest {key} '
                f'{max(values):.4f}); every batch would give a zero loss')
        tags = read_tags(self.inputs.tag_file)
        present = set()
        covered = set()
        for image_id in scores:
            classes = set((np.flatnonzero(tags[image_id]) + 1).tolist())
            present |= classes
            if image_id in kept:
                covered |= classes
        uncovered = sorted(present - covered)
        if uncovered:
            self.log(f'[sal_pipeline] WARNING tau = {tau:.4f} keeps no image '
                     f'tagged with class(es) {uncovered}: they are never '
                     'trained on')
        params = dict(tau=args.tau, keep_fraction=args.keep_fraction,
                      good_quality=args.good_quality)
        result = dict(
            rule=args.tau_rule, rule_text=describe_rule(args.tau_rule,
                                                        params),
            tau=float(tau), score_key=key, num_images=len(scores),
            kept=len(kept), kept_fraction=len(kept) / len(scores),
            classes_without_kept_image=uncovered, details=details)
        with open(osp.join(stage_dir, 'tau.json'), 'w') as f:
            json.dump(result, f, indent=1, sort_keys=True)
        self.log(f'[sal_pipeline] tau = {tau:.4f} ({args.tau_rule}): keeps '
                 f'{len(kept)}/{len(scores)} training images')
        return dict(outputs=['tau.json'], **result)

    def _sal_config(self, tau: dict) -> Config:
        args, inputs = self.args, self.inputs
        cfg = Config.fromfile(args.sal_config)
        key = args.score_key
        options = {
            'randomness.seed': args.seed,
            'model.decode_head.loss_decode.score_key': key,
            'model.decode_head.loss_decode.tau': tau['tau'],
            'model.decode_head.loss_decode.weighting': 'hard',
            'train_dataloader.dataset.data_root': inputs.data_root,
            'train_dataloader.dataset.ann_file': inputs.train_split,
            'train_dataloader.dataset.img_suffix': inputs.img_suffix,
            'train_dataloader.dataset.data_prefix.img_path': inputs.img_dir,
            'train_dataloader.dataset.data_prefix.seg_map_path':
            inputs.proxy_dir,
            'train_dataloader.dataset.tag_file': inputs.tag_file,
            'train_dataloader.dataset.score_file': self._score_file(),
            'train_dataloader.dataset.required_scores': (key, ),
        }
        loaders = ('val_dataloader', 'test_dataloader')
        if inputs.has_val:
            for loader in loaders:
                if cfg.get(loader) is None:
                    continue
                prefix = f'{loader}.dataset'
                options.update({
                    f'{prefix}.data_root': inputs.data_root,
                    f'{prefix}.ann_file': inputs.val_split,
                    f'{prefix}.img_suffix': inputs.img_suffix,
                    f'{prefix}.data_prefix.img_path': inputs.img_dir,
                    f'{prefix}.data_prefix.seg_map_path': inputs.gt_dir,
                })
        cfg.merge_from_dict(options)
        if not inputs.has_val:
            for key in ('val_dataloader', 'val_cfg', 'val_evaluator',
                        'test_dataloader', 'test_cfg', 'test_evaluator'):
                cfg[key] = None
        if args.sal_cfg_options:
            cfg.merge_from_dict(args.sal_cfg_options)
        return cfg

    def stage_sal(self, stage_dir: str, resume: bool) -> dict:
        config_path = osp.join(stage_dir, 'sal_config.py')
        if self.rank == 0:
            self._sal_config(self.stages.results['tau']).dump(config_path)
        self.sync(None)
        train_dir = osp.join(stage_dir, 'train')
        self.train_fn(config_path, train_dir, resume,
                      self._experiment_name('sal'))
        checkpoint = self.sync(
            _last_checkpoint(train_dir) if self.rank == 0 else None)
        rel = osp.relpath(checkpoint, stage_dir)
        return dict(outputs=['sal_config.py', rel], config='sal_config.py',
                    checkpoint=rel)

    def stage_eval(self, stage_dir: str, resume: bool) -> dict:
        sal = self.stages.results['sal']
        metrics = self.test_fn(self._path('sal', sal['config']),
                               self._path('sal', sal['checkpoint']), stage_dir,
                               self._experiment_name('eval'))
        metrics = {k: float(v) for k, v in (metrics or {}).items()}
        if self.rank == 0:
            with open(osp.join(stage_dir, 'metrics.json'), 'w') as f:
                json.dump(metrics, f, indent=1, sort_keys=True)
        return dict(outputs=['metrics.json'], metrics=metrics)

    def stage_report(self, stage_dir: str, resume: bool) -> dict:
        args, inputs = self.args, self.inputs
        tau = self.stages.results['tau']
        key = tau['score_key']
        scores = {
            i: s[key]
            for i, s in load_mask_scores(self._score_file()).items()
        }
        plot_score_histogram(
            osp.join(stage_dir, 'score_histogram.png'), list(scores.values()),
            tau['tau'], key, tau['rule'])
        examples = pick_examples(scores, tau['tau'], args.examples)
        plot_examples(
            osp.join(stage_dir, 'examples.png'), examples, scores, key,
            tau['tau'], inputs.img_dir, inputs.proxy_dir, inputs.img_suffix)
        selection = dict(tau, score_file=self._score_file(), examples=examples)
        selection.pop('outputs', None)
        if args.tau_rule == 'val-proxy':
            selection['val_correlation'] = val_correlation(
                self._val_results(), key)
        scorer = None
        if self.uses_scorer:
            scorer = dict(self._scorer())
            if self.trains_scorer:
                scoring = self.stages.results['scoring_set']['summary']
                scorer.update(
                    training_samples=scoring['num_train'],
                    validation_samples=scoring['num_val'],
                    positive_sources=scoring['num_positive_sources'])
        evaluation = self.stages.results.get('eval', {}).get('metrics')
        files = dict(
            report=osp.join(stage_dir, 'report.md'),
            histogram=osp.join(stage_dir, 'score_histogram.png'),
            examples=osp.join(stage_dir, 'examples.png'),
            score_file=self._score_file())
        if 'sal' in self.stages.results:
            sal = self.stages.results['sal']
            files.update(sal_config=self._path('sal', sal['config']),
                         sal_checkpoint=self._path('sal', sal['checkpoint']))
        summary = dict(
            data_root=inputs.data_root, work_dir=self.work_dir,
            not_evaluated=self.no_eval,
            stages={
                name: self.stages.status.get(name, dict(status='pending'))
                for name in STAGES if name != 'report'
            },
            selection=selection, scorer=scorer, evaluation=evaluation,
            files=files)
        with open(osp.join(stage_dir, 'report.json'), 'w') as f:
            json.dump(summary, f, indent=1, sort_keys=True)
        with open(osp.join(stage_dir, 'report.md'), 'w') as f:
            f.write(markdown_report(summary))
        return dict(outputs=['report.md', 'report.json',
                             'score_histogram.png', 'examples.png'],
                    summary=summary)

    # --------------------------------------------------------------- run --
    def run(self) -> dict:
        try:
            return self._run_stages()
        except _StoppedAfter as stop:
            self.log(f'[sal_pipeline] stopped after {stop.stage} '
                     '(--stop-after); run again without it to continue')
            return dict(stopped_after=stop.stage, work_dir=self.work_dir,
                        stages=dict(self.stages.status),
                        results=dict(self.stages.results))

    def _run_stages(self) -> dict:
        args, inputs, fp = self.args, self.inputs, self.fingerprints
        stop_after = args.stop_after

        def run(name, *stage_args, **kwargs):
            result = self.stages.run(name, *stage_args, **kwargs)
            if name == stop_after:
                raise _StoppedAfter(name)
            return result

        def not_needed(name, reason):
            self.stages.not_needed(name, reason)
            if name == stop_after:
                raise _StoppedAfter(name)
        if self.rank == 0:
            claim_work_dir(self.work_dir, STAGES, 'tools/sal_pipeline.py')
        self.sync(None)
        scoring = dict(self._scoring_kwargs(), data=inputs.data_root,
                       train=fp['train'], tags=fp['tags'],
                       val_proxies=fp['val_proxies'])
        run('check', self.stage_check,
            dict(inputs=fp, num_classes=self.num_classes,
                 need_val_proxies=self.need_val_proxies,
                 sal_config=_config_digest(self.sal_cfg),
                 scorer_config=_config_digest(self.scorer_cfg)
                 if self.uses_scorer else None,
                 scorer_checkpoint=_stat(args.scorer_checkpoint)),
            description=f'{len(inputs.train_ids)} training and '
            f'{len(inputs.val_ids)} val images')
        run('coarse_scores', self.stage_coarse,
            dict(scoring, val_coarse=self.need_val_proxies
                 and not self.uses_scorer),
            description='AC, CD, SC (Eq. 3-5)')
        if self.trains_scorer:
            run('scoring_set', self.stage_scoring_set,
                dict(train=fp['train'], seed=args.seed,
                     synthesis=self._synthesis_config().to_dict(),
                     num_classes=self.num_classes,
                     ref_threshold=args.ref_threshold),
                description="the scorer's training set (Sec. III-B.2)")
            run('scorer', self.stage_scorer,
                dict(config=_config_digest(self.scorer_cfg),
                     options=args.scorer_cfg_options, seed=args.seed),
                upstream=['scoring_set'], all_ranks=True, resumable=True,
                description=f'MaskScoringNet from {args.scorer_config}')
        else:
            reason = ('--score-key SC' if not self.uses_scorer else
                      '--scorer-checkpoint given')
            not_needed('scoring_set', reason)
            not_needed('scorer', reason)
        if self.uses_scorer:
            upstream = ['scorer'] if self.trains_scorer else []
            run('fine_scores', self.stage_fine,
                dict(scoring, checkpoint=_stat(args.scorer_checkpoint),
                     scorer_config=_config_digest(self.scorer_cfg)),
                upstream=upstream, description='P and SF (Eq. 6-7)')
        else:
            not_needed('fine_scores', '--score-key SC')
        run('tau', self.stage_tau,
            dict(rule=args.tau_rule, tau=args.tau,
                 keep_fraction=args.keep_fraction,
                 good_quality=args.good_quality, score_key=args.score_key,
                 tags=fp['tags']),
            upstream=[self.score_stage], description=args.tau_rule)
        run('sal', self.stage_sal,
            dict(config=_config_digest(self.sal_cfg),
                 options=args.sal_cfg_options, seed=args.seed,
                 train=fp['train'], tags=fp['tags'], val=fp['val'],
                 layout=[inputs.img_dir, inputs.proxy_dir, inputs.gt_dir]),
            upstream=['tau', self.score_stage], all_ranks=True,
            resumable=True, description=f'SAL-Net from {args.sal_config}')
        if self.no_eval is None:
            run('eval', self.stage_eval, dict(val=fp['val']),
                upstream=['sal'], all_ranks=True,
                description=f'{len(inputs.val_ids)} val images, IoUMetric')
        else:
            not_needed('eval', self.no_eval)
        upstream = ['tau', self.score_stage] + \
            (['scorer'] if self.trains_scorer else []) + ['sal'] + \
            (['eval'] if self.no_eval is None else [])
        result = run('report', self.stage_report,
                     dict(examples=args.examples), upstream=upstream,
                     description='report.md, histogram, examples')
        if self.rank == 0:
            report = osp.join(self.stages.stage_dir('report'), 'report.md')
            self.log(f'[sal_pipeline] report: {report}')
        return result['summary']


def _stat(path: Optional[str]) -> Optional[list]:
    if not path:
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return [osp.abspath(path), 'missing']
    return [osp.abspath(path), st.st_size, st.st_mtime_ns]


def _last_checkpoint(work_dir: str) -> str:
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise PipelineError(f'{work_dir}: training wrote no checkpoint '
                            '(no last_checkpoint file); check its log')
    with open(pointer) as f:
        path = f.read().strip()
    if not osp.isabs(path):
        path = osp.join(work_dir, path)
    if not osp.isfile(path):
        raise PipelineError(f'{pointer} names {path}, which does not exist')
    return path


def run_pipeline(args: argparse.Namespace,
                 train_fn: TrainFn,
                 test_fn: TestFn,
                 log: Callable[[str], None] = print,
                 rank: int = 0,
                 sync: Optional[Callable[[Any], Any]] = None) -> dict:
    """Run (or resume) the pipeline.

    Args:
        args (argparse.Namespace): From :func:`parse_args`.
        train_fn (TrainFn): Trains a dumped config into a work dir, as
            tools/train.py does (``resume``: continue from the work dir's
            last checkpoint).
        test_fn (TestFn): Tests a config's checkpoint, as tools/test.py
            does, and returns the metrics.
        log (Callable[[str], None]): Prints one progress line.
        rank (int): This process's rank (distributed runs).
        sync (Callable[[Any], Any], optional): Returns rank 0's value on
            every rank (a barrier too). Defaults to the identity.

    Returns:
        dict: The report's summary.

    Raises:
        PipelineInputError: Bad input, before any compute.
        WorkDirError: The work dir holds files the pipeline did not write.
        PipelineError: A stage cannot produce a usable result.
        CheckpointMismatchError: The given scorer checkpoint does not fit
            its config (naming the keys).
    """
    sync = sync or (lambda value: value)
    return _Pipeline(args, train_fn, test_fn, log, rank, sync).run()
