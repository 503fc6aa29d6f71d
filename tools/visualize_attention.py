# Copyright (c) mmattn contributors. All rights reserved.
"""Draw the attention maps of a HAR-Net detector or a SAL-Net segmentor.

HAR-Net (a ``HARRetinaHead`` with spatial attention): one picture per image,
the input and the sigmoid spatial mask of every pyramid level (P3..P7) over
it, written to ``OUT_DIR/<img stem>_spatial_attention.png``.

SAL-Net (a ``SALHead`` with its classification branch): the input and the
class attention map of the image's tagged classes (``--classes-from-tags``)
or of the top-k classes by image score ``d_s`` (``--topk``), written to
``OUT_DIR/<img stem>_class_attention.png``.

Usage::

    python tools/visualize_attention.py CONFIG CHECKPOINT IMG [IMG ...] \\
        --out-dir DIR [--device cpu] [--classes-from-tags FILE] [--topk K] \\
        [--overwrite] [--alpha 0.5] [--cfg-options KEY=VALUE ...]

The drawing is ``mmattn.visualization.render_attention``, the call that
``AttentionVisualizationHook`` and ``tools/demo.py`` make in-process.

Prints the written paths, one per line, on stdout. Fails with one line on
stderr (exit code 1) when the model has nothing to show, a file is missing,
the checkpoint does not load strictly into the config's model (it names the
mismatched keys), or an output exists (pass ``--overwrite``).
"""
import argparse
import contextlib
import os.path as osp
import sys
import warnings

from mmengine.config import Config, DictAction


class ToolError(Exception):
    """A problem with the command line or its files (no traceback)."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw HAR-Net spatial attention / SAL-Net class '
        'attention maps over images')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('imgs', nargs='+', metavar='IMG', help='image files')
    parser.add_argument(
        '--out-dir', required=True, help='folder for the PNG files')
    parser.add_argument(
        '--device',
        default=None,
        help='torch device (default: cuda:0 when available, else cpu)')
    parser.add_argument(
        '--classes-from-tags',
        metavar='FILE',
        help='SAL-Net: cls_labels.npy (image id -> (K,) 0/1 tags); the '
        'panels show the tagged classes of each image')
    parser.add_argument(
        '--topk',
        type=int,
        default=None,
        help='SAL-Net: number of classes by image score d_s (default 3 '
        'without tags; with tags, untagged classes fill up to K panels)')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace existing pictures in --out-dir')
    parser.add_argument(
        '--alpha', type=float, default=0.5, help='opacity of the maps')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. '
        'model.decode_head.cls_branch.dilations=[1,3]')
    return parser.parse_args(argv)


def _check_inputs(args) -> None:
    for what, path in (('config', args.config), ('checkpoint',
                                                 args.checkpoint)):
        if not osp.isfile(path):
            raise ToolError(f'{what} file not found: {path}')
    missing = [img for img in args.imgs if not osp.isfile(img)]
    if missing:
        raise ToolError(f'image file(s) not found: {", ".join(missing)}')
    stems = {}
    for img in args.imgs:
        stem = osp.splitext(osp.basename(img))[0]
        if stem in stems and osp.abspath(stems[stem]) != osp.abspath(img):
            raise ToolError(
                f'{stems[stem]} and {img} would both be written as '
                f'{stem}_*_attention.png; give images distinct names')
        stems[stem] = img
    if osp.exists(args.out_dir) and not osp.isdir(args.out_dir):
        raise ToolError(f'--out-dir {args.out_dir} exists and is not a '
                        'folder')
    if args.topk is not None and args.topk < 1:
        raise ToolError(f'--topk must be a positive int, got {args.topk}')
    if not 0.0 <= args.alpha <= 1.0:
        raise ToolError(f'--alpha must be in [0, 1], got {args.alpha}')
    if args.classes_from_tags is not None and not osp.isfile(
            args.classes_from_tags):
        raise ToolError(
            f'--classes-from-tags file not found: {args.classes_from_tags}')


def _device(requested):
    import torch
    if requested is None:
        return 'cuda:0' if torch.cuda.is_available() else 'cpu'
    if requested.startswith('cuda') and not torch.cuda.is_available():
        raise ToolError(f'--device {requested}: CUDA is not available here; '
                        'use --device cpu')
    return requested


def build_model(args):
    """Build the model, without weights, with mmdet's or mmseg's own
    initialiser, chosen by the config's ``default_scope``
    (``mmattn.visualization.build_attention_model``; see
    :func:`load_weights`)."""
    from mmattn.visualization import build_attention_model

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    scope = cfg.get('default_scope')
    _device(args.device)  # an unusable --device fails before the build
    if scope not in ('mmdet', 'mmseg'):
        raise ToolError(f'{args.config}: default_scope must be mmdet '
                        f'(HAR-Net) or mmseg (SAL-Net), got {scope!r}')
    return build_attention_model(cfg)


def load_weights(model, args):
    """Load the checkpoint strictly (one of another model would draw the
    attention of an untrained network; ``load_checkpoint_strict`` through
    ``mmattn.visualization.load_attention_checkpoint``) and move the model
    to the device."""
    from mmattn.utils import CheckpointError
    from mmattn.visualization import load_attention_checkpoint

    device = _device(args.device)
    try:
        return load_attention_checkpoint(
            model, args.checkpoint, config=args.config, device=device)
    except CheckpointError as err:
        raise ToolError(str(err)) from err


def load_tags(path: str, num_classes: int) -> dict:
    """``cls_labels.npy``: image id -> ``(K,)`` 0/1 tags, ``K`` being the
    model's number of foreground classes."""
    from mmattn.segmentation.tag_file import read_tags
    try:
        return read_tags(path, num_classes)
    except (FileNotFoundError, ValueError) as err:
        raise ToolError(str(err)) from err


