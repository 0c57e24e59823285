"""Reading Keras model files with json, zipfile and h5py only (never TensorFlow).

Two containers hold the same information (keras-semantics.md §6, in the project's
shared docs):

* ``.keras`` (Keras 3, also written by recent tf-keras): a zip with ``config.json``,
  ``metadata.json`` and ``model.weights.h5``, whose weight groups are named by class
  (snake_case) and occurrence, not by layer name;
* legacy HDF5 ``.h5``: the config as a JSON attribute and one group per layer name
  whose ``weight_names`` attribute lists the weights in order.

Both are turned into the same thing, a :class:`ModelSource`: the model config plus,
for every top-level layer, a list of ``(path, array)`` pairs in Keras's weight order,
where ``path`` names the (sub)layer the array belongs to (used to split nested models).

Files are untrusted: sizes are checked before anything is inflated or allocated, and
every way a corrupt file can make zipfile or h5py fail becomes a ModelFormatError that
names the file. A reader runs in a forked child with a deadline (``_isolated``),
because some corrupt HDF5 structures make libhdf5 loop inside one C call.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ._sandbox import read_isolated
from .errors import ModelFormatError
from .keras_config import MODEL_CLASSES, RNN_CLASSES, is_op_node, layer_list, layer_name, snake_case

# Refuse to inflate more than this from one zip entry (zip bombs), and configs that
# are absurdly large for a model description.
MAX_ENTRY_BYTES = 4 << 30
MAX_CONFIG_BYTES = 64 << 20
MAX_RATIO = 64  # largest inflation ratio accepted for a compressed zip entry

# What a corrupt HDF5 file or zip can make h5py/zipfile raise besides the usual errors.
_READ_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, OverflowError,
                IndexError, UnicodeDecodeError, MemoryError, RecursionError, EOFError)

WeightList = List[Tuple[str, np.ndarray]]


@dataclass
class ModelSource:
    """A model read from a file or a live object: everything the converter needs, in
    plain Python and numpy (it pickles, so a reader child can send it back and a Model
    can be rebuilt in a worker process)."""

    name: str  # file name (or object description) that starts every message
    config: Dict[str, Any]  # {"class_name": ..., "config": {...}}
    keras_version: str  # the writer's full version, e.g. "3.15.1" or "2.21.0"
    weights: Dict[str, WeightList] = field(default_factory=dict)  # top-level layer name -> weights
    fmt: str = ""  # ".keras", ".h5" or "object"

    @property
    def keras_major(self) -> int:
        """The writer's Keras major version (2 or 3): what decides a dialect's meaning."""
        try:
            return int(str(self.keras_version).split(".", 1)[0])
        except ValueError:
            return 3


def _decode(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v)


def _json(text: Any, what: str, fname: str) -> Dict[str, Any]:
    try:
        cfg = json.loads(_decode(text))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{fname}: {what} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ModelFormatError(f"{fname}: {what} is nested too deeply to be a model config") from None
    if not isinstance(cfg, dict):
        raise ModelFormatError(f"{fname}: {what} is not a JSON object")
    return cfg


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a dependency
        raise ImportError("reading Keras model files needs h5py: pip install h5py") from exc
    return h5py


def _array(ds: Any, what: str, fname: str) -> np.ndarray:
    h5py = _h5py()
    if not isinstance(ds, h5py.Dataset):
        raise ModelFormatError(f"{fname}: {what} is not a dataset")
    if ds.dtype.kind not in "fiu":
        raise ModelFormatError(f"{fname}: {what} has non-numeric dtype {ds.dtype}")
    from . import _core

    if float(np.prod(ds.shape, dtype=np.float64)) * 4 > _core.memory_limit():
        raise ModelFormatError(f"{fname}: {what} declares shape {ds.shape}, larger than the memory limit")
    try:
        return np.asarray(ds[()], dtype=np.float32)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelFormatError(f"{fname}: cannot read {what} ({exc})") from None


# ---- .keras ------------------------------------------------------------------------------

def _keras_vars(group: Any, path: str, fname: str) -> WeightList:
    h5py = _h5py()
    vars_ = group.get("vars") if isinstance(group, h5py.Group) else None
    if vars_ is None:
        raise ModelFormatError(f"{fname}: model.weights.h5 has no weights group for {path!r}")
    keys = sorted(vars_.keys(), key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
    return [(f"{path}/{k}", _array(vars_[k], f"weight {path}/vars/{k}", fname)) for k in keys]


def _keras_layer(group: Any, layer_cfg: Dict[str, Any], path: str, fname: str, depth: int = 0) -> WeightList:
    """Weights of one layer from its .keras group, in Keras's order."""
    if depth > 64:
        raise ModelFormatError(f"{fname}: layers nested more than 64 deep")
    h5py = _h5py()
    if not isinstance(group, h5py.Group):
        raise ModelFormatError(f"{fname}: model.weights.h5 has no weights group for layer {path!r}")
    cls = layer_cfg.get("class_name")
    cfg: Dict[str, Any] = layer_cfg["config"] if isinstance(layer_cfg.get("config"), dict) else {}
    if cls in RNN_CLASSES:  # the weights live in the layer's per-step cell
        cell_group = group.get("cell")
        if cell_group is None:
            raise ModelFormatError(f"{fname}: model.weights.h5 has no cell weights for layer {path!r}")
        return _keras_vars(cell_group, path, fname)
    if cls == "Bidirectional":
        inner = cfg.get("layer") or {}
        back = cfg.get("backward_layer") or inner
        out = []
        for role, sub in (("forward_layer", inner), ("backward_layer", back)):
            out += _keras_layer(group.get(role), sub, f"{path}/{role}", fname, depth + 1)
        return out
    if cls == "TimeDistributed":
        inner = cfg.get("layer") or {}
        inner_path = f"{path}/{layer_name(inner) if inner else 'layer'}"
        return _keras_layer(group.get("layer"), inner, inner_path, fname, depth + 1)
    if cls in MODEL_CLASSES:
        return _flatten(_keras_model(group.get("layers"), layer_cfg, path, fname, depth + 1))
    return _keras_vars(group, path, fname)


