package query

import (
	"cmp"
	"slices"
	"strings"
)

// Levenshtein returns the edit distance between a and b (insertions, deletions and
// substitutions of runes, each costing 1).
func Levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) < len(rb) {
		ra, rb = rb, ra
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Nearest returns up to n of candidates that are plausibly what the user meant by name, best
// first: names that contain it or that it contains (a prefix, a pod's workload), and names within
// an edit distance of a third of the longer one (at least 2). Ties keep alphabetical order;
// duplicates are dropped.
func Nearest(name string, candidates []string, n int) []string {
	type scored struct {
		s string
		d int
	}
	lname := strings.ToLower(name)
	seen := map[string]bool{}
	var out []scored
	for _, c := range candidates {
		if seen[c] || c == name {
			continue
		}
		seen[c] = true
		lc := strings.ToLower(c)
		d := Levenshtein(lname, lc)
		limit := max(2, max(len(lname), len(lc))/3)
		switch {
		case strings.Contains(lc, lname) || strings.Contains(lname, lc):
			// A containment is a good hint whatever the distance; rank it by the distance still.
			d = min(d, limit)
		case d > limit:
			continue
		}
		out = append(out, scored{c, d})
	}
	slices.SortStableFunc(out, func(a, b scored) int { return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(a.s, b.s)) })
	if len(out) > n {
		out = out[:n]
	}
	res := make([]string, len(out))
	for i, o := range out {
		res[i] = o.s
	}
	return res
}
