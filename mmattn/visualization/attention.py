# Copyright (c) mmattn contributors. All rights reserved.
"""Attention pictures: the maps HAR-Net and SAL-Net compute, on the image.

Two kinds of maps, read from a built model without touching its code (the
maps are taken with forward hooks on the attention modules):

- ``'spatial'``, HAR-Net (Sec. III-A, Fig. 2, Eq. 1): the sigmoid mask
  ``A^s`` that :class:`~mmattn.blocks.SpatialAttention` computes for every
  FPN level inside :class:`~mmattn.detection.HARRetinaHead`; one panel per
  level (P3..P7).
- ``'class'``, SAL-Net (Sec. III-C1, Fig. 7, Eq. 10): the fused class maps
  ``d_1 + ... + d_4`` of :class:`~mmattn.segmentation.SALClassificationBranch`
  inside :class:`~mmattn.segmentation.SALHead`, shown through a sigmoid (so a
  position reads as the score ``d_s`` it alone would give), with the
  image-level score ``d_s = sigmoid(logit)`` of the class in the title.

Every map is brought back onto the original image the way mmdet/mmseg bring
predictions back: upsampled to the network input, the padding cut off, any
test-time flip undone, then resized to ``ori_shape``.

Typical use (what ``tools/visualize_attention.py`` does)::

    model = init_detector(config, checkpoint, device='cpu')  # or init_model
    maps = compute_attention(model, 'demo.jpg')
    draw_attention(maps, 'demo_spatial_attention.png')
"""
import contextlib
import math
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.model import is_model_wrapper
from mmengine.registry import DefaultScope
from torch import Tensor, nn

from mmattn.detection.dense_heads.hybrid_attention import \
    HybridAttentionMixin
from mmattn.segmentation.decode_heads.sal_head import SALHead
from mmattn.utils.validation import check_choice, check_positive_int

SPATIAL = 'spatial'
CLASS = 'class'
ATTENTION_KINDS = (SPATIAL, CLASS)

#: Side of one square panel of a picture, in pixels.
PANEL_SIZE_PX = 300
#: Height of the title band above the panels, in pixels.
TITLE_BAND_PX = 60
_DPI = 100
DEFAULT_TOPK = 3


class NoAttentionError(ValueError):
    """The model has no attention map this module knows how to show."""


@dataclass
class AttentionMaps:
    """The attention maps of one image, at feature and at image resolution.

    Attributes:
        kind (str): ``'spatial'`` (HAR-Net masks, one per pyramid level) or
            ``'class'`` (SAL-Net class maps, one per foreground class).
        img_path (str): The image file.
        image (np.ndarray): The original image, ``(H, W, 3)`` uint8 RGB.
        feature_maps (list[np.ndarray]): One ``(h, w)`` float32 map in
            ``[0, 1]`` per level or class, as the network computed it.
        image_maps (list[np.ndarray]): The same maps aligned to the original
            image, ``(H, W)`` float32 in ``[0, 1]``.
        names (list[str]): ``'P3'``.. for levels, class names for classes.
        strides (list[int], optional): Stride of each level (``'spatial'``).
        scores (np.ndarray, optional): ``(K,)`` image-level class scores
            ``d_s`` (``'class'``).
        meta (dict): The data sample's metainfo (shapes, padding, and
            ``img_tags`` when the dataset packs them).
    """
    kind: str
    img_path: str
    image: np.ndarray
    feature_maps: List[np.ndarray]
    image_maps: List[np.ndarray]
    names: List[str]
    strides: Optional[List[int]] = None
    scores: Optional[np.ndarray] = None
    meta: dict = field(default_factory=dict)


