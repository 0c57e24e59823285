"""Type stub of the native core (private; use the classes in pyrnn)."""

from typing import List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str
cuda_compiled: bool

def compiled_isas() -> List[str]: ...
def supported_isas() -> List[str]: ...
def cpu_features() -> str: ...
def current_isa() -> str: ...
def set_isa(name: str) -> None: ...
def set_num_threads(n: int) -> None: ...
def num_threads() -> int: ...
def set_memory_limit(bytes: int) -> None: ...
def memory_limit() -> int: ...
def release_memory() -> int: ...
def activation(code: int, x: npt.ArrayLike) -> np.ndarray: ...

class RecurrentLayer:
    def __init__(
        self,
        kind: int,
        act: int,
        rec_act: int,
        reset_after: bool,
        go_backwards: bool,
        return_sequences: bool,
        zero_output_for_mask: bool,
        kernel: npt.ArrayLike,
        recurrent_kernel: npt.ArrayLike,
        bias: Optional[npt.ArrayLike] = None,
    ) -> None: ...
    @property
    def input_size(self) -> int: ...
    @property
    def units(self) -> int: ...
    def run(
        self,
        x: npt.ArrayLike,
        mask: Optional[npt.ArrayLike] = None,
        h0: Optional[npt.ArrayLike] = None,
        c0: Optional[npt.ArrayLike] = None,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]: ...

# Only in CUDA builds (cuda_compiled is True):
def cuda_device_count() -> int: ...
def cuda_runtime_info() -> str: ...

class CudaRecurrentLayer:
    def __init__(
        self,
        kind: int,
        act: int,
        rec_act: int,
        reset_after: bool,
        go_backwards: bool,
        return_sequences: bool,
        zero_output_for_mask: bool,
        kernel: npt.ArrayLike,
        recurrent_kernel: npt.ArrayLike,
        bias: Optional[npt.ArrayLike] = None,
        device: int = 0,
    ) -> None: ...
    @property
    def device(self) -> int: ...
    def run(
        self,
        x: npt.ArrayLike,
        mask: Optional[npt.ArrayLike] = None,
        h0: Optional[npt.ArrayLike] = None,
        c0: Optional[npt.ArrayLike] = None,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]: ...

def run_bidirectional(
    forward: RecurrentLayer,
    backward: RecurrentLayer,
    merge_mode: int,
    x: npt.ArrayLike,
    mask: Optional[npt.ArrayLike] = None,
    h0f: Optional[npt.ArrayLike] = None,
    c0f: Optional[npt.ArrayLike] = None,
    h0b: Optional[npt.ArrayLike] = None,
    c0b: Optional[npt.ArrayLike] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
