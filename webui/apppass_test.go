package webui

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"postroom/storage"
)

var newAppPassRE = regexp.MustCompile(`<p class="secret">([a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4})</p>`)

// TestAppPasswordPages: a user makes an app password on /me (shown once,
// the name escaped), it logs in for mail, it is listed with its last use,
// removed it fails; bad names get a message next to the field; another
// account's app password cannot be removed from /me; the password kept
// for the web; devices and the last login on the administrator's pages.
func TestAppPasswordPages(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	b.login(worker, workerPW)
	resp, body := b.get("/me")
	wantStatus(t, resp, body, 200, "/me")
	if !strings.Contains(body, "No app passwords yet.") || !strings.Contains(body, "No login yet.") && !strings.Contains(body, "This web page") {
		t.Fatalf("/me without app passwords:\n%s", body)
	}
	for _, tc := range []struct{ name, want string }{
		{"", "give the app password a name"},
		{"   ", "give the app password a name"},
		{strings.Repeat("x", 65), "give the app password a name"},
		{"phone\r\nBcc: x@example.org", "give the app password a name"},
		{"tab\there", "give the app password a name"},
	} {
		resp, body = b.post("/me/apppass", url.Values{"name": {tc.name}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="err-apppass-name"`) || !strings.Contains(strings.ToLower(html.UnescapeString(body)), tc.want) {
			t.Errorf("name %q: %d, want 400 with %q next to the field\n%s", tc.name, resp.StatusCode, tc.want, body)
		}
		if newAppPassRE.MatchString(body) {
			t.Errorf("name %q: an app password was shown", tc.name)
		}
	}
	resp, body = b.post("/me/apppass", url.Values{"name": {`<script>alert(1)</script> phone`}})
	wantStatus(t, resp, body, 200, "make an app password")
	m := newAppPassRE.FindStringSubmatch(body)
	if m == nil || strings.Contains(body, "<script>alert") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt; phone") {
		t.Fatalf("new app password not shown once, or the name not escaped:\n%s", body)
	}
	secret := m[1]
	if _, body := b.get("/me"); strings.Contains(body, secret) {
		t.Fatalf("the app password is shown again on the next visit")
	}
	if strings.Contains(s.log.String(), secret) {
		t.Errorf("the app password is in the log")
	}
	a, err := s.st.Authenticate(worker, secret)
	if err != nil || a.AppPassword != "<script>alert(1)</script> phone" {
		t.Fatalf("mail login with it: %+v %v", a, err)
	}
	if err := s.st.NoteLogin(worker, storage.Login{Protocol: "imap", Addr: "192.168.1.7", Client: a.AppPassword}); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(5 * time.Minute)
	_, body = b.get("/me")
	if !strings.Contains(body, "5 minutes ago") || !strings.Contains(body, "Reading mail (IMAP)") || !strings.Contains(body, "192.168.1.7") {
		t.Errorf("/me lacks the last use or the device:\n%s", body)
	}
	list, err := s.st.AppPasswords(worker)
	if err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	id := list[0].ID

	// The boss's own app password cannot be removed from ann's /me, and
	// ann's form always means ann's account.
	bb := s.browser(t)
	bb.login(boss, bossPW)
	bb.get("/me")
	resp, body = bb.post("/me/apppass", url.Values{"name": {"Boss laptop"}})
	wantStatus(t, resp, body, 200, "boss makes one")
	bossList, _ := s.st.AppPasswords(boss)
	resp, body = b.post("/me/unapppass", url.Values{"id": {bossList[0].ID}, "account": {boss}})
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `id="err-unapppass-id"`) {
		t.Errorf("removing another account's app password: %d\n%s", resp.StatusCode, body)
	}
	if l, _ := s.st.AppPasswords(boss); len(l) != 1 {
		t.Errorf("the boss's app password is gone")
	}

	// Wrong session, no form token, another site's post.
	anon := s.browser(t)
	resp, _ = anon.post("/me/apppass", url.Values{"name": {"x"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.post("/me/unapppass", url.Values{"id": {id}, "csrf": {"wrong"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong form token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", s.srv.URL+"/me/unapppass", strings.NewReader(url.Values{"id": {id}, "csrf": {b.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if resp, _ := b.do(req); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site post: %d", resp.StatusCode)
	}
	resp, _ = b.post("/me/nosuchform", url.Values{})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown form: %d", resp.StatusCode)
	}
	if _, err := s.st.Authenticate(worker, secret); err != nil {
		t.Fatalf("refused posts removed the app password: %v", err)
	}

	// The account's password for the web only, then the removal.
	resp, _ = b.post("/me/webonly", url.Values{"webonly": {"on"}})
	wantStatus(t, resp, "", http.StatusSeeOther, "web only")
	if _, err := s.st.Authenticate(worker, workerPW); err == nil {
		t.Errorf("the web-only password works for mail")
	}
	if _, body := b.get("/me"); !strings.Contains(body, `name="webonly" checked`) {
		t.Errorf("the web-only box is not ticked")
	}
	resp, _ = b.post("/me/unapppass", url.Values{"id": {id}})
	wantStatus(t, resp, "", http.StatusSeeOther, "remove")
	if _, err := s.st.Authenticate(worker, secret); err == nil {
		t.Errorf("a removed app password works")
	}
	if _, body := b.get("/me?done=unapppass"); !strings.Contains(body, "App password removed") || !strings.Contains(body, "No app passwords yet.") {
		t.Errorf("after the removal:\n%s", body)
	}

	// The administrator's pages: the last login in the list, app
	// passwords and devices on the account, managed there too.
	_, body = bb.get("/accounts")
	if !strings.Contains(body, "Last login") || !strings.Contains(body, "5 minutes ago") {
		t.Errorf("accounts list lacks the last login:\n%s", body)
	}
	resp, body = bb.post("/accounts/"+worker+"/apppass", url.Values{"name": {"Office PC"}})
	wantStatus(t, resp, body, 200, "administrator makes one")
	if !newAppPassRE.MatchString(body) || !strings.Contains(body, "192.168.1.7") {
		t.Errorf("account page after making an app password:\n%s", body)
	}
	l, _ := s.st.AppPasswords(worker)
	resp, body = bb.post("/accounts/"+worker+"/unapppass", url.Values{"id": {"zzzz"}})
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "has no app password") {
		t.Errorf("removing an unknown one: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = bb.post("/accounts/"+worker+"/unapppass", url.Values{"id": {l[0].ID}})
	wantStatus(t, resp, "", http.StatusSeeOther, "administrator removes it")
	if l, _ := s.st.AppPasswords(worker); len(l) != 0 {
		t.Errorf("still %d app passwords", len(l))
	}
	// A user cannot reach another account's page.
	if resp, _ := b.post("/accounts/"+boss+"/unapppass", url.Values{"id": {bossList[0].ID}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a user posting to the boss's account page: %d", resp.StatusCode)
	}
}
