// tmpl/fmt.cc: Go's fmt formatting of template values (%v and the printf verbs), strconv.Quote,
// and the escapers of text/template (html, js, urlquery).
#include <locale.h>
#include <wctype.h>

#include <charconv>
#include <cmath>
#include <cstring>

#include "tmpl/ast.h"

namespace sw::tmpl {

uint32_t DecodeRune(std::string_view s, size_t i, size_t* size) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  *size = 1;
  if (c < 0x80) return c;
  size_t n = 0;
  uint32_t r = 0, min = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2, r = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, r = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, r = c & 0x07, min = 0x10000;
  } else {
    return 0xFFFD;
  }
  if (i + n > s.size()) return 0xFFFD;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0xFFFD;
    r = (r << 6) | (b(i + k) & 0x3F);
  }
  if (r < min || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) return 0xFFFD;
  *size = n;
  return r;
}

void AppendRune(std::string* out, uint32_t r) {
  if (r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) r = 0xFFFD;
  if (r < 0x80) {
    out->push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (r >> 6)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (r >> 12)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (r >> 18)));
    out->push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

// unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. Format
// (Cf), private-use (Co) and non-ASCII space (Zs) characters are excluded explicitly; for the
// rest glibc's C.UTF-8 iswgraph decides (it knows which code points are assigned; its Unicode
// version may be newer than Go 1.19's 13.0).
bool IsPrintRune(uint32_t r) {
  if (r < 0x80) return r >= 0x20 && r < 0x7F;
  if (r < 0xA0 || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000)) return false;
  static const uint32_t kExcluded[][2] = {
      {0xA0, 0xA0},       {0xAD, 0xAD},       {0x600, 0x605},     {0x61C, 0x61C},
      {0x6DD, 0x6DD},     {0x70F, 0x70F},     {0x8E2, 0x8E2},     {0x1680, 0x1680},
      {0x180E, 0x180E},   {0x2000, 0x200F},   {0x2028, 0x202F},   {0x205F, 0x2064},
      {0x2066, 0x206F},   {0x3000, 0x3000},   {0xE000, 0xF8FF},   {0xFEFF, 0xFEFF},
      {0xFFF9, 0xFFFB},   {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x13438},
      {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
      {0xF0000, 0x10FFFF},
  };
  for (const auto& range : kExcluded) {
    if (r >= range[0] && r <= range[1]) return false;
  }
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  if (loc != static_cast<locale_t>(0)) return iswgraph_l(static_cast<wint_t>(r), loc) != 0;
  return r != 0xFFFE && r != 0xFFFF;
}

namespace {

void QuoteRuneInto(std::string* out, uint32_t r, char quote, bool ascii_only, bool invalid) {
  static const char* kHex = "0123456789abcdef";
  if (invalid) {
    out->append("\\x");
    return;
  }
  if (r == static_cast<uint32_t>(quote) || r == '\\') {
    out->push_back('\\');
    out->push_back(static_cast<char>(r));
    return;
  }
  if (ascii_only ? (r < 0x7F && IsPrintRune(r)) : IsPrintRune(r)) {
    AppendRune(out, r);
    return;
  }
  switch (r) {
    case '\a': out->append("\\a"); return;
    case '\b': out->append("\\b"); return;
    case '\f': out->append("\\f"); return;
    case '\n': out->append("\\n"); return;
    case '\r': out->append("\\r"); return;
    case '\t': out->append("\\t"); return;
    case '\v': out->append("\\v"); return;
  }
  if (r < ' ' || r == 0x7F) {
    out->append("\\x");
    out->push_back(kHex[(r >> 4) & 0xF]);
    out->push_back(kHex[r & 0xF]);
  } else if (r < 0x10000) {
    out->append("\\u");
    for (int s = 12; s >= 0; s -= 4) out->push_back(kHex[(r >> s) & 0xF]);
  } else {
    out->append("\\U");
    for (int s = 28; s >= 0; s -= 4) out->push_back(kHex[(r >> s) & 0xF]);
  }
}

std::string QuoteWith(std::string_view s, char quote, bool ascii_only) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back(quote);
  for (size_t i = 0; i < s.size();) {
    size_t sz;
    uint32_t r = DecodeRune(s, i, &sz);
    if (r == 0xFFFD && sz == 1 && static_cast<unsigned char>(s[i]) >= 0x80) {
      unsigned char c = s[i];
      out.append("\\x");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
      ++i;
      continue;
    }
    QuoteRuneInto(&out, r, quote, ascii_only, false);
    i += sz;
  }
  out.push_back(quote);
  return out;
}

