package sdimage

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"postroom/appliance/backup"
	"postroom/appliance/status"
	"postroom/appliance/update"
)

// TestUSBBackupUnderQemu plugs a USB stick into an emulated box: a box
// made by cmd/mkimage (the real init and appliance, an administrator in
// its store) boots with a FAT stick on an emulated xHCI controller, as a
// Pi has. On the Backups page the stick is listed by its file system's
// UUID and chosen as the target (the page shows the recovery key once);
// "Back up now" writes a backup and proves it by a restore, and the box
// unmounts the stick. The test then reads the stick's image on the host
// with mtools, copies the backup out, and restores it with the recovery
// key: the administrator's account is in it. A second, blank USB disk
// is prepared on the same page for the mail ("Move the mail to this
// disk"); the next start copies the mail onto it and runs from it: the
// message sent before the move is read over IMAP.
//
// The kernel.rpi kernel has xhci-pci, usb-storage and vfat built in
// (appliance/usbdisk's package comment). It builds an image with the real
// appliance (a minute when the build cache is warm) and boots it once
// (about 20 s), so -short leaves it out:
//
//	go test -run TestUSBBackupUnderQemu -v -timeout 20m ./image
func TestUSBBackupUnderQemu(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image with the real appliance and boots it")
	}
	if _, err := exec.LookPath("qemu-system-aarch64"); err != nil {
		t.Skip("qemu-system-aarch64 not installed (make deps installs qemu-system-arm)")
	}
	mdir, err := exec.LookPath("mdir")
	if err != nil {
		t.Skip("mtools not installed (make deps)")
	}
	mkfs, err := exec.LookPath("mkfs.vfat")
	if err != nil {
		if mkfs, err = exec.LookPath("/usr/sbin/mkfs.vfat"); err != nil {
			t.Skip("mkfs.vfat not installed (make deps installs dosfstools)")
		}
	}
	dir := t.TempDir()
	img := mkimageBox(t, dir)
	const user, password = "boss@example.org", "boss-password-1"
	fillData(t, img, user, password)

	// The office's stick: FAT, labelled OFFICE, serial 1234-ABCD.
	stick := filepath.Join(dir, "stick.img")
	f, err := os.Create(stick)
	if err == nil {
		err = f.Truncate(256 << 20)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-n", "OFFICE", "-i", "1234ABCD", stick).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v\n%s", err, out)
	}
	const uuid = "1234-ABCD"

	_, kernel := moduleDirs(t)
	ports := boxPorts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	// A blank USB disk, for the mail ("Move the mail to this disk").
	bigDisk := filepath.Join(dir, "big.img")
	if err := os.WriteFile(bigDisk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(bigDisk, 512<<20); err != nil {
		t.Fatal(err)
	}
	usbArgs := []string{
		"-device", "qemu-xhci,id=xhci",
		"-drive", "if=none,id=stick,format=raw,file=" + stick,
		"-device", "usb-storage,bus=xhci.0,drive=stick",
		"-drive", "if=none,id=big,format=raw,file=" + bigDisk,
		"-device", "usb-storage,bus=xhci.0,drive=big",
	}
	v := bootBoxWith(t, ctx, img, kernel, ports, update.RootA, usbArgs)
	sendTestMail(t, ports["submission"], user, password) // the mail the move must carry

	w := newWeb(ports["web"])
	form := url.Values{"user": {user}, "password": {password}}
	if code, body := w.do(t, ctx, "POST", "/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode())); code != http.StatusSeeOther {
		t.Fatalf("login: %d\n%s", code, body)
	}
	code, body := w.do(t, ctx, "GET", "/backups", "", nil)
	if code != http.StatusOK || !strings.Contains(body, `value="`+uuid+`"`) || !strings.Contains(body, "labelled OFFICE") {
		t.Fatalf("the Backups page does not offer the stick: %d\n%s", code, body)
	}
	csrf := csrfField.FindStringSubmatch(body)[1]
	form = url.Values{"csrf": {csrf}, "target": {"usb"}, "usb_uuid": {uuid}, "hour": {"2"}}
	code, body = w.do(t, ctx, "POST", "/backups/settings", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	key := regexp.MustCompile(`AGE-SECRET-KEY-1[0-9A-Z]+`).FindString(body)
	if code != http.StatusOK || key == "" {
		t.Fatalf("choosing the stick: %d\n%s", code, body)
	}
	csrf = csrfField.FindStringSubmatch(body)[1]
	began := time.Now()
	form = url.Values{"csrf": {csrf}}
	if code, body = w.do(t, ctx, "POST", "/backups/now", "application/x-www-form-urlencoded", strings.NewReader(form.Encode())); code != http.StatusSeeOther {
		t.Fatalf("back up now: %d\n%s", code, body)
	}
	s := waitStatus(t, ctx, ports["web"], func(s status.Snapshot) bool {
		return s.BackupError != "" || (!s.Backup.Verified.IsZero() && s.Backup.Running == "")
	})
	if s.BackupError != "" {
		t.Fatalf("the backup to the stick failed: %s", s.BackupError)
	}
	t.Logf("backup %s written to the stick and proven in %.1f s", s.Backup.LastName, time.Since(began).Seconds())
	formatForMail(t, ctx, w)
	// The stick was unmounted after the backup (synced): power off.
	v.cmd.Process.Kill()
	v.cmd.Wait()

	out, err := exec.Command(mdir, "-b", "-i", stick, "::/"+backup.USBFolder).CombinedOutput()
	if err != nil || !strings.Contains(string(out), s.Backup.LastName) {
		t.Fatalf("mdir of the stick: %v\n%s", err, out)
	}
	got := t.TempDir()
	if out, err := exec.Command("mcopy", "-i", stick, "::/"+backup.USBFolder+"/"+s.Backup.LastName, got).CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, out)
	}
	id, err := backup.ParseRecoveryKey(key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := backup.RestoreBox(ctx, backup.RestoreOptions{DataDir: filepath.Join(got, "restored"), Target: backup.Folder{Dir: got}, Key: id, Name: s.Backup.LastName})
	if err != nil || res.Accounts != 1 {
		t.Fatalf("restore of the stick's backup: %+v, %v", res, err)
	}

	// The next start copies the mail onto the disk prepared for it, then
	// runs from it: the message sent before is there.
	began = time.Now()
	v = bootBoxWith(t, ctx, img, kernel, ports, update.RootA, usbArgs)
	if !strings.Contains(v.tail(1000), "postroom-init: the mail is on the USB disk /dev/sd") {
		t.Fatalf("the mail was not moved; console:\n%s", v.tail(40))
	}
	t.Logf("moved the mail and served SMTP %.1f s after qemu started", time.Since(began).Seconds())
	if texts := inboxTexts(t, ports["imap"], user, password); texts["before the update"] != "Keep me.\r\n" {
		t.Errorf("after the move, INBOX holds %q", texts)
	}
	s = waitStatus(t, ctx, ports["web"], func(s status.Snapshot) bool { return s.System.DataDisk != "" })
	if !strings.Contains(s.System.DataDisk, "(USB disk)") {
		t.Errorf("the status page says the mail is kept on %q", s.System.DataDisk)
	}
	v.cmd.Process.Kill()
	v.cmd.Wait()
}

// formatForMail prepares the blank USB disk on the Backups page for the
// mail, typing its size back as an office manager does.
func formatForMail(t *testing.T, ctx context.Context, w *web) {
	t.Helper()
	code, body := w.do(t, ctx, "GET", "/backups", "", nil)
	m := regexp.MustCompile(`name="disk" value="(sd[a-z])"><input type="hidden" name="fingerprint" value="([0-9a-f]+)">\s*<p><strong>[^<]*</strong>, ([^,]+), blank\.`).FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("the Backups page offers no blank disk: %d\n%s", code, body)
	}
	form := url.Values{"csrf": {csrfField.FindStringSubmatch(body)[1]}, "disk": {m[1]}, "fingerprint": {m[2]}, "use": {"data"}, "confirm": {m[3]}}
	code, body = w.do(t, ctx, "POST", "/backups/format", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if code != http.StatusOK || !strings.Contains(body, "At the next restart the box copies all mail and settings to this disk") {
		t.Fatalf("formatting %s for the mail: %d\n%s", m[1], code, body)
	}
}
