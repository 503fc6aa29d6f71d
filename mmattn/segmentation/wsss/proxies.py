# Copyright (c) mmattn contributors. All rights reserved.
"""Proxy masks from class activation maps (CAM): the third stage of weakly
supervised segmentation from tags alone (``docs/wsss_from_tags.md``).

For one image with normalised CAMs ``(K, H, W)`` in ``[0, 1]`` (e.g. the
``cams`` of :class:`MultiLabelCAMClassifier`'s prediction) and its tags:

1. **Background.** A background score map is put in front of the CAMs of
   the tagged classes: a constant ``bg_threshold`` (``'threshold'``), or
   ``(1 - max_k CAM_k) ** bg_alpha`` (``'power'``, the form of PSA/SEAM).
   The argmax of these scores is the *seed* segmentation.
2. **Refinement.** The scores are propagated over the image by
   pixel-adaptive refinement (PAR, :func:`pixel_adaptive_refine`, as in AFA,
   Ru et al. CVPR 2022, and ToCo, CVPR 2023; pure PyTorch; the default), or
   by a dense CRF (``refine='crf'``, only with the optional package
   ``pydensecrf2``), or not at all (``'none'``).
3. **Low confidence.** Each pixel's refined scores are turned into shares
   (each score divided by their sum over the channels); a pixel whose top
   share is below ``ignore_thr`` (``'confidence'``) or whose top two shares
   differ by less than ``ignore_thr`` (``'margin'``, the default) is set to
   ``ignore_index`` (255).

The foreground *reference* of an image is its seed foreground (the pixels
where a tagged class's CAM beats the background score, before refinement).
Written as a grey 0/255 PNG where a saliency map would go (``SaliencyRef/``),
it lets the coarse scores (AC, SC) of mask scoring run without saliency
maps; AC then measures how far refinement and the ignore rule kept the
CAM's own foreground (a self-consistency score, not an independent check).

:func:`make_cam_proxies` runs a classifier over a folder and writes the
proxies (VOC palette PNGs, the ``SegmentationClassProxy/`` layout that
``WeakVOCDataset`` reads) and the references, resumably and without ever
replacing a file it did not write (:class:`ProxyOutputDir`).
"""
import json
import math
import os
import os.path as osp
import re
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mmattn.utils.validation import (check_choice, check_dilations, is_int,
                                     is_real)

__all__ = [
    'BACKGROUND_MODES', 'REFINE_MODES', 'IGNORE_RULES', 'PROXY_MANIFEST',
    'ProxyOptions', 'CamProxy', 'ProxyOutputError', 'ProxyOutputDir',
    'background_score', 'scores_with_background', 'score_shares',
    'par_affinity', 'pixel_adaptive_refine', 'dense_crf_refine',
    'low_confidence', 'cam_to_proxy', 'load_cam_classifier',
    'build_cam_pipeline', 'predict_cams', 'make_cam_proxies'
]

BACKGROUND_MODES = ('threshold', 'power')
REFINE_MODES = ('par', 'crf', 'none')
IGNORE_RULES = ('margin', 'confidence', 'none')
#: The record of what :func:`make_cam_proxies` wrote, in each output folder.
PROXY_MANIFEST = 'mmattn_proxies.json'
_MANIFEST_FORMAT = 'mmattn.wsss.proxies'
#: Temporary files of an interrupted write: ``.<name>.<pid>.tmp.png``.
_TMP_PATTERN = re.compile(r'^\..+\.\d+\.tmp\.png$')
# The 8 directions of a pixel's neighbours, at each dilation.
_DIRECTIONS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0),
               (1, 1))
_CRF_PACKAGE = 'pydensecrf2'


def _import_densecrf():
    """``pydensecrf.densecrf`` (installed by the ``pydensecrf2`` package).

    Raises:
        ImportError: Naming the package, when it is not installed.
    """
    try:
        import pydensecrf.densecrf as dcrf
    except ImportError as err:
        raise ImportError(
            f"refine='crf' needs the optional package {_CRF_PACKAGE} (it "
            'provides the module pydensecrf), which is not installed: '
            f'pip install {_CRF_PACKAGE} (it builds from source), or refine '
            "with 'par' (the default, pure PyTorch)") from err
    return dcrf


def _check_unit(name: str, value) -> float:
    if not is_real(value) or not 0 <= value <= 1:
        raise ValueError(f'{name} must be a number in [0, 1], got {value!r}')
    return float(value)


