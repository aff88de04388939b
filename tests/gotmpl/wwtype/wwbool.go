// Package wwtype mirrors Warewulf's wwtype.WWbool for the oracle (same package and type name, so
// Go's error texts say "wwtype.WWbool"), written from its documented behaviour.
package wwtype

import (
	"strconv"
	"strings"
)

// WWbool is a string with boolean accessors; JSON {"__wwbool__": "yes"} decodes to one.
type WWbool string

var wwUnset = map[string]bool{"unset": true, "delete": true, "undef": true, "--": true, "nil": true, "0.0.0.0": true}

func (val WWbool) Bool() bool {
	s := strings.ToLower(string(val))
	switch {
	case wwUnset[s]:
		return false
	case s == "yes":
		return true
	case s == "no" || s == "":
		return false
	}
	b, err := strconv.ParseBool(s)
	return err == nil && b
}

func (val WWbool) BoolDefaultTrue() bool {
	s := strings.ToLower(string(val))
	switch {
	case wwUnset[s]:
		return false
	case s == "yes" || s == "":
		return true
	case s == "no":
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return true
	}
	return b
}

func (val WWbool) String() string { return string(val) }
func (val WWbool) Type() string   { return "WWbool" }