bool CanBackquote(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t sz;
    uint32_t r = DecodeRune(s, i, &sz);
    i += sz;
    if (sz > 1) {
      if (r == 0xFEFF) return false;
      continue;
    }
    if (r == 0xFFFD) return false;
    if ((r < ' ' && r != '\t') || r == '`' || r == 0x7F) return false;
  }
  return true;
}

size_t RuneCount(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    size_t sz;
    DecodeRune(s, i, &sz);
    i += sz;
    ++n;
  }
  return n;
}

struct Spec {
  bool plus = false, minus = false, sharp = false, space = false, zero = false;
  bool plus_v = false;   // %+v
  bool sharp_v = false;  // %#v (Go syntax)
  bool wid_present = false, prec_present = false;
  int wid = 0, prec = 0;
  uint32_t verb = 'v';
};

// Pads s (already formatted) to the width in runes.
void Pad(std::string* out, std::string_view s, const Spec& f) {
  if (!f.wid_present || f.wid == 0) {
    out->append(s);
    return;
  }
  size_t n = RuneCount(s);
  if (n >= static_cast<size_t>(f.wid)) {
    out->append(s);
    return;
  }
  size_t pad = f.wid - n;
  if (f.minus) {
    out->append(s);
    out->append(pad, ' ');
  } else {
    out->append(pad, f.zero ? '0' : ' ');
    out->append(s);
  }
}

void FmtInteger(std::string* out, uint64_t u, bool neg, int base, char verb, const Spec& f_in,
                bool upper) {
  Spec f = f_in;
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  int prec = 0;
  bool has_prec = false;
  if (f.prec_present) {
    prec = f.prec;
    has_prec = true;
    if (prec == 0 && u == 0) {
      // Precision 0 and value 0 means "print nothing but padding".
      bool z = f.zero;
      f.zero = false;
      Pad(out, "", f);
      f.zero = z;
      return;
    }
  } else if (f.zero && f.wid_present && !f.minus) {
    prec = f.wid;
    has_prec = true;
    if (neg || f.plus || f.space) --prec;
  }
  std::string buf;
  if (u == 0) buf = "0";
  while (u > 0) {
    buf.push_back(digits[u % base]);
    u /= base;
  }
  while (has_prec && static_cast<int>(buf.size()) < prec) buf.push_back('0');
  if (f.sharp) {
    switch (base) {
      case 2:
        buf += "b0";
        break;
      case 8:
        if (buf.back() != '0') buf.push_back('0');
        break;
      case 16:
        buf.push_back(upper ? 'X' : 'x');
        buf.push_back('0');
        break;
    }
  }
  if (verb == 'O') buf += "o0";
  if (neg) {
    buf.push_back('-');
  } else if (f.plus) {
    buf.push_back('+');
  } else if (f.space) {
    buf.push_back(' ');
  }
  std::string s(buf.rbegin(), buf.rend());
  Spec g = f;
  g.zero = false;  // zero padding was done through the precision
  Pad(out, s, g);
}

