// tmpl/parse.cc: lexer and parser with Go text/template's grammar and error texts.
//
// The lexer produces the whole token vector up front (Go runs it as a goroutine; the order of
// tokens and the error token are the same). The parser keeps Go's 3-token lookahead buffer so
// that "the current line" used in parse errors is the line of the furthest token read, as in Go.
#include <locale.h>
#include <wctype.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "tmpl/ast.h"

namespace sw::tmpl {
namespace {

enum class Item : uint8_t {
  kError,
  kBool,
  kChar,
  kCharConstant,
  kComplex,
  kAssign,
  kDeclare,
  kEOF,
  kField,
  kIdentifier,
  kLeftDelim,
  kLeftParen,
  kNumber,
  kPipe,
  kRawString,
  kRightDelim,
  kRightParen,
  kSpace,
  kString,
  kText,
  kVariable,
  kKeyword,  // marker: everything after is a keyword
  kBlock,
  kBreak,
  kContinue,
  kDot,
  kDefine,
  kElse,
  kEnd,
  kIf,
  kNil,
  kRange,
  kTemplate,
  kWith,
};

struct Token {
  Item typ;
  uint32_t pos;
  std::string val;
  int line;
};

Item Keyword(std::string_view w) {
  static const std::pair<const char*, Item> kKeys[] = {
      {".", Item::kDot},          {"block", Item::kBlock}, {"break", Item::kBreak},
      {"continue", Item::kContinue}, {"define", Item::kDefine}, {"else", Item::kElse},
      {"end", Item::kEnd},        {"if", Item::kIf},       {"range", Item::kRange},
      {"nil", Item::kNil},        {"template", Item::kTemplate}, {"with", Item::kWith},
  };
  for (const auto& [k, t] : kKeys) {
    if (w == k) return t;
  }
  return Item::kError;
}

bool IsSpace(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsAlnum(int c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// unicode.IsLetter || unicode.IsDigit for non-ASCII runes, through glibc's C.UTF-8 tables
// (alnum); without that locale, everything outside the common symbol blocks counts as a letter.
bool IsLetterRune(uint32_t r) {
  if (r < 0x80) return IsAlnum(static_cast<int>(r));
  if (r > 0x10FFFF || (r >= 0xD800 && r < 0xE000) || r == 0xFFFD) return false;
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  if (loc != static_cast<locale_t>(0)) return iswalnum_l(static_cast<wint_t>(r), loc) != 0;
  if (r <= 0xBF) return r == 0xAA || r == 0xB5 || r == 0xBA;
  if (r == 0xD7 || r == 0xF7) return false;
  if (r >= 0x2000 && r <= 0x2BFF) return false;
  if (r >= 0x3000 && r <= 0x303F) return false;
  if (r >= 0xE000 && r <= 0xF8FF) return false;
  if (r >= 0x1F000 && r <= 0x1FAFF) return false;
  return true;
}

// %#U of a rune: "U+0023 '#'".
std::string SharpU(uint32_t r) {
  char buf[32];
  snprintf(buf, sizeof(buf), "U+%04X", r);
  std::string s = buf;
  if (IsPrintRune(r)) {
    s += " '";
    AppendRune(&s, r);
    s += "'";
  }
  return s;
}

class Lexer {
 public:
  explicit Lexer(std::string_view in) : in_(in) {}

  std::vector<Token> Run() {
    bool more = true;
    State st = State::kText;
    while (more) {
      switch (st) {
        case State::kText:
          st = LexText(&more);
          break;
        case State::kInside:
          st = LexInside(&more);
          break;
      }
    }
    return std::move(items_);
  }

 private:
  enum class State { kText, kInside };
  static constexpr std::string_view kLeft = "{{";
  static constexpr std::string_view kRight = "}}";

  int LineAt(size_t pos) {
    // Lines are counted incrementally; positions only grow.
    while (line_pos_ < pos && line_pos_ < in_.size()) {
      if (in_[line_pos_] == '\n') ++line_count_;
      ++line_pos_;
    }
    return 1 + line_count_;
  }
  void Emit(Item t) {
    items_.push_back(Token{t, static_cast<uint32_t>(start_),
                           std::string(in_.substr(start_, pos_ - start_)), LineAt(start_)});
    start_ = pos_;
  }
  void ErrorItem(std::string msg, bool* more) {
    items_.push_back(Token{Item::kError, static_cast<uint32_t>(start_), std::move(msg),
                           LineAt(start_)});
    *more = false;
  }
  int Peek() const { return pos_ < in_.size() ? static_cast<unsigned char>(in_[pos_]) : -1; }
  int Next() {
    if (pos_ >= in_.size()) {
      ++pos_;  // so that Backup() is symmetric
      return -1;
    }
    return static_cast<unsigned char>(in_[pos_++]);
  }
  void Backup() { --pos_; }
  std::string_view Rest(size_t p) const {
    return p <= in_.size() ? in_.substr(p) : std::string_view();
  }
  static bool HasLeftTrim(std::string_view s) {
    return s.size() >= 2 && s[0] == '-' && IsSpace(s[1]);
  }
  static bool HasRightTrim(std::string_view s) {
    return s.size() >= 2 && IsSpace(s[0]) && s[1] == '-';
  }
  bool AtRightDelim(bool* trim) const {
    if (HasRightTrim(Rest(pos_)) && Rest(pos_ + 2).starts_with(kRight)) {
      *trim = true;
      return true;
    }
    *trim = false;
    return Rest(pos_).starts_with(kRight);
  }
  void SkipLeftSpace() {
    while (pos_ < in_.size() && IsSpace(in_[pos_])) ++pos_;
  }

  State LexText(bool* more) {
    size_t x = in_.find(kLeft, pos_);
    if (x != std::string_view::npos) {
      pos_ = x;
      size_t trim = 0;
      if (HasLeftTrim(Rest(pos_ + 2))) {
        size_t p = pos_;
        while (p > start_ && IsSpace(in_[p - 1])) --p;
        trim = pos_ - p;
      }
      pos_ -= trim;
      if (pos_ > start_) Emit(Item::kText);
      pos_ += trim;
      start_ = pos_;
      return LexLeftDelim(more);
    }
    pos_ = in_.size();
    if (pos_ > start_) Emit(Item::kText);
    Emit(Item::kEOF);
    *more = false;
    return State::kText;
  }

  State LexLeftDelim(bool* more) {
    pos_ += 2;
    bool trim = HasLeftTrim(Rest(pos_));
    size_t after = trim ? 2 : 0;
    if (Rest(pos_ + after).starts_with("/*")) {
      pos_ += after;
      start_ = pos_;
      return LexComment(more);
    }
    Emit(Item::kLeftDelim);
    pos_ += after;
    start_ = pos_;
    paren_depth_ = 0;
    return State::kInside;
  }

  State LexComment(bool* more) {
    pos_ += 2;
    size_t i = in_.find("*/", pos_);
    if (i == std::string_view::npos) {
      ErrorItem("unclosed comment", more);
      return State::kText;
    }
    pos_ = i + 2;
    bool trim;
    if (!AtRightDelim(&trim)) {
      ErrorItem("comment ends before closing delimiter", more);
      return State::kText;
    }
    if (trim) pos_ += 2;
    pos_ += 2;
    if (trim) SkipLeftSpace();
    start_ = pos_;
    return State::kText;
  }

  State LexRightDelim() {
    bool trim = HasRightTrim(Rest(pos_));
    if (trim) {
      pos_ += 2;
      start_ = pos_;
    }
    pos_ += 2;
    Emit(Item::kRightDelim);
    if (trim) {
      SkipLeftSpace();
      start_ = pos_;
    }
    return State::kText;
  }

  bool AlnumAt(size_t p, size_t* sz) const {
    if (p >= in_.size()) return false;
    uint32_t r = DecodeRune(in_, p, sz);
    return IsLetterRune(r);
  }
  void SkipAlnum() {
    size_t sz;
    while (AlnumAt(pos_, &sz)) pos_ += sz;
  }

  bool AtTerminator() const {
    int r = Peek();
    if (r < 0 || IsSpace(r)) return true;
    switch (r) {
      case '.':
      case ',':
      case '|':
      case ':':
      case ')':
      case '(':
        return true;
    }
    return Rest(pos_).starts_with(kRight);
  }

  State LexInside(bool* more) {
    bool trim;
    if (AtRightDelim(&trim)) {
      if (paren_depth_ == 0) return LexRightDelim();
      ErrorItem("unclosed left paren", more);
      return State::kText;
    }
    int r = Next();
    if (r < 0) {
      ErrorItem("unclosed action", more);
      return State::kText;
    }
    if (IsSpace(r)) {
      Backup();
      return LexSpace();
    }
    switch (r) {
      case '=':
        Emit(Item::kAssign);
        return State::kInside;
      case ':':
        if (Next() != '=') {
          ErrorItem("expected :=", more);
          return State::kText;
        }
        Emit(Item::kDeclare);
        return State::kInside;
      case '|':
        Emit(Item::kPipe);
        return State::kInside;
      case '"':
        return LexQuote(more, '"', Item::kString, "unterminated quoted string");
      case '\'':
        return LexQuote(more, '\'', Item::kCharConstant, "unterminated character constant");
      case '`':
        return LexRaw(more);
      case '$':
        return LexFieldOrVariable(more, Item::kVariable);
      case '(':
        Emit(Item::kLeftParen);
        ++paren_depth_;
        return State::kInside;
      case ')':
        Emit(Item::kRightParen);
        --paren_depth_;
        if (paren_depth_ < 0) {
          ErrorItem("unexpected right paren U+0029 ')'", more);
        }
        return State::kInside;
    }
    if (r == '.') {
      int c = Peek();
      if (c < '0' || c > '9') return LexFieldOrVariable(more, Item::kField);
    }
    if (r == '.' || r == '+' || r == '-' || (r >= '0' && r <= '9')) {
      Backup();
      return LexNumber(more);
    }
    size_t rsz;
    if (AlnumAt(pos_ - 1, &rsz)) {
      Backup();
      return LexIdentifier(more);
    }
    if (r < 0x80 && r >= 0x20 && r < 0x7f) {
      Emit(Item::kChar);
      return State::kInside;
    }
    size_t sz;
    uint32_t rune = DecodeRune(in_, pos_ - 1, &sz);
    ErrorItem("unrecognized character in action: " + SharpU(rune), more);
    return State::kText;
  }

  State LexSpace() {
    size_t n = 0;
    while (pos_ < in_.size() && IsSpace(in_[pos_])) {
      ++pos_;
      ++n;
    }
    if (HasRightTrim(Rest(pos_ - 1)) && Rest(pos_ + 1).starts_with(kRight)) {
      --pos_;
      if (n == 1) return LexRightDelim();
    }
    Emit(Item::kSpace);
    return State::kInside;
  }

  std::string BadChar() {
    size_t sz;
    uint32_t r = pos_ < in_.size() ? DecodeRune(in_, pos_, &sz) : 0xFFFFFFFF;
    if (r == 0xFFFFFFFF) return "bad character U+FFFFFFFF";  // not reachable in practice
    return "bad character " + SharpU(r);
  }

  State LexIdentifier(bool* more) {
    SkipAlnum();
    std::string_view word = in_.substr(start_, pos_ - start_);
    if (!AtTerminator()) {
      ErrorItem(BadChar(), more);
      return State::kText;
    }
    Item k = Keyword(word);
    if (k != Item::kError) {
      Emit(k);
    } else if (word == "true" || word == "false") {
      Emit(Item::kBool);
    } else {
      Emit(Item::kIdentifier);
    }
    return State::kInside;
  }

  State LexFieldOrVariable(bool* more, Item typ) {
    if (AtTerminator()) {
      Emit(typ == Item::kVariable ? Item::kVariable : Item::kDot);
      return State::kInside;
    }
    SkipAlnum();
    if (!AtTerminator()) {
      ErrorItem(BadChar(), more);
      return State::kText;
    }
    Emit(typ);
    return State::kInside;
  }

  State LexQuote(bool* more, char q, Item typ, const char* err) {
    for (;;) {
      int c = Next();
      if (c == '\\') {
        c = Next();
        if (c >= 0 && c != '\n') continue;
      }
      if (c < 0 || c == '\n') {
        if (c < 0) Backup();
        ErrorItem(err, more);
        return State::kText;
      }
      if (c == q) break;
    }
    Emit(typ);
    return State::kInside;
  }

  State LexRaw(bool* more) {
    size_t i = in_.find('`', pos_);
    if (i == std::string_view::npos) {
      pos_ = in_.size();
      ErrorItem("unterminated raw quoted string", more);
      return State::kText;
    }
    pos_ = i + 1;
    Emit(Item::kRawString);
    return State::kInside;
  }

  bool Accept(const char* valid) {
    int c = Peek();
    if (c > 0 && strchr(valid, c) != nullptr) {
      ++pos_;
      return true;
    }
    return false;
  }
  void AcceptRun(const char* valid) {
    while (Accept(valid)) {
    }
  }
  bool ScanNumber() {
    Accept("+-");
    const char* digits = "0123456789_";
    if (Accept("0")) {
      if (Accept("xX")) {
        digits = "0123456789abcdefABCDEF_";
      } else if (Accept("oO")) {
        digits = "01234567_";
      } else if (Accept("bB")) {
        digits = "01_";
      }
    }
    AcceptRun(digits);
    if (Accept(".")) AcceptRun(digits);
    size_t dl = strlen(digits);
    if (dl == 11 && Accept("eE")) {
      Accept("+-");
      AcceptRun("0123456789_");
    }
    if (dl == 23 && Accept("pP")) {
      Accept("+-");
      AcceptRun("0123456789_");
    }
    Accept("i");
    size_t sz;
    if (AlnumAt(pos_, &sz)) {
      pos_ += sz;
      return false;
    }
    return true;
  }
  State LexNumber(bool* more) {
    if (!ScanNumber()) {
      ErrorItem("bad number syntax: " + GoQuote(in_.substr(start_, pos_ - start_)), more);
      return State::kText;
    }
    int sign = Peek();
    if (sign == '+' || sign == '-') {
      if (!ScanNumber() || in_[pos_ - 1] != 'i') {
        ErrorItem("bad number syntax: " + GoQuote(in_.substr(start_, pos_ - start_)), more);
        return State::kText;
      }
      Emit(Item::kComplex);
    } else {
      Emit(Item::kNumber);
    }
    return State::kInside;
  }

  std::string_view in_;
  size_t pos_ = 0;
  size_t start_ = 0;
  int paren_depth_ = 0;
  size_t line_pos_ = 0;
  int line_count_ = 0;
  std::vector<Token> items_;
};

// Go's item.String().
std::string ItemString(const Token& t) {
  if (t.typ == Item::kEOF) return "EOF";
  if (t.typ == Item::kError) return t.val;
  if (t.typ > Item::kKeyword) return "<" + t.val + ">";
  if (t.val.size() > 10) {
    // %.10q: the first 10 runes, quoted.
    size_t i = 0, n = 0;
    while (i < t.val.size() && n < 10) {
      size_t sz;
      DecodeRune(t.val, i, &sz);
      i += sz;
      ++n;
    }
    return GoQuote(t.val.substr(0, i)) + "...";
  }
  return GoQuote(t.val);
}

int HexVal(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// strconv.Unquote for "..." / `...` / '...'; false on invalid syntax.
bool Unquote(std::string_view s, std::string* out) {
  out->clear();
  if (s.size() < 2) return false;
  char q = s.front();
  if (q != s.back()) return false;
  s = s.substr(1, s.size() - 2);
  if (q == '`') {
    if (s.find('`') != std::string_view::npos) return false;
    for (char c : s) {
      if (c != '\r') out->push_back(c);
    }
    return true;
  }
  if (q != '"' && q != '\'') return false;
  size_t i = 0;
  int runes = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == q && q == '\'') return false;
    if (c == '\n') return false;
    if (c != '\\') {
      size_t sz;
      uint32_t r = DecodeRune(s, i, &sz);
      if (q == '\'' && r == 0xFFFD && sz == 1) return false;
      out->append(s.substr(i, sz));
      i += sz;
      ++runes;
      continue;
    }
    if (i + 1 >= s.size()) return false;
    char e = s[i + 1];
    i += 2;
    ++runes;
    switch (e) {
      case 'a': out->push_back('\a'); break;
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'v': out->push_back('\v'); break;
      case '\\': out->push_back('\\'); break;
      case '\'':
      case '"':
        if (e != q) return false;
        out->push_back(e);
        break;
      case 'x':
      case 'u':
      case 'U': {
        size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        if (i + n > s.size()) return false;
        uint32_t v = 0;
        for (size_t k = 0; k < n; ++k) {
          int h = HexVal(s[i + k]);
          if (h < 0) return false;
          v = v * 16 + h;
        }
        i += n;
        if (e == 'x') {
          if (q == '\'') {
            AppendRune(out, v);
          } else {
            out->push_back(static_cast<char>(v));
          }
        } else {
          if (v > 0x10FFFF || (v >= 0xD800 && v < 0xE000)) return false;
          AppendRune(out, v);
        }
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          if (i + 2 > s.size()) return false;
          uint32_t v = e - '0';
          for (size_t k = 0; k < 2; ++k) {
            char d = s[i + k];
            if (d < '0' || d > '7') return false;
            v = v * 8 + (d - '0');
          }
          if (v > 255) return false;
          i += 2;
          if (q == '\'') {
            AppendRune(out, v);
          } else {
            out->push_back(static_cast<char>(v));
          }
          break;
        }
        return false;
    }
  }
  if (q == '\'' && runes != 1) return false;
  return true;
}

struct ParseError {};

class Parser {
 public:
  Parser(std::string_view name, std::shared_ptr<const std::string> text, TemplateSet* set)
      : parse_name_(name), text_(std::move(text)), set_(set) {
    tokens_ = Lexer(*text_).Run();
  }

  Status Parse() {
    auto root = std::make_unique<Node>(NodeType::kList, Peek().pos);
    vars_ = {"$"};
    while (Peek().typ != Item::kEOF) {
      if (Peek().typ == Item::kLeftDelim) {
        Token delim = Next();
        if (NextNonSpace().typ == Item::kDefine) {
          SW_RETURN_IF_ERROR(ParseDefinition());
          continue;
        }
        Backup2(delim);
      }
      std::unique_ptr<Node> n;
      SW_RETURN_IF_ERROR(TextOrAction(&n));
      if (n->type == NodeType::kBreak && n->text == "end") {
        return Errorf("unexpected {{end}}");
      }
      if (n->type == NodeType::kBreak && n->text == "else") {
        return Errorf("unexpected {{else}}");
      }
      root->nodes.push_back(std::move(n));
    }
    return Add(std::string(parse_name_), std::move(root));
  }

 private:
  // Markers for {{end}} / {{else}} returned from TextOrAction: a kBreak node with text "end" /
  // "else" (real break nodes have empty text).
  static bool IsEnd(const Node& n) { return n.type == NodeType::kBreak && n.text == "end"; }
  static bool IsElse(const Node& n) { return n.type == NodeType::kBreak && n.text == "else"; }

  Status Errorf(const std::string& msg) {
    return Status::InvalidArgument("template: " + std::string(parse_name_) + ":" +
                                   std::to_string(token_[0].line) + ": " + msg);
  }

  const Token& Pull() {
    const Token& t = tokens_[std::min(idx_, tokens_.size() - 1)];
    if (idx_ < tokens_.size()) ++idx_;
    return t;
  }
  Token Next() {
    if (peek_count_ > 0) {
      --peek_count_;
    } else {
      token_[0] = Pull();
    }
    return token_[peek_count_];
  }
  void Backup() { ++peek_count_; }
  void Backup2(const Token& t1) {
    token_[1] = t1;
    peek_count_ = 2;
  }
  void Backup3(const Token& t2, const Token& t1) {
    token_[1] = t1;
    token_[2] = t2;
    peek_count_ = 3;
  }
  Token Peek() {
    if (peek_count_ > 0) return token_[peek_count_ - 1];
    peek_count_ = 1;
    token_[0] = Pull();
    return token_[0];
  }
  Token NextNonSpace() {
    Token t;
    for (;;) {
      t = Next();
      if (t.typ != Item::kSpace) break;
    }
    return t;
  }
  Token PeekNonSpace() {
    Token t = NextNonSpace();
    Backup();
    return t;
  }

  Status Unexpected(const Token& t, const std::string& context) {
    if (t.typ == Item::kError) {
      std::string extra;
      if (action_line_ != 0 && action_line_ != t.line) {
        extra = " in action started at " + std::string(parse_name_) + ":" +
                std::to_string(action_line_);
        if (t.val.ends_with(" action")) extra = extra.substr(std::strlen(" in action"));
      }
      return Errorf(t.val + extra);
    }
    return Errorf("unexpected " + ItemString(t) + " in " + context);
  }
  Status Expect(Item want, const std::string& context, Token* out) {
    *out = NextNonSpace();
    if (out->typ != want) return Unexpected(*out, context);
    return Status::OK();
  }

  static void AllocHints(Node* n) {
    if (n == nullptr) return;
    if (!n->ident.empty() && (n->type == NodeType::kField || n->type == NodeType::kVariable ||
                              n->type == NodeType::kChain)) {
      n->hints = std::make_unique<std::atomic<uint32_t>[]>(n->ident.size());
      for (size_t i = 0; i < n->ident.size(); ++i) n->hints[i].store(0);
    }
    for (auto& c : n->nodes) AllocHints(c.get());
    for (auto& c : n->decl) AllocHints(c.get());
    AllocHints(n->pipe.get());
    AllocHints(n->list.get());
    AllocHints(n->else_list.get());
  }

  Status Add(const std::string& name, std::unique_ptr<Node> root) {
    AllocHints(root.get());
    auto it = set_->trees.find(name);
    if (it == set_->trees.end() || IsEmptyTree(it->second->root.get())) {
      auto tree = std::make_unique<Tree>();
      tree->name = name;
      tree->parse_name = std::string(parse_name_);
      tree->text = text_;
      tree->root = std::move(root);
      set_->trees[name] = std::move(tree);
      return Status::OK();
    }
    if (!IsEmptyTree(root.get())) {
      return Errorf("template: multiple definition of template " + GoQuote(name));
    }
    return Status::OK();
  }

  static bool IsEmptyTree(const Node* n) {
    if (n == nullptr) return true;
    switch (n->type) {
      case NodeType::kList:
        for (const auto& c : n->nodes) {
          if (!IsEmptyTree(c.get())) return false;
        }
        return true;
      case NodeType::kText:
        for (char c : n->text) {
          if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')) {
            return false;
          }
        }
        return true;
      default:
        return false;
    }
  }

  Status ParseDefinition() {
    const std::string context = "define clause";
    Token name = NextNonSpace();
    if (name.typ != Item::kString && name.typ != Item::kRawString) {
      return Unexpected(name, context);
    }
    std::string tname;
    if (!Unquote(name.val, &tname)) return Errorf("invalid syntax");
    Token t;
    SW_RETURN_IF_ERROR(Expect(Item::kRightDelim, context, &t));
    std::vector<std::string> saved_vars = std::move(vars_);
    vars_ = {"$"};
    int saved_depth = range_depth_;
    range_depth_ = 0;
    std::unique_ptr<Node> list, end;
    SW_RETURN_IF_ERROR(ItemList(&list, &end));
    if (!IsEnd(*end)) return Errorf("unexpected " + end->String() + " in " + context);
    SW_RETURN_IF_ERROR(Add(tname, std::move(list)));
    vars_ = std::move(saved_vars);
    range_depth_ = saved_depth;
    return Status::OK();
  }

  Status ItemList(std::unique_ptr<Node>* list, std::unique_ptr<Node>* next) {
    *list = std::make_unique<Node>(NodeType::kList, PeekNonSpace().pos);
    while (PeekNonSpace().typ != Item::kEOF) {
      std::unique_ptr<Node> n;
      SW_RETURN_IF_ERROR(TextOrAction(&n));
      if (IsEnd(*n) || IsElse(*n)) {
        *next = std::move(n);
        return Status::OK();
      }
      (*list)->nodes.push_back(std::move(n));
    }
    return Errorf("unexpected EOF");
  }

  Status TextOrAction(std::unique_ptr<Node>* out) {
    Token t = NextNonSpace();
    switch (t.typ) {
      case Item::kText:
        *out = std::make_unique<Node>(NodeType::kText, t.pos);
        (*out)->text = t.val;
        return Status::OK();
      case Item::kLeftDelim: {
        action_line_ = t.line;
        Status st = Action(out);
        action_line_ = 0;
        return st;
      }
      default:
        return Unexpected(t, "input");
    }
  }

  Status Action(std::unique_ptr<Node>* out) {
    Token t = NextNonSpace();
    switch (t.typ) {
      case Item::kBlock:
        return BlockControl(out);
      case Item::kBreak:
      case Item::kContinue: {
        const char* what = t.typ == Item::kBreak ? "{{break}}" : "{{continue}}";
        Token n = NextNonSpace();
        if (n.typ != Item::kRightDelim) return Unexpected(n, what);
        if (range_depth_ == 0) {
          return Errorf(std::string(what) + " outside {{range}}");
        }
        *out = std::make_unique<Node>(
            t.typ == Item::kBreak ? NodeType::kBreak : NodeType::kContinue, t.pos);
        return Status::OK();
      }
      case Item::kElse: {
        Token p = PeekNonSpace();
        if (p.typ == Item::kIf) {
          *out = std::make_unique<Node>(NodeType::kBreak, p.pos);
        } else {
          Token r;
          SW_RETURN_IF_ERROR(Expect(Item::kRightDelim, "else", &r));
          *out = std::make_unique<Node>(NodeType::kBreak, r.pos);
        }
        (*out)->text = "else";
        return Status::OK();
      }
      case Item::kEnd: {
        Token r;
        SW_RETURN_IF_ERROR(Expect(Item::kRightDelim, "end", &r));
        *out = std::make_unique<Node>(NodeType::kBreak, r.pos);
        (*out)->text = "end";
        return Status::OK();
      }
      case Item::kIf:
        return Control(NodeType::kIf, "if", out);
      case Item::kRange:
        return Control(NodeType::kRange, "range", out);
      case Item::kWith:
        return Control(NodeType::kWith, "with", out);
      case Item::kTemplate:
        return TemplateControl(out);
      default:
        break;
    }
    Backup();
    Token first = Peek();
    auto action = std::make_unique<Node>(NodeType::kAction, first.pos);
    SW_RETURN_IF_ERROR(Pipeline("command", Item::kRightDelim, &action->pipe));
    *out = std::move(action);
    return Status::OK();
  }

  // Nesting guard: parentheses and control structures recurse; Go has no limit (its stacks
  // grow), we stop at kMaxNesting to keep the C++ stack bounded.
  struct DepthGuard {
    explicit DepthGuard(int* d) : d(d) { ++*d; }
    ~DepthGuard() { --*d; }
    int* d;
  };
  static constexpr int kMaxNesting = 1000;

  Status Pipeline(const std::string& context, Item end, std::unique_ptr<Node>* out) {
    DepthGuard guard(&depth_);
    if (depth_ > kMaxNesting) return Errorf("template nesting too deep");
    Token t = PeekNonSpace();
    auto pipe = std::make_unique<Node>(NodeType::kPipe, t.pos);
    for (;;) {  // decls
      Token v = PeekNonSpace();
      if (v.typ != Item::kVariable) break;
      Next();
      Token after = Peek();
      Token next = PeekNonSpace();
      if (next.typ == Item::kAssign || next.typ == Item::kDeclare) {
        pipe->is_assign = next.typ == Item::kAssign;
        NextNonSpace();
        auto var = std::make_unique<Node>(NodeType::kVariable, v.pos);
        var->ident = {v.val};
        pipe->decl.push_back(std::move(var));
        vars_.push_back(v.val);
        break;
      }
      if (next.typ == Item::kChar && next.val == ",") {
        NextNonSpace();
        auto var = std::make_unique<Node>(NodeType::kVariable, v.pos);
        var->ident = {v.val};
        pipe->decl.push_back(std::move(var));
        vars_.push_back(v.val);
        if (context == "range" && pipe->decl.size() < 2) {
          Item p = PeekNonSpace().typ;
          if (p == Item::kVariable || p == Item::kRightDelim || p == Item::kRightParen) {
            continue;
          }
          return Errorf("range can only initialize variables");
        }
        return Errorf("too many declarations in " + context);
      }
      if (after.typ == Item::kSpace) {
        Backup3(v, after);
      } else {
        Backup2(v);
      }
      break;
    }
    for (;;) {
      Token tok = NextNonSpace();
      if (tok.typ == end) {
        if (pipe->nodes.empty()) return Errorf("missing value for " + context);
        for (size_t i = 1; i < pipe->nodes.size(); ++i) {
          NodeType ty = pipe->nodes[i]->nodes[0]->type;
          if (ty == NodeType::kBool || ty == NodeType::kDot || ty == NodeType::kNil ||
              ty == NodeType::kNumber || ty == NodeType::kString) {
            return Errorf("non executable command in pipeline stage " + std::to_string(i + 1));
          }
        }
        *out = std::move(pipe);
        return Status::OK();
      }
      switch (tok.typ) {
        case Item::kBool:
        case Item::kCharConstant:
        case Item::kComplex:
        case Item::kDot:
        case Item::kField:
        case Item::kIdentifier:
        case Item::kNumber:
        case Item::kNil:
        case Item::kRawString:
        case Item::kString:
        case Item::kVariable:
        case Item::kLeftParen: {
          Backup();
          std::unique_ptr<Node> cmd;
          SW_RETURN_IF_ERROR(Command(&cmd));
          pipe->nodes.push_back(std::move(cmd));
          break;
        }
        default:
          return Unexpected(tok, context);
      }
    }
  }

  Status Control(NodeType type, const std::string& context, std::unique_ptr<Node>* out) {
    DepthGuard guard(&depth_);
    if (depth_ > kMaxNesting) return Errorf("template nesting too deep");
    size_t nvars = vars_.size();
    std::unique_ptr<Node> pipe;
    Status st = Pipeline(context, Item::kRightDelim, &pipe);
    if (!st.ok()) return st;
    if (type == NodeType::kRange) ++range_depth_;
    std::unique_ptr<Node> list, next;
    st = ItemList(&list, &next);
    if (type == NodeType::kRange) --range_depth_;
    if (!st.ok()) return st;
    std::unique_ptr<Node> else_list;
    if (IsElse(*next)) {
      if (type == NodeType::kIf && Peek().typ == Item::kIf) {
        Next();
        else_list = std::make_unique<Node>(NodeType::kList, next->pos);
        std::unique_ptr<Node> nested;
        SW_RETURN_IF_ERROR(Control(NodeType::kIf, "if", &nested));
        else_list->nodes.push_back(std::move(nested));
      } else {
        SW_RETURN_IF_ERROR(ItemList(&else_list, &next));
        if (!IsEnd(*next)) return Errorf("expected end; found " + next->String());
      }
    }
    vars_.resize(nvars);
    auto n = std::make_unique<Node>(type, pipe->pos);
    n->pipe = std::move(pipe);
    n->list = std::move(list);
    n->else_list = std::move(else_list);
    *out = std::move(n);
    return Status::OK();
  }

  Status TemplateName(const Token& t, const std::string& context, std::string* name) {
    if (t.typ != Item::kString && t.typ != Item::kRawString) return Unexpected(t, context);
    if (!Unquote(t.val, name)) return Errorf("invalid syntax");
    return Status::OK();
  }

  Status TemplateControl(std::unique_ptr<Node>* out) {
    const std::string context = "template clause";
    Token t = NextNonSpace();
    std::string name;
    SW_RETURN_IF_ERROR(TemplateName(t, context, &name));
    auto n = std::make_unique<Node>(NodeType::kTemplate, t.pos);
    n->text = name;
    if (NextNonSpace().typ != Item::kRightDelim) {
      Backup();
      SW_RETURN_IF_ERROR(Pipeline(context, Item::kRightDelim, &n->pipe));
    }
    *out = std::move(n);
    return Status::OK();
  }

  Status BlockControl(std::unique_ptr<Node>* out) {
    DepthGuard guard(&depth_);
    if (depth_ > kMaxNesting) return Errorf("template nesting too deep");
    const std::string context = "block clause";
    Token t = NextNonSpace();
    std::string name;
    SW_RETURN_IF_ERROR(TemplateName(t, context, &name));
    auto n = std::make_unique<Node>(NodeType::kTemplate, t.pos);
    n->text = name;
    SW_RETURN_IF_ERROR(Pipeline(context, Item::kRightDelim, &n->pipe));
    std::vector<std::string> saved_vars = std::move(vars_);
    vars_ = {"$"};
    int saved_depth = range_depth_;
    range_depth_ = 0;
    std::unique_ptr<Node> list, end;
    SW_RETURN_IF_ERROR(ItemList(&list, &end));
    if (!IsEnd(*end)) return Errorf("unexpected " + end->String() + " in " + context);
    SW_RETURN_IF_ERROR(Add(name, std::move(list)));
    vars_ = std::move(saved_vars);
    range_depth_ = saved_depth;
    *out = std::move(n);
    return Status::OK();
  }

  Status Command(std::unique_ptr<Node>* out) {
    auto cmd = std::make_unique<Node>(NodeType::kCommand, PeekNonSpace().pos);
    for (;;) {
      PeekNonSpace();
      std::unique_ptr<Node> operand;
      SW_RETURN_IF_ERROR(Operand(&operand));
      if (operand) cmd->nodes.push_back(std::move(operand));
      Token t = Next();
      if (t.typ == Item::kSpace) continue;
      if (t.typ == Item::kRightDelim || t.typ == Item::kRightParen) {
        Backup();
      } else if (t.typ != Item::kPipe) {
        return Unexpected(t, "operand");
      }
      break;
    }
    if (cmd->nodes.empty()) return Errorf("empty command");
    *out = std::move(cmd);
    return Status::OK();
  }

  Status Operand(std::unique_ptr<Node>* out) {
    std::unique_ptr<Node> node;
    SW_RETURN_IF_ERROR(Term(&node));
    if (!node) return Status::OK();
    if (Peek().typ == Item::kField) {
      uint32_t cpos = Peek().pos;
      std::vector<std::string> fields;
      while (Peek().typ == Item::kField) fields.push_back(Next().val.substr(1));
      switch (node->type) {
        case NodeType::kField:
        case NodeType::kVariable: {
          auto n = std::make_unique<Node>(node->type, cpos);
          n->ident = node->ident;
          for (auto& f : fields) n->ident.push_back(f);
          node = std::move(n);
          break;
        }
        case NodeType::kBool:
        case NodeType::kString:
        case NodeType::kNumber:
        case NodeType::kNil:
        case NodeType::kDot:
          return Errorf("unexpected . after term " + GoQuote(node->String()));
        default: {
          auto chain = std::make_unique<Node>(NodeType::kChain, cpos);
          chain->ident = std::move(fields);
          chain->pipe = std::move(node);
          node = std::move(chain);
        }
      }
    }
    *out = std::move(node);
    return Status::OK();
  }

  Status Term(std::unique_ptr<Node>* out) {
    Token t = NextNonSpace();
    switch (t.typ) {
      case Item::kIdentifier: {
        auto n = std::make_unique<Node>(NodeType::kIdentifier, t.pos);
        n->text = t.val;
        n->func = set_->funcs ? set_->funcs->Find(t.val) : nullptr;
        if (n->func == nullptr) n->builtin = LookupBuiltin(t.val);
        if (n->func == nullptr && n->builtin < 0) {
          return Errorf("function " + GoQuote(t.val) + " not defined");
        }
        *out = std::move(n);
        return Status::OK();
      }
      case Item::kDot:
        *out = std::make_unique<Node>(NodeType::kDot, t.pos);
        return Status::OK();
      case Item::kNil:
        *out = std::make_unique<Node>(NodeType::kNil, t.pos);
        return Status::OK();
      case Item::kVariable: {
        bool found = false;
        for (const auto& v : vars_) found = found || v == t.val;
        if (!found) return Errorf("undefined variable " + GoQuote(t.val));
        *out = std::make_unique<Node>(NodeType::kVariable, t.pos);
        (*out)->ident = {t.val};
        return Status::OK();
      }
      case Item::kField:
        *out = std::make_unique<Node>(NodeType::kField, t.pos);
        (*out)->ident = {t.val.substr(1)};
        return Status::OK();
      case Item::kBool:
        *out = std::make_unique<Node>(NodeType::kBool, t.pos);
        (*out)->b = t.val == "true";
        return Status::OK();
      case Item::kCharConstant:
      case Item::kComplex:
      case Item::kNumber:
        return Number(t, out);
      case Item::kLeftParen:
        return Pipeline("parenthesized pipeline", Item::kRightParen, out);
      case Item::kString:
      case Item::kRawString: {
        auto n = std::make_unique<Node>(NodeType::kString, t.pos);
        if (!Unquote(t.val, &n->text)) return Errorf("invalid syntax");
        n->quoted = t.val;
        *out = std::move(n);
        return Status::OK();
      }
      default:
        Backup();
        return Status::OK();
    }
  }

  Status Number(const Token& t, std::unique_ptr<Node>* out) {
    auto n = std::make_unique<Node>(NodeType::kNumber, t.pos);
    n->text = t.val;
    const std::string& text = t.val;
    if (t.typ == Item::kCharConstant) {
      std::string s;
      if (!Unquote(text, &s)) {
        // strconv.UnquoteChar on the first character: a bad or missing one is "invalid
        // syntax", a valid one followed by more is "malformed character constant".
        std::string_view inner = std::string_view(text).substr(1);
        size_t len = 0;
        if (!inner.empty() && inner[0] == '\\' && inner.size() > 1) {
          char e = inner[1];
          len = e == 'x' ? 4 : e == 'u' ? 6 : e == 'U' ? 10 : (e >= '0' && e <= '7') ? 4 : 2;
        } else if (!inner.empty() && inner[0] != '\'' && inner[0] != '\\') {
          DecodeRune(inner, 0, &len);
        }
        std::string one;
        if (len == 0 || len > inner.size() ||
            !Unquote("'" + std::string(inner.substr(0, len)) + "'", &one)) {
          return Errorf("invalid syntax");
        }
        return Errorf("malformed character constant: " + text);
      }
      size_t sz;
      uint32_t r = DecodeRune(s, 0, &sz);
      n->is_int = n->is_uint = n->is_float = true;
      n->i = r;
      n->u = r;
      n->f = r;
      *out = std::move(n);
      return Status::OK();
    }
    if (t.typ == Item::kComplex || (!text.empty() && text.back() == 'i')) {
      return Errorf("complex constants are not supported: " + text);
    }
    ParseNumber(text, n.get());
    if (n->overflow) return Errorf("integer overflow: " + GoQuote(text));
    if (!n->is_int && !n->is_uint && !n->is_float) {
      return Errorf("illegal number syntax: " + GoQuote(text));
    }
    if (n->is_float && !n->is_int && !n->is_uint && n->text.find_first_of(".eEpP") ==
                                                         std::string::npos) {
      return Errorf("integer overflow: " + GoQuote(text));
    }
    *out = std::move(n);
    return Status::OK();
  }

  // strconv.ParseInt/ParseUint(text, 0, 64) and ParseFloat with Go's syntax (underscores allowed
  // only with a base prefix, as Go requires).
  static void ParseNumber(const std::string& text, Node* n) {
    std::string_view s = text;
    bool neg = false;
    std::string_view body = s;
    if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
      neg = body[0] == '-';
      body.remove_prefix(1);
    }
    int base = 10;
    std::string_view digits = body;
    bool prefixed = false;
    if (body.size() >= 2 && body[0] == '0') {
      char c = body[1] | 0x20;
      if (c == 'x') {
        base = 16;
      } else if (c == 'o') {
        base = 8;
      } else if (c == 'b') {
        base = 2;
      }
      if (base != 10) {
        digits = body.substr(2);
        prefixed = true;
      } else if (body.find_first_of(".eE") == std::string_view::npos) {
        base = 8;
        digits = body.substr(1);
        prefixed = true;
      }
    }
    // Integer parse.
    bool ok_int = !digits.empty() || (base == 8 && !prefixed);
    bool saw_digit = false;
    unsigned __int128 acc = 0;
    bool last_us = false;
    bool underscore_ok = true;  // base 0: Go syntax allows '_' between digits
    for (char c : digits) {
      if (c == '_') {
        if (!underscore_ok || last_us) ok_int = false;
        last_us = true;
        continue;
      }
      int d = HexVal(c);
      if (d < 0 || d >= base) {
        ok_int = false;
        break;
      }
      saw_digit = true;
      last_us = false;
      acc = acc * base + d;
      if (acc > (static_cast<unsigned __int128>(1) << 64)) acc = static_cast<unsigned __int128>(1)
                                                                 << 65;
    }
    if (last_us && !digits.empty()) ok_int = false;
    if (!saw_digit && !(base == 8 && prefixed && digits.empty())) ok_int = false;
    if (ok_int) {
      if (!neg && acc <= UINT64_MAX) {
        n->is_uint = true;
        n->u = static_cast<uint64_t>(acc);
      }
      if (!neg && acc <= static_cast<unsigned __int128>(INT64_MAX)) {
        n->is_int = true;
        n->i = static_cast<int64_t>(acc);
      } else if (neg && acc <= static_cast<unsigned __int128>(INT64_MAX) + 1) {
        n->is_int = true;
        n->i = static_cast<int64_t>(-static_cast<__int128>(acc));
        if (n->i == 0) {
          n->is_uint = true;
          n->u = 0;
        }
      }
    }
    if (n->is_int) {
      n->is_float = true;
      n->f = static_cast<double>(n->i);
      return;
    }
    if (n->is_uint) {
      n->is_float = true;
      n->f = static_cast<double>(n->u);
      return;
    }
    // Float: decimal or hex float; underscores only between digits.
    std::string clean;
    for (size_t k = 0; k < s.size(); ++k) {
      if (s[k] == '_') {
        bool ok = k > 0 && k + 1 < s.size() && HexVal(s[k - 1]) >= 0 && HexVal(s[k + 1]) >= 0;
        if (!ok) return;
        continue;
      }
      clean.push_back(s[k]);
    }
    bool hex = body.size() >= 2 && body[0] == '0' && (body[1] | 0x20) == 'x';
    if (hex && clean.find_first_of("pP") == std::string::npos) return;
    if (!hex) {
      for (char c : clean) {
        if (!(isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == 'E' ||
              c == '+' || c == '-')) {
          return;
        }
      }
    }
    char* end = nullptr;
    errno = 0;
    double f = strtod(clean.c_str(), &end);
    if (end != clean.c_str() + clean.size() || clean.empty()) return;
    if (errno == ERANGE && (f == HUGE_VAL || f == -HUGE_VAL)) return;
    if (text.find_first_of(".eEpP") == std::string::npos) {
      n->overflow = true;  // Go: "integer overflow" for an integer literal that is not one
      return;
    }
    n->is_float = true;
    n->f = f;
    if (f == static_cast<double>(static_cast<int64_t>(f)) && f >= -9.2e18 && f <= 9.2e18) {
      n->is_int = true;
      n->i = static_cast<int64_t>(f);
    }
    if (f >= 0 && f <= 1.8e19 && f == static_cast<double>(static_cast<uint64_t>(f))) {
      n->is_uint = true;
      n->u = static_cast<uint64_t>(f);
    }
  }

