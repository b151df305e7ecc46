package webui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"postroom/appliance/admin"
	"postroom/appliance/backup"
	"postroom/appliance/usbdisk"
	"postroom/appliance/usbdisk/usbdisktest"
)

// TestBackupsUSB: the Backups page on a box with USB disks: the disks the
// box can write are offered as the target (the mail's disk and an NTFS
// disk shown but not offered); a blank disk is formatted only with its
// size typed back and while it is the disk the page showed, for backups
// (it becomes the target, with the recovery key shown once) or for the
// mail (from the next restart); a disk with something on it never is.
func TestBackupsUSB(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Disk("sda", true, 1e9, "Kingston", "DataTraveler")
	tr.Disk("sdb", true, 64<<20, "SanDisk", "Cruzer Blade")
	tr.Mkfs("sdb", "mke2fs", "-q", "-F", "-t", "ext4", "-L", "OFFICE", "-U", "bbbbbbbb-1111-2222-3333-444444444444")
	tr.Disk("sdc", true, 64<<20, "WD", "Elements")
	tr.Mkfs("sdc", "mke2fs", "-q", "-F", "-t", "ext4", "-L", usbdisk.DataLabel, "-U", "cccccccc-1111-2222-3333-444444444444")
	tr.Disk("sdd", true, 32<<20, "Seagate", "Basic")
	ntfs := make([]byte, 512)
	copy(ntfs[3:], "NTFS    ")
	tr.WriteAt("sdd", ntfs, 0)
	tr.Disk("sde", true, 2e9, "Samsung", "T7")
	s := newSiteWith(t, func(o *admin.Options) { o.USB = tr.Host() })
	b := s.browser(t)
	b.login(boss, bossPW)
	_, body := b.get("/backups")
	for _, want := range []string{
		`<option value="usb">A USB disk plugged into the box</option>`,
		`value="bbbbbbbb-1111-2222-3333-444444444444"> SanDisk Cruzer Blade, 67 MB, ext4, labelled OFFICE</label>`,
		`value="cccccccc-1111-2222-3333-444444444444" disabled> WD Elements, 67 MB, ext4, labelled postroom-data (holds the mail)</label>`,
		`disabled> Seagate Basic, 34 MB, NTFS (NTFS: the box cannot write to it)</label>`,
		`<strong>Kingston DataTraveler</strong>, 1.0 GB, blank.`, `type its size: 1.0 GB`,
		`<strong>Samsung T7</strong>, 2.0 GB, blank.`,
		`<button type="submit" name="use" value="backup">Use this disk for backups</button>`,
		`<button type="submit" name="use" value="data" class="plain">Move the mail to this disk</button>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	print := func(name string) string {
		m := regexp.MustCompile(`name="disk" value="` + name + `"><input type="hidden" name="fingerprint" value="([0-9a-f]+)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no form for %s", name)
		}
		return m[1]
	}
	sda, sde := print("sda"), print("sde")
	blank := func(name string, want bool) func(t *testing.T, s *site) {
		return func(t *testing.T, s *site) {
			if usbdisk.IsBlank(tr.Path(name)) != want {
				t.Errorf("%s blank: %v, want %v", name, !want, want)
			}
		}
	}
	form := func(disk, fp, use, confirm string) url.Values {
		return url.Values{"disk": {disk}, "fingerprint": {fp}, "use": {use}, "confirm": {confirm}}
	}
	runForms(t, s, b, []formCase{
		{name: "no size typed", path: "/backups/format", form: form("sda", sda, "backup", ""), code: http.StatusBadRequest,
			errID: "err-format-confirm", want: "Type the disk&#39;s size exactly as shown (1.0 GB)", check: blank("sda", true)},
		{name: "another size typed", path: "/backups/format", form: form("sda", sda, "backup", "2.0 GB"), code: http.StatusBadRequest,
			errID: "err-format-confirm", check: blank("sda", true)},
		{name: "another disk in its place", path: "/backups/format", form: form("sda", sde, "backup", "1.0 GB"), code: http.StatusConflict,
			errID: "err-format-disk", want: "Nothing was erased: the disk changed since the page showed it", check: blank("sda", true)},
		{name: "a disk with files", path: "/backups/format", form: form("sdb", sda, "backup", "67 MB"), code: http.StatusConflict,
			errID: "err-format-disk", want: "Nothing was erased", check: func(t *testing.T, s *site) {
				if fs := usbdisk.Probe(tr.Path("sdb")); fs.Label != "OFFICE" {
					t.Errorf("sdb was changed: %+v", fs)
				}
			}},
		{name: "pulled out", path: "/backups/format", form: form("sdz", sda, "backup", "1.0 GB"), code: http.StatusNotFound,
			errID: "err-format-disk", want: "no longer plugged in"},
		{name: "neither use", path: "/backups/format", form: form("sda", sda, "music", "1.0 GB"), code: http.StatusBadRequest,
			errID: "err-format-use", check: blank("sda", true)},
		{name: "for backups", path: "/backups/format", form: form("sda", sda, "backup", "1.0 gb"), code: http.StatusOK,
			want: formatNotice + " Print the recovery key below now", check: func(t *testing.T, s *site) {
				fs := usbdisk.Probe(tr.Path("sda"))
				v, err := s.adm.GetBackups(context.Background(), "test", admin.GetBackups{})
				if fs.Label != usbdisk.BackupLabel || err != nil || v.Target != "usb" || v.USBUUID != fs.UUID || !v.HasKey {
					t.Errorf("after the format: %+v; backups %+v %v", fs, v, err)
				}
			}},
		{name: "for the mail, no mail's disk known", path: "/backups/format", form: form("sde", sde, "data", "2.0 GB"), code: http.StatusConflict,
			errID: "err-format-disk", want: "Nothing was erased: the box cannot tell which disk the mail is on now", check: blank("sde", true)},
		{name: "the mail's disk as target", path: "/backups/settings", form: url.Values{"target": {"usb"}, "usb_uuid": {"cccccccc-1111-2222-3333-444444444444"}, "hour": {"2"}},
			code: http.StatusConflict, errID: "err-settings-usb_uuid", want: "holds the mail itself"},
		{name: "a stick with files as target", path: "/backups/settings", form: url.Values{"target": {"usb"}, "usb_uuid": {"bbbbbbbb-1111-2222-3333-444444444444"}, "hour": {"2"}},
			code: http.StatusSeeOther, check: func(t *testing.T, s *site) {
				v, _ := s.adm.GetBackups(context.Background(), "test", admin.GetBackups{})
				if v.Target != "usb" || v.USBUUID != "bbbbbbbb-1111-2222-3333-444444444444" || v.USBLabel != "OFFICE" || v.USBName != "SanDisk Cruzer Blade" {
					t.Errorf("target: %+v", v)
				}
			}},
	})
	_, body = b.get("/backups")
	if !strings.Contains(body, `value="bbbbbbbb-1111-2222-3333-444444444444" checked> SanDisk Cruzer Blade`) || strings.Contains(body, `<strong>Kingston DataTraveler</strong>`) {
		t.Errorf("after choosing the stick:\n%s", body)
	}
	// Pulled out: the page still shows the choice, and says to plug it in.
	tr.Unplug("sdb")
	_, body = b.get("/backups")
	if !strings.Contains(body, `checked> the USB disk labelled OFFICE: not plugged in now`) || !strings.Contains(body, "The USB disk for backups is not plugged in: plug in the USB disk labelled OFFICE (SanDisk Cruzer Blade).") {
		t.Errorf("with the stick pulled out:\n%s", body)
	}
}

