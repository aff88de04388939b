// tmpl/json.cc: JSON <-> Value (test data, Sprig's toJson).
#include <charconv>
#include <cmath>
#include <cstring>

#include "tmpl/ast.h"

namespace sw::tmpl {
namespace {

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  Result<Value> ParseTop() {
    SW_ASSIGN_OR_RETURN(Value v, ParseValue(0));
    Ws();
    if (i_ != s_.size()) return Fail("trailing data");
    return v;
  }

 private:
  Status Fail(const std::string& what) {
    return Status::InvalidArgument("json: " + what + " at offset " + std::to_string(i_));
  }
  void Ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) {
      ++i_;
    }
  }
  bool Lit(std::string_view w) {
    if (s_.substr(i_, w.size()) == w) {
      i_ += w.size();
      return true;
    }
    return false;
  }

  Result<std::string> ParseString() {
    if (i_ >= s_.size() || s_[i_] != '"') return Fail("expected string");
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return Fail("bad escape");
      char e = s_[i_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          auto hex4 = [&](uint32_t* r) -> bool {
            if (i_ + 4 > s_.size()) return false;
            *r = 0;
            for (int k = 0; k < 4; ++k) {
              char h = s_[i_ + k];
              int d = (h >= '0' && h <= '9')   ? h - '0'
                      : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                      : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                               : -1;
              if (d < 0) return false;
              *r = *r * 16 + d;
            }
            i_ += 4;
            return true;
          };
          uint32_t r;
          if (!hex4(&r)) return Fail("bad \\u escape");
          if (r >= 0xD800 && r < 0xDC00 && s_.substr(i_, 2) == "\\u") {
            size_t save = i_;
            i_ += 2;
            uint32_t lo;
            if (hex4(&lo) && lo >= 0xDC00 && lo < 0xE000) {
              r = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              i_ = save;
            }
          }
          AppendRune(&out, r);
          break;
        }
        default:
          return Fail("bad escape");
      }
    }
    if (i_ >= s_.size()) return Fail("unterminated string");
    ++i_;
    return out;
  }

  Result<Value> ParseValue(int depth) {
    if (depth > 200) return Fail("too deep");
    Ws();
    if (i_ >= s_.size()) return Fail("unexpected end");
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      std::vector<std::pair<std::string, Value>> entries;
      Ws();
      if (i_ < s_.size() && s_[i_] == '}') {
        ++i_;
        return Value::Map(std::move(entries));
      }
      for (;;) {
        Ws();
        SW_ASSIGN_OR_RETURN(std::string key, ParseString());
        Ws();
        if (i_ >= s_.size() || s_[i_] != ':') return Fail("expected ':'");
        ++i_;
        SW_ASSIGN_OR_RETURN(Value v, ParseValue(depth + 1));
        entries.emplace_back(std::move(key), std::move(v));
        Ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == '}') {
          ++i_;
          break;
        }
        return Fail("expected ',' or '}'");
      }
      if (entries.size() == 1 && entries[0].first == "__struct__" &&
          entries[0].second.kind() == Value::Kind::kMap) {
        return Value::Struct(struct_fields_.back());
      }
      // Remember document order for a possible enclosing "__struct__".
      struct_fields_.push_back(entries);
      return Value::Map(std::move(entries));
    }
    if (c == '[') {
      ++i_;
      ValueList l;
      Ws();
      if (i_ < s_.size() && s_[i_] == ']') {
        ++i_;
        return Value(std::move(l));
      }
      for (;;) {
        SW_ASSIGN_OR_RETURN(Value v, ParseValue(depth + 1));
        l.push_back(std::move(v));
        Ws();
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < s_.size() && s_[i_] == ']') {
          ++i_;
          break;
        }
        return Fail("expected ',' or ']'");
      }
      return Value(std::move(l));
    }
    if (c == '"') {
      SW_ASSIGN_OR_RETURN(std::string s, ParseString());
      return Value(std::move(s));
    }
    if (Lit("true")) return Value(true);
    if (Lit("false")) return Value(false);
    if (Lit("null")) return Value::Nil();
    size_t start = i_;
    while (i_ < s_.size() && strchr("+-0123456789.eE", s_[i_]) != nullptr) ++i_;
    std::string num(s_.substr(start, i_ - start));
    if (num.empty()) return Fail("unexpected character");
    if (num.find_first_of(".eE") == std::string::npos) {
      int64_t v;
      auto r = std::from_chars(num.data(), num.data() + num.size(), v);
      if (r.ec == std::errc() && r.ptr == num.data() + num.size()) return Value(v);
    }
    char* end = nullptr;
    double d = strtod(num.c_str(), &end);
    if (end != num.c_str() + num.size()) return Fail("bad number");
    return Value(d);
  }

  std::string_view s_;
  size_t i_ = 0;
  std::vector<std::vector<std::pair<std::string, Value>>> struct_fields_;
};

