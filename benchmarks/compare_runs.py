"""Did a change leave a run's numbers alone?  ``python -m benchmarks.compare_runs BEFORE AFTER``

Compares two output folders of the same ``crtsim run`` (e.g. main against a branch, both with
``--replicates 50 --fresh --quiet --no-plots --executor serial``): summary.csv byte for byte, and
replicates.csv cell for cell after dropping the diagnostic columns the services branch appended
(issue 14), so a branch that only adds columns still shows "identical". Exit status 1 if not.
"""
import csv
import filecmp
import sys

ADDED = {"mean_fidelity_ctl", "mean_exposure_ctl", "staff_moves", "teams_merged",
         "final_cluster_size_var"}


def rows(path: str) -> list[list[str]]:
    with open(path, newline="") as f:
        table = list(csv.reader(f))
    keep = [i for i, c in enumerate(table[0]) if c not in ADDED]
    return [[row[i] for i in keep] for row in table]


def main(before: str, after: str) -> int:
    summary = filecmp.cmp(f"{before}/summary.csv", f"{after}/summary.csv", shallow=False)
    a, b = rows(f"{before}/replicates.csv"), rows(f"{after}/replicates.csv")
    print(f"summary.csv identical: {summary}; replicates.csv identical without the added "
          f"columns: {a == b} ({len(a) - 1} rows)")
    return 0 if summary and a == b else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
