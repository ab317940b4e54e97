"""The engine's batched analyses: reproducible bit for bit whatever the chunking, and the same
answers as the per-trial estimators; the fast seed streams and balance diagnostics give
exactly the numbers of their reference definitions.

Reproducibility rests on row independence (``analysis.teams`` module docstring): a trial's
batched answer must be bitwise the same alone, in any batch, at any position.
"""
from __future__ import annotations

import math
from dataclasses import fields
from functools import lru_cache

import numpy as np
import pytest
import yaml
from hypothesis import given, settings, strategies as st

from simulator.allocation import balance_diagnostics
from simulator.allocation.balance import standardised_difference
from simulator.allocation.covariates import expanded_columns
from simulator.analysis.cluster import cluster_summary_batch
from simulator.analysis.mixed import mixed_ancova_batch
from simulator.analysis.registry import AnalysisOptions, PlannedAnalysis, analysis_plan, run_analysis
from simulator.cli import main
from simulator.montecarlo.engine import WorkUnit, _run_batch, batch_fit, run_unit
from simulator.montecarlo.engine import draw_replicate, replicate_columns
from simulator.scenario.files import parse_scenario
from simulator.montecarlo.seeds import COMPONENTS, stream
from test_batched import random_trial, with_covariates

# Unequal team sizes, dropout, two disbandings with transfers, stratified allocation (strata
# dummies in the models), and the estimators batched in every configuration, plus one that
# is not (the permutation test, which draws from the replicate's analysis stream).
DYNAMIC = {
    "name": "chunked", "seed": 11, "replicates": 25,
    "trial": {"teams": 12, "patients_per_team": {"mean": 8, "cv": 0.7},
              "sites": {"a": 0.5, "b": 0.5}},
    "reconfiguration": {"scheduled": [{"month": 6, "teams": 2}],
                        "patient_transfer_probability": 0.5},
    "dropout": {"attrition": 0.3},
    "allocation": {"method": "stratified", "strata": ["site"]},
    "analysis": {
        "estimators": ["mixed_ancova", "mixed_bw", "mixed_no_strata", "cluster_summary",
                       "cluster_no_strata", "cluster_means", "permutation"],
        "permutations": 19,
        "variants": {
            "mixed_bw": {"estimator": "mixed_ancova", "df_method": "between_within"},
            "mixed_no_strata": {"estimator": "mixed_ancova", "adjust_for": ["baseline"]},
            "cluster_no_strata": {"estimator": "cluster_summary", "adjust_for": ["baseline"]},
        },
    },
}
FIELDS = ("estimate", "se", "df", "ci_low", "ci_high", "p_value")


@lru_cache(maxsize=None)
def dynamic_scenario():
    return parse_scenario(DYNAMIC)


def test_replicates_csv_identical_for_any_chunk_size_and_executor(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(DYNAMIC))
    runs = [["--executor", "serial", "--chunk-size", str(c)] for c in (1, 3, 7, 25)]
    runs.append(["--executor", "local", "--workers", "2", "--chunk-size", "7"])
    outs = []
    for i, extra in enumerate(runs):
        out = tmp_path / f"o{i}"
        assert main(["run", str(path), "--out", str(out), "--quiet", "--no-plots", *extra]) == 0
        outs.append((out / "replicates.csv").read_bytes())
    assert all(o == outs[0] for o in outs[1:])
    text = outs[0].decode()
    assert len(text.splitlines()) == 1 + 25 * len(DYNAMIC["analysis"]["estimators"])
    assert ",mixed_bw," in text and ",cluster_means," in text


