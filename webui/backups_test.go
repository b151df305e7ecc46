package webui

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"postroom/appliance/status"
	"postroom/storage"
)

// upload posts a multipart form: the fields in order, then the file.
func (b *browser) uploadForm(path string, fields [][2]string, file []byte) (*http.Response, string) {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		mw.WriteField(f[0], f[1])
	}
	fw, _ := mw.CreateFormFile("file", "upload")
	fw.Write(file)
	mw.Close()
	req, _ := http.NewRequest("POST", b.s.srv.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// TestBackupsPage: set-up (a bad folder refused at its field; the
// recovery key shown once), a backup with its restore test in the table,
// the download of an account's mail as mbox and Maildir zips, and their
// upload back (twice: nothing added), with bad uploads refused in words.
func TestBackupsPage(t *testing.T) {
	s := newSite(t)
	s.opts.UpdateDir = t.TempDir() // uploads wait there
	s.srv.Close()
	s.srv = httptest.NewServer(New(s.opts))
	defer s.srv.Close()
	ann, _ := s.st.Account(worker)
	for _, body := range []string{"Subject: one\r\n\r\nFrom the office\r\n", "Subject: two\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n"} {
		if _, err := s.st.Deliver(context.Background(), storage.Delivery{Recipients: []storage.Recipient{{Account: ann.ID}}}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	w := s.browser(t)
	w.login(worker, workerPW)
	if resp, _ := w.get("/backups"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a user sees the backups page: %d", resp.StatusCode)
	}
	b := s.browser(t)
	b.login(boss, bossPW)
	if _, body := b.get("/backups"); !strings.Contains(body, "Last verified restore: <strong>never") {
		t.Fatalf("fresh page:\n%s", body)
	}
	usb := t.TempDir()
	runForms(t, s, b, []formCase{
		{name: "relative folder", path: "/backups/settings", form: url.Values{"target": {"folder"}, "folder": {"usb"}, "hour": {"2"}}, code: 400, errID: "err-settings-folder", want: "absolute path"},
		{name: "no such hour", path: "/backups/settings", form: url.Values{"target": {"folder"}, "folder": {usb}, "hour": {"25"}}, code: 400, errID: "err-settings-hour"},
		{name: "sftp without server", path: "/backups/settings", form: url.Values{"target": {"sftp"}, "hour": {"2"}}, code: 400, errID: "err-settings-sftp_address"},
	})
	b.get("/backups")
	resp, body := b.post("/backups/settings", url.Values{"target": {"folder"}, "folder": {usb}, "hour": {"3"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "AGE-SECRET-KEY-1") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("set-up: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	if _, body := b.get("/backups"); strings.Contains(body, "AGE-SECRET-KEY-1") {
		t.Error("the recovery key is shown again")
	}
	if resp, _ := b.post("/backups/now", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("back up now: %d", resp.StatusCode)
	}
	if _, body := b.get("/backups?done=started"); !strings.Contains(body, "Restore tested: complete") || strings.Contains(body, "<strong>never") || !strings.Contains(body, "1 backups are on the target") {
		t.Errorf("after a backup:\n%s", body)
	}

	if err := s.st.DeleteMailbox(ann.ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	runForms(t, s, b, []formCase{
		{name: "put back a folder", path: "/backups/mail", form: url.Values{"account": {worker}, "mailbox": {"Archive"}}, code: 200, want: "Archive is back with 0 messages"},
		{name: "put back a folder the backup lacks", path: "/backups/mail", form: url.Values{"account": {worker}, "mailbox": {"Nie"}}, code: 404, errID: "err-mail-mailbox", want: "has no folder Nie"},
		{name: "put back everything", path: "/backups/mail", form: url.Values{"account": {worker}}, code: 200, want: "nothing was missing"},
	})
	zips := map[string][]byte{}
	for _, format := range []string{"mbox", "maildir"} {
		resp, body := b.get("/backups/export?account=" + url.QueryEscape(worker) + "&format=" + format)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" || !strings.Contains(resp.Header.Get("Content-Disposition"), "ann-at-example.org-"+format) {
			t.Fatalf("export %s: %d %v", format, resp.StatusCode, resp.Header)
		}
		zr, err := zip.NewReader(strings.NewReader(body), int64(len(body)))
		if err != nil {
			t.Fatalf("export %s: not a zip: %v", format, err)
		}
		names := ""
		for _, f := range zr.File {
			names += f.Name + " "
		}
		if want := map[string]string{"mbox": "INBOX.mbox", "maildir": "Maildir/cur/"}[format]; !strings.Contains(names, want) {
			t.Errorf("export %s holds %s", format, names)
		}
		zips[format] = []byte(body)
	}
	if resp, body := b.get("/backups/export?account=" + url.QueryEscape(worker) + "&format=pst"); resp.StatusCode != 400 || !strings.Contains(body, `id="err-export-format"`) {
		t.Errorf("export as pst: %d", resp.StatusCode)
	}

	zr, _ := zip.NewReader(bytes.NewReader(zips["mbox"]), int64(len(zips["mbox"])))
	var mbox []byte
	for _, f := range zr.File {
		if f.Name == "INBOX.mbox" {
			rc, _ := f.Open()
			mbox, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	cases := []struct {
		name, format, mailbox string
		file                  []byte
		code                  int
		want                  string
	}{
		{"mbox", "mbox", "Back", mbox, 200, "Imported 2 messages"},
		{"mbox again", "mbox", "Back", mbox, 200, "Imported 0 messages"},
		{"maildir zip", "maildir", "Back2", zips["maildir"], 200, "Imported 2 messages"},
		{"not a zip", "maildir", "Back3", []byte("hello"), 400, "not a zip file of a Maildir"},
		{"a zip without a Maildir", "maildir", "Back3", zips["mbox"], 400, "not a zip file of a Maildir"},
		{"format", "pst", "Back3", mbox, 400, "Choose mbox or Maildir"},
		{"not an mbox", "mbox", "Back3", []byte("just text\n"), 400, ""},
	}
	for _, c := range cases {
		b.get("/backups")
		resp, body := b.uploadForm("/backups/import", [][2]string{{"csrf", b.csrf}, {"account", worker}, {"mailbox", c.mailbox}, {"format", c.format}}, c.file)
		if resp.StatusCode != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d, want %d with %q\n%s", c.name, resp.StatusCode, c.code, c.want, body)
		}
	}
	if resp, _ := b.uploadForm("/backups/import", [][2]string{{"account", worker}, {"mailbox", "X"}, {"format", "mbox"}}, mbox); resp.StatusCode != http.StatusForbidden {
		t.Errorf("upload without the form token: %d", resp.StatusCode)
	}
	for _, box := range []string{"Back", "Back2"} {
		mb, err := s.st.Mailbox(ann.ID, box)
		if err != nil || mb.Messages != 2 {
			t.Errorf("%s after the imports: %+v %v", box, mb, err)
		}
	}
}

// TestBackupReadings: the status page says when a backup last proved it
// restores, that one runs, or that the last one failed.
func TestBackupReadings(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		s    status.Snapshot
		want string
		bad  bool
	}{
		{status.Snapshot{Backup: status.Backup{Verified: now.Add(-7 * time.Hour)}}, "Last verified restore: ", false},
		{status.Snapshot{Backup: status.Backup{Running: "saving", Percent: 40, Verified: now.Add(-time.Hour)}}, "Running now: saving (40 %).", false},
		{status.Snapshot{Backup: status.Backup{Running: "testing the restore"}}, "Running now: testing the restore.", false},
		{status.Snapshot{BackupError: "the backup disk is full", Backup: status.Backup{Verified: now}}, "Failed: the backup disk is full", true},
	} {
		v := newStatusView(c.s, now, false, false)
		found := false
		for _, r := range v.Readings {
			if r.ID == "backup" {
				found = true
				if !strings.Contains(r.Value, c.want) || r.Bad != c.bad {
					t.Errorf("backup row %q (bad %v), want %q (bad %v)", r.Value, r.Bad, c.want, c.bad)
				}
			}
		}
		if !found {
			t.Errorf("no backup row for %+v", c.s.Backup)
		}
	}
}
