"""Type stubs of the native module ``cartsim._cartsim`` (the Rust half of the package).

Use the ``cartsim`` package, which wraps these in Python's idiom (DataFrames, dicts).
"""

import os
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

__version__: str
CARTSIM_VERSION: str

class ScenarioError(ValueError):
    """An invalid scenario; the message names the key, line, value and expected range."""

    key: Optional[str]
    line: Optional[int]
    column: Optional[int]
    file: Optional[str]

class Scenario:
    @staticmethod
    def from_toml(source: Union[str, "os.PathLike[str]"], **overrides: Any) -> "Scenario": ...
    @staticmethod
    def default(**overrides: Any) -> "Scenario": ...
    def replace(self, **overrides: Any) -> "Scenario": ...
    @property
    def patients(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def title(self) -> Optional[str]: ...
    @property
    def records(self) -> bool: ...
    def to_toml(self) -> str: ...
    def run(
        self,
        threads: Optional[int] = None,
        progress: Optional[Callable[[int, int], Any]] = None,
    ) -> "CohortResult": ...
    def write_nonmem(
        self, path: Union[str, "os.PathLike[str]"], threads: Optional[int] = None
    ) -> Dict[str, Any]: ...

class CohortResult:
    @property
    def elapsed_s(self) -> float: ...
    @property
    def threads(self) -> int: ...
    @property
    def n_patients(self) -> int: ...
    def summary(self) -> Dict[str, Any]: ...
    def patient_columns(self) -> List[Tuple[str, str, str, str, Union[bytes, List[str]]]]: ...
    def band_columns(self) -> Dict[str, Any]: ...
    def failures(self) -> List[Dict[str, Any]]: ...
    def write(
        self,
        dir: Union[str, "os.PathLike[str]"],
        nonmem: Optional[Union[str, "os.PathLike[str]"]] = None,
    ) -> List[str]: ...

def simulate(
    scenario: Optional[Scenario] = None,
    patient: Optional[int] = None,
    covariates: Optional[Dict[str, Any]] = None,
    params: Optional[Dict[str, float]] = None,
) -> Dict[str, Any]: ...