def _keras_model(group: Any, model_cfg: Dict[str, Any], prefix: str, fname: str,
                 depth: int = 0) -> Dict[str, WeightList]:
    """Per-layer weights of a (sub)model: {layer name: [(path, array), ...]}."""
    h5py = _h5py()
    if not isinstance(group, h5py.Group):
        raise ModelFormatError(f"{fname}: model.weights.h5 has no 'layers' group for {prefix or 'the model'}")
    sequential = model_cfg.get("class_name") == "Sequential"
    counts: Dict[str, int] = {}
    out: Dict[str, WeightList] = {}
    for layer_cfg in layer_list(model_cfg):
        if is_op_node(layer_cfg) or (sequential and layer_cfg.get("class_name") == "InputLayer"):
            continue
        base = snake_case(str(layer_cfg.get("class_name", "")))
        n = counts.get(base, 0)
        counts[base] = n + 1
        key = base if n == 0 else f"{base}_{n}"
        name = layer_name(layer_cfg)
        path = f"{prefix}/{name}" if prefix else name
        sub = group.get(key)
        if sub is None:
            raise ModelFormatError(
                f"{fname}: model.weights.h5 has no group layers/{key} for layer {name!r} "
                f"({layer_cfg.get('class_name')})"
            )
        vars_ = sub.get("vars")
        stored = vars_.attrs.get("name") if vars_ is not None else None
        if stored is not None and _decode(stored) != name and layer_cfg.get("class_name") not in MODEL_CLASSES:
            raise ModelFormatError(
                f"{fname}: weights group layers/{key} belongs to layer {_decode(stored)!r}, expected {name!r}"
            )
        out[name] = _keras_layer(sub, layer_cfg, path, fname, depth)
    return out


