"""Reading live Keras objects (Keras 3 and tf-keras 2) without importing Keras.

Everything here works on the objects it is handed (class names, ``get_config``,
``get_weights``), so pyrnn never imports TensorFlow or Keras itself. What the objects'
configs mean is read by ``keras_config``, the same as for configs from files.
"""

from __future__ import annotations

import sys
from typing import Any, List


def keras_major(obj: Any) -> int:
    """2 for tf-keras / tf.keras 2 objects, 3 for Keras 3 objects."""
    root = type(obj).__module__.split(".", 1)[0]
    if root in ("tf_keras", "tensorflow"):
        return 2
    if root == "keras":
        version = getattr(sys.modules.get("keras"), "__version__", "3")
        try:
            return int(str(version).split(".", 1)[0])
        except ValueError:
            return 3
    return 3


# Layers that change nothing at inference, so a model holding one of them besides the
# requested layer still computes exactly what that layer computes (models are containers).
_PASSIVE = ("InputLayer", "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
            "Sequential", "Functional", "Model")


def unbuilt_error(layer: Any, class_name: str) -> ValueError:
    return ValueError(
        f"{class_name} {getattr(layer, 'name', '?')!r} has no weights yet: build it first "
        f"(layer.build(input_shape), or call it or its model on data once), then convert it"
    )


def _walk(obj: Any) -> List[Any]:
    """All layers of a model, nested models included (depth first, in order)."""
    found = []
    for layer in getattr(obj, "layers", []) or []:
        found.append(layer)
        if getattr(layer, "layers", None) and type(layer).__name__ in ("Sequential", "Functional", "Model"):
            found.extend(_walk(layer))
    return found


def find_layer(obj: Any, class_name: str) -> Any:
    """``obj`` itself if it is a ``class_name`` layer, or the one such layer of a model."""
    kind = type(obj).__name__
    if kind == class_name:
        return obj
    if not hasattr(obj, "get_config") or not hasattr(obj, "get_weights"):
        raise TypeError(f"expected a Keras {class_name} layer or a Keras model, got {kind}")
    if not hasattr(obj, "layers"):
        raise TypeError(f"expected a Keras {class_name} layer or a model holding one, got a {kind} layer")
    layers = _walk(obj)
    matches = [layer for layer in layers if type(layer).__name__ == class_name]
    name = getattr(obj, "name", "?")
    if len(matches) == 1:
        others = [layer for layer in layers if layer is not matches[0] and type(layer).__name__ not in _PASSIVE]
        if others:
            dropped = ", ".join(f"{layer.name} ({type(layer).__name__})" for layer in others)
            raise ValueError(
                f"model {name!r} holds other layers besides its {class_name} ({dropped}); "
                f"{class_name}.from_keras(model) would return the {class_name} alone and drop them, so its "
                f"outputs would differ from model.predict. Convert the whole model with pyrnn.from_keras(model), "
                f"or pass the layer itself: pyrnn.{class_name}.from_keras(model.get_layer({matches[0].name!r}))"
            )
        return matches[0]
    if not matches:
        inventory = ", ".join(f"{layer.name} ({type(layer).__name__})" for layer in layers) or "no layers"
        raise ValueError(f"model {name!r} holds no {class_name} layer; it has: {inventory}")
    raise ValueError(
        f"model {name!r} holds {len(matches)} {class_name} layers "
        f"({', '.join(layer.name for layer in matches)}); pass the layer itself, e.g. model.get_layer(name)"
    )
