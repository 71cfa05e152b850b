"""The verification framework (Comparison, its control rules, criterion rows, CheckResult) and the linreg checks."""

import pytest

from numerics.verify import CheckResult, Comparison, check_names, comparison_result, get_check
from numerics.errors import ParameterError


def test_comparison_floor_and_control_semantics():
    cmp = Comparison.make(["a", "b"], [1.0, 2.0], [1.05, 2.0], [0.001, 0.001], [1.5, 2.0], "wrong", z=5, rel_floor=0.05)
    assert cmp.passed  # 0.05 off, inside the floor 0.05 * max|predicted| = 0.1
    assert cmp.negative_control.rejected  # 0.45 off the wrong value, outside 0.075
    tight = Comparison.make(["a"], [1.0], [1.05], [0.001], [1.05], "wrong", z=5)
    assert not tight.passed and not tight.negative_control.rejected


def test_unknown_parameter_override_is_refused():
    with pytest.raises(ParameterError, match="no parameter"):
        get_check("linreg.discrete_stationary_covariance")(seed=0, etaa=0.1)
    assert "linreg.stationary_covariance" in check_names()


def _part(measured, wrong, description="w"):
    return Comparison.make(["a", "b"], [1.0, 2.0], measured, [0.1, 0.1], wrong, description)


def test_combine_states_its_control_rule():
    agrees_rejects, agrees_keeps = _part([1.0, 2.0], [3.0, 2.0], "x"), _part([1.0, 2.0], [1.0, 2.0], "y")
    any_ = Comparison.combine([agrees_rejects, agrees_keeps], control="any", labels=["p", "q"])
    all_ = Comparison.combine([agrees_rejects, agrees_keeps], control="all", labels=["p", "q"])
    assert any_.negative_control.rejected and not all_.negative_control.rejected
    assert any_.negative_control.max_abs_z == 20.0 and all_.negative_control.max_abs_z == 0.0
    assert any_.negative_control.description == "p: x; q: y" and len(any_.rows) == 4 and any_.passed
    rows_only = Comparison.make(["c"], [0.0], [5.0], [0.1], None)  # no control: rows only, and it disagrees
    both = Comparison.combine([agrees_rejects, rows_only], control="all")
    assert both.negative_control.rejected and not both.passed and len(both.rows) == 3
    with pytest.raises(ParameterError, match="control"):
        Comparison.combine([agrees_rejects], control="most")
    with pytest.raises(ParameterError, match="negative control"):
        comparison_result("x.y", {}, 0, rows_only, "t")


def test_criterion_rows_must_lie_beyond_the_threshold():
    base = _part([1.0, 2.0], [3.0, 2.0])
    assert base.require("peak < 0.9", 0.3, 0.1, 0.9, "below").passed  # 6 s.e. below
    assert not base.require("peak < 0.9", 0.5, 0.1, 0.9, "below").passed  # only 4 s.e. below
    assert base.require("gap > 0", 0.6, 0.1, 0.0, "above").passed
    with pytest.raises(ParameterError, match="side"):
        base.require("x", 0.0, 1.0, 0.0, "near")


def test_check_result_is_immutable_built_in_one_place_and_round_trips():
    import dataclasses

    cmp = _part([1.0, 2.0], [3.0, 2.0]).require("peak < 0.9", 0.3, 0.1, 0.9, "below")
    result = comparison_result("x.y", {"eta": 0.1}, 4, cmp, "|z| <= 5", ["n"])
    assert result.passed and result.agrees and result.notes[0].startswith("false-failure probability of |z| <= 5 over 2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.passed = False
    back = CheckResult.from_json(result.to_json(), runtime_s=2.0)
    assert back.rows == result.rows and back.rows[-1].rule == "below" and back.runtime_s == 2.0
    assert dataclasses.replace(back, runtime_s=result.runtime_s) == result