def tags_per_image(tags: dict, imgs, tags_path: str) -> list:
    """Each image's tags by its file stem (the image id); None, with a
    warning, for an image the tag file does not list (its picture shows the
    top-k classes)."""
    per_image = []
    for img in imgs:
        stem = osp.splitext(osp.basename(img))[0]
        img_tags = tags.get(stem)
        if img_tags is None:
            warnings.warn(f'{img}: no tags for image id {stem!r} in '
                          f'{tags_path}; showing the top-k classes')
        per_image.append(img_tags)
    return per_image


def main(argv=None) -> int:
    args = parse_args(argv)
    paths_out = sys.stdout
    try:
        # stdout carries the written paths only (callers read them); the
        # libraries' logs go to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            out_files = run(args)
    except ToolError as err:
        raise SystemExit(f'visualize_attention.py: error: {err}')
    for out_file in out_files:
        print(out_file, file=paths_out)
    return 0


def run(args) -> list:
    """Write the pictures; return their paths."""
    _check_inputs(args)
    from mmengine.utils import ProgressBar

    from mmattn.visualization import (CLASS, NoAttentionError, attention_kind,
                                      output_name, render_attention)

    model = build_model(args)
    try:
        kind = attention_kind(model)
    except NoAttentionError as err:
        raise ToolError(f'{args.config}: {err}') from err
    model = load_weights(model, args)

    out_files = [
        osp.join(args.out_dir, output_name(img, kind)) for img in args.imgs
    ]
    existing = [f for f in out_files if osp.exists(f)]
    if existing and not args.overwrite:
        raise ToolError(
            f'would overwrite {", ".join(existing)}; pass --overwrite or '
            'choose another --out-dir')

    img_tags = None
    if kind == CLASS:
        if args.classes_from_tags is not None:
            num_classes = model.decode_head.cls_branch.num_classes
            img_tags = tags_per_image(
                load_tags(args.classes_from_tags, num_classes), args.imgs,
                args.classes_from_tags)
    elif args.classes_from_tags is not None or args.topk is not None:
        warnings.warn('--classes-from-tags and --topk choose SAL-Net class '
                      'panels; a HAR-Net picture shows every pyramid level')

    progress = ProgressBar(len(args.imgs), file=sys.stderr) \
        if len(args.imgs) > 1 else None
    pictures = render_attention(
        model,
        args.imgs,
        args.out_dir,
        tags=img_tags,
        topk=args.topk,
        alpha=args.alpha,
        progress=None if progress is None else lambda _: progress.update())
    if progress is not None:
        sys.stderr.write('\n')
    return [picture.out_file for picture in pictures]


if __name__ == '__main__':
    sys.exit(main())
