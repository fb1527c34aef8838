package query

// The tables of the read commands, printed by cli-runtime's table printer as kubectl prints its
// own (columns three spaces apart, wide-only columns with -o wide, --no-headers), and sorted
// with kubectl's --sort-by: a JSONPath over each row's -o json form.

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/util/jsonpath"
)

// TableOptions are kubectl's flags for tables: --no-headers and --sort-by.
type TableOptions struct {
	NoHeaders bool
	// SortBy is a JSONPath (.started or {.started}) evaluated on each row as -o json writes
	// it; rows are sorted by its first value, rows without one first.
	SortBy string
}

// table is one table of a command: columns (wide ones shown with -o wide only) and rows.
type table struct {
	columns []column
	rows    []tableRow
}

type column struct {
	name string
	wide bool
}

type tableRow struct {
	cells []string
	// object is the row as -o json writes it, for --sort-by: a struct or a decoded map.
	object any
}

func (t *table) add(object any, cells ...string) {
	t.rows = append(t.rows, tableRow{cells: cells, object: object})
}

// print sorts the rows by o.SortBy and writes them through cli-runtime's table printer.
func (t *table) print(w io.Writer, wide bool, o TableOptions) error {
	if err := t.sort(o.SortBy); err != nil {
		return err
	}
	mt := &metav1.Table{}
	for _, c := range t.columns {
		d := metav1.TableColumnDefinition{Name: c.name, Type: "string"}
		if c.wide {
			d.Priority = 1
		}
		mt.ColumnDefinitions = append(mt.ColumnDefinitions, d)
	}
	for _, r := range t.rows {
		cells := make([]any, len(r.cells))
		for i, c := range r.cells {
			cells[i] = c
		}
		mt.Rows = append(mt.Rows, metav1.TableRow{Cells: cells})
	}
	return printers.NewTablePrinter(printers.PrintOptions{NoHeaders: o.NoHeaders, Wide: wide}).PrintObj(mt, w)
}

// sortPath is a --sort-by path as kubectl reads it: with or without the braces and the
// leading dot.
var sortPath = regexp.MustCompile(`^\{\.?([^{}]+)\}$|^\.?([^{}]+)$`)

// sort orders the rows by the first value the JSONPath finds in each (stable: rows with equal
// values keep their order). Rows where it finds nothing come first; a path that finds nothing
// in any row is an error, as in kubectl.
func (t *table) sort(path string) error {
	path = strings.TrimSpace(path)
	if path == "" || len(t.rows) == 0 {
		return nil
	}
	m := sortPath.FindStringSubmatch(path)
	if m == nil {
		return fmt.Errorf("%w: --sort-by %q is not a JSONPath such as .metadata.name or {.metadata.name}", ErrBadArgument, path)
	}
	jp := jsonpath.New("sort-by").AllowMissingKeys(true)
	if err := jp.Parse("{." + m[1] + m[2] + "}"); err != nil {
		return fmt.Errorf("%w: --sort-by %s: %v: write a JSONPath such as .metadata.name", ErrBadArgument, path, err)
	}
	keys := make([]any, len(t.rows))
	found := false
	for i, r := range t.rows {
		data, ok := r.object.(map[string]any)
		if !ok {
			b, err := json.Marshal(r.object)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &data); err != nil {
				return err
			}
		}
		res, err := jp.FindResults(data)
		if err != nil {
			return fmt.Errorf("%w: --sort-by %s: %v", ErrBadArgument, path, err)
		}
		if len(res) > 0 && len(res[0]) > 0 {
			v := res[0][0]
			for v.Kind() == reflect.Interface && !v.IsNil() {
				v = v.Elem()
			}
			if v.IsValid() && v.CanInterface() && !(v.Kind() == reflect.Interface && v.IsNil()) {
				keys[i] = v.Interface()
				found = true
			}
		}
	}
	if !found {
		return fmt.Errorf("%w: --sort-by %s: no row has this field: name a field of the rows as -o json writes them", ErrBadArgument, path)
	}
	idx := make([]int, len(t.rows))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return lessValue(keys[idx[a]], keys[idx[b]]) })
	rows := make([]tableRow, len(t.rows))
	for i, j := range idx {
		rows[i] = t.rows[j]
	}
	t.rows = rows
	return nil
}

// lessValue orders --sort-by values as kubectl does: missing first, numbers by value, times
// (RFC 3339 strings) in time, other strings and booleans by their text; values of different
// types by their text.
func lessValue(a, b any) bool {
	switch {
	case a == nil:
		return b != nil
	case b == nil:
		return false
	}
	if x, ok := a.(float64); ok {
		if y, ok := b.(float64); ok {
			return x < y
		}
	}
	if x, ok := a.(string); ok {
		if y, ok := b.(string); ok {
			tx, ex := time.Parse(time.RFC3339Nano, x)
			ty, ey := time.Parse(time.RFC3339Nano, y)
			if ex == nil && ey == nil {
				return tx.Before(ty)
			}
			return x < y
		}
	}
	if x, ok := a.(bool); ok {
		if y, ok := b.(bool); ok {
			return !x && y
		}
	}
	return fmt.Sprint(a) < fmt.Sprint(b)
}
