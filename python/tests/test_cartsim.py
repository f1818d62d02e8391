"""The Python package against the Rust library: same numbers, same files, same errors."""

import csv
import math
import struct
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cartsim


def test_patients_and_files_are_bit_identical_to_the_rust_example(root, cohort_example, tmp_path):
    scenario_file = root / "scenarios" / "kyv101_flat.toml"
    rust_out = tmp_path / "rust"
    subprocess.run(
        [cohort_example, "--scenario", scenario_file, "--patients", "60", "--seed", "5",
         "--out", rust_out, "--nonmem", rust_out / "nonmem.csv"],
        cwd=root, check=True, capture_output=True,
    )
    scenario = cartsim.Scenario.from_toml(scenario_file, patients=60, seed=5)
    result = scenario.run(threads=2, progress=False)
    py_out = tmp_path / "py"
    written = result.write(py_out, nonmem=py_out / "nonmem.csv")
    assert {Path(p).name for p in written} >= {
        "summary.json", "patients.csv", "bands.csv", "bands.png", "scenario.toml", "nonmem.csv"
    }
    for name in ("patients.csv", "summary.json", "bands.csv", "scenario.toml", "nonmem.csv"):
        assert (py_out / name).read_bytes() == (rust_out / name).read_bytes(), name

    # The DataFrame holds the same numbers, bit for bit, as the example's patients.csv
    # (Python's float() parses Rust's shortest round-trip text exactly).
    with open(rust_out / "patients.csv", newline="") as f:
        header, *rows = list(csv.reader(f))
    df = result.patients
    assert list(df.columns) == header
    assert len(df) == len(rows) == 60
    for j, col in enumerate(header):
        values = df[col].tolist()
        for i, row in enumerate(rows):
            v, text = values[i], row[j]
            if isinstance(v, str):
                assert v == text, (col, i)
            else:
                x = float(text)
                assert float(v) == x or (math.isnan(x) and math.isnan(float(v))), (col, i)
                assert math.isnan(x) or struct.pack("<d", float(v)) == struct.pack("<d", x)
    assert df.attrs["units"]["weight_kg"] == "kg"


def test_summary_bands_and_threads(root):
    scenario = cartsim.Scenario.from_toml(root / "scenarios" / "mackensen_2022.toml",
                                          patients=80, seed=2)
    one = scenario.run(threads=1, progress=False)
    two = scenario.run(threads=2, progress=False)
    assert one.threads == 1 and two.threads == 2
    pd.testing.assert_frame_equal(one.patients, two.patients)
    s = two.summary
    assert s["patients"] == 80 and s["seed"] == 2 and s["failed"] == 0
    peak = s["endpoints"]["car_t_peak_cells_per_ul"]
    assert peak["unit"] == "cells/µL" and peak["n"] + peak["missing"] == 80
    assert peak["p05"] <= peak["p50"] <= peak["p95"]
    assert math.isclose(peak["mean"], two.patients["car_t_peak_cells_per_ul"].mean(),
                        rel_tol=1e-9)
    assert 0.0 <= s["fractions"]["remission_month3"] <= 1.0
    assert two.patients["remission_month3"].dtype == bool
    bands = two.bands
    assert list(bands.columns) == ["time_day", "output", "p05", "p25", "p50", "p75", "p95"]
    assert "b_cells_per_ul" in set(bands["output"])
    assert (bands["p05"] <= bands["p95"]).all()
    assert two.failures == []


def test_records_switch_keeps_the_summary(root):
    scenario = cartsim.Scenario.from_toml(root / "scenarios" / "mackensen_2022.toml",
                                          patients=30, seed=4)
    with_rows = scenario.run(progress=False)
    without = scenario.replace(records=False).run(progress=False)
    assert len(with_rows.patients) == 30
    assert len(without.patients) == 0
    assert list(without.patients.columns) == list(with_rows.patients.columns)
    for name, stats in with_rows.summary["endpoints"].items():
        assert _same(without.summary["endpoints"][name], stats), name
    assert without.summary["fractions"] == with_rows.summary["fractions"]


def _same(a, b):
    return all(a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k]))
               for k in a)


BAD_DOSE = """patients = 10
seed = 1

[regimen]
start_day = -8.0

[[regimen.doses]]
input = "car_t"
amount = -1e8
unit = "cells"
times_day = [0.0]
"""


def test_bad_scenarios_raise_with_key_and_line(tmp_path):
    with pytest.raises(cartsim.ScenarioError) as e:
        cartsim.Scenario.from_toml(BAD_DOSE)
    assert isinstance(e.value, ValueError)
    assert e.value.key == "regimen.doses[0].amount" and e.value.line == 9
    assert "line 9" in str(e.value) and "regimen.doses[0].amount" in str(e.value)
    assert "-100000000" in str(e.value)

    path = tmp_path / "bad.toml"
    path.write_text(BAD_DOSE.replace('unit = "cells"', 'unit = "cells"\ncolour = "red"'))
    with pytest.raises(cartsim.ScenarioError) as e:
        cartsim.Scenario.from_toml(path)
    assert e.value.line == 11 and e.value.file == str(path)
    assert "colour" in str(e.value)

    with pytest.raises(cartsim.ScenarioError) as e:
        cartsim.Scenario.default(patients=0)
    assert e.value.key == "patients" and "must be > 0" in str(e.value)
    with pytest.raises(cartsim.ScenarioError) as e:
        cartsim.Scenario.default(pateints=10)
    assert e.value.key == "pateints"
    with pytest.raises(FileNotFoundError):
        cartsim.Scenario.from_toml(tmp_path / "missing.toml")


