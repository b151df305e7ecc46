package wire

import "testing"

func TestSectionNames(t *testing.T) {
	for _, tc := range []struct {
		line, body, binary, size string
	}{
		{line: "FETCH 1 BODY.PEEK[]<0.100>", body: "BODY[]<0>"},
		{line: "FETCH 1 body[1.2.mime]", body: "BODY[1.2.MIME]"},
		{line: "FETCH 1 BODY[HEADER]", body: "BODY[HEADER]"},
		{line: `FETCH 1 BODY[2.HEADER.FIELDS.NOT (x-a "b\"c" {3}` + "\r\nNIL)]<7.8>", body: `BODY[2.HEADER.FIELDS.NOT (x-a "b\"c" "NIL")]<7>`},
		{line: "FETCH 1 BINARY.PEEK[1.2]<10.20>", binary: "BINARY[1.2]<10>"},
		{line: "FETCH 1 BINARY[]", binary: "BINARY[]"},
		{line: "FETCH 1 BINARY.SIZE[3]", size: "BINARY.SIZE[3]"},
	} {
		f, err := parseLine(t, tc.line, ParseFetch)
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		var body, binary, size string
		if len(f.Options.BodySection) > 0 {
			body = BodySectionName(f.Options.BodySection[0])
		}
		if len(f.Options.BinarySection) > 0 {
			binary = BinarySectionName(f.Options.BinarySection[0])
		}
		if len(f.Options.BinarySectionSize) > 0 {
			size = BinarySizeName(f.Options.BinarySectionSize[0].Part)
		}
		if body != tc.body || binary != tc.binary || size != tc.size {
			t.Errorf("%s: got %q %q %q", tc.line, body, binary, size)
		}
	}
}

func TestFetchString(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"FETCH 1:3 ALL", "1:3 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"},
		{"UID FETCH 5:* (FLAGS) (CHANGEDSINCE 9 VANISHED)", "5:* (UID FLAGS MODSEQ) (CHANGEDSINCE 9 VANISHED)"},
		{"FETCH $ (BODY.PEEK[HEADER.FIELDS (From)]<0.10> BINARY.SIZE[1] RFC822)", "$ (RFC822 BODY.PEEK[HEADER.FIELDS (From)]<0.10> BINARY.SIZE[1])"},
	} {
		f, err := parseLine(t, tc.line, ParseFetch)
		if err != nil || f.String() != tc.want {
			t.Errorf("%s: got %q %v, want %q", tc.line, f.String(), err, tc.want)
		}
	}
}
