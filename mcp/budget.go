package mcp

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Budgets count characters (Unicode code points), as the docs and
// --text-budget say, never bytes: a budget of 20000 is 20000 characters of
// Chinese or of ASCII alike.

// runeIndex is the byte offset of the n-th character of s (len(s) past the end).
func runeIndex(s string, n int) int {
	if n <= 0 {
		return 0
	}
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

// clip keeps text within budget characters, keeping the head (70%: what
// ran) and the tail (30%: how it ended), with a marker between them that
// says how much was cut; what names where the whole text is.
func clip(text string, budget int, what string) string {
	n := utf8.RuneCountInString(text)
	if budget <= 0 || n <= budget {
		return text
	}
	head := budget * 7 / 10
	tail := budget - head
	return fmt.Sprintf("%s\n…[%d characters cut; %s]…\n%s",
		text[:runeIndex(text, head)], n-head-tail, what, text[runeIndex(text, n-tail):])
}

// segment is one output's rendered text within a cell's.
type segment struct {
	output int // index among the cell's outputs
	text   string
}

// clipOutputs joins a cell's rendered outputs and keeps them within budget
// characters as clip does. The marker names the output and the character
// offset where the cut starts, which read_output takes to page through it.
func clipOutputs(segs []segment, budget int, cellID string) string {
	var all strings.Builder
	total := 0
	for _, s := range segs {
		all.WriteString(s.text)
		total += utf8.RuneCountInString(s.text)
	}
	text := all.String()
	if budget <= 0 || total <= budget {
		return text
	}
	head := budget * 7 / 10
	tail := budget - head
	from, to := locate(segs, head), locate(segs, total-tail)
	var where string
	if from.output == to.output {
		where = fmt.Sprintf("output %d, characters %d to %d", from.output, from.offset, to.offset)
	} else {
		where = fmt.Sprintf("from output %d at character %d to output %d at character %d", from.output, from.offset, to.output, to.offset)
	}
	return fmt.Sprintf("%s\n…[%d characters cut (%s): read_output(cell=%q, output=%d, offset=%d) pages through them]…\n%s",
		text[:runeIndex(text, head)], total-head-tail, where, cellID, from.output, from.offset, text[runeIndex(text, total-tail):])
}

type position struct{ output, offset int }

// locate finds the n-th character of the joined segments: which output it
// is in and its offset there.
func locate(segs []segment, n int) position {
	for _, s := range segs {
		l := utf8.RuneCountInString(s.text)
		if n < l {
			return position{s.output, n}
		}
		n -= l
	}
	if len(segs) == 0 {
		return position{}
	}
	last := segs[len(segs)-1]
	return position{last.output, utf8.RuneCountInString(last.text)}
}
