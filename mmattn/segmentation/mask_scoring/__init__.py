# Copyright (c) mmattn contributors. All rights reserved.
"""SAL's coarse-to-fine mask scoring (Sec. III-B): coarse scores AC, CD, SC
(Eq. 3-5), the scoring network (Table I, Eq. 6), the fine score SF (Eq. 7)
and the synthesis of the network's training set (Fig. 5)."""
from .coarse_scores import (PAPER_OBJECTNESS_WEIGHT, accuracy_score,
                            binary_foreground, check_label_map,
                            class_aware_accuracy_score, class_aware_fmeasure,
                            class_distribution, coarse_score, coarse_scores,
                            edge_objectness, edge_strength, fine_score,
                            paper_fmeasure)
from .data_preprocessor import MaskScoringDataPreprocessor
from .dataset import MaskScoringDataset
from .folder_scoring import (build_strict_scorer, score_folder,
                             score_output_paths)
from .mask_io import (check_same_size, find_file, load_scoring_inputs,
                      read_id_list, read_image, read_label_map,
                      read_reference, read_tags)
from .mask_scoring_net import (AvgMaxPool2d, ClassAgreementHead,
                               MaskScoringNet, MaskScoringResBlock)
from .metrics import (MaskScoreMetric, pearson_correlation,
                      spearman_correlation)
from .scoring import (TRUTHS, MaskScorer, score_proxy_masks,
                      summarize_scores)
from .synthesis import (ScoringSample, SynthesisConfig, labels_within,
                        relabel_object, relabel_target,
                        synthesize_scoring_set)
from .transforms import (LoadBinaryMask, LoadLabelMask, PackMaskScoringInputs,
                         build_inference_inputs)

__all__ = [
    'PAPER_OBJECTNESS_WEIGHT', 'accuracy_score', 'binary_foreground',
    'check_label_map', 'class_aware_accuracy_score', 'class_aware_fmeasure',
    'class_distribution', 'coarse_score', 'coarse_scores',
    'edge_objectness', 'edge_strength', 'fine_score', 'paper_fmeasure',
    'MaskScoringDataPreprocessor', 'MaskScoringDataset', 'check_same_size',
    'find_file', 'load_scoring_inputs', 'read_id_list', 'read_image',
    'read_label_map', 'read_reference', 'read_tags', 'MaskScoringNet',
    'MaskScoringResBlock', 'AvgMaxPool2d', 'ClassAgreementHead',
    'MaskScoreMetric',
    'pearson_correlation',
    'spearman_correlation', 'ScoringSample', 'SynthesisConfig',
    'synthesize_scoring_set', 'labels_within', 'relabel_object',
    'relabel_target',
    'MaskScorer', 'TRUTHS', 'score_proxy_masks', 'summarize_scores',
    'LoadBinaryMask', 'LoadLabelMask',
    'PackMaskScoringInputs', 'build_inference_inputs', 'build_strict_scorer',
    'score_folder', 'score_output_paths'
]