# ---------------------------------------------------------------------- #
# what the model has
# ---------------------------------------------------------------------- #
def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def attention_kind(model: nn.Module) -> str:
    """Which attention the model has to show.

    Args:
        model (nn.Module): A built detector or segmentor (wrappers such as
            DDP are looked through).

    Returns:
        str: ``'spatial'`` for a ``bbox_head`` with HAR-Net's hybrid
        attention (:class:`HybridAttentionMixin`: ``HARRetinaHead``,
        ``HARATSSHead``, ``HARGFLHead``, ``HARFCOSHead``) and spatial attention, ``'class'`` for a
        ``decode_head`` that is a :class:`SALHead` with a classification
        branch.

    Raises:
        NoAttentionError: anything else, saying what the model has instead.
    """
    model = _unwrap(model)
    bbox_head = getattr(model, 'bbox_head', None)
    decode_head = getattr(model, 'decode_head', None)
    if isinstance(bbox_head, HybridAttentionMixin):
        if bbox_head.spatial_attention is not None:
            return SPATIAL
        raise NoAttentionError(
            f'the {type(bbox_head).__name__} of this model has '
            'spatial_attention=None (a twin of its mmdet parent or an '
            'ablation without spatial attention): it has no spatial '
            'attention mask to show')
    if isinstance(decode_head, SALHead):
        if decode_head.cls_branch is not None:
            return CLASS
        raise NoAttentionError(
            'the SALHead of this model has cls_branch=None: without the '
            'classification subnetwork there is no class attention d_s to '
            'show')
    heads = {
        name: type(head).__name__
        for name, head in (('bbox_head', bbox_head),
                           ('decode_head', decode_head)) if head is not None
    }
    raise NoAttentionError(
        f'{type(model).__name__} has no attention to show: it needs a '
        'bbox_head with spatial attention (HAR-Net: HARRetinaHead, '
        'HARATSSHead, HARGFLHead or HARFCOSHead) '
        'or a decode_head that is a SALHead with a classification branch '
        f'(SAL-Net), got {heads or "neither head"}')


# ---------------------------------------------------------------------- #
# input
# ---------------------------------------------------------------------- #
def _transform_type(transform) -> str:
    name = transform.get('type', '') if isinstance(transform, dict) else ''
    if not isinstance(name, str):
        name = getattr(name, '__name__', '')
    return name.split('.')[-1]


def build_test_pipeline(cfg: Config) -> Compose:
    """The config's test pipeline, without its annotation loading.

    The pipeline comes from ``cfg.test_dataloader.dataset.pipeline`` (or
    ``cfg.test_pipeline``); ``LoadAnnotations`` (and any other
    ``Load*Annotations``) is dropped, as mmdet's and mmseg's inferencers do,
    since a bare image has none.

    Args:
        cfg (Config): The model's config (``model.cfg`` after
            ``init_detector`` / ``init_model``).

    Returns:
        Compose: Maps ``dict(img_path=..., img_id=...)`` to ``dict(inputs,
        data_samples)``.
    """
    pipeline = None
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    if isinstance(dataset, dict):
        pipeline = dataset.get('pipeline')
    if pipeline is None:
        pipeline = cfg.get('test_pipeline')
    if not pipeline:
        raise ValueError(
            'the config has neither test_dataloader.dataset.pipeline nor '
            'test_pipeline; one is needed to preprocess the image as the '
            'model was tested')
    kept = [
        t for t in pipeline
        if not (_transform_type(t).startswith('Load')
                and _transform_type(t).endswith('Annotations'))
    ]
    if not kept or _transform_type(kept[0]) != 'LoadImageFromFile':
        raise ValueError(
            'the test pipeline must start with LoadImageFromFile, got '
            f'{[_transform_type(t) for t in kept]}')
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        return Compose(kept)


def preprocess(model: nn.Module,
               pipeline: Callable,
               img_path: str,
               img_id: int = 0) -> dict:
    """Run one image through the test pipeline and the data preprocessor.

    Args:
        model (nn.Module): Detector or segmentor.
        pipeline (Callable): See :func:`build_test_pipeline`.
        img_path (str): Image file.
        img_id (int): Id put in the metainfo (mmdet packs it).

    Returns:
        dict: ``inputs`` ``(1, 3, H_in, W_in)`` (resized, normalised and
        padded) and ``data_samples`` (a list of one data sample whose
        metainfo has ``ori_shape``, ``img_shape`` and the padding).
    """
    model = _unwrap(model)
    data = pipeline(dict(img_path=img_path, img_id=img_id))
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    return model.data_preprocessor(batch, False)