@dataclass
class ProxyOptions:
    """How CAMs become proxy masks (see the module docstring).

    Attributes:
        background (str): ``'threshold'``: a constant background score
            ``bg_threshold``; ``'power'``: ``(1 - max CAM) ** bg_alpha``.
            Default: ``'threshold'``.
        bg_threshold (float): In ``[0, 1]``. Default: 0.3.
        bg_alpha (float): Positive. ``(1 - m) ** alpha = m`` at
            ``m = 0.38`` (alpha 2), ``0.28`` (4), ``0.18`` (8): a pixel is
            foreground where its top CAM is above that. Default: 4.
        refine (str): ``'par'`` (default), ``'crf'`` (needs
            ``pydensecrf2``) or ``'none'``.
        par_iters (int): PAR propagation steps. Default: 10 (AFA's).
        par_dilations (tuple[int]): Neighbour rings of PAR (8 neighbours
            each). Default: ``(1, 2, 4, 8, 12, 24)`` (AFA's).
        par_color_weight (float): Temperature of the colour (and position)
            affinity, ``w1`` of AFA. Default: 0.3.
        par_pos_weight (float): Weight of the position affinity, ``w2`` of
            AFA. Default: 0.01.
        crf_iters (int): Mean-field steps of the dense CRF. Default: 10.
        ignore (str): ``'margin'`` (default), ``'confidence'`` or
            ``'none'``: the low-confidence rule.
        ignore_thr (float): In ``[0, 1]``. Default: 0.1.
        ignore_index (int): Label of ignored pixels. Default: 255.
    """
    background: str = 'threshold'
    bg_threshold: float = 0.3
    bg_alpha: float = 4.0
    refine: str = 'par'
    par_iters: int = 10
    par_dilations: Tuple[int, ...] = (1, 2, 4, 8, 12, 24)
    par_color_weight: float = 0.3
    par_pos_weight: float = 0.01
    crf_iters: int = 10
    ignore: str = 'margin'
    ignore_thr: float = 0.1
    ignore_index: int = 255

    def __post_init__(self) -> None:
        check_choice('background', self.background, BACKGROUND_MODES)
        check_choice('refine', self.refine, REFINE_MODES)
        check_choice('ignore', self.ignore, IGNORE_RULES)
        self.bg_threshold = _check_unit('bg_threshold', self.bg_threshold)
        self.ignore_thr = _check_unit('ignore_thr', self.ignore_thr)
        for name in ('bg_alpha', 'par_color_weight'):
            value = getattr(self, name)
            if not is_real(value) or not value > 0:
                raise ValueError(
                    f'{name} must be a positive number, got {value!r}')
            setattr(self, name, float(value))
        if not is_real(self.par_pos_weight) or self.par_pos_weight < 0:
            raise ValueError('par_pos_weight must be a number >= 0, got '
                             f'{self.par_pos_weight!r}')
        self.par_pos_weight = float(self.par_pos_weight)
        for name in ('par_iters', 'crf_iters'):
            value = getattr(self, name)
            if not is_int(value) or value < 0:
                raise ValueError(f'{name} must be an int >= 0, got {value!r}')
            setattr(self, name, int(value))
        self.par_dilations = check_dilations(self.par_dilations,
                                             'par_dilations')
        if not is_int(self.ignore_index) or not 0 <= self.ignore_index <= 255:
            raise ValueError('ignore_index must be an int in [0, 255], got '
                             f'{self.ignore_index!r}')
        if self.refine == 'crf':
            _import_densecrf()

    def to_dict(self) -> dict:
        """The options as a JSON-able dict (what a manifest records)."""
        out = asdict(self)
        out['par_dilations'] = list(self.par_dilations)
        return out


@dataclass
class CamProxy:
    """The label maps of one image, all ``(H, W)``.

    Attributes:
        seed (np.ndarray): uint8, the argmax of the background score and the
            tagged CAMs (labels ``0`` and ``k + 1`` for CAM channel ``k``).
        refined (np.ndarray): uint8, the argmax after refinement.
        proxy (np.ndarray): uint8, ``refined`` with low-confidence pixels
            set to ``ignore_index``: the proxy mask.
        reference (np.ndarray): bool, the seed foreground ``seed > 0``.
        ignored (np.ndarray): bool, the pixels set to ``ignore_index``.
    """
    seed: np.ndarray
    refined: np.ndarray
    proxy: np.ndarray
    reference: np.ndarray
    ignored: np.ndarray = field(repr=False)