// strconv.FormatFloat(v, fmt, prec, 64) for 'e' 'E' 'f' 'g' 'G' 'x' 'X' 'b' (prec -1 =
// shortest).
std::string FormatFloat(double v, char fmt, int prec) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[512];
  bool upper = fmt == 'E' || fmt == 'G' || fmt == 'X';
  char lf = static_cast<char>(fmt | 0x20);
  if (lf == 'b') {
    // Binary exponent form: mantissa "p" exponent, as strconv's 'b'.
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    bool neg = bits >> 63;
    int64_t exp = static_cast<int64_t>((bits >> 52) & 0x7FF);
    uint64_t mant = bits & ((uint64_t{1} << 52) - 1);
    if (exp == 0) {
      exp = 1;
    } else {
      mant |= uint64_t{1} << 52;
    }
    exp -= 1075;
    std::string s = neg ? "-" : "";
    s += std::to_string(mant) + "p" + (exp >= 0 ? "+" : "") + std::to_string(exp);
    return s;
  }
  if (lf == 'x') {
    if (prec >= 0) {
      snprintf(buf, sizeof(buf), "%.*a", prec, v);
    } else {
      snprintf(buf, sizeof(buf), "%a", v);
    }
    std::string s = buf;
    size_t p = s.find('p');
    // glibc may round the mantissa up to 0x2.000p+E; Go renormalizes to 0x1.000p+(E+1).
    size_t x = s.find("0x2");
    if (x != std::string::npos && p != std::string::npos) {
      s[x + 2] = '1';
      int e = std::stoi(s.substr(p + 1)) + 1;
      s = s.substr(0, p + 1) + (e >= 0 ? "+" : "-") + std::to_string(std::abs(e));
      p = s.find('p');
    }
    if (p != std::string::npos && s.size() - (p + 2) < 2) s.insert(p + 2, "0");
    if (upper) {
      for (char& c : s) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    }
    return s;
  }
  if (prec < 0) {
    // Shortest digits via to_chars(scientific), then Go's layout rules.
    auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
    std::string sci(buf, r.ptr);
    bool neg = sci[0] == '-';
    if (neg) sci.erase(0, 1);
    size_t e = sci.find('e');
    std::string mant = sci.substr(0, e);
    int exp = std::stoi(sci.substr(e + 1));
    std::string digs;
    for (char c : mant) {
      if (c != '.') digs.push_back(c);
    }
    while (digs.size() > 1 && digs.back() == '0') digs.pop_back();
    if (v == 0) {
      digs = "0";
      exp = 0;
    }
    // Go: shortest %g switches to %e when exp < -4 || exp >= 6 (eprec is 6 when shortest).
    bool use_e = lf == 'e' || (lf == 'g' && (exp < -4 || exp >= 6));
    std::string s = neg ? "-" : "";
    if (use_e) {
      s += digs[0];
      if (digs.size() > 1) {
        s += '.';
        s += digs.substr(1);
      }
      s += upper ? 'E' : 'e';
      s += exp < 0 ? '-' : '+';
      int ae = std::abs(exp);
      if (ae < 10) s += '0';
      s += std::to_string(ae);
      return s;
    }
    // %f layout of the shortest digits.
    if (exp < 0) {
      s += "0.";
      s.append(-exp - 1, '0');
      s += digs;
    } else if (exp + 1 >= static_cast<int>(digs.size())) {
      s += digs;
      s.append(exp + 1 - digs.size(), '0');
    } else {
      s += digs.substr(0, exp + 1);
      s += '.';
      s += digs.substr(exp + 1);
    }
    return s;
  }
  if (lf == 'g' && prec == 0) prec = 1;
  char cfmt[16];
  snprintf(cfmt, sizeof(cfmt), "%%.%d%c", prec, fmt);
  snprintf(buf, sizeof(buf), cfmt, v);
  return std::string(buf);
}

