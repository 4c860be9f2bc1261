"""dlt's working folder beside a DuckDB file: bound to that file, and self-healing.

dlt keeps each pipeline's local state (state, schemas, pending load packages) in a working
folder; the DuckDB file holds what is durable (the loaded data and dlt's state table, from
which dlt restores a lost working folder). Two ways the two can disagree, each fixed here
before a pipeline is opened:

- **A DuckDB file replaced under an old working folder** (deleted, restored from a backup,
  copied from elsewhere). dlt notices an empty destination and wipes its folder itself,
  file by file: a process killed in the middle leaves a folder dlt cannot open again
  (``load/`` with ``.version`` but no ``normalized/``: every later run fails). So the
  folder and the file carry one identity (a marker file in the folder, a row in the
  DuckDB file); when they differ the pipelines' folders are discarded here, atomically
  (renamed aside, then deleted), and dlt rebuilds them from the DuckDB file.
- **A damaged pipeline folder** (a wipe interrupted by an earlier version, a disk
  clean-up): a dlt storage folder that lacks one of its own sub-folders. The pipeline's
  folder is discarded the same way; nothing durable is lost (load packages not yet loaded
  carry no committed cursor, and delivery outcomes not yet recorded are re-sent: writes
  are idempotent by key).

A deployment from before the marker (no identity in either place, dlt state present in the
DuckDB file) is adopted as it is.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

MARKER = "working_folder_identity"  # file in the pipelines directory
IDENTITY_TABLE = "main.working_folder_identity"  # table in the DuckDB file
DISCARDED = ".discarded-"  # prefix of folders renamed aside, deleted at once or on the next run
# dlt's versioned storages inside a pipeline folder and the sub-folders each must hold.
_STORAGES = {"load": ("new", "normalized", "loaded"), "normalize": ("extracted",)}


def bind_working_folder(con: Any, pipelines_dir: Path) -> list[str]:
    """Make ``pipelines_dir`` (dlt's folder beside the DuckDB file of ``con``) belong to that
    file and be openable; returns what was done (empty when all was well)."""
    pipelines_dir.mkdir(parents=True, exist_ok=True)
    done = _sweep_discarded(pipelines_dir)
    db_id = _db_identity(con)
    folder_id = _folder_identity(pipelines_dir)
    if db_id is None:
        if folder_id is not None or not _has_dlt_state(con):
            done += discard_pipelines(pipelines_dir, reason="the DuckDB file is new or was replaced")
        db_id = uuid.uuid4().hex
        con.execute(f"CREATE TABLE IF NOT EXISTS {IDENTITY_TABLE} (identity VARCHAR, created_at TIMESTAMPTZ)")
        con.execute(f"INSERT INTO {IDENTITY_TABLE} VALUES (?, now())", [db_id])
    elif folder_id != db_id:
        done += discard_pipelines(pipelines_dir, reason="the working folder belongs to another DuckDB file")
    if folder_id != db_id:
        _write_atomically(pipelines_dir / MARKER, db_id)
    for child in _pipeline_dirs(pipelines_dir):
        done += heal_pipeline_dir(child)
    return done


def heal_pipeline_dir(pipeline_dir: Path) -> list[str]:
    """Discard one pipeline's folder when a dlt storage in it lacks a sub-folder."""
    for storage, subs in _STORAGES.items():
        root = pipeline_dir / storage
        if root.is_dir() and any(not (root / s).is_dir() for s in subs):
            return [_discard(pipeline_dir, f"{storage}/ was incomplete")]
    return []


def discard_extracted_remnants(pipeline_dir: Path) -> list[str]:
    """Discard what a kill left of extracted packages dlt was deleting (`_extracted_remnants`).

    Call it only for a pipeline about to be opened by its one user: while that pipeline
    normalizes, a package it has just normalized looks exactly like such a remnant."""
    return [_discard(package, "an extracted package whose deletion was interrupted; it was normalized already",
                     aside_in=pipeline_dir.parent)
            for package in _extracted_remnants(pipeline_dir)]


def _extracted_remnants(pipeline_dir: Path) -> list[Path]:
    """Extracted packages that are what is left of a deletion a kill interrupted.

    dlt saves a package's ``schema.json`` before it moves the package into ``extracted/`` in
    one rename, and normalizing writes the package into ``load/`` before it deletes the
    extracted one file by file. So an extracted package without ``schema.json``, or one whose
    load id is already normalized or loaded, is such a remnant: its data is in ``load/``,
    and left in place it fails every later run's normalize step."""
    extracted = pipeline_dir / "normalize" / "extracted"
    packages = sorted(p for p in extracted.iterdir() if p.is_dir()) if extracted.is_dir() else []
    if not packages:
        return []
    done = {p.name for sub in ("normalized", "loaded") if (pipeline_dir / "load" / sub).is_dir()
            for p in (pipeline_dir / "load" / sub).iterdir()}
    return [p for p in packages if not (p / "schema.json").is_file() or p.name in done]


def discard_pipelines(pipelines_dir: Path, *, reason: str) -> list[str]:
    """Discard every pipeline folder in ``pipelines_dir`` (files such as locks stay)."""
    return [_discard(d, reason) for d in _pipeline_dirs(pipelines_dir)]


def _pipeline_dirs(pipelines_dir: Path) -> list[Path]:
    if not pipelines_dir.is_dir():
        return []
    return sorted(p for p in pipelines_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _discard(folder: Path, reason: str, *, aside_in: Path | None = None) -> str:
    """Rename ``folder`` aside (atomic: a kill leaves it whole or gone), into ``aside_in`` (default:
    beside it; the pipelines directory, whose leftovers `_sweep_discarded` removes), then delete it."""
    aside = (aside_in or folder.parent) / f"{DISCARDED}{folder.name}-{uuid.uuid4().hex[:8]}"
    os.replace(folder, aside)
    shutil.rmtree(aside, ignore_errors=True)
    return f"discarded dlt working folder {folder.name}/ ({reason})"


def _sweep_discarded(pipelines_dir: Path) -> list[str]:
    out = []
    for p in pipelines_dir.iterdir():
        if p.is_dir() and p.name.startswith(DISCARDED):
            shutil.rmtree(p, ignore_errors=True)
            out.append(f"removed {p.name}/ left by an interrupted clean-up")
    return out


def _db_identity(con: Any) -> str | None:
    schema, table = IDENTITY_TABLE.split(".")
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = con.execute(f"SELECT identity FROM {IDENTITY_TABLE} ORDER BY created_at LIMIT 1").fetchone()
    return str(row[0]) if row else None


def _has_dlt_state(con: Any) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = '_dlt_pipeline_state'"
    ).fetchone()
    return bool(row and row[0])


def _folder_identity(pipelines_dir: Path) -> str | None:
    with contextlib.suppress(FileNotFoundError, UnicodeDecodeError):
        text = (pipelines_dir / MARKER).read_text(encoding="utf-8").strip()
        return text or None
    return None


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)


def align_resume_offsets(pipeline_dir: Path, batch_size: int) -> list[str]:
    """Round down what a pending package says each load file sent to whole batches.

    A custom dlt destination keeps, per load file, the rows it has sent (``destination_state``
    in the package's ``load_package_state.json``) and resumes a file there, asserting that the
    offset is a multiple of the batch size. A file's last batch is usually partial: a kill after
    dlt saved the offset past it, before it marked the job done, left a package that failed every
    run. Rounded down, that last batch is sent again (the target's writes are idempotent)."""
    done: list[str] = []
    normalized = pipeline_dir / "load" / "normalized"
    if batch_size < 1 or not normalized.is_dir():
        return done
    for path in sorted(normalized.glob("*/load_package_state.json")):
        state = json.loads(path.read_text(encoding="utf-8"))
        offsets = state.get("destination_state")
        if not isinstance(offsets, dict):
            continue
        odd = {k: v for k, v in offsets.items() if isinstance(v, int) and v % batch_size}
        if not odd:
            continue
        offsets.update({k: v - v % batch_size for k, v in odd.items()})
        _write_atomically(path, json.dumps(state))
        done.append(f"package {path.parent.name}: resumes {len(odd)} file(s) at their last whole batch")
    return done
