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

Two more numpy cases need a stand-in rather than an allowlisted builtin:

- an *empty* array (an empty ``HistoryBuffer``, any empty array in ``meta``)
  pickles its raw data as ``bytes()``, i.e. ``GLOBAL builtins.bytes`` called
  with no arguments (torch saves with pickle protocol 2, which spells
  non-empty bytes as ``_codecs.encode``, already allowed by torch). The
  builtin ``bytes`` is not allowlisted (``bytes(10**12)`` allocates a
  terabyte); :func:`empty_bytes` stands in for it and returns ``b''`` for
  ``bytes()`` only;
- fixed-width string arrays pickle their dtype as ``numpy.dtypes.StrDType``
  (``BytesDType`` for ``S`` arrays), which are allowlisted. Object arrays
  (``ObjectDType``) stay refused.

Finally, mmengine's local-file checkpoint loader (the ``''`` scheme of
:class:`mmengine.runner.CheckpointLoader`, which ``load_from``, ``resume``,
``load_checkpoint`` and ``Pretrained`` init go through) is replaced by
:func:`load_from_local`, which checks that the file is a PyTorch checkpoint
and is complete before ``torch.load`` (still with torch's safe default):
a text file, an empty file or a truncated one raises
:class:`CheckpointFileError` naming the file, instead of torch's advice to
load with ``weights_only=False`` or an ``OSError``.
"""
import errno
import os.path as osp
import pickle
import zipfile
from typing import Any, List, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

_REGISTERED = False
_LOADER_INSTALLED = False


class CheckpointError(RuntimeError):
    """A checkpoint file that mmattn refuses to use; the message names the
    file and what is wrong with it."""


class CheckpointFileError(CheckpointError):
    """The file is not a PyTorch checkpoint, or is truncated or corrupt.

    Args:
        filename (str): The checkpoint file.
        problem (str): What is wrong, completing "``<filename>`` ...".
        corrupt (bool): True for a truncated or damaged checkpoint (a later
            file of an interrupted run), False for a file that is not a
            checkpoint at all.
        hint (str, optional): What to do, appended as a last sentence.
    """

    def __init__(self,
                 filename: str,
                 problem: str,
                 corrupt: bool = False,
                 hint: Optional[str] = None) -> None:
        self.filename = filename
        self.problem = problem
        self.corrupt = corrupt
        super().__init__(f'{filename} {problem}' +
                         (f'. {hint}' if hint else ''))


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


def empty_bytes(*args: Any) -> bytes:
    """Stand-in for the builtin ``bytes`` while unpickling checkpoints.

    Protocol-2 pickles (``torch.save``'s default) spell ``b''`` as a call
    ``bytes()``: that is how the raw data of an empty numpy array is stored.
    Only that call is allowed; ``bytes(n)`` would allocate ``n`` bytes and
    ``bytes(iterable)`` could run arbitrarily long.

    Returns:
        bytes: ``b''``.

    Raises:
        pickle.UnpicklingError: when called with any argument.
    """
    if args:
        shown = ', '.join(
            repr(a) if len(repr(a)) <= 40 else f'<{type(a).__name__}>'
            for a in args)
        raise pickle.UnpicklingError(
            f'mmattn refused bytes({shown}) while loading a checkpoint: only '
            "bytes() (the data of an empty numpy array) is allowed under "
            'safe loading. Load a trusted file with torch.load(..., '
            'weights_only=False) yourself if you really need it.')
    return b''


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
                           'ULongLongDType',
                           # fixed-width strings: plain bytes, no objects
                           'StrDType', 'BytesDType'):
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
        (empty_bytes, 'builtins.bytes'),
        (empty_bytes, '__builtin__.bytes'),
    ] + _numpy_safe_globals()


_ZIP_MAGIC = b'PK'
# torch's legacy (non-zip) format is a sequence of protocol-2 pickles.
_PICKLE_PROTO_OPCODE = b'\x80'
_RESUME_HINT = (
    'If it is the latest checkpoint of an interrupted run, resume from an '
    'earlier one (tools/train.py --resume --resume-fallback, or --resume '
    'FILE); nothing was deleted.')


def check_checkpoint_file(filename: str) -> None:
    """Check that ``filename`` is a complete file written by ``torch.save``,
    without unpickling it.

    A zip-format checkpoint (torch >= 1.6) must have its central directory
    (it is written last, so a truncated file has none) and a ``data.pkl``
    record; a legacy checkpoint must start with a pickle protocol opcode.

    Args:
        filename (str): Path of a local file.

    Raises:
        FileNotFoundError: If the file does not exist.
        CheckpointFileError: If it is empty, not a PyTorch checkpoint, or a
            truncated or damaged zip archive.
    """
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    with open(filename, 'rb') as f:
        head = f.read(16)
    if not head:
        raise CheckpointFileError(
            filename, 'is empty (0 bytes), not a PyTorch checkpoint',
            corrupt=True, hint=_RESUME_HINT)
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(filename) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise CheckpointFileError(
                filename, 'is truncated or corrupt: it starts as a PyTorch '
                f'checkpoint (a zip archive) but cannot be read ({err})',
                corrupt=True, hint=_RESUME_HINT) from err
        if not any(name == 'data.pkl' or name.endswith('/data.pkl')
                   for name in names):
            raise CheckpointFileError(
                filename, 'is a zip archive but not a PyTorch checkpoint '
                '(it has no data.pkl record; torch.save writes one)')
        return
    if head.startswith(_PICKLE_PROTO_OPCODE):
        return
    try:
        head.decode('utf-8')
        looks = 'it looks like text'
    except UnicodeDecodeError:
        looks = 'it is neither a zip archive nor a pickle'
    raise CheckpointFileError(
        filename, f'is not a PyTorch checkpoint: {looks} (it starts with '
        f'{head[:12]!r}); expected a file written by torch.save, such as the '
        '.pth files that training writes')


def _is_corrupt_archive_error(err: BaseException) -> bool:
    """Whether ``torch.load`` failed because the file's data is damaged."""
    if isinstance(err, (EOFError, zipfile.BadZipFile)):
        return True
    if isinstance(err, OSError) and err.errno == errno.EINVAL:
        return True
    text = str(err)
    return isinstance(err, (RuntimeError, pickle.UnpicklingError)) and any(
        marker in text
        for marker in ('PytorchStreamReader', 'pickle data was truncated',
                       'archive is corrupted', 'unexpected EOF'))


def load_from_local(filename: str, map_location=None) -> Any:
    """mmengine's local-file checkpoint loader, with the file checked first.

    Same behaviour as ``mmengine.runner.checkpoint.load_from_local`` of
    mmengine 0.10.7 (``torch.load`` with torch's default, safe
    ``weights_only``), except that a file that is not a PyTorch checkpoint,
    or is truncated or damaged, raises :class:`CheckpointFileError` naming
    it. The name starts with ``load_from_`` because mmengine logs the
    loader's name after that prefix ("Loads checkpoint by local backend").

    Args:
        filename (str): Local path (``~`` is expanded).
        map_location: As for :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    check_checkpoint_file(filename)
    try:
        return torch.load(filename, map_location=map_location)
    except Exception as err:  # re-raised unless it is a damaged file
        if _is_corrupt_archive_error(err):
            raise CheckpointFileError(
                filename, f'is truncated or corrupt: torch.load failed '
                f'with {type(err).__name__}: {err}', corrupt=True,
                hint=_RESUME_HINT) from err
        raise


def install_checked_local_loader() -> None:
    """Make :func:`load_from_local` mmengine's loader for local files.

    Uses mmengine's own extension point,
    ``CheckpointLoader.register_scheme('', ..., force=True)``. Idempotent.
    """
    global _LOADER_INSTALLED
    if _LOADER_INSTALLED:
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local, force=True)
    _LOADER_INSTALLED = True


def register_checkpoint_safe_globals() -> bool:
    """Allowlist mmengine's checkpoint contents for ``weights_only`` loading,
    and install the checked local-file loader
    (:func:`install_checked_local_loader`).

    Idempotent; called by ``import mmattn``. A no-op on torch versions
    without ``torch.serialization.add_safe_globals`` (< 2.4), which load with
    ``weights_only=False`` by default anyway.

    Returns:
        bool: Whether the allowlist is (now) registered.
    """
    global _REGISTERED
    install_checked_local_loader()
    if _REGISTERED:
        return True
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # pragma: no cover - torch < 2.4
        return False
    add_safe_globals(checkpoint_safe_globals())
    _REGISTERED = True
    return True