// Go's fmt.fmtFloat: sign handling, the '#' flag, zero padding after the sign.
void FmtFloat(std::string* out, double v, char verb, int prec, const Spec& f) {
  std::string num = FormatFloat(v, verb, prec);
  if (num[0] != '-' && num[0] != '+') num.insert(0, "+");
  if (f.space && num[0] == '+' && !f.plus) num[0] = ' ';
  if (num[1] == 'I' || num[1] == 'N') {
    if (num[1] == 'N' && !f.space && !f.plus) num.erase(0, 1);
    Spec g = f;
    g.zero = false;
    Pad(out, num, g);
    return;
  }
  if (f.sharp && verb != 'b') {
    int digits = 0;
    if (verb == 'v' || verb == 'g' || verb == 'G' || verb == 'x') digits = prec < 0 ? 6 : prec;
    std::string tail;
    bool has_point = false, saw_nonzero = false;
    for (size_t i = 1; i < num.size(); ++i) {
      char c = num[i];
      if (c == '.') {
        has_point = true;
        continue;
      }
      if (c == 'p' || c == 'P' || ((c == 'e' || c == 'E') && verb != 'x' && verb != 'X')) {
        tail = num.substr(i);
        num.resize(i);
        break;
      }
      if (c != '0') saw_nonzero = true;
      if (saw_nonzero) --digits;
    }
    if (!has_point) {
      if (num.size() == 2 && num[1] == '0') --digits;
      num.push_back('.');
    }
    while (digits-- > 0) num.push_back('0');
    num += tail;
  }
  if (f.plus || num[0] != '+') {
    if (f.zero && f.wid_present && !f.minus && f.wid > static_cast<int>(num.size())) {
      out->push_back(num[0]);
      out->append(f.wid - num.size(), '0');
      out->append(num, 1, std::string::npos);
      return;
    }
    Pad(out, num, f);
    return;
  }
  Pad(out, std::string_view(num).substr(1), f);
}

void FmtString(std::string* out, std::string_view s, const Spec& f) {
  if (f.prec_present) {
    size_t i = 0;
    int n = 0;
    while (i < s.size() && n < f.prec) {
      size_t sz;
      DecodeRune(s, i, &sz);
      i += sz;
      ++n;
    }
    s = s.substr(0, i);
  }
  Pad(out, s, f);
}

void FmtHex(std::string* out, std::string_view s, const Spec& f, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  size_t len = s.size();
  if (f.prec_present && static_cast<size_t>(f.prec) < len) len = f.prec;
  std::string buf;
  for (size_t i = 0; i < len; ++i) {
    if (f.space && i > 0) buf.push_back(' ');
    if (f.sharp && (f.space || i == 0)) {
      buf.push_back('0');
      buf.push_back(upper ? 'X' : 'x');
    }
    unsigned char c = s[i];
    buf.push_back(digits[c >> 4]);
    buf.push_back(digits[c & 0xF]);
  }
  Spec g = f;
  Pad(out, buf, g);
}

void PrintValue(std::string* out, const Value& v, const Spec& f, int depth);

// Go's badVerb: "%!verb(type=value)", the value printed with %v and the same flags.
void BadVerb(std::string* out, const Value& v, const Spec& f) {
  out->append("%!");
  AppendRune(out, f.verb);
  out->push_back('(');
  if (v.IsNilOrInvalid()) {
    out->append("<nil>");
  } else {
    out->append(v.GoTypeName(false));
    out->push_back('=');
    Spec g = f;
    g.verb = 'v';
    PrintValue(out, v, g, 1);
  }
  out->push_back(')');
}

