package certs

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHTTPHandler: the HTTP-01 answer for a token of an order in
// progress, 404 for any other token or method, and every other path to
// the next handler.
func TestHTTPHandler(t *testing.T) {
	m := newSelf(t, t.TempDir(), "mail.example.org")
	m.tokens["tok-1"] = "tok-1.thumbprint"
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := m.HTTPHandler(next)
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/.well-known/acme-challenge/tok-1", 200, "tok-1.thumbprint"},
		{"HEAD", "/.well-known/acme-challenge/tok-1", 200, ""},
		{"POST", "/.well-known/acme-challenge/tok-1", 404, ""},
		{"GET", "/.well-known/acme-challenge/tok-2", 404, ""},
		{"GET", "/.well-known/acme-challenge/", 404, ""},
		{"GET", "/.well-known/acme-challenge/../../etc/passwd", 404, ""},
		{"GET", "/mail/config-v1.1.xml", http.StatusTeapot, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, "http://mail.example.org"+c.path, nil))
		if rec.Code != c.code || (c.body != "" && rec.Body.String() != c.body) {
			t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, rec.Code, rec.Body.String(), c.code, c.body)
		}
	}
}

// FuzzCheckPair: whatever is pasted, CheckPair answers with a certificate
// or an *InputError, and never panics.
func FuzzCheckPair(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("garbage"), []byte(""))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\ntrailing"), []byte("-----BEGIN EC PRIVATE KEY-----\n\n-----END EC PRIVATE KEY-----"))
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, cert, key []byte) {
		c, err := CheckPair(cert, key, "mail.example.org", now, nil)
		if err == nil && c == nil {
			t.Fatal("no certificate and no error")
		}
		if err != nil {
			if _, ok := err.(*InputError); !ok {
				t.Fatalf("error %T %v is not an InputError", err, err)
			}
		}
	})
}
