"""cartsim from Python: CD19 CAR-T virtual cohorts for autoimmune disease (SLE).

The numbers, tables, files and error messages all come from the cartsim Rust library (the
native module ``cartsim._cartsim``); this module only presents them in Python's idiom: tables
as pandas DataFrames (or dicts of numpy arrays when pandas is not installed), the summary as a
dict, errors as ``ScenarioError`` (a ``ValueError``), ``OSError`` or ``RuntimeError``.

>>> import cartsim
>>> scenario = cartsim.Scenario.from_toml("scenarios/mackensen_2022.toml", patients=200, seed=1)
>>> result = scenario.run()                      # GIL released; Ctrl-C stops it cleanly
>>> result.summary["fractions"]["remission_month3"]
>>> result.patients.head()                       # one row per virtual patient
>>> result.write("out/cohort")                   # the cohort example's files
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import numpy as np

from . import _cartsim
from ._cartsim import ScenarioError

# pandas is optional (without it, tables are dicts of numpy arrays) and imported on first use:
# importing it takes longer than simulating a few hundred patients.
_UNSET: Any = object()
_pd: Any = _UNSET


def _pandas():
    global _pd
    if _pd is _UNSET:
        try:
            import pandas
        except ImportError:  # pragma: no cover - exercised only without pandas
            pandas = None
        _pd = pandas
    return _pd

__all__ = [
    "Scenario",
    "CohortResult",
    "Simulation",
    "ScenarioError",
    "simulate",
    "__version__",
]

__version__: str = _cartsim.__version__

PathLike = Union[str, "os.PathLike[str]"]
ProgressArg = Union[bool, None, Callable[[int, int], Any]]


def _table(columns: Dict[str, np.ndarray], units: Mapping[str, str]):
    """A DataFrame (units in ``df.attrs["units"]``) or, without pandas, the dict itself."""
    pd = _pandas()
    if pd is None:
        return columns
    df = pd.DataFrame(columns, copy=False)
    df.attrs["units"] = dict(units)
    return df


def _column(kind: str, values: Any) -> np.ndarray:
    if kind == "text":
        return np.asarray(values, dtype=object)
    if kind == "count":
        return np.frombuffer(values, dtype=np.uint64).astype(np.int64)
    arr = np.frombuffer(values, dtype=np.float64).copy()
    if kind == "flag" and not np.isnan(arr).any():
        return arr.astype(bool)
    return arr


class _StderrProgress:
    """The default progress display: one line on stderr, shown once a run takes over 1 s."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self.t0
        if elapsed < 1.0 and not self.shown:
            return
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else float("nan")
        end = "\n" if done >= total else ""
        sys.stderr.write(
            f"\rcartsim: {done}/{total} patients, {rate:,.0f} patients/s, ETA {eta:,.0f} s   {end}"
        )
        sys.stderr.flush()
        self.shown = True


def _progress(progress: ProgressArg) -> Optional[Callable[[int, int], Any]]:
    if progress is True:
        return _StderrProgress()
    if progress is False or progress is None:
        return None
    if callable(progress):
        return progress
    raise TypeError("progress must be True, False, None or a callable(done, total)")


