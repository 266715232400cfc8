package mcp

import (
	"encoding/json"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
)

// props edits the properties of a derived input schema: the limits and
// defaults of reference §7 that Go types cannot say.
type props map[string]*jsonschema.Schema

// prop returns the named property; a name the struct lacks is a bug in
// this package and panics at start, never at a call.
func (p props) prop(name string) *jsonschema.Schema {
	s, ok := p[name]
	if !ok {
		panic(fmt.Sprintf("mcp: no input property %q", name))
	}
	return s
}

// intRange bounds an integer property and sets its default.
func (p props) intRange(name string, lo, hi, def int) {
	s := p.prop(name)
	l, h := float64(lo), float64(hi)
	s.Minimum, s.Maximum = &l, &h
	s.Default = mustJSON(def)
}

// min sets the lower bound of a number property.
func (p props) min(name string, lo float64) {
	p.prop(name).Minimum = &lo
}

// maxLen bounds the length of string properties (and of the items of
// string-array properties).
func (p props) maxLen(n int, names ...string) {
	for _, name := range names {
		s := p.prop(name)
		if s.Items != nil {
			s.Items.MaxLength = &n
			continue
		}
		s.MaxLength = &n
	}
}

// maxItems bounds the length of an array property.
func (p props) maxItems(name string, n int) {
	p.prop(name).MaxItems = &n
}

// enum restricts a string property to values, with a default.
func (p props) enum(name, def string, values ...string) {
	s := p.prop(name)
	s.Enum = nil
	for _, v := range values {
		s.Enum = append(s.Enum, v)
	}
	if def != "" {
		s.Default = mustJSON(def)
	}
}

// inputSchema derives the schema of In and lets edit add the limits.
func inputSchema[In any](edit func(props)) *jsonschema.Schema {
	s, err := jsonschema.For[In](nil)
	if err != nil {
		panic(fmt.Sprintf("mcp: input schema: %v", err))
	}
	if edit != nil {
		edit(props(s.Properties))
	}
	return s
}

// outputSchema derives the schema of a tool's structured output from Out.
// getRow says the tool's op "get" answers a full record instead (any
// columns, reference §7), so the top level accepts other properties and
// requires none.
func outputSchema[Out any](getRow bool) *jsonschema.Schema {
	s, err := jsonschema.For[Out](nil)
	if err != nil {
		panic(fmt.Sprintf("mcp: output schema: %v", err))
	}
	if getRow {
		s.Required = nil
		s.AdditionalProperties = &jsonschema.Schema{}
	}
	return s
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
