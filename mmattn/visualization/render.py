# Copyright (c) mmattn contributors. All rights reserved.
"""Attention pictures in one call per model kind.

The one interface through which ``AttentionVisualizationHook``,
``tools/visualize_attention.py`` and ``tools/demo.py`` draw pictures:

- :func:`render_spatial_attention`: HAR-Net, one panel per pyramid level,
  ``<out_dir>/<img stem>_spatial_attention.png``;
- :func:`render_class_attention`: SAL-Net, one panel per chosen class
  (the image's tags, or the top-k by ``d_s``),
  ``<out_dir>/<img stem>_class_attention.png``;
- :func:`render_attention`: either, chosen by :func:`attention_kind`.

Each takes a built model, images (files, or a batch the model's data
preprocessor has processed) and a folder, computes the maps
(:func:`compute_attention` / :func:`compute_attention_batch`), draws them
(:func:`draw_attention`) and returns one :class:`AttentionPicture` per
image: the written file and the value range of every drawn map. A caller
never branches on the kind of model, reads a tool's output or scrapes its
stdout.

:func:`init_attention_model` builds a model from a config and loads a
checkpoint strictly (:func:`mmattn.utils.load_checkpoint_strict`), the way
``tools/visualize_attention.py`` does, for callers that start from files.
"""
import os.path as osp
import warnings
from dataclasses import asdict, dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.config import Config
from mmengine.model import is_model_wrapper
from torch import nn

from mmattn.utils.validation import check_positive_int

from .attention import (CLASS, SPATIAL, AttentionMaps, attention_kind,
                        build_test_pipeline, compute_attention,
                        compute_attention_batch, draw_attention, output_name,
                        select_classes)

#: Image files, or ``dict(inputs, data_samples)`` from the model's data
#: preprocessor (a validation batch).
Images = Union[str, Sequence[str], dict]

#: The last sentence of a strict-loading error.
CHECKPOINT_ADVICE = 'Draw it with the config it was trained with'


@dataclass
class AttentionPicture:
    """One written attention picture.

    Attributes:
        kind (str): ``'spatial'`` or ``'class'``.
        img_path (str): The image drawn.
        out_file (str): The PNG written.
        panels (list[int]): Which maps were drawn, in panel order: level
            indices (``'spatial'``, all of them) or class indices in tag
            order (``'class'``, index ``k`` is class ``k + 1``).
        names (list[str]): Their names (``'P3'``.., or class names).
        value_ranges (list[tuple[float, float]]): ``(min, max)`` of each
            drawn map as the network computed it (feature resolution, in
            ``[0, 1]``), the range its panel title shows.
        scores (list[float], optional): ``d_s`` of each drawn class
            (``'class'``); None for ``'spatial'``.
        tags (list[float], optional): The image's ``(K,)`` tags that chose
            the panels (``'class'``), or None.
    """
    kind: str
    img_path: str
    out_file: str
    panels: List[int]
    names: List[str]
    value_ranges: List[Tuple[float, float]]
    scores: Optional[List[float]] = None
    tags: Optional[List[float]] = None

    def to_dict(self) -> dict:
        """JSON-ready copy (lists instead of tuples)."""
        record = asdict(self)
        record['value_ranges'] = [list(r) for r in self.value_ranges]
        return record


