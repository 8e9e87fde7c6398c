"""The resumable, multi-process corpus builder: a streamed input -> parquet shards in the corpus schema + a card.

Rows are numbered in input order and cut into shards of ``rows_per_shard``; shard i belongs to process
``i mod world_size`` (`accelerate.PartialState`: one process, ``accelerate launch`` or ``torchrun``). Every process
streams the input, skips the rows of other processes' shards and of shards already written without decoding them,
and holds at most one shard's rows at a time. A shard's rows are generated in batches of ``batch_size`` rows cut
from the shard itself, so the batches, the seeds and therefore the bytes are the same whether one process or many
build it, in one run or after a restart.

Resuming: a shard is done exactly when its parquet file exists (files are written atomically, `shards.py`), so a
build killed at any point restarts where it was, with no row lost or written twice. The settings that decide the
bytes are stored in ``generation/build.json``; a restart with other settings is refused (``overwrite`` starts over).

Finishing: each process writes an end-of-stream record; the main process waits for every process's record (by
polling the folder, not with a collective, so processes may finish hours apart without a timeout), checks that
every shard exists, and writes the reports and the dataset card.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass

from tqdm.auto import tqdm

from ..data import CorpusError
from .report import summarize, write_card
from .shards import (
    corpus_features,
    done_shards,
    read_json,
    remove_temporaries,
    report_path,
    shard_path,
    write_json,
    write_shard,
)

POLL_SECONDS = 2.0


@dataclass
class BuildResult:
    """What a process did: the corpus's rows and shards, and this process's own share and speed."""

    output_dir: str
    num_rows: int
    num_shards: int
    rows_generated: int
    seconds: float
    summary: object = None  # BuildSummary (main process only)

    @property
    def rows_per_second(self) -> float:
        return self.rows_generated / self.seconds if self.seconds > 0 else 0.0


def process_state(device: str | None = None):
    """This process's `accelerate.PartialState` (on CPU when there is no GPU or ``device`` is "cpu")."""
    import torch
    from accelerate import PartialState

    cpu = device == "cpu" or (device is None and not torch.cuda.is_available())
    return PartialState(cpu=cpu)


def _prepare(output_dir: str, record: dict, overwrite: bool, is_main: bool) -> None:
    path = os.path.join(output_dir, "generation", "build.json")
    if is_main:
        if overwrite:
            for name in ("data", "generation"):
                shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)
            if os.path.exists(os.path.join(output_dir, "README.md")):
                os.remove(os.path.join(output_dir, "README.md"))
        os.makedirs(output_dir, exist_ok=True)
        remove_temporaries(output_dir)
        shutil.rmtree(os.path.join(output_dir, "generation", "ranks"), ignore_errors=True)
        if not os.path.exists(path):
            if os.path.isdir(os.path.join(output_dir, "data")) and os.listdir(os.path.join(output_dir, "data")):
                raise ValueError(f"{output_dir}/data holds files that no cf-vlm build wrote; choose another output "
                                 "folder or pass --overwrite")
            write_json(path, record)


def _check_record(output_dir: str, record: dict) -> None:
    stored = read_json(os.path.join(output_dir, "generation", "build.json"))
    changed = sorted(k for k in set(stored) | set(record) if stored.get(k) != record.get(k))
    if changed:
        details = ", ".join(f"{k}: {stored.get(k)!r} -> {record.get(k)!r}" for k in changed[:6])
        raise ValueError(f"{output_dir} holds a build made with other settings ({details}); resume with the same "
                         "settings, or pass --overwrite to start over")