void JsonString(std::string* out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(c));
      } else if (c == '\n') {
        out->append("\\n");
      } else if (c == '\r') {
        out->append("\\r");
      } else if (c == '\t') {
        out->append("\\t");
      } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xF]);
      } else {
        out->push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    size_t sz;
    uint32_t r = DecodeRune(s, i, &sz);
    if (r == 0xFFFD && sz == 1) {
      out->append("\\ufffd");
    } else if (r == 0x2028 || r == 0x2029) {
      out->append(r == 0x2028 ? "\\u2028" : "\\u2029");
    } else {
      out->append(s.substr(i, sz));
    }
    i += sz;
  }
  out->push_back('"');
}

Status ToJson(std::string* out, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kInvalid:
    case Value::Kind::kNil:
      out->append("null");
      return Status::OK();
    case Value::Kind::kBool:
      out->append(v.bool_value() ? "true" : "false");
      return Status::OK();
    case Value::Kind::kInt:
      out->append(std::to_string(v.int_value()));
      return Status::OK();
    case Value::Kind::kUint:
      out->append(std::to_string(v.uint_value()));
      return Status::OK();
    case Value::Kind::kFloat: {
      double f = v.float_value();
      if (std::isnan(f) || std::isinf(f)) {
        return Status::InvalidArgument("json: unsupported value: " + FormatValue(v));
      }
      // encoding/json: %f-like for 1e-6 <= |f| < 1e21, else exponent form (e-07 -> e-7).
      char buf[64];
      double a = std::fabs(f);
      if (a != 0 && (a < 1e-6 || a >= 1e21)) {
        auto r = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
        std::string s(buf, r.ptr);
        size_t e = s.find('e');
        if (e != std::string::npos && s.size() > e + 2 && s[e + 2] == '0' && s.size() == e + 4) {
          s.erase(e + 2, 1);
        }
        out->append(s);
      } else {
        auto r = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::fixed);
        out->append(buf, r.ptr);
      }
      return Status::OK();
    }
    case Value::Kind::kString:
      JsonString(out, v.string_value());
      return Status::OK();
    case Value::Kind::kList: {
      out->push_back('[');
      const ValueList& l = v.list();
      for (size_t i = 0; i < l.size(); ++i) {
        if (i > 0) out->push_back(',');
        SW_RETURN_IF_ERROR(ToJson(out, l[i]));
      }
      out->push_back(']');
      return Status::OK();
    }
    case Value::Kind::kMap: {
      out->push_back('{');
      const auto& e = v.map_data().entries;
      for (size_t i = 0; i < e.size(); ++i) {
        if (i > 0) out->push_back(',');
        JsonString(out, e[i].first);
        out->push_back(':');
        SW_RETURN_IF_ERROR(ToJson(out, e[i].second));
      }
      out->push_back('}');
      return Status::OK();
    }
    case Value::Kind::kFunc:
      return Status::InvalidArgument("json: unsupported type: " + v.GoTypeName());
  }
  return Status::OK();
}

}  // namespace

Result<Value> ValueFromJson(std::string_view json) { return JsonParser(json).ParseTop(); }

Result<std::string> ValueToJson(const Value& v) {
  std::string out;
  SW_RETURN_IF_ERROR(ToJson(&out, v));
  return out;
}

}  // namespace sw::tmpl