void PrintScalar(std::string* out, const Value& v, const Spec& f) {
  uint32_t verb = f.verb;
  switch (v.kind()) {
    case Value::Kind::kBool:
      if (verb == 'v' || verb == 't') {
        FmtString(out, v.bool_value() ? "true" : "false", Spec{.minus = f.minus,
                                                              .zero = f.zero,
                                                              .wid_present = f.wid_present,
                                                              .wid = f.wid});
      } else {
        BadVerb(out, v, f);
      }
      return;
    case Value::Kind::kInt:
    case Value::Kind::kUint: {
      bool neg = v.kind() == Value::Kind::kInt && v.int_value() < 0;
      uint64_t u = v.kind() == Value::Kind::kUint ? v.uint_value()
                   : neg ? 0 - static_cast<uint64_t>(v.int_value())
                         : static_cast<uint64_t>(v.int_value());
      switch (verb) {
        case 'v':
          if (f.sharp_v && v.kind() == Value::Kind::kUint) {
            Spec g = f;
            g.sharp = true;
            FmtInteger(out, u, false, 16, 'x', g, false);
            return;
          }
          FmtInteger(out, u, neg, 10, verb, f, false);
          return;
        case 'd':
          FmtInteger(out, u, neg, 10, verb, f, false);
          return;
        case 'b':
          FmtInteger(out, u, neg, 2, verb, f, false);
          return;
        case 'o':
        case 'O':
          FmtInteger(out, u, neg, 8, verb, f, false);
          return;
        case 'x':
          FmtInteger(out, u, neg, 16, verb, f, false);
          return;
        case 'X':
          FmtInteger(out, u, neg, 16, verb, f, true);
          return;
        case 'c': {
          std::string s;
          AppendRune(&s, neg || u > 0x10FFFF ? 0xFFFD : static_cast<uint32_t>(u));
          Pad(out, s, f);
          return;
        }
        case 'q': {
          uint32_t r = neg || u > 0x10FFFF ? 0xFFFD : static_cast<uint32_t>(u);
          std::string s = "'";
          QuoteRuneInto(&s, r, '\'', f.plus, false);
          s += "'";
          Pad(out, s, f);
          return;
        }
        case 'U': {
          // Go's fmtUnicode: the two's complement for negatives, at least 4 (or precision)
          // uppercase hex digits, padded with spaces only.
          uint64_t uu = v.kind() == Value::Kind::kUint ? v.uint_value()
                                                        : static_cast<uint64_t>(v.int_value());
          int prec = f.prec_present && f.prec > 4 ? f.prec : 4;
          char hex[32];
          snprintf(hex, sizeof(hex), "%llX", static_cast<unsigned long long>(uu));
          std::string digits = hex;
          if (static_cast<int>(digits.size()) < prec) digits.insert(0, prec - digits.size(), '0');
          std::string s = "U+" + digits;
          if (f.sharp && uu <= 0x10FFFF && IsPrintRune(static_cast<uint32_t>(uu))) {
            s += " '";
            AppendRune(&s, static_cast<uint32_t>(uu));
            s += "'";
          }
          Spec g = f;
          g.zero = false;
          g.prec_present = false;
          Pad(out, s, g);
          return;
        }
        case 'e':
        case 'E':
        case 'f':
        case 'F':
        case 'g':
        case 'G':
        case 's':
        case 't':
        default:
          BadVerb(out, v, f);
          return;
      }
    }
    case Value::Kind::kFloat:
      switch (verb) {
        case 'v':
          FmtFloat(out, v.float_value(), 'g', f.prec_present ? f.prec : -1, f);
          return;
        case 'g':
        case 'G':
          FmtFloat(out, v.float_value(), static_cast<char>(verb), f.prec_present ? f.prec : -1, f);
          return;
        case 'e':
        case 'E':
        case 'f':
        case 'F':
          FmtFloat(out, v.float_value(), verb == 'F' ? 'f' : static_cast<char>(verb),
                   f.prec_present ? f.prec : 6, f);
          return;
        case 'x':
        case 'X':
        case 'b':
          FmtFloat(out, v.float_value(), static_cast<char>(verb), f.prec_present ? f.prec : -1,
                   f);
          return;
        default:
          BadVerb(out, v, f);
          return;
      }
    case Value::Kind::kString:
      switch (verb) {
        case 'v':
          if (f.sharp_v) {
            std::string t;
            FmtString(&t, v.string_value(), Spec{.prec_present = f.prec_present, .prec = f.prec});
            Pad(out, GoQuote(t), f);
            return;
          }
          FmtString(out, v.string_value(), f);
          return;
        case 's':
          FmtString(out, v.string_value(), f);
          return;
        case 'q': {
          std::string truncated;
          FmtString(&truncated, v.string_value(),
                    Spec{.prec_present = f.prec_present, .prec = f.prec});
          std::string_view s = truncated;
          if (f.sharp && CanBackquote(s)) {
            Pad(out, "`" + std::string(s) + "`", f);
          } else {
            Pad(out, QuoteWith(s, '"', f.plus), f);
          }
          return;
        }
        case 'x':
          FmtHex(out, v.string_value(), f, false);
          return;
        case 'X':
          FmtHex(out, v.string_value(), f, true);
          return;
        default:
          BadVerb(out, v, f);
          return;
      }
    case Value::Kind::kFunc:
      if (verb == 'v' || verb == 'p') {
        char buf[32];
        snprintf(buf, sizeof(buf), "%p", static_cast<const void*>(&v.func()));
        Pad(out, buf, f);
      } else {
        BadVerb(out, v, f);
      }
      return;
    default:
      BadVerb(out, v, f);
      return;
  }
}