def _flatten(per_layer: Dict[str, WeightList]) -> WeightList:
    return [pair for pairs in per_layer.values() for pair in pairs]


def read_keras(path: str) -> ModelSource:
    fname = os.path.basename(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, *_READ_ERRORS) as exc:
        raise ModelFormatError(f"{fname}: not a .keras file (not a zip archive, or a truncated one: {exc})") from None
    with zf:
        def read(entry: str, limit: int) -> bytes:
            try:
                info = zf.getinfo(entry)
            except KeyError:
                raise ModelFormatError(f"{fname}: the archive has no {entry}; is this a Keras model file?") from None
            if info.file_size > limit:
                raise ModelFormatError(f"{fname}: {entry} declares {info.file_size} bytes, more than a model holds")
            # Keras stores entries uncompressed; a compressed entry may not inflate past
            # MAX_RATIO times its size (zip bombs), whatever its header claims.
            cap = min(limit, info.file_size, MAX_RATIO * info.compress_size + (1 << 20))
            if info.compress_type != zipfile.ZIP_STORED and info.file_size > cap:
                raise ModelFormatError(f"{fname}: {entry} would inflate {info.compress_size} bytes to "
                                       f"{info.file_size}: refused as a zip bomb")
            chunks, total = [], 0
            try:
                with zf.open(info) as fh:
                    while True:
                        block = fh.read(1 << 20)
                        if not block:
                            break
                        total += len(block)
                        if total > cap:
                            raise ModelFormatError(f"{fname}: {entry} inflates beyond its declared size "
                                                   f"({info.file_size} bytes): refused")
                        chunks.append(block)
            except ModelFormatError:
                raise
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError,
                    zlib.error, MemoryError) as exc:
                raise ModelFormatError(f"{fname}: cannot read {entry} ({type(exc).__name__}: {exc})") from None
            return b"".join(chunks)

        config = _json(read("config.json", MAX_CONFIG_BYTES), "config.json", fname)
        names = set(zf.namelist())
        meta = {}
        if "metadata.json" in names:
            meta = _json(read("metadata.json", MAX_CONFIG_BYTES), "metadata.json", fname)
        if "model.weights.h5" not in names:
            sharded = sorted(n for n in names if n.endswith(".weights.json"))
            hint = " (sharded weights are not supported)" if sharded else ""
            raise ModelFormatError(f"{fname}: the archive has no model.weights.h5{hint}")
        weights_bytes = read("model.weights.h5", MAX_ENTRY_BYTES)
    _check_model_config(config, fname)
    h5py = _h5py()
    try:
        h5 = h5py.File(io.BytesIO(weights_bytes), "r")
    except _READ_ERRORS as exc:
        raise ModelFormatError(f"{fname}: model.weights.h5 is not a readable HDF5 file ({exc})") from None
    try:
        with h5:
            weights = _keras_model(h5.get("layers"), config, "", fname) if _has_layers(config) else {}
    except ModelFormatError:
        raise
    except _READ_ERRORS as exc:
        raise ModelFormatError(f"{fname}: cannot read model.weights.h5 ({type(exc).__name__}: {exc})") from None
    version = str(meta.get("keras_version", "3"))
    return ModelSource(fname, config, version, weights, ".keras")


# ---- legacy .h5 ---------------------------------------------------------------------------

def _attr_list(obj: Any, key: str) -> List[str]:
    """A string-list attribute, also when HDF5's header limit split it in chunks."""
    if key in obj.attrs:
        return [_decode(v) for v in np.atleast_1d(obj.attrs[key])]
    out: List[str] = []
    i = 0
    while f"{key}{i}" in obj.attrs:
        out += [_decode(v) for v in np.atleast_1d(obj.attrs[f"{key}{i}"])]
        i += 1
    return out