class Scenario:
    """A whole virtual study, validated: cohort size and seed, regimen, population,
    inter-individual variability, CAR-T product, solver, summary, targets, NONMEM export.

    Create it with :meth:`Scenario.from_toml` (a file or TOML text) or :meth:`Scenario.default`
    (the Erlangen study, Mackensen 2022). Invalid input raises :class:`ScenarioError` naming
    the key, the line and the value.
    """

    __slots__ = ("_native",)

    def __init__(self, native: "_cartsim.Scenario") -> None:
        self._native = native

    @classmethod
    def from_toml(cls, source: PathLike, **overrides: Any) -> "Scenario":
        """Reads a scenario from a file (a path, or a string naming a ``.toml`` file) or from
        TOML text, then applies keyword overrides: ``patients``, ``seed``, ``title``,
        ``on_failure`` (``"stop"``/``"continue"``), ``records`` (keep per-patient rows).

        Raises :class:`ScenarioError` (a ``ValueError``) for invalid content, with ``key``,
        ``line``, ``column`` and ``file`` attributes; ``OSError`` when the file cannot be read.
        """
        if isinstance(source, os.PathLike):
            source = os.fspath(source)
        return cls(_cartsim.Scenario.from_toml(source, **overrides))

    @classmethod
    def default(cls, **overrides: Any) -> "Scenario":
        """The Erlangen study (``scenarios/mackensen_2022.toml``): 1,000 patients, seed 1."""
        return cls(_cartsim.Scenario.default(**overrides))

    def replace(self, **overrides: Any) -> "Scenario":
        """A copy with overrides applied (as in :meth:`from_toml`), validated again."""
        return Scenario(self._native.replace(**overrides))

    @property
    def patients(self) -> int:
        """Number of virtual patients."""
        return self._native.patients

    @property
    def seed(self) -> int:
        """Seed of the virtual population."""
        return self._native.seed

    @property
    def title(self) -> Optional[str]:
        """The scenario's title, if any."""
        return self._native.title

    @property
    def records(self) -> bool:
        """Whether per-patient rows are kept (``records = false`` keeps only the summary)."""
        return self._native.records

    def to_toml(self) -> str:
        """The scenario as TOML text (reads back to an equal scenario)."""
        return self._native.to_toml()

    def run(self, threads: Optional[int] = None, progress: ProgressArg = True) -> "CohortResult":
        """Simulates the cohort; the same seed gives the same numbers, bit for bit, as the Rust
        ``cohort`` example, at any thread count.

        The GIL is released while the cohort runs, so other Python threads go on. ``threads``:
        worker threads (default: every core, or ``RAYON_NUM_THREADS``). ``progress``: ``True``
        shows a line on stderr once the run takes over a second; a callable is called as
        ``progress(done, total)`` about every 0.2 s. Ctrl-C (``KeyboardInterrupt``), or an
        exception raised by ``progress``, stops the run cleanly and is raised; no partial
        result is returned.

        Raises ``RuntimeError`` when a patient fails (``on_failure = "stop"``).
        """
        return CohortResult(self._native.run(threads=threads, progress=_progress(progress)))

    def write_nonmem(self, path: PathLike, threads: Optional[int] = None) -> Dict[str, Any]:
        """Writes the NONMEM-style simulated dataset (the scenario's ``[nonmem]`` settings) to
        ``path``; returns ``{"patients", "records", "failed"}``."""
        return self._native.write_nonmem(os.fspath(path), threads=threads)

    def __repr__(self) -> str:
        return repr(self._native)


class CohortResult:
    """The result of :meth:`Scenario.run`.

    Attributes are computed from the run when first read: ``summary`` (dict), ``patients``
    (one row per patient), ``bands`` (tidy percentile bands), ``failures`` (failed patients).
    """

    __slots__ = ("_native", "_cache")

    def __init__(self, native: "_cartsim.CohortResult") -> None:
        self._native = native
        self._cache: Dict[str, Any] = {}

    @property
    def summary(self) -> Dict[str, Any]:
        """What ``summary.json`` holds, with units and NaN (not null) where undefined:
        ``patients, seed, failed, stiff_retries, summary_mode, product``,
        ``endpoints: {name: {unit, n, missing, mean, sd, p05, p25, p50, p75, p95}}``,
        ``fractions: {flag endpoint: fraction}``, ``targets: {name: probability}``."""
        if "summary" not in self._cache:
            self._cache["summary"] = self._native.summary()
        return self._cache["summary"]

    @property
    def patients(self):
        """One row per virtual patient, in id order (the columns of ``patients.csv``: id,
        covariates, sampled parameters, endpoints, solver work), as a pandas DataFrame (units
        in ``.attrs["units"]``) or, without pandas, a dict of numpy arrays. Flag endpoints are
        booleans. Empty when the scenario keeps no records."""
        if "patients" not in self._cache:
            cols: Dict[str, np.ndarray] = {}
            units: Dict[str, str] = {}
            for name, unit, kind, _group, values in self._native.patient_columns():
                cols[name] = _column(kind, values)
                units[name] = unit
            self._cache["patients"] = _table(cols, units)
        return self._cache["patients"]

    @property
    def bands(self):
        """Percentile bands in tidy long format, the rows of ``bands.csv``:
        ``time_day, output, p05, p25, p50, p75, p95`` (DataFrame, or dict of arrays)."""
        if "bands" not in self._cache:
            raw = self._native.band_columns()
            cols = {"time_day": np.frombuffer(raw["time_day"], dtype=np.float64).copy()}
            cols["output"] = np.asarray(raw["output"], dtype=object)
            for q in ("p05", "p25", "p50", "p75", "p95"):
                cols[q] = np.frombuffer(raw[q], dtype=np.float64).copy()
            self._cache["bands"] = _table(cols, raw["units"])
        return self._cache["bands"]

    @property
    def failures(self) -> List[Dict[str, Any]]:
        """Failed patients (scenario ``on_failure = "continue"``), in id order:
        ``[{"id", "stage", "error", "params": {name: value}}]``."""
        return self._native.failures()

    @property
    def elapsed_s(self) -> float:
        """Wall-clock seconds of the run."""
        return self._native.elapsed_s

    @property
    def threads(self) -> int:
        """Worker threads of the run."""
        return self._native.threads

    def write(self, dir: PathLike, nonmem: Optional[PathLike] = None) -> List[str]:
        """Writes the ``cohort`` example's files into the folder ``dir``, all or nothing:
        ``summary.json``, ``patients.csv``, ``bands.csv``, ``bands.png``, ``bands.svg``,
        ``scenario.toml``, ``failures.csv`` (when patients failed) and ``manifest.json``; with
        ``nonmem``, also the NONMEM-style dataset at that path. Returns the paths written."""
        paths = self._native.write(
            os.fspath(dir), nonmem=None if nonmem is None else os.fspath(nonmem)
        )
        return [os.fspath(p) for p in paths]

    def __repr__(self) -> str:
        return repr(self._native)