void PrintValue(std::string* out, const Value& v, const Spec& f, int depth) {
  // fmt.Stringer: a named type with a String() method prints through it for %v %s %q %x %X.
  if (const MethodSet* ms = v.methods();
      ms != nullptr && !f.sharp_v &&
      (f.verb == 'v' || f.verb == 's' || f.verb == 'q' || f.verb == 'x' || f.verb == 'X')) {
    const Method* m = ms->Find("String");
    if (m != nullptr && m->sig.params.empty()) {
      Result<Value> r = m->impl(v, std::span<Value>());
      if (!r.ok()) {
        out->append("%!");
        AppendRune(out, f.verb);
        out->append("(PANIC=String method: " + std::string(r.status().message()) + ")");
        return;
      }
      Value plain = r->kind() == Value::Kind::kString ? Value(r->string_value()) : *r;
      PrintValue(out, plain, f, depth);
      return;
    }
  }
  if (f.verb == 'T' && depth == 0) {
    if (v.IsNilOrInvalid()) {
      Pad(out, "<nil>", f);
    } else {
      FmtString(out, v.GoTypeName(false), f);
    }
    return;
  }
  switch (v.kind()) {
    case Value::Kind::kInvalid:
    case Value::Kind::kNil:
      if (depth == 0) {
        if (f.verb == 'v') {
          Pad(out, "<nil>", f);
        } else {
          BadVerb(out, v, f);
        }
      } else {
        out->append(f.sharp_v ? "interface {}(nil)" : "<nil>");  // Go does not pad these
      }
      return;
    case Value::Kind::kList: {
      const ValueList& l = v.list();
      if (f.sharp_v) out->append(v.GoTypeName(false));
      out->push_back(f.sharp_v ? '{' : '[');
      for (size_t i = 0; i < l.size(); ++i) {
        if (i > 0) out->append(f.sharp_v ? ", " : " ");
        PrintValue(out, l[i], f, depth + 1);
      }
      out->push_back(f.sharp_v ? '}' : ']');
      return;
    }
    case Value::Kind::kMap: {
      const MapData& m = v.map_data();
      if (m.is_struct) {
        if (f.sharp_v) out->append(v.GoTypeName(false));
        out->push_back('{');
        for (size_t i = 0; i < m.entries.size(); ++i) {
          if (i > 0) out->append(f.sharp_v ? ", " : " ");
          if (f.plus_v || f.sharp_v) {
            out->append(m.entries[i].first);
            out->push_back(':');
          }
          PrintValue(out, m.entries[i].second, f, depth + 1);
        }
        out->push_back('}');
        return;
      }
      if (f.sharp_v) {
        out->append(v.GoTypeName(false));
        out->push_back('{');
      } else {
        out->append("map[");
      }
      for (size_t i = 0; i < m.entries.size(); ++i) {
        if (i > 0) out->append(f.sharp_v ? ", " : " ");
        PrintValue(out, Value(m.entries[i].first), f, depth + 1);
        out->push_back(':');
        PrintValue(out, m.entries[i].second, f, depth + 1);
      }
      out->push_back(f.sharp_v ? '}' : ']');
      return;
    }
    default:
      PrintScalar(out, v, f);
      return;
  }
}

}  // namespace

std::string GoQuote(std::string_view s) { return QuoteWith(s, '"', false); }

