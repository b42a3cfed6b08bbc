"""The benchmark's report of wrk's errors (bench/run.py): how many, and of which kind."""

from __future__ import annotations

from bench.run import ERROR_KINDS, WRK_SCRIPT, Figure, errors_text, median_figure


def figure(rps: float, errors: int, kinds: dict[str, int]) -> Figure:
    return Figure("read", rps, 1.0, 9.0, 1000, errors, error_kinds=kinds)


def test_a_figure_s_errors_are_told_apart_by_kind_and_summed_over_the_rounds() -> None:
    runs = [
        figure(100.0, 3, {"timeout": 2, "read": 1}),
        figure(300.0, 0, {}),
        figure(200.0, 1, {"timeout": 1}),
    ]
    merged = median_figure(runs)
    assert merged.rps == 200.0
    assert merged.errors == 4
    assert merged.error_kinds == {"timeout": 3, "read": 1}
    assert errors_text(merged.errors, merged.error_kinds) == "4: timeout 3, read 1"


def test_a_figure_without_errors_reads_as_a_plain_zero() -> None:
    assert errors_text(0, {}) == "0"
    assert median_figure([figure(1.0, 0, {})]).error_kinds == {}


def test_every_kind_of_wrk_error_has_the_key_wrk_lua_writes() -> None:
    text = WRK_SCRIPT.read_text(encoding="utf-8")
    for key in ERROR_KINDS.values():
        assert f'"{key}":%d' in text