# ---------------------------------------------------------------------- #
# model from files
# ---------------------------------------------------------------------- #
def build_attention_model(cfg: Config) -> nn.Module:
    """Build the config's model on the CPU, without weights, with mmdet's
    or mmseg's own initialiser chosen by its ``default_scope``.

    Args:
        cfg (Config): A HAR-Net (``default_scope='mmdet'``) or SAL-Net
            (``'mmseg'``) config.

    Returns:
        nn.Module: The model, randomly initialised.

    Raises:
        ValueError: another ``default_scope``.
    """
    import mmattn  # noqa: F401  (registers the modules, checkpoint loading)

    scope = cfg.get('default_scope')
    if scope == 'mmdet':
        from mmdet.apis import init_detector

        # Built without weights (mmdet then warns that it uses COCO class
        # names; the checkpoint's own names replace them on loading).
        # palette='random': skips building the test dataset for its
        # palette, which only box drawing uses.
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            return init_detector(cfg, None, palette='random', device='cpu')
    if scope == 'mmseg':
        from mmseg.apis import init_model

        # init_model(cfg, checkpoint) fails with KeyError on a checkpoint
        # without 'meta' (a bare state dict); it is loaded separately.
        return init_model(cfg, None, device='cpu')
    raise ValueError(f'{cfg.filename}: default_scope must be mmdet '
                     f'(HAR-Net) or mmseg (SAL-Net), got {scope!r}')


def load_attention_checkpoint(model: nn.Module,
                              checkpoint: str,
                              config: Optional[str] = None,
                              device: str = 'cpu') -> nn.Module:
    """Load ``checkpoint`` strictly into ``model`` and move it to ``device``
    in eval mode.

    A checkpoint of another model would draw the attention of an untrained
    network, so any key or shape mismatch raises. The checkpoint's
    ``meta.dataset_meta`` (class names) replaces the model's.

    Args:
        model (nn.Module): From :func:`build_attention_model`.
        checkpoint (str): Checkpoint file.
        config (str, optional): The config file, named in the error.
        device (str): Torch device.

    Returns:
        nn.Module: ``model``.

    Raises:
        mmattn.utils.CheckpointError: the checkpoint does not load strictly
            (the message names the mismatched keys and ends with
            :data:`CHECKPOINT_ADVICE`), or is not a checkpoint.
    """
    from mmattn.utils import load_checkpoint_strict

    loaded = load_checkpoint_strict(
        model, checkpoint, config=config, advice=CHECKPOINT_ADVICE)
    meta = loaded.get('meta') if isinstance(loaded, dict) else None
    if isinstance(meta, dict) and meta.get('dataset_meta'):
        dataset_meta = {k.lower(): v for k, v in meta['dataset_meta'].items()}
        if model.cfg.get('default_scope') == 'mmdet':
            dataset_meta['palette'] = 'random'
        model.dataset_meta = dataset_meta
    return model.to(device).eval()