# ---------------------------------------------------------------------- #
# capture
# ---------------------------------------------------------------------- #
@contextlib.contextmanager
def record_calls(module: nn.Module) -> Iterator[List[Tuple[tuple, object]]]:
    """Record ``(inputs, output)`` of every call of ``module``.

    Args:
        module (nn.Module): The module to watch.

    Yields:
        list[tuple]: Filled with one ``(args, output)`` per forward call;
        the hook is removed on exit.
    """
    calls = []

    def hook(_module, args, output):
        calls.append((args, output))

    handle = module.register_forward_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()


@torch.no_grad()
def capture_spatial_attention(model: nn.Module,
                              inputs: Tensor) -> List[Tensor]:
    """HAR-Net's spatial masks of every pyramid level.

    Runs the detector's tensor forward (backbone, neck, head) and takes the
    output of ``bbox_head.spatial_attention`` at every call: the head calls
    the one (level-shared) module once per level, in level order.

    Args:
        model (nn.Module): Detector whose ``bbox_head`` has HAR-Net's
            hybrid attention with spatial attention.
        inputs (Tensor): Preprocessed batch ``(N, 3, H_in, W_in)``.

    Returns:
        list[Tensor]: L masks ``(N, 1, H_l, W_l)`` in ``(0, 1)``.
    """
    model = _unwrap(model)
    head = model.bbox_head
    with record_calls(head.spatial_attention) as calls:
        model(inputs, mode='tensor')
    if len(calls) != head.num_levels:
        raise RuntimeError(
            f'expected one spatial attention call per level '
            f'({head.num_levels}), saw {len(calls)}: does this detector run '
            'its head more than once per image?')
    return [output for _, output in calls]


@torch.no_grad()
def capture_class_attention(model: nn.Module,
                            inputs: Tensor) -> Tuple[Tensor, Tensor]:
    """SAL-Net's fused class maps and image-level class scores ``d_s``.

    Runs backbone and both branches of the :class:`SALHead` (inference alone
    skips the classification branch unless ``test_with_attention``); a hook
    takes the feature the classification branch receives and its logits.

    Args:
        model (nn.Module): Segmentor whose ``decode_head`` is a
            :class:`SALHead` with a classification branch.
        inputs (Tensor): Preprocessed batch ``(N, 3, H_in, W_in)``.

    Returns:
        tuple[Tensor, Tensor]: fused class maps ``(N, K, h, w)`` (logit
        scale, before pooling) and ``d_s`` ``(N, K)`` in ``(0, 1)``.
    """
    model = _unwrap(model)
    head = model.decode_head
    with record_calls(head.cls_branch) as calls:
        head.forward_train(model.extract_feat(inputs))
    if len(calls) != 1:
        raise RuntimeError('expected one call of the classification branch, '
                           f'saw {len(calls)}')
    args, logits = calls[0]
    class_maps = head.cls_branch.forward_maps(args[0])
    return class_maps, logits.sigmoid()


# ---------------------------------------------------------------------- #
# alignment
# ---------------------------------------------------------------------- #
def _hw(shape) -> Tuple[int, int]:
    return int(shape[0]), int(shape[1])


