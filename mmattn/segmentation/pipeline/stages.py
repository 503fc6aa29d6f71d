# Copyright (c) mmattn contributors. All rights reserved.
"""A tiny make for pipelines: stages that are skipped while their outputs
are up to date with their inputs and settings.

Each stage owns one folder ``<work_dir>/<stage>/`` and records
``<stage>/stage.json``:

- ``status``: ``'running'`` from the moment the stage starts (so a killed
  run is recognised), ``'done'`` once it finished;
- ``key``: sha1 of the stage's inputs and settings (input file fingerprints,
  settings, the output digests of the stages it reads);
- ``outputs``: size, mtime and sha1 of each output file; ``digest``: one
  sha1 over them, which the stages downstream put into their keys;
- ``files``: every file in the folder when the stage finished;
- ``result``: what the stage returned (paths, numbers), ``seconds``.

A stage runs again when its record is missing, not ``'done'``, has another
key, or an output was deleted or changed. A rerun deletes the stage's
folder first: only files the stage wrote there (``files``), never another
file (the run stops naming it). A rerun stage that writes byte-identical
outputs leaves the stages downstream up to date, as in make.

The work dir itself is claimed with a marker file; one that holds anything
else (files the pipeline did not write) is refused.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

__all__ = [
    'WorkDirError', 'PIPELINE_MARKER', 'STAGE_RECORD', 'claim_work_dir',
    'stat_fingerprint', 'file_sha1', 'settings_digest', 'StageRunner'
]

#: The file that marks a work dir as the pipeline's.
PIPELINE_MARKER = 'mmattn_pipeline.json'
#: The record of a stage, inside its folder.
STAGE_RECORD = 'stage.json'
_MARKER_FORMAT = 'mmattn.sal_pipeline'
_RECORD_FORMAT = 'mmattn.sal_pipeline.stage'


class WorkDirError(RuntimeError):
    """The work dir holds files the pipeline did not write (or a stage
    folder holds files its stage did not write); the message names them."""


def _list_files(folder: str) -> List[str]:
    """Every file under ``folder``, as sorted paths relative to it."""
    found = []
    for root, _, files in os.walk(folder):
        for name in files:
            found.append(
                osp.relpath(osp.join(root, name), folder).replace(os.sep, '/'))
    return sorted(found)


def claim_work_dir(work_dir: str, stage_names: Sequence[str],
                   tool: str) -> bool:
    """Create ``work_dir`` for the pipeline, or check that it is the
    pipeline's.

    A missing or empty folder is created and marked (``PIPELINE_MARKER``).
    A non-empty folder must hold the marker and nothing but stage folders.

    Args:
        work_dir (str): The work dir.
        stage_names (Sequence[str]): The stage folders allowed in it.
        tool (str): Recorded in the marker.

    Returns:
        bool: True when the folder was new (or empty).

    Raises:
        WorkDirError: The folder is a file, holds files the pipeline did not
            write, or its marker belongs to something else.
    """
    marker = osp.join(work_dir, PIPELINE_MARKER)
    if osp.exists(work_dir) and not osp.isdir(work_dir):
        raise WorkDirError(f'--work-dir {work_dir} is a file, not a folder')
    entries = sorted(os.listdir(work_dir)) if osp.isdir(work_dir) else []
    if entries:
        if PIPELINE_MARKER not in entries:
            raise WorkDirError(
                f'--work-dir {work_dir} holds files the pipeline did not '
                f'write ({", ".join(entries[:5])}'
                f'{", ..." if len(entries) > 5 else ""}) and no '
                f'{PIPELINE_MARKER}; refusing to write into it. Choose a new '
                'or empty folder (the pipeline writes only under --work-dir)')
        try:
            with open(marker) as f:
                payload = json.load(f)
        except (OSError, ValueError) as err:
            raise WorkDirError(
                f'{marker}: unreadable pipeline marker ({err}); refusing to '
                'write into the folder') from err
        if not isinstance(payload, dict) or \
                payload.get('format') != _MARKER_FORMAT:
            raise WorkDirError(
                f'{marker}: not a marker of tools/sal_pipeline.py; refusing '
                'to write into the folder')
        foreign = [
            e for e in entries
            if e != PIPELINE_MARKER and (e not in stage_names or not osp.isdir(
                osp.join(work_dir, e)))
        ]
        if foreign:
            raise WorkDirError(
                f'--work-dir {work_dir} holds files the pipeline did not '
                f'write: {", ".join(foreign[:5])}'
                f'{", ..." if len(foreign) > 5 else ""}. Move them out (the '
                'pipeline never deletes what it did not write), or choose '
                'another --work-dir')
        return False
    os.makedirs(work_dir, exist_ok=True)
    with open(marker, 'w') as f:
        json.dump(dict(format=_MARKER_FORMAT, version=1, tool=tool), f,
                  indent=1)
    return True


def stat_fingerprint(paths: Iterable[str]) -> str:
    """sha1 over ``(path, size, mtime_ns)`` of each file, as make compares
    times: cheap for thousands of images. A missing file counts as
    ``missing``; a copied or touched file counts as changed.

    Args:
        paths (Iterable[str]): Files, in a fixed order.

    Returns:
        str: 40 hex digits.
    """
    digest = hashlib.sha1()
    for path in paths:
        try:
            st = os.stat(path)
            entry = f'{path}\0{st.st_size}\0{st.st_mtime_ns}\n'
        except FileNotFoundError:
            entry = f'{path}\0missing\n'
        digest.update(entry.encode())
    return digest.hexdigest()


def file_sha1(path: str) -> str:
    """sha1 of a file's bytes."""
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def settings_digest(data: Any) -> str:
    """sha1 of JSON-able ``data`` (keys sorted; other objects by ``str``)."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def _read_record(stage_dir: str) -> Optional[dict]:
    path = osp.join(stage_dir, STAGE_RECORD)
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get('format') != _RECORD_FORMAT:
        return None
    return record


def _write_record(stage_dir: str, record: dict) -> None:
    path = osp.join(stage_dir, STAGE_RECORD)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _outputs_intact(stage_dir: str, outputs: Dict[str, dict]) -> bool:
    for rel, recorded in outputs.items():
        path = osp.join(stage_dir, rel)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        if st.st_size == recorded['size'] and \
                st.st_mtime_ns == recorded['mtime_ns']:
            continue
        # Touched or rewritten: up to date only with the same bytes.
        if st.st_size != recorded['size'] or \
                file_sha1(path) != recorded['sha1']:
            return False
    return True


def _why_changed(record: dict, key: str, parts: dict) -> str:
    """Why a finished stage runs again, for its start line."""
    if record.get('key') == key:
        return 'an output was deleted or changed'
    old = record.get('parts') or {}
    changed = sorted(
        u for u, digest in parts['upstream'].items()
        if old.get('upstream', {}).get(u) != digest)
    if old.get('data') != parts['data']:
        return 'its settings or input files changed'
    if changed:
        return f'new output of {", ".join(changed)}'
    return 'its inputs changed'


class StageRunner:
    """Runs stages in ``work_dir``, skipping those that are up to date.

    Args:
        work_dir (str): The claimed work dir (:func:`claim_work_dir`).
        stage_names (Sequence[str]): All stages in order (for ``i/n`` in
            the progress lines).
        log (Callable[[str], None]): Prints one progress line.
        rank (int): This process's rank; only rank 0 writes records.
        sync (Callable[[Any], Any], optional): Distributed runs: returns
            rank 0's value on every rank (and is a barrier). Defaults to
            the identity.
    """

    def __init__(self,
                 work_dir: str,
                 stage_names: Sequence[str],
                 log: Callable[[str], None] = print,
                 rank: int = 0,
                 sync: Optional[Callable[[Any], Any]] = None) -> None:
        self.work_dir = work_dir
        self.stage_names = list(stage_names)
        self.log = log
        self.rank = rank
        self.sync = sync or (lambda value: value)
        self.digests: Dict[str, str] = {}
        self.results: Dict[str, dict] = {}
        self.status: Dict[str, dict] = {}

    def stage_dir(self, name: str) -> str:
        return osp.join(self.work_dir, name)

    def _line(self, name: str, text: str) -> None:
        if self.rank == 0:
            index = self.stage_names.index(name) + 1
            self.log(f'[sal_pipeline] stage {index}/{len(self.stage_names)} '
                     f'{name}: {text}')

    def not_needed(self, name: str, reason: str) -> None:
        """Report a stage that this run does not need."""
        self._line(name, f'not needed ({reason})')
        self.status[name] = dict(status='not needed', reason=reason,
                                 seconds=0.0)

    def _decide(self, name: str, key: str, parts: dict,
                resumable: bool) -> dict:
        """Rank 0: skip, resume or (re)run, and clear the folder for a
        rerun."""
        stage_dir = self.stage_dir(name)
        record = _read_record(stage_dir)
        if record is not None and record.get('status') == 'done' and \
                record.get('key') == key and \
                _outputs_intact(stage_dir, record.get('outputs', {})):
            return dict(action='skip', record=record)
        if not osp.isdir(stage_dir):
            return dict(action='run', why='')
        if record is None:
            present = _list_files(stage_dir)
            if present:
                raise WorkDirError(
                    f'{stage_dir} holds files the pipeline did not write '
                    f'({", ".join(present[:5])}) and no {STAGE_RECORD}; '
                    'move them out or choose another --work-dir')
            return dict(action='run', why='')
        if record.get('status') == 'running':
            if resumable and record.get('key') == key:
                return dict(action='resume',
                            why='the previous run stopped mid-stage')
            why = 'the previous run stopped mid-stage'
        else:
            why = _why_changed(record, key, parts)
            written = set(record.get('files', [])) | {STAGE_RECORD}
            extra = [f for f in _list_files(stage_dir) if f not in written]
            if extra:
                raise WorkDirError(
                    f'{stage_dir} holds files its stage did not write: '
                    f'{", ".join(extra[:5])}; the stage must run again '
                    '(its folder is replaced), move them out first')
        return dict(action='run', why=why)

    def run(self,
            name: str,
            fn: Callable[[str, bool], dict],
            key_data: Dict[str, Any],
            upstream: Sequence[str] = (),
            all_ranks: bool = False,
            resumable: bool = False,
            description: str = '') -> dict:
        """Run stage ``name`` unless it is up to date.

        Args:
            name (str): The stage (its folder name).
            fn (Callable[[str, bool], dict]): ``fn(stage_dir, resume)``
                does the work and returns a JSON-able result with
                ``'outputs'``: the output files, relative to ``stage_dir``.
            key_data (dict): Inputs and settings (JSON-able); any change
                makes the stage run again.
            upstream (Sequence[str]): Stages whose outputs this one reads
                (their digests join the key).
            all_ranks (bool): Distributed runs: ``fn`` runs on every rank
                (training); otherwise only on rank 0 while the others wait.
            resumable (bool): A stage stopped mid-way is continued
                (``resume=True``) instead of started afresh.
            description (str): Said in the start line.

        Returns:
            dict: The stage's result (from this run or its record).
        """
        upstream_digests = {u: self.digests[u] for u in upstream}
        data_digest = settings_digest(dict(stage=name, data=key_data))
        key = settings_digest(
            dict(data=data_digest, upstream=upstream_digests))
        parts = dict(data=data_digest, upstream=upstream_digests)
        stage_dir = self.stage_dir(name)
        decision = None
        if self.rank == 0:
            decision = self._decide(name, key, parts, resumable)
        decision = self.sync(decision)
        if decision['action'] == 'skip':
            record = decision['record']
            self._line(
                name, f'skipped, up to date (ran in '
                f'{record.get("seconds", 0):.1f} s)')
            self.digests[name] = record['digest']
            self.results[name] = record['result']
            self.status[name] = dict(status='skipped (up to date)',
                                     seconds=record.get('seconds', 0.0))
            return record['result']
        resume = decision['action'] == 'resume'
        start = time.time()
        if self.rank == 0:
            if not resume and osp.isdir(stage_dir):
                shutil.rmtree(stage_dir)
            os.makedirs(stage_dir, exist_ok=True)
            _write_record(
                stage_dir,
                dict(format=_RECORD_FORMAT, stage=name, status='running',
                     key=key, parts=parts,
                     started=time.strftime('%Y-%m-%d %H:%M:%S')))
            why = f' ({decision["why"]})' if decision.get('why') else ''
            verb = 'resuming' if resume else 'started'
            self._line(name, f'{verb}{why}' +
                       (f': {description}' if description else ''))
        self.sync(None)
        result = None
        if all_ranks or self.rank == 0:
            result = fn(stage_dir, resume)
        self.sync(None)
        record = None
        if self.rank == 0:
            record = self._finish(name, stage_dir, key, parts, result,
                                  time.time() - start)
            self._line(name, f'done in {record["seconds"]:.1f} s')
        record = self.sync(record)
        self.digests[name] = record['digest']
        self.results[name] = record['result']
        self.status[name] = dict(status='ran', seconds=record['seconds'])
        return record['result']

    def _finish(self, name: str, stage_dir: str, key: str, parts: dict,
                result: dict, seconds: float) -> dict:
        if not isinstance(result, dict) or 'outputs' not in result:
            raise TypeError(f'stage {name} returned no outputs list')
        outputs = {}
        for rel in result['outputs']:
            path = osp.join(stage_dir, rel)
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'stage {name} did not write its output {path}')
            st = os.stat(path)
            outputs[rel] = dict(size=st.st_size, mtime_ns=st.st_mtime_ns,
                                sha1=file_sha1(path))
        digest = settings_digest(
            {rel: o['sha1']
             for rel, o in sorted(outputs.items())})
        record = dict(
            format=_RECORD_FORMAT, stage=name, status='done', key=key,
            parts=parts, finished=time.strftime('%Y-%m-%d %H:%M:%S'),
            seconds=round(seconds, 3), outputs=outputs, digest=digest,
            files=[f for f in _list_files(stage_dir) if f != STAGE_RECORD],
            result=result)
        _write_record(stage_dir, record)
        return record