void AppendValue(std::string* out, const Value& v) {
  if (v.methods() != nullptr) {
    PrintValue(out, v, Spec{}, 0);
    return;
  }
  switch (v.kind()) {
    case Value::Kind::kString:
      out->append(v.string_value());
      return;
    case Value::Kind::kInt:
      out->append(std::to_string(v.int_value()));
      return;
    case Value::Kind::kBool:
      out->append(v.bool_value() ? "true" : "false");
      return;
    default:
      PrintValue(out, v, Spec{}, 0);
  }
}

std::string FormatValue(const Value& v) {
  std::string s;
  AppendValue(&s, v);
  return s;
}

std::string GoSprint(std::span<const Value> args) {
  std::string out;
  bool prev_string = false;
  for (size_t i = 0; i < args.size(); ++i) {
    bool is_string = args[i].kind() == Value::Kind::kString;
    if (i > 0 && !is_string && !prev_string) out.push_back(' ');
    AppendValue(&out, args[i]);
    prev_string = is_string;
  }
  return out;
}

std::string GoSprintln(std::span<const Value> args) {
  std::string out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) out.push_back(' ');
    AppendValue(&out, args[i]);
  }
  out.push_back('\n');
  return out;
}

namespace {

bool TooLarge(int64_t x) { return x > 1000000 || x < -1000000; }

// fmt's parsenum: digits at s[i..end).
bool ParseNum(std::string_view s, size_t* i, size_t end, int* num) {
  *num = 0;
  bool isnum = false;
  if (*i >= end) return false;
  while (*i < end && s[*i] >= '0' && s[*i] <= '9') {
    if (TooLarge(*num)) {
      *i = end;
      *num = 0;
      return false;
    }
    *num = *num * 10 + (s[*i] - '0');
    isnum = true;
    ++*i;
  }
  return isnum;
}

// fmt's intFromArg (for '*').
bool IntFromArg(std::span<const Value> args, size_t* argi, int* num) {
  *num = 0;
  if (*argi >= args.size()) return false;
  const Value& a = args[*argi];
  bool ok = false;
  if (a.kind() == Value::Kind::kInt) {
    *num = static_cast<int>(a.int_value());
    ok = static_cast<int64_t>(*num) == a.int_value();
  } else if (a.kind() == Value::Kind::kUint && a.uint_value() <= INT32_MAX) {
    *num = static_cast<int>(a.uint_value());
    ok = true;
  }
  ++*argi;
  if (TooLarge(*num)) {
    *num = 0;
    ok = false;
  }
  return ok;
}

}  // namespace