class Simulation:
    """One simulated patient (:func:`simulate`).

    ``trajectory``: ``time_day`` and every model output on the solver's grid (DataFrame, or dict
    of arrays; units in ``.attrs["units"]``); ``endpoints``: ``{name: value}`` (NaN where
    undefined); ``units``: units of outputs and endpoints; ``covariates`` and ``params``: the
    patient's values; ``solver``: the method that produced it.
    """

    __slots__ = ("trajectory", "endpoints", "units", "covariates", "params", "solver")

    def __init__(self, raw: Dict[str, Any]) -> None:
        cols = {"time_day": np.frombuffer(raw["time_day"], dtype=np.float64).copy()}
        units = {"time_day": "day"}
        for name, unit, values in raw["outputs"]:
            cols[name] = np.frombuffer(values, dtype=np.float64).copy()
            units[name] = unit
        self.trajectory = _table(cols, units)
        self.endpoints: Dict[str, Any] = {}
        for name, unit, kind, value in raw["endpoints"]:
            self.endpoints[name] = bool(value) if kind == "flag" and value == value else value
            units[name] = unit
        self.units: Dict[str, str] = units
        self.covariates: Dict[str, Any] = raw["covariates"]
        self.params: Dict[str, float] = raw["params"]
        self.solver: str = raw["solver"]

    def __repr__(self) -> str:
        peak = self.endpoints.get("car_t_peak_cells_per_ul")
        return f"Simulation(car_t_peak_cells_per_ul={peak!r}, solver={self.solver!r})"


def simulate(
    scenario: Optional[Scenario] = None,
    patient: Optional[int] = None,
    covariates: Optional[Mapping[str, Any]] = None,
    params: Optional[Mapping[str, float]] = None,
) -> Simulation:
    """Simulates one patient with its trajectory.

    Without ``patient``: the typical patient (22-year-old woman, 65 kg, …) under the
    scenario's regimen, product, typical values and solver (default scenario: the Erlangen
    study), with ``covariates`` (``sex="F"``/``"M"``, ``weight_kg=80.0``, …) and ``params``
    (typical values by name) overriding. With ``patient=i``: virtual patient ``i`` of the
    scenario's cohort, the same numbers as its row of ``result.patients``.

    Raises ``ValueError`` for an unknown name or a value out of its bounds, ``RuntimeError``
    when the solver fails.
    """
    native = None if scenario is None else scenario._native
    return Simulation(
        _cartsim.simulate(
            native,
            patient=patient,
            covariates=None if covariates is None else dict(covariates),
            params=None if params is None else dict(params),
        )
    )
