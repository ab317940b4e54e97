"""Expected exposure E and expected ITT effect δ_full E[g(E)], deterministic and instant.

The one closed-form model of implementation: ``closed_form`` (``crtsim power``, ``solve``) uses
``expected_itt`` and ``derived`` (``crtsim validate``) uses ``fidelity_at_followup``.  Mean-field
model (the simulator is the reference):

- Every staff post of an intervention team is a continuous-time Markov chain over
  {vacant, held by someone who has attended c = 0..k sessions}, k = sessions_to_train: a holder
  leaves at rate h e^{κL}/12 per month, a vacancy is filled at rate 1/V by an untrained newcomer
  (at once when V = 0), and at each session (core and refresher) a holder with c < k moves to
  c + 1 with probability p_j = logistic(logit(p) + λ L_j) (DESIGN.md "Implementation", "Staff
  turnover"; the logistic is ``staffing.attendance_probability``, the timeline's own).  The
  forward (Kolmogorov) equations, solved by matrix exponentials at grid months, give the chance
  f(t) that a post is filled and a(t) that it holds a trained person; F̄(t) = a(t) / f(t).
  Check (DESIGN.md): attendance 1, one session at month 0, V = 0: F̄(t) = exp(-h t/12).
- Error of F̄.  Given L_j the simulator's posts are independent and identical (competing
  exponential risks; a session is one Bernoulli(p_j) per untrained holder), so given the posts
  filled at t each of them is trained with chance F̄(t), independently: the team's fidelity
  F_j(t) (trained share of staff in post, 0 in an empty team) has
      E[F_j(t) | L_j, s_j] = F̄(t) (1 - (1 - f(t))^{s_j}),
  so F̄ overstates it only by the chance that all s_j posts are vacant at once, at most
  F̄(t) (1 - f(t))^{s_min} (REFOCUS at follow-up: 0.714 x 0.047^4 < 1e-5).  The other error is
  the 20-node Gauss–Hermite quadrature over L ~ N(0, 1), used when L shifts attendance (λ) or
  turnover (κ).  It grows with |λ| and |κ|: measured against adaptive quadrature on fidelity at
  follow-up it is below 1e-7 for |λ| <= 1, about 1e-4 at λ = 2 and 1e-2 at λ = 4 (the
  logistic's complex poles at Im L = ±π/λ limit its convergence), and below 2e-7 for |κ| <= 1
  and about 2e-4 at κ = 2 (h 0.2 to 1 per year, V = 3).
- A team survives to month t with probability S(t) = exp(-d t/12)(1 - Σ_{scheduled ≤ t} n/K);
  a disbanded team's patients transfer with probability p_tr to a team drawn from the same arm
  mix (intervention share π; an approximation: the simulator draws a surviving team of the same
  site), so the expected exposures of patients randomised to intervention and control are
      e1 = (1/T) ∫ F̄ (S + (1 - S) p_tr π) dt,   e0 = (1/T) ∫ F̄ (1 - S) p_tr π dt,
  (trapezoid rule between grid months) and for linear g the expected ITT effect is
  δ_full (e1 - e0) = δ_full (1/T) ∫ F̄ S dt.
- Effect lag L (``intervention.effect_lag_months``): every exposure integral above runs over
  [0, T − L] only, still divided by T (the simulator's E_ij; full fidelity gives (T − L)/T).
- Non-linear g (threshold, saturating): E[g(E)] in the intervention arm is taken over
  E ~ N(e1, v), v the between-team variance of the time-averaged fidelity when posts are
  independent: v = Var(post's time-averaged trained indicator / fill share) / s̄, computed
  exactly from the chain's two-time joint probabilities; patients of teams that disband are a
  second mixture component with the remaining mean exposure; control patients use g(e0).
"""
from __future__ import annotations

import collections
import functools

import numpy as np
from scipy import linalg, stats

from simulator.model.timeline.staffing import attendance_probability
from simulator.planning.component_exposure import all_session_months, node_fidelity
from simulator.scenario.counts import intervention_count
from simulator.scenario.schema import Scenario

STEPS = 240           # grid steps over the trial (plus every session / disbanding month)
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(20)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def post_generator(leave_rate: float, vacancy_months: float, k: int) -> np.ndarray:
    """Generator matrix over post states 0 = vacant, 1 + c = holder with c sessions attended."""
    q = np.zeros((k + 2, k + 2))
    for c in range(k + 1):
        q[1 + c, 0 if vacancy_months > 0 else 1] += leave_rate
    if vacancy_months > 0:
        q[0, 1] = 1.0 / vacancy_months
    return q - np.diag(q.sum(axis=1))


def session_matrix(p: float, k: int) -> np.ndarray:
    """One training session: each untrained holder attends (c -> c + 1) with probability p."""
    j = np.eye(k + 2)
    for c in range(k):
        j[1 + c, 1 + c], j[1 + c, 2 + c] = 1.0 - p, p
    return j


