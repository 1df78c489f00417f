// A small expected-like result type for the hot path: no exceptions, no allocation.
// C++20 has no std::expected; this covers the subset the library needs.
#pragma once

#include <type_traits>
#include <utility>
#include <variant>

namespace coap {

/// Wraps an error value so that `Expected` can be built from it unambiguously.
template <class E>
struct Unexpected {
    E error;  ///< The error to hold.
};

/// Makes an `Unexpected<E>`: `return coap::unexpected(ParseError::too_short);`
template <class E>
constexpr Unexpected<E> unexpected(E error) noexcept {
    return Unexpected<E>{error};
}

/// Holds either a value of type T or an error of type E.
/// Accessing the wrong alternative is a precondition violation (checked only in debug builds
/// through the variant's own assertions); nothing here throws.
template <class T, class E>
class [[nodiscard]] Expected {
  public:
    /// Holds a value.
    constexpr Expected(T value) noexcept(std::is_nothrow_move_constructible_v<T>)
        : storage_(std::in_place_index<0>, std::move(value)) {}
    /// Holds an error.
    constexpr Expected(Unexpected<E> failure) noexcept
        : storage_(std::in_place_index<1>, failure.error) {}

    /// True when a value is held.
    constexpr bool has_value() const noexcept { return storage_.index() == 0; }
    /// Same as has_value().
    constexpr explicit operator bool() const noexcept { return has_value(); }

    /// The value; precondition: has_value().
    constexpr T& value() & noexcept { return *std::get_if<0>(&storage_); }
    /// The value; precondition: has_value().
    constexpr const T& value() const& noexcept { return *std::get_if<0>(&storage_); }
    /// Members of the value; precondition: has_value().
    constexpr T* operator->() noexcept { return std::get_if<0>(&storage_); }
    /// Members of the value; precondition: has_value().
    constexpr const T* operator->() const noexcept { return std::get_if<0>(&storage_); }
    /// The value; precondition: has_value().
    constexpr T& operator*() & noexcept { return value(); }
    /// The value; precondition: has_value().
    constexpr const T& operator*() const& noexcept { return value(); }

    /// The error; precondition: !has_value().
    constexpr E error() const noexcept { return *std::get_if<1>(&storage_); }

    /// The value, or `fallback` when an error is held.
    constexpr T value_or(T fallback) const { return has_value() ? value() : fallback; }

  private:
    std::variant<T, E> storage_;
};

}  // namespace coap
