// Integer codes from Python, checked against the enums of pyrnn/codes.h before any cast:
// a bad code is a ValueError naming the argument, never an out-of-range enum value.
#pragma once

#include <stdexcept>
#include <string>

#include "pyrnn/codes.h"

namespace pyrnn {

template <class E>
struct CodeName;  // what a code of enum E names, for messages
template <>
struct CodeName<Act> {
  static constexpr const char* value = "activation";
};
template <>
struct CodeName<CellKind> {
  static constexpr const char* value = "cell kind";
};
template <>
struct CodeName<MergeMode> {
  static constexpr const char* value = "merge mode";
};
template <>
struct CodeName<MergeKind> {
  static constexpr const char* value = "merge kind";
};
template <>
struct CodeName<ParamActKind> {
  static constexpr const char* value = "activation kind";
};
template <>
struct CodeName<PoolKind> {
  static constexpr const char* value = "pooling kind";
};
template <>
struct CodeName<ConvPad> {
  static constexpr const char* value = "padding";
};

// `code` as an E, or std::invalid_argument (ValueError in Python) naming `arg` when it is
// outside [0, E::kCount).
template <class E>
E checked_code(int code, const char* arg) {
  constexpr int n = static_cast<int>(E::kCount);
  if (code < 0 || code >= n)
    throw std::invalid_argument(std::string(arg) + ": unknown " + CodeName<E>::value + " code " + std::to_string(code) +
                                " (expected 0 to " + std::to_string(n - 1) + ")");
  return static_cast<E>(code);
}

}  // namespace pyrnn
