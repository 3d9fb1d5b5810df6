package notebook

import (
	"encoding/json"
	"testing"
)

func TestStripANSI(t *testing.T) {
	cases := map[string]string{
		"plain":                                        "plain",
		"\x1b[0;31mZeroDivisionError\x1b[0m: x":        "ZeroDivisionError: x",
		"\x1b[1;32m\x1b[38;5;208mok\x1b[39;49m":        "ok",
		"a\x1b[2Kb\x1b[1Ac":                            "abc",
		"\x1b]8;;file:///x.py\x1b\\x.py\x1b]8;;\x1b\\": "x.py",
		"\x1b]0;title\x07rest":                         "rest",
		"keeps [brackets] and \x1b alone":              "keeps [brackets] and \x1b alone",
	}
	for in, want := range cases {
		if got := StripANSI(in); got != want {
			t.Errorf("StripANSI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlainText(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	cases := []struct {
		name string
		o    Output
		want string
	}{
		{"stream", Output{Type: StreamOutput, Name: "stdout", Text: "a\nb\n"}, "a\nb\n"},
		{"text/plain wins", Output{Type: ExecuteResultOutput, Data: map[string]json.RawMessage{
			"text/plain": raw(`"42"`), "text/html": raw(`"<b>42</b>"`)}}, "42"},
		{"image placeholder", Output{Type: DisplayDataOutput, Data: map[string]json.RawMessage{
			"image/png": raw(`"iVBORw0KGgo=\n"`), "text/html": raw(`"<img>"`)}}, "[image/png, 8 bytes]"},
		{"html placeholder", Output{Type: DisplayDataOutput, Data: map[string]json.RawMessage{
			"text/html": raw(`"<table></table>"`)}}, "[text/html, 15 bytes]"},
		{"json placeholder", Output{Type: DisplayDataOutput, Data: map[string]json.RawMessage{
			"application/json": raw(`{"a":1}`)}}, "[application/json, 7 bytes]"},
		{"empty", Output{Type: DisplayDataOutput, Data: map[string]json.RawMessage{}}, "[empty output]"},
		{"error", Output{Type: ErrorOutput, EName: "ValueError", EValue: "bad",
			Traceback: []string{"\x1b[0;31m----\x1b[0m", "\x1b[0;31mValueError\x1b[0m: bad"}},
			"ValueError: bad\n----\nValueError: bad"},
	}
	for _, tc := range cases {
		if got := tc.o.PlainText(); got != tc.want {
			t.Errorf("%s: PlainText = %q, want %q", tc.name, got, tc.want)
		}
	}
}
