// tmpl/template.h: a Go text/template compatible template engine (parse once, execute many).
//
// Semantics follow Go 1.19's text/template with Option("missingkey=default"), as Warewulf uses it
// to render overlay (*.ww) files: actions, trimming, comments, pipelines, variables, if/else if/
// range/with/define/template/block/break/continue, the builtin functions (and, or, not, eq, ne,
// lt, le, gt, ge, len, index, slice, print, printf, println, html, js, urlquery, call) and Go's
// fmt formatting of values. Error messages reproduce Go's text ("template: NAME:LINE:COL: ...").
// See docs/templates.md for the supported subset and the known differences.
//
// Extra functions (Sprig's, Warewulf's, or the overlay builder's context-bound ones such as
// Include, file, abort) are supplied through a FuncMap at parse time: the parser rejects calls
// of functions it does not know, exactly like Go.
//
// Thread-safety: a FuncMap must not be modified after a Template was parsed with it. A parsed
// Template is immutable; Execute() may run concurrently from many threads on one Template (the
// functions it calls must then be thread-safe themselves).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "tmpl/value.h"

namespace sw::tmpl {

class FuncMap {
 public:
  // Adds or replaces `name`. The signature drives Go's argument checks and conversions.
  void Add(std::string name, FuncSig sig, FuncImpl impl);
  // nullptr when absent. The pointer lives as long as this FuncMap and is not invalidated by Add
  // of other names.
  const Func* Find(std::string_view name) const;
  size_t size() const { return funcs_.size(); }

 private:
  std::map<std::string, std::shared_ptr<Func>, std::less<>> funcs_;
};

// Adds the Sprig subset implemented in funcs_sprig.cc (see docs/templates.md for the list).
void AddSprigFuncs(FuncMap* fm);
// Adds Warewulf's context-free helpers: basename, inc, dec, UniqueField, SystemdEscape,
// SystemdEscapePath. Context-bound ones (Include, IncludeFrom, file, softlink, abort, nobackup,
// ...) are registered by the overlay builder with closures over its own state.
void AddWarewulfFuncs(FuncMap* fm);

// Methods of Warewulf's wwtype.WWbool (a string type): Bool, BoolDefaultTrue, String, Type.
// The overlay builder wraps WWbool fields as Value(str).WithMethods(WWBoolMethods()) so that
// templates like `{{if $netdev.OnBoot.BoolDefaultTrue}}` work.
std::shared_ptr<const MethodSet> WWBoolMethods();

struct TemplateSet;

class Template {
 public:
  // Parses `text` as the template `name`, including its {{define}}/{{block}} sub-templates.
  // `funcs` may be null (builtins only); it is kept alive by the Template.
  // Errors: InvalidArgument with Go's parse error text ("template: NAME:LINE: ...").
  static Result<Template> Parse(std::string_view name, std::string_view text,
                                std::shared_ptr<const FuncMap> funcs);

  // Renders the main template with `data` as dot, appending to *out (on error *out holds the
  // partial output). Errors: InvalidArgument with Go's execution error text.
  Status Execute(const Value& data, std::string* out) const;
  // Renders the named (defined) template. NotFound-like Go text when it does not exist.
  Status ExecuteTemplate(std::string_view name, const Value& data, std::string* out) const;
  // Convenience: Execute into a fresh string.
  Result<std::string> Render(const Value& data) const;

  // The top-level data keys this template can read (`.Key` while dot is the data, `$.Key`),
  // sorted; std::nullopt when the data escapes as a whole (`{{.}}`, `$`, `template "x" .`, a
  // function receiving dot, ...). Two executions whose data agree on these keys render the
  // same bytes (given deterministic functions), so an O(N) template such as `hosts` can be
  // rendered once for all nodes instead of once per node.
  std::optional<std::vector<std::string>> TopLevelFields() const;

  const std::string& name() const { return name_; }
  // Names of all templates in this set, sorted.
  std::vector<std::string> TemplateNames() const;

 private:
  Template() = default;
  std::string name_;
  std::shared_ptr<const TemplateSet> set_;
};

// Go fmt.Sprintf with the verbs Go's fmt supports for these values (see docs/templates.md).
std::string GoSprintf(std::string_view format, std::span<const Value> args);
// Go fmt.Sprint / fmt.Sprintln semantics.
std::string GoSprint(std::span<const Value> args);
std::string GoSprintln(std::span<const Value> args);
// strconv.Quote.
std::string GoQuote(std::string_view s);

// Parses JSON into a Value: objects become maps, arrays lists, integers (no '.', 'e') int,
// other numbers float64, null kNil. An object of the form {"__struct__": {...}} becomes a struct
// with the fields in document order. Errors: InvalidArgument.
Result<Value> ValueFromJson(std::string_view json);
// Encodes like Go's encoding/json.Marshal (maps sorted, HTML-escaped strings).
Result<std::string> ValueToJson(const Value& v);

}  // namespace sw::tmpl
