# Copyright (c) mmattn contributors. All rights reserved.
"""The one interface between attention blocks and the code that switches
them off (HAR-Net's incremental training, ablations at test time).

A block is *bypassable* when it has a boolean attribute ``bypass``: while
it is True the block leaves the features unchanged and runs none of its own
layers. A gate (a mask or channel weights that multiply the features)
returns ones of its output's shape; a residual block ``act(x + f(x))``
returns ``act(x)``. :class:`~mmattn.detection.hooks.StagedAttentionHook`
only toggles the attribute, so a block from another package works with it
as soon as it implements this, e.g. by inheriting :class:`BypassMixin`.
"""
from typing import Protocol, runtime_checkable

__all__ = ['Bypassable', 'BypassMixin', 'is_bypassable']


@runtime_checkable
class Bypassable(Protocol):
    """Anything with a boolean ``bypass`` attribute honoured by its
    ``forward``."""

    bypass: bool


class BypassMixin:
    """Adds ``bypass = False`` to a module. The module's ``forward`` must
    check it and return what leaves the features unchanged (see the module
    docstring)."""

    bypass: bool = False


def is_bypassable(module) -> bool:
    """Whether ``module`` implements the bypass interface (a bool
    ``bypass`` attribute)."""
    return isinstance(getattr(module, 'bypass', None), bool)
