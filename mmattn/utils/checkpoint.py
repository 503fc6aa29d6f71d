# Copyright (c) mmattn contributors. All rights reserved.
"""Make mmengine checkpoints loadable under torch's safe (``weights_only``)
unpickler, without turning safe loading off.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``. mmengine
0.10.7 calls ``torch.load`` without the argument, and its checkpoints pickle
more than tensors:

- ``message_hub`` holds :class:`mmengine.logging.HistoryBuffer` objects,
  whose state carries numpy arrays and, through ``HistoryBuffer.__getstate__``,
  references to its statistics methods pickled as
  ``getattr(HistoryBuffer, 'mean')``;
- ``message_hub.runtime_info`` can hold numpy scalars (e.g. ``best_score``).

So ``resume=True`` and ``load_from`` fail with "Weights only load failed".
Rather than loading with ``weights_only=False`` (arbitrary code execution
for any file), this module allowlists exactly those classes, the numpy
reconstructors of arrays and scalars, and a *restricted* ``getattr`` that
resolves nothing but ``HistoryBuffer``'s registered statistics methods. Any
other global in a checkpoint is still refused by torch.
"""
from typing import Any, List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_REGISTERED = False


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for the builtin ``getattr`` while unpickling checkpoints.

    Only ``getattr(HistoryBuffer, <statistics method>)`` is allowed: that is
    how ``HistoryBuffer.__getstate__`` pickles its statistics methods. A
    general ``getattr`` would let a crafted file reach arbitrary objects.

    Raises:
        pickle.UnpicklingError: for any other object or attribute.
    """
    import pickle
    if obj is HistoryBuffer and (name in HistoryBuffer._statistics_methods
                                 or name in ('min', 'max', 'mean', 'current')):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'mmattn refused getattr({obj!r}, {name!r}) while loading a '
        'checkpoint: only HistoryBuffer statistics methods are allowed under '
        'safe loading. Load a trusted file with torch.load(..., '
        'weights_only=False) yourself if you really need it.')


def _numpy_safe_globals() -> List[Any]:
    """Numpy classes and reconstructors that rebuild plain arrays/scalars,
    under both the numpy 1.x (``numpy.core``) and 2.x (``numpy._core``)
    module paths, so checkpoints written with either load."""
    try:
        multiarray = np._core.multiarray  # numpy >= 2
    except AttributeError:  # pragma: no cover - numpy 1.x
        multiarray = np.core.multiarray
    entries: List[Any] = [np.ndarray, np.dtype]
    for func_name in ('_reconstruct', 'scalar'):
        func = getattr(multiarray, func_name)
        entries.append(func)
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            entries.append((func, f'{module}.{func_name}'))
    # numpy>=1.25 pickles dtypes through their classes (numpy.dtypes.*).
    dtypes_module = getattr(np, 'dtypes', None)
    if dtypes_module is not None:
        for dtype_name in ('BoolDType', 'Int8DType', 'UInt8DType',
                           'Int16DType', 'UInt16DType', 'Int32DType',
                           'UInt32DType', 'Int64DType', 'UInt64DType',
                           'Float16DType', 'Float32DType', 'Float64DType',
                           'LongDType', 'ULongDType', 'LongLongDType',
                           'ULongLongDType'):
            dtype_cls = getattr(dtypes_module, dtype_name, None)
            if dtype_cls is not None:
                entries.append(dtype_cls)
    return entries


def checkpoint_safe_globals() -> List[Any]:
    """Everything :func:`register_checkpoint_safe_globals` allowlists."""
    return [
        HistoryBuffer,
        (history_buffer_getattr, 'builtins.getattr'),
        # protocol-2 pickles spell the builtins module ``__builtin__``
        (history_buffer_getattr, '__builtin__.getattr'),
    ] + _numpy_safe_globals()


def register_checkpoint_safe_globals() -> bool:
    """Allowlist mmengine's checkpoint contents for ``weights_only`` loading.

    Idempotent; called by ``import mmattn``. A no-op on torch versions
    without ``torch.serialization.add_safe_globals`` (< 2.4), which load with
    ``weights_only=False`` by default anyway.

    Returns:
        bool: Whether the allowlist is (now) registered.
    """
    global _REGISTERED
    if _REGISTERED:
        return True
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # pragma: no cover - torch < 2.4
        return False
    add_safe_globals(checkpoint_safe_globals())
    _REGISTERED = True
    return True