def align_to_image(attn_map: Tensor,
                   img_meta: dict,
                   input_shape: Sequence[int],
                   stride: Optional[Sequence[int]] = None) -> Tensor:
    """Bring a map computed on the network input back onto the image.

    1. Upsample to the network input: by the level's stride when given (a
       feature cell ``i`` covers input pixels ``[i * s, (i + 1) * s)``, also
       for the rounded-up P6/P7), else to ``input_shape`` (mmseg's way).
    2. Cut the padding: mmseg's ``img_padding_size`` / ``padding_size``
       ``(left, right, top, bottom)`` when present, else everything right of
       and below ``img_shape`` (mmdet pads bottom-right).
    3. Undo a test-time flip (``flip``, ``flip_direction``).
    4. Resize to ``ori_shape``.

    Every step is bilinear (``align_corners=False``), so values stay inside
    the range of the input map.

    Args:
        attn_map (Tensor): ``(h, w)`` map.
        img_meta (dict): Metainfo of the image's data sample.
        input_shape (Sequence[int]): ``(H_in, W_in)`` of the batch fed to the
            network.
        stride (Sequence[int], optional): ``(stride_w, stride_h)`` of the
            map (mmdet's prior generator order), or None.

    Returns:
        Tensor: ``(H_ori, W_ori)`` map.
    """
    if attn_map.dim() != 2:
        raise ValueError(
            f'attn_map must be (h, w), got {tuple(attn_map.shape)}')
    in_h, in_w = _hw(input_shape)
    h, w = attn_map.shape
    size = (in_h, in_w)
    if stride is not None:
        stride_w, stride_h = stride
        if h * stride_h >= in_h and w * stride_w >= in_w:
            size = (int(h * stride_h), int(w * stride_w))
    x = F.interpolate(
        attn_map[None, None].float(),
        size=size,
        mode='bilinear',
        align_corners=False)[0, 0]
    padding = img_meta.get('img_padding_size', img_meta.get('padding_size'))
    if padding is not None:
        left, right, top, bottom = (int(p) for p in padding)
        x = x[top:in_h - bottom, left:in_w - right]
    else:
        img_h, img_w = _hw(img_meta.get('img_shape', (in_h, in_w)))
        x = x[:img_h, :img_w]
    if img_meta.get('flip', False):
        direction = img_meta.get('flip_direction', 'horizontal')
        if direction == 'horizontal':
            x = x.flip(1)
        elif direction == 'vertical':
            x = x.flip(0)
        else:
            x = x.flip(0).flip(1)
    ori_h, ori_w = _hw(img_meta['ori_shape'])
    return F.interpolate(
        x[None, None],
        size=(ori_h, ori_w),
        mode='bilinear',
        align_corners=False)[0, 0]


# ---------------------------------------------------------------------- #
# per image
# ---------------------------------------------------------------------- #
def level_name(stride: int, index: int) -> str:
    """``'P3'`` for stride 8 (``P_l`` has stride ``2^l``), else
    ``'level <index>'``."""
    level = math.log2(stride) if stride > 0 else 0.5
    return f'P{int(level)}' if level.is_integer() else f'level {index}'


def class_names_of(model: nn.Module, num_fg_classes: int) -> List[str]:
    """Foreground class names of a segmentor, tag order (index ``k`` is
    segmentation class ``k + 1``).

    Taken from ``model.dataset_meta['classes']`` (background first, as
    mmseg's datasets list them); VOC names when that is missing or of
    another length and ``K == 20``; else ``'class <k + 1>'``.
    """
    from mmseg.utils import get_classes

    classes = list(
        (getattr(_unwrap(model), 'dataset_meta', None) or {}).get('classes')
        or [])
    if len(classes) == num_fg_classes + 1:
        return [str(c) for c in classes[1:]]
    voc = list(get_classes('voc'))
    if num_fg_classes == len(voc) - 1:
        return voc[1:]
    return [f'class {k + 1}' for k in range(num_fg_classes)]


def _read_image(img_path: str, ori_shape) -> np.ndarray:
    image = mmcv.imread(img_path, flag='color', channel_order='rgb')
    if image is None:
        raise ValueError(f'cannot read image {img_path}')
    if image.shape[:2] != _hw(ori_shape):
        raise ValueError(
            f'{img_path} reads as {image.shape[:2]} but the test pipeline '
            f'loaded it as {_hw(ori_shape)}; the maps would not line up')
    return image


