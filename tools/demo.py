# Copyright (c) mmattn contributors. All rights reserved.
"""The main job on generated data: ``make demo``.

1. Checks the install (compiled mmcv ops, registrations, checkpoints).
2. Detection (HAR-Net): trains RetinaNet and HAR-Net with the same schedule
   on generated shapes (``configs/demo/retinanet_r18_demo.py`` and
   ``harnet_r18_demo.py``, the tiny twins on the easy data at 128 px)
   through mmengine's ``Runner`` (:mod:`mmattn.experiment`) and compares
   their COCO AP (mmdet's ``CocoMetric``).
3. Segmentation (SAL-Net): runs ``tools/sal_pipeline.py`` on the generated
   folder (coarse scores, the scorer's training set synthesised from these
   proxies, the scorer ``configs/demo/mask-scorer_demo.py``, fine scores
   SF, tau on the val split, SAL retrained from
   ``configs/demo/salnet_r18_demo.py``, evaluation and report) and trains
   plain cross entropy on every proxy beside it; SAL is retrained with two
   more seeds, and the gain is shown with its spread over the
   :data:`SEG_SEEDS` (val mIoU, mmseg's ``IoUMetric`` on ground truth).
4. Draws HAR-Net's spatial attention and SAL's class attention on two val
   images, in-process, as ``tools/visualize_attention.py`` does
   (``mmattn.visualization.render_attention``).

With two free cores the twins train side by side, one thread each.
Everything lands in ``--work-dir`` (default ``work_dirs/demo``): one folder
per model with its dumped config (re-runnable with ``tools/train.py``),
log and checkpoint, the pipeline's folder (``sal_pipeline/``: score files,
scorer, report with the score histogram), the pictures and
``demo_metrics.json``.
The generated data goes to ``--data-dir`` (``demo_det/``, ``demo_seg/``)
and is reused when it was generated with the same arguments. About 10
minutes on 2 CPU cores; ``--quick`` runs a few iterations on a few images
(a smoke test, numbers meaningless).

Usage::

    python tools/demo.py [--quick] [--work-dir work_dirs/demo]
        [--data-dir data] [--skip-det] [--skip-seg] [--threads N]
"""
import argparse
import json
import logging
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
import warnings
from typing import Iterable, Optional

# Deprecation notes of the libraries (pkg_resources, build_loss,
# visualizer instances) say nothing a demo user can act on.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
warnings.filterwarnings(
    'ignore', category=UserWarning, module=r'(mmengine|mmdet|mmseg|mmcv)\.')

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import MMLogger, print_log  # noqa: E402

import mmattn  # noqa: E402
from mmattn.experiment import (JobResult, TrainJob,  # noqa: E402
                               prepare_dataset, run_jobs)
from mmattn.segmentation.tag_file import read_tags  # noqa: E402
from mmattn.synthetic import make_det_dataset, make_seg_dataset  # noqa: E402
from mmattn.utils.install_check import check_install  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: The demo's own logger: the runs' loggers log to their files.
LOGGER = 'mmattn_demo'
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
              ('sal', 'SAL (pipeline: selection on SF + attention loss)',
               'salnet_r18_demo.py'))
#: Training seeds of the segmentation twins: the gain is shown with its
#: spread over these (the pipeline trains SAL with the first).
SEG_SEEDS = (0, 1, 2)
PIPELINE = osp.join(REPO_ROOT, 'tools', 'sal_pipeline.py')
#: The demo's scorer: the tiny scorer, 10 epochs (docs/demo.md).
SCORER_CONFIG = 'mask-scorer_demo.py'
#: The scorer's training set: 3 degraded and 1 cut-paste sample per good
#: proxy, dilation beside erosion and erasing (docs/benchmarks_sal.md).
DEMO_SYNTHESIS = ('intermediate_ratio=3', 'paste_ratio=1',
                  'ops=[erode,erase,dilate]')
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
        help='torch CPU threads (default: the cores idle now, measured '
        'over half a second, at least 1)')
    parser.add_argument('--seed', type=int, default=0, help='data seed')
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f'--threads must be >= 1, got {args.threads}')
    if args.seed < 0:
        parser.error(f'--seed must be >= 0, got {args.seed}')
    return args


