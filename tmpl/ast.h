// tmpl/ast.h: internal parse tree of the template engine (not a public API).
//
// The node kinds and their positions mirror Go's text/template/parse so that execution errors
// report the same LINE:COL and the same "<context>" text as Go.
// Thread-safety: immutable after parsing.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tmpl/template.h"
#include "tmpl/value.h"

namespace sw::tmpl {

enum class NodeType : uint8_t {
  kList,
  kText,
  kAction,
  kIf,
  kRange,
  kWith,
  kTemplate,
  kBreak,
  kContinue,
  kPipe,
  kCommand,
  kField,
  kChain,
  kIdentifier,
  kVariable,
  kDot,
  kNil,
  kBool,
  kNumber,
  kString,
};

struct Node {
  NodeType type;
  uint32_t pos = 0;
  std::string text;                          // Text bytes; String value; Number/Ident text;
                                             // template name
  std::string quoted;                        // String: the quoted source text
  std::vector<std::string> ident;            // Field (without dots) / Variable / Chain fields
  // One lookup hint per ident (see Value::Find); allocated by the parser for field-bearing nodes.
  std::unique_ptr<std::atomic<uint32_t>[]> hints;
  std::vector<std::unique_ptr<Node>> nodes;  // List children, Command args, Pipe commands
  std::vector<std::unique_ptr<Node>> decl;   // Pipe: declared variables
  bool is_assign = false;                    // Pipe: `=` rather than `:=`
  std::unique_ptr<Node> pipe;                // Action/If/Range/With/Template pipe; Chain's node
  std::unique_ptr<Node> list, else_list;     // If/Range/With bodies
  // Number.
  bool is_int = false, is_uint = false, is_float = false, is_complex = false, overflow = false;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  bool b = false;                            // Bool
  const Func* func = nullptr;                // Identifier: resolved function
  int builtin = -1;                          // Identifier: builtin id (see exec.cc), or -1

  explicit Node(NodeType t, uint32_t p) : type(t), pos(p) {}
  // Go's Node.String() (used in error contexts).
  std::string String() const;
  void WriteTo(std::string* sb) const;
};

struct Tree {
  std::string name;        // template name
  std::string parse_name;  // name of the top-level template the text came from
  std::shared_ptr<const std::string> text;
  std::unique_ptr<Node> root;
};

struct TemplateSet {
  std::map<std::string, std::unique_ptr<Tree>, std::less<>> trees;
  std::shared_ptr<const FuncMap> funcs;
};

// Builtin function table (index = Node::builtin).
enum Builtin : int {
  kBuiltinAnd,
  kBuiltinOr,
  kBuiltinNot,
  kBuiltinEq,
  kBuiltinNe,
  kBuiltinLt,
  kBuiltinLe,
  kBuiltinGt,
  kBuiltinGe,
  kBuiltinLen,
  kBuiltinIndex,
  kBuiltinSlice,
  kBuiltinPrint,
  kBuiltinPrintf,
  kBuiltinPrintln,
  kBuiltinHtml,
  kBuiltinJs,
  kBuiltinUrlquery,
  kBuiltinCall,
  kBuiltinCount,
};
// Builtin id for `name`, or -1.
int LookupBuiltin(std::string_view name);
const FuncSig& BuiltinSig(int id);
// Runs builtin `id` (not and/or, which the executor short-circuits).
Result<Value> CallBuiltin(int id, std::span<Value> args);

// Parses text into set (adds the main tree and the defined ones). Go's parse error text.
Status ParseInto(std::string_view name, std::shared_ptr<const std::string> text,
                 TemplateSet* set);

// Go's fmt helpers shared by exec and builtins.
void AppendValue(std::string* out, const Value& v);  // %v
std::string HtmlEscape(std::string_view s);
std::string JsEscape(std::string_view s);
std::string UrlQueryEscape(std::string_view s);
bool IsPrintRune(uint32_t r);
// Decodes one UTF-8 rune at s[i]; returns 0xFFFD with size 1 on invalid input.
uint32_t DecodeRune(std::string_view s, size_t i, size_t* size);
void AppendRune(std::string* out, uint32_t r);

}  // namespace sw::tmpl
