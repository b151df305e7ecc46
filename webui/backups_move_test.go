package webui

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"postroom/appliance/admin"
	"postroom/appliance/usbdisk"
	"postroom/appliance/usbdisk/usbdisktest"
	"postroom/internal/testutil"
)

// TestBackupsMoveMail: "Move the mail to this disk" on a blank USB disk
// (a loop device, so it is really formatted and mounted): the page says
// what the next restart does, with the time it takes, and the disk holds
// the move marker naming the SD card's data file system.
func TestBackupsMoveMail(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Disk("mmcblk0", false, 64<<20, "", "SD32G", 16<<20, 16<<20, 16<<20, 16<<20)
	tr.Mkfs("mmcblk0p4", "mke2fs", "-q", "-F", "-t", "ext4", "-L", usbdisk.DataLabel, "-U", "0f3c5a4e-8d1b-4c2a-9e7f-1a2b3c4d5e6f")
	data := testutil.SmallDisk(t, 16<<20) // the SD card's data file system, 3 MB of it used
	if err := os.WriteFile(filepath.Join(data, "store"), make([]byte, 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	tr.Host().DataDir = data
	tr.Mounted("mmcblk0p4", data)
	tr.Disk("sde", true, 300<<20, "Samsung", "T7")
	tr.Loop("sde")
	s := newSiteWith(t, func(o *admin.Options) { o.USB = tr.Host() })
	b := s.browser(t)
	b.login(boss, bossPW)
	_, body := b.get("/backups")
	if !strings.Contains(body, "at the next restart the box copies all mail and settings from the SD card to this disk") {
		t.Errorf("the page does not say what happens:\n%s", body)
	}
	m := regexp.MustCompile(`name="disk" value="sde"><input type="hidden" name="fingerprint" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no form for sde:\n%s", body)
	}
	resp, body := b.post("/backups/format", url.Values{"disk": {"sde"}, "fingerprint": {m[1]}, "use": {"data"}, "confirm": {"315 MB"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d\n%s", resp.StatusCode, body)
	}
	if !regexp.MustCompile(`At the next restart the box copies all mail and settings to this disk \(about 1 minute for 3 MB\), checks the copy, then uses it\. .*The SD card keeps its copy until you remove it\.`).MatchString(body) {
		t.Errorf("the page's note:\n%s", body)
	}
	if !strings.Contains(body, `<form method="post" action="/restart" id="restart">`) || !strings.Contains(body, `name="from" value="backups"`) {
		t.Errorf("no restart button in the note:\n%s", body)
	}
	out, err := exec.Command(sbinProg("debugfs"), "-R", "cat /"+usbdisk.MoveFile, tr.Path("sde")+".img").Output()
	if err != nil || !strings.Contains(string(out), `"from_uuid": "0f3c5a4e-8d1b-4c2a-9e7f-1a2b3c4d5e6f"`) || !strings.Contains(string(out), `"by": "`+boss+` via the web page"`) {
		t.Errorf("the marker on the disk: %s %v", out, err)
	}
	if fs := usbdisk.Probe(tr.Path("sde")); fs.Label != usbdisk.DataLabel {
		t.Errorf("sde: %+v", fs)
	}
}

// sbinProg finds a Debian program that lives in /usr/sbin.
func sbinProg(prog string) string {
	if p, err := exec.LookPath(prog); err == nil {
		return p
	}
	return filepath.Join("/usr/sbin", prog)
}
