"""Completed chunks persisted under ``outputs/<name>/chunks/`` so an interrupted run resumes.

Each chunk is a CSV fragment (no header) written atomically. A manifest records two hashes:
the resolved scenario's (replicate count excluded, so a run can be extended) with the chunk size,
and the code's (crtsim's version and a fingerprint of every source file of the package). Chunks
of a changed scenario, or written by different code, are never mixed with new ones.
"""
from __future__ import annotations

import functools
import hashlib
import json
import shutil
from pathlib import Path

from simulator import __version__
from simulator.outputs.files import csv_text, read_rows, write_atomic
from simulator.scenario.schema import Scenario

PACKAGE = Path(__file__).resolve().parent.parent   # simulator/


class StaleChunksError(Exception):
    """The output folder holds chunks of a different scenario or of different code."""


def scenario_hash(scenario: Scenario, chunk_size: int) -> str:
    resolved = scenario.model_dump(mode="json", exclude={"replicates", "description"})
    text = json.dumps({"scenario": resolved, "chunk_size": chunk_size}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_fingerprint(package: Path) -> str:
    """sha256 over every ``*.py`` under ``package`` in order of relative path: path, content."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py"), key=lambda p: p.relative_to(package).as_posix()):
        name = path.relative_to(package).as_posix().encode()
        content = path.read_bytes()
        for part in (name, content):
            digest.update(len(part).to_bytes(8, "big") + part)   # length-prefixed: unambiguous
    return digest.hexdigest()


@functools.cache
def code_hash() -> str:
    """crtsim's version and the fingerprint of this package's source, once per process."""
    text = json.dumps({"crtsim": __version__, "source": source_fingerprint(PACKAGE)})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stale_message(folder: Path, old: dict, new: dict) -> str:
    """Say which of the two changed, where the old manifest tells (one written before the code
    hash existed holds only the combined hash)."""
    scenario_changed = old.get("scenario") != new["scenario"]
    code_changed = old.get("code") != new["code"]
    if "scenario" not in old or "code" not in old:
        what, key = "of a different scenario, chunk size, engine or crtsim code", "hash"
    elif scenario_changed and code_changed:
        what = "of a different scenario, chunk size or engine, computed by different crtsim code"
        key = "hash"
    elif code_changed:
        what, key = "computed by different crtsim code: its source or version changed", "code"
    else:
        what, key = "of a different scenario, chunk size or engine", "scenario"
    label = "hash" if key == "hash" else f"{key} hash"
    return (f"{folder} holds results {what} ({label} {old.get(key)}, now {new[key]}); "
            f"rerun with --fresh to discard them")


class ChunkStore:
    def __init__(self, out_dir: Path, scenario: Scenario, chunk_size: int, *, fresh: bool,
                 engine: str = "simpy"):
        self.folder = Path(out_dir) / "chunks"
        parts = {"scenario": scenario_hash(scenario, chunk_size), "code": code_hash()}
        if engine != "simpy":   # the engines draw differently: never mix their chunks
            parts["scenario"] = f"{parts['scenario']}-{engine}"
        self.hash = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
        new = {"hash": self.hash, **parts, "chunk_size": chunk_size}
        manifest = self.folder / "manifest.json"
        if fresh and self.folder.exists():
            shutil.rmtree(self.folder)
        if manifest.exists():
            old = json.loads(manifest.read_text())
            if old.get("hash") != self.hash:
                raise StaleChunksError(_stale_message(self.folder, old, new))
        else:
            write_atomic(manifest, json.dumps(new))

    def path(self, design_point: int, first: int, stop: int) -> Path:
        return self.folder / f"d{design_point:05d}_r{first:08d}-{stop:08d}.csv"

    def has(self, unit) -> bool:
        return self.path(unit.design_point, unit.first, unit.stop).exists()

    def save(self, unit, header, rows) -> None:
        self.save_text(unit, csv_text(header, rows).split("\n", 1)[1])

    def save_text(self, unit, text: str) -> None:
        """A chunk already formatted as CSV rows (no header), atomically."""
        write_atomic(self.path(unit.design_point, unit.first, unit.stop), text)

    def read(self, unit) -> list[list[str]]:
        return read_rows(self.path(unit.design_point, unit.first, unit.stop))

    def concatenate(self, units, header, target: Path) -> None:
        """replicates.csv: the header then every chunk in design-point/replicate order, atomically."""
        tmp = target.with_name(f".{target.name}.tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            out.write(",".join(header) + "\n")
            for unit in units:
                with open(self.path(unit.design_point, unit.first, unit.stop), encoding="utf-8") as fh:
                    shutil.copyfileobj(fh, out)
        tmp.replace(target)
