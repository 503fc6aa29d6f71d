# Copyright (c) mmattn contributors. All rights reserved.
"""The main job on generated data: ``make demo``.

1. Checks the install (compiled mmcv ops, registrations, checkpoints).
2. Detection (HAR-Net): trains RetinaNet and HAR-Net with the same schedule
   on generated shapes (``configs/demo/retinanet_r18_demo.py`` and
   ``harnet_r18_demo.py``, the tiny twins on the easy data at 128 px)
   through mmengine's ``Runner.from_cfg`` and compares their COCO AP
   (mmdet's ``CocoMetric``).
3. Segmentation (SAL-Net): scores the noisy proxy masks with the coarse
   scores (AC, CD, SC), then retrains a segmenter on all proxies with plain
   cross entropy and one with SAL's losses (selection on SC + attention
   loss), and compares their val mIoU (mmseg's ``IoUMetric``, ground truth).
4. Draws HAR-Net's spatial attention and SAL's class attention on two val
   images, in-process, as ``tools/visualize_attention.py`` does
   (``mmattn.visualization.render_attention``).

Everything lands in ``--work-dir`` (default ``work_dirs/demo``): one folder
per model with its dumped config (re-runnable with ``tools/train.py``),
log and checkpoint, the score file, the pictures and ``demo_metrics.json``.
The generated data goes to ``--data-dir`` (``demo_det/``, ``demo_seg/``)
and is reused when it was generated with the same arguments. About 10
minutes on 2 CPU cores; ``--quick`` runs a few iterations on a few images
(a smoke test, numbers meaningless).

Usage::

    python tools/demo.py [--quick] [--work-dir work_dirs/demo]
        [--data-dir data] [--skip-det] [--skip-seg] [--threads N]
"""
import argparse
import contextlib
import io
import json
import logging
import os
import os.path as osp
import sys
import time
import warnings

# Deprecation notes of the libraries (pkg_resources, build_loss,
# visualizer instances) say nothing a demo user can act on.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
warnings.filterwarnings(
    'ignore', category=UserWarning, module=r'(mmengine|mmdet|mmseg|mmcv)\.')

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmattn  # noqa: E402
from mmattn.experiment import prepare_dataset  # noqa: E402
from mmattn.synthetic import make_det_dataset, make_seg_dataset  # noqa: E402
from mmattn.utils.install_check import check_install  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'demo')

# The full demo takes its data (the configs' ``demo_data``) and schedule
# from configs/demo, chosen with pilot runs on the 2-core development
# machine (docs/demo.md). --quick shrinks both to check that everything
# runs.
QUICK = dict(num_images=24, iters=4, log_interval=2)

DET_MODELS = (('retinanet', 'RetinaNet', 'retinanet_r18_demo.py'),
              ('harnet', 'HAR-Net', 'harnet_r18_demo.py'))
SEG_MODELS = (('plain_ce', 'plain CE, all proxies',
               'salnet_r18_demo_plain_ce.py'),
              ('sal', 'SAL (selection on SC + attention loss)',
               'salnet_r18_demo.py'))
DET_KEYS = (('bbox_mAP', 'mAP'), ('bbox_mAP_50', 'AP50'),
            ('bbox_mAP_75', 'AP75'), ('bbox_mAP_s', 'APs'),
            ('bbox_mAP_m', 'APm'), ('bbox_mAP_l', 'APl'))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='mmattn demo: HAR-Net vs RetinaNet and SAL-Net vs plain '
        'cross entropy, trained and evaluated on generated data')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='a few iterations on a few images: checks that everything '
        'runs (about a minute); the numbers mean nothing')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/demo',
        help='logs, configs, checkpoints, scores, pictures, metrics')
    parser.add_argument(
        '--data-dir',
        default='data',
        help='where the generated demo_det/ and demo_seg/ go (reused when '
        'generated with the same arguments)')
    parser.add_argument(
        '--skip-det', action='store_true', help='skip the detection part')
    parser.add_argument(
        '--skip-seg', action='store_true', help='skip the segmentation part')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch CPU threads (default: the cores the load average '
        'leaves free, at least 1)')
    parser.add_argument('--seed', type=int, default=0, help='data seed')
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f'--threads must be >= 1, got {args.threads}')
    if args.seed < 0:
        parser.error(f'--seed must be >= 0, got {args.seed}')
    return args


# ---------------------------------------------------------------- data --


# ------------------------------------------------------------- training --


