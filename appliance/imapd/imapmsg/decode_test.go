package imapmsg

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestDecoders(t *testing.T) {
	tests := []struct {
		enc, in, want string
	}{
		{"quoted-printable", "caf=C3=A9", "café"},
		{"quoted-printable", "caf=c3=a9", "café"}, // lower-case hex, tolerated
		{"quoted-printable", "soft=\r\nbreak", "softbreak"},
		{"quoted-printable", "soft=  \t\r\nbreak", "softbreak"}, // padding before a soft break
		{"quoted-printable", "soft=\nbreak", "softbreak"},
		{"quoted-printable", "end=", "end"},
		{"quoted-printable", "trailing  \t\r\nspace  ", "trailing\r\nspace"},
		{"quoted-printable", "inner  space", "inner  space"},
		{"quoted-printable", "=4", "=4"},
		{"quoted-printable", "=XY=", "=XY"},
		{"quoted-printable", "a=\rb", "a=\rb"},
		{"quoted-printable", "=3D=20\r\n", "= \r\n"},
		{"quoted-printable", strings.Repeat(" ", 300) + "x", strings.Repeat(" ", 300) + "x"},
		// White space held back is bounded: beyond maxQPSpace it is text.
		{"quoted-printable", strings.Repeat(" ", 300) + "\r\n", strings.Repeat(" ", maxQPSpace) + "\r\n"},
		{"base64", "aGVsbG8=", "hello"},
		{"base64", "aGVs\r\nbG8=\r\n", "hello"},
		{"base64", "aGVsbG8", "hello"},    // padding missing
		{"base64", "aG Vs*bG8=", "hello"}, // garbage skipped
		{"base64", "aGk=aGk=", "hihi"},    // concatenated blocks
		{"base64", "YQ", "a"},             // two characters, one octet
		{"base64", "Y", ""},               // one character carries nothing
		{"7bit", "as is=41", "as is=41"},
		{"", "as is", "as is"},
		{"binary", "\x00\xff", "\x00\xff"},
	}
	for _, tt := range tests {
		d, err := decoder(tt.enc, strings.NewReader(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(d)
		if err != nil || string(got) != tt.want {
			t.Errorf("%s %q: got %q (%v), want %q", tt.enc, tt.in, got, err, tt.want)
		}
	}
	if _, err := decoder("x-uuencode", strings.NewReader("")); !errors.Is(err, ErrUnknownCTE) {
		t.Errorf("x-uuencode: %v", err)
	}
}
