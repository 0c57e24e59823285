"""Type stub of the native core (private; use the classes in pyrnn).

Checked against the built module by ``python -m mypy.stubtest pyrnn._core``
(tests/test_typing.py). The enums are the contract between Python and C++
(csrc/include/pyrnn/codes.h, registered in csrc/bindings/register_codes.cc): Python
passes their members, never integers.
"""

import enum
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str
build_compiler: str  # the compiler the core was built with, e.g. "GCC 12.2.0"
build_target: str  # the OS and CPU it was built for, e.g. "linux-x86_64"
cuda_compiled: bool

# -- the enums of csrc/include/pyrnn/codes.h ------------------------------------------

class CellKind(enum.Enum):
    simple_rnn = 0
    lstm = 1
    gru = 2

class Act(enum.Enum):
    linear = 0
    tanh = 1
    sigmoid = 2
    hard_sigmoid = 3
    hard_sigmoid_keras2 = 4
    relu = 5
    relu6 = 6
    leaky_relu = 7
    elu = 8
    selu = 9
    softplus = 10
    softsign = 11
    silu = 12
    gelu = 13
    exponential = 14
    hard_silu = 15
    mish = 16
    hard_tanh = 17
    log_sigmoid = 18
    celu = 19
    tanh_shrink = 20
    soft_shrink = 21
    hard_shrink = 22
    sparse_plus = 23
    sparse_sigmoid = 24
    squareplus = 25
    softmax = 26
    log_softmax = 27
    sparsemax = 28

class MergeMode(enum.Enum):
    concat = 0
    sum = 1
    mul = 2
    ave = 3
    none = 4

class MergeKind(enum.Enum):
    add = 0
    subtract = 1
    multiply = 2
    average = 3
    maximum = 4
    minimum = 5
    concatenate = 6

class ParamActKind(enum.Enum):
    relu = 0
    leaky_relu = 1
    elu = 2
    prelu = 3

class PoolKind(enum.Enum):
    max = 0
    average = 1

class ConvPad(enum.Enum):
    valid = 0
    same = 1
    causal = 2

class ComputeType(enum.Enum):
    """The recurrent layers' arithmetic (pyrnn/_compute.py has the meanings and spellings)."""

    float32 = 0
    bfloat16 = 1
    float16 = 2
    int8 = 3

# -- rules Python asks C++ for ---------------------------------------------------------

def gate_count(kind: CellKind) -> int: ...
def window_length(steps: int, size: int, stride: int, dilation: int, pad: ConvPad) -> int: ...
def reshape_target(per_sample: int, target: Sequence[int]) -> Optional[List[int]]: ...

# -- configuration ---------------------------------------------------------------------

def compiled_isas() -> List[str]: ...
def supported_isas() -> List[str]: ...
def cpu_features() -> str: ...
def current_isa() -> str: ...
def set_isa(name: str) -> None: ...
def set_num_threads(n: int) -> None: ...
def num_threads() -> int: ...
def thread_placement() -> str: ...
def set_memory_limit(bytes: int) -> None: ...
def memory_limit() -> int: ...
def release_memory() -> int: ...
def activation(act: Act, x: npt.ArrayLike) -> np.ndarray: ...
def compute_types() -> List[Tuple[str, str]]: ...  # (name, how the tier in use runs it)
def vnni_available() -> bool: ...  # int8 can use the current tier's VNNI (AVX512_VNNI / AVX-VNNI vpdpbusd)
def _set_vnni(enabled: bool) -> None: ...  # tests: int8 without VNNI (vpmaddubsw + vpmaddwd)
def amx_available() -> bool: ...  # int8 can use AMX-INT8 tiles here (avx512 tier; CPU and OS allow it)
def _set_amx(enabled: bool) -> None: ...  # tests: int8 on the avx512 tier without AMX (same results)

# pybind11's classes have the metaclass pybind11_builtins.pybind11_type (private here).
class _pybind11_type(type): ...

# -- recurrent layers ------------------------------------------------------------------

class RecurrentLayer(metaclass=_pybind11_type):
    def __init__(
        self,
        kind: CellKind,
        act: Act,
        rec_act: Act,
        reset_after: bool,
        go_backwards: bool,
        return_sequences: bool,
        zero_output_for_mask: bool,
        kernel: npt.ArrayLike,
        recurrent_kernel: npt.ArrayLike,
        bias: Optional[npt.ArrayLike] = None,
        compute_type: ComputeType = ComputeType.float32,
    ) -> None: ...
    @property
    def input_size(self) -> int: ...
    @property
    def units(self) -> int: ...
    @property
    def compute_type(self) -> ComputeType: ...
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