def background_score(cams: Tensor,
                     mode: str = 'threshold',
                     threshold: float = 0.3,
                     alpha: float = 4.0) -> Tensor:
    """The background score map in front of the CAMs.

    Args:
        cams (Tensor): ``(..., K, H, W)`` in ``[0, 1]``; ``K`` may be 0 (an
            image without tagged classes).
        mode (str): ``'threshold'``: ``threshold`` everywhere;
            ``'power'``: ``(1 - max_k cams_k) ** alpha`` (1 where ``K = 0``).
        threshold (float): The constant of ``'threshold'``.
        alpha (float): The exponent of ``'power'``.

    Returns:
        Tensor: ``(..., 1, H, W)``, dtype of ``cams``.
    """
    check_choice('background mode', mode, BACKGROUND_MODES)
    shape = cams.shape[:-3] + (1, ) + cams.shape[-2:]
    if mode == 'threshold':
        return cams.new_full(shape, float(threshold))
    if cams.shape[-3] == 0:
        return cams.new_ones(shape)
    peak = cams.amax(dim=-3, keepdim=True).clamp(0, 1)
    return (1 - peak)**float(alpha)


def scores_with_background(cams: Tensor, tags,
                           options: ProxyOptions) -> Tuple[Tensor, Tensor]:
    """The background score followed by the CAMs of the tagged classes.

    Args:
        cams (Tensor): ``(K, H, W)`` in ``[0, 1]``, channel ``k`` class
            ``k + 1``.
        tags: ``(K,)`` 0/1 (array or tensor): the image's classes.
        options (ProxyOptions): ``background``, ``bg_threshold``,
            ``bg_alpha``.

    Returns:
        tuple: ``scores`` ``(1 + T, H, W)`` float32 (``T`` tagged classes,
        background first) and ``labels`` ``(1 + T,)`` int64, the label of
        each channel (``0``, then ``k + 1``).
    """
    if cams.dim() != 3:
        raise ValueError(f'cams must be (K, H, W), got {tuple(cams.shape)}')
    tags = torch.as_tensor(np.asarray(tags, dtype=np.float32)).flatten()
    if tags.numel() != cams.shape[0]:
        raise ValueError(f'{tags.numel()} tags for {cams.shape[0]} CAM '
                         'channels')
    keep = torch.nonzero(tags > 0).flatten()
    fg = cams.float()[keep.to(cams.device)]
    bg = background_score(fg, options.background, options.bg_threshold,
                          options.bg_alpha)
    labels = torch.cat([keep.new_zeros(1), keep + 1])
    return torch.cat([bg, fg]), labels


def score_shares(scores: Tensor, eps: float = 1e-8) -> Tensor:
    """Each channel's share of a pixel's total score.

    Args:
        scores (Tensor): ``(..., C, H, W)`` non-negative.
        eps (float): Floor of the total (an all-zero pixel gets all-zero
            shares).

    Returns:
        Tensor: ``(..., C, H, W)``, summing to 1 over ``C`` (or 0).
    """
    return scores / scores.sum(dim=-3, keepdim=True).clamp_min(eps)


def _neighbours(x: Tensor, dilations: Sequence[int]) -> Tensor:
    """The 8 neighbours at each dilation, replicate-padded at the border.

    Args:
        x (Tensor): ``(N, C, H, W)``.
        dilations (Sequence[int]): Ring distances.

    Returns:
        Tensor: ``(N, C, 8 * len(dilations), H, W)``.
    """
    h, w = x.shape[-2:]
    rings = []
    for d in dilations:
        padded = F.pad(x, (d, d, d, d), mode='replicate')
        for dy, dx in _DIRECTIONS:
            y0, x0 = d + dy * d, d + dx * d
            rings.append(padded[..., y0:y0 + h, x0:x0 + w])
    return torch.stack(rings, dim=2)


def par_affinity(image: Tensor,
                 dilations: Sequence[int] = (1, 2, 4, 8, 12, 24),
                 color_weight: float = 0.3,
                 pos_weight: float = 0.01) -> Tensor:
    """PAR's affinity of every pixel to its dilated neighbours.

    With ``I_j`` the neighbours of pixel ``i`` (8 per dilation), per colour
    channel ``kappa_ij = -(|I_i - I_j| / (std_j I_j + 1e-8) /
    color_weight) ** 2``, averaged over the channels, and the position term
    ``kappa^p_ij = -(d_ij / std_j d_ij / color_weight) ** 2`` (``d_ij`` the
    distance, ``d`` or ``d * sqrt(2)``):
    ``a_ij = (softmax_j kappa_ij + pos_weight * softmax_j kappa^p_ij) /
    (1 + pos_weight)``. The division (not in AFA) makes each pixel's weights
    sum to 1, so that propagation averages; it changes no argmax.

    Args:
        image (Tensor): ``(N, 3, H, W)`` float (any affine colour scale: the
            differences are divided by the neighbours' spread).
        dilations (Sequence[int]): Ring distances.
        color_weight (float): ``w1`` of AFA.
        pos_weight (float): ``w2`` of AFA.

    Returns:
        Tensor: ``(N, 1, P, H, W)``, ``P = 8 * len(dilations)``, each pixel's
        weights summing to 1 over ``P``.
    """
    image = image.float()
    nb = _neighbours(image, dilations)
    diff = (nb - image.unsqueeze(2)).abs()
    spread = nb.std(dim=2, keepdim=True)
    color = -((diff / (spread + 1e-8) / color_weight)**2).mean(
        dim=1, keepdim=True)
    dist = torch.tensor(
        [d * math.hypot(dy, dx) for d in dilations for dy, dx in _DIRECTIONS],
        dtype=image.dtype,
        device=image.device)
    pos = -(dist / dist.std() / color_weight)**2
    aff = color.softmax(
        dim=2) + pos_weight * pos.softmax(dim=0).view(1, 1, -1, 1, 1)
    return aff / (1 + pos_weight)


