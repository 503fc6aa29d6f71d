# Copyright (c) mmattn contributors. All rights reserved.
"""Prediction files for the PASCAL VOC evaluation server.

mmseg's ``IoUMetric(format_only=True, output_dir=...)`` writes greyscale
(mode ``'L'``) PNGs into one flat folder and replaces whatever is there.
The VOC devkit asks for what its ground truth looks like: indexed PNGs with
the VOC colour map, one per test image, named ``<image id>.png``, in
``results/VOC2012/Segmentation/<comp>_test_cls/``, uploaded as a tar
archive of the ``results`` folder. :class:`VOCSubmissionMetric` writes
exactly that (docs/leaderboards.md).
"""
import os
import os.path as osp
import tarfile
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from PIL import Image

from mmattn.synthetic.seg import voc_palette
from mmattn.utils.validation import check_bool, check_choice
from mmseg.registry import METRICS

# comp5: trained on the VOC2012 segmentation data only; comp6: trained with
# any other data (SBD, saliency models, ImageNet pre-training, ...).
COMPETITIONS = ('comp5', 'comp6')
ARCHIVE_MODES = {'.tar': 'w', '.tar.gz': 'w:gz', '.tgz': 'w:gz'}


def _archive_mode(archive: str) -> str:
    for suffix, mode in ARCHIVE_MODES.items():
        if archive.endswith(suffix):
            return mode
    raise ValueError('archive must be None or a file name ending in '
                     f'{sorted(ARCHIVE_MODES)}, got {archive!r}')