def build_corpus(source, generator, output_dir: str, record: dict, *, split: str = "train", batch_size: int = 4,
                 rows_per_shard: int = 256, max_rows: int | None = None, on_error: str = "raise",
                 overwrite: bool = False, progress: bool = True, device: str | None = None,
                 card: dict | None = None) -> BuildResult:
    """Build (or resume) the corpus of ``source`` (a `RowSource`) with ``generator`` in ``output_dir``.

    ``record`` holds the settings that decide the bytes (stored and compared on restart); ``card`` holds what the
    dataset card shows: ``models`` (name -> model id), ``settings`` (the full record), ``command``.
    Returns this process's `BuildResult`; the main process's carries the merged summary.
    """
    state = process_state(device)
    rank, world = state.process_index, state.num_processes
    record = {**record, "split": split, "batch_size": batch_size, "rows_per_shard": rows_per_shard,
              "max_rows": max_rows, "input": source.description}
    _prepare(output_dir, record, overwrite, state.is_main_process)
    state.wait_for_everyone()  # all processes start together: a short wait, unlike the end
    _check_record(output_dir, record)
    features = corpus_features()
    done = done_shards(output_dir, split)
    total = source.num_rows if max_rows is None or source.num_rows is None else min(max_rows, source.num_rows)

    def mine(shard: int) -> bool:
        return shard % world == rank and shard not in done

    start, generated, num_rows = time.perf_counter(), 0, 0
    bar = tqdm(total=total, unit="row", desc=f"generating (process {rank + 1}/{world})" if world > 1 else "generating",
               disable=not progress or not state.is_local_main_process, dynamic_ncols=True)
    buffer: list = []
    current = 0
    try:
        for index, row in source.iter_rows(lambda i: mine(i // rows_per_shard)):
            if max_rows is not None and index >= max_rows:
                break
            shard = index // rows_per_shard
            if shard != current:
                if mine(current):
                    generated += _write(output_dir, split, current, buffer, generator, batch_size, on_error, features,
                                        bar.update)
                buffer, current = [], shard
            if isinstance(row, CorpusError):
                row.index = index
            if row is not None:
                buffer.append(row)
            else:
                bar.update(1)  # another process's row, or one already written
            num_rows = index + 1
        if mine(current) and (buffer or num_rows == 0):  # the last shard (or shard 0 of an empty input)
            generated += _write(output_dir, split, current, buffer, generator, batch_size, on_error, features,
                                bar.update)
    except BaseException as err:
        write_json(os.path.join(output_dir, "generation", "ranks", f"rank-{rank}-of-{world}.json"),
                   {"failed": f"{type(err).__name__}: {err}"})
        raise
    finally:
        bar.close()
    num_shards = max(1, math.ceil(num_rows / rows_per_shard))
    seconds = time.perf_counter() - start
    write_json(os.path.join(output_dir, "generation", "ranks", f"rank-{rank}-of-{world}.json"),
               {"rows": num_rows, "shards": num_shards})
    result = BuildResult(output_dir, num_rows, num_shards, generated, seconds)
    if state.is_main_process:
        _wait_for_processes(output_dir, world, num_rows)
        result.summary = _finish(output_dir, split, num_shards, source.description, card or {})
    return result


def _write(output_dir, split, shard, rows, generator, batch_size, on_error, features, advance) -> int:
    """Generate and write one shard (its report first, then its parquet file); returns the rows generated.

    Rows are decoded a batch at a time and released after it, so only encoded images stay held for the shard.
    ``advance(n)`` is called as rows are done (the progress bar).
    """
    rejected, generated = [], []

    def reject(index, row_id, err: CorpusError) -> None:
        if on_error == "raise":
            raise err
        rejected.append({"index": index, "id": row_id, "reason": err.reason, "message": str(err)})

    for start in range(0, len(rows), batch_size):
        batch = []
        for row in rows[start : start + batch_size]:
            if isinstance(row, CorpusError):
                reject(getattr(row, "index", None), None, row)
                continue
            try:
                if generator.needs_anchor_pixels:  # a row whose image or mask cannot be decoded is rejected alone
                    row.anchor()
                    row.mask_image()
                batch.append(row)
            except CorpusError as err:
                reject(row.index, row.id, err)
        if batch:
            generated += generator.generate(batch)
        for row in batch:
            row.release()
        advance(len(rows[start : start + batch_size]))
    write_json(report_path(output_dir, split, shard), {
        "shard": shard, "rejected": rejected, "rows": [vars(g.report) for g in generated],
    })
    write_shard(shard_path(output_dir, split, shard), [g.row for g in generated], features)
    return len(generated)


def _wait_for_processes(output_dir: str, world: int, num_rows: int) -> None:
    folder = os.path.join(output_dir, "generation", "ranks")
    while True:
        records = {}
        for rank in range(world):
            path = os.path.join(folder, f"rank-{rank}-of-{world}.json")
            if os.path.exists(path):
                records[rank] = read_json(path)
        failed = {r: rec["failed"] for r, rec in records.items() if "failed" in rec}
        if failed:
            raise RuntimeError(f"process(es) {sorted(failed)} failed: {failed}")
        if len(records) == world:
            counts = {rec["rows"] for rec in records.values()}
            if counts != {num_rows}:
                raise RuntimeError(f"the processes read different numbers of input rows: {records}")
            return
        time.sleep(POLL_SECONDS)


def _finish(output_dir: str, split: str, num_shards: int, source: str, card: dict):
    missing = sorted(set(range(num_shards)) - done_shards(output_dir, split))
    if missing:
        raise RuntimeError(f"shards {missing} of {output_dir} are missing after every process finished")
    for stale in sorted(done_shards(output_dir, split) - set(range(num_shards))):
        os.remove(shard_path(output_dir, split, stale))
    summary = summarize(output_dir, split, num_shards)
    write_card(output_dir, split, summary, card.get("settings", {}), card.get("models", {}), source,
               card.get("command"))
    return summary
