"""``crtsim draw``: one replicate written out as tables a person can read (patients, teams, events).

Teams appear by name: a team list's names, else the team numbers 0..K-1."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from simulator.outputs.files import write_columns
from simulator.model.replicate import Replicate

STATUS_WHY = {"analysed": "", "dropout": "dropout", "lost": "team disbanded, not transferred"}


def patients_table(rep: Replicate) -> dict[str, list]:
    w, h = rep.world, rep.history
    names = w.team_names.tolist()
    observed = rep.status == "analysed"
    return {
        "patient": list(range(w.patient_team.size)),
        "team_baseline": [names[t] for t in w.patient_team.tolist()],
        "team_followup": [names[t] if t >= 0 else None for t in h.final_team.tolist()],
        "arm": rep.arm[w.patient_team].tolist(),
        "baseline": w.baseline.tolist(),
        "exposure": h.exposure.tolist(),
        "effect": rep.outcomes.effect.tolist(),
        "followup": np.where(observed, rep.outcomes.followup, np.nan).tolist(),
        "status": rep.status.tolist(),
        "why_not_observed": [STATUS_WHY[s] for s in rep.status],
        "dropout_month": np.where(np.isfinite(rep.dropout_month), rep.dropout_month, np.nan).tolist(),
        **patient_merges(rep),
    }


def patient_merges(rep: Replicate) -> dict[str, list]:
    """The first merge each patient's team went through: month, and the team it merged into."""
    h = rep.history
    n = rep.world.patient_team.size
    month, into = [float("nan")] * n, [None] * n
    for when, i, origin, to in h.moves:
        if into[i] is None and h.merged_into[origin] == to and h.merge_month[origin] == when:
            month[i], into[i] = when, int(to)
    return {"merged_month": month, "merged_into": into}


def teams_table(rep: Replicate) -> dict[str, list]:
    w, h = rep.world, rep.history
    return {
        "team": w.team_names.tolist(),
        "site": w.site.tolist(),
        "team_type": w.team_type.tolist(),
        "patients": w.patients.tolist(),
        "staff": w.staff.tolist(),
        "leadership": w.leadership.tolist(),
        **{name: column.tolist() for name, column in w.team_covariates.items()},
        "arm": rep.arm.astype(int).tolist(),
        "fidelity_followup": h.fidelity_at_followup.tolist(),
        "mean_fidelity": h.team_dose.tolist(),
        "disbanded_month": h.disband_month.tolist(),
        "measured_participation": rep.outcomes.participation.tolist(),
        "baseline_staff_in_post": h.baseline_staff_in_post.tolist(),
        "staff_departures": h.staff_departures.tolist(),
        "merged_into": [int(t) if t >= 0 else None for t in h.merged_into],
        "merged_month": h.merge_month.tolist(),
        "staff_moved_out": h.staff_flow["moved_out"].tolist(),
        "staff_moved_in": h.staff_flow["moved_in"].tolist(),
    }


def events_table(rep: Replicate) -> dict[str, list]:
    events, names = rep.events(), rep.world.team_names.tolist()
    return {"month": [e.month for e in events], "kind": [e.kind for e in events],
            "team": [names[e.team] if e.team >= 0 else None for e in events],
            "subject": [e.subject if e.subject >= 0 else None for e in events],
            "value": [(names[e.value] if e.kind == "transfer" else e.value)
                      if e.value >= 0 else None for e in events]}


def write_replicate(rep: Replicate, out_dir: str | Path, *, label: str = "") -> list[Path]:
    """patients.csv, teams.csv, events.csv, and the replicate's CONSORT flow (flow.png/svg)."""
    from simulator.outputs.flow import replicate_flow, write_flow

    out = Path(out_dir)
    tables = [write_columns(out / "patients.csv", patients_table(rep)),
              write_columns(out / "teams.csv", teams_table(rep)),
              write_columns(out / "events.csv", events_table(rep))]
    return tables + write_flow(replicate_flow(rep.diagnostics, where=label), out,
                               title="Simulated CONSORT flow of one trial")
