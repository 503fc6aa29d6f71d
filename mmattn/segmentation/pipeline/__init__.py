# Copyright (c) mmattn contributors. All rights reserved.
"""SAL-Net end to end on a user's folder (``tools/sal_pipeline.py``):
input checks, coarse and fine scoring, the scorer's training, the choice of
tau, retraining, evaluation and a report, as stages that are skipped while
up to date."""
from .inputs import (WEAK_DATASETS, PipelineInputError, PipelineInputs,
                     check_inputs, check_reference_masks,
                     input_fingerprints, resolve_inputs)
from .report import (label_palette, markdown_report, pick_examples,
                     plot_examples, plot_score_histogram, val_correlation)
from .sal_pipeline import (DEFAULT_SAL_CONFIG, DEFAULT_SCORER_CONFIG,
                           STAGES, PipelineError, build_parser,
                           default_config, parse_args, run_pipeline)
from .stages import (PIPELINE_MARKER, STAGE_RECORD, StageRunner,
                     WorkDirError, claim_work_dir, file_sha1,
                     settings_digest, stat_fingerprint)
from .tau_rules import (TAU_RULES, describe_rule, fit_two_gaussians,
                        keep_fraction_tau, mixture_tau, val_proxy_tau)

__all__ = [
    'WEAK_DATASETS', 'PipelineInputError', 'PipelineInputs', 'check_inputs',
    'check_reference_masks', 'input_fingerprints', 'resolve_inputs',
    'label_palette', 'markdown_report', 'pick_examples', 'plot_examples',
    'plot_score_histogram', 'val_correlation', 'DEFAULT_SAL_CONFIG',
    'DEFAULT_SCORER_CONFIG', 'STAGES', 'PipelineError', 'build_parser',
    'default_config', 'parse_args', 'run_pipeline', 'PIPELINE_MARKER',
    'STAGE_RECORD', 'StageRunner', 'WorkDirError', 'claim_work_dir',
    'file_sha1', 'settings_digest', 'stat_fingerprint', 'TAU_RULES',
    'describe_rule', 'fit_two_gaussians', 'keep_fraction_tau', 'mixture_tau',
    'val_proxy_tau'
]