class CudaRecurrentLayer(metaclass=_pybind11_type):
    def __init__(
        self,
        kind: CellKind,
        act: Act,
        rec_act: Act,
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
    merge_mode: MergeMode,
    x: npt.ArrayLike,
    mask: Optional[npt.ArrayLike] = None,
    h0f: Optional[npt.ArrayLike] = None,
    c0f: Optional[npt.ArrayLike] = None,
    h0b: Optional[npt.ArrayLike] = None,
    c0b: Optional[npt.ArrayLike] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...

# -- the model plan --------------------------------------------------------------------
# Ops with one input and one output take (layer, ins, outs, ...) slot lists; ops whose
# slots have roles take each slot by keyword (-1: absent).

class Graph(metaclass=_pybind11_type):
    def __init__(self) -> None: ...
    @property
    def num_inputs(self) -> int: ...
    @property
    def num_ops(self) -> int: ...
    def dense(
        self,
        layer: str,
        ins: Sequence[int],
        outs: Sequence[int],
        kernel: npt.ArrayLike,
        bias: Optional[npt.ArrayLike],
        act: Act,
    ) -> None: ...
    def activation(self, layer: str, ins: Sequence[int], outs: Sequence[int], act: Act) -> None: ...
    def rescaling(self, layer: str, ins: Sequence[int], outs: Sequence[int], scale: float, offset: float) -> None: ...
    def param_activation(
        self,
        layer: str,
        ins: Sequence[int],
        outs: Sequence[int],
        kind: ParamActKind,
        a: float,
        b: float,
        c: float,
        param: Optional[npt.ArrayLike] = None,
    ) -> None: ...
    def affine(
        self, layer: str, ins: Sequence[int], outs: Sequence[int], scale: npt.ArrayLike, shift: npt.ArrayLike
    ) -> None: ...
    def layer_norm(
        self,
        layer: str,
        ins: Sequence[int],
        outs: Sequence[int],
        size: int,
        gamma: Optional[npt.ArrayLike],
        beta: Optional[npt.ArrayLike],
        eps: float,
        rms: bool,
    ) -> None: ...
    def embedding(
        self, layer: str, *, x: int, y: int, mask: int = -1, table: npt.ArrayLike, mask_zero: bool
    ) -> None: ...
    def masking(self, layer: str, *, x: int, y: int, mask: int, mask_value: float) -> None: ...
    def rnn(
        self,
        layer: str,
        rnn: RecurrentLayer,
        *,
        x: int,
        y: int,
        mask: int = -1,
        h0: int = -1,
        c0: int = -1,
        prev0: int = -1,
        h: int = -1,
        c: int = -1,
        prev: int = -1,
    ) -> None: ...
    def bidirectional(
        self,
        layer: str,
        forward: RecurrentLayer,
        backward: RecurrentLayer,
        merge_mode: MergeMode,
        *,
        x: int,
        y: int,
        mask: int = -1,
        h0f: int = -1,
        c0f: int = -1,
        h0b: int = -1,
        c0b: int = -1,
        y_backward: int = -1,
        hf: int = -1,
        cf: int = -1,
        hb: int = -1,
        cb: int = -1,
    ) -> None: ...
    def reshape(self, layer: str, ins: Sequence[int], outs: Sequence[int], target: Sequence[int]) -> None: ...
    def permute(self, layer: str, ins: Sequence[int], outs: Sequence[int], perm: Sequence[int]) -> None: ...
    def repeat(self, layer: str, ins: Sequence[int], outs: Sequence[int], n: int) -> None: ...
    def merge(self, layer: str, ins: Sequence[int], outs: Sequence[int], kind: MergeKind, axis: int) -> None: ...
    def masked_merge(
        self, layer: str, *, inputs: Sequence[int], masks: Sequence[int], y: int, kind: MergeKind
    ) -> None: ...
    def mask_combine(self, layer: str, ins: Sequence[int], outs: Sequence[int], any: bool) -> None: ...
    def conv1d(
        self,
        layer: str,
        ins: Sequence[int],
        outs: Sequence[int],
        kernel: npt.ArrayLike,
        bias: Optional[npt.ArrayLike],
        stride: int,
        dilation: int,
        pad: ConvPad,
        act: Act,
    ) -> None: ...
    def pool1d(
        self, layer: str, ins: Sequence[int], outs: Sequence[int], kind: PoolKind, pool: int, stride: int, pad: ConvPad
    ) -> None: ...
    def global_pool1d(self, layer: str, *, x: int, y: int, mask: int = -1, kind: PoolKind, keepdims: bool) -> None: ...
    def fold_time(self, layer: str, ins: Sequence[int], outs: Sequence[int]) -> None: ...
    def unfold_time(self, layer: str, *, x: int, reference: int, y: int) -> None: ...
    def finalize(
        self, num_slots: int, inputs: Sequence[int], outputs: Sequence[int], release_after: Sequence[Sequence[int]]
    ) -> None: ...
    def run(self, inputs: Sequence[npt.ArrayLike], out: Optional[Sequence[np.ndarray]] = None) -> List[np.ndarray]: ...
    def profile(
        self, inputs: Sequence[npt.ArrayLike], repeats: int, warmup: int
    ) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

class FastRun(metaclass=_pybind11_type):
    """Model.predict's fast entry: None when x (or out) is not a plain float32 C-contiguous
    numpy array of the input's rank and fixed sizes (then predict takes its full path)."""
    def __init__(self, graph: Graph, ndim: int, fixed: Sequence[Tuple[int, int]]) -> None: ...
    def __call__(
        self, x: object, out: object = None
    ) -> Optional[Union[np.ndarray, List[np.ndarray]]]: ...

class Stream(metaclass=_pybind11_type):
    def __init__(self, graph: Graph, num_inputs: int, num_outputs: int, widths: Sequence[int], batch: int) -> None: ...
    @property
    def batch(self) -> int: ...
    @property
    def num_states(self) -> int: ...
    def step(
        self,
        inputs: Sequence[npt.ArrayLike],
        add_time: Sequence[bool] = ...,
        drop_time: Sequence[bool] = ...,
        out: Optional[Sequence[np.ndarray]] = None,
    ) -> List[np.ndarray]: ...
    def states(self) -> List[np.ndarray]: ...
    def set_state(self, index: int, value: npt.ArrayLike) -> None: ...
    def reset(self, rows: Sequence[int]) -> None: ...
    def set_fast(
        self,
        ndim: int,
        fixed: Sequence[Tuple[int, int]],
        drop_time: Sequence[bool],
        out_shape: Sequence[int],
    ) -> None: ...
    def fast_step(
        self, x: object, out: object = None
    ) -> Optional[Union[np.ndarray, List[np.ndarray]]]: ...
