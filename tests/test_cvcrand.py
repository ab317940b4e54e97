"""cvcrand-exact constrained randomisation (simulator.allocation.scoring, .space_summary).

1. Published cvcrand output (tests/reference/cvcrand_README.md): the Dickinson et al. (2015)
   example of the cvcrand vignette, versions 0.0.4 and 0.1.1, to the printed digits; cvcrand's
   own saved files (all 12,870 balance scores; the constrained space) byte for byte via their
   SHA-256; cvrcov's validity-check summary.
2. Hypothesis properties: the closed form of the scores, mirror symmetry, the kept count and
   order, agreement of the R-style helpers with numpy.
3. How the cvcrand score relates to the simulator's existing score.
"""
from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.allocation.scoring import (balance_design_matrix, balance_matrix,
                                          cvcrand_l1_scores, cvcrand_l2_scores, kept_space,
                                          l2_scores, r_mean, r_sd)
from simulator.allocation.space import all_subsets
from simulator.allocation.space_summary import (baseline_table, cvcrand_space, r_quantile,
                                                space_summary, validity_check)

REF = Path(__file__).parent / "reference"
NAMES = ("location", "inciis", "uptodateonimmunizations", "hispanic", "incomecat")
PROPERTY = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])


def read_csv(name: str) -> list[dict]:
    with open(REF / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def dickinson() -> dict[str, np.ndarray]:
    rows = read_csv("cvcrand_dickinson_design.csv")
    cov = {c: np.array([r[c] for r in rows]) for c in ("county", "location", "incomecat")}
    for c in ("inciis", "uptodateonimmunizations", "hispanic", "income"):
        cov[c] = np.array([float(r[c]) for r in rows])
    return cov


def reference(example: str, version: str | None = None) -> dict[str, tuple[str, str]]:
    return {r["quantity"]: (r["value"], r["decimals"]) for r in read_csv("cvcrand_reference.csv")
            if r["example"] == example and version in (None, r["cvcrand_version"])}


def bits(text: str) -> np.ndarray:
    return np.array([int(c) for c in text], dtype=np.int8)


def row_of(everything: np.ndarray, allocation: np.ndarray) -> int:
    return int(np.flatnonzero((everything == allocation).all(axis=1))[0])


@pytest.fixture(scope="module")
def space():
    """All C(16, 8) allocations, cvrall's l2 scores and kept space (cutoff 0.1)."""
    design = balance_design_matrix(dickinson(), NAMES)
    everything = all_subsets(16, 8)
    scores = cvcrand_l2_scores(design.z, everything)
    return everything, scores, kept_space(scores, 0.1)


def test_dummies_drop_the_first_level_and_follow_cvrall_column_order():
    design = balance_design_matrix(dickinson(), NAMES)
    assert design.columns == ("inciis", "uptodateonimmunizations", "hispanic",
                              "location=Urban", "incomecat=Low", "incomecat=Med")
    assert design.center[0] == 87.0 and design.scale[3] == pytest.approx(math.sqrt(16 / 60))


@pytest.mark.parametrize("version", ["0.0.4", "0.1.1"])
def test_published_score_distribution_to_the_printed_digits(space, version):
    everything, scores, kept = space
    summary = space_summary(scores, kept, int(kept.indices[0]), metric="l2")
    printed = reference("cvrall_l2", version)
    for key, (value, decimals) in printed.items():
        if key.startswith(("score_", "cutoff_")):
            assert f"{summary[key]:.{decimals}f}" == value, key
    assert summary["n_kept"] == int(printed["n_kept"][0]) == 1287
    assert summary["n_allocations"] == 12870


def test_published_chosen_allocations_have_the_printed_scores(space):
    everything, scores, kept = space
    for row in read_csv("cvcrand_allocations.csv"):
        if row["score"]:
            i = row_of(everything, bits(row["allocation"]))
            assert f"{scores[i]:.3f}" == row["score"]
            assert i in set(kept.indices.tolist())


def printed_table(cov: dict, arm: np.ndarray) -> dict[tuple[str, str], tuple[str, str]]:
    """Our baseline_table formatted as tableone prints it in cvrall's ``baseline_table``."""
    table = baseline_table(cov, NAMES, arm)
    out = {("n", "count"): tuple(str(table["n"][a]) for a in (0, 1))}
    for name in NAMES:
        for a in (0, 1):
            entry = table[name][a]
            if isinstance(entry, tuple):
                out.setdefault((name, "mean (SD)"), ())
                out[(name, "mean (SD)")] += (f"{entry[0]:.2f} ({entry[1]:.2f})",)
            else:
                for level, count in entry.items():
                    out.setdefault((name, level), ())
                    out[(name, level)] += (f"{count} ({100 * count / table['n'][a]:.1f})",)
    return out


def published_table(table_id: str) -> dict[tuple[str, str], tuple[str, str]]:
    return {(r["covariate"], r["statistic"]): (r["arm0"], r["arm1"])
            for r in read_csv("cvcrand_baseline.csv") if r["table"] == table_id}


def matches(printed: dict, published: dict) -> bool:
    return all(printed.get(key) == value for key, value in published.items())


def test_published_baseline_tables_of_the_chosen_allocations(space):
    everything, _, _ = space
    cov = dickinson()
    for row in read_csv("cvcrand_allocations.csv"):
        if row["allocation"]:
            assert matches(printed_table(cov, bits(row["allocation"])),
                           published_table(row["table"]))


def test_stratified_examples_weights_1000_on_location(space):
    """cvrall(weights = c(1000, 1, 1, 1, 1)) and cvrall(stratify = "location") (the same
    weights): every kept allocation has 4 urban counties per arm; 0.1.1's chosen allocation
    (whose table the vignette prints for both) is kept; exactly one kept allocation has the
    table 0.0.4 printed for both."""
    everything, _, _ = space
    cov = dickinson()
    design = balance_design_matrix(cov, NAMES, weights=[1000, 1, 1, 1, 1])
    kept = kept_space(cvcrand_l2_scores(design.z, everything), 0.1)
    arms = everything[kept.indices]
    assert kept.n_kept == 1287 and np.all(arms[:, 8:].sum(axis=1) == 4)
    assert row_of(everything, bits("1110000101110100")) in set(kept.indices.tolist())
    published = published_table("t004s")
    assert sum(matches(printed_table(cov, arm), published) for arm in arms) == 1


def cvrcov_space(cov: dict, everything: np.ndarray) -> np.ndarray:
    """The vignette's cvrcov(constraints = c("s5", "mf.5", "any", "any", "mf0.4")) space:
    |treated - control total| of rural <= 5, |difference in means| <= 0.5 x overall mean of
    inciis and <= 0.4 x overall mean of income (cvcrand 0.1.1 R/cvrcov.R)."""
    sign = np.where(everything == 1, 1.0, -1.0)
    rural = (cov["location"] == "Rural").astype(float)
    ok = np.abs(sign @ rural) <= 5
    for name, share in (("inciis", 0.5), ("income", 0.4)):
        ok &= np.abs((sign / 8) @ cov[name]) <= share * (np.full(16, 1 / 16) @ cov[name])
    return everything[ok]


def test_cvrcov_validity_check_summary(space):
    everything, _, _ = space
    kept = cvrcov_space(dickinson(), everything)
    printed = reference("cvrcov")
    assert kept.shape[0] == int(printed["n_kept"][0])
    assert f"{100 * kept.shape[0] / everything.shape[0]:.2f}" == printed["percent_kept"][0]
    check = validity_check(kept)
    for key, (value, decimals) in printed.items():
        row, _, stat = key.partition("_")
        if row in ("samecount", "samefrac", "diffcount", "difffrac"):
            assert f"{check[row][stat]:.{decimals}f}" == value, key
    assert check["always_together"] == check["always_apart"] == []


def test_cvcrand_saved_files_reproduced_byte_for_byte(space):
    """cvrall(savebscores=) wrote every score with write.csv (15 significant digits, CRLF);
    cvrall(savedata=) the kept space in order(BL) with SchemeChosen flagging 0.0.4's draw."""
    everything, scores, kept = space
    printed = reference("cvrall_l2")
    bscores = '"x"\r\n' + "".join(f"{v:.15g}\r\n" for v in scores)
    assert hashlib.sha256(bscores.encode()).hexdigest() == \
        printed["sha256_dickinson_bscores_csv"][0]
    chosen = row_of(everything, bits("0001101011011010"))
    lines = [f"{int(i == chosen)}," + ",".join(map(str, everything[i])) for i in kept.indices]
    constrained = '"SchemeChosen"' + ',""' * 16 + "\r\n" + "".join(f"{x}\r\n" for x in lines)
    assert hashlib.sha256(constrained.encode()).hexdigest() == \
        printed["sha256_dickinson_constrained_csv"][0]


@st.composite
def designs(draw, max_clusters: int = 10):
    """Cluster covariates: two numeric columns and a categorical one with >= 2 levels used."""
    k = draw(st.integers(4, max_clusters))
    numbers = st.lists(st.floats(-50, 50, allow_nan=False).map(lambda v: round(v, 2)),
                       min_size=k, max_size=k).filter(lambda v: len(set(v)) > 1)
    levels = st.lists(st.sampled_from(["a", "b", "c"]), min_size=k, max_size=k)
    cov = {"u": np.array(draw(numbers)), "v": np.array(draw(numbers)),
           "g": np.array(draw(levels.filter(lambda v: len(set(v)) > 1)))}
    return cov, draw(st.integers(1, k - 1))


@PROPERTY
@given(designs(), st.lists(st.floats(0.5, 3), min_size=3, max_size=3))
def test_scores_equal_the_closed_form(case, weights):
    cov, n_t = case
    design = balance_design_matrix(cov, ("u", "v", "g"), weights=weights)
    arms = all_subsets(len(cov["u"]), n_t)
    k, n_c = arms.shape[1], arms.shape[1] - n_t
    gap = (arms @ design.x) / n_t - ((1 - arms) @ design.x) / n_c      # (M, p) xbar_T - xbar_C
    w = design.weights / design.scale
    factor = n_t * n_c / k
    np.testing.assert_allclose(cvcrand_l2_scores(design.z, arms),
                               factor ** 2 * (gap ** 2 * w ** 2).sum(1), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(cvcrand_l1_scores(design.z, arms),
                               factor * (np.abs(gap) * w).sum(1), rtol=1e-9, atol=1e-9)


@PROPERTY
@given(designs(), st.sampled_from([0.05, 0.1, 0.25, 0.5]), st.integers(0, 2**32 - 1))
def test_kept_space_keeps_round_q_m_best_in_stable_order(case, fraction, seed):
    cov, n_t = case
    design = balance_design_matrix(cov, ("u", "v", "g"))
    arms = all_subsets(len(cov["u"]), n_t)
    scores = cvcrand_l2_scores(design.z, arms)
    kept = kept_space(scores, fraction)
    count = round(scores.size * fraction)
    assert kept.n_kept == max(count, 1)
    assert np.all(np.diff(scores[kept.indices]) >= 0)
    rest = np.setdiff1d(np.arange(scores.size), kept.indices)
    assert np.all(scores[rest] >= scores[kept.indices].max())
    assert math.isnan(kept.cutoff_score) == (count <= 1)
    drawn = cvcrand_space(design, n_t, rng=np.random.default_rng(seed), fraction=fraction)
    assert drawn.chosen in set(drawn.kept.indices.tolist()) and drawn.enumerated


@PROPERTY
@given(designs(), st.integers(0, 2**32 - 1))
def test_equal_arms_mirror_allocations_score_alike(case, seed):
    cov, _ = case
    k = len(cov["u"]) // 2 * 2
    cov = {name: col[:k] for name, col in cov.items()}
    if min(len(set(col.tolist())) for col in cov.values()) < 2:
        return
    design = balance_design_matrix(cov, ("u", "v", "g"))
    arms = all_subsets(k, k // 2)
    np.testing.assert_allclose(cvcrand_l2_scores(design.z, arms),
                               cvcrand_l2_scores(design.z, 1 - arms), rtol=1e-9, atol=1e-9)


@PROPERTY
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=40),
       st.lists(st.floats(0, 1), min_size=1, max_size=5))
def test_r_helpers_agree_with_numpy(values, probs):
    x = np.array(values)
    assert r_mean(x[:, None])[0] == pytest.approx(x.mean(), rel=1e-12, abs=1e-9)
    assert r_sd(x[:, None])[0] == pytest.approx(x.std(ddof=1), rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(r_quantile(x, probs), np.quantile(x, probs), rtol=1e-12,
                               atol=1e-9)


def test_sampled_candidates_are_distinct_and_seeded():
    cov = {"u": np.arange(20.0) ** 1.5, "g": np.array(list("ab") * 10)}
    design = balance_design_matrix(cov, ("u", "g"))
    a = cvcrand_space(design, 10, rng=np.random.default_rng(7), size=5000)
    b = cvcrand_space(design, 10, rng=np.random.default_rng(7), size=5000)
    assert not a.enumerated and a.n_drawn == 5000
    assert len({r.tobytes() for r in a.allocations}) == a.allocations.shape[0] <= 5000
    assert np.array_equal(a.allocations, b.allocations) and a.chosen == b.chosen
    summary = space_summary(a.scores, a.kept, a.chosen, metric="l2", enumerated=False,
                            n_drawn=a.n_drawn)
    assert summary["n_kept"] == round(a.allocations.shape[0] * 0.1)
    assert summary["score_min"] <= summary["cutoff_score"] <= summary["score_q10"] + 1e-12


def test_validity_check_names_pairs_always_together_and_apart():
    kept = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=np.int8)
    check = validity_check(kept, ["A", "B", "C", "D"])
    assert check["always_together"] == ["A and B", "C and D"]
    assert check["always_apart"] == ["A and C", "A and D", "B and C", "B and D"]


def test_bad_inputs_are_refused():
    cov = {"u": np.array([1.0, 1.0, 1.0]), "g": np.array(["a", "b", "a"])}
    with pytest.raises(ValueError, match="without variation"):
        balance_design_matrix(cov, ("u", "g"))
    with pytest.raises(ValueError, match="weights"):
        balance_design_matrix(cov, ("g",), weights=[1, 2])
    with pytest.raises(ValueError, match="cutoff"):
        kept_space(np.arange(10.0), 1.0)
    with pytest.raises(ValueError, match="n_schemes"):
        kept_space(np.arange(10.0), n_schemes=10)


def test_numeric_covariates_rank_as_the_simulator_does():
    """Numeric covariates only: the cvcrand l2 score is the simulator's score times
    (n_T n_C / n)^2. The scale changes; the ranking does not (up to rounding at ties)."""
    cov = {"u": np.array([3.0, 9, 4, 1, 7, 2, 8, 5, 6]),
           "v": np.array([1.0, 0, 2, 5, 3, 3, 1, 4, 2])}
    arms = all_subsets(9, 4)
    z, _ = balance_matrix(cov, ("u", "v"))
    ours = cvcrand_l2_scores(balance_design_matrix(cov, ("u", "v")).z, arms)
    np.testing.assert_allclose(ours, l2_scores(arms, z) * (4 * 5 / 9) ** 2, rtol=1e-12)


def test_binary_categorical_counts_once_not_twice():
    """The simulator codes a two-level factor as two indicators, which double its weight;
    cvcrand's single dummy counts it once."""
    cov = {"g": np.array(list("aabbbaab"))}
    arms = all_subsets(8, 4)
    z, _ = balance_matrix(cov, ("g",))
    ours = cvcrand_l2_scores(balance_design_matrix(cov, ("g",)).z, arms)
    np.testing.assert_allclose(2 * ours, l2_scores(arms, z) * (4 * 4 / 8) ** 2, rtol=1e-12,
                               atol=1e-12)


def test_constant_columns_can_be_dropped():
    cov = {"u": np.array([2.0, 2.0, 2.0, 2.0]), "v": np.array([1.0, 4.0, 2.0, 3.0]),
           "g": np.array(["a", "a", "a", "a"])}
    design = balance_design_matrix(cov, ("u", "v", "g"), drop_constant=True)
    assert design.columns == ("v",) and design.dropped == ("u", "g")
    with pytest.raises(ValueError, match="without variation"):
        balance_design_matrix(cov, ("v", "g"))
    assert design.z.shape == (4, 1) and design.scale[0] == pytest.approx(np.std([1, 4, 2, 3],
                                                                               ddof=1))
