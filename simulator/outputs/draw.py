"""``crtsim draw``: one replicate written out as tables a person can read (patients, teams, staff,
events).

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
        "measured_participation": _score(rep).tolist(),
        "participation_staff_pooled": _pooled(rep),
        "baseline_staff_in_post": h.baseline_staff_in_post.tolist(),
        "staff_departures": h.staff_departures.tolist(),
        "merged_into": [int(t) if t >= 0 else None for t in h.merged_into],
        "merged_month": h.merge_month.tolist(),
        "staff_moved_out": h.staff_flow["moved_out"].tolist(),
        "staff_moved_in": h.staff_flow["moved_in"].tolist(),
    }


def _score(rep: Replicate) -> np.ndarray:
    """The team score the analysis used (the stayers-only pooled rating)."""
    return rep.trial.participation


def _pooled(rep: Replicate) -> list:
    p = rep.participation
    return p.pooled.tolist() if p is not None else [None] * rep.world.n_teams


def staff_table(rep: Replicate) -> dict[str, list]:
    """One row per member of staff per team spell (issue 13): team, role, start and end months
    and why the spell ended, sessions attended and completion per component (by the spell's
    end), the participation rating (intervention teams) and whether it counts for the team's
    score (a stayer: in post at baseline and follow-up, never moved team)."""
    st, names = rep.history.staff, rep.world.team_names.tolist()
    p = rep.participation
    table = {"staff_id": st.staff_id.tolist(), "team": [names[t] for t in st.team.tolist()],
             "arm": rep.arm.astype(int)[st.team].tolist(), "role": st.role.tolist(),
             "origin": [ORIGINS[o] for o in st.origin.tolist()],
             "start_month": st.start.tolist(), "end_month": st.end.tolist(),
             "why_ended": st.why_ended.tolist()}
    completed = st.completed
    for c, name in enumerate(st.components):
        table[f"attended_{name}"] = st.attended[:, c].tolist()
    for c, name in enumerate(st.components):
        table[f"completed_{name}"] = completed[:, c].astype(int).tolist()
    table["participation_rating"] = p.rating.tolist()
    table["counts_for_score"] = p.counts.astype(int).tolist()
    return table


ORIGINS = ("baseline", "newcomer", "mover")


def events_table(rep: Replicate) -> dict[str, list]:
    events, names = rep.events(), rep.world.team_names.tolist()
    return {"month": [e.month for e in events], "kind": [e.kind for e in events],
            "team": [names[e.team] if e.team >= 0 else None for e in events],
            "subject": [e.subject if e.subject >= 0 else None for e in events],
            "value": [(names[e.value] if e.kind == "transfer" else e.value)
                      if e.value >= 0 else None for e in events]}


def write_replicate(rep: Replicate, out_dir: str | Path, *, label: str = "") -> list[Path]:
    """patients.csv, teams.csv, staff.csv, events.csv, and the replicate's CONSORT flow
    (flow.png/svg). staff.csv is written from the replicate's staff records (both engines keep
    them); a replicate without any leaves it out."""
    from simulator.outputs.flow import replicate_flow, write_flow

    out = Path(out_dir)
    tables = [write_columns(out / "patients.csv", patients_table(rep)),
              write_columns(out / "teams.csv", teams_table(rep)),
              *([write_columns(out / "staff.csv", staff_table(rep))]
                if rep.history.staff is not None else []),
              write_columns(out / "events.csv", events_table(rep))]
    return tables + write_flow(replicate_flow(rep.diagnostics, where=label), out,
                               title="Simulated CONSORT flow of one trial")
