"""The optional staff-level outcome (issue 13): e.g. REFOCUS's staff recovery-promoting behaviour."""
from __future__ import annotations

from pydantic import Field

from simulator.scenario.section import Section


class StaffOutcome(Section):

    name: str = Field("staff_behaviour", pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=40)
    mean: float = Field(0.0, ge=-1e6, le=1e6)
    sd: float = Field(1.0, gt=0, le=1e6)
    icc: float = Field(0.05, ge=0, lt=1, description="share of variance between teams")
    autocorrelation: float = Field(
        0.5, ge=-1, le=1, description="baseline–follow-up correlation, within staff and team")
    effect_at_full_dose: float = Field(
        0.0, ge=-1e6, le=1e6, description="effect on a member of staff of their own completed dose")
    estimators: tuple[str, ...] = Field(
        ("mixed_ancova", "cluster_summary", "participation_high_low"), min_length=1,
        max_length=20, description="analyses of the staff outcome (analysis.variants allowed)")
