// Command gotmpl is the differential-testing oracle for Stormwulf's C++ template engine (tmpl/).
//
// It reads JSON lines from stdin, one test case each:
//
//	{"name": "...", "tmpl": "template text", "data": <JSON>, "exec": "optional template name"}
//
// renders the template with Go's text/template (Option("missingkey=default"), the Sprig subset
// and the Warewulf helpers that tmpl/ implements), and writes one JSON line per case:
//
//	{"name": "...", "out": "rendered text"} or {"name": "...", "err": "error text"}
//
// Data conventions shared with the C++ side: JSON integers decode to Go int, other numbers to
// float64, null to nil; an object {"__struct__": {...}} becomes a Go struct whose fields (of type
// interface{}, names must be exported) keep the document order; {"__wwbool__": "yes"} becomes a
// WWbool (Warewulf's string type with Bool/BoolDefaultTrue methods).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"text/template"

	"./wwtype"
)

type testCase struct {
	Name string          `json:"name"`
	Tmpl string          `json:"tmpl"`
	Data json.RawMessage `json:"data"`
	Exec string          `json:"exec"`
}

type result struct {
	Name string  `json:"name"`
	Out  *string `json:"out,omitempty"`
	Err  *string `json:"err,omitempty"`
}

var ifaceType = reflect.TypeOf((*interface{})(nil)).Elem()

// decodeValue decodes one JSON value from dec following the conventions above.
func decodeValue(dec *json.Decoder) (interface{}, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	return decodeFrom(dec, tok)
}

func decodeFrom(dec *json.Decoder, tok json.Token) (interface{}, error) {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			list := []interface{}{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return list, nil
		case '{':
			var keys []string
			var vals []interface{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				keys = append(keys, k)
				vals = append(vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			if len(keys) == 1 && keys[0] == "__wwbool__" {
				if str, ok := vals[0].(string); ok {
					return wwtype.WWbool(str), nil
				}
			}
			if len(keys) == 1 && keys[0] == "__struct__" {
				if of, ok := vals[0].(orderedFields); ok {
					return makeStruct(of), nil
				}
			}
			m := map[string]interface{}{}
			for i, k := range keys {
				m[k] = vals[i]
			}
			return orderedFields{keys: keys, vals: vals, m: m}, nil
		}
	case string:
		return t, nil
	case bool:
		return t, nil
	case nil:
		return nil, nil
	case json.Number:
		s := t.String()
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return int(i), nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		return f, err
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// orderedFields is a decoded JSON object before it is known whether it is a struct body.
type orderedFields struct {
	keys []string
	vals []interface{}
	m    map[string]interface{}
}

func makeStruct(of orderedFields) interface{} {
	fields := make([]reflect.StructField, len(of.keys))
	for i, k := range of.keys {
		fields[i] = reflect.StructField{Name: k, Type: ifaceType}
	}
	v := reflect.New(reflect.StructOf(fields)).Elem()
	for i := range of.keys {
		if x := finish(of.vals[i]); x != nil {
			v.Field(i).Set(reflect.ValueOf(x))
		}
	}
	return v.Interface()
}

// finish replaces orderedFields by plain maps, recursively.
func finish(v interface{}) interface{} {
	switch t := v.(type) {
	case orderedFields:
		for k, x := range t.m {
			t.m[k] = finish(x)
		}
		return t.m
	case []interface{}:
		for i, x := range t {
			t[i] = finish(x)
		}
		return t
	}
	return v
}

func decodeData(raw json.RawMessage) (interface{}, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	return finish(v), nil
}

func render(tc testCase) (string, error) {
	data, err := decodeData(tc.Data)
	if err != nil {
		return "", fmt.Errorf("bad test data: %v", err)
	}
	t, err := template.New("tpl").Option("missingkey=default").Funcs(funcMap()).Parse(tc.Tmpl)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if tc.Exec != "" {
		err = t.ExecuteTemplate(&buf, tc.Exec, data)
	} else {
		err = t.Execute(&buf, data)
	}
	if err != nil {
		return "", err
	}
	return buf.String(), nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-has-sprig" {
		fmt.Println(hasSprig)
		return
	}
	in := bufio.NewReaderSize(os.Stdin, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for {
		line, err := in.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			var tc testCase
			if jerr := json.Unmarshal(line, &tc); jerr != nil {
				fmt.Fprintf(os.Stderr, "bad case line: %v\n", jerr)
				os.Exit(2)
			}
			r := result{Name: tc.Name}
			s, rerr := render(tc)
			if rerr != nil {
				msg := rerr.Error()
				r.Err = &msg
			} else {
				r.Out = &s
			}
			if eerr := enc.Encode(r); eerr != nil {
				fmt.Fprintf(os.Stderr, "encode: %v\n", eerr)
				os.Exit(2)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "read: %v\n", err)
			os.Exit(2)
		}
	}
}
