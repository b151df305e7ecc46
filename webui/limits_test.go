package webui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLimitsForm: the settings page shows the limits and saves them;
// bad numbers get a message next to their field and save nothing.
func TestLimitsForm(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	b.login(boss, bossPW)
	resp, body := b.get("/settings")
	wantStatus(t, resp, body, 200, "settings")
	if !strings.Contains(body, `name="max_message_mb" value="52"`) || !strings.Contains(body, `name="max_recipients" value="100"`) {
		t.Fatalf("settings page lacks the limits:\n%s", body)
	}
	for _, tc := range []struct {
		mb, rcpt, conns, field string
	}{
		{"", "100", "100", "max_message_bytes"},
		{"0", "100", "100", "max_message_bytes"},
		{"5000", "100", "100", "max_message_bytes"},
		{"<b>", "100", "100", "max_message_bytes"},
		{"50", "-1", "100", "max_recipients"},
		{"50", "100", "20000", "max_connections"},
		{"50", "100", "1\r\n2", "max_connections"},
	} {
		resp, body := b.post("/settings/limits", url.Values{"max_message_mb": {tc.mb}, "max_recipients": {tc.rcpt}, "max_connections": {tc.conns}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="err-limits-`+tc.field+`"`) || strings.Contains(body, "<b>\"") {
			t.Errorf("%q %q %q: %d, want 400 with a message at %s\n%s", tc.mb, tc.rcpt, tc.conns, resp.StatusCode, tc.field, body)
		}
	}
	resp, body = b.post("/settings/limits", url.Values{"max_message_mb": {"20"}, "max_recipients": {"50"}, "max_connections": {"30"}})
	if resp.StatusCode != 200 || !strings.Contains(body, `id="notice"`) || !strings.Contains(body, "Saved") {
		t.Fatalf("save the limits: %d\n%s", resp.StatusCode, body)
	}
	_, body = b.get("/settings")
	if !strings.Contains(body, `name="max_message_mb" value="20"`) || !strings.Contains(body, `name="max_connections" value="30"`) {
		t.Errorf("the saved limits are not shown:\n%s", body)
	}
}
