package webui

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postroom/appliance/admin"
	"postroom/appliance/status"
	"postroom/appliance/update"
)

// updateSite is newSite with an admin layer that checks uploaded update
// files with appliance/update (the runner's install is tested in
// appliance/run_update_test.go): what matters here is the upload's path
// from the form to the admin layer and back to the page.
func updateSite(t *testing.T) (*site, ed25519.PrivateKey, string) {
	s := newSite(t)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	spool := filepath.Join(t.TempDir(), "upload")
	running := update.Release{Version: "1.0", Serial: 1, Arch: "arm64"}
	adm, err := admin.New(admin.Options{Store: s.st, Publish: s.bus.Update, Now: s.clock.Now,
		Update: func(ctx context.Context, file string, by admin.Actor) (admin.UpdateResult, error) {
			b, err := os.ReadFile(file)
			if err != nil {
				return admin.UpdateResult{}, err
			}
			o, err := update.Open(bytes.NewReader(b), int64(len(b)), pub, "arm64", running)
			if err != nil {
				return admin.UpdateResult{}, &admin.UpdateRefused{Err: err}
			}
			return admin.UpdateResult{Version: o.Manifest.Version, Note: "Version " + o.Manifest.Version + " is installed."}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.bus.Update(func(sn *status.Snapshot) {
		sn.System = status.System{Version: "1.0", OtherVersion: "0.9", Updatable: true, Boots: 7, DataDisk: "/dev/mmcblk0p4 (SD card)"}
		sn.Disk.TotalBytes, sn.Disk.FreeBytes = 31_150_000_000, 30_000_000_000 // a 32 GB card, grown at the first start
	})
	s.opts.Admin, s.opts.UpdateDir = adm, spool
	s.srv.Close()
	s.srv = httptest.NewServer(New(s.opts))
	t.Cleanup(s.srv.Close)
	return s, priv, spool
}

func updateFile(t *testing.T, priv ed25519.PrivateKey, serial int64) []byte {
	var out bytes.Buffer
	m := update.Manifest{Version: "2.0", Serial: serial, Arch: "arm64"}
	if err := update.Write(&out, m, priv, bytes.NewReader(bytes.Repeat([]byte("root"), 5000)), nil); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// upload posts the update form as a browser does: the token, then the file.
func (b *browser) upload(file []byte, csrfFirst bool) (*http.Response, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if csrfFirst {
		mw.WriteField("csrf", b.csrf)
	}
	fw, _ := mw.CreateFormFile("file", "postroom.update")
	fw.Write(file)
	mw.Close()
	req, _ := http.NewRequest("POST", b.s.srv.URL+"/update", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.s.srv.URL)
	return b.do(req)
}

func TestUpdatePage(t *testing.T) {
	s, priv, spool := updateSite(t)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)

	w := s.browser(t)
	w.login(worker, workerPW)
	resp, body := w.get("/update")
	wantStatus(t, resp, body, http.StatusForbidden, "a user's GET /update")

	b := s.browser(t)
	b.login(boss, bossPW)
	resp, body = b.get("/update")
	wantStatus(t, resp, body, http.StatusOK, "GET /update")
	for _, want := range []string{`id="version">1.0<`, `id="other-version">0.9<`, `enctype="multipart/form-data"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the update page lacks %q", want)
		}
	}
	cases := []struct {
		name      string
		file      []byte
		csrfFirst bool
		code      int
		want      string
	}{
		{"no token", updateFile(t, priv, 2), false, http.StatusForbidden, "This form is out of date"},
		{"signed by another key", updateFile(t, otherKey, 2), true, http.StatusBadRequest, `id="err-upload-file" role="alert">The update file is not signed by Postroom&#39;s key.`},
		{"not newer", updateFile(t, priv, 1), true, http.StatusBadRequest, "not newer than the version running"},
		{"cut short", updateFile(t, priv, 2)[:3000], true, http.StatusBadRequest, "incomplete"},
		{"not an update", []byte("PK\x03\x04 a zip file, long enough to be read"), true, http.StatusBadRequest, "not a Postroom update file"},
		{"good", updateFile(t, priv, 2), true, http.StatusOK, "Version 2.0 is installed."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.get("/update") // a fresh token, as the page gives
			resp, body := b.upload(c.file, c.csrfFirst)
			if resp.StatusCode != c.code || !strings.Contains(body, c.want) {
				t.Errorf("status %d, want %d with %q; body:\n%s", resp.StatusCode, c.code, c.want, body)
			}
			if left, _ := os.ReadDir(spool); len(left) != 0 {
				t.Errorf("the spool keeps %d files", len(left))
			}
		})
	}

	// The status page shows the software and the box's start.
	resp, body = b.get("/")
	for _, want := range []string{`id="version"`, "1.0 (the spare copy holds 0.9)", "7 since the box was made", "/dev/mmcblk0p4 (SD card), 31 GB"} {
		if !strings.Contains(body, want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
}
