package imapstress

import (
	"bufio"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The parser reads what servers write: literals, quoted strings with
// escapes, nested lists, and fetch items whose [section] holds spaces.
func TestParser(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // the values, written back by show
		err  bool
	}{
		{`1 FETCH (UID 7 FLAGS (\Seen $Stress1))`, `1 FETCH (UID 7 FLAGS (\Seen $Stress1))`, false},
		{"3 FETCH (BODY[HEADER.FIELDS (\"SUBJECT\")] {11}\r\nSubject: x\n UID 9)", "3 FETCH (BODY[HEADER.FIELDS (\"SUBJECT\")] \"Subject: x\n\" UID 9)", false},
		{`2 FETCH (BODY[]<10> "a\"b\\c" ENVELOPE (NIL "s" NIL))`, `2 FETCH (BODY[]<10> "a"b\c" ENVELOPE (NIL "s" NIL))`, false},
		{"1 FETCH (BINARY[1] ~{3}\r\na\x00b)", "1 FETCH (BINARY[1] \"a\x00b\")", false},
		{`LIST () "/" "INBOX"`, `LIST () "/" "INBOX"`, false},
		{`1 FETCH (UID 7`, ``, true},
		{`1 FETCH (BODY[TEXT "x")`, ``, true},
		{"1 FETCH (BODY[] {99}\r\nshort)", ``, true},
		{"\"unterminated", ``, true},
	} {
		p := &parser{b: []byte(tc.in)}
		vs, err := p.values()
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err == nil {
			if got := show(vs); got != tc.want {
				t.Errorf("%q:\n got %s\nwant %s", tc.in, got, tc.want)
			}
		}
	}
}

func show(vs []val) string {
	var parts []string
	for _, v := range vs {
		switch v.kind {
		case 'l':
			parts = append(parts, "("+show(v.list)+")")
		case 's':
			parts = append(parts, `"`+v.s+`"`)
		default:
			parts = append(parts, v.s)
		}
	}
	return strings.Join(parts, " ")
}

// The connection reads responses with their literals, and the ones that
// break the grammar are errors, not hangs.
func TestConnRead(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		defer b.Close()
		w := bufio.NewWriter(b)
		w.WriteString("* 1 FETCH (BODY[] {5}\r\nab\r\nc UID 3)\r\n+ idling\r\nc1 OK [COPYUID 5 1:2 8,9] done\r\nno line end\n")
		w.Flush()
	}()
	c := newConn(a, &transcript{}, 5*time.Second)
	r, err := c.read()
	if err != nil || r.tag != "*" || string(r.rest) != "1 FETCH (BODY[] {5}\r\nab\r\nc UID 3)" {
		t.Fatalf("literal response: %q %v", r.rest, err)
	}
	if r, err = c.read(); err != nil || r.tag != "+" {
		t.Fatalf("continuation: %+v %v", r, err)
	}
	r, err = c.read()
	if err != nil || r.tag != "c1" {
		t.Fatalf("tagged: %+v %v", r, err)
	}
	if st, code, text := statusText(r.rest); st != "OK" || code != "COPYUID 5 1:2 8,9" || text != "done" {
		t.Errorf("statusText = %q %q %q", st, code, text)
	}
	if _, err := c.read(); err == nil {
		t.Error("a line without CRLF was read")
	}
}

func TestSets(t *testing.T) {
	if got := seqSet([]uint32{9, 1, 2, 3, 7, 3, 10}); got != "1:3,7,9:10" {
		t.Errorf("seqSet = %q", got)
	}
	for in, want := range map[string][]uint32{"4": {4}, "1:3,7": {1, 2, 3, 7}, "5:3": {5, 4, 3}} {
		if got, err := parseSet(in); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("parseSet(%q) = %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "1:", "a", "1:999999", "1,,2"} {
		if _, err := parseSet(bad); err == nil {
			t.Errorf("parseSet(%q) accepted", bad)
		}
	}
}

// The view follows EXISTS and EXPUNGE and refuses what cannot happen.
func TestView(t *testing.T) {
	v := &view{}
	if err := v.exists(3); err != nil {
		t.Fatal(err)
	}
	for i, uid := range []uint32{4, 9, 12} {
		if err := v.setUID(i+1, uid); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		do   func() error
		kind string
	}{
		{"shrinking EXISTS", func() error { return v.exists(2) }, "inconsistent: exists-decreased"},
		{"EXPUNGE past the end", func() error { _, err := v.expunge(4); return err }, "inconsistent: expunge-range"},
		{"a UID that changes", func() error { return v.setUID(2, 10) }, "inconsistent: uid-changed"},
	} {
		err := tc.do()
		f, ok := err.(*failure)
		if !ok || f.kind != tc.kind {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.kind)
		}
	}
	if _, err := v.expunge(2); err != nil || len(v.msgs) != 2 || v.msgs[1].uid != 12 {
		t.Fatalf("EXPUNGE 2: %v, view %d", err, len(v.msgs))
	}
	v.exists(3)
	if err := v.setUID(3, 11); err == nil {
		t.Error("a new message got a UID below an earlier message's")
	}
	if err := v.setUID(3, 13); err != nil {
		t.Error(err)
	}
}
