# Copyright (c) mmattn contributors. All rights reserved.
"""Proxy masks from the class activation maps (CAM) of a trained
``MultiLabelCAMClassifier``: step 3 of ``docs/wsss_from_tags.md``.

Example::

    python tools/make_proxies.py configs/wsss/cam_r18_tiny_synthetic.py \\
        work_dirs/cam_r18_tiny_synthetic/iter_300.pth data/my_data

For every image of the split (default ``ImageSets/Segmentation/train.txt``)
it writes, under the data folder:

- ``SegmentationClassProxy/<id>.png`` (``--proxy-dir``): the proxy mask, a
  VOC palette PNG (0 background, ``k`` class ``k``, 255 ignored), the layout
  ``WeakVOCDataset`` and ``tools/sal_pipeline.py`` read;
- ``SaliencyRef/<id>.png`` (``--ref-dir``): the CAM's own foreground, grey
  0/255, for the coarse scores (AC) when you have no saliency maps.

Background from ``--background threshold`` (a constant ``--bg-threshold``)
or ``power`` (``(1 - max CAM) ** --bg-alpha``); refinement ``--refine par``
(pixel-adaptive refinement, pure PyTorch, the default), ``crf`` (needs the
optional package ``pydensecrf2``) or ``none``; low-confidence pixels set to
255 by ``--ignore margin`` (top two shares closer than ``--ignore-thr``,
default), ``confidence`` (top share below ``--ignore-thr``) or ``none``.

Resumable: each file is written under a temporary name and renamed, and a
rerun with the same settings skips the images whose two files exist. An
output folder is only written into when it is new, empty, or holds nothing
but what this tool wrote there (listed in its ``mmattn_proxies.json``);
proxies made with other settings are replaced only with ``--overwrite``.
Exit status 0: written; 1: problems of the input data (ids without tags,
missing images); 2: bad arguments (a missing file or folder, a checkpoint
that does not fit the config, a refused output folder).
"""
import argparse
import os.path as osp
import sys

try:
    import mmattn  # noqa: F401
except ImportError:  # run from a source checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmattn.segmentation.wsss.proxies import (BACKGROUND_MODES, IGNORE_RULES,
                                              REFINE_MODES, ProxyOptions)

PROG = 'make_proxies.py'


def parse_args(argv=None) -> argparse.Namespace:
    defaults = ProxyOptions()
    p = argparse.ArgumentParser(
        prog=PROG,
        description='Proxy masks (VOC palette PNGs) and foreground '
        'references from the class activation maps of a multi-label '
        'classifier and the image tags.')
    p.add_argument('config', help='the classifier config')
    p.add_argument('checkpoint', help='its checkpoint (must fit exactly)')
    p.add_argument('data_root', help='the data folder')
    p.add_argument(
        '--split',
        default='ImageSets/Segmentation/train.txt',
        help='id list, relative to data_root (default: %(default)s)')
    p.add_argument(
        '--tag-file',
        default='cls_labels.npy',
        help='image tags, relative to data_root (default: %(default)s)')
    p.add_argument(
        '--img-dir',
        default='JPEGImages',
        help='images, relative to data_root (default: %(default)s)')
    p.add_argument(
        '--img-suffix',
        default='.jpg',
        help='image suffix (default: %(default)s)')
    p.add_argument(
        '--proxy-dir',
        default='SegmentationClassProxy',
        help='output: proxy masks, relative to data_root (default: '
        '%(default)s)')
    p.add_argument(
        '--ref-dir',
        default='SaliencyRef',
        help='output: foreground references, relative to data_root '
        '(default: %(default)s)')
    p.add_argument(
        '--background',
        choices=BACKGROUND_MODES,
        default=defaults.background,
        help='background score: a constant threshold or '
        '(1 - max CAM) ** alpha (default: %(default)s)')
    p.add_argument(
        '--bg-threshold',
        type=float,
        default=defaults.bg_threshold,
        help='--background threshold: the score (default: %(default)s)')
    p.add_argument(
        '--bg-alpha',
        type=float,
        default=defaults.bg_alpha,
        help='--background power: the exponent (default: %(default)s)')
    p.add_argument(
        '--refine',
        choices=REFINE_MODES,
        default=defaults.refine,
        help='refinement (default: %(default)s; crf needs pydensecrf2)')
    p.add_argument(
        '--par-iters',
        type=int,
        default=defaults.par_iters,
        help='PAR propagation steps (default: %(default)s)')
    p.add_argument(
        '--par-dilations',
        type=int,
        nargs='+',
        default=list(defaults.par_dilations),
        help='PAR neighbour rings (default: %(default)s)')
    p.add_argument(
        '--crf-iters',
        type=int,
        default=defaults.crf_iters,
        help='dense CRF steps (default: %(default)s)')
    p.add_argument(
        '--ignore',
        choices=IGNORE_RULES,
        default=defaults.ignore,
        help='low-confidence rule (default: %(default)s)')
    p.add_argument(
        '--ignore-thr',
        type=float,
        default=defaults.ignore_thr,
        help='its threshold, in [0, 1] (default: %(default)s)')
    p.add_argument(
        '--device', default='cpu', help='torch device (default: cpu)')
    p.add_argument(
        '--overwrite',
        action='store_true',
        help='replace proxies this tool made with other settings')
    p.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    return p.parse_args(argv)


