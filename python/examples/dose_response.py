"""Dose x regimen comparison from Python: which CAR-T dose and which lymphodepletion give
remission without severe CRS, on the same virtual patients?

Every arm is the same scenario (same seed: the same virtual patients, common random numbers)
with another CAR-T dose and lymphodepletion; the arms differ by the regimen alone.

    pip install ./python matplotlib pandas
    python python/examples/dose_response.py --patients 200 --out out/dose_response.png

Notebook-style: each step is a plain statement; paste them into cells.
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # files, not windows (drop this line in a notebook)
import matplotlib.pyplot as plt
import pandas as pd

import cartsim

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--patients", type=int, default=200)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--out", default="out/dose_response.png")
args = parser.parse_args()

CAR_T_CELLS_PER_KG = [1e5, 3e5, 1e6, 3e6]
# Lymphodepletion on the Erlangen schedule: fludarabine mg/m2 on days -5..-3,
# cyclophosphamide mg/m2 on day -3; None = no lymphodepletion.
LYMPHODEPLETION = {
    "Flu 25 / Cy 1000 (Erlangen)": (25.0, 1000.0),
    "Flu 25 / Cy 500": (25.0, 500.0),
    "none": None,
}


def scenario_text(car_t_per_kg, flu_cy):
    """One arm as a scenario file: only the regimen differs between arms."""
    doses = ""
    if flu_cy is not None:
        flu, cy = flu_cy
        doses += f"""
[[regimen.doses]]
input = "fludarabine"
amount = {flu}
unit = "mg/m2"
times_day = [-5.0, -4.0, -3.0]
infusion_duration_h = 0.5

[[regimen.doses]]
input = "cyclophosphamide"
amount = {cy}
unit = "mg/m2"
times_day = [-3.0]
infusion_duration_h = 1.0
"""
    doses += f"""
[[regimen.doses]]
input = "car_t"
amount = {car_t_per_kg:e}
unit = "cells/kg"
times_day = [0.0]
"""
    return f"patients = 1\n\n[regimen]\nstart_day = -6.0\n{doses}"


rows = []
for regimen, flu_cy in LYMPHODEPLETION.items():
    for dose in CAR_T_CELLS_PER_KG:
        arm = cartsim.Scenario.from_toml(
            scenario_text(dose, flu_cy), patients=args.patients, seed=args.seed
        )
        s = arm.run(progress=False).summary
        rows.append({
            "lymphodepletion": regimen,
            "car_t_cells_per_kg": dose,
            "p_remission_month3": s["fractions"]["remission_month3"],
            "p_crs_grade_ge2": s["fractions"]["crs_grade_ge2"],
            "b_cell_reappearance_day_p50": s["endpoints"]["b_cell_reappearance_day"]["p50"],
        })
table = pd.DataFrame(rows)
print(table.to_string(index=False))

panels = [
    ("p_remission_month3", "P(remission at month 3)"),
    ("p_crs_grade_ge2", "P(CRS grade >= 2)"),
    ("b_cell_reappearance_day_p50", "median B-cell reappearance (day)"),
]
fig, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True)
for ax, (column, label) in zip(axes, panels):
    for regimen, arm in table.groupby("lymphodepletion", sort=False):
        ax.plot(arm["car_t_cells_per_kg"], arm[column], marker="o", label=regimen)
    ax.set_xscale("log")
    ax.set_xlabel("CAR-T dose (cells/kg)")
    ax.set_ylabel(label)
axes[0].legend(title="lymphodepletion", fontsize="small")
fig.suptitle(f"Dose x lymphodepletion, {args.patients} virtual SLE patients (seed {args.seed})")
os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
fig.savefig(args.out, dpi=120)
print(f"wrote {args.out}")
