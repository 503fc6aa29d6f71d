# Copyright (c) mmattn contributors. All rights reserved.
"""Training-set synthesis for the mask-scoring network (SAL Sec. III-B.2,
Fig. 5).

From images with proxy masks ``B`` and reference masks ``H``:

1. positives: images whose proxy has ``AC >= positive_thr`` (0.8);
2. negatives: images with ``AC <= negative_thr`` (0.3);
3. the range in between: good masks (``AC >= positive_thr``) eroded or
   erased until their ``AC`` (against the same reference) falls in
   ``(negative_thr, positive_thr)``;
4. cut-paste [46]: the foreground of a mask with ``AC >= paste_source_thr``
   (0.9) pasted onto the background of another image whose proxy has
   ``AC >= paste_host_thr`` (0.3); mask and reference are composited the
   same way.

Class-aware synthesis (``class_aware=True``, an mmattn extension for a
class-aware scorer): masks are written as label maps (VOC palette PNGs of
class indices) instead of binary masks, degradations and cut-paste keep
each pixel's class (a dilated pixel takes its nearest object's class), and

5. relabel: one whole object (a connected region of one class) of a
   positive takes another class among those the proxies use. Its target
   is the positive's ``AC`` times the share of the foreground whose class
   was kept (:func:`relabel_target`): the binary reference cannot see a
   class error, so without these samples a scorer learns nothing about
   classes.

Regression target (Eq. 6): the paper trains on ``AC`` *against the
reference mask* ("the corresponding AC is calculated via comparing with the
original reference masks"; "the score AC predicted by the coarse selection
or sample augmentation strategy is treated as the ground truth"), because
ground truth does not exist in weak supervision. That is ``target=
'reference'`` (the default). ``target='gt'`` uses ``AC`` against ground
truth instead, for studies on data that has it; the selection thresholds
still use the reference ``AC`` either way, as in the paper. Both values are
recorded when ground truth is given.

Everything is deterministic for a given ``seed`` and input order (inputs
are sorted by id).
"""
import json
import os
import os.path as osp
import shutil
from dataclasses import asdict, dataclass
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmengine.utils import ProgressBar
from scipy import ndimage

from .coarse_scores import (PAPER_OBJECTNESS_WEIGHT, accuracy_score,
                            binary_foreground, class_aware_accuracy_score)
from .mask_io import load_scoring_inputs

__all__ = ['SynthesisConfig', 'ScoringSample', 'synthesize_scoring_set',
           'erode_mask', 'dilate_mask', 'erase_mask', 'paste_object',
           'relabel_object', 'relabel_target', 'labels_within']

_OPS = ('erode', 'erase', 'dilate')


