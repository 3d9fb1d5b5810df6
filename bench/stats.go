package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// row is one line of the results table: Sena's samples against the
// baseline's, taken in the same run.
type row struct {
	metric, unit string
	sena, base   []float64
	baseName     string
	higherBetter bool   // throughputs; times and memory are lower-better
	target       string // the target, if any
}

// quantile is the nearest-rank q-quantile of xs (q in [0,1]).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func median(xs []float64) float64 { return quantile(xs, 0.5) }

// worst is the 95th percentile on the bad side: p95 of a time, p5 of a
// throughput.
func (r *row) worst(xs []float64) float64 {
	if r.higherBetter {
		return quantile(xs, 0.05)
	}
	return quantile(xs, 0.95)
}

// printTable writes rows as a Markdown table. ratio is Sena's median over the
// baseline's: below 1 is better for times and memory, above 1 for throughput.
func printTable(w io.Writer, rows []*row) {
	fmt.Fprintln(w, "| metric | Sena median | Sena p95 | baseline | baseline median | baseline p95 | Sena/baseline | n | target |")
	fmt.Fprintln(w, "|---|---:|---:|---|---:|---:|---:|---:|---|")
	for _, r := range rows {
		ratio := "–"
		if len(r.base) > 0 && median(r.base) != 0 {
			ratio = fmt.Sprintf("%.2f", median(r.sena)/median(r.base))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %d | %s |\n",
			r.metric, num(median(r.sena), r.unit), num(r.worst(r.sena), r.unit), r.baseName,
			num(median(r.base), r.unit), num(r.worst(r.base), r.unit), ratio, len(r.sena), r.target)
	}
}

// num formats v with its unit, or "–" when there are no samples.
func num(v float64, unit string) string {
	if math.IsNaN(v) {
		return "–"
	}
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".") + " " + unit
	}
}
