"""The intervention section: its strategies (components), refreshers and the participation scale.

Issue 13: an intervention is a list of ``components`` (REFOCUS's six implementation strategies).
Without ``components`` the keys ``session_months``, ``sessions_to_train`` and ``attendance`` are
the one-component case, exactly as before (``Intervention.strategies``).
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from simulator.scenario.section import Section

LEGACY_COMPONENT = "training"   # the name of the one component today's keys describe
LEGACY_KEYS = ("session_months", "sessions_to_train", "attendance")


class Component(Section):
    """One implementation strategy: its sessions, who they are for, and its share of the dose."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=40)
    session_months: tuple[float, ...] = Field(max_length=1000)
    attendance: float = Field(0.6, ge=0, le=1, description="chance a member of the audience attends")
    sessions_to_complete: int = Field(1, ge=1, le=100)
    audience: Literal["team", "manager"] = Field(
        "team", description="team: every member of staff in post; manager: the team's manager post")
    weight: float = Field(1.0, gt=0, le=1e6, description="the component's share of the true dose")


class Intervention(Section):
    effect_at_full_implementation: float = Field(3.0, ge=-1e6, le=1e6)
    dose_response: Literal["linear", "threshold", "saturating"] = "linear"
    dose_threshold: float = Field(0.5, gt=0, le=1)
    attendance: float = Field(0.6, ge=0, le=1)
    leadership_on_attendance: float = Field(0.0, ge=-20, le=20, description="log-odds per SD of leadership")
    session_months: tuple[float, ...] = Field((1.0, 2.0, 3.0, 4.0), max_length=1000)
    sessions_to_train: int = Field(2, ge=1, le=100)
    refresher_every_months: Optional[float] = Field(None, gt=0.01, le=120)
    refresher_for: Literal["all_untrained", "newcomers"] = Field(
        "all_untrained", description="who may attend a refresher: every untrained member of "
        "staff in post, or only staff who joined after the component's first session")
    measurement_noise_sd: float = Field(
        0.1, ge=0, le=10, description="noise on each member of staff's participation rating")
    effect_lag_months: float = Field(
        0.0, ge=0, le=120, description="fidelity in the last L months before follow-up does not yet count")
    components: tuple[Component, ...] = Field(
        (), max_length=50, description="the strategies; empty: one component from today's keys")
    dose_weights: dict[str, float] = Field(
        {}, max_length=50, description="true weights replacing those of the components named "
        "(a short key to sweep: {coaching: 8})")
    participation_weights: dict[str, float] = Field(
        {}, max_length=50, description="weights of the components in the participation rating "
        "(default equal: the trial's own choice)")

    @property
    def strategies(self) -> tuple[Component, ...]:
        """The components; without ``components``, the one component today's keys describe."""
        if self.components:
            return tuple(c.model_copy(update={"weight": float(self.dose_weights[c.name])})
                         if c.name in self.dose_weights else c for c in self.components)
        return (Component(name=LEGACY_COMPONENT, session_months=self.session_months,
                          attendance=self.attendance, sessions_to_complete=self.sessions_to_train),)

    def rating_weights(self) -> tuple[float, ...]:
        """Participation-rating weight of each component, in component order (default 1)."""
        return tuple(float(self.participation_weights.get(c.name, 1.0)) for c in self.strategies)


def intervention_problems(iv: Intervention, months: float) -> list[tuple[str, object, str]]:
    """Cross-field checks of the intervention; each problem is (dotted path, value, allowed)."""
    out = []
    for i, m in enumerate(iv.session_months):
        if not 0 <= m < months:
            out.append((f"intervention.session_months[{i}]", m,
                        f"not in [0, trial.months = {months:g})"))
    if not iv.components and iv.sessions_to_train > len(iv.session_months) and \
            iv.refresher_every_months is None:
        out.append(("intervention.sessions_to_train", iv.sessions_to_train,
                    f"more than the {len(iv.session_months)} sessions scheduled "
                    "and no refreshers: nobody could be trained"))
    if iv.components:
        out += _component_problems(iv, months)
    names = {c.name for c in iv.strategies}
    for name, w in iv.dose_weights.items():
        if name not in names:
            out.append((f"intervention.dose_weights.{name}", name,
                        f"not a component ({', '.join(sorted(names))})"))
        elif not 0 < w <= 1e6:
            out.append((f"intervention.dose_weights.{name}", w, "a weight in (0, 1e6]"))
    for name, w in iv.participation_weights.items():
        if name not in names:
            out.append((f"intervention.participation_weights.{name}", name,
                        f"not a component ({', '.join(sorted(names))})"))
        elif not 0 <= w <= 1e6:
            out.append((f"intervention.participation_weights.{name}", w, "a weight in [0, 1e6]"))
    if iv.participation_weights and sum(iv.rating_weights()) <= 0:
        out.append(("intervention.participation_weights", dict(iv.participation_weights),
                    "at least one weight must be positive"))
    return out


def _component_problems(iv: Intervention, months: float) -> list[tuple[str, object, str]]:
    out = []
    given = sorted(k for k in LEGACY_KEYS   # a dump's round trip sets them at their defaults
                   if getattr(iv, k) != Intervention.model_fields[k].default)
    if given:
        out.append(("intervention.components", [c.name for c in iv.components],
                    f"give either components or {', '.join(given)} (the one-component case), "
                    "not both"))
    names = [c.name for c in iv.components]
    if len(set(names)) != len(names):
        out.append(("intervention.components", names, "component names must not repeat"))
    for i, c in enumerate(iv.components):
        if not c.session_months:
            out.append((f"intervention.components[{i}].session_months", [], "name at least one month"))
        for k, m in enumerate(c.session_months):
            if not 0 <= m < months:
                out.append((f"intervention.components[{i}].session_months[{k}]", m,
                            f"not in [0, trial.months = {months:g})"))
        if c.sessions_to_complete > len(c.session_months) and iv.refresher_every_months is None:
            out.append((f"intervention.components[{i}].sessions_to_complete",
                        c.sessions_to_complete, f"more than the {len(c.session_months)} sessions "
                        "scheduled and no refreshers: nobody could complete it"))
    return out
