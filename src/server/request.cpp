// Request accessors.
#include "coap/request.hpp"

namespace coap {

std::optional<std::string_view> Request::query_value(std::string_view name) const noexcept {
    for (const Option& argument : query()) {
        std::string_view text = argument.as_string();
        if (text == name) return std::string_view{};
        if (text.size() > name.size() && text.starts_with(name) && text[name.size()] == '=')
            return text.substr(name.size() + 1);
    }
    return std::nullopt;
}

std::optional<std::string_view> Request::param(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < param_count_; ++i)
        if (params_[i].name == name) return params_[i].value;
    return std::nullopt;
}

bool Request::add_param(std::string_view name, std::string_view value) noexcept {
    if (param_count_ == max_params) return false;
    params_[param_count_++] = RouteParam{name, value};
    return true;
}

std::optional<ContentFormat> Request::accept() const noexcept {
    auto value = message_->find_uint(OptionNumber::accept);
    if (!value || *value > 0xffff) return std::nullopt;
    return static_cast<ContentFormat>(*value);
}

std::optional<ContentFormat> Request::content_format() const noexcept {
    auto value = message_->find_uint(OptionNumber::content_format);
    if (!value || *value > 0xffff) return std::nullopt;
    return static_cast<ContentFormat>(*value);
}

}  // namespace coap