def pixel_adaptive_refine(image: Tensor,
                          scores: Tensor,
                          iters: int = 10,
                          dilations: Sequence[int] = (1, 2, 4, 8, 12, 24),
                          color_weight: float = 0.3,
                          pos_weight: float = 0.01) -> Tensor:
    """Pixel-adaptive refinement (PAR) of score maps: ``iters`` times, each
    pixel's scores become the affinity-weighted mean of its neighbours'
    (:func:`par_affinity`), so scores spread within regions of similar
    colour and stop at colour edges.

    Args:
        image (Tensor): ``(3, H, W)`` or ``(N, 3, H, W)`` float.
        scores (Tensor): ``(C, H, W)`` or ``(N, C, H, W)``, the same
            ``H, W``.
        iters (int): Propagation steps (0 returns ``scores``).
        dilations, color_weight, pos_weight: See :func:`par_affinity`.

    Returns:
        Tensor: The refined scores, shape and dtype float32 as ``scores``.
    """
    batched = scores.dim() == 4
    if not batched:
        image, scores = image.unsqueeze(0), scores.unsqueeze(0)
    if image.dim() != 4 or scores.dim() != 4 or \
            image.shape[-2:] != scores.shape[-2:] or \
            image.shape[0] != scores.shape[0]:
        raise ValueError(
            'image (N, 3, H, W) and scores (N, C, H, W) of the same size '
            f'expected, got {tuple(image.shape)} and {tuple(scores.shape)}')
    out = scores.float()
    if iters > 0:
        aff = par_affinity(
            image.to(out.device), dilations, color_weight, pos_weight)
        for _ in range(iters):
            out = (_neighbours(out, dilations) * aff).sum(dim=2)
    return out if batched else out[0]


def dense_crf_refine(image: np.ndarray,
                     probs: Tensor,
                     iters: int = 10) -> Tensor:
    """Dense CRF (Kraehenbuehl and Koltun, NIPS 2011) on class
    probabilities, with the kernels IRN/SEAM use (Gaussian ``sxy=3``,
    ``compat=3``; bilateral ``sxy=80``, ``srgb=13``, ``compat=10``).

    Needs the optional package ``pydensecrf2``.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        probs (Tensor): ``(C, H, W)``, summing to 1 over ``C``.
        iters (int): Mean-field steps.

    Returns:
        Tensor: ``(C, H, W)`` float32 marginals, on the device of ``probs``.

    Raises:
        ImportError: ``pydensecrf2`` is not installed.
    """
    dcrf = _import_densecrf()
    c, h, w = probs.shape
    crf = dcrf.DenseCRF2D(w, h, c)
    unary = -np.log(probs.detach().float().cpu().numpy().clip(1e-5, 1.0))
    crf.setUnaryEnergy(
        np.ascontiguousarray(unary.reshape(c, -1), dtype=np.float32))
    crf.addPairwiseGaussian(sxy=3, compat=3)
    crf.addPairwiseBilateral(
        sxy=80,
        srgb=13,
        rgbim=np.ascontiguousarray(image, dtype=np.uint8),
        compat=10)
    q = np.asarray(crf.inference(iters), dtype=np.float32).reshape(c, h, w)
    return torch.from_numpy(q).to(probs.device)


def low_confidence(shares: Tensor,
                   rule: str = 'margin',
                   threshold: float = 0.1) -> Tensor:
    """The pixels too uncertain to keep.

    Args:
        shares (Tensor): ``(C, H, W)``, per-pixel distributions over the
            channels (:func:`score_shares`).
        rule (str): ``'margin'``: top share minus second share below
            ``threshold`` (with one channel the second share is 0);
            ``'confidence'``: top share below ``threshold``; ``'none'``:
            nothing.
        threshold (float): In ``[0, 1]``.

    Returns:
        Tensor: bool ``(H, W)``.
    """
    check_choice('ignore rule', rule, IGNORE_RULES)
    if rule == 'none':
        return torch.zeros(
            shares.shape[-2:], dtype=torch.bool, device=shares.device)
    top = shares.topk(min(2, shares.shape[0]), dim=0).values
    if rule == 'confidence':
        return top[0] < threshold
    second = top[1] if top.shape[0] > 1 else torch.zeros_like(top[0])
    return (top[0] - second) < threshold


