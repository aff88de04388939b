//go:build !sprig

package main

import "text/template"

// sprigFuncs without the Sprig package: none. The differential test then skips the corpus files
// that need Sprig (tests/testdata/tmpl/sprig_*.txt).
func sprigFuncs() template.FuncMap { return template.FuncMap{} }

const hasSprig = false