  std::string_view parse_name_;
  std::shared_ptr<const std::string> text_;
  TemplateSet* set_;
  std::vector<Token> tokens_;
  size_t idx_ = 0;
  Token token_[3];
  int peek_count_ = 0;
  std::vector<std::string> vars_;
  int action_line_ = 0;
  int range_depth_ = 0;
  int depth_ = 0;
};

}  // namespace

void Node::WriteTo(std::string* sb) const {
  switch (type) {
    case NodeType::kList:
      for (const auto& n : nodes) n->WriteTo(sb);
      break;
    case NodeType::kText:
      sb->append(text);
      break;
    case NodeType::kAction:
      sb->append("{{");
      pipe->WriteTo(sb);
      sb->append("}}");
      break;
    case NodeType::kIf:
    case NodeType::kRange:
    case NodeType::kWith:
      sb->append(type == NodeType::kIf ? "{{if " : type == NodeType::kRange ? "{{range "
                                                                            : "{{with ");
      pipe->WriteTo(sb);
      sb->append("}}");
      list->WriteTo(sb);
      if (else_list) {
        sb->append("{{else}}");
        else_list->WriteTo(sb);
      }
      sb->append("{{end}}");
      break;
    case NodeType::kTemplate:
      sb->append("{{template ");
      sb->append(GoQuote(text));
      if (pipe) {
        sb->push_back(' ');
        pipe->WriteTo(sb);
      }
      sb->append("}}");
      break;
    case NodeType::kBreak:
      sb->append(text.empty() ? "{{break}}" : "{{" + text + "}}");
      break;
    case NodeType::kContinue:
      sb->append("{{continue}}");
      break;
    case NodeType::kPipe:
      if (!decl.empty()) {
        for (size_t i = 0; i < decl.size(); ++i) {
          if (i > 0) sb->append(", ");
          decl[i]->WriteTo(sb);
        }
        sb->append(" := ");
      }
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (i > 0) sb->append(" | ");
        nodes[i]->WriteTo(sb);
      }
      break;
    case NodeType::kCommand:
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (i > 0) sb->push_back(' ');
        if (nodes[i]->type == NodeType::kPipe) {
          sb->push_back('(');
          nodes[i]->WriteTo(sb);
          sb->push_back(')');
        } else {
          nodes[i]->WriteTo(sb);
        }
      }
      break;
    case NodeType::kField:
      for (const auto& f : ident) {
        sb->push_back('.');
        sb->append(f);
      }
      break;
    case NodeType::kChain:
      if (pipe->type == NodeType::kPipe) {
        sb->push_back('(');
        pipe->WriteTo(sb);
        sb->push_back(')');
      } else {
        pipe->WriteTo(sb);
      }
      for (const auto& f : ident) {
        sb->push_back('.');
        sb->append(f);
      }
      break;
    case NodeType::kIdentifier:
      sb->append(text);
      break;
    case NodeType::kVariable:
      for (size_t i = 0; i < ident.size(); ++i) {
        if (i > 0) sb->push_back('.');
        sb->append(ident[i]);
      }
      break;
    case NodeType::kDot:
      sb->push_back('.');
      break;
    case NodeType::kNil:
      sb->append("nil");
      break;
    case NodeType::kBool:
      sb->append(b ? "true" : "false");
      break;
    case NodeType::kNumber:
      sb->append(text);
      break;
    case NodeType::kString:
      sb->append(quoted);
      break;
  }
}

std::string Node::String() const {
  std::string s;
  WriteTo(&s);
  return s;
}

Status ParseInto(std::string_view name, std::shared_ptr<const std::string> text,
                 TemplateSet* set) {
  Parser p(name, std::move(text), set);
  return p.Parse();
}

}  // namespace sw::tmpl
