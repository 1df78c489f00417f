// Message types and codes: classes, names and dotted text.
#include <gtest/gtest.h>

#include "coap/codes.hpp"

namespace coap {
namespace {

TEST(Codes, ClassAndDetailSplitTheByte) {
    EXPECT_EQ(make_code(2, 5), Code::content);
    EXPECT_EQ(make_code(2, 31), Code::continue_);
    EXPECT_EQ(make_code(4, 29), Code::too_many_requests);
    EXPECT_EQ(make_code(5, 8), Code::hop_limit_reached);
    EXPECT_EQ(code_class(Code::not_found), 4u);
    EXPECT_EQ(code_detail(Code::not_found), 4u);
}

TEST(Codes, DottedTextMatchesTheRfcNotation) {
    EXPECT_EQ(code_text(Code::content).view(), "2.05");
    EXPECT_EQ(code_text(Code::get).view(), "0.01");
    EXPECT_EQ(code_text(Code::request_entity_too_large).view(), "4.13");
    EXPECT_EQ(code_text(Code::continue_).view(), "2.31");
    EXPECT_EQ(code_text(make_code(7, 31)).view(), "7.31");
}

TEST(Codes, EveryMethodAndResponseOfTheRfcsHasAName) {
    EXPECT_EQ(code_name(Code::fetch), "FETCH");
    EXPECT_EQ(code_name(Code::patch), "PATCH");
    EXPECT_EQ(code_name(Code::ipatch), "iPATCH");
    EXPECT_EQ(code_name(Code::del), "DELETE");
    EXPECT_EQ(code_name(Code::continue_), "Continue");
    EXPECT_EQ(code_name(Code::too_many_requests), "Too Many Requests");
    EXPECT_EQ(code_name(Code::request_entity_incomplete), "Request Entity Incomplete");
    EXPECT_EQ(code_name(Code::unprocessable_entity), "Unprocessable Entity");
    EXPECT_EQ(code_name(Code::hop_limit_reached), "Hop Limit Reached");
    EXPECT_EQ(code_name(make_code(4, 30)), "");
}

TEST(Codes, ClassificationHelpers) {
    EXPECT_TRUE(is_request(Code::get));
    EXPECT_FALSE(is_request(Code::empty));
    EXPECT_TRUE(is_response(Code::content));
    EXPECT_TRUE(is_response(Code::gateway_timeout));
    EXPECT_FALSE(is_response(Code::csm));
    EXPECT_TRUE(is_success(Code::changed));
    EXPECT_TRUE(is_error(Code::bad_option));
    EXPECT_TRUE(is_reserved_class(make_code(1, 0)));
    EXPECT_TRUE(is_reserved_class(make_code(3, 1)));
    EXPECT_TRUE(is_reserved_class(make_code(6, 1)));
    EXPECT_FALSE(is_reserved_class(Code::content));
}

TEST(Codes, TypeNames) {
    EXPECT_EQ(type_name(MessageType::con), "CON");
    EXPECT_EQ(type_name(MessageType::non), "NON");
    EXPECT_EQ(type_name(MessageType::ack), "ACK");
    EXPECT_EQ(type_name(MessageType::rst), "RST");
}

}  // namespace
}  // namespace coap