def test_write_into_a_foreign_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = cartsim.Scenario.default(patients=5).run(progress=False)
    with pytest.raises(ValueError):
        result.write(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_simulate_one_patient():
    typical = cartsim.simulate()
    traj = typical.trajectory
    assert traj["time_day"].is_monotonic_increasing
    assert traj.attrs["units"]["car_t_cells_per_ul"] == "cells/µL"
    assert typical.endpoints["car_t_peak_cells_per_ul"] == pytest.approx(
        traj["car_t_cells_per_ul"].max(), rel=0.05)
    heavier = cartsim.simulate(covariates={"weight_kg": 90.0, "sex": "M"})
    assert heavier.covariates["weight_kg"] == 90.0 and heavier.covariates["sex"] == "M"
    assert heavier.endpoints != typical.endpoints

    scenario = cartsim.Scenario.default(patients=12, seed=9)
    rows = scenario.run(progress=False).patients
    seventh = cartsim.simulate(scenario, patient=7)
    for name, value in seventh.endpoints.items():
        row = rows.loc[7, name]
        assert value == row or (isinstance(value, float) and math.isnan(value) and math.isnan(row))
    with pytest.raises(ValueError, match="weight_kg"):
        cartsim.simulate(covariates={"weight_kg": -1.0})
    with pytest.raises(ValueError, match="no_such_parameter"):
        cartsim.simulate(params={"no_such_parameter": 1.0})


def test_the_gil_is_released_while_a_cohort_runs():
    scenario = cartsim.Scenario.default(patients=1500, seed=3)
    spans = {}

    def run(name):
        t0 = time.monotonic()
        scenario.run(threads=1, progress=False)
        spans[name] = (t0, time.monotonic())

    a = threading.Thread(target=run, args=("a",))
    b = threading.Thread(target=run, args=("b",))
    t0 = time.monotonic()
    a.start()
    b.start()
    # The main thread keeps running Python while both runs go on.
    ticks, last, max_gap = 0, time.monotonic(), 0.0
    while a.is_alive() or b.is_alive():
        now = time.monotonic()
        max_gap, last = max(max_gap, now - last), now
        ticks += 1
        time.sleep(0.001)
    wall = time.monotonic() - t0
    (a0, a1), (b0, b1) = spans["a"], spans["b"]
    overlap = min(a1, b1) - max(a0, b0)
    shortest = min(a1 - a0, b1 - b0)
    # Held GIL: the second run would start only after the first ended (no overlap), and the
    # main thread would stall for a whole run.
    assert overlap > 0.8 * shortest, (spans, wall)
    assert max_gap < 0.25 * shortest, (max_gap, shortest)
    assert ticks > 50


def test_ctrl_c_stops_a_run_cleanly():
    # Python's own Ctrl-C handler, as in a terminal or a notebook (a shell starts background
    # jobs with SIGINT ignored, and Python then installs none).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        scenario = cartsim.Scenario.default(patients=200_000, seed=1)
        timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
        t0 = time.monotonic()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            scenario.run(progress=False)
        assert time.monotonic() - t0 < 5.0
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_exception_from_progress_cancels_the_run():
    calls = []

    def progress(done, total):
        calls.append((done, total))
        raise RuntimeError("stop here")

    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="stop here"):
        cartsim.Scenario.default(patients=200_000).run(progress=progress)
    assert time.monotonic() - t0 < 5.0
    assert calls and calls[0][1] == 200_000 and calls[0][0] < 200_000


def test_dose_response_example_runs(root, tmp_path):
    out = tmp_path / "dose_response.png"
    done = subprocess.run(
        [sys.executable, root / "python" / "examples" / "dose_response.py", "--patients", "8",
         "--out", out],
        check=True, capture_output=True, text=True,
    )
    assert "Flu 25 / Cy 1000 (Erlangen)" in done.stdout
    assert out.stat().st_size > 10_000


FAILING = """patients = 6
on_failure = "{policy}"

[regimen]
preset = "mackensen_2022"

[solver]
max_steps = 20
stiff_retry = false
"""


def test_failures_are_listed_or_raised(tmp_path):
    result = cartsim.Scenario.from_toml(FAILING.format(policy="continue")).run(progress=False)
    assert result.summary["failed"] == 6 and len(result.patients) == 0
    failures = result.failures
    assert [f["id"] for f in failures] == list(range(6))
    assert failures[0]["stage"] == "solve" and "step limit" in failures[0]["error"]
    assert failures[0]["params"]
    written = result.write(tmp_path / "out")
    assert any(p.endswith("failures.csv") for p in written)
    with pytest.raises(RuntimeError, match="patient 0"):
        cartsim.Scenario.from_toml(FAILING.format(policy="stop")).run(progress=False)


def test_without_pandas_tables_are_dicts_of_numpy_arrays(monkeypatch):
    monkeypatch.setattr(cartsim, "_pd", None)
    result = cartsim.Scenario.default(patients=4).run(progress=False)
    rows = result.patients
    assert isinstance(rows, dict) and rows["id"].tolist() == [0, 1, 2, 3]
    assert rows["weight_kg"].dtype == np.float64 and rows["sex"].dtype == object
    assert isinstance(result.bands["p50"], np.ndarray)
    assert isinstance(cartsim.simulate().trajectory["time_day"], np.ndarray)