def test_chunk_rows_match_the_per_trial_estimators():
    """run_unit's rows: diagnostics exactly as each replicate's, non-batched analyses exactly
    as run per trial (same analysis stream), batched ones to 1e-9 (tests/test_batched.py)."""
    scenario = dynamic_scenario()
    plan = analysis_plan(scenario.analysis)
    rows, _ = run_unit(WorkUnit(0, 0, 10, scenario))
    col = {name: i for i, name in enumerate(replicate_columns(scenario))}
    assert [(row[col["replicate"]], row[col["estimator"]]) for row in rows] == \
        [(r, p.label) for r in range(10) for p in plan]
    converged = 0
    for r in range(10):
        rep = draw_replicate(scenario, r)
        for p, row in zip(plan, rows[r * len(plan):(r + 1) * len(plan)]):
            ref = run_analysis(rep.trial, p, rng=stream(scenario.seed, r, "analysis", p.label))
            assert [row[col[k]] for k in ("design_point", "replicate", "outcome", "estimator")] \
                == [0, r, "patient:QPR", p.label]
            assert row[col["converged"]] == int(ref.converged)
            assert [row[col["true_itt"]], row[col["true_efficacy"]]] == \
                [rep.outcomes.true_itt, rep.outcomes.true_efficacy]
            assert row[col["teams_analysed_int"]] == rep.diagnostics["teams_analysed_int"]
            got = np.array(row[col["estimate"]:col["estimate"] + 6], float)
            want = np.array([getattr(ref, f) for f in FIELDS], float)
            if batch_fit(p) is None:
                np.testing.assert_array_equal(got, want)
            else:
                scale = want[1] if ref.converged else 0.0   # estimates relative to the SE
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * scale)
            converged += ref.converged
    assert converged > 50


def test_which_analyses_are_batched():
    def planned(estimator, **options):
        return PlannedAnalysis("x", estimator, AnalysisOptions(**options))
    batched = [planned("mixed_ancova"), planned("mixed_ancova", adjust_for=("strata", "baseline")),
               planned("mixed_ancova", adjust_for=("baseline",), df_method="satterthwaite"),
               planned("mixed_ancova", df_method="kenward_roger"),
               planned("mixed_ancova", adjust_for=("baseline", "site")),
               planned("mixed_ancova", adjust_for=("strata",)),
               planned("cluster_summary", adjust_for=("baseline",)),
               planned("cluster_summary", adjust_for=()), planned("cluster_means"),
               planned("cluster_means", adjust_for=("site",))]
    per_trial = [planned("gee_robust"), planned("permutation"), planned("individual_ttest"),
                 planned("implementation_split"), planned("cace_iv")]
    assert all(batch_fit(p) is not None for p in batched)
    assert all(batch_fit(p) is None for p in per_trial)


def test_a_batch_that_raises_falls_back_to_trials_alone():
    """Each trial alone gives its answer in any batch, so the fallback changes no number;
    a trial that raises alone is a failed fit."""
    trials = list(pool()[:6])

    def picky(batch):
        if len(batch) > 1 or batch[0] is trials[2]:
            raise np.linalg.LinAlgError("singular")
        return mixed_ancova_batch(batch)

    def matrix(records):
        return np.array([[float(getattr(e, f)) for f in (*FIELDS, "converged")] for e in records])

    got, want = matrix(_run_batch(picky, trials)), matrix(mixed_ancova_batch(trials).records())
    keep = [0, 1, 3, 4, 5]
    assert _bitwise_equal(got[keep], want[keep])
    assert np.isnan(got[2, :6]).all() and got[2, 6] == 0.0


# --- row independence -------------------------------------------------------------------

CONFIGS = {
    "mixed_bw": lambda b: mixed_ancova_batch(b),
    "mixed_satt": lambda b: mixed_ancova_batch(b, df_method="satterthwaite"),
    "mixed_bw_no_strata": lambda b: mixed_ancova_batch(b, adjust_for_strata=False),
    "mixed_satt_no_strata": lambda b: mixed_ancova_batch(b, adjust_for_strata=False,
                                                         df_method="satterthwaite"),
    "mixed_kr": lambda b: mixed_ancova_batch(b, df_method="kenward_roger"),
    "mixed_site": lambda b: mixed_ancova_batch(b, adjust_for=("baseline", "site")),
    "mixed_no_baseline": lambda b: mixed_ancova_batch(b, adjust_for=("strata",)),
    "cluster": lambda b: cluster_summary_batch(b),
    "cluster_no_strata": lambda b: cluster_summary_batch(b, adjust_for_strata=False),
    "cluster_means": lambda b: cluster_summary_batch(b, adjusted=False),
    "cluster_site": lambda b: cluster_summary_batch(b, adjust_for=("site",)),
}


def _matrix(arrays) -> np.ndarray:
    return np.column_stack([getattr(arrays, f.name).astype(float) for f in fields(arrays)])


