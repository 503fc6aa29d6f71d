# Copyright (c) mmattn contributors. All rights reserved.
"""Synthesise the mask scorer's training set (SAL Sec. III-B.2, Fig. 5).

Same arguments as ``mmattn.segmentation.mask_scoring.synthesis.main``; run
with ``--help`` for them. See docs/mask_scoring.md.
"""
from mmattn.segmentation.mask_scoring.synthesis import main

if __name__ == '__main__':
    main()
