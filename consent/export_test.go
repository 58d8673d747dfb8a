package consent_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bottega-shop/bottega/consent"
)

// A small JSON Schema (draft 2020-12) validator for the keywords
// exportschema.json uses; TestExportSchemaKeywords keeps the schema to
// them, so no constraint is silently skipped.

var schemaKeywords = map[string]bool{
	"$schema": true, "$id": true, "title": true, "description": true, "$defs": true, "$ref": true,
	"type": true, "properties": true, "required": true, "additionalProperties": true, "items": true,
	"enum": true, "const": true, "pattern": true, "minimum": true, "format": true,
}

type schemaValidator struct {
	root map[string]any
	errs []string
}

func loadSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("exportschema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, consent.ExportSchema()) {
		t.Fatalf("ExportSchema() differs from exportschema.json")
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatalf("exportschema.json: %v", err)
	}
	return root
}

// validate checks the JSON doc against exportschema.json and fails the
// test with every violation.
func validate(t *testing.T, doc []byte) {
	t.Helper()
	if errs := schemaErrors(t, doc); len(errs) > 0 {
		t.Errorf("the export does not match exportschema.json:\n%s\n%s", strings.Join(errs, "\n"), doc)
	}
}

func schemaErrors(t *testing.T, doc []byte) []string {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("the export is not JSON: %v", err)
	}
	sv := &schemaValidator{root: loadSchema(t)}
	sv.check("$", sv.root, v)
	return sv.errs
}

func (sv *schemaValidator) fail(path, format string, args ...any) {
	sv.errs = append(sv.errs, path+": "+fmt.Sprintf(format, args...))
}

func (sv *schemaValidator) check(path string, schema map[string]any, v any) {
	if ref, ok := schema["$ref"].(string); ok {
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		def, found := sv.root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok || !found {
			sv.fail(path, "unresolvable $ref %q", ref)
			return
		}
		sv.check(path, def, v)
	}
	if typ, ok := schema["type"].(string); ok && !hasType(v, typ) {
		sv.fail(path, "is %T, want %s", v, typ)
		return
	}
	if c, ok := schema["const"]; ok && fmt.Sprint(c) != fmt.Sprint(v) {
		sv.fail(path, "is %v, want %v", v, c)
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		sv.fail(path, "is %v, want one of %v", v, enum)
	}
	if s, ok := v.(string); ok {
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			sv.fail(path, "%q does not match %s", s, p)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				sv.fail(path, "%q is not an RFC 3339 date-time", s)
			}
		}
	}
	if n, ok := v.(json.Number); ok {
		if m, ok := schema["minimum"].(float64); ok {
			if f, _ := n.Float64(); f < m {
				sv.fail(path, "%v is below %v", n, m)
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := schema["items"].(map[string]any); ok {
			for i, x := range arr {
				sv.check(fmt.Sprintf("%s[%d]", path, i), items, x)
			}
		}
	}
	if obj, ok := v.(map[string]any); ok {
		for _, r := range asStrings(schema["required"]) {
			if _, ok := obj[r]; !ok {
				sv.fail(path, "misses %q", r)
			}
		}
		props, _ := schema["properties"].(map[string]any)
		for k, x := range obj {
			if ps, ok := props[k].(map[string]any); ok {
				sv.check(path+"."+k, ps, x)
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					sv.fail(path, "has the unknown member %q", k)
				}
			case map[string]any:
				sv.check(path+"."+k, ap, x)
			}
		}
	}
}

func hasType(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && f == math.Trunc(f)
	case "number":
		_, ok := v.(json.Number)
		return ok
	}
	return false
}

