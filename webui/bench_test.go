package webui

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// BenchmarkPages renders each page behind the login with 1,000 accounts
// in the store, through the whole handler (gates, session lookup, admin
// layer, template), in-process. Setting up the accounts takes a while:
// every password is hashed with argon2id.
//
//	go test -run '^$' -bench BenchmarkPages -benchtime 200x ./webui
func BenchmarkPages(b *testing.B) {
	s := newSite(b)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < 998; i += 2 {
				if _, err := s.st.CreateAccount(fmt.Sprintf("user%04d@example.org", i), "password-1234"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	ss := &sessions{store: s.st, now: s.clock.Now}
	token, _, err := ss.create(boss, "")
	if err != nil {
		b.Fatal(err)
	}
	h := New(s.opts)
	for _, path := range []string{"/accounts", "/accounts?page=20", "/accounts?q=user05", "/accounts/" + url.PathEscape(worker), "/me", "/domains", "/settings", "/queue", "/"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", path, nil)
				req.RemoteAddr = "127.0.0.1:40000"
				req.Host = "localhost"
				req.AddCookie(&http.Cookie{Name: cookieName, Value: token})
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
				}
			}
		})
	}
}