def cam_to_proxy(image: np.ndarray,
                 cams: Tensor,
                 tags,
                 options: Optional[ProxyOptions] = None) -> CamProxy:
    """The proxy mask of one image from its CAMs (module docstring).

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        cams (Tensor): ``(K, H, W)`` in ``[0, 1]`` (normalised CAMs, channel
            ``k`` class ``k + 1``).
        tags: ``(K,)`` 0/1: only tagged classes can appear in the proxy.
        options (ProxyOptions, optional): Default: ``ProxyOptions()``.

    Returns:
        CamProxy: seed, refined and proxy label maps and the reference.
    """
    options = ProxyOptions() if options is None else options
    if image.ndim != 3 or image.shape[2] != 3 or \
            tuple(image.shape[:2]) != tuple(cams.shape[-2:]):
        raise ValueError(
            f'image (H, W, 3) of the CAMs\' size {tuple(cams.shape[-2:])} '
            f'expected, got {tuple(image.shape)}')
    scores, labels = scores_with_background(cams, tags, options)
    seed = labels[scores.argmax(dim=0)]
    if options.refine == 'crf':
        shares = dense_crf_refine(image, score_shares(scores),
                                  options.crf_iters)
    else:
        if options.refine == 'par':
            rgb = torch.from_numpy(np.ascontiguousarray(image)).to(
                scores.device).permute(2, 0, 1).float() / 255
            scores = pixel_adaptive_refine(rgb, scores, options.par_iters,
                                           options.par_dilations,
                                           options.par_color_weight,
                                           options.par_pos_weight)
        shares = score_shares(scores)
    refined = labels[shares.argmax(dim=0)]
    ignored = low_confidence(shares, options.ignore, options.ignore_thr)
    proxy = refined.masked_fill(ignored, options.ignore_index)

    def numpy8(x: Tensor) -> np.ndarray:
        return x.cpu().numpy().astype(np.uint8)

    return CamProxy(
        seed=numpy8(seed),
        refined=numpy8(refined),
        proxy=numpy8(proxy),
        reference=(seed > 0).cpu().numpy(),
        ignored=ignored.cpu().numpy())


# ---------------------------------------------------------------------------
# The classifier


def load_cam_classifier(config: str, checkpoint: str, device: str = 'cpu'):
    """A :class:`MultiLabelCAMClassifier` from its config and a checkpoint
    that must fit it exactly.

    Args:
        config (str): The classifier's config file.
        checkpoint (str): Its checkpoint.
        device (str): Torch device. Default: ``'cpu'``.

    Returns:
        The model, in eval mode, with ``cfg`` set (mmseg's ``init_model``).

    Raises:
        FileNotFoundError: A file is missing.
        TypeError: The config does not build a ``MultiLabelCAMClassifier``.
        CheckpointMismatchError: The checkpoint does not fit the config.
    """
    from mmseg.apis import init_model

    from mmattn.utils.strict_loading import load_checkpoint_strict
    from .multilabel_cam import MultiLabelCAMClassifier
    for what, path in (('config', config), ('checkpoint', checkpoint)):
        if not osp.isfile(path):
            raise FileNotFoundError(f'classifier {what} not found: {path}')
    model = init_model(config, None, device=device)
    if not isinstance(model, MultiLabelCAMClassifier):
        raise TypeError(f'config {config} builds a {type(model).__name__}, '
                        'not a MultiLabelCAMClassifier')
    load_checkpoint_strict(
        model,
        checkpoint,
        config=config,
        advice='Use the classifier config the checkpoint was trained with')
    return model.eval()


def build_cam_pipeline(cfg):
    """The test pipeline of a classifier config, without mask loading.

    Args:
        cfg (Config): With ``test_dataloader.dataset.pipeline`` (or
            ``test_pipeline``).

    Returns:
        Compose: Takes ``dict(img_path=..., img_tags=...)``.
    """
    import copy

    from mmcv.transforms import Compose
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get(
        'pipeline', None) or cfg.get('test_pipeline', None)
    if not pipeline:
        raise ValueError('the classifier config has no test pipeline '
                         '(test_dataloader.dataset.pipeline)')
    return Compose([
        t for t in copy.deepcopy(list(pipeline))
        if t['type'] != 'LoadAnnotations'
    ])


