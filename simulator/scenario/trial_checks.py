"""Cross-field checks of the trial's shares and scheduled disbanding (part of
``schema.check_consistency``); each problem is (dotted path, value, what is allowed)."""
from __future__ import annotations

from typing import Any

from simulator.scenario.counts import category_counts


def shares_problems(path: str, shares: dict[str, float]) -> list[tuple[str, object, str]]:
    if not shares:
        return [(path, shares, "must name at least one category")]
    bad = [(f"{path}.{k}", v, "share must be in [0, 1]") for k, v in shares.items() if not 0 <= v <= 1]
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-6:
        bad.append((path, shares, f"shares sum to {total:g}; they must sum to 1"))
    return bad


def disbanding_problems(s: Any) -> list[tuple[str, object, str]]:
    """Scheduled disbanding must leave >= 1 team per arm in every site (largest-remainder counts)."""
    out = []
    for i, ev in enumerate(s.reconfiguration.scheduled):
        if ev.month >= s.trial.months:
            out.append((f"reconfiguration.scheduled[{i}].month", ev.month,
                        f"not before follow-up (trial.months = {s.trial.months:g})"))
    total = sum(ev.teams for ev in s.reconfiguration.scheduled)
    if total:
        per_site = category_counts(s.trial.teams, s.trial.sites) if not shares_problems(
            "", s.trial.sites) else {}
        smallest = min(per_site.values(), default=0)
        if per_site and smallest - total < 2:
            out.append(("reconfiguration.scheduled", total,
                        f"{total} teams disbanded could leave a site ({smallest} teams in the "
                        "smallest) without a team in each arm; at most "
                        f"{max(smallest - 2, 0)} allowed"))
    return out
