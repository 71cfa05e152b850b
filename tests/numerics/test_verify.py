"""The verification framework (Comparison, mutants, verdicts, resolving power, criterion rows, CheckResult)."""

import pytest

from numerics.verify import CheckResult, Comparison, check_names, comparison_result, get_check
from numerics.errors import ParameterError
from numerics.stats import Estimate


def test_no_floor_and_mutants_judged_on_the_same_rows():
    cmp = Comparison.make(["a", "b"], [1.0, 2.0], [1.0004, 2.0], [0.001, 0.001], {"wrong": [1.5, 2.0]}, z=5)
    assert cmp.verdict() == "CONFIRMED" and cmp.mutants[0].rejected and cmp.mutants[0].max_abs_z > 400
    off = Comparison.make(["a"], [1.0], [1.05], [0.001], {"wrong": [1.05]}, z=5)  # 5 % off is 50 s.e.: no floor
    assert off.verdict() == "REFUTED" and not off.mutants[0].rejected
    survivor = Comparison.make(["a"], [1.0], [1.0], [0.1], {"x 1.1": [1.1]}, z=5)
    assert survivor.verdict() == "INCONCLUSIVE"
    approx = Comparison.make(["a"], [1.0], [1.0], [0.001], {"wrong": [2.0]}, z=5, rule="approx")
    assert approx.verdict() == "INCONCLUSIVE"  # an approximate theory without its correction never confirms
    with pytest.raises(ParameterError, match="rule"):
        Comparison.make(["a"], [1.0], [1.0], [0.1], None, rule="close")


def test_resolving_power_is_the_smallest_rejected_scale():
    from numerics.verify import resolving_power

    cmp = Comparison.make(["a", "b"], [1.0, 2.0], [1.0, 2.0], [0.01, 0.01], {"w": [0.0, 0.0]}, z=5)
    assert resolving_power(cmp.rows) == pytest.approx(0.025)  # row b: 5 * 0.01 / 2
    shifted = Comparison.make(["a"], [10.0], [10.1], [0.1], {"w": [9.0]}, z=5, baseline=9.0)
    assert resolving_power(shifted.rows) == pytest.approx(0.6)  # effect 1.0 from the baseline 9: (0.1 + 0.5)/1
    assert resolving_power(Comparison.make(["a"], [1.0], [2.0], [0.1], {"w": [0.0]}).rows) is None  # refuted


def test_unknown_parameter_override_is_refused():
    with pytest.raises(ParameterError, match="no parameter"):
        get_check("linreg.discrete_stationary_covariance")(seed=0, etaa=0.1)
    assert "linreg.stationary_covariance" in check_names()


def _part(measured, wrong, description="w"):
    return Comparison.make(["a", "b"], [1.0, 2.0], measured, [0.1, 0.1], {description: wrong})


def test_combine_merges_mutants_by_description_or_keeps_labelled_parts_apart():
    rejects, keeps = _part([1.0, 2.0], [3.0, 2.0], "x"), _part([1.0, 2.0], [1.0, 2.0], "x")
    merged = Comparison.combine([rejects, keeps])  # one wrong formula: rejected if any part's data reject it
    assert [m.description for m in merged.mutants] == ["x"] and merged.mutants[0].rejected
    assert merged.mutants[0].max_abs_z == 20.0 and len(merged.rows) == 4 and merged.verdict() == "CONFIRMED"
    labelled = Comparison.combine([rejects, keeps], labels=["p", "q"])  # each part must reject its own
    assert [m.description for m in labelled.mutants] == ["p: x", "q: x"] and labelled.verdict() == "INCONCLUSIVE"
    rows_only = Comparison.make(["c"], [0.0], [5.0], [0.1], None)  # no mutants: rows only, and it disagrees
    assert Comparison.combine([rejects, rows_only]).verdict() == "REFUTED"
    with pytest.raises(ParameterError, match="mutants"):
        comparison_result("x.y", {}, 0, rows_only, "t")


def test_criterion_rows_must_lie_beyond_the_threshold():
    base = _part([1.0, 2.0], [3.0, 2.0])
    assert base.require("peak < 0.9", 0.3, 0.1, 0.9, "below").verdict() == "CONFIRMED"  # 6 s.e. below
    assert base.require("peak < 0.9", 0.5, 0.1, 0.9, "below").verdict() == "INCONCLUSIVE"  # only 4 s.e. below
    assert base.require("peak < 0.9", 1.5, 0.1, 0.9, "below").verdict() == "REFUTED"  # 6 s.e. above
    assert base.require("gap > 0", 0.6, 0.1, 0.0, "above").verdict() == "CONFIRMED"
    with pytest.raises(ParameterError, match="side"):
        base.require("x", 0.0, 1.0, 0.0, "near")


def test_a_criterion_whose_precondition_is_unmet_is_reported_not_judged():
    base = _part([1.0, 2.0], [3.0, 2.0])
    row = base.require("peak < 0.9", 1.5, 0.1, 0.9, "below", met=False).rows[-1]  # 6 s.e. above, not judged
    assert (row.rule, row.z, row.status()) == ("unmet", pytest.approx(6), "undecided")
    assert base.require("peak < 0.9", 1.5, 0.1, 0.9, "below", met=False).verdict() == "INCONCLUSIVE"
    beside = base.require("peak < 0.9", 1.5, 0.1, 0.9, "below", scope=False)  # outside the claim: no verdict part
    assert (beside.rows[-1].rule, beside.rows[-1].status()) == ("beside", "beside")
    assert beside.verdict() == base.verdict() == "CONFIRMED"


def test_interval_row_is_judged_against_the_nearer_bound():
    def row(value, stderr):
        return Comparison([], [], 5.0).within("x", Estimate(value, stderr), 1.0, 2.0).rows[0]

    inside = row(1.3, 0.01)
    assert (inside.rule, inside.predicted, inside.z, inside.status()) == ("above", 1.0, pytest.approx(30), "holds")
    upper = row(1.9, 0.01)
    assert (upper.rule, upper.predicted, upper.status()) == ("below", 2.0, "holds") and upper.z == pytest.approx(-10)
    assert row(1.02, 0.01).status() == "undecided" and row(0.9, 0.01).status() == "rejected"


def test_check_result_is_immutable_built_in_one_place_and_round_trips():
    import dataclasses

    cmp = _part([1.0, 2.0], [3.0, 2.0]).require("peak < 0.9", 0.3, 0.1, 0.9, "below")
    result = comparison_result("x.y", {"eta": 0.1}, 4, cmp, "|z| <= 5", ["n"])
    assert result.verdict == "CONFIRMED" and result.passed and result.agrees
    assert result.notes[0].startswith("false-failure probability of |z| <= 5 over 2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.verdict = "REFUTED"
    back = CheckResult.from_json(result.to_json(), runtime_s=2.0)
    assert back.rows == result.rows and back.rows[-1].rule == "below" and back.runtime_s == 2.0
    assert dataclasses.replace(back, runtime_s=result.runtime_s) == result