def compute_attention_batch(
        model: nn.Module,
        inputs: Tensor,
        data_samples: Sequence,
        img_paths: Optional[Sequence[str]] = None) -> List[AttentionMaps]:
    """Attention maps of a preprocessed batch, aligned to its images.

    Args:
        model (nn.Module): Detector (HAR-Net) or segmentor (SAL-Net) in eval
            mode.
        inputs (Tensor): ``(N, 3, H_in, W_in)`` from the model's data
            preprocessor.
        data_samples (Sequence): The N data samples from the preprocessor;
            their metainfo gives ``img_path``, ``ori_shape``, ``img_shape``
            and the padding.
        img_paths (Sequence[str], optional): The image files, for data
            samples whose metainfo lacks ``img_path``.

    Returns:
        list[AttentionMaps]: One per image.

    Raises:
        NoAttentionError: see :func:`attention_kind`.
    """
    kind = attention_kind(model)
    input_shape = inputs.shape[-2:]
    metas = [dict(sample.metainfo) for sample in data_samples]
    for i, meta in enumerate(metas):
        if img_paths is not None:
            meta['img_path'] = img_paths[i]
        elif 'img_path' not in meta:
            raise ValueError(
                f'data sample {i} has no img_path in its metainfo (add it to '
                'the meta_keys of the Pack*Inputs transform) and no '
                'img_paths were given')
    results = []
    if kind == SPATIAL:
        head = _unwrap(model).bbox_head
        masks = capture_spatial_attention(model, inputs)
        strides = [
            tuple(int(s) for s in st) for st in head.prior_generator.strides
        ]
        names = [level_name(st[1], i) for i, st in enumerate(strides)]
        for i, meta in enumerate(metas):
            levels = [m[i, 0] for m in masks]
            results.append(
                AttentionMaps(
                    kind=kind,
                    img_path=meta['img_path'],
                    image=_read_image(meta['img_path'], meta['ori_shape']),
                    feature_maps=[m.cpu().numpy() for m in levels],
                    image_maps=[
                        align_to_image(m, meta, input_shape,
                                       stride=st).cpu().numpy()
                        for m, st in zip(levels, strides)
                    ],
                    names=names,
                    strides=[st[1] for st in strides],
                    meta=dict(meta)))
        return results

    class_maps, scores = capture_class_attention(model, inputs)
    # sigmoid of the fused map: per position, the score that position alone
    # would give (the image score pools the map before the sigmoid).
    class_maps = class_maps.sigmoid()
    names = class_names_of(model, class_maps.shape[1])
    for i, meta in enumerate(metas):
        results.append(
            AttentionMaps(
                kind=kind,
                img_path=meta['img_path'],
                image=_read_image(meta['img_path'], meta['ori_shape']),
                feature_maps=[m.cpu().numpy() for m in class_maps[i]],
                image_maps=[
                    align_to_image(m, meta, input_shape).cpu().numpy()
                    for m in class_maps[i]
                ],
                names=names,
                scores=scores[i].cpu().numpy(),
                meta=dict(meta)))
    return results


def compute_attention(model: nn.Module,
                      img_path: str,
                      pipeline: Optional[Callable] = None,
                      img_id: int = 0) -> AttentionMaps:
    """Attention maps of one image file, aligned to it.

    Args:
        model (nn.Module): Detector (HAR-Net) or segmentor (SAL-Net) in eval
            mode, e.g. from ``mmdet.apis.init_detector`` /
            ``mmseg.apis.init_model``.
        img_path (str): Image file.
        pipeline (Callable, optional): Test pipeline; built from
            ``model.cfg`` by :func:`build_test_pipeline` when None.
        img_id (int): Id put in the metainfo.

    Returns:
        AttentionMaps: See its attributes.

    Raises:
        NoAttentionError: see :func:`attention_kind`.
    """
    attention_kind(model)  # fail before any preprocessing
    if pipeline is None:
        cfg = getattr(_unwrap(model), 'cfg', None)
        if cfg is None:
            raise ValueError('model has no cfg; pass the test pipeline')
        pipeline = build_test_pipeline(cfg)
    batch = preprocess(model, pipeline, img_path, img_id=img_id)
    return compute_attention_batch(
        model, batch['inputs'], batch['data_samples'], img_paths=[img_path])[0]