func asStrings(v any) []string {
	var out []string
	if arr, ok := v.([]any); ok {
		for _, x := range arr {
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

// TestExportSchemaKeywords checks that the schema uses only keywords the
// validator above understands, and that its $refs resolve.
func TestExportSchemaKeywords(t *testing.T) {
	root := loadSchema(t)
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		for k, v := range s {
			if !schemaKeywords[k] {
				t.Errorf("%s: keyword %q is not checked by the test's validator", path, k)
			}
			switch k {
			case "properties", "$defs":
				for name, sub := range v.(map[string]any) {
					walk(path+"/"+k+"/"+name, sub.(map[string]any))
				}
			case "items", "additionalProperties":
				if sub, ok := v.(map[string]any); ok {
					walk(path+"/"+k, sub)
				}
			case "$ref":
				name, _ := strings.CutPrefix(v.(string), "#/$defs/")
				if _, ok := root["$defs"].(map[string]any)[name]; !ok {
					t.Errorf("%s: $ref %q does not resolve", path, v)
				}
			}
		}
	}
	walk("#", root)
}

// TestExportSchemaRejects checks that the schema and the validator have
// teeth: a valid export passes, and each broken copy of it fails.
func TestExportSchemaRejects(t *testing.T) {
	valid := `{
		"format": "bottega.export/v1", "generated_at": "2026-03-14T10:00:00Z",
		"profile": {"subject": "` + strings.Repeat("ab", 32) + `", "channels": ["telegram"]},
		"consents": [{"purpose": "marketing", "granted": false, "receipts": [
			{"event_id": 1, "action": "deny", "notice_version": 1, "lang": "it", "channel": "telegram", "method": "button", "actor": "shopper", "at": "2026-03-14T10:00:00.123456Z"}]}],
		"erasures": [], "subscriptions": [{"sku": "TR-RED-42", "status": "active"}],
		"conversations": [{"conversation": "telegram:1", "messages": [{"seq": 1, "from": "shopper", "text": "ciao", "at": "2026-03-14T10:00:00Z"}]}],
		"orders": [], "other": {"search index": {"queries": 3}}
	}`
	if errs := schemaErrors(t, []byte(valid)); len(errs) > 0 {
		t.Fatalf("a valid export fails: %v", errs)
	}
	tests := []struct{ name, old, new string }{
		{"wrong format", `"bottega.export/v1"`, `"bottega.export/v2"`},
		{"no format", `"format": "bottega.export/v1",`, ``},
		{"subject not an id", `"subject": "` + strings.Repeat("ab", 32) + `"`, `"subject": "telegram:1"`},
		{"unknown purpose", `"purpose": "marketing"`, `"purpose": "service"`},
		{"granted not a boolean", `"granted": false`, `"granted": "no"`},
		{"unknown receipt member", `"event_id": 1,`, `"event_id": 1, "name": "Ada",`},
		{"event id zero", `"event_id": 1`, `"event_id": 0`},
		{"event id fraction", `"event_id": 1`, `"event_id": 1.5`},
		{"bad time", `"at": "2026-03-14T10:00:00.123456Z"`, `"at": "yesterday"`},
		{"unknown action", `"action": "deny"`, `"action": "maybe"`},
		{"unknown top member", `"orders": [],`, `"orders": [], "extra": 1,`},
		{"orders not a list", `"orders": []`, `"orders": {}`},
		{"conversation without messages", `"conversation": "telegram:1", "messages": [{"seq": 1, "from": "shopper", "text": "ciao", "at": "2026-03-14T10:00:00Z"}]`, `"conversation": "telegram:1"`},
		{"message from nobody", `"from": "shopper"`, `"from": "nobody"`},
		{"subscription without status", `, "status": "active"`, ``},
		{"other not objects", `{"queries": 3}`, `3`},
	}
	for _, tt := range tests {
		doc := strings.Replace(valid, tt.old, tt.new, 1)
		if doc == valid {
			t.Fatalf("%s: the test's replacement did not apply", tt.name)
		}
		if errs := schemaErrors(t, []byte(doc)); len(errs) == 0 {
			t.Errorf("an export with %s passes the schema", tt.name)
		}
	}
}