class _TerminalFilter(logging.Filter):
    """Keeps the terminal readable: multi-line INFO records (environment,
    config dump, hook table, per-class tables) and the libraries' known
    deprecation notices go to the log file only."""

    _NOTICES = ('will be deprecated', 'is the alias of',
                'The prefix is not set', 'SyncBatchNorm')

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.getMessage())
        if any(notice in message for notice in self._NOTICES):
            return False
        if record.levelno >= logging.WARNING:
            return True
        return '\n' not in message.strip()


class _DemoRunner(Runner):
    """mmengine's Runner, with the terminal filter on its stream handler."""

    def build_logger(self, *args, **kwargs):
        logger = super().build_logger(*args, **kwargs)
        for handler in logger.handlers:
            if (isinstance(handler, logging.StreamHandler)
                    and not isinstance(handler, logging.FileHandler)):
                handler.addFilter(_TerminalFilter())
        return logger


class _KeepMetrics(Hook):
    """Remembers the metrics of the last validation."""

    def __init__(self) -> None:
        self.metrics = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = dict(metrics or {})


def _shorten_schedule(cfg: Config, iters: int, log_interval: int) -> None:
    """Train ``iters`` iterations, validate and save once at the end; LR
    milestones keep their place relative to the length (``--quick``)."""
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.logger.interval = log_interval
    base_iters = None
    for scheduler in cfg.param_scheduler:
        if scheduler.get('end', 0) > (base_iters or 0) and scheduler.get(
                'type') != 'LinearLR':
            base_iters = scheduler['end']
    for scheduler in cfg.param_scheduler:
        if scheduler.get('type') == 'LinearLR':
            scheduler['end'] = min(scheduler['end'], max(1, iters // 8))
            continue
        scheduler['end'] = iters
        if 'milestones' in scheduler and base_iters:
            scheduler['milestones'] = [
                max(1, round(m * iters / base_iters))
                for m in scheduler['milestones']
            ]


def train_and_evaluate(config: str, work_dir: str, options: dict,
                       quick: bool) -> dict:
    """Train one config with mmengine's Runner, validate at the end.

    Returns:
        dict: ``metrics`` (the evaluator's), ``checkpoint``, ``config``
        (the dumped, re-runnable config), ``log_dir`` and ``seconds``.
    """
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    if quick:
        _shorten_schedule(cfg, QUICK['iters'], QUICK['log_interval'])
    iters = cfg.train_cfg.max_iters
    cfg.work_dir = work_dir
    name = osp.splitext(osp.basename(config))[0]
    print_log(f'training {name}: {iters} iterations -> {work_dir}',
              logger='current')
    start = time.monotonic()
    runner = _DemoRunner.from_cfg(cfg)
    keeper = _KeepMetrics()
    runner.register_hook(keeper, priority='LOWEST')
    # pycocotools prints its progress and summary on stdout; they go to a
    # file next to the log (the runner's logger keeps the real stdout).
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        runner.train()
    if captured.getvalue():
        with open(osp.join(runner.log_dir, 'stdout.txt'), 'w') as f:
            f.write(captured.getvalue())
    seconds = time.monotonic() - start
    if not keeper.metrics:
        raise RuntimeError(f'{name}: the validation at the end of training '
                           f'returned no metrics (see {runner.log_dir})')
    return dict(
        metrics=keeper.metrics,
        checkpoint=osp.join(work_dir, f'iter_{iters}.pth'),
        config=osp.join(work_dir, osp.basename(config)),
        log_dir=runner.log_dir,
        iters=iters,
        seconds=round(seconds, 1))


def demo_data(configs, quick: bool) -> dict:
    """The generator arguments the configs expect (their ``demo_data``);
    fewer images with ``quick``."""
    settings = [
        Config.fromfile(osp.join(CONFIG_DIR, c)).get('demo_data')
        for c in configs
    ]
    if settings[0] is None or any(s != settings[0] for s in settings):
        raise ValueError(f'configs/demo/{configs}: demo_data must be set '
                         f'and equal in all, got {settings}')
    settings = dict(settings[0])
    settings['img_size'] = tuple(settings['img_size'])
    if quick:
        settings['num_images'] = QUICK['num_images']
    return settings


def _loader_options(data_root: str) -> dict:
    options = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options[f'{loader}.dataset.data_root'] = data_root
    return options


def run_detection(args, work_dir: str, data_dir: str, quick: bool) -> dict:
    det_root = osp.join(data_dir, 'demo_det')
    settings = demo_data([c for _, _, c in DET_MODELS], quick)
    state = prepare_dataset(
        make_det_dataset, det_root, seed=args.seed, **settings)
    with open(osp.join(det_root, 'meta.json')) as f:
        meta = json.load(f)
    ann_file = osp.join(det_root, 'annotations', 'instances_val.json')
    options = _loader_options(det_root + '/')
    options.update({
        'val_evaluator.ann_file': ann_file,
        'test_evaluator.ann_file': ann_file
    })
    if quick:
        # A few iterations leave every score under the default 0.05: keep
        # them all so that CocoMetric has boxes to evaluate.
        options.update({
            'model.test_cfg.score_thr': 0.0,
            'model.test_cfg.nms_pre': 50
        })
    runs = {}
    for key, label, config in DET_MODELS:
        run = train_and_evaluate(
            osp.join(CONFIG_DIR, config), osp.join(work_dir, key), options,
            quick)
        run['label'] = label
        # CocoMetric gives -1 for an area range without ground truth.
        run['ap'] = {
            short: round(100 * float(run['metrics'][f'coco/{k}']), 1)
            if run['metrics'].get(f'coco/{k}', -1) >= 0 else None
            for k, short in DET_KEYS
        }
        runs[key] = run
    return dict(
        data=dict(root=det_root, state=state, num_train=meta['num_train'],
                  num_val=meta['num_val'], img_size=meta['img_size'],
                  difficulty=meta.get('difficulty', 'standard'),
                  boxes=meta['num_annotations']),
        iters=runs['harnet']['iters'],
        runs=runs)


def score_proxies(seg_root: str, out_path: str, tau: float) -> dict:
    """Coarse mask scores (AC, CD, SC; SAL Eq. 3-5) of every train proxy,
    written as the score file the SAL config reads; the same machinery as
    ``tools/score_masks.py`` without the scoring network."""
    from mmattn.segmentation.mask_scoring import read_id_list, read_tags
    from mmattn.segmentation.mask_scoring.scoring import (score_proxy_masks,
                                                          summarize_scores)
    from mmattn.segmentation.score_file import dump_mask_scores

    ids = list(
        read_id_list(
            osp.join(seg_root, 'ImageSets', 'Segmentation', 'train.txt')))
    start = time.monotonic()
    results = score_proxy_masks(
        ids, osp.join(seg_root, 'SegmentationClassProxy'),
        osp.join(seg_root, 'SaliencyRef'),
        read_tags(osp.join(seg_root, 'cls_labels.npy')),
        img_dir=osp.join(seg_root, 'JPEGImages'),
        gt_dir=osp.join(seg_root, 'SegmentationClass'),
        show_progress=False)
    scores = {
        i: {k: r[k]
            for k in ('AC', 'CD', 'SC', 'P', 'SF')}
        for i, r in results.items()
    }
    os.makedirs(osp.dirname(out_path), exist_ok=True)
    dump_mask_scores(
        scores, out_path, overwrite=True,
        proxy_dir=osp.join(seg_root, 'SegmentationClassProxy'),
        meta=dict(tool='tools/demo.py', objectness='edge', scorer=None,
                  note='coarse scores only (no scoring network)'))
    summary = summarize_scores(results, tau)
    # The generator recorded how good each proxy really is: the demo can
    # show what the selection keeps.
    with open(osp.join(seg_root, 'proxy_quality.json')) as f:
        quality = json.load(f)
    true_miou = np.array([quality[i]['miou'] for i in ids])
    selected = np.array([results[i]['SC'] >= tau for i in ids])
    return dict(
        score_file=out_path,
        num_train=len(ids),
        tau=tau,
        selected=int(selected.sum()),
        proxy_miou_all=round(float(true_miou.mean()), 3),
        proxy_miou_selected=round(float(true_miou[selected].mean()), 3)
        if selected.any() else None,
        sc_pearson_vs_true=round(
            float(summary['correlation']['SC']['pearson']), 3)
        if summary['correlation'] else None,
        seconds=round(time.monotonic() - start, 1))


def run_segmentation(args, work_dir: str, data_dir: str,
                     quick: bool) -> dict:
    seg_root = osp.join(data_dir, 'demo_seg')
    settings = demo_data([c for _, _, c in SEG_MODELS], quick)
    state = prepare_dataset(
        make_seg_dataset, seg_root, seed=args.seed, **settings)
    with open(osp.join(seg_root, 'meta.json')) as f:
        meta = json.load(f)
    sal_cfg = Config.fromfile(osp.join(CONFIG_DIR, 'salnet_r18_demo.py'))
    tau = float(sal_cfg.model.decode_head.loss_decode.tau)
    score_key = sal_cfg.model.decode_head.loss_decode.score_key
    print_log(
        f'scoring {meta["num_train"]} proxy masks with the coarse scores '
        '(AC, CD, SC; no scoring network, to fit the demo time)',
        logger='current')
    scoring = score_proxies(seg_root,
                            osp.abspath(
                                osp.join(work_dir, 'sal_scores',
                                         'mask_scores.json')), tau)
    scoring['score_key'] = score_key
    print_log(
        f'{scoring["selected"]}/{scoring["num_train"]} proxies have '
        f'{score_key} >= {tau} (true proxy mIoU {scoring["proxy_miou_all"]}'
        f' all, {scoring["proxy_miou_selected"]} selected)',
        logger='current')
    runs = {}
    for key, label, config in SEG_MODELS:
        options = _loader_options(seg_root)
        if key == 'sal':
            options['train_dataloader.dataset.score_file'] = scoring[
                'score_file']
        run = train_and_evaluate(
            osp.join(CONFIG_DIR, config), osp.join(work_dir, key), options,
            quick)
        run['label'] = label
        run['mIoU'] = round(float(run['metrics']['mIoU']), 1)
        run['proxies_used'] = (scoring['selected']
                               if key == 'sal' else scoring['num_train'])
        runs[key] = run
    return dict(
        data=dict(root=seg_root, state=state, num_train=meta['num_train'],
                  num_val=meta['num_val'], img_size=meta['img_size'],
                  num_classes=meta['num_classes'],
                  proxy_miou=meta.get('proxy_miou')),
        iters=runs['sal']['iters'],
        scoring=scoring,
        runs=runs)


# ------------------------------------------------------------- pictures --


def draw_attention(det: dict, seg: dict, out_dir: str) -> dict:
    """Draw the attention of the trained HAR-Net and SAL on two val images
    each, in this process: the checkpoint loaded strictly and the pictures
    drawn as ``tools/visualize_attention.py`` does
    (``mmattn.visualization.init_attention_model`` and
    ``render_attention``).

    Returns:
        dict: ``pngs`` (the written files), ``pictures`` (per picture its
        file, panels and the maps' value ranges) and ``failures`` (one line
        per model that could not be drawn; the demo goes on).
    """
    from mmattn.visualization import init_attention_model, render_attention

    jobs = []
    if det:
        run = det['runs']['harnet']
        val_dir = osp.join(det['data']['root'], 'val')
        imgs = [osp.join(val_dir, f) for f in sorted(os.listdir(val_dir))[:2]]
        jobs.append(('HAR-Net spatial attention', run, imgs, None))
    if seg:
        run = seg['runs']['sal']
        root = seg['data']['root']
        with open(osp.join(root, 'ImageSets', 'Segmentation',
                           'val.txt')) as f:
            ids = [line.strip() for line in f if line.strip()][:2]
        imgs = [osp.join(root, 'JPEGImages', f'{i}.jpg') for i in ids]
        tags = np.load(
            osp.join(root, 'cls_labels.npy'), allow_pickle=True).item()
        jobs.append(('SAL class attention', run, imgs,
                     [tags.get(i) for i in ids]))
    pngs, pictures, failures = [], [], []
    for what, run, imgs, tags in jobs:
        print_log(f'drawing {what} of {len(imgs)} val images',
                  logger='current')
        try:
            model = init_attention_model(
                run['config'], run['checkpoint'], device='cpu')
            drawn = render_attention(model, imgs, out_dir, tags=tags)
        except Exception as err:  # the demo reports and goes on
            line = ' | '.join(
                f'{type(err).__name__}: {err}'.strip().splitlines()[-3:])
            failures.append(f'{what}: {line}')
            print_log(f'{what} failed: {line}', logger='current',
                      level=logging.WARNING)
            continue
        pngs += [picture.out_file for picture in drawn]
        pictures += [picture.to_dict() for picture in drawn]
    return dict(pngs=pngs, pictures=pictures, failures=failures)


# --------------------------------------------------------------- output --


def _table(header, rows) -> str:
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row):
        return '| ' + ' | '.join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths))) + ' |'

    sep = '|' + '|'.join('-' * (w + 2) for w in widths) + '|'
    return '\n'.join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def det_table(det: dict) -> str:
    data = det['data']
    rows = [[run['label']] + [
        'n/a' if run['ap'][s] is None else f'{run["ap"][s]:.1f}'
        for _, s in DET_KEYS
    ] +
            [f'{run["seconds"]:.0f}'] for run in det['runs'].values()]
    title = (f'Detection: COCO bbox AP (%) on {data["num_val"]} val images '
             f'({data["difficulty"]} shapes, {data["img_size"][0]} px; '
             f'{det["iters"]} iterations of batch 8 from scratch, '
             'same schedule)')
    return title + '\n' + _table(['model'] + [s for _, s in DET_KEYS] +
                                 ['train s'], rows)