@torch.no_grad()
def predict_cams(model, pipeline, img_path: str, tags) -> Tensor:
    """The normalised CAMs of one image (multi-scale with flip, as the
    model's ``test_cfg`` says), only its tagged classes kept.

    Args:
        model (MultiLabelCAMClassifier): In eval mode.
        pipeline (Compose): From :func:`build_cam_pipeline`.
        img_path (str): The image.
        tags: ``(K,)`` 0/1.

    Returns:
        Tensor: ``(K, H, W)`` in ``[0, 1]`` at the image's size, on the CPU.
    """
    tags = torch.as_tensor(np.asarray(tags, dtype=np.float32)).flatten()
    packed = pipeline(dict(img_path=img_path, img_tags=tags.numpy()))
    sample = packed['data_samples']
    # PackSegInputs (unlike PackWeakSegInputs) would drop the tags.
    sample.set_metainfo(dict(img_tags=tags))
    result = model.test_step(
        dict(inputs=[packed['inputs']], data_samples=[sample]))[0]
    return result.cams.data.float().cpu()


# ---------------------------------------------------------------------------
# Output folders


class ProxyOutputError(RuntimeError):
    """An output folder that the proxy tool must not write into: it holds
    files the tool did not write, or proxies made with other settings."""


def _write_png_atomically(path: str, write) -> None:
    """``write(tmp_path)``, then rename the temporary file into place."""
    folder, name = osp.split(path)
    tmp = osp.join(folder, f'.{name}.{os.getpid()}.tmp.png')
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def _write_json_atomically(path: str, obj) -> None:
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(obj, f, indent=1, sort_keys=True)
            f.write('\n')
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


