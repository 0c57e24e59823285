"""Turning a Keras model config and its weights into a native plan.

Python owns the meaning here: the two Keras dialects (Keras 3 and tf-keras 2), node
and tensor references, mask propagation, static shapes for validation and summaries,
and every error message. Each layer becomes one or a few ops of ``_core.Graph``; a
predict call then runs the whole plan in C++.

Layout:

* ``plan``: symbolic tensors, the plan, and what a converted model reports;
* ``registry``: Keras class name -> the function that converts it (``@converts``),
  with its support check, weight count and streaming behaviour;
* ``converter``: one conversion's state and the checks all layers share;
* ``graph``: Sequential and Functional graphs;
* one module per layer family: ``recurrent``, ``bidirectional``, ``dense``,
  ``normalization``, ``merge``, ``shape``, ``conv_pool``, ``embedding``, ``nested``.
"""

# The layer family modules register their layers when imported.
from . import bidirectional, conv_pool, dense, embedding, merge, nested, normalization, recurrent, shape  # noqa: F401
from .converter import ConvertedModel, convert_model
from .plan import CarriedState, LayerRow, Shape, shape_str

__all__ = ["convert_model", "ConvertedModel", "CarriedState", "LayerRow", "Shape", "shape_str"]
