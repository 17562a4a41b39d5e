"""`callflows eval --quick` end to end, plus the hand-written gold rules for SGD."""

from __future__ import annotations

import json

import pytest

from callflows.eval.gold import sgd_date, sgd_time


@pytest.mark.parametrize("text, expected", [
    ("the 13th", {"2019-03-13"}), ("12th of March", {"2019-03-12"}), ("11th of this month", {"2019-03-11"}),
    ("Saturday this week", {"2019-03-02"}), ("Tuesday next week", {"2019-03-05"}), ("tomorrow", {"2019-03-02"}),
    ("next Sunday", {"2019-03-03", "2019-03-10"}), ("later today", {"2019-03-01"}),
])
def test_sgd_gold_dates(text, expected):
    assert sgd_date(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("half past 3 in the afternoon", {"15:30"}), ("afternoon 2:15", {"14:15"}), ("16:30", {"16:30"}),
    ("five pm", {"17:00"}), ("11 in the morning", {"11:00"}), ("12 pm", {"12:00"}), ("4:30", {"16:30"}),
    ('3 o"clock in the afternoon', {"15:00"}), ("quarter to 5 in the evening", {"16:45"}),
])
def test_sgd_gold_times(text, expected):
    assert sgd_time(text) == expected


def test_data_dir_is_the_variable_then_next_to_the_repo(tmp_path, monkeypatch):
    from callflows.eval import data as D

    assert str(D.DATA_DIR_CANDIDATES[0]).startswith(str(D.REPO.parent))  # next to the repo first
    monkeypatch.setenv("CALLFLOWS_DEV_DATA", str(tmp_path))
    assert D.data_dir() == tmp_path
    monkeypatch.delenv("CALLFLOWS_DEV_DATA")
    monkeypatch.setattr(D, "DATA_DIR_CANDIDATES", (tmp_path / "absent",))
    with pytest.raises(FileNotFoundError, match="CALLFLOWS_DEV_DATA"):
        D.data_dir()


def test_splits_are_index_files():
    from callflows.eval import data as D

    try:
        D.data_dir()
    except FileNotFoundError:
        pytest.skip("development data not present")
    train, val = D.banking77_split()
    assert len(val) > 1000 and not {t for t, _ in val} & {t for t, _ in train} - {t for t, _ in val}
    assert (D.SPLITS_DIR / "banking77.json").stat().st_size < 100_000


@pytest.mark.timeout(240)
def test_quick_eval_end_to_end(tmp_path):
    from callflows.eval import data as D

    try:
        D.data_dir()
        from callflows.nlu.embeddings import default_fast_embedder

        default_fast_embedder()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    from callflows.eval import run_eval

    out = tmp_path / "results.json"
    lines: list[str] = []
    res = run_eval(quick=True, out=out, teacher=False, log=lines.append)
    saved = json.loads(out.read_text())
    for name in ("student_dev", "student_seed", "tfidf_lr_baseline"):
        assert 0.0 <= saved["systems"][name]["banking77_accuracy"]["text"] <= 1.0
        assert "asr" in saved["systems"][name]["banking77_accuracy"]
        assert "clinc150" in saved["systems"][name]
    assert saved["systems"]["student_dev"]["latency"]["p50_ms"] > 0
    assert saved["slots"]["sgd"]["text"]["values"]["date"]["n"] > 0
    assert (tmp_path / "results.png").exists() or (tmp_path / "results.svg").exists()
    assert any("B77 text" in line for line in lines)
    assert res["quick"] is True
