# Copyright (c) mmattn contributors. All rights reserved.
"""Everything the SAL pipeline reads, resolved and checked before any long
compute: the folder (images, proxy masks, reference masks, tags, ground
truth, split files), the scorer checkpoint against its config, and the
retraining config."""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from PIL import Image

from mmattn.segmentation.datasets.folder_check import check_weak_seg_folder
from mmattn.segmentation.mask_scoring.mask_io import read_id_list
from .stages import stat_fingerprint

__all__ = [
    'PipelineInputError', 'PipelineInputs', 'resolve_inputs',
    'check_reference_masks', 'check_inputs', 'input_fingerprints',
    'WEAK_DATASETS'
]

#: Training dataset types the pipeline retrains (they read the score file).
WEAK_DATASETS = ('WeakVOCDataset', 'WeakSegDataset')
_SINGLE_CHANNEL = ('P', 'L', 'I', 'I;16', '1')


class PipelineInputError(ValueError):
    """Bad input found before any compute; the message lists every problem
    (``<file>: <problem>`` lines)."""


@dataclass
class PipelineInputs:
    """The user's folder, resolved to absolute paths.

    Attributes:
        data_root (str): The folder.
        img_dir, proxy_dir, ref_dir (str): Images, proxy masks, references.
        gt_dir (str | None): Ground truth (val split), None if absent.
        tag_file (str): ``cls_labels.npy``.
        train_split (str): Training ids.
        val_split (str | None): Val ids, None if the file is absent.
        img_suffix (str): Image file suffix.
        train_ids (tuple[str]): The training ids.
        val_ids (tuple[str]): The val ids (empty without a val split).
        val_has_proxies (bool): Every val id has a proxy mask and a
            reference mask (needed by ``--tau-rule val-proxy``).
    """
    data_root: str
    img_dir: str
    proxy_dir: str
    ref_dir: str
    gt_dir: Optional[str]
    tag_file: str
    train_split: str
    val_split: Optional[str]
    img_suffix: str
    train_ids: Tuple[str, ...]
    val_ids: Tuple[str, ...]
    val_has_proxies: bool

    @property
    def has_val(self) -> bool:
        """A val split with ground truth to evaluate on."""
        return bool(self.val_ids) and self.gt_dir is not None


def _under(root: str, path: str) -> str:
    return osp.abspath(osp.join(root, path))


def resolve_inputs(data_root: str,
                   img_dir: str = 'JPEGImages',
                   proxy_dir: str = 'SegmentationClassProxy',
                   ref_dir: str = 'SaliencyRef',
                   gt_dir: str = 'SegmentationClass',
                   tag_file: str = 'cls_labels.npy',
                   train_split: str = 'ImageSets/Segmentation/train.txt',
                   val_split: str = 'ImageSets/Segmentation/val.txt',
                   img_suffix: str = '.jpg') -> PipelineInputs:
    """Resolve the folder's paths (relative ones are joined with
    ``data_root``) and read the split files.

    The val split is optional: without its file there is no evaluation.

    Raises:
        PipelineInputError: The folder or the training split is missing or
            empty, or the val split's ground truth folder is missing.
    """
    if not osp.isdir(data_root):
        raise PipelineInputError(f'{data_root}: data folder not found')
    root = osp.abspath(data_root)
    train_path = _under(root, train_split)
    try:
        train_ids = read_id_list(train_path)
    except (FileNotFoundError, ValueError) as err:
        raise PipelineInputError(str(err)) from err
    val_path = _under(root, val_split) if val_split else None
    val_ids: Tuple[str, ...] = ()
    if val_path is not None and osp.isfile(val_path):
        try:
            val_ids = read_id_list(val_path)
        except ValueError as err:
            raise PipelineInputError(str(err)) from err
    else:
        val_path = None
    gt_path = _under(root, gt_dir) if gt_dir else None
    if val_ids and (gt_path is None or not osp.isdir(gt_path)):
        raise PipelineInputError(
            f'{val_path} lists {len(val_ids)} val image(s) but the ground '
            f'truth folder {gt_path} does not exist (--gt-dir)')
    proxy_path, ref_path = _under(root, proxy_dir), _under(root, ref_dir)
    val_has_proxies = bool(val_ids) and all(
        osp.isfile(osp.join(proxy_path, i + '.png'))
        and osp.isfile(osp.join(ref_path, i + '.png')) for i in val_ids)
    return PipelineInputs(
        data_root=root,
        img_dir=_under(root, img_dir),
        proxy_dir=proxy_path,
        ref_dir=ref_path,
        gt_dir=gt_path if val_ids else None,
        tag_file=_under(root, tag_file),
        train_split=train_path,
        val_split=val_path,
        img_suffix=img_suffix,
        train_ids=train_ids,
        val_ids=val_ids,
        val_has_proxies=val_has_proxies)


