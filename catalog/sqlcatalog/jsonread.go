package sqlcatalog

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// The store reads a product's maps and variants from JSON text columns on
// every stock answer. jsonReader reads the few shapes they take without
// encoding/json's reflection and allocations: a string without escapes is
// a substring of the column.

// errMalformed reports a JSON column that is not what the store wrote.
var errMalformed = errors.New("malformed JSON column")

// jsonReader reads JSON values from s, from i on.
type jsonReader struct {
	s string
	i int
}

func (r *jsonReader) space() {
	for r.i < len(r.s) && (r.s[r.i] == ' ' || r.s[r.i] == '\n' || r.s[r.i] == '\t' || r.s[r.i] == '\r') {
		r.i++
	}
}

// next consumes c, after white space, if it comes next.
func (r *jsonReader) next(c byte) bool {
	r.space()
	if r.i < len(r.s) && r.s[r.i] == c {
		r.i++
		return true
	}
	return false
}

// end reports an error if anything but white space is left.
func (r *jsonReader) end() error {
	r.space()
	if r.i != len(r.s) {
		return errMalformed
	}
	return nil
}

// str reads a string.
func (r *jsonReader) str() (string, error) {
	if !r.next('"') {
		return "", errMalformed
	}
	start := r.i
	escaped := false
	for ; r.i < len(r.s); r.i++ {
		switch r.s[r.i] {
		case '\\':
			escaped = true
			r.i++ // the escaped character cannot end the string
		case '"':
			r.i++
			if !escaped {
				return r.s[start : r.i-1], nil
			}
			var v string
			if err := json.Unmarshal([]byte(r.s[start-1:r.i]), &v); err != nil {
				return "", errMalformed
			}
			return v, nil
		}
	}
	return "", errMalformed
}

// int reads a whole number, or null.
func (r *jsonReader) int() (n int64, null bool, err error) {
	r.space()
	if strings.HasPrefix(r.s[r.i:], "null") {
		r.i += len("null")
		return 0, true, nil
	}
	start := r.i
	if r.i < len(r.s) && r.s[r.i] == '-' {
		r.i++
	}
	for r.i < len(r.s) && '0' <= r.s[r.i] && r.s[r.i] <= '9' {
		r.i++
	}
	n, err = strconv.ParseInt(r.s[start:r.i], 10, 64)
	if err != nil {
		return 0, false, errMalformed
	}
	return n, false, nil
}

// stringMap reads a JSON object of strings, nil for an empty one.
func (r *jsonReader) stringMap() (map[string]string, error) {
	if !r.next('{') {
		return nil, errMalformed
	}
	if r.next('}') {
		return nil, nil
	}
	m := make(map[string]string, strings.Count(r.s, `":`))
	for {
		k, err := r.str()
		if err != nil || !r.next(':') {
			return nil, errMalformed
		}
		v, err := r.str()
		if err != nil {
			return nil, errMalformed
		}
		m[k] = v
		if r.next(',') {
			continue
		}
		if r.next('}') {
			return m, nil
		}
		return nil, errMalformed
	}
}
