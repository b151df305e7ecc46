package webui

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzLocalPath: a "next" page kept after login is always a path on this
// box: no scheme, no host, no line break.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/accounts", "//evil.example", "/\\evil", "https://evil.example/", "/a?b=c#d", "/%2F%2Fevil", "/\r\nX: y", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := localPath(s)
		if p == "" {
			return
		}
		u, err := url.Parse(p)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\r\n\\") {
			t.Fatalf("localPath(%q) = %q", s, p)
		}
	})
}

// FuzzNumber: a number a person typed is either a whole number from 0 to
// 10 million or a message that repeats no control character.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "500", " 12 ", "-1", "1e3", "lots", "99999999999999999999", "\x00", "5\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := number("quota", s, "a number")
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n\x00") {
				t.Fatalf("message for %q: %q", s, err)
			}
			return
		}
		if n < 0 || n > 10_000_000 {
			t.Fatalf("number(%q) = %d", s, n)
		}
	})
}