def seg_table(seg: dict) -> str:
    data, scoring = seg['data'], seg['scoring']
    rows = [[
        run['label'], f'{run["proxies_used"]}/{scoring["num_train"]}',
        f'{run["mIoU"]:.1f}', f'{run["seconds"]:.0f}'
    ] for run in seg['runs'].values()]
    title = (f'Segmentation: val mIoU (%) against ground truth on '
             f'{data["num_val"]} val images ({data["img_size"][0]} px, '
             f'{data["num_classes"]} classes + background; {seg["iters"]} '
             'iterations from scratch, same schedule)')
    note = (f'Proxies scored with the COARSE scores only (AC, CD, SC; no '
            f'scoring network, to fit the demo time); selection: '
            f'{scoring["score_key"]} >= {scoring["tau"]} kept '
            f'{scoring["selected"]}/{scoring["num_train"]} (true proxy mIoU '
            f'{scoring["proxy_miou_all"]} all -> '
            f'{scoring["proxy_miou_selected"]} kept; Pearson of SC with it '
            f'{scoring["sc_pearson_vs_true"]}).')
    return title + '\n' + _table(
        ['model', 'proxies used', 'mIoU', 'train s'], rows) + '\n' + note


def free_cores() -> int:
    """Cores not busy with other work (by the 1-minute load average).

    A second torch thread on a core that another process keeps busy spins
    and waits: on the 2-core development machine with a load of about 4, two
    threads took 3.5x the CPU time per iteration of one.
    """
    cores = os.cpu_count() or 1
    try:
        busy = int(round(os.getloadavg()[0]))
    except OSError:  # no load average on this platform
        busy = 0
    return max(1, min(cores, cores - busy))


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    if args.threads is None:
        args.threads = free_cores()
    torch.set_num_threads(args.threads)
    mode = 'quick' if args.quick else 'full'
    work_dir = osp.abspath(args.work_dir)
    data_dir = osp.abspath(args.data_dir)
    if args.quick:
        # Keep the full demo's data: the quick one is generated elsewhere.
        data_dir = osp.join(data_dir, 'quick')
    os.makedirs(work_dir, exist_ok=True)
    print_log(f'mmattn {mmattn.__version__} demo ({mode}; {args.threads} '
              f'torch threads) -> {work_dir}', logger='current')

    results = check_install()
    for result in results:
        status = 'ok ' if result.ok else 'FAIL'
        print(f'  [{status}] {result.name}: {result.detail}')
    if not all(r.ok for r in results):
        print(f'\nmmattn install has problems: '
              f'{[r.name for r in results if not r.ok]}')
        return 1
    print(f'\nmmattn install OK ({time.monotonic() - start:.0f} s)\n')

    det = None if args.skip_det else run_detection(args, work_dir, data_dir,
                                                   args.quick)
    seg = None if args.skip_seg else run_segmentation(
        args, work_dir, data_dir, args.quick)
    pictures = draw_attention(det, seg, osp.join(work_dir, 'attention')) \
        if (det or seg) else dict(pngs=[])
    elapsed = time.monotonic() - start

    metrics_path = osp.join(work_dir, 'demo_metrics.json')
    record = dict(
        mode=mode,
        threads=args.threads,
        seconds=round(elapsed, 1),
        date=time.strftime('%Y-%m-%d %H:%M:%S %Z'),
        detection=det,
        segmentation=seg,
        attention=pictures)
    with open(metrics_path, 'w') as f:
        json.dump(record, f, indent=1, default=str)

    print('\n' + '=' * 78)
    print(f'mmattn demo ({mode}) finished in {elapsed / 60:.1f} min '
          f'({elapsed:.0f} s)')
    if args.quick:
        print('--quick: a few iterations only; the numbers mean nothing.')
    if det:
        print('\n' + det_table(det))
    if seg:
        print('\n' + seg_table(seg))
    print('\nFiles')
    for run in list((det or {}).get('runs', {}).values()) + list(
            (seg or {}).get('runs', {}).values()):
        print(f'  {run["label"]}: config {run["config"]}')
        print(f'  {" " * len(run["label"])}  checkpoint {run["checkpoint"]}')
        print(f'  {" " * len(run["label"])}  log {run["log_dir"]}')
    if seg:
        print(f'  mask scores: {seg["scoring"]["score_file"]}')
    for png in pictures.get('pngs', []):
        print(f'  attention: {png}')
    for failure in pictures.get('failures', []):
        print(f'  attention FAILED: {failure}')
    print(f'  metrics: {metrics_path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