# ---------------------------------------------------------------- data --


# ------------------------------------------------------------- training --


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


def run_detection(args, work_dir: str, data_dir: str, quick: bool,
                  processes: int) -> dict:
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
    jobs = [
        TrainJob(name=label, config=osp.join(CONFIG_DIR, config),
                 work_dir=osp.join(work_dir, key), seed=0, overrides=options,
                 iters=QUICK['iters'] if quick else None)
        for key, label, config in DET_MODELS
    ]
    print_log(f'training {" and ".join(j.name for j in jobs)} '
              f'({processes} at a time)', logger=LOGGER)
    runs = {}
    for (key, label, _), result in zip(
            DET_MODELS, run_jobs(jobs, processes, on_done=_progress)):
        if not result.metrics:
            raise RuntimeError(f'{label}: the validation at the end of '
                               f'training returned no metrics (see '
                               f'{result.log})')
        run = dict(label=label, metrics=result.metrics, config=result.config,
                   checkpoint=result.checkpoint, log_dir=result.work_dir,
                   iters=result.history[-1][0], seconds=result.seconds)
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


def pipeline_command(seg_root: str, pipe_dir: str, seed: int,
                     quick: bool) -> list:
    """``tools/sal_pipeline.py`` as the demo runs it: the demo's SAL
    config and scorer, tau on the val split (the paper's rule)."""
    cmd = [
        sys.executable, PIPELINE, seg_root, '--work-dir', pipe_dir,
        '--sal-config', osp.join(CONFIG_DIR, 'salnet_r18_demo.py'),
        '--scorer-config', osp.join(CONFIG_DIR, SCORER_CONFIG),
        '--synthesis-options'
    ] + list(DEMO_SYNTHESIS) + [
        '--tau-rule', 'val-proxy', '--seed', str(seed), '--no-progress'
    ]
    if quick:
        cmd += ['--scorer-cfg-options', 'train_cfg.max_epochs=1',
                'train_cfg.val_interval=1', '--sal-cfg-options',
                f'train_cfg.max_iters={QUICK["iters"]}',
                f'train_cfg.val_interval={QUICK["iters"]}',
                f'default_hooks.checkpoint.interval={QUICK["iters"]}',
                f'default_hooks.logger.interval={QUICK["log_interval"]}']
    return cmd


def _seg_job(name: str, config: str, work_dir: str, seed: int,
             seg_root: str, quick: bool) -> TrainJob:
    return TrainJob(name=name, config=config, work_dir=work_dir, seed=seed,
                    overrides=_loader_options(seg_root),
                    iters=QUICK['iters'] if quick else None)


def _progress(result: JobResult) -> None:
    if 'mIoU' in result.metrics:
        metric = f'mIoU {float(result.metrics["mIoU"]):.1f}'
    else:
        metric = f'AP {100 * float(result.metrics["coco/bbox_mAP"]):.1f}'
    print_log(f'  {result.name}: done in {result.seconds:.0f} s ({metric}; '
              f'log {result.log})', logger=LOGGER)


