"""The mean-field fidelity with several intervention components (issue 13).

Each component c is its own post-state chain (``expected_exposure.post_states``, with the
component's sessions, attendance p_jc and sessions_to_complete); its expected share is F̄_c =
P(trained) / P(filled) for a team audience and P(trained) for the manager post (an empty post
has share 0); F̄ = Σ_c w_c F̄_c / Σ_c w_c, the timeline's weighted mean (``model.components``).
One component with a team audience is exactly the one-component chain. For non-linear g the
between-team variance is the first component's (an approximation).
"""
from __future__ import annotations

import numpy as np

from simulator.model.timeline.staffing import attendance_probability, component_schedule


def all_session_months(s) -> tuple[float, ...]:
    """Every session month of every component (the grid must hold them all)."""
    return tuple(m for m, _c, _n in component_schedule(s))


def node_fidelity(s, grid, nodes, rates, post_states, trained_share):
    """Per leadership node: (F̄ before, F̄ after the sessions at each grid month, the first
    component's post states after, its propagators)."""
    iv = s.intervention
    items = component_schedule(s)
    comps = iv.strategies
    weights = np.array([c.weight for c in comps], dtype=float)
    for n, rate in zip(nodes, rates):
        paths = []
        for c, comp in enumerate(comps):
            p = float(attendance_probability(comp.attendance, iv.leadership_on_attendance,
                                             np.array([n]))[0])
            sessions = [m for m, k, _ in items if k == c]
            before, after, steps = post_states(grid, sessions, rate, s.staff_turnover.vacancy_months,
                                               p, comp.sessions_to_complete)
            share = (lambda x: x[:, -1]) if comp.audience == "manager" else trained_share
            paths.append((share(before), share(after), after, steps))
        if len(comps) == 1 and comps[0].audience == "team":
            yield paths[0]
            continue
        f0 = sum(w * p[0] for w, p in zip(weights, paths)) / weights.sum()
        f1 = sum(w * p[1] for w, p in zip(weights, paths)) / weights.sum()
        yield f0, f1, paths[0][2], paths[0][3]
