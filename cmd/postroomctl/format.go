package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"
)

// Size units are powers of 1024, as in ls -h and df -h. formatSize writes
// what parseSize reads, so a size shown by "users list" can be typed back.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"T", 1 << 40},
	{"G", 1 << 30},
	{"M", 1 << 20},
	{"K", 1 << 10},
}

// parseSize reads "0", "1048576", "500M", "1.5G", "2GiB", "300kb" (any case).
func parseSize(s string) (int64, error) {
	bad := fmt.Errorf("%q is not a size: write a number of bytes, or e.g. 500M, 2G, 0 for unlimited", s)
	num := strings.ToUpper(strings.TrimSpace(s))
	if t, ok := strings.CutSuffix(num, "B"); ok {
		num = strings.TrimSuffix(t, "I") // KiB, MiB, ...
	}
	mult := int64(1)
	for _, u := range sizeUnits {
		if t, ok := strings.CutSuffix(num, u.suffix); ok {
			mult, num = u.mult, strings.TrimSpace(t)
			break
		}
	}
	if num == "" || strings.Trim(num, "0123456789.") != "" || strings.Count(num, ".") > 1 || num == "." {
		return 0, bad
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil { // exact for whole numbers
		if n > math.MaxInt64/mult {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return n * mult, nil
	}
	v := math.Round(f * float64(mult))
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}

// formatSize writes n bytes as "512B", "1.5K", "500M", "2G": at most one
// decimal, none when it is zero.
func formatSize(n int64) string {
	if n < 0 {
		return "-" + formatSize(-n)
	}
	for _, u := range sizeUnits {
		if n >= u.mult {
			v := float64(n) / float64(u.mult)
			s := strconv.FormatFloat(v, 'f', 1, 64)
			if v >= 100 {
				s = strconv.FormatFloat(v, 'f', 0, 64)
			}
			return strings.TrimSuffix(s, ".0") + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

func formatQuota(q int64) string {
	if q == 0 {
		return "unlimited"
	}
	return formatSize(q)
}

// table writes aligned columns: one row per call of row, then flush.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(header...)
	}
	return t
}

// row writes one line. Cells are made safe first: a tab or newline in a cell
// would break the columns.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		io.WriteString(t.tw, safeText(c, 0))
	}
	io.WriteString(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

// safeText makes text that came from outside (a mail's subject or sender) fit
// to print on a terminal: control characters, including escape sequences
// that could rewrite the screen, and bidirectional overrides that could
// reorder it, become spaces or vanish; invalid UTF-8 shows as U+FFFD. With
// max > 0 the result is cut to max characters, ending in "…".
func safeText(s string, max int) string {
	var b strings.Builder
	n := 0
	for i, w := 0, 0; i < len(s); i += w {
		var r rune
		r, w = utf8.DecodeRuneInString(s[i:]) // invalid UTF-8 gives U+FFFD
		switch {
		case unicode.IsControl(r):
			r = ' '
		case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F:
			continue
		}
		if max > 0 && n == max-1 && i+w < len(s) {
			b.WriteRune('…')
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}
