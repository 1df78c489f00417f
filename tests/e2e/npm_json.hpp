// Shared by the coapd_npm_*_test files: just enough JSON to read the lines npm_client.js
// prints, and to quote strings for the requests it is given.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coap::e2e::npm {

struct Json {
    enum class Kind { null, boolean, number, string, array, object };
    Kind kind = Kind::null;
    bool boolean = false;
    double number = 0;
    std::string text;
    std::vector<Json> items;        // array elements, or object values
    std::vector<std::string> keys;  // object keys, parallel to items

    bool is_null() const { return kind == Kind::null; }
    bool has(std::string_view key) const {
        return kind == Kind::object && std::find(keys.begin(), keys.end(), key) != keys.end();
    }
    const Json& operator[](std::string_view key) const {
        static const Json missing;
        if (kind != Kind::object) return missing;
        auto at = std::find(keys.begin(), keys.end(), key);
        return at == keys.end() ? missing : items[static_cast<std::size_t>(at - keys.begin())];
    }
    std::string str() const { return kind == Kind::string ? text : std::string(); }
    long long integer() const { return kind == Kind::number ? static_cast<long long>(number) : -1; }
    std::vector<std::string> strings() const {
        std::vector<std::string> out;
        for (const Json& item : items)
            out.push_back(item.str());
        return out;
    }
};

class JsonReader {
  public:
    explicit JsonReader(std::string_view text) : text_(text) {}

    std::optional<Json> document() {
        std::optional<Json> value = parse_value();
        skip_spaces();
        if (!value || at_ != text_.size()) return std::nullopt;
        return value;
    }

  private:
    void skip_spaces() {
        while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' ||
                                      text_[at_] == '\n' || text_[at_] == '\r'))
            ++at_;
    }
    bool consume(std::string_view word) {
        if (text_.substr(at_, word.size()) != word) return false;
        at_ += word.size();
        return true;
    }

    std::optional<Json> parse_value() {
        skip_spaces();
        if (at_ >= text_.size()) return std::nullopt;
        Json value;
        char c = text_[at_];
        if (c == '{') return parse_object();
        if (c == '[') return parse_array();
        if (c == '"') {
            auto text = parse_string();
            if (!text) return std::nullopt;
            value.kind = Json::Kind::string;
            value.text = std::move(*text);
            return value;
        }
        if (consume("null")) return value;
        if (consume("true") || consume("false")) {
            value.kind = Json::Kind::boolean;
            value.boolean = text_[at_ - 1] == 'e' && text_[at_ - 2] == 'u';
            return value;
        }
        std::size_t start = at_;
        while (at_ < text_.size() &&
               std::string_view("+-0123456789.eE").find(text_[at_]) != std::string_view::npos)
            ++at_;
        if (start == at_) return std::nullopt;
        value.kind = Json::Kind::number;
        value.number = std::strtod(std::string(text_.substr(start, at_ - start)).c_str(), nullptr);
        return value;
    }

    std::optional<Json> parse_array() {
        Json value;
        value.kind = Json::Kind::array;
        ++at_;  // '['
        skip_spaces();
        if (consume("]")) return value;
        for (;;) {
            auto item = parse_value();
            if (!item) return std::nullopt;
            value.items.push_back(std::move(*item));
            skip_spaces();
            if (consume("]")) return value;
            if (!consume(",")) return std::nullopt;
        }
    }

    std::optional<Json> parse_object() {
        Json value;
        value.kind = Json::Kind::object;
        ++at_;  // '{'
        skip_spaces();
        if (consume("}")) return value;
        for (;;) {
            skip_spaces();
            auto key = parse_string();
            if (!key) return std::nullopt;
            skip_spaces();
            if (!consume(":")) return std::nullopt;
            auto item = parse_value();
            if (!item) return std::nullopt;
            value.keys.push_back(std::move(*key));
            value.items.push_back(std::move(*item));
            skip_spaces();
            if (consume("}")) return value;
            if (!consume(",")) return std::nullopt;
        }
    }

    static void append_utf8(std::string& out, unsigned code_point) {
        if (code_point < 0x80) {
            out += static_cast<char>(code_point);
        } else if (code_point < 0x800) {
            out += static_cast<char>(0xc0 | (code_point >> 6));
            out += static_cast<char>(0x80 | (code_point & 0x3f));
        } else if (code_point < 0x10000) {
            out += static_cast<char>(0xe0 | (code_point >> 12));
            out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code_point & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (code_point >> 18));
            out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code_point & 0x3f));
        }
    }

    std::optional<unsigned> parse_hex4() {
        if (at_ + 4 > text_.size()) return std::nullopt;
        unsigned value = 0;
        for (int i = 0; i < 4; ++i) {
            char c = text_[at_++];
            value <<= 4;
            if (c >= '0' && c <= '9')
                value |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                value |= static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                value |= static_cast<unsigned>(c - 'A' + 10);
            else
                return std::nullopt;
        }
        return value;
    }

    std::optional<std::string> parse_string() {
        if (!consume("\"")) return std::nullopt;
        std::string out;
        while (at_ < text_.size()) {
            char c = text_[at_++];
            if (c == '"') return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at_ >= text_.size()) return std::nullopt;
            char escape = text_[at_++];
            switch (escape) {
                case '"':
                    out += '"';
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '/':
                    out += '/';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    auto unit = parse_hex4();
                    if (!unit) return std::nullopt;
                    unsigned code_point = *unit;
                    if (code_point >= 0xd800 && code_point < 0xdc00 && consume("\\u")) {
                        auto low = parse_hex4();
                        if (!low) return std::nullopt;
                        code_point = 0x10000 + ((code_point - 0xd800) << 10) + (*low - 0xdc00);
                    }
                    append_utf8(out, code_point);
                    break;
                }
                default:
                    return std::nullopt;
            }
        }
        return std::nullopt;
    }

    std::string_view text_;
    std::size_t at_ = 0;
};

inline std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
            out += escaped;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace coap::e2e::npm