@METRICS.register_module()
class VOCSubmissionMetric(BaseMetric):
    """Write segmentation predictions in the layout of the PASCAL VOC
    evaluation server; evaluates nothing (the test set has no ground truth).

    For each test image, ``pred_sem_seg`` (class indices at the original
    image size, as mmseg's segmentors return them) is saved as an indexed
    (mode ``'P'``) PNG with the VOC colour map in
    ``{output_dir}/results/{year}/Segmentation/{competition}_test_cls/
    {image id}.png``, the image id being the image file name without its
    suffix. At the end, the ``results`` folder can be packed into
    ``{output_dir}/{archive}``, holding exactly the images of this run.

    A run refuses to start when the results folder already holds PNGs (a
    submission mixing two runs would be wrong without anyone noticing),
    unless ``overwrite=True``; the same for an existing archive.

    Args:
        output_dir (str): Folder that receives ``results/`` and the archive.
        competition (str): ``'comp5'`` (trained on VOC2012 segmentation data
            only) or ``'comp6'`` (any other training data). Defaults to
            ``'comp6'``.
        year (str): Challenge folder name. Defaults to ``'VOC2012'``.
        archive (str, optional): File name, inside ``output_dir``, of the tar
            archive to write (``.tar``, ``.tar.gz`` or ``.tgz``); None writes
            none. Defaults to None.
        overwrite (bool): Replace existing result PNGs and archive. Defaults
            to False.
        collect_device (str): Device used to collect results across ranks.
            Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the reported numbers. Defaults to
            None (``'voc_submission'``).
    """
    default_prefix: Optional[str] = 'voc_submission'

    def __init__(self,
                 output_dir: str,
                 competition: str = 'comp6',
                 year: str = 'VOC2012',
                 archive: Optional[str] = None,
                 overwrite: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not isinstance(output_dir, str) or not output_dir:
            raise ValueError(
                f'output_dir must be a non-empty path, got {output_dir!r}')
        check_choice('competition', competition, COMPETITIONS)
        if not isinstance(year, str) or not year:
            raise ValueError(f'year must be a non-empty string, got {year!r}')
        if archive is not None:
            if not isinstance(archive,
                              str) or osp.basename(archive) != archive:
                raise ValueError('archive must be a file name (no folder), '
                                 f'got {archive!r}')
            self.archive_mode = _archive_mode(archive)
        check_bool('overwrite', overwrite)
        self.output_dir = output_dir
        self.competition = competition
        self.year = year
        self.archive = archive
        self.overwrite = overwrite
        self.results_dir = osp.join(output_dir, 'results', year,
                                    'Segmentation', f'{competition}_test_cls')
        # Flattened 256-entry colour map, the one of the VOC ground truth.
        self.palette: List[int] = voc_palette().reshape(-1).tolist()
        # Checked once, by the main process, before any rank writes: a
        # per-file check would also trip over the images that distributed
        # samplers repeat to even out the ranks.
        if is_main_process() and not overwrite:
            self._refuse_existing_results()

    def _refuse_existing_results(self) -> None:
        if osp.isdir(self.results_dir):
            existing = [
                name for name in os.listdir(self.results_dir)
                if name.endswith('.png')
            ]
            if existing:
                raise FileExistsError(
                    f'{self.results_dir} already holds {len(existing)} result '
                    'PNGs (e.g. ' + existing[0] + '); use another output_dir '
                    'or overwrite=True')
        if self.archive is not None and osp.exists(self.archive_path):
            raise FileExistsError(
                f'{self.archive_path} exists; use another output_dir or '
                'overwrite=True')

    @property
    def archive_path(self) -> Optional[str]:
        """Path of the tar archive, or None when none is written."""
        if self.archive is None:
            return None
        return osp.join(self.output_dir, self.archive)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Save one PNG per data sample.

        Args:
            data_batch (dict): The batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs; each has
                ``pred_sem_seg.data`` of shape ``(1, H, W)`` (class indices
                at the original image size) and ``img_path``.
        """
        num_classes = len(self.dataset_meta['classes'])
        os.makedirs(self.results_dir, exist_ok=True)
        for data_sample in data_samples:
            image_id = osp.splitext(osp.basename(data_sample['img_path']))[0]
            mask = data_sample['pred_sem_seg']['data'].squeeze(0)
            if mask.ndim != 2:
                raise ValueError(
                    f'pred_sem_seg of {image_id} must be (1, H, W), got '
                    f'{tuple(data_sample["pred_sem_seg"]["data"].shape)}')
            mask = mask.cpu().numpy()
            if mask.size and (mask.min() < 0 or mask.max() >= num_classes):
                raise ValueError(f'prediction of {image_id} has class indices '
                                 f'{mask.min()}..{mask.max()}, outside 0..'
                                 f'{num_classes - 1}')
            image = Image.fromarray(mask.astype(np.uint8))
            # putpalette turns the 'L' image into an indexed ('P') one.
            image.putpalette(self.palette)
            image.save(osp.join(self.results_dir, f'{image_id}.png'))
            self.results.append(image_id)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Pack the written PNGs into the archive (if asked).

        Args:
            results (list): Image ids written by all ranks.

        Returns:
            dict: ``num_images``, the number of distinct images written.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        image_ids = sorted(set(results))
        if len(image_ids) != len(results):
            logger.warning(
                f'{len(results) - len(image_ids)} image ids appear twice in '
                'the test list; each has one PNG')
        if osp.isdir(self.results_dir):
            others = sorted(
                set(
                    osp.splitext(name)[0]
                    for name in os.listdir(self.results_dir)
                    if name.endswith('.png')) - set(image_ids))
            if others:
                logger.warning(
                    f'{self.results_dir} also holds {len(others)} PNGs of an '
                    f'earlier run (e.g. {others[0]}.png); the archive leaves '
                    'them out')
        logger.info(f'{len(image_ids)} result PNGs in {self.results_dir}')
        if self.archive is not None:
            self._write_archive(image_ids)
            logger.info(f'submission archive: {self.archive_path}')
        return dict(num_images=len(image_ids))

    def _write_archive(self, image_ids: Sequence[str]) -> None:
        # Written to a temporary name first, so a crash never leaves a
        # truncated archive that looks like a submission.
        partial = self.archive_path + '.partial'
        with tarfile.open(partial, self.archive_mode) as tar:
            # Folder entries too, as `tar -czf results.tgz results` has them.
            folder = self.results_dir
            folders = []
            while osp.normpath(folder) != osp.normpath(self.output_dir):
                folders.append(folder)
                folder = osp.dirname(folder)
            for folder in reversed(folders):
                tar.add(
                    folder,
                    arcname=osp.relpath(folder, self.output_dir),
                    recursive=False)
            for image_id in image_ids:
                path = osp.join(self.results_dir, f'{image_id}.png')
                tar.add(path, arcname=osp.relpath(path, self.output_dir))
        os.replace(partial, self.archive_path)
