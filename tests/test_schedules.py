"""Learning-rate schedules against PyTorch's closed forms; validation and JSON round trips."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from mlp.optim.schedules import (
    ConstantSchedule,
    CosineSchedule,
    PlateauSchedule,
    Schedule,
    ScheduleState,
    StepSchedule,
)

BASE, EPOCHS = 0.1, 12
ADAPTER: TypeAdapter[Any] = TypeAdapter(Schedule)


def lrs(schedule: Any, epochs: int = EPOCHS) -> list[float]:
    state = ScheduleState()
    return [schedule.lr_for_epoch(epoch, BASE, epochs, state) for epoch in range(epochs)]


def test_constant() -> None:
    assert lrs(ConstantSchedule()) == [BASE] * EPOCHS


def test_step_closed_form() -> None:
    values = lrs(StepSchedule(step_size=3, gamma=0.5))
    assert values == [BASE * 0.5 ** (epoch // 3) for epoch in range(EPOCHS)]
    assert values[:7] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025], rel=1e-15)


def test_cosine_closed_form() -> None:
    values = lrs(CosineSchedule(min_lr=0.01))
    expected = [0.01 + (BASE - 0.01) * (1 + math.cos(math.pi * e / EPOCHS)) / 2
                for e in range(EPOCHS)]
    assert values == pytest.approx(expected, rel=1e-15)
    assert values[0] == pytest.approx(BASE, rel=1e-15)
    assert values[EPOCHS // 2] == pytest.approx((BASE + 0.01) / 2, rel=1e-15)
    assert values == sorted(values, reverse=True)
    assert lrs(CosineSchedule(), 4) == pytest.approx([0.1, 0.1 * (1 + math.sqrt(0.5)) / 2,
                                                      0.05, 0.1 * (1 - math.sqrt(0.5)) / 2])


@pytest.mark.parametrize("schedule", [ConstantSchedule(), StepSchedule(step_size=1, gamma=0.5),
                                      CosineSchedule()])
def test_stateless_schedules_ignore_end_epoch(schedule: Any) -> None:
    state = ScheduleState()
    schedule.end_epoch(state, 1.0)
    assert state == ScheduleState()


def test_plateau_reduces_after_patience_plus_one_bad_epochs() -> None:
    schedule = PlateauSchedule(factor=0.5, patience=2, min_lr=0.03)
    state = ScheduleState()
    seen = []
    for loss in [1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]:
        seen.append(schedule.lr_for_epoch(len(seen), BASE, 20, state))
        schedule.end_epoch(state, loss)
    # epochs 2-4 are bad: the third (> patience) halves the lr; epoch 6 improves;
    # epochs 7-9 bad: halve to 0.025, floored at min_lr; 10-12 bad: stays at min_lr.
    assert seen == pytest.approx([0.1] * 5 + [0.05] * 5 + [0.03] * 4, rel=1e-15)
    assert state.best == 0.4
    assert state.bad_epochs == 1


def test_plateau_relative_threshold() -> None:
    schedule = PlateauSchedule(patience=0, threshold=1e-2)
    state = ScheduleState()
    assert schedule.lr_for_epoch(0, BASE, 10, state) == BASE
    schedule.end_epoch(state, 1.0)
    schedule.end_epoch(state, 0.995)  # not below 1.0 * (1 - 1e-2): bad, reduce at once
    assert state.best == 1.0
    assert state.lr == pytest.approx(BASE * 0.1, rel=1e-15)
    assert state.bad_epochs == 0
    schedule.end_epoch(state, 0.98)
    assert state.best == 0.98
    assert schedule.lr_for_epoch(3, BASE, 10, state) == pytest.approx(BASE * 0.1, rel=1e-15)


def test_plateau_none_loss_is_a_no_op_and_nan_is_bad() -> None:
    schedule = PlateauSchedule(patience=0)
    state = ScheduleState()
    schedule.lr_for_epoch(0, BASE, 10, state)
    before = state.model_copy()
    schedule.end_epoch(state, None)
    assert state == before
    schedule.end_epoch(state, math.nan)
    assert state.best is None
    assert state.lr == pytest.approx(BASE * 0.1, rel=1e-15)


def test_plateau_lr_comes_from_state_once_set() -> None:
    state = ScheduleState(lr=0.007)
    assert PlateauSchedule().lr_for_epoch(0, BASE, 10, state) == 0.007


@pytest.mark.parametrize("schedule", [
    ConstantSchedule(),
    StepSchedule(step_size=4, gamma=0.3),
    CosineSchedule(min_lr=1e-5),
    PlateauSchedule(factor=0.2, patience=3, min_lr=1e-6, threshold=0.01),
])
def test_schedule_json_round_trip(schedule: Any) -> None:
    again = ADAPTER.validate_json(ADAPTER.dump_json(schedule))
    assert type(again) is type(schedule)
    assert again == schedule


def test_union_dispatches_on_kind() -> None:
    assert ADAPTER.validate_python({"kind": "step", "step_size": 2, "gamma": 0.5}) == (
        StepSchedule(step_size=2, gamma=0.5))
    assert ADAPTER.validate_python({"kind": "plateau"}) == PlateauSchedule()
    assert ADAPTER.validate_python({"kind": "constant"}) == ConstantSchedule()


def test_state_json_round_trip_is_exact() -> None:
    state = ScheduleState(lr=0.1 * 0.1**3, best=1 / 3, bad_epochs=4)
    again = ScheduleState.model_validate_json(state.model_dump_json())
    assert again == state
    assert (again.lr, again.best) == (state.lr, state.best)
    assert ScheduleState.model_validate_json(ScheduleState().model_dump_json()) == (
        ScheduleState())


@pytest.mark.parametrize("data", [
    {"kind": "step", "step_size": 0, "gamma": 0.5},
    {"kind": "step", "step_size": 2, "gamma": 0.0},
    {"kind": "step", "step_size": 2, "gamma": 1.5},
    {"kind": "step", "gamma": 0.5},
    {"kind": "cosine", "min_lr": -0.1},
    {"kind": "cosine", "min_lr": "inf"},
    {"kind": "plateau", "factor": 1.0},
    {"kind": "plateau", "factor": 0.0},
    {"kind": "plateau", "patience": -1},
    {"kind": "plateau", "min_lr": -1.0},
    {"kind": "plateau", "threshold": -1e-4},
    {"kind": "constant", "lr": 0.1},
    {"kind": "exponential"},
    {},
])
def test_bad_schedules_raise(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ADAPTER.validate_python(data)


@pytest.mark.parametrize("data", [{"bad_epochs": -1}, {"step": 3}, {"lr": "fast"}])
def test_bad_state_raises(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ScheduleState.model_validate(data)