class SynthesisConfig:
    """Thresholds and sizes of the synthesis; defaults from the paper.

    Args:
        positive_thr: ``AC >=`` this makes a positive (0.8).
        negative_thr: ``AC <=`` this makes a negative (0.3).
        paste_source_thr: Objects are cut from masks with ``AC >=`` this
            (0.9).
        paste_host_thr: Pasted onto images with ``AC >=`` this (0.3).
        intermediate_ratio: Intermediate samples per positive (paper: 3k
            for 4k positives = 0.75).
        paste_ratio: Cut-paste samples per positive (paper: 2k for 4k =
            0.5).
        ops: Degradations for the intermediate range; the paper's are
            ``('erode', 'erase')``. ``'dilate'`` (over-segmentation) is an
            extension, off by default.
        max_tries: Attempts per intermediate sample before giving up.
        target: ``'reference'`` (paper) or ``'gt'`` (needs ground truth).
        b: Objectness weight of ``AC`` (Eq. 3).
        val_fraction: Fraction of *source images* whose samples go to the
            validation file (no image is in both files).
        all_proxies: Also keep every proxy between the two thresholds as a
            sample (kind ``'proxy'``) with its reference AC as target, so
            the scorer sees the data's own failure modes (missed objects,
            spurious blobs), not only the paper's extremes and erosions.
            An mmattn extension, off by default (the paper's set).
        class_aware: Write label-map masks for a class-aware scorer and
            add relabelled samples (see the module docstring). An mmattn
            extension, off by default (the paper's binary scorer).
        relabel_ratio: Relabelled samples per positive; ``None`` means 0.5
            with ``class_aware`` and 0 without (it needs ``class_aware``).
    """

    def __init__(self,
                 positive_thr: float = 0.8,
                 negative_thr: float = 0.3,
                 paste_source_thr: float = 0.9,
                 paste_host_thr: float = 0.3,
                 intermediate_ratio: float = 0.75,
                 paste_ratio: float = 0.5,
                 ops: Sequence[str] = ('erode', 'erase'),
                 max_tries: int = 4,
                 target: str = 'reference',
                 b: float = PAPER_OBJECTNESS_WEIGHT,
                 val_fraction: float = 0.0,
                 all_proxies: bool = False,
                 class_aware: bool = False,
                 relabel_ratio: Optional[float] = None) -> None:
        for name, value in (('positive_thr', positive_thr),
                            ('negative_thr', negative_thr),
                            ('paste_source_thr', paste_source_thr),
                            ('paste_host_thr', paste_host_thr)):
            if not 0 <= value <= 1:
                raise ValueError(f'{name} must be in [0, 1], got {value}')
        if not negative_thr < positive_thr:
            raise ValueError(f'negative_thr ({negative_thr}) must be below '
                             f'positive_thr ({positive_thr})')
        if intermediate_ratio < 0 or paste_ratio < 0:
            raise ValueError('intermediate_ratio and paste_ratio must be >= '
                             f'0, got {intermediate_ratio}, {paste_ratio}')
        bad = [op for op in ops if op not in _OPS]
        if bad or not ops:
            raise ValueError(f'ops must be a non-empty subset of {_OPS}, '
                             f'got {list(ops)}')
        if target not in ('reference', 'gt'):
            raise ValueError(
                f"target must be 'reference' or 'gt', got {target!r}")
        if not 0 <= val_fraction < 1:
            raise ValueError(
                f'val_fraction must be in [0, 1), got {val_fraction}')
        self.positive_thr = positive_thr
        self.negative_thr = negative_thr
        self.paste_source_thr = paste_source_thr
        self.paste_host_thr = paste_host_thr
        self.intermediate_ratio = intermediate_ratio
        self.paste_ratio = paste_ratio
        self.ops = tuple(ops)
        self.max_tries = int(max_tries)
        self.target = target
        self.b = b
        if relabel_ratio is None:
            relabel_ratio = 0.5 if class_aware else 0.0
        if relabel_ratio < 0:
            raise ValueError(
                f'relabel_ratio must be >= 0, got {relabel_ratio}')
        if relabel_ratio > 0 and not class_aware:
            raise ValueError('relabel_ratio > 0 needs class_aware=True: a '
                             'binary mask cannot show a relabelled object')
        self.val_fraction = val_fraction
        self.all_proxies = bool(all_proxies)
        self.class_aware = bool(class_aware)
        self.relabel_ratio = float(relabel_ratio)

    def to_dict(self) -> dict:
        return dict(vars(self))


def erode_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary erosion by a ``(2 radius + 1)`` square."""
    if radius <= 0:
        return mask.copy()
    return ndimage.binary_erosion(
        mask, structure=np.ones((3, 3), bool), iterations=radius)


def dilate_mask(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by a ``(2 radius + 1)`` square."""
    if radius <= 0:
        return mask.copy()
    return ndimage.binary_dilation(
        mask, structure=np.ones((3, 3), bool), iterations=radius)


def erase_mask(mask: np.ndarray, center: Tuple[int, int],
               radius: float) -> np.ndarray:
    """``mask`` with a disc of ``radius`` around ``center`` (y, x)
    removed."""
    yy, xx = np.ogrid[:mask.shape[0], :mask.shape[1]]
    disc = (yy - center[0])**2 + (xx - center[1])**2 <= radius**2
    return mask & ~disc


