"""Counts implied by a scenario's shares: teams per category, teams in the intervention arm.

Plain arithmetic on the scenario's numbers, used by its own validation, by the world (team
sites and types), by allocation (arm sizes) and by the closed forms, so it lives with the
scenario, the top of the data flow.
"""
from __future__ import annotations

import math
from typing import Mapping


def category_counts(n: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Largest-remainder (Hamilton) counts: floors, then the largest fractional parts (ties by order)."""
    # Plain floats: the same IEEE operations as numpy's elementwise ones, a stable sort as
    # argsort(kind="stable"), so the same counts at a fraction of the cost.
    names = list(shares)
    total = max(sum(shares.values()), 1e-300)
    exact = [float(shares[k]) * n / total for k in names]
    counts = [math.floor(e) for e in exact]
    order = sorted(range(len(names)), key=lambda i: -(exact[i] - counts[i]))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return dict(zip(names, counts))


def intervention_count(n_teams: int, share: float) -> int:
    """Teams in the intervention arm: floor(share * K + 0.5), clipped to [1, K - 1].

    27 teams at share 0.5 -> 14 (DESIGN.md: "14 vs 13 when odd"). Needs K >= 2 and share in [0, 1].
    """
    if isinstance(n_teams, bool) or int(n_teams) != n_teams or n_teams < 2:
        raise ValueError(f"n_teams={n_teams!r}: need an integer >= 2 to form two arms")
    if not 0 <= share <= 1:
        raise ValueError(f"share={share!r}: must be in [0, 1]")
    k = int(n_teams)
    return int(min(max(math.floor(share * k + 0.5), 1), k - 1))
