package webui

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/queue"
	"postroom/storage"
)

// formCase is one form sent by an administrator: the answer's status,
// the message expected next to which field (id "err-form-field", or
// "err-form" for the form as a whole), and a check on the store after.
type formCase struct {
	name   string
	path   string
	form   url.Values
	code   int
	errID  string // "" for a good input
	want   string // in the page
	secret string // must not be on the page
	check  func(t *testing.T, s *site)
}

func runForms(t *testing.T, s *site, b *browser, cases []formCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.t = t
			b.get("/accounts") // a fresh token
			resp, body := b.post(tc.path, tc.form)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tc.code, body)
			}
			if tc.errID != "" && (!strings.Contains(body, `id="`+tc.errID+`"`) || !strings.Contains(body, `id="not-saved"`)) {
				t.Errorf("no message at %s, or none at the top\n%s", tc.errID, body)
			}
			if tc.want != "" && !strings.Contains(body, tc.want) {
				t.Errorf("page lacks %q\n%s", tc.want, body)
			}
			if tc.secret != "" && strings.Contains(body, tc.secret) {
				t.Errorf("page shows the secret %q", tc.secret)
			}
			if strings.Contains(body, "<script>") {
				t.Errorf("page carries a script from the input")
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func noAccount(name string) func(t *testing.T, s *site) {
	return func(t *testing.T, s *site) {
		t.Helper()
		if _, err := s.adm.GetAccount(context.Background(), "test", admin.GetAccount{Name: name}); admin.CodeOf(err) != admin.CodeNotFound {
			t.Errorf("account %q exists (%v)", name, err)
		}
	}
}

// TestAccountForms: every form of the accounts pages with good input and
// each kind of bad input; a refused form changes nothing (storage.Check
// runs in the store's cleanup).
func TestAccountForms(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	b.login(boss, bossPW)
	ctx := context.Background()
	// Ann uses about 2 MB, to set a limit below.
	annAcct, err := s.st.Account(worker)
	if err != nil {
		t.Fatal(err)
	}
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", 2_000_000) + "\r\n"
	if _, err := s.st.Append(ctx, annAcct.ID, storage.InboxName, 0, nil, t0, strings.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	ann := "/accounts/" + url.PathEscape(worker)
	long := strings.Repeat("a", 250) + "@example.org"
	runForms(t, s, b, []formCase{
		{name: "add empty", path: "/accounts", form: url.Values{"name": {""}}, code: 400, errID: "err-add-name", want: "Give an address"},
		{name: "add html", path: "/accounts", form: url.Values{"name": {"<script>x</script>@example.org"}}, code: 400, errID: "err-add-name", check: noAccount("x@example.org")},
		{name: "add crlf", path: "/accounts", form: url.Values{"name": {"eve@example.org\r\nBcc: x@evil.example"}}, code: 400, errID: "err-add-name", check: noAccount("eve@example.org")},
		{name: "add control", path: "/accounts", form: url.Values{"name": {"e\x01ve@example.org"}}, code: 400, errID: "err-add-name"},
		{name: "add overlong", path: "/accounts", form: url.Values{"name": {long}}, code: 400, errID: "err-add-name", want: "at most 254"},
		{name: "add duplicate", path: "/accounts", form: url.Values{"name": {"ANN@example.org"}, "password": {"some-password-1"}}, code: 409, errID: "err-add-name", secret: "some-password-1"},
		{name: "add short password", path: "/accounts", form: url.Values{"name": {"eve@example.org"}, "password": {"short"}}, code: 400, errID: "err-add-password", want: `value="eve@example.org"`, check: noAccount("eve@example.org")},
		{name: "add idna", path: "/accounts", form: url.Values{"name": {"Jörg@Bücher.example"}, "password": {"jorg-password-1"}}, code: 303, check: func(t *testing.T, s *site) {
			if a := s.account(t, "jörg@xn--bcher-kva.example"); a.Admin {
				t.Errorf("jörg: %+v", a)
			}
		}},
		{name: "add generated", path: "/accounts", form: url.Values{"name": {"cy@example.org"}, "admin": {"on"}}, code: 200, want: `id="new-password"`, check: func(t *testing.T, s *site) {
			if a := s.account(t, "cy@example.org"); !a.Admin {
				t.Errorf("cy is not an administrator")
			}
		}},
		{name: "address html", path: ann + "/address", form: url.Values{"address": {`"><b>@example.org`}}, code: 400, errID: "err-address-address"},
		{name: "address taken", path: ann + "/address", form: url.Values{"address": {boss}}, code: 409, errID: "err-address-address", want: boss},
		{name: "address good", path: ann + "/address", form: url.Values{"address": {"Sales@Example.org"}}, code: 303, check: func(t *testing.T, s *site) {
			if a := s.account(t, worker); len(a.Addresses) != 2 {
				t.Errorf("addresses %v", a.Addresses)
			}
		}},
		{name: "address catch-all", path: ann + "/address", form: url.Values{"address": {"@example.org"}}, code: 303},
		{name: "unaddress login", path: ann + "/unaddress", form: url.Values{"address": {worker}}, code: 409, errID: "err-unaddress"},
		{name: "unaddress good", path: ann + "/unaddress", form: url.Values{"address": {"sales@example.org"}}, code: 303},
		{name: "quota words", path: ann + "/quota", form: url.Values{"quota": {"lots"}}, code: 400, errID: "err-quota-quota", want: `value="lots"`},
		{name: "quota negative", path: ann + "/quota", form: url.Values{"quota": {"-5"}}, code: 400, errID: "err-quota-quota"},
		{name: "quota below usage", path: ann + "/quota", form: url.Values{"quota": {"1"}}, code: 409, errID: "err-quota", check: func(t *testing.T, s *site) {
			if a := s.account(t, worker); a.Quota != 0 {
				t.Errorf("quota %d saved", a.Quota)
			}
		}},
		{name: "quota good", path: ann + "/quota", form: url.Values{"quota": {"500"}}, code: 303, check: func(t *testing.T, s *site) {
			if a := s.account(t, worker); a.Quota != 500e6 {
				t.Errorf("quota %d", a.Quota)
			}
		}},
		{name: "retention bad", path: ann + "/retention", form: url.Values{"days": {"1e3"}}, code: 400, errID: "err-retention-days"},
		{name: "retention good", path: ann + "/retention", form: url.Values{"days": {"30"}}, code: 303, check: func(t *testing.T, s *site) {
			if a := s.account(t, worker); a.RetentionDays != 30 {
				t.Errorf("retention %d", a.RetentionDays)
			}
		}},
		{name: "password short", path: ann + "/password", form: url.Values{"password": {"abc"}}, code: 400, errID: "err-password-password", secret: `value="abc"`},
		{name: "password generated", path: ann + "/password", form: url.Values{}, code: 200, want: `class="secret"`},
		{name: "unknown account", path: "/accounts/" + url.PathEscape("nobody@example.org") + "/quota", form: url.Values{"quota": {"5"}}, code: 404},
		{name: "rename onto another", path: "/accounts/" + url.PathEscape("cy@example.org") + "/rename", form: url.Values{"new_name": {boss}}, code: 409, errID: "err-rename-new_name", check: func(t *testing.T, s *site) { s.account(t, "cy@example.org") }},
		{name: "rename empty", path: "/accounts/" + url.PathEscape("cy@example.org") + "/rename", form: url.Values{"new_name": {" "}}, code: 400, errID: "err-rename-new_name"},
		{name: "rename crlf", path: "/accounts/" + url.PathEscape("cy@example.org") + "/rename", form: url.Values{"new_name": {"cy2@example.org\r\nBcc: x@evil.example"}}, code: 400, errID: "err-rename-new_name", check: noAccount("cy2@example.org")},
		{name: "rename good", path: "/accounts/" + url.PathEscape("cy@example.org") + "/rename", form: url.Values{"new_name": {"Cyril@example.org"}, "keep_old_address": {"on"}}, code: 303, check: func(t *testing.T, s *site) {
			if a := s.account(t, "cyril@example.org"); len(a.Addresses) != 2 || !a.Admin {
				t.Errorf("renamed: %+v", a)
			}
		}},
		{name: "remove unconfirmed", path: ann + "/remove", form: url.Values{"confirm": {"yes"}}, code: 400, errID: "err-remove-confirm", check: func(t *testing.T, s *site) { s.account(t, worker) }},
		{name: "remove good", path: ann + "/remove", form: url.Values{"confirm": {worker}}, code: 303, check: noAccount(worker)},
	})
	// The last administrator stays one: cy was made one above, so first
	// cy goes, then the boss cannot drop their own flag.
	bossPath := "/accounts/" + url.PathEscape(boss)
	runForms(t, s, b, []formCase{
		{name: "second admin off", path: "/accounts/" + url.PathEscape("cyril@example.org") + "/admin", form: url.Values{}, code: 303},
		{name: "last admin off", path: bossPath + "/admin", form: url.Values{}, code: 409, errID: "err-admin", want: "administrator", check: func(t *testing.T, s *site) {
			if !s.account(t, boss).Admin {
				t.Error("the last administrator lost the flag")
			}
		}},
		{name: "last admin removed", path: bossPath + "/remove", form: url.Values{"confirm": {boss}}, code: 409, errID: "err-remove", check: func(t *testing.T, s *site) { s.account(t, boss) }},
	})
}

// TestAccountsList: search and paging over many accounts.
func TestAccountsList(t *testing.T) {
	s := newSite(t)
	for i := range 120 {
		if _, err := s.st.CreateAccount(fmt.Sprintf("z%03d@example.org", i), "password-1234"); err != nil {
			t.Fatal(err)
		}
	}
	b := s.browser(t)
	b.login(boss, bossPW)
	resp, body := b.get("/accounts")
	wantStatus(t, resp, body, 200, "list")
	if !strings.Contains(body, "122 accounts. Page 1 of 3.") || strings.Count(body, `href="/accounts/`) != PageSize || !strings.Contains(body, `id="next"`) {
		t.Errorf("first page:\n%s", body)
	}
	resp, body = b.get("/accounts?page=3")
	if !strings.Contains(body, "Page 3 of 3") || strings.Count(body, `href="/accounts/`) != 22 || strings.Contains(body, `id="next"`) {
		t.Errorf("last page:\n%s", body)
	}
	resp, body = b.get("/accounts?q=z11")
	if !strings.Contains(body, "10 of 122 accounts match") {
		t.Errorf("search:\n%s", body)
	}
	resp, body = b.get("/accounts?q=%3Cscript%3E&page=99")
	wantStatus(t, resp, body, 200, "odd search")
	if strings.Contains(body, "<script>") || !strings.Contains(body, "No account matches") {
		t.Errorf("odd search:\n%s", body)
	}
}

// TestSettingsForms: domains, host name and smarthost, good and bad.
func TestSettingsForms(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	b.login(boss, bossPW)
	for _, p := range []string{"/domains", "/settings", "/queue"} {
		resp, body := b.get(p)
		wantStatus(t, resp, body, 200, p)
	}
	settings := func(t *testing.T) admin.Settings {
		t.Helper()
		v, err := s.adm.GetSettings(context.Background(), "test", admin.GetSettings{})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	runForms(t, s, b, []formCase{
		{name: "domain empty", path: "/settings/domain", form: url.Values{"domain": {""}}, code: 400, errID: "err-domain-domain"},
		{name: "domain space", path: "/settings/domain", form: url.Values{"domain": {"exa mple.org"}}, code: 400, errID: "err-domain-domain"},
		{name: "domain script", path: "/settings/domain", form: url.Values{"domain": {"<script>.org"}}, code: 400, errID: "err-domain-domain"},
		{name: "domain idna", path: "/settings/domain", form: url.Values{"domain": {"Bücher.Example"}}, code: 303, check: func(t *testing.T, s *site) {
			if d := settings(t).Domains; len(d) != 2 || d[1] != "xn--bcher-kva.example" {
				t.Errorf("domains %v", d)
			}
		}},
		{name: "domain duplicate", path: "/settings/domain", form: url.Values{"domain": {"EXAMPLE.org"}}, code: 409, errID: "err-domain-domain"},
		{name: "undomain in use", path: "/settings/undomain", form: url.Values{"domain": {"example.org"}}, code: 409, errID: "err-undomain"},
		{name: "hostname crlf", path: "/settings/hostname", form: url.Values{"hostname": {"mail.example.org\r\nX: y"}}, code: 400, errID: "err-hostname-hostname"},
		{name: "smarthost port", path: "/settings/smarthost", form: url.Values{"host": {"smtp.provider.example"}, "port": {"99999"}}, code: 400, errID: "err-smarthost-port", want: `value="smtp.provider.example"`},
		{name: "smarthost tls", path: "/settings/smarthost", form: url.Values{"host": {"smtp.provider.example"}, "tls": {"maybe"}}, code: 400, errID: "err-smarthost-tls"},
		{name: "smarthost html", path: "/settings/smarthost", form: url.Values{"host": {"<b>smtp</b>"}}, code: 400, errID: "err-smarthost-host"},
		{name: "smarthost good", path: "/settings/smarthost", form: url.Values{"host": {"smtp.provider.example"}, "port": {"587"}, "username": {"office"}, "password": {"provider-secret"}}, code: 200, want: "Saved", secret: "provider-secret", check: func(t *testing.T, s *site) {
			if sh := settings(t).Smarthost; sh.Host != "smtp.provider.example" || sh.Port != 587 || !sh.HasPassword {
				t.Errorf("smarthost %+v", sh)
			}
		}},
	})
	if strings.Contains(s.log.String(), "provider-secret") {
		t.Error("the smarthost password is in the log")
	}
}

// TestQueuePage: a waiting message with its last error in words, retried
// and deleted from the page.
func TestQueuePage(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	m, err := s.st.QueueAdd(ctx, storage.QueueNew{From: boss, To: []string{"bob@remote.example"}},
		strings.NewReader("From: boss@example.org\r\nSubject: report\r\n\r\nnumbers\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.QueueUpdate(m.ID, func(q *storage.QueueMessage) error {
		q.Recipients[0].Attempts = 3
		q.Recipients[0].LastError = "550 5.1.1 <bob@remote.example>: user unknown"
		q.Recipients[0].Status = "4.4.1"
		q.Recipients[0].NextAttempt = t0.Add(time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b := s.browser(t)
	b.login(boss, bossPW)
	resp, body := b.get("/queue")
	wantStatus(t, resp, body, 200, "queue")
	for _, want := range []string{"bob@remote.example", "next try in 60 minutes", "3 attempts so far", "could not be reached", "user unknown"} {
		if !strings.Contains(body, want) {
			t.Errorf("queue page lacks %q\n%s", want, body)
		}
	}
	id := queue.FormatID(m.ID)
	runForms(t, s, b, []formCase{
		{name: "retry unknown", path: "/queue/retry", form: url.Values{"id": {"nonsense"}}, code: 400, errID: "err-queue"},
		{name: "retry", path: "/queue/retry", form: url.Values{"id": {id}}, code: 303},
		{name: "delete", path: "/queue/delete", form: url.Values{"id": {id}}, code: 303, check: func(t *testing.T, s *site) {
			if l, err := s.adm.ListQueue(ctx, "test", admin.ListQueue{}); err != nil || len(l.Messages) != 0 {
				t.Errorf("queue after delete: %+v %v", l, err)
			}
		}},
	})
	resp, body = b.get("/queue")
	if !strings.Contains(body, "Nothing waiting") {
		t.Errorf("empty queue:\n%s", body)
	}
}
