"""Completed chunks persisted under ``outputs/<name>/chunks/`` so an interrupted run resumes.

Each chunk is a CSV fragment (no header) written atomically; a manifest records the hash of the
resolved scenario (replicate count excluded, so a run can be extended) and the chunk size, so
chunks of a changed scenario are never mixed with new ones.
"""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

from . import __version__
from .files import csv_text, write_atomic
from .scenario import Scenario


class StaleChunksError(Exception):
    """The output folder holds chunks of a different scenario."""


def scenario_hash(scenario: Scenario, chunk_size: int) -> str:
    resolved = scenario.model_dump(mode="json", exclude={"replicates", "description"})
    text = json.dumps({"scenario": resolved, "chunk_size": chunk_size, "crtsim": __version__},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ChunkStore:
    def __init__(self, out_dir: Path, scenario: Scenario, chunk_size: int, *, fresh: bool):
        self.folder = Path(out_dir) / "chunks"
        self.hash = scenario_hash(scenario, chunk_size)
        manifest = self.folder / "manifest.json"
        if fresh and self.folder.exists():
            shutil.rmtree(self.folder)
        if manifest.exists():
            old = json.loads(manifest.read_text()).get("hash")
            if old != self.hash:
                raise StaleChunksError(
                    f"{self.folder} holds results of a different scenario or chunk size "
                    f"(hash {old}, now {self.hash}); rerun with --fresh to discard them")
        else:
            write_atomic(manifest, json.dumps({"hash": self.hash, "chunk_size": chunk_size}))

    def path(self, design_point: int, first: int, stop: int) -> Path:
        return self.folder / f"d{design_point:05d}_r{first:08d}-{stop:08d}.csv"

    def has(self, unit) -> bool:
        return self.path(unit.design_point, unit.first, unit.stop).exists()

    def save(self, unit, header, rows) -> None:
        text = csv_text(header, rows).split("\n", 1)[1]
        write_atomic(self.path(unit.design_point, unit.first, unit.stop), text)

    def read(self, unit) -> list[list[str]]:
        with open(self.path(unit.design_point, unit.first, unit.stop), newline="") as fh:
            return list(csv.reader(fh))

    def concatenate(self, units, header, target: Path) -> None:
        """replicates.csv: the header then every chunk in design-point/replicate order, atomically."""
        tmp = target.with_name(f".{target.name}.tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            out.write(",".join(header) + "\n")
            for unit in units:
                with open(self.path(unit.design_point, unit.first, unit.stop), encoding="utf-8") as fh:
                    shutil.copyfileobj(fh, out)
        tmp.replace(target)