class ProxyOutputDir:
    """One output folder of the proxy tool, with its manifest
    (:data:`PROXY_MANIFEST`): the settings the files were made with and
    every file the tool writes or wrote there.

    :meth:`claim` accepts a missing or empty folder, or one that holds
    nothing but the manifest, the files it lists and temporary files of an
    interrupted write (removed). With the same settings the run resumes;
    with other settings it is refused unless ``overwrite``, which deletes
    the listed files only. Any other file makes the folder refused, with or
    without ``overwrite``.

    Args:
        path (str): The folder.
        role (str): ``'proxy'`` or ``'reference'`` (recorded).
    """

    def __init__(self, path: str, role: str) -> None:
        self.path = osp.abspath(path)
        self.role = role
        self.manifest = osp.join(self.path, PROXY_MANIFEST)

    def file(self, image_id: str) -> str:
        """The PNG of an image."""
        return osp.join(self.path, f'{image_id}.png')

    def _read_manifest(self) -> Optional[dict]:
        if not osp.isfile(self.manifest):
            return None
        try:
            with open(self.manifest, encoding='utf-8') as f:
                record = json.load(f)
        except (OSError, ValueError) as err:
            raise ProxyOutputError(
                f'{self.manifest}: unreadable ({err}); refusing to write '
                f'into {self.path}') from err
        if not isinstance(record, dict) or \
                record.get('format') != _MANIFEST_FORMAT or \
                not isinstance(record.get('files'), list) or \
                record.get('role') != self.role:
            raise ProxyOutputError(
                f'{self.manifest} is not the record of a {self.role} folder '
                f'of make_proxies; refusing to write into {self.path}')
        return record

    def check(self,
              image_ids: Iterable[str],
              settings: dict,
              overwrite: bool = False,
              tags: Optional[Dict[str, str]] = None
              ) -> Tuple[List[str], List[str], bool]:
        """Check the folder without changing anything.

        Args:
            image_ids (Iterable[str]): The images of this run.
            settings (dict): JSON-able; a resumed run must have the same.
            overwrite (bool): Replace files made with other settings.
            tags (dict, optional): Image id -> its tags as a string
                (:func:`tag_string`). A resumed run whose images were made
                with other tags is refused like other settings (their files
                would be stale). Manifests without tags are not checked.

        Returns:
            tuple: ``listed`` (the file names the manifest lists),
            ``done`` (those present, made with these settings: what a
            resumed run may skip) and ``replace`` (whether the listed files
            are to be deleted).

        Raises:
            ProxyOutputError: See the class docstring.
        """
        if osp.exists(self.path) and not osp.isdir(self.path):
            raise ProxyOutputError(f'{self.path} exists and is not a folder')
        if not osp.isdir(self.path) or not os.listdir(self.path):
            return [], [], False
        entries = sorted(os.listdir(self.path))
        record = self._read_manifest()
        if record is None:
            raise ProxyOutputError(
                f'{self.path} holds files make_proxies did not write (e.g. '
                f'{entries[:3]}; no {PROXY_MANIFEST}); refusing to write '
                'into it. Choose a new or empty folder')
        listed = [str(n) for n in record['files']]
        known = set(listed) | {PROXY_MANIFEST}
        foreign = [
            e for e in entries if e not in known and not _TMP_PATTERN.match(e)
        ]
        if foreign:
            raise ProxyOutputError(
                f'{self.path} holds {len(foreign)} file(s) make_proxies did '
                f'not write (e.g. {foreign[:3]}); refusing to write into it '
                '(even with --overwrite). Move them away or choose another '
                'folder')
        recorded_tags = record.get('tags') or {}
        retagged = sorted(
            i for i in image_ids
            if tags is not None and i in recorded_tags and i in tags
            and recorded_tags[i] != tags[i])
        if record.get('settings') == settings and not overwrite:
            if retagged:
                raise ProxyOutputError(
                    f'{self.path} holds {self.role} masks of '
                    f'{len(retagged)} image(s) made with other tags than '
                    f'the tag file has now (e.g. {retagged[:3]}); pass '
                    '--overwrite to make them again (only the files its '
                    f'{PROXY_MANIFEST} lists are deleted), or choose another '
                    'folder')
            done = [n for n in listed if osp.isfile(osp.join(self.path, n))]
            return listed, done, False
        if not overwrite:
            old = record.get('settings') or {}
            changed = sorted(
                k for k in set(old) | set(settings)
                if old.get(k) != settings.get(k))
            raise ProxyOutputError(
                f'{self.path} holds {self.role} masks made with other '
                f'settings (differing: {", ".join(changed)}); pass '
                '--overwrite to replace them (only the files its '
                f'{PROXY_MANIFEST} lists are deleted), or choose another '
                'folder')
        return listed, [], True

    def claim(self,
              image_ids: Iterable[str],
              settings: dict,
              overwrite: bool = False,
              tags: Optional[Dict[str, str]] = None) -> List[str]:
        """:meth:`check`, then prepare the folder: temporary files of an
        interrupted write are removed, with ``replace`` the listed files
        too, and the manifest records the settings, the tags of each image
        (when given) and every file listed before or written by this run.

        Returns:
            list[str]: ``done`` of :meth:`check`.
        """
        image_ids = list(image_ids)
        listed, done, replace = self.check(image_ids, settings, overwrite,
                                           tags)
        record = None if replace else self._read_manifest()
        recorded_tags = dict((record or {}).get('tags') or {})
        if osp.isdir(self.path):
            for entry in os.listdir(self.path):
                if _TMP_PATTERN.match(entry):
                    os.remove(osp.join(self.path, entry))
        if replace:
            for name in listed:
                if osp.isfile(osp.join(self.path, name)):
                    os.remove(osp.join(self.path, name))
            listed = []
        os.makedirs(self.path, exist_ok=True)
        _write_json_atomically(
            self.manifest,
            dict(
                format=_MANIFEST_FORMAT,
                version=1,
                role=self.role,
                note='written by tools/make_proxies.py; it deletes or '
                'replaces these files and nothing else',
                settings=settings,
                tags=dict(recorded_tags, **{
                    i: tags[i] for i in image_ids if i in (tags or {})}),
                files=sorted(set(listed) | {f'{i}.png'
                                            for i in image_ids})))
        return done


def tag_string(tags) -> str:
    """An image's 0/1 tag vector as the string the proxy manifests record
    (``'0110...'``, one character per foreground class)."""
    return ''.join('1' if float(v) > 0.5 else '0'
                   for v in np.asarray(tags).flatten())


def _settings(model, checkpoint: str, options: ProxyOptions) -> dict:
    from mmattn.segmentation.pipeline.stages import file_sha1
    return dict(
        options=options.to_dict(),
        test_cfg={
            k: list(v) if isinstance(v, tuple) else v
            for k, v in model.test_cfg.items()
        },
        num_classes=int(model.num_classes),
        checkpoint_sha1=file_sha1(checkpoint))