def check_reference_masks(ids, ref_dir: str, img_dir: str,
                          img_suffix: str) -> List[str]:
    """Every id's reference mask exists, is a single-channel PNG and has its
    image's size (headers only; the images themselves are checked by
    :func:`check_weak_seg_folder`).

    Returns:
        list[str]: ``<file>: <problem>`` lines.
    """
    problems = []
    for image_id in ids:
        path = osp.join(ref_dir, image_id + '.png')
        if not osp.isfile(path):
            problems.append(f'{path}: reference mask not found (image '
                            f'{image_id!r})')
            continue
        try:
            with Image.open(path) as im:
                mode, size = im.mode, im.size
        except (OSError, SyntaxError) as err:
            problems.append(f'{path}: cannot decode the reference mask '
                            f'({err})')
            continue
        if mode not in _SINGLE_CHANNEL:
            problems.append(f'{path}: a reference mask must be a '
                            f'single-channel (grey) PNG, got mode {mode!r}')
        img_path = osp.join(img_dir, image_id + img_suffix)
        try:
            with Image.open(img_path) as im:
                img_size = im.size
        except (OSError, SyntaxError):
            continue  # the folder check names a missing or bad image
        if size != img_size:
            problems.append(
                f'{path}: size (h, w) = {(size[1], size[0])} differs from '
                f'{img_path} size {(img_size[1], img_size[0])}')
    return problems


def check_inputs(inputs: PipelineInputs,
                 num_classes: int,
                 ignore_index: int = 255,
                 need_val_proxies: bool = False) -> List[str]:
    """Check the folder as the stages will read it.

    Training split: images, proxy masks (size, single channel, labels in
    ``0 .. num_classes - 1`` or ``ignore_index``), tags (every id, with
    ``num_classes - 1`` 0/1 entries) and reference masks. Val split: images
    and ground truth; with ``need_val_proxies`` also its proxy masks,
    references and tags.

    Args:
        inputs (PipelineInputs): The resolved folder.
        num_classes (int): Classes including the background.
        ignore_index (int): The ignored label.
        need_val_proxies (bool): The val proxies are scored too.

    Returns:
        list[str]: Warnings (problems raise).

    Raises:
        PipelineInputError: Listing every problem found.
    """
    common = dict(img_dir=inputs.img_dir, img_suffix=inputs.img_suffix,
                  num_classes=num_classes, ignore_index=ignore_index)
    problems, warnings = [], []
    report = check_weak_seg_folder(
        inputs.data_root, ann_file=inputs.train_split,
        mask_dir=inputs.proxy_dir, tag_file=inputs.tag_file, **common)
    problems += report.problems
    warnings += report.warnings
    problems += check_reference_masks(inputs.train_ids, inputs.ref_dir,
                                      inputs.img_dir, inputs.img_suffix)
    if inputs.has_val:
        report = check_weak_seg_folder(
            inputs.data_root, ann_file=inputs.val_split,
            mask_dir=inputs.gt_dir, tag_file=None, **common)
        problems += report.problems
        warnings += report.warnings
    if need_val_proxies:
        if not inputs.has_val:
            problems.append(
                'the val-proxy tau rule needs a val split with ground truth '
                f'(none found: {inputs.val_split or "no val split file"})')
        else:
            report = check_weak_seg_folder(
                inputs.data_root, ann_file=inputs.val_split,
                mask_dir=inputs.proxy_dir, tag_file=inputs.tag_file,
                **common)
            problems += report.problems
            problems += check_reference_masks(inputs.val_ids,
                                              inputs.ref_dir, inputs.img_dir,
                                              inputs.img_suffix)
    if problems:
        shown = problems[:30]
        more = len(problems) - len(shown)
        raise PipelineInputError(
            f'{len(problems)} problem(s) in the input folder '
            f'{inputs.data_root}, found before any compute:\n' +
            '\n'.join(f'  {p}' for p in shown) +
            (f'\n  ... and {more} more' if more else ''))
    return warnings


def input_fingerprints(inputs: PipelineInputs,
                       need_val_proxies: bool = False) -> Dict[str, str]:
    """Stat fingerprints (:func:`stat_fingerprint`) of the files each stage
    reads, by group.

    Returns:
        dict: ``train`` (split file, images, proxies, references of the
        training ids), ``tags`` (the tag file), ``val`` (split file, images
        and ground truth of the val ids; ``''`` without), ``val_proxies``
        (their proxies and references; ``''`` unless needed).
    """
    def files(ids, folder, suffix):
        return [osp.join(folder, i + suffix) for i in ids]

    groups = dict(
        train=stat_fingerprint([inputs.train_split] + files(
            inputs.train_ids, inputs.img_dir, inputs.img_suffix) +
                               files(inputs.train_ids, inputs.proxy_dir,
                                     '.png') +
                               files(inputs.train_ids, inputs.ref_dir,
                                     '.png')),
        tags=stat_fingerprint([inputs.tag_file]),
        val='',
        val_proxies='')
    if inputs.has_val:
        groups['val'] = stat_fingerprint([inputs.val_split] + files(
            inputs.val_ids, inputs.img_dir, inputs.img_suffix) +
                                         files(inputs.val_ids, inputs.gt_dir,
                                               '.png'))
        if need_val_proxies:
            groups['val_proxies'] = stat_fingerprint(
                files(inputs.val_ids, inputs.proxy_dir, '.png') +
                files(inputs.val_ids, inputs.ref_dir, '.png'))
    return groups