def month_grid(s: Scenario, sessions) -> np.ndarray:
    """Grid over [0, T] containing every session and scheduled disbanding month, and T − L."""
    marks = [*sessions, *(ev.month for ev in s.reconfiguration.scheduled),
             s.trial.months - s.intervention.effect_lag_months]
    return np.unique(np.concatenate([np.linspace(0.0, s.trial.months, STEPS + 1), marks]))


def post_states(grid, sessions, leave_rate, vacancy_months, p, k):
    """Post-state distributions at each grid month (before, after the sessions held then) and
    the propagators steps[i]: after grid[i-1] -> after grid[i]. Cached: a solver's search over
    team counts asks for the same chains again (the arrays returned are shared: read only)."""
    return _post_states(tuple(np.asarray(grid, dtype=float).tolist()), tuple(sessions),
                        float(leave_rate), float(vacancy_months), float(p), int(k))


@functools.lru_cache(maxsize=512)
def _post_states(grid, sessions, leave_rate, vacancy_months, p, k):
    q, jump = post_generator(leave_rate, vacancy_months, k), session_matrix(p, k)
    held_at = collections.Counter(sessions)   # sessions held at each month
    cache: dict[float, np.ndarray] = {}
    state = np.eye(k + 2)[1]
    before, after, steps = [], [], []
    for i, t in enumerate(grid):
        step = np.eye(k + 2)
        if i:
            dt = round(float(t - grid[i - 1]), 12)
            if dt not in cache:
                cache[dt] = linalg.expm(q * dt)
            step = cache[dt]
        state = state @ step
        before.append(state)
        if held_at[t]:   # no session: the identity, skipped (the same numbers, bit for bit)
            held = np.linalg.matrix_power(jump, held_at[t])
            state = state @ held
            step = step @ held
        after.append(state)
        steps.append(step)
    return np.array(before), np.array(after), steps


def trained_share(states: np.ndarray) -> np.ndarray:
    """F̄ = P(trained) / P(filled) for each row of post-state distributions."""
    filled = 1.0 - states[:, 0]
    return np.divide(states[:, -1], filled, out=np.zeros(len(states)), where=filled > 0)