def read_h5(path: str) -> ModelSource:
    fname = os.path.basename(path)
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except _READ_ERRORS as exc:
        raise ModelFormatError(f"{fname}: not a readable HDF5 file ({exc})") from None
    with f:
        try:
            if "model_config" not in f.attrs:
                if "layer_names" in f.attrs or "model_weights" in f:
                    raise ModelFormatError(
                        f"{fname}: this file holds weights only (save_weights) and no model config; "
                        "save the whole model with model.save(...)"
                    )
                raise ModelFormatError(f"{fname}: no model_config attribute; not a Keras model file")
            config = _json(f.attrs["model_config"], "model_config", fname)
            version = _decode(f.attrs.get("keras_version", "2"))
            _check_model_config(config, fname)
            group = f["model_weights"] if "model_weights" in f else f
            weights: Dict[str, WeightList] = {}
            if _has_layers(config):
                for layer_cfg in layer_list(config):
                    if is_op_node(layer_cfg) or layer_cfg.get("class_name") == "InputLayer":
                        continue
                    name = layer_name(layer_cfg)
                    g = group.get(name)
                    if g is None:
                        raise ModelFormatError(
                            f"{fname}: no weights group for layer {name!r} ({layer_cfg.get('class_name')})"
                        )
                    pairs = []
                    for wname in _attr_list(g, "weight_names"):
                        ds = g.get(wname)
                        if ds is None:
                            raise ModelFormatError(f"{fname}: layer {name!r}: weight {wname!r} is listed but missing")
                        pairs.append((wname, _array(ds, f"layer {name!r} weight {wname!r}", fname)))
                    weights[name] = pairs
        except ModelFormatError:
            raise
        except _READ_ERRORS as exc:
            raise ModelFormatError(f"{fname}: cannot read the file ({type(exc).__name__}: {exc})") from None
    return ModelSource(fname, config, version, weights, ".h5")


# ---- entry points ---------------------------------------------------------------------------

def _has_layers(config: Dict[str, Any]) -> bool:
    return config.get("class_name") in MODEL_CLASSES


def _check_model_config(config: Dict[str, Any], fname: str) -> None:
    cls = config.get("class_name")
    if not isinstance(cls, str) or not isinstance(config.get("config"), dict):
        raise ModelFormatError(f"{fname}: the config has no class_name/config; not a Keras model")
    if cls not in MODEL_CLASSES:
        raise ModelFormatError(
            f"{fname}: the file holds a {cls}, not a Sequential or Functional model; pyrnn loads whole models"
        )


def _is_hdf5(path: str) -> bool:
    try:
        return bool(_h5py().is_hdf5(path))
    except _READ_ERRORS:
        return False


def read_model_file(path: str | os.PathLike[str], timeout: Optional[float] = None) -> ModelSource:
    """Reads a ``.keras`` or legacy ``.h5`` model file (chosen by content, not name), in a
    helper process under a CPU-time limit (``timeout``; see :mod:`pyrnn._sandbox`)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path!r}")
    if os.path.isdir(path):
        raise ModelFormatError(
            f"{os.path.basename(path)}: is a directory (a TensorFlow SavedModel?); pyrnn reads .keras and .h5 files"
        )
    if not os.path.isfile(path):  # FIFOs, devices: reading them could block forever
        raise ModelFormatError(f"{os.path.basename(path)}: not a regular file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ModelFormatError(f"{os.path.basename(path)}: cannot open ({exc})") from None
    fname = os.path.basename(path)
    if not head:
        raise ModelFormatError(f"{fname}: the file is empty")
    try:
        if head.startswith(b"PK"):
            return read_isolated(read_keras, path, fname, timeout)
        if head.startswith(b"\x89HDF\r\n\x1a\n") or _is_hdf5(path):  # (HDF5 may sit after a user block)
            return read_isolated(read_h5, path, fname, timeout)
    except ModelFormatError as exc:
        if str(exc).startswith(fname):
            raise
        raise ModelFormatError(f"{fname}: {exc}") from None
    raise ModelFormatError(f"{fname}: neither a .keras (zip) nor an .h5 (HDF5) file")