def paste_object(host_img: np.ndarray, host_masks: Sequence[np.ndarray],
                 src_img: np.ndarray, src_masks: Sequence[np.ndarray],
                 obj: np.ndarray, offset: Tuple[int, int]):
    """Paste the ``obj`` pixels of the source (cropped to ``obj``'s bounding
    box) into the host at ``offset`` (y, x of the box's top-left corner).

    ``host_masks[k]`` and ``src_masks[k]`` are composited the same way: the
    pasted region takes the source's value, the rest keeps the host's.

    Returns:
        ``(image, [masks...], pasted)``, ``pasted`` the bool region.
    """
    ys, xs = np.nonzero(obj)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    h, w = y1 - y0, x1 - x0
    oy, ox = offset
    if oy < 0 or ox < 0 or oy + h > host_img.shape[0] or \
            ox + w > host_img.shape[1]:
        raise ValueError(f'object box {(h, w)} at {offset} does not fit a '
                         f'host of size {host_img.shape[:2]}')
    pasted = np.zeros(host_img.shape[:2], bool)
    pasted[oy:oy + h, ox:ox + w] = obj[y0:y1, x0:x1]
    image = host_img.copy()
    image[pasted] = src_img[y0:y1, x0:x1][obj[y0:y1, x0:x1]]
    masks = []
    for host_mask, src_mask in zip(host_masks, src_masks):
        out = host_mask.copy()
        out[pasted] = src_mask[y0:y1, x0:x1][obj[y0:y1, x0:x1]]
        masks.append(out)
    return image, masks, pasted