// A transcription of Go's fmt.(*pp).doPrintf control flow.
std::string GoSprintf(std::string_view format, std::span<const Value> args) {
  std::string out;
  size_t argi = 0;
  size_t end = format.size();
  bool reordered = false;
  for (size_t i = 0; i < end;) {
    bool good_arg_num = true;
    size_t lasti = i;
    while (i < end && format[i] != '%') ++i;
    out.append(format.substr(lasti, i - lasti));
    if (i >= end) break;
    ++i;  // skip %
    Spec f;
    for (; i < end; ++i) {
      char c = format[i];
      if (c == '#') {
        f.sharp = true;
      } else if (c == '0') {
        f.zero = !f.minus;
      } else if (c == '+') {
        f.plus = true;
      } else if (c == '-') {
        f.minus = true;
        f.zero = false;
      } else if (c == ' ') {
        f.space = true;
      } else {
        break;
      }
    }
    // Explicit argument index "[n]".
    auto arg_number = [&](size_t* pos, bool* found) {
      *found = false;
      if (*pos >= end || format[*pos] != '[') return;
      reordered = true;
      std::string_view rest = format.substr(*pos);
      size_t wid = 1;
      bool ok = false;
      int index = 0;
      if (rest.size() >= 3) {
        for (size_t k = 1; k < rest.size(); ++k) {
          if (rest[k] == ']') {
            size_t ni = 1;
            int n;
            bool isnum = ParseNum(rest, &ni, k, &n);
            wid = k + 1;
            if (isnum && ni == k) {
              ok = true;
              index = n - 1;
            }
            break;
          }
        }
      }
      if (ok && index >= 0 && static_cast<size_t>(index) < args.size()) {
        argi = index;
        *pos += wid;
        *found = true;
        return;
      }
      good_arg_num = false;
      *pos += wid;
      *found = ok;
    };
    bool after_index;
    arg_number(&i, &after_index);
    // Width.
    if (i < end && format[i] == '*') {
      ++i;
      int w;
      f.wid_present = IntFromArg(args, &argi, &w);
      f.wid = w;
      if (!f.wid_present) out.append("%!(BADWIDTH)");
      if (f.wid < 0) {
        f.wid = -f.wid;
        f.minus = true;
        f.zero = false;
      }
      after_index = false;
    } else {
      int w;
      f.wid_present = ParseNum(format, &i, end, &w);
      f.wid = w;
      if (after_index && f.wid_present) good_arg_num = false;
    }
    // Precision.
    if (i + 1 < end && format[i] == '.') {
      ++i;
      if (after_index) good_arg_num = false;
      arg_number(&i, &after_index);
      if (i < end && format[i] == '*') {
        ++i;
        int p;
        f.prec_present = IntFromArg(args, &argi, &p);
        f.prec = p;
        if (f.prec < 0) {
          f.prec = 0;
          f.prec_present = false;
        }
        if (!f.prec_present) out.append("%!(BADPREC)");
        after_index = false;
      } else {
        int p;
        f.prec_present = ParseNum(format, &i, end, &p);
        f.prec = p;
        if (!f.prec_present) {
          f.prec = 0;
          f.prec_present = true;
        }
      }
    }
    if (!after_index) arg_number(&i, &after_index);
    if (i >= end) {
      out.append("%!(NOVERB)");
      break;
    }
    size_t vsz;
    uint32_t verb = DecodeRune(format, i, &vsz);
    i += vsz;
    if (verb == '%') {
      out.push_back('%');
      continue;
    }
    if (!good_arg_num) {
      out.append("%!");
      AppendRune(&out, verb);
      out.append("(BADINDEX)");
      continue;
    }
    if (argi >= args.size()) {
      out.append("%!");
      AppendRune(&out, verb);
      out.append("(MISSING)");
      continue;
    }
    if (verb == 'v') {
      f.sharp_v = f.sharp;
      f.sharp = false;
      f.plus_v = f.plus;
      f.plus = false;
    }
    f.verb = verb;
    PrintValue(&out, args[argi++], f, 0);
  }
  if (!reordered && argi < args.size()) {
    out.append("%!(EXTRA ");
    for (size_t k = argi; k < args.size(); ++k) {
      if (k > argi) out.append(", ");
      if (args[k].IsNilOrInvalid()) {
        out.append("<nil>");
      } else {
        out.append(args[k].GoTypeName(false));
        out.push_back('=');
        AppendValue(&out, args[k]);
      }
    }
    out.push_back(')');
  }
  return out;
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '\0':
        out.append("\xEF\xBF\xBD");
        break;
      case '"':
        out.append("&#34;");
        break;
      case '\'':
        out.append("&#39;");
        break;
      case '&':
        out.append("&amp;");
        break;
      case '<':
        out.append("&lt;");
        break;
      case '>':
        out.append("&gt;");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string JsEscape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if (c < 0x80) {
      switch (c) {
        case '\\': out.append("\\\\"); continue;
        case '\'': out.append("\\'"); continue;
        case '"': out.append("\\\""); continue;
        case '<': out.append("\\u003C"); continue;
        case '>': out.append("\\u003E"); continue;
        case '&': out.append("\\u0026"); continue;
        case '=': out.append("\\u003D"); continue;
      }
      if (c < ' ') {
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
      } else {
        out.push_back(static_cast<char>(c));
      }
      continue;
    }
    size_t sz;
    uint32_t r = DecodeRune(s, i, &sz);
    if (IsPrintRune(r)) {
      out.append(s.substr(i, sz));
    } else {
      char buf[16];
      snprintf(buf, sizeof(buf), "\\u%04X", r);
      out.append(buf);
    }
    i += sz - 1;
  }
  return out;
}

std::string UrlQueryEscape(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

}  // namespace sw::tmpl