def fail(message: str, status: int) -> int:
    print(f'{PROG}: error: {message}', file=sys.stderr)
    return status


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        options = ProxyOptions(
            background=args.background,
            bg_threshold=args.bg_threshold,
            bg_alpha=args.bg_alpha,
            refine=args.refine,
            par_iters=args.par_iters,
            par_dilations=tuple(args.par_dilations),
            crf_iters=args.crf_iters,
            ignore=args.ignore,
            ignore_thr=args.ignore_thr)
    except (ImportError, ValueError) as err:
        return fail(str(err), 2)
    if not osp.isdir(args.data_root):
        return fail(f'data folder not found: {args.data_root}', 2)
    img_dir = osp.join(args.data_root, args.img_dir)
    if not osp.isdir(img_dir):
        return fail(f'image folder not found: {img_dir}', 2)

    def under_root(path: str) -> str:
        return osp.join(args.data_root, path)

    from mmattn.segmentation.mask_scoring.mask_io import read_id_list
    from mmattn.segmentation.tag_file import read_tags
    from mmattn.segmentation.wsss.proxies import (ProxyOutputError,
                                                  load_cam_classifier,
                                                  make_cam_proxies)
    from mmattn.utils.checkpoint import CheckpointError
    try:
        ids = read_id_list(under_root(args.split))
        tags = read_tags(under_root(args.tag_file))
    except FileNotFoundError as err:
        return fail(str(err), 2)
    except ValueError as err:
        return fail(str(err), 1)
    try:
        model = load_cam_classifier(args.config, args.checkpoint, args.device)
    except (FileNotFoundError, TypeError, CheckpointError) as err:
        return fail(str(err), 2)
    try:
        summary = make_cam_proxies(
            model,
            args.checkpoint,
            ids,
            tags,
            img_dir=under_root(args.img_dir),
            proxy_dir=under_root(args.proxy_dir),
            ref_dir=under_root(args.ref_dir),
            options=options,
            img_suffix=args.img_suffix,
            overwrite=args.overwrite,
            show_progress=not args.no_progress)
    except ProxyOutputError as err:
        return fail(str(err), 2)
    except (FileNotFoundError, ValueError) as err:
        return fail(str(err), 1)
    ignored = summary['ignored_fraction']
    note = '' if ignored is None else (
        f', {100 * ignored:.1f}% of their pixels ignored')
    print(f"wrote {summary['written']} proxy mask(s) to "
          f"{summary['proxy_dir']} and reference(s) to {summary['ref_dir']}"
          f"{note}; {summary['skipped']} image(s) already done")
    return 0


if __name__ == '__main__':
    sys.exit(main())