def survival_path(s: Scenario, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """S(t), chance a team has not disbanded by month t: (before, after) scheduled events."""
    rc = s.reconfiguration
    random = np.exp(-rc.disband_rate_per_team_year * grid / 12.0)
    share = [np.zeros(grid.size), np.zeros(grid.size)]
    for ev in rc.scheduled:
        share[0] += np.where(grid > ev.month, ev.teams / s.trial.teams, 0.0)
        share[1] += np.where(grid >= ev.month, ev.teams / s.trial.teams, 0.0)
    return tuple(random * np.clip(1.0 - x, 0.0, 1.0) for x in share)


def counted_steps(grid: np.ndarray, horizon: float) -> np.ndarray:
    """(grid.size - 1,) month lengths of the grid steps up to ``horizon`` (a grid month), 0 after."""
    return np.where(grid[1:] <= horizon, np.diff(grid), 0.0)


def time_average(path, grid: np.ndarray, horizon: float | None = None) -> float:
    """(1/T) ∫_0^horizon (default T) of a path given as (before, after) jumps at grid months;
    trapezoid within steps."""
    before, after = path
    steps = np.diff(grid) if horizon is None else counted_steps(grid, horizon)
    return float(np.sum(0.5 * (after[:-1] + before[1:]) * steps) / (grid[-1] - grid[0]))


def post_dose_variance(after: np.ndarray, steps, grid: np.ndarray,
                       horizon: float | None = None) -> float:
    """Var of one post's (1/T) ∫_0^horizon 1{trained}/fill dt, from two-time joint probabilities."""
    n = grid.size - 1
    fill = 1.0 - after[:n, 0]
    lengths = np.diff(grid) if horizon is None else counted_steps(grid, horizon)
    w = lengths / (grid[-1] - grid[0]) / np.where(fill > 0, fill, np.inf)
    trained = after[:n, -1]
    joint = np.zeros((n, n))
    rows = np.zeros((n, after.shape[1]))
    for b in range(n):
        rows = rows @ steps[b] if b else rows
        rows[b] = 0.0
        rows[b, -1] = 1.0
        joint[: b + 1, b] = rows[: b + 1, -1] * trained[: b + 1]
    joint = joint + np.triu(joint, 1).T
    return max(float(w @ joint @ w - (w @ trained) ** 2), 0.0)


def node_parameters(s: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(attendance p_j, monthly leave rate, weight) per leadership node (one node if no effect)."""
    iv, st = s.intervention, s.staff_turnover
    varies = (iv.leadership_on_attendance != 0 and 0 < iv.attendance < 1) \
        or st.leadership_on_turnover != 0
    nodes, weights = (_NODES, _WEIGHTS) if varies else (np.zeros(1), np.ones(1))
    p = attendance_probability(iv.attendance, iv.leadership_on_attendance, nodes)
    rate = st.annual_rate * np.exp(st.leadership_on_turnover * nodes) / 12.0
    return p, rate, weights


def node_post_states(s: Scenario, grid: np.ndarray, sessions):
    """``post_states`` of each leadership node of ``node_parameters``, in node order."""
    p, rate, _ = node_parameters(s)
    for p_j, h_j in zip(p, rate):
        yield post_states(grid, sessions, h_j, s.staff_turnover.vacancy_months, p_j,
                          s.intervention.sessions_to_train)


def fidelity_at_followup(s: Scenario) -> float:
    """Mean-field E[F_j(T)] of intervention teams still in operation at follow-up:
    Σ_nodes w F̄(T), the post-state chain at month T (its error: module docstring), weighted
    over the components (``component_exposure``)."""
    grid = month_grid(s, all_session_months(s))
    at_end = [f_after[-1] for _, f_after, _, _ in _node_fidelity(s, grid)]
    return float(node_parameters(s)[2] @ np.array(at_end))


def _node_fidelity(s: Scenario, grid: np.ndarray):
    nodes = node_nodes(s)
    p, rate, _ = node_parameters(s)
    return node_fidelity(s, grid, nodes, rate, post_states, trained_share)


def node_nodes(s: Scenario) -> np.ndarray:
    """The leadership nodes of ``node_parameters``."""
    return _NODES if node_parameters(s)[2].size > 1 else np.zeros(1)


def expected_exposure(s: Scenario) -> dict[str, np.ndarray]:
    """Per leadership node: ``int`` e1, ``ctl`` e0, ``itt`` (1/T)∫F̄S, ``surviving`` (1/T)∫F̄,
    ``variance`` between-team variance of the dose (0 for linear g, where it is not needed) and
    the quadrature ``weight``."""
    grid = month_grid(s, all_session_months(s))
    survive = survival_path(s, grid)
    share = intervention_count(s.trial.teams, s.trial.intervention_share) / s.trial.teams
    moved = tuple((1.0 - x) * s.reconfiguration.patient_transfer_probability * share
                  for x in survive)
    weights = {"int": tuple(a + b for a, b in zip(survive, moved)), "ctl": moved, "itt": survive,
               "surviving": (np.ones(grid.size),) * 2}
    out: dict[str, list] = {name: [] for name in (*weights, "variance")}
    horizon = s.trial.months - s.intervention.effect_lag_months
    for f_before, f_after, after, steps in _node_fidelity(s, grid):
        f = (f_before, f_after)
        for name, w in weights.items():
            out[name].append(time_average((f[0] * w[0], f[1] * w[1]), grid, horizon))
        linear = s.intervention.dose_response == "linear"
        spread = 0.0 if linear else post_dose_variance(after, steps, grid, horizon)
        out["variance"].append(spread / s.trial.staff_per_team.mean)
    return {**{k: np.array(v) for k, v in out.items()}, "weight": node_parameters(s)[2]}


def mean_dose(e: np.ndarray, variance: np.ndarray, kind: str, threshold: float) -> np.ndarray:
    """G(e) = E[g(X)], X ~ N(e, variance); linear g gives e."""
    if kind == "linear":
        return np.asarray(e, dtype=float)
    sd = np.sqrt(variance)
    safe = np.where(sd > 0, sd, 1.0)
    z = (threshold - e) / safe
    if kind == "threshold":
        return np.where(sd > 0, stats.norm.sf(z), (e >= threshold).astype(float))
    shortfall = (threshold - e) * stats.norm.cdf(z) + safe * stats.norm.pdf(z)
    return np.where(sd > 0, 1.0 - shortfall / threshold, np.minimum(1.0, e / threshold))


def intervention_dose(ex: dict, survive_to_end: float, kind: str, threshold: float) -> np.ndarray:
    """E[g(E)] of patients randomised to intervention: a two-part mixture, teams that survive to
    follow-up (dose ~ N(surviving, v)) and teams that disband (the rest of e1, same v)."""
    whole = mean_dose(ex["surviving"], ex["variance"], kind, threshold)
    if survive_to_end >= 1.0:
        return whole
    rest = (ex["int"] - survive_to_end * ex["surviving"]) / (1.0 - survive_to_end)
    return survive_to_end * whole \
        + (1.0 - survive_to_end) * mean_dose(rest, ex["variance"], kind, threshold)


def expected_itt(s: Scenario) -> tuple[float, float]:
    """(expected exposure e1 of patients randomised to intervention, expected ITT effect)."""
    iv = s.intervention
    ex = expected_exposure(s)
    w = ex["weight"]
    if iv.dose_response == "linear":
        gap = ex["itt"]
    else:
        end = float(survival_path(s, np.array([s.trial.months]))[1][0])
        gap = intervention_dose(ex, end, iv.dose_response, iv.dose_threshold) \
            - mean_dose(ex["ctl"], np.zeros_like(ex["ctl"]), iv.dose_response, iv.dose_threshold)
    return float(w @ ex["int"]), iv.effect_at_full_implementation * float(w @ gap)
