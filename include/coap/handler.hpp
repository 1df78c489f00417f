// The handler interface: any callable taking `Request&` and returning a response or nothing.
#pragma once

#include <concepts>
#include <cstddef>
#include <exception>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "coap/export.hpp"
#include "coap/request.hpp"
#include "coap/response.hpp"

namespace coap {

/// What a handler gives back: a response, or nullopt for "no response" (an empty ACK for a CON
/// request, nothing at all for NON).
using HandlerResult = std::optional<Response>;

template <class F>
concept HandlerCallable = std::invocable<F&, Request&> &&
    (std::convertible_to<std::invoke_result_t<F&, Request&>, HandlerResult>);

/// A type-erased handler. It is built once at set-up (a callable that does not fit the inline
/// storage is moved to the heap then) and calling it never allocates. With `thread_count > 1`
/// it is called from several threads at once, so shared state needs synchronising.
///
///     coap::Handler plain = &my_function;                       // HandlerResult(Request&)
///     coap::Handler with_context = [&state](coap::Request& r) { ... };
///     coap::Handler member = coap::Handler::member<&Sensors::handle>(sensors);
class Handler {
  public:
    /// Callables up to this size (and nothrow-movable) are stored without a heap allocation.
    static constexpr std::size_t inline_size = 48;

    /// An empty handler; `operator bool` is false.
    Handler() noexcept = default;

    /// Stores any callable `HandlerResult(Request&)` (see the class comment).

    template <class F>
    requires(!std::same_as<std::remove_cvref_t<F>, Handler> && HandlerCallable<std::decay_t<F>>)
        Handler(F&& callable) {  // NOLINT(google-explicit-constructor): handlers convert implicitly
        using Stored = std::decay_t<F>;
        if constexpr (fits_inline<Stored>()) {
            ::new (static_cast<void*>(storage_)) Stored(std::forward<F>(callable));
            target_ = storage_;
        } else {
            target_ = new Stored(std::forward<F>(callable));
        }
        invoke_ = [](void* target, Request& request) -> HandlerResult {
            return (*static_cast<Stored*>(target))(request);
        };
        manage_ = [](Operation op, Handler& self, Handler* from) noexcept {
            if constexpr (fits_inline<Stored>()) {
                if (op == Operation::destroy) {
                    static_cast<Stored*>(self.target_)->~Stored();
                } else {
                    ::new (static_cast<void*>(self.storage_))
                        Stored(std::move(*static_cast<Stored*>(from->target_)));
                    self.target_ = self.storage_;
                    static_cast<Stored*>(from->target_)->~Stored();
                }
            } else {
                if (op == Operation::destroy) {
                    delete static_cast<Stored*>(self.target_);
                } else {
                    self.target_ = from->target_;
                }
            }
        };
    }

    /// A handler that calls `(object.*Method)(request)`; `object` must outlive the server.
    template <auto Method, class T>
    static Handler member(T& object) {
        return Handler(
            [&object](Request& request) -> HandlerResult { return (object.*Method)(request); });
    }

    /// Takes the callable of `other`, which becomes empty.
    Handler(Handler&& other) noexcept { take(other); }
    /// Destroys the held callable and takes the one of `other`, which becomes empty.
    Handler& operator=(Handler&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    Handler(const Handler&) = delete;
    Handler& operator=(const Handler&) = delete;
    ~Handler() { reset(); }

    /// True when a callable is held.
    explicit operator bool() const noexcept { return invoke_ != nullptr; }
    /// Calls the held callable; precondition: one is held.
    HandlerResult operator()(Request& request) const { return invoke_(target_, request); }

  private:
    enum class Operation { destroy, move };
    using Invoke = HandlerResult (*)(void*, Request&);
    using Manage = void (*)(Operation, Handler&, Handler*) noexcept;

    template <class T>
    static constexpr bool fits_inline() {
        return sizeof(T) <= inline_size && alignof(T) <= alignof(std::max_align_t) &&
               std::is_nothrow_move_constructible_v<T>;
    }
    void take(Handler& other) noexcept {
        if (!other.invoke_) return;
        invoke_ = other.invoke_;
        manage_ = other.manage_;
        manage_(Operation::move, *this, &other);
        other.invoke_ = nullptr;
        other.manage_ = nullptr;
        other.target_ = nullptr;
    }
    void reset() noexcept {
        if (manage_) manage_(Operation::destroy, *this, nullptr);
        invoke_ = nullptr;
        manage_ = nullptr;
        target_ = nullptr;
    }

    alignas(std::max_align_t) std::byte storage_[inline_size]{};
    void* target_ = nullptr;
    Invoke invoke_ = nullptr;
    Manage manage_ = nullptr;
};

/// Reports a handler failure (an exception or an error result) to the log; defined with the
/// logging code so that this header needs no logging include.
COAP_API void report_handler_failure(const Request& request, const char* what) noexcept;

/// Wraps a handler that may throw, or that returns an `Expected<HandlerResult, E>`-like type, so
/// that a failure becomes 5.00 Internal Server Error and a log line instead of a crash.
template <class F>
auto safe_wrap(F callable) {
    return [callable = std::move(callable)](Request& request) mutable -> HandlerResult {
        try {
            if constexpr (std::convertible_to<std::invoke_result_t<F&, Request&>, HandlerResult>) {
                return callable(request);
            } else {
                auto result = callable(request);
                if (result) return HandlerResult(*result);
                report_handler_failure(request, "handler returned an error");
                return Response::internal_server_error();
            }
        } catch (const std::exception& error) {
            report_handler_failure(request, error.what());
        } catch (...) {
            report_handler_failure(request, "unknown exception");
        }
        return Response::internal_server_error();
    };
}

}  // namespace coap