def run_segmentation(args, work_dir: str, data_dir: str, quick: bool,
                     processes: int) -> dict:
    """SAL-Net's pipeline (``tools/sal_pipeline.py``: coarse scores, the
    scorer trained on these proxies, fine scores, tau, SAL retrained and
    evaluated) against plain cross entropy on every proxy, over
    :data:`SEG_SEEDS`. The pipeline trains SAL with the first seed; the
    other seeds retrain its dumped config."""
    seg_root = osp.join(data_dir, 'demo_seg')
    settings = demo_data([c for _, _, c in SEG_MODELS], quick)
    state = prepare_dataset(
        make_seg_dataset, seg_root, seed=args.seed, **settings)
    with open(osp.join(seg_root, 'meta.json')) as f:
        meta = json.load(f)
    seeds = SEG_SEEDS[:2] if quick else SEG_SEEDS
    pipe_dir = osp.join(work_dir, 'sal_pipeline')
    cmd = pipeline_command(seg_root, pipe_dir, seeds[0], quick)
    pipe_log = osp.join(work_dir, 'sal_pipeline.log')
    ce_config = osp.join(CONFIG_DIR, SEG_MODELS[0][2])
    ce_jobs = [
        _seg_job(f'plain CE seed {s}', ce_config,
                 osp.join(work_dir, 'plain_ce', f'seed{s}'), s, seg_root,
                 quick) for s in seeds
    ]
    print_log(
        f'SAL pipeline on {meta["num_train"]} proxies (scorer included; '
        f'log {pipe_log}) beside plain CE, seeds {list(seeds)}',
        logger=LOGGER)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    start = time.monotonic()
    with open(pipe_log, 'a') as log:
        if processes > 1:
            # The pipeline on one core, the plain-CE runs on the other.
            pipeline = subprocess.Popen(cmd, stdout=log,
                                        stderr=subprocess.STDOUT, env=env)
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            ce_runs = run_jobs(ce_jobs, 1, on_done=_progress)
            torch.set_num_threads(threads)
            code = pipeline.wait()
        else:
            code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                                  env=env).returncode
            ce_runs = run_jobs(ce_jobs, 1, on_done=_progress)
    if code != 0:
        raise RuntimeError(f'tools/sal_pipeline.py failed (exit {code}); '
                           f'see {pipe_log}')
    with open(osp.join(pipe_dir, 'report', 'report.json')) as f:
        report = json.load(f)
    print_log(f'  SAL pipeline: done in {time.monotonic() - start:.0f} s '
              f'(report {report["files"]["report"]})', logger=LOGGER)
    sal_config = report['files']['sal_config']
    sal_runs = [dict(seed=seeds[0], mIoU=report['evaluation']['mIoU'],
                     config=sal_config,
                     checkpoint=report['files']['sal_checkpoint'])]
    more = [
        TrainJob(name=f'SAL seed {s}', config=sal_config,
                 work_dir=osp.join(work_dir, 'sal', f'seed{s}'), seed=s)
        for s in seeds[1:]
    ]
    for result in run_jobs(more, processes, on_done=_progress):
        sal_runs.append(dict(seed=result.seed,
                             mIoU=float(result.metrics['mIoU']),
                             config=result.config,
                             checkpoint=result.checkpoint))
    ce = [dict(seed=r.seed, mIoU=float(r.metrics['mIoU']), config=r.config,
               checkpoint=r.checkpoint) for r in ce_runs]
    gains = [s['mIoU'] - c['mIoU'] for s, c in zip(sal_runs, ce)]
    selection = report['selection']
    scorer = report['scorer'] or {}
    return dict(
        data=dict(root=seg_root, state=state, num_train=meta['num_train'],
                  num_val=meta['num_val'], img_size=meta['img_size'],
                  num_classes=meta['num_classes'],
                  proxy_miou=meta.get('proxy_miou')),
        iters=Config.fromfile(sal_config).train_cfg.max_iters,
        seeds=list(seeds),
        plain_ce=ce,
        sal=sal_runs,
        gain=dict(per_seed=gains, mean=statistics.fmean(gains),
                  se=statistics.stdev(gains) / len(gains)**0.5
                  if len(gains) > 1 else None),
        selection=dict(
            score_key=selection['score_key'], tau=selection['tau'],
            rule=selection['rule_text'], kept=selection['kept'],
            num_images=selection['num_images']),
        scorer=dict(training_samples=scorer.get('training_samples'),
                    checkpoint=scorer.get('checkpoint')),
        pipeline=dict(work_dir=pipe_dir, report=report['files']['report'],
                      histogram=report['files']['histogram'],
                      examples=report['files']['examples'], log=pipe_log),
        runs=dict(sal=dict(config=sal_runs[0]['config'],
                           checkpoint=sal_runs[0]['checkpoint'])))


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
        tags = read_tags(osp.join(root, 'cls_labels.npy'))
        jobs.append(('SAL class attention', run, imgs,
                     [tags.get(i) for i in ids]))
    pngs, pictures, failures = [], [], []
    for what, run, imgs, tags in jobs:
        print_log(f'drawing {what} of {len(imgs)} val images',
                  logger=LOGGER)
        try:
            model = init_attention_model(
                run['config'], run['checkpoint'], device='cpu')
            drawn = render_attention(model, imgs, out_dir, tags=tags)
        except Exception as err:  # the demo reports and goes on
            line = ' | '.join(
                f'{type(err).__name__}: {err}'.strip().splitlines()[-3:])
            failures.append(f'{what}: {line}')
            print_log(f'{what} failed: {line}', logger=LOGGER,
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
    data, sel = seg['data'], seg['selection']
    rows = []
    for (key, label, _), used in zip(
            SEG_MODELS, (data['num_train'], sel['kept'])):
        values = [r['mIoU'] for r in seg[key]]
        rows.append([
            label, f'{used}/{data["num_train"]}',
            f'{statistics.fmean(values):.1f}',
            ', '.join(f'{v:.1f}' for v in values)
        ])
    title = (f'Segmentation: val mIoU (%) against ground truth on '
             f'{data["num_val"]} val images ({data["img_size"][0]} px, '
             f'{data["num_classes"]} classes + background; {seg["iters"]} '
             f'iterations from scratch, seeds {seg["seeds"]})')
    gain = seg['gain']
    spread = (f' +- {gain["se"]:.1f} (standard error over '
              f'{len(gain["per_seed"])} paired seeds; per seed '
              f'{", ".join(f"{g:+.1f}" for g in gain["per_seed"])})'
              if gain['se'] is not None else ' (one seed: no spread)')
    note = (f'SAL - plain CE: {gain["mean"]:+.1f}{spread}.\n'
            f'Selection by tools/sal_pipeline.py: {sel["score_key"]} >= '
            f'{sel["tau"]:.3f} ({sel["rule"]}) kept {sel["kept"]}/'
            f'{sel["num_images"]}; SF from the scorer trained on '
            f'{seg["scorer"]["training_samples"]} samples synthesised '
            'from these proxies.')
    return title + '\n' + _table(
        ['model', 'proxies used', 'mIoU', 'per seed'], rows) + '\n' + note


#: How long :func:`free_cores` watches the CPUs, in seconds.
CPU_SAMPLE_SECONDS = 0.5


def _cpu_jiffies(stat_text: str) -> dict:
    """``{cpu index: (idle, total)}`` from the ``cpuN`` lines of /proc/stat.

    Idle counts ``idle`` and ``iowait`` (a core waiting for a disk is free
    to compute); the total is the first eight counters (``guest`` and
    ``guest_nice`` are already counted in ``user`` and ``nice``).
    """
    jiffies = {}
    for line in stat_text.splitlines():
        fields = line.split()
        if not fields or not (fields[0].startswith('cpu')
                              and fields[0][3:].isdigit()):
            continue  # the all-CPU 'cpu' line, interrupts, processes, ...
        try:
            values = [int(v) for v in fields[1:9]]
        except ValueError:
            values = []
        if len(values) < 4:
            raise ValueError(f'/proc/stat line {line!r}: expected at least '
                             '4 integer counters (user nice system idle)')
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        jiffies[int(fields[0][3:])] = (idle, sum(values))
    return jiffies


def idle_cpus(before: str,
              after: str,
              cpus: Optional[Iterable[int]] = None) -> Optional[float]:
    """How many CPUs were idle between two readings of /proc/stat.

    Each CPU adds the share of the interval it spent idle: two idle CPUs
    give about 2.0, one idle and one busy with another job about 1.0.

    Args:
        before (str): The text of /proc/stat, read first.
        after (str): The text of /proc/stat, read later.
        cpus (Iterable[int], optional): The CPUs to count (those this
            process may run on). Defaults to every ``cpuN`` line.

    Returns:
        float | None: The idle CPUs, or None when no CPU to count has
        ticked between the readings (nothing to judge by).

    Raises:
        ValueError: A ``cpuN`` line without its counters.
    """
    first, last = _cpu_jiffies(before), _cpu_jiffies(after)
    wanted = last.keys() if cpus is None else cpus
    idle, counted = 0.0, 0
    for cpu in wanted:
        if cpu not in first or cpu not in last:
            continue  # offline in one of the readings
        idle_ticks = last[cpu][0] - first[cpu][0]
        total_ticks = last[cpu][1] - first[cpu][1]
        if total_ticks <= 0 or not 0 <= idle_ticks <= total_ticks:
            continue  # no tick yet, or the counters were reset
        idle += idle_ticks / total_ticks
        counted += 1
    return idle if counted else None


def free_cores(interval: float = CPU_SAMPLE_SECONDS,
               stat_path: str = '/proc/stat') -> int:
    """Cores not busy with other work now, at least 1.

    A second torch thread on a core that another process keeps busy spins
    and waits: on the 2-core development machine with a load of about 4, two
    threads took 3.5x the CPU time per iteration of one. The idle time of
    the CPUs this process may use is sampled over ``interval`` seconds
    (:func:`idle_cpus`); the 1-minute load average, used only where
    ``stat_path`` cannot be read (not Linux), still counts a job that ended
    a minute ago and so chose 1 thread on an idle machine.

    Args:
        interval (float): Seconds between the two readings.
            Defaults to :data:`CPU_SAMPLE_SECONDS`.
        stat_path (str): The kernel's CPU counters. Defaults to
            ``/proc/stat``.

    Returns:
        int: The idle CPUs rounded half up, between 1 and the CPUs this
        process may run on.
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call on this platform
        cpus = list(range(os.cpu_count() or 1))
    try:
        with open(stat_path) as f:
            before = f.read()
        time.sleep(interval)
        with open(stat_path) as f:
            after = f.read()
        idle = idle_cpus(before, after, cpus)
    except (OSError, ValueError):
        idle = None
    if idle is None:
        try:
            idle = len(cpus) - os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average either
            idle = len(cpus)
    return max(1, min(len(cpus), int(idle + 0.5)))


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
    MMLogger.get_instance(LOGGER, log_level='INFO')
    print_log(f'mmattn {mmattn.__version__} demo ({mode}; {args.threads} '
              f'torch threads) -> {work_dir}', logger=LOGGER)

    results = check_install()
    for result in results:
        status = 'ok ' if result.ok else 'FAIL'
        print(f'  [{status}] {result.name}: {result.detail}')
    if not all(r.ok for r in results):
        print(f'\nmmattn install has problems: '
              f'{[r.name for r in results if not r.ok]}')
        return 1
    print(f'\nmmattn install OK ({time.monotonic() - start:.0f} s)\n')

    # Twins train side by side, one thread each, when two cores are free.
    processes = 2 if args.threads >= 2 else 1
    det = None if args.skip_det else run_detection(
        args, work_dir, data_dir, args.quick, processes)
    seg = None if args.skip_seg else run_segmentation(
        args, work_dir, data_dir, args.quick, processes)
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
    for run in (det or {}).get('runs', {}).values():
        print(f'  {run["label"]}: config {run["config"]}')
        print(f'  {" " * len(run["label"])}  checkpoint {run["checkpoint"]}')
        print(f'  {" " * len(run["label"])}  log {run["log_dir"]}')
    if seg:
        pipe = seg['pipeline']
        print(f'  SAL pipeline: {pipe["work_dir"]} (report {pipe["report"]},'
              f' log {pipe["log"]})')
        print(f'    score histogram {pipe["histogram"]}')
        print(f'    kept and dropped proxies {pipe["examples"]}')
        for key, label, _ in SEG_MODELS:
            for run in seg[key]:
                print(f'  {label}, seed {run["seed"]}: config '
                      f'{run["config"]}, checkpoint {run["checkpoint"]}')
    for png in pictures.get('pngs', []):
        print(f'  attention: {png}')
    for failure in pictures.get('failures', []):
        print(f'  attention FAILED: {failure}')
    print(f'  metrics: {metrics_path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