def select_classes(scores: np.ndarray,
                   tags: Optional[np.ndarray] = None,
                   topk: Optional[int] = None) -> List[int]:
    """Which classes get a panel.

    - no tags: the ``topk`` (default 3) highest scores;
    - tags: the tagged classes, highest score first; with ``topk`` larger
      than their number, the highest-scoring untagged classes fill up to
      ``topk`` panels (they show what the model wrongly attends to); an image
      without any tag falls back to the top-k.

    Args:
        scores (np.ndarray): ``(K,)`` class scores ``d_s``.
        tags (np.ndarray, optional): ``(K,)`` 0/1 image tags.
        topk (int, optional): See above.

    Returns:
        list[int]: Class indices (tag order).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if topk is not None:
        check_positive_int('topk', topk)
    order = [int(k) for k in np.argsort(-scores, kind='stable')]
    if tags is None or not np.any(np.asarray(tags) > 0):
        return order[:topk or DEFAULT_TOPK]
    tags = np.asarray(tags).reshape(-1)
    if tags.shape != scores.shape:
        raise ValueError(f'got {tags.size} tags for {scores.size} classes')
    tagged = [k for k in order if tags[k] > 0]
    if topk is None or topk <= len(tagged):
        return tagged
    untagged = [k for k in order if tags[k] <= 0]
    return tagged + untagged[:topk - len(tagged)]


# ---------------------------------------------------------------------- #
# drawing
# ---------------------------------------------------------------------- #
def figure_size_px(num_panels: int) -> Tuple[int, int]:
    """``(width, height)`` in pixels of a picture of ``num_panels`` panels
    (the input image counts as one)."""
    check_positive_int('num_panels', num_panels)
    return num_panels * PANEL_SIZE_PX, PANEL_SIZE_PX + TITLE_BAND_PX


def panel_titles(maps: AttentionMaps,
                 panels: Sequence[int],
                 tags: Optional[np.ndarray] = None) -> List[str]:
    """Titles of the map panels (the input panel excluded)."""
    titles = []
    for k in panels:
        values = maps.feature_maps[k]
        value_range = f'{values.min():.2f}..{values.max():.2f}'
        if maps.kind == SPATIAL:
            titles.append(f'{maps.names[k]} (stride {maps.strides[k]})\n'
                          f'mask {value_range}')
        else:
            tag = ' [tag]' if tags is not None and tags[k] > 0 else ''
            titles.append(f'{maps.names[k]}{tag}\n'
                          f'd_s = {float(maps.scores[k]):.2f}, map '
                          f'{value_range}')
    return titles


def draw_attention(maps: AttentionMaps,
                   out_file: str,
                   panels: Optional[Sequence[int]] = None,
                   tags: Optional[np.ndarray] = None,
                   alpha: float = 0.5,
                   cmap: str = 'jet') -> str:
    """Write one PNG: the input, then each map over the image.

    The colour scale is fixed to ``[0, 1]`` in every panel (both kinds of
    map are sigmoid outputs), so panels and images compare directly.

    Args:
        maps (AttentionMaps): From :func:`compute_attention`.
        out_file (str): PNG path; its folder is created.
        panels (Sequence[int], optional): Which maps to draw; all when None
            (every level; for classes pass :func:`select_classes`).
        tags (np.ndarray, optional): ``(K,)`` image tags, marked in the
            class titles.
        alpha (float): Opacity of the map over the image, in ``[0, 1]``.
        cmap (str): Matplotlib colour map.

    Returns:
        str: ``out_file``.
    """
    # The object-oriented API with the Agg canvas: no pyplot state, no
    # global backend switch in the caller's process.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha!r}')
    panels = list(range(len(maps.image_maps))) if panels is None \
        else list(panels)
    titles = panel_titles(maps, panels, tags)
    width, height = figure_size_px(len(panels) + 1)
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels) + 1, squeeze=False)[0]
    fig.subplots_adjust(
        left=0.005,
        right=0.995,
        bottom=0.01,
        top=PANEL_SIZE_PX / height - 0.01,
        wspace=0.03)
    axes[0].imshow(maps.image)
    axes[0].set_title(
        f'{osp.basename(maps.img_path)}\n'
        f'{maps.image.shape[1]}x{maps.image.shape[0]}',
        fontsize=9)
    for ax, k, title in zip(axes[1:], panels, titles):
        ax.imshow(maps.image)
        ax.imshow(
            maps.image_maps[k],
            cmap=cmap,
            alpha=alpha,
            vmin=0.0,
            vmax=1.0,
            interpolation='bilinear')
        ax.set_title(title, fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(out_file, dpi=_DPI, format='png')
    return out_file


def output_name(img_path: str, kind: str) -> str:
    """``<img stem>_spatial_attention.png`` / ``_class_attention.png``."""
    check_choice('kind', kind, ATTENTION_KINDS)
    stem = osp.splitext(osp.basename(img_path))[0]
    return f'{stem}_{kind}_attention.png'