def init_attention_model(config: str,
                         checkpoint: str,
                         device: str = 'cpu',
                         cfg_options: Optional[dict] = None) -> nn.Module:
    """A trained HAR-Net or SAL-Net from its config and checkpoint, ready
    for the ``render_*`` functions.

    Builds (:func:`build_attention_model`), checks that the model has
    attention to show (before reading the checkpoint), then loads it
    strictly (:func:`load_attention_checkpoint`).

    Args:
        config (str): Config file.
        checkpoint (str): Checkpoint file.
        device (str): Torch device. Defaults to ``'cpu'``.
        cfg_options (dict, optional): Dotted-key overrides of the config.

    Returns:
        nn.Module: The model in eval mode.

    Raises:
        NoAttentionError: the model has no attention to show.
        ValueError: the config is neither mmdet- nor mmseg-scoped.
        mmattn.utils.CheckpointError: see :func:`load_attention_checkpoint`.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model = build_attention_model(cfg)
    attention_kind(model)
    return load_attention_checkpoint(model, checkpoint, config, device)


# ---------------------------------------------------------------------- #
# pictures
# ---------------------------------------------------------------------- #
def _iter_maps(model: nn.Module, imgs: Images,
               pipeline: Optional[Callable]):
    """AttentionMaps of each image, one image computed at a time for files
    (image ``i`` gets ``img_id=i``), the whole batch at once for a batch."""
    if isinstance(imgs, dict):
        if not {'inputs', 'data_samples'} <= set(imgs):
            raise ValueError('a batch must be dict(inputs, data_samples) '
                             'from the data preprocessor, got keys '
                             f'{sorted(imgs)}')
        yield from compute_attention_batch(model, imgs['inputs'],
                                           imgs['data_samples'])
        return
    if pipeline is None:
        cfg = getattr(model.module if is_model_wrapper(model) else model,
                      'cfg', None)
        if cfg is None:
            raise ValueError('model has no cfg; pass the test pipeline')
        pipeline = build_test_pipeline(cfg)
    for img_id, img in enumerate(imgs):
        yield compute_attention(model, img, pipeline=pipeline, img_id=img_id)


def _as_list(imgs: Images) -> Images:
    if isinstance(imgs, str):
        return [imgs]
    if isinstance(imgs, dict):
        return imgs
    imgs = list(imgs)
    if not imgs:
        raise ValueError('no images to draw')
    return imgs


def _num_images(imgs: Images) -> int:
    return len(imgs['data_samples']) if isinstance(imgs, dict) else len(imgs)


def _check_kind(model: nn.Module, kind: str, caller: str) -> None:
    found = attention_kind(model)
    if found != kind:
        raise ValueError(
            f'{caller} draws {kind} attention, but this model has {found} '
            'attention; call render_attention, which picks the kind')


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha!r}')


def _picture(maps: AttentionMaps, out_file: str, panels: Sequence[int],
             tags: Optional[np.ndarray]) -> AttentionPicture:
    return AttentionPicture(
        kind=maps.kind,
        img_path=maps.img_path,
        out_file=out_file,
        panels=[int(k) for k in panels],
        names=[maps.names[k] for k in panels],
        value_ranges=[(float(maps.feature_maps[k].min()),
                       float(maps.feature_maps[k].max())) for k in panels],
        scores=None if maps.scores is None else
        [float(maps.scores[k]) for k in panels],
        tags=None if tags is None else [float(t) for t in tags])


def render_spatial_attention(
        model: nn.Module,
        imgs: Images,
        out_dir: str,
        alpha: float = 0.5,
        pipeline: Optional[Callable] = None,
        progress: Optional[Callable[[AttentionPicture], None]] = None
) -> List[AttentionPicture]:
    """Draw HAR-Net's spatial attention: the input, then the mask of every
    pyramid level (P3..P7) over it, one PNG per image.

    Args:
        model (nn.Module): Detector whose ``bbox_head`` is a
            hybrid-attention head (``HARRetinaHead``, ``HARATSSHead``, ...)
            with spatial attention, in eval mode.
        imgs (str | Sequence[str] | dict): Image files (each through the
            config's test pipeline), or a batch ``dict(inputs,
            data_samples)`` from the model's data preprocessor whose
            metainfo has ``img_path``.
        out_dir (str): Folder of the PNGs, created when missing; existing
            pictures are replaced.
        alpha (float): Opacity of the masks over the image, in ``[0, 1]``.
        pipeline (Callable, optional): Test pipeline for image files; built
            from ``model.cfg`` when None.
        progress (Callable, optional): Called with each picture once it is
            written.

    Returns:
        list[AttentionPicture]: One per image, in order; every level is a
        panel.

    Raises:
        NoAttentionError: the model has no attention to show.
        ValueError: the model has class attention (SAL-Net).
    """
    _check_kind(model, SPATIAL, 'render_spatial_attention')
    _check_alpha(alpha)
    pictures = []
    for maps in _iter_maps(model, _as_list(imgs), pipeline):
        out_file = osp.join(out_dir, output_name(maps.img_path, SPATIAL))
        draw_attention(maps, out_file, panels=None, tags=None, alpha=alpha)
        pictures.append(
            _picture(maps, out_file, range(len(maps.image_maps)), None))
        if progress is not None:
            progress(pictures[-1])
    return pictures


def render_class_attention(
        model: nn.Module,
        imgs: Images,
        out_dir: str,
        tags: Optional[Sequence[Optional[np.ndarray]]] = None,
        topk: Optional[int] = None,
        alpha: float = 0.5,
        pipeline: Optional[Callable] = None,
        progress: Optional[Callable[[AttentionPicture], None]] = None
) -> List[AttentionPicture]:
    """Draw SAL-Net's class attention: the input, then the sigmoid of the
    fused class map of each chosen class over it, one PNG per image.

    The classes are chosen by :func:`select_classes`: the image's tagged
    classes (highest ``d_s`` first, then the best untagged ones up to
    ``topk`` panels), or without tags the ``topk`` (default 3) classes with
    the highest image score ``d_s``.

    Args:
        model (nn.Module): Segmentor whose ``decode_head`` is a ``SALHead``
            with a classification branch, in eval mode.
        imgs (str | Sequence[str] | dict): See
            :func:`render_spatial_attention`.
        out_dir (str): Folder of the PNGs (created; pictures replaced).
        tags (Sequence, optional): One ``(K,)`` 0/1 tag vector per image
            (index ``k`` is class ``k + 1``), or None in place of an image
            without tags. When ``tags`` itself is None each image's
            metainfo ``img_tags`` is used where the data samples carry it
            (``WeakVOCDataset`` + ``PackWeakSegInputs``).
        topk (int, optional): See above.
        alpha (float): Opacity of the maps, in ``[0, 1]``.
        pipeline (Callable, optional): Test pipeline for image files.
        progress (Callable, optional): Called with each written picture.

    Returns:
        list[AttentionPicture]: One per image, in order.

    Raises:
        NoAttentionError: the model has no attention to show.
        ValueError: the model has spatial attention (HAR-Net), ``tags`` has
            another length than the images, or a tag vector another length
            than the classes.
    """
    _check_kind(model, CLASS, 'render_class_attention')
    _check_alpha(alpha)
    if topk is not None:
        check_positive_int('topk', topk)
    imgs = _as_list(imgs)
    if tags is not None and len(tags) != _num_images(imgs):
        raise ValueError(f'got {len(tags)} tag vectors for '
                         f'{_num_images(imgs)} images')
    pictures = []
    for i, maps in enumerate(_iter_maps(model, imgs, pipeline)):
        if tags is None:
            img_tags = maps.meta.get('img_tags')
            if img_tags is not None:
                img_tags = np.asarray(img_tags, dtype=np.float32).reshape(-1)
        else:
            img_tags = tags[i]
            if img_tags is not None:
                img_tags = np.asarray(img_tags).reshape(-1)
        panels = select_classes(maps.scores, img_tags, topk)
        out_file = osp.join(out_dir, output_name(maps.img_path, CLASS))
        draw_attention(
            maps, out_file, panels=panels, tags=img_tags, alpha=alpha)
        pictures.append(_picture(maps, out_file, panels, img_tags))
        if progress is not None:
            progress(pictures[-1])
    return pictures


def render_attention(
        model: nn.Module,
        imgs: Images,
        out_dir: str,
        tags: Optional[Sequence[Optional[np.ndarray]]] = None,
        topk: Optional[int] = None,
        alpha: float = 0.5,
        pipeline: Optional[Callable] = None,
        progress: Optional[Callable[[AttentionPicture], None]] = None
) -> List[AttentionPicture]:
    """Draw the attention the model has: :func:`render_spatial_attention`
    for HAR-Net, :func:`render_class_attention` for SAL-Net.

    ``tags`` and ``topk`` choose SAL-Net's class panels; a HAR-Net picture
    shows every level and ignores them. The other arguments and the result
    are those of the two functions.

    Raises:
        NoAttentionError: the model has no attention to show (a RetinaNet,
            a ``SALHead`` without classification branch, another head).
    """
    if attention_kind(model) == SPATIAL:
        return render_spatial_attention(
            model, imgs, out_dir, alpha=alpha, pipeline=pipeline,
            progress=progress)
    return render_class_attention(
        model, imgs, out_dir, tags=tags, topk=topk, alpha=alpha,
        pipeline=pipeline, progress=progress)
