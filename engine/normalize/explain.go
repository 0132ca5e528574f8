package normalize

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CharInfo describes one character of an explained string, and what the
// boundary does with it in a text field and in an identifier field.
type CharInfo struct {
	Offset     int    `json:"offset"`
	CodePoint  string `json:"code_point"` // "U+1F4CA"; "" for an invalid byte sequence
	Rune       rune   `json:"rune"`       // -1 for an invalid byte sequence
	Name       string `json:"name"`
	Category   string `json:"category"` // General_Category, e.g. "So"
	Script     string `json:"script"`
	Extensions string `json:"script_extensions,omitempty"`
	Bytes      string `json:"bytes"`               // UTF-8 bytes in hex, e.g. "F0 9F 93 8A"
	Prototype  string `json:"prototype,omitempty"` // UTS #39 confusables.txt prototype, when it has one
	Text       string `json:"text"`                // e.g. "pass", "flag (unicode.emoji)"
	Identifier string `json:"identifier"`
}

// Verdict is what the boundary does with a whole value in one class.
type Verdict struct {
	Class    string    `json:"class"`
	Rejected bool      `json:"rejected"`
	Output   string    `json:"output"`
	Findings []Finding `json:"findings"`
}

// Explanation is the answer of Explain.
type Explanation struct {
	Input      string     `json:"input"`
	Valid      bool       `json:"valid_utf8"`
	Chars      []CharInfo `json:"chars"`
	Skeleton   string     `json:"skeleton,omitempty"`
	Text       Verdict    `json:"text"`
	Identifier Verdict    `json:"identifier"`
}

// Explain takes s apart character by character and runs it through the
// boundary as a text field and as an identifier field of profile p (nil:
// Default), with every finding listed (no cap). It is what `pawl explain`
// prints.
func Explain(s string, p *Profile) Explanation {
	if p == nil {
		p = Default
	}
	e := Explanation{Input: s, Valid: utf8.ValidString(s), Chars: []CharInfo{}}
	e.Text = p.verdict(s, Text)
	e.Identifier = p.verdict(s, Identifier)
	if e.Valid {
		e.Skeleton = Skeleton(s)
	}
	for i := 0; i < len(s); {
		c, size := utf8.DecodeRuneInString(s[i:])
		ci := CharInfo{Offset: i, Rune: c}
		if c == utf8.RuneError && size <= 1 {
			n, why := invalidUTF8(s[i:])
			size = n
			ci.Rune, ci.Name, ci.Category, ci.Script = -1, "<invalid UTF-8: "+why+">", "-", "-"
		} else {
			ci.CodePoint = fmt.Sprintf("U+%04X", c)
			ci.Name = Name(c)
			ci.Category = Category(c)
			ci.Script = Script(c)
			ci.Extensions = strings.Join(ScriptExtensions(c), " ")
			if pr, ok := prototype(c); ok {
				ci.Prototype = pr
			}
		}
		ci.Bytes = strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(hexBytes(s[i:i+size]), "0x"), " 0x", " "))
		ci.Text = actionsAt(e.Text.Findings, i, i+size)
		ci.Identifier = actionsAt(e.Identifier.Findings, i, i+size)
		e.Chars = append(e.Chars, ci)
		i += size
	}
	return e
}

func (p *Profile) verdict(s string, c Class) Verdict {
	r := &run{explain: true}
	out, fs := p.value(s, field{class: c, singleLine: c == Identifier}, "", false, r)
	v := Verdict{Class: c.String(), Output: out, Findings: fs}
	if fs == nil {
		v.Findings = []Finding{}
	}
	for _, f := range fs {
		v.Rejected = v.Rejected || f.Reject
	}
	return v
}

// actionsAt lists the findings that cover bytes [from,to) of the input, as
// "action (rule)"; whole-value findings are in the Verdict only.
func actionsAt(fs []Finding, from, to int) string {
	var parts []string
	for _, f := range fs {
		if f.Length == 0 {
			continue
		}
		if f.Offset < to && f.Offset+f.Length > from {
			a := fmt.Sprintf("%s (%s)", f.Action, f.Rule)
			dup := false
			for _, p := range parts {
				dup = dup || p == a
			}
			if !dup {
				parts = append(parts, a)
			}
		}
	}
	if len(parts) == 0 {
		return "pass"
	}
	return strings.Join(parts, ", ")
}
