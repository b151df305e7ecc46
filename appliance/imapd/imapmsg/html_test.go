package imapmsg

import (
	"bytes"
	"strings"
	"testing"
)

func TestHTMLText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<p>Hello <b>World</b></p>", " Hello World "},
		{"Tom &amp; Jerry &lt;3 &#x263A; &eacute;t&eacute;", "Tom & Jerry <3 ☺ été"},
		{"a<!-- hidden -->b", "ab"},
		{"<script>var x = '<p>no</p>';</script>yes<style>.a{}</style>", "yes"},
		{"<td>one</td><td>two</td>", " one  two "},
		{"line<br>break<br/>again", "line break again"},
		{"<a href=\"https://x.test/?a=1&amp;b=2\">link</a>", "link"},
		{"unclosed <b tag", "unclosed "},
		{"no markup at all", "no markup at all"},
	} {
		var out bytes.Buffer
		if err := htmlText(&out, strings.NewReader(tc.in)); err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if out.String() != tc.want {
			t.Errorf("%q reads %q; want %q", tc.in, out.String(), tc.want)
		}
	}
}

// FuzzHTMLText: any input is read to its end without an error, and text
// with nothing HTML would interpret comes out as it went in.
func FuzzHTMLText(f *testing.F) {
	f.Add("<p>Hello <b>World</b></p>")
	f.Add("<script>x</script><!-- y -->&amp;&#0;")
	f.Add("plain words")
	f.Fuzz(func(t *testing.T, in string) {
		var out bytes.Buffer
		if err := htmlText(&out, strings.NewReader(in)); err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if !strings.ContainsAny(in, "<&\r\x00") && out.String() != in {
			t.Fatalf("%q reads %q", in, out.String())
		}
	})
}
