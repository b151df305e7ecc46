package main

import (
	"flag"
	"io"
	"slices"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"500M", 500 << 20, true},
		{"500m", 500 << 20, true},
		{"2G", 2 << 30, true},
		{"2GB", 2 << 30, true},
		{"2GiB", 2 << 30, true},
		{"1.5K", 1536, true},
		{"300kb", 300 << 10, true},
		{"1T", 1 << 40, true},
		{" 10 M ", 10 << 20, true},
		{"12B", 12, true},
		{"", 0, false},
		{"M", 0, false},
		{"-1", 0, false},
		{"+1G", 0, false},
		{"1e9", 0, false},
		{"0x10", 0, false},
		{"1.2.3M", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"lots", 0, false},
		{"1I", 0, false},
		{"9999999999T", 0, false},
	} {
		got, err := parseSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for _, c := range []struct {
		in   int64
		want string
	}{
		{0, "0B"},
		{1023, "1023B"},
		{1024, "1K"},
		{1536, "1.5K"},
		{500 << 20, "500M"},
		{2 << 30, "2G"},
		{(2 << 30) + (300 << 20), "2.3G"},
		{150 << 30, "150G"},
		{1 << 40, "1T"},
	} {
		if got := formatSize(c.in); got != c.want {
			t.Errorf("formatSize(%d) = %q, want %q", c.in, got, c.want)
		}
		// What is shown can be typed back, give or take the rounding.
		if back, err := parseSize(formatSize(c.in)); err != nil || (c.in > 0 && (back < c.in*95/100 || back > c.in*105/100)) {
			t.Errorf("parseSize(formatSize(%d)) = %d, %v", c.in, back, err)
		}
	}
}

func TestSafeText(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"Hello", 0, "Hello"},
		{"a\tb\r\nc", 0, "a b  c"},
		{"evil \x1b[2Jclear", 0, "evil  [2Jclear"},
		{"abc\u202Edef", 0, "abcdef"},
		{"bad \xff utf8", 0, "bad \uFFFD utf8"},
		{"Grüße aus Köln", 0, "Grüße aus Köln"},
		{"abcdef", 4, "abc…"},
		{"abcd", 4, "abcd"},
		{"äöüß", 3, "äö…"},
	} {
		if got := safeText(c.in, c.max); got != c.want {
			t.Errorf("safeText(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

func TestParseInterleaved(t *testing.T) {
	for _, c := range []struct {
		args    []string
		pos     []string
		data    string
		yes     bool
		n       int
		wantErr bool
	}{
		{[]string{"users", "list"}, []string{"users", "list"}, "./data", false, 0, false},
		{[]string{"-data", "/d", "users", "list"}, []string{"users", "list"}, "/d", false, 0, false},
		{[]string{"users", "remove", "x", "-yes", "-data=/d"}, []string{"users", "remove", "x"}, "/d", true, 0, false},
		{[]string{"messages", "x", "-n", "5", "INBOX"}, []string{"messages", "x", "INBOX"}, "./data", false, 5, false},
		{[]string{"alias", "add", "--", "-odd@example.org", "x"}, []string{"alias", "add", "-odd@example.org", "x"}, "./data", false, 0, false},
		{[]string{"users", "list", "-bogus"}, nil, "./data", false, 0, true},
		{[]string{"messages", "x", "-n"}, nil, "./data", false, 0, true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		data := fs.String("data", "./data", "")
		yes := fs.Bool("yes", false, "")
		n := fs.Int("n", 0, "")
		pos, err := parseInterleaved(fs, c.args)
		if (err != nil) != c.wantErr {
			t.Errorf("%q: err %v", c.args, err)
			continue
		}
		if err == nil && (!slices.Equal(pos, c.pos) || *data != c.data || *yes != c.yes || *n != c.n) {
			t.Errorf("%q: pos %q data %q yes %v n %d", c.args, pos, *data, *yes, *n)
		}
	}
}