def labels_within(mask: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The classes of ``labels`` on a degraded binary ``mask``.

    Pixels of ``mask`` that were foreground in ``labels`` keep their class;
    new ones (dilation) take the class of the nearest foreground pixel of
    ``labels``; everything else is background.

    Args:
        mask: bool ``(H, W)``, the degraded foreground.
        labels: uint8 ``(H, W)`` class indices it was degraded from, with
            some foreground.

    Returns:
        uint8 ``(H, W)``.
    """
    foreground = labels > 0
    out = np.where(mask & foreground, labels, 0).astype(np.uint8)
    grown = mask & ~foreground
    if grown.any():
        _, (iy, ix) = ndimage.distance_transform_edt(
            ~foreground, return_indices=True)
        out[grown] = labels[iy[grown], ix[grown]]
    return out


def relabel_object(rng: np.random.Generator, labels: np.ndarray,
                   classes: Sequence[int]) -> Optional[Tuple[np.ndarray, int]]:
    """Give one whole object of ``labels`` another class.

    An object is a connected region (8-neighbourhood) of one class; it is
    drawn uniformly among the map's objects, and its new class uniformly
    among the other ``classes``.

    Args:
        rng: Random source.
        labels: uint8 ``(H, W)`` class indices (0 background).
        classes: Foreground classes to relabel to; the synthesis passes the
            classes its proxies use, so the confusions are between classes
            of the data (a class no image has would teach little).

    Returns:
        ``(relabelled map, changed pixels)``, or ``None`` when there is no
        object or no other class.
    """
    objects = []
    for cls in np.unique(labels[labels > 0]):
        regions, count = ndimage.label(labels == cls,
                                       structure=np.ones((3, 3), bool))
        objects += [(int(cls), regions == k) for k in range(1, count + 1)]
    if not objects:
        return None
    cls, region = objects[int(rng.integers(len(objects)))]
    others = [int(c) for c in classes if c != cls]
    if not others:
        return None
    out = labels.copy()
    out[region] = others[int(rng.integers(len(others)))]
    return out, int(region.sum())


def relabel_target(ac: float, changed: int, foreground: int) -> float:
    """Target of a relabelled sample: ``AC`` of its (unchanged) foreground
    times the share of the foreground whose class was kept,
    ``ac * (1 - changed / foreground)``.

    Example: a positive with ``AC = 0.9`` and two objects of 30 and 10
    pixels; relabelling the 10-pixel one gives ``0.9 * 30 / 40 = 0.675``,
    relabelling an image's only object gives 0.
    """
    if foreground <= 0 or not 0 <= changed <= foreground:
        raise ValueError(f'need 0 <= changed ({changed}) <= foreground '
                         f'({foreground}) and foreground > 0')
    return float(ac) * (1.0 - changed / foreground)


@dataclass
class ScoringSample:
    """One synthesised training pair of the mask scorer: an entry of
    ``train.json``/``val.json`` (``MaskScoringDataset``'s ``data_list``).

    Attributes:
        sample_id (str): Unique id; also the mask's file name.
        img_path (str): Image, relative to the synthesis folder.
        mask_path (str): Binary mask (0/255 PNG), or with ``class_aware``
            a label map (palette PNG of class indices), relative to the
            folder.
        gt_score (float): The regression target (Eq. 6): ``score_reference``
            or ``score_gt``, as ``SynthesisConfig.target`` says.
        kind (str): ``positive``, ``negative``, ``proxy``, a degradation
            (``erode``, ``erase``, ``dilate``), ``paste`` or ``relabel``.
        score_reference (float): AC of the mask against the reference
            (for ``relabel``, :func:`relabel_target` of it).
        score_gt (float, optional): AC against the ground truth, when given
            (class-aware, :func:`class_aware_accuracy_score`, with
            ``class_aware``).
        source_ids (list[str]): The input image(s) it was made from; the
            first decides its split.
        agreement (float, optional): With ``class_aware``: the share of the
            foreground whose class is the source proxy's (1, or the kept
            share of a relabelled sample), the class head's own target
            (``MaskScoringNet``'s ``agreement_loss_weight``).
    """
    sample_id: str
    img_path: str
    mask_path: str
    gt_score: float
    kind: str
    score_reference: float
    score_gt: Optional[float]
    source_ids: List[str]
    agreement: Optional[float] = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _SourceData:
    """The arrays of one input image: BGR ``image`` ``(H, W, 3)``, the
    proxy's ``labels`` (uint8 class indices, ignored pixels as background),
    the binary ``reference`` and the ground truth label map ``gt`` (ignore
    kept) when given; all ``(H, W)``."""
    image: np.ndarray
    img_path: str
    labels: np.ndarray
    reference: np.ndarray
    gt: Optional[np.ndarray] = None

    @property
    def mask(self) -> np.ndarray:
        """The proxy's binary foreground."""
        return self.labels > 0


class _Source:
    """One input image, loaded on demand (the whole set never sits in
    memory at once)."""

    def __init__(self, image_id: str, dirs: dict, kwargs: dict) -> None:
        self.image_id = image_id
        self.dirs = dirs
        self.kwargs = kwargs
        self.ac_reference = None
        self.ac_gt = None

    def load(self) -> _SourceData:
        data = load_scoring_inputs(self.image_id, self.dirs['proxy'],
                                   self.dirs['ref'], self.dirs['img'],
                                   self.dirs.get('gt'), **self.kwargs)
        ignore = self.kwargs.get('ignore_index', 255)
        proxy = data['proxy']
        labels = np.where(binary_foreground(proxy, ignore), proxy, 0)
        return _SourceData(
            image=data['image'], img_path=data['img_path'],
            labels=labels.astype(np.uint8), reference=data['reference'],
            gt=data['gt'])


class _Writer:
    """Writes masks (and changed images) and collects the sample list."""

    def __init__(self, out_dir: str, cfg: SynthesisConfig) -> None:
        self.out_dir = out_dir
        self.cfg = cfg
        self.samples: List[ScoringSample] = []
        os.makedirs(osp.join(out_dir, 'masks'), exist_ok=True)
        os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)

    def add(self, sample_id: str, kind: str, labels: np.ndarray,
            img_path: Optional[str], image: Optional[np.ndarray],
            score_reference: float, score_gt: Optional[float],
            source_ids: Sequence[str], agreement: float = 1.0) -> None:
        """Write the mask of ``labels`` (uint8 class indices): the label
        map itself when class-aware, else its binary foreground."""
        mask_rel = osp.join('masks', f'{sample_id}.png')
        if self.cfg.class_aware:
            from mmattn.synthetic.seg import write_label_png
            write_label_png(osp.join(self.out_dir, mask_rel), labels)
        else:
            mmcv.imwrite((labels > 0).astype(np.uint8) * 255,
                         osp.join(self.out_dir, mask_rel))
        if image is not None:
            # PNG: a pasted image must not pick up JPEG artefacts that the
            # objectness term would see but the recorded score did not.
            img_rel = osp.join('images', f'{sample_id}.png')
            mmcv.imwrite(image, osp.join(self.out_dir, img_rel))
        else:
            # Unchanged images are referenced, not copied, relative to the
            # output folder so the pair of folders can move together.
            img_rel = osp.relpath(osp.abspath(img_path),
                                  osp.abspath(self.out_dir))
        target = score_reference if self.cfg.target == 'reference' \
            else score_gt
        self.samples.append(
            ScoringSample(
                sample_id=sample_id, img_path=img_rel, mask_path=mask_rel,
                gt_score=float(target), kind=kind,
                score_reference=float(score_reference),
                score_gt=None if score_gt is None else float(score_gt),
                source_ids=list(source_ids),
                agreement=float(agreement) if self.cfg.class_aware else None))


def _scores(cfg: SynthesisConfig, labels, reference, image, gt,
            ignore_index):
    """AC of ``labels``' foreground against the reference, and against the
    ground truth ``gt`` when given (class-aware with ``cfg.class_aware``).
    """
    ac_ref = float(accuracy_score(labels > 0, reference, image, cfg.b))
    ac_gt = None
    if gt is not None and cfg.class_aware:
        ac_gt = float(
            class_aware_accuracy_score(labels, gt, image, cfg.b,
                                       ignore_index))
    elif gt is not None:
        ac_gt = float(
            accuracy_score(labels > 0, binary_foreground(gt, ignore_index),
                           image, cfg.b, valid=gt != ignore_index))
    return ac_ref, ac_gt


def _degrade(cfg: SynthesisConfig, rng: np.random.Generator,
             data: _SourceData, op: str, level: float):
    """Degrade ``data.mask`` step by step until its reference AC drops to
    ``level`` (dilation: until it drops at all below ``level``); return the
    first mask strictly inside the intermediate range, or ``None``."""
    mask = data.mask
    ys, xs = np.nonzero(mask)
    center = (int(ys[rng.integers(len(ys))]), int(xs[rng.integers(len(xs))]))
    new = mask
    for step in range(1, max(mask.shape) + 1):
        # One pixel of erosion/dilation per step, applied to the previous
        # step's mask; erasing grows the disc by 2 pixels per step.
        if op == 'erode':
            new = erode_mask(new, 1)
        elif op == 'dilate':
            new = dilate_mask(new, 1)
        else:
            new = erase_mask(mask, center, 2 * step)
        if not new.any() or (op == 'dilate' and new.all()):
            return None
        ac = float(accuracy_score(new, data.reference, data.image, cfg.b))
        if ac <= level:
            if cfg.negative_thr < ac < cfg.positive_thr:
                return new
            return None
    return None


def _paste_offset(rng, host_shape, box, avoid: np.ndarray, tries: int = 8):
    """Pick the top-left corner among ``tries`` random ones whose box
    overlaps ``avoid`` (host foreground) least: paste onto background."""
    h, w = box
    best, best_overlap = None, None
    for _ in range(tries):
        oy = int(rng.integers(0, host_shape[0] - h + 1))
        ox = int(rng.integers(0, host_shape[1] - w + 1))
        overlap = int(avoid[oy:oy + h, ox:ox + w].sum())
        if best is None or overlap < best_overlap:
            best, best_overlap = (oy, ox), overlap
    return best


def _split(ids: Sequence[str], val_fraction: float, rng) -> set:
    n_val = int(round(len(ids) * val_fraction))
    return set(rng.permutation(list(ids))[:n_val].tolist()) if n_val else set()


def synthesize_scoring_set(out_dir: str,
                           proxy_dir: str,
                           ref_dir: str,
                           img_dir: str,
                           image_ids: Optional[Sequence[str]] = None,
                           gt_dir: Optional[str] = None,
                           cfg: Optional[SynthesisConfig] = None,
                           seed: int = 0,
                           num_classes: int = 21,
                           ignore_index: int = 255,
                           ref_threshold: int = 128,
                           overwrite: bool = False,
                           show_progress: bool = True) -> dict:
    """Build the mask-scoring training set and write it to ``out_dir``.

    Layout written::

        out_dir/masks/<sample_id>.png     binary masks, 0 / 255
        out_dir/images/<sample_id>.png    cut-paste composites only
        out_dir/train.json, val.json      MaskScoringDataset annotations
        out_dir/summary.json              counts, thresholds, seed

    Unchanged images are referenced by a path relative to ``out_dir``.

    Args:
        out_dir: Output folder (must not hold a ``train.json`` unless
            ``overwrite``).
        proxy_dir: Proxy label maps ``<id>.png`` (VOC palette PNGs).
        ref_dir: Reference masks ``<id>.png`` (0..255, binarised at
            ``ref_threshold``).
        img_dir: Images ``<id>.jpg`` (or .png).
        image_ids: Ids to use; default every ``.png`` in ``proxy_dir``.
        gt_dir: Optional ground truth label maps (needed for
            ``cfg.target='gt'``; recorded as ``score_gt`` otherwise).
        cfg: :class:`SynthesisConfig`; paper defaults if ``None``.
        seed: Random seed; the output is a function of inputs and seed.
        num_classes, ignore_index: The label set of the maps.
        ref_threshold: Binarisation threshold of the reference maps.
        overwrite: Replace an existing synthesis in ``out_dir``.
        show_progress: Show mmengine progress bars.

    Returns:
        dict: the summary also written to ``summary.json``.
    """
    cfg = cfg or SynthesisConfig()
    if cfg.target == 'gt' and gt_dir is None:
        raise ValueError("target='gt' needs gt_dir (ground truth masks)")
    ann_train = osp.join(out_dir, 'train.json')
    if osp.exists(ann_train) and not overwrite:
        raise FileExistsError(f'{ann_train} already exists; pass '
                              'overwrite=True (--overwrite) to synthesise '
                              'again')
    if overwrite:
        for sub in ('masks', 'images'):
            shutil.rmtree(osp.join(out_dir, sub), ignore_errors=True)
    if image_ids is None:
        if not osp.isdir(proxy_dir):
            raise FileNotFoundError(f'proxy folder not found: {proxy_dir}')
        image_ids = [
            osp.splitext(f)[0] for f in os.listdir(proxy_dir)
            if f.endswith('.png')
        ]
    image_ids = sorted(set(image_ids))
    if not image_ids:
        raise ValueError(f'no proxy masks to synthesise from in {proxy_dir}')
    rng = np.random.default_rng(seed)
    dirs = dict(proxy=proxy_dir, ref=ref_dir, img=img_dir, gt=gt_dir)
    load_kwargs = dict(num_classes=num_classes, ignore_index=ignore_index,
                       ref_threshold=ref_threshold)
    sources = [_Source(i, dirs, load_kwargs) for i in image_ids]

    # Pass 1: the reference AC of every proxy decides its role.
    bar = ProgressBar(len(sources)) if show_progress else None
    proxy_classes = set()
    for src in sources:
        data = src.load()
        proxy_classes.update(np.unique(data.labels[data.labels > 0]).tolist())
        src.ac_reference, src.ac_gt = _scores(cfg, data.labels,
                                              data.reference, data.image,
                                              data.gt, ignore_index)
        if bar:
            bar.update()
    positives = [s for s in sources if s.ac_reference >= cfg.positive_thr]
    negatives = [s for s in sources if s.ac_reference <= cfg.negative_thr]
    paste_sources = [
        s for s in sources if s.ac_reference >= cfg.paste_source_thr
    ]
    hosts = [s for s in sources if s.ac_reference >= cfg.paste_host_thr]

    val_ids = _split(image_ids, cfg.val_fraction, rng)
    writer = _Writer(out_dir, cfg)
    real = sources if cfg.all_proxies else positives + negatives
    for src in real:
        kind = 'positive' if src.ac_reference >= cfg.positive_thr \
            else 'negative' if src.ac_reference <= cfg.negative_thr \
            else 'proxy'
        data = src.load()
        writer.add(f'{src.image_id}_{kind}', kind, data.labels,
                   data.img_path, None, src.ac_reference, src.ac_gt,
                   [src.image_id])

    # Pass 2: fill (negative_thr, positive_thr) by degrading good masks.
    n_intermediate = int(round(cfg.intermediate_ratio * len(positives)))
    made = 0
    for k in range(n_intermediate * cfg.max_tries):
        if made >= n_intermediate or not positives:
            break
        src = positives[k % len(positives)]
        data = src.load()
        if not data.mask.any():
            continue
        op = cfg.ops[int(rng.integers(len(cfg.ops)))]
        level = float(rng.uniform(cfg.negative_thr, cfg.positive_thr))
        new = _degrade(cfg, rng, data, op, level)
        if new is None:
            continue
        new = labels_within(new, data.labels)
        ac_ref, ac_gt = _scores(cfg, new, data.reference, data.image,
                                data.gt, ignore_index)
        writer.add(f'{src.image_id}_{op}_{made}', op, new, data.img_path,
                   None, ac_ref, ac_gt, [src.image_id])
        made += 1

    # Pass 3: cut-paste good objects onto other images' backgrounds.
    n_paste = int(round(cfg.paste_ratio * len(positives)))
    pasted = 0
    for k in range(n_paste * cfg.max_tries):
        if pasted >= n_paste or not paste_sources or len(hosts) < 2:
            break
        src = paste_sources[int(rng.integers(len(paste_sources)))]
        host = hosts[int(rng.integers(len(hosts)))]
        # Keep the split clean: never composite a val and a train image.
        if host.image_id == src.image_id or \
                (host.image_id in val_ids) != (src.image_id in val_ids):
            continue
        s, h = src.load(), host.load()
        if not s.mask.any():
            continue
        ys, xs = np.nonzero(s.mask)
        box = (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
        if box[0] > h.image.shape[0] or box[1] > h.image.shape[1]:
            continue
        offset = _paste_offset(rng, h.image.shape[:2], box,
                               h.mask | h.reference)
        has_gt = h.gt is not None
        host_masks = [h.labels, h.reference] + ([h.gt] if has_gt else [])
        src_masks = [s.labels, s.reference] + ([s.gt] if has_gt else [])
        image, masks, _ = paste_object(h.image, host_masks, s.image,
                                       src_masks, s.mask, offset)
        ac_ref, ac_gt = _scores(cfg, masks[0], masks[1], image,
                                masks[2] if has_gt else None, ignore_index)
        writer.add(f'{host.image_id}_paste_{src.image_id}_{pasted}', 'paste',
                   masks[0], None, image, ac_ref, ac_gt,
                   [host.image_id, src.image_id])
        pasted += 1

    # Pass 4 (class-aware): whole objects of positives in another class.
    n_relabel = int(round(cfg.relabel_ratio * len(positives)))
    relabelled = 0
    for k in range(n_relabel * cfg.max_tries):
        if relabelled >= n_relabel or not positives:
            break
        src = positives[int(rng.integers(len(positives)))]
        data = src.load()
        changed = relabel_object(rng, data.labels, sorted(proxy_classes))
        if changed is None:
            continue
        new, pixels = changed
        foreground = int(data.mask.sum())
        ac_ref = relabel_target(src.ac_reference, pixels, foreground)
        kept = 1.0 - pixels / foreground
        _, ac_gt = _scores(cfg, new, data.reference, data.image, data.gt,
                           ignore_index)
        writer.add(f'{src.image_id}_relabel_{relabelled}', 'relabel', new,
                   data.img_path, None, ac_ref, ac_gt, [src.image_id],
                   agreement=kept)
        relabelled += 1

    train = [
        s.to_dict() for s in writer.samples if s.source_ids[0] not in val_ids
    ]
    val = [s.to_dict() for s in writer.samples if s.source_ids[0] in val_ids]
    metainfo = dict(task='mask_scoring', target=cfg.target, seed=seed,
                    config=cfg.to_dict())
    for name, items in (('train', train), ('val', val)):
        with open(osp.join(out_dir, f'{name}.json'), 'w') as f:
            json.dump(dict(metainfo=metainfo, data_list=items), f, indent=1)
    kinds = {}
    for s in writer.samples:
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    summary = dict(
        num_sources=len(sources), num_positive_sources=len(positives),
        num_negative_sources=len(negatives),
        num_paste_sources=len(paste_sources), num_samples=len(
            writer.samples), num_train=len(train), num_val=len(val),
        kinds=kinds, seed=seed, config=cfg.to_dict(),
        source_scores={
            s.image_id: dict(AC=s.ac_reference, AC_gt=s.ac_gt)
            for s in sources
        })
    with open(osp.join(out_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    return summary