// TestBackupsNoUSB: a box that does not look at USB disks (a developer's
// machine) offers none, and says to use a folder.
func TestBackupsNoUSB(t *testing.T) {
	s := newSite(t)
	b := s.browser(t)
	b.login(boss, bossPW)
	_, body := b.get("/backups")
	if strings.Contains(body, `value="usb"`) || !strings.Contains(body, "does not look at USB disks here (development mode): use a folder") {
		t.Errorf("page:\n%s", body)
	}
	b.get("/backups")
	resp, body := b.post("/backups/format", url.Values{"disk": {"sda"}, "fingerprint": {"00"}, "use": {"backup"}, "confirm": {"1.0 GB"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "development mode") {
		t.Errorf("format on a box without USB: %d\n%s", resp.StatusCode, body)
	}
}

// TestSetupRestoreUSB: a new box's restore step offers the USB disks it
// can read (not the mail's own), restores from the one chosen by its
// file system's UUID, and says next to the choice when it cannot.
func TestSetupRestoreUSB(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Disk("sdb", true, 64<<20, "SanDisk", "Cruzer Blade")
	tr.Mkfs("sdb", "mke2fs", "-q", "-F", "-t", "ext4", "-L", "OFFICE", "-U", "bbbbbbbb-1111-2222-3333-444444444444")
	tr.Disk("sdc", true, 64<<20, "WD", "Elements")
	tr.Mkfs("sdc", "mke2fs", "-q", "-F", "-t", "ext4", "-L", usbdisk.DataLabel, "-U", "cccccccc-1111-2222-3333-444444444444")
	s := newSetupSiteWith(t, func(o *admin.Options) { o.USB = tr.Host() })
	b := s.browser(t)
	s.start(t, b)
	_, body := b.get("/setup/restore")
	if !strings.Contains(body, `value="bbbbbbbb-1111-2222-3333-444444444444"> On the USB disk SanDisk Cruzer Blade, 67 MB, ext4, labelled OFFICE</label>`) ||
		strings.Contains(body, "cccccccc") || strings.Contains(body, `name="folder" value="" maxlength="4096" spellcheck="false" autocapitalize="none" required`) {
		t.Fatalf("restore step:\n%s", body)
	}
	key, _, err := backup.NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	tr.Disk("sdd", true, 64<<20, "Intenso", "Rainbow")
	tr.Mkfs("sdd", "mke2fs", "-q", "-F", "-t", "ext4", "-L", "HOME", "-U", "dddddddd-1111-2222-3333-444444444444")
	tr.Unplug("sdd")
	resp, body := b.post("/setup/restore", url.Values{"usb_uuid": {"dddddddd-1111-2222-3333-444444444444"}, "recovery_key": {key}})
	if resp.StatusCode < 400 || !strings.Contains(body, `id="err-restore-usb_uuid"`) || !strings.Contains(body, "not plugged in") || strings.Contains(body, key) {
		t.Errorf("restore from a disk pulled out: %d\n%s", resp.StatusCode, body)
	}
	if v, err := s.adm.GetBackups(context.Background(), "test", admin.GetBackups{}); err != nil || v.Target != "" {
		t.Errorf("the refused restore set a target: %+v %v", v, err)
	}
	// This site has no runner to restore with: the admin layer says so,
	// after it took the stick as the box's backup target.
	resp, body = b.post("/setup/restore", url.Values{"usb_uuid": {"bbbbbbbb-1111-2222-3333-444444444444"}, "recovery_key": {key}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "postroomctl restore") {
		t.Errorf("restore from the stick: %d\n%s", resp.StatusCode, body)
	}
	if v, err := s.adm.GetBackups(context.Background(), "test", admin.GetBackups{}); err != nil || v.Target != "usb" || v.USBUUID != "bbbbbbbb-1111-2222-3333-444444444444" || !v.HasKey {
		t.Errorf("the stick is not the target: %+v %v", v, err)
	}
}

// TestBrowserBackupsUSB shows the Backups page of a box with a FAT stick
// and a blank disk in chromium at a phone's and a desk's width: nothing
// wider than the window, a wrong size typed is refused next to its field;
// screenshots go to testoutput/ (backups-usb-*.png) to look at.
func TestBrowserBackupsUSB(t *testing.T) {
	tr := usbdisktest.New(t)
	tr.Disk("sda", true, 1e9, "Kingston", "DataTraveler")
	tr.Disk("sdb", true, 64<<20, "SanDisk", "Cruzer Blade")
	tr.Mkfs("sdb", "mkfs.vfat", "-n", "OFFICE", "-i", "1234ABCD")
	s := newSiteWith(t, func(o *admin.Options) { o.USB = tr.Host() })
	for _, width := range []int64{390, 1280} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			alloc, out := startChromium(t)
			ctx, cancel := chromedp.NewContext(alloc)
			defer cancel()
			ctx, cancel = context.WithTimeout(ctx, 4*time.Minute) // a bound, not a speed target
			defer cancel()
			shot := screenshot(out, width)
			fits := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				r, err := chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`)(ctx, tg)
				if err == nil && r[0] > r[1] {
					err = fmt.Errorf("the page is %d px wide in a %d px window", r[0], r[1])
				}
				return err
			})
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(width, 800),
				chromedp.Navigate(s.srv.URL+"/backups"),
				chromedp.WaitVisible(chromedp.CSS("#login")),
				chromedp.SendKeys(chromedp.CSS("#user"), boss),
				chromedp.SendKeys(chromedp.CSS("#password"), bossPW),
				chromedp.Submit(chromedp.CSS("#login")),
				chromedp.WaitVisible(chromedp.CSS("#blank-disks")),
				fits, shot("backups-usb"),
				chromedp.SendKeys(chromedp.CSS("#format-sda-confirm"), "1 GB"),
				chromedp.Click(chromedp.CSS(`#format-sda button[value="backup"]`)),
				chromedp.WaitVisible(chromedp.CSS("#err-format-confirm")),
				fits, shot("backups-usb-error"),
			)
			if err != nil {
				t.Fatalf("browser: %v", err)
			}
		})
	}
	if !usbdisk.IsBlank(tr.Path("sda")) {
		t.Error("the refused format wrote to the disk")
	}
}
