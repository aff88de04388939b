//go:build sprig

package main

import (
	"text/template"

	"github.com/Masterminds/sprig"
)

// sprigFuncs: the real Sprig (Debian's golang-github-masterminds-sprig-dev, GOPATH mode).
func sprigFuncs() template.FuncMap { return sprig.TxtFuncMap() }

const hasSprig = true