def _bitwise_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """The same floats bit for bit (stricter than ==: -0.0 ≠ 0.0, nan payloads compared)."""
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


@lru_cache(maxsize=None)
def pool() -> tuple:
    """Random trials of every kind (tests/test_batched.py), and simulated ones sharing one K:
    the engine's case, where a chunk's trials form one block."""
    scenario = dynamic_scenario()
    return (tuple(with_covariates(random_trial(seed), seed) for seed in range(40))
            + tuple(draw_replicate(scenario, r).trial for r in range(24)))


@lru_cache(maxsize=None)
def alone(config: str) -> np.ndarray:
    return np.vstack([_matrix(CONFIGS[config]([t])) for t in pool()])


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_whole_pool_equals_each_trial_alone(config):
    whole = _matrix(CONFIGS[config](list(pool())))
    assert _bitwise_equal(whole, alone(config))
    assert np.isfinite(whole[:, 0]).sum() > 30   # many fits succeed


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_a_trials_answer_does_not_depend_on_its_batch(data):
    n = len(pool())
    others = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=30), label="others")
    target = data.draw(st.integers(0, n - 1), label="target")
    at = data.draw(st.integers(0, len(others)), label="position")
    batch = others[:at] + [target] + others[at:]
    for config, fit in CONFIGS.items():
        got = _matrix(fit([pool()[i] for i in batch]))
        assert _bitwise_equal(got, alone(config)[batch]), config


# --- the same numbers as the reference definitions --------------------------------------

@settings(max_examples=100, deadline=None)
@given(seed=st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 2**140)),
       r=st.integers(0, 2**40), component=st.sampled_from(COMPONENTS),
       label=st.one_of(st.none(), st.text(min_size=1, max_size=30)))
def test_each_key_has_its_own_reproducible_stream(seed, r, component, label):
    draws = lambda *key: stream(seed, *key).integers(0, 2**63, 4).tolist()  # noqa: E731
    assert draws(r, component, label) == draws(r, component, label)
    others = [(r + 1, component, label), (r, COMPONENTS[COMPONENTS.index(component) - 1], label),
              (r, component, (label or "") + "x")]
    assert all(draws(*key) != draws(r, component, label) for key in others)


def _reference_balance(covariates, arm) -> dict:
    """The per-column definition: ``standardised_difference`` of every expanded column."""
    x, _ = expanded_columns(covariates, tuple(covariates))
    smds = [abs(standardised_difference(x[:, j], arm)) for j in range(x.shape[1])]
    out = {"imbalance_max_smd": max(smds) if smds and not any(math.isnan(s) for s in smds)
           else math.nan, "team_type_all_in_one_arm": 0}
    types = covariates["team_type"]
    for t in np.unique(types):
        n_int, n_ctl = int(np.sum((types == t) & (arm == 1))), int(np.sum((types == t) & (arm == 0)))
        out[f"n_int_{t}"], out[f"n_ctl_{t}"] = n_int, n_ctl
        out["team_type_all_in_one_arm"] |= int(n_int + n_ctl >= 2 and min(n_int, n_ctl) == 0)
    return out


@settings(max_examples=150, deadline=None)
@given(k=st.integers(1, 40), data=st.data())
def test_balance_diagnostics_equal_the_per_column_definition(k, data):
    ints = st.lists(st.integers(0, 2), min_size=k, max_size=k)
    covariates = {
        "site": np.array(["a", "b", "c"])[data.draw(ints)],
        "team_type": np.array(["cmht", "recovery", "outreach"])[data.draw(ints)],
        "patients": np.array(data.draw(st.lists(st.floats(0.5, 80.0), min_size=k, max_size=k))),
        "staff": np.array(data.draw(st.lists(st.integers(4, 20), min_size=k, max_size=k)), float),
    }
    arm = np.array(data.draw(ints), dtype=np.int8)   # 2: in neither arm
    got, want = balance_diagnostics(covariates, arm), _reference_balance(covariates, arm)
    assert list(got) == list(want)
    assert got == want or (math.isnan(got["imbalance_max_smd"])
                           and math.isnan(want["imbalance_max_smd"])
                           and {**got, "imbalance_max_smd": 0} == {**want, "imbalance_max_smd": 0})
    assert all(type(v) is int for key, v in got.items() if key != "imbalance_max_smd")
