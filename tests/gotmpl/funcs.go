package main

import (
	"fmt"
	"path"
	"strings"
	"text/template"
)

// Names of the Sprig functions that tmpl/funcs_sprig.cc implements; only these are offered so
// that "function not defined" parse errors agree.
var sprigSubset = []string{
	"default", "empty", "coalesce", "ternary", "join", "split", "splitList", "replace", "trim",
	"trimAll", "trimPrefix", "trimSuffix", "upper", "lower", "title", "contains", "hasPrefix",
	"hasSuffix", "quote", "squote", "indent", "nindent", "list", "dict", "get", "set", "keys",
	"hasKey", "first", "last", "until", "add", "sub", "mul", "div", "mod", "atoi", "int",
	"toString", "b64enc", "b64dec", "sha256sum", "regexMatch", "regexReplaceAll", "toJson", "now",
	"date", "sortAlpha", "repeat", "add1", "substr", "nospace", "cat", "append", "without",
	"regexSplit",
}

func funcMap() template.FuncMap {
	fm := template.FuncMap{
		"basename":          path.Base,
		"inc":               func(i int) int { return i + 1 },
		"dec":               func(i int) int { return i - 1 },
		"UniqueField":       uniqueField,
		"SystemdEscape":     func(s string) string { return systemdEscape(s, false) },
		"SystemdEscapePath": func(s string) string { return systemdEscape(s, true) },
		// Deterministic stand-ins for the overlay builder's context-bound functions; the C++
		// side (tmpl/tmpl_difftest.cc) registers the same ones.
		"Include":      func(p string) string { return "<include " + p + ">" },
		"IncludeFrom":  func(img, p string) string { return "<include " + img + ":" + p + ">" },
		"IncludeBlock": func(p, m string) (string, error) { return "<block " + p + " until " + m + ">", nil },
		"file":         func(n string) string { return fmt.Sprintf("{{ /* file \"%s\" */ }}", n) },
		"softlink":     func(t string) string { return fmt.Sprintf("{{ /* softlink \"%s\" */ }}", t) },
		"readlink":     func(p string) (string, error) { return p, nil },
		"ImportLink":   func(p string) string { return fmt.Sprintf("{{ /* softlink \"%s\" */ }}", p) },
		"abort":        func() string { return "" },
		"nobackup":     func() string { return "" },
		"IgnitionJson": func() string { return "{}" },
	}
	all := sprigFuncs()
	for _, n := range sprigSubset {
		if f, ok := all[n]; ok {
			fm[n] = f
		}
	}
	return fm
}

// uniqueField keeps the first line for each value of field `index` (split on sep); lines with
// fewer fields are kept.
func uniqueField(sep string, index int, input string) string {
	var lines []string
	seen := map[string]bool{}
	for _, line := range strings.Split(input, "\n") {
		fields := strings.Split(line, sep)
		if len(fields) > index {
			if !seen[fields[index]] {
				seen[fields[index]] = true
				lines = append(lines, line)
			}
		} else {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

// systemdEscape follows systemd-escape (and go-systemd's unit.UnitNameEscape/PathEscape).
func systemdEscape(s string, isPath bool) string {
	const allowed = ":_.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var e []byte
	inSlashes := false
	start := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isPath {
			if c == '/' {
				inSlashes = true
				continue
			} else if inSlashes {
				inSlashes = false
				if !start {
					e = append(e, '-')
				}
			}
		}
		if c == '/' {
			e = append(e, '-')
		} else if start && c == '.' || strings.IndexByte(allowed, c) == -1 {
			e = append(e, []byte(fmt.Sprintf(`\x%x`, c))...)
		} else {
			e = append(e, c)
		}
		start = false
	}
	if isPath && len(e) == 0 {
		e = append(e, '-')
	}
	return string(e)
}