def make_cam_proxies(model,
                     checkpoint: str,
                     image_ids: Sequence[str],
                     tags: Dict[str, np.ndarray],
                     img_dir: str,
                     proxy_dir: str,
                     ref_dir: str,
                     options: Optional[ProxyOptions] = None,
                     img_suffix: str = '.jpg',
                     overwrite: bool = False,
                     show_progress: bool = True) -> dict:
    """Write the proxy mask and foreground reference of each image.

    ``proxy_dir/<id>.png``: VOC palette PNG of the proxy labels (0
    background, ``k`` class ``k``, ``ignore_index`` ignored);
    ``ref_dir/<id>.png``: grey PNG, 255 on the seed foreground, else 0.
    Each file is written to a temporary name and renamed, so a present file
    is complete; an image whose two files exist (from an earlier run with
    the same settings) is skipped. The folders are claimed first
    (:meth:`ProxyOutputDir.claim`).

    Args:
        model (MultiLabelCAMClassifier): From :func:`load_cam_classifier`.
        checkpoint (str): Its checkpoint file (its sha1 is part of the
            settings a resumed run must share).
        image_ids (Sequence[str]): The images.
        tags (dict): Image id -> ``(K,)`` 0/1, ``K = num_classes - 1``.
        img_dir (str): The image folder.
        proxy_dir (str): Output folder of the proxy masks.
        ref_dir (str): Output folder of the foreground references.
        options (ProxyOptions, optional): Default: ``ProxyOptions()``.
        img_suffix (str): Image file suffix. Default: ``'.jpg'``.
        overwrite (bool): Replace proxies made with other settings.
        show_progress (bool): mmengine's progress bar. Default: True.

    Returns:
        dict: ``written`` and ``skipped`` (counts), ``ignored_fraction``
        (mean over the written images), ``proxy_dir``, ``ref_dir``.

    Raises:
        ValueError: An id without tags or with tags of the wrong length.
        FileNotFoundError: Missing images.
        ProxyOutputError: An output folder is refused.
    """
    from mmengine.utils import ProgressBar

    from mmattn.segmentation.mask_scoring.mask_io import read_image
    options = ProxyOptions() if options is None else options
    ids = list(dict.fromkeys(image_ids))
    _check_inputs(ids, tags, model.num_classes - 1, img_dir, img_suffix)
    out_proxy = ProxyOutputDir(proxy_dir, 'proxy')
    out_ref = ProxyOutputDir(ref_dir, 'reference')
    if out_proxy.path == out_ref.path:
        raise ProxyOutputError('the proxy and reference folders must differ '
                               f'(both {out_proxy.path})')
    settings = _settings(model, checkpoint, options)
    strings = {i: tag_string(tags[i]) for i in ids}
    # Both folders are checked before either is changed.
    out_proxy.check(ids, settings, overwrite, strings)
    out_ref.check(ids, settings, overwrite, strings)
    done = set(out_proxy.claim(ids, settings, overwrite, strings)) & set(
        out_ref.claim(ids, settings, overwrite, strings))
    todo = [i for i in ids if f'{i}.png' not in done]
    pipeline = build_cam_pipeline(model.cfg)
    bar = ProgressBar(len(todo)) if show_progress and todo else None
    ignored = []
    from mmattn.synthetic.seg import write_label_png
    for image_id in todo:
        img_path = osp.join(img_dir, image_id + img_suffix)
        cams = predict_cams(model, pipeline, img_path, tags[image_id])
        rgb = np.ascontiguousarray(read_image(img_path)[..., ::-1])
        proxy = cam_to_proxy(rgb, cams, tags[image_id], options)
        ref = proxy.reference.astype(np.uint8) * 255
        _write_png_atomically(
            out_ref.file(image_id), lambda p: _imwrite(p, ref))
        _write_png_atomically(
            out_proxy.file(image_id),
            lambda p: write_label_png(p, proxy.proxy))
        ignored.append(float(proxy.ignored.mean()))
        if bar is not None:
            bar.update()
    if bar is not None:
        print()
    return dict(
        written=len(todo),
        skipped=len(ids) - len(todo),
        ignored_fraction=float(np.mean(ignored)) if ignored else None,
        proxy_dir=out_proxy.path,
        ref_dir=out_ref.path)


def _imwrite(path: str, grey: np.ndarray) -> None:
    if not cv2.imwrite(path, grey):
        raise OSError(f'could not write {path}')


def _check_inputs(ids: List[str], tags: Dict[str, np.ndarray], num_tags: int,
                  img_dir: str, img_suffix: str) -> None:
    """Every id has tags of the model's length and an image."""
    untagged = [i for i in ids if i not in tags]
    if untagged:
        raise ValueError(
            f'{len(untagged)} image id(s) of the split have no tags in the '
            f'tag file (e.g. {untagged[:3]}); tag them (tools/make_tags.py) '
            'or leave them out of the split')
    wrong = [i for i in ids if np.asarray(tags[i]).size != num_tags]
    if wrong:
        raise ValueError(
            f'{len(wrong)} image(s) have tag vectors of another length than '
            f"the classifier's {num_tags} foreground classes (e.g. "
            f'{wrong[0]!r}: {np.asarray(tags[wrong[0]]).size})')
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'image folder not found: {img_dir}')
    missing = [
        i for i in ids if not osp.isfile(osp.join(img_dir, i + img_suffix))
    ]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} image(s) of the split are missing in {img_dir} '
            f'(e.g. {[m + img_suffix for m in missing[:3]]})')
