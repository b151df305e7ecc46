package sdimage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postroom/appliance/admin"
	"postroom/appliance/status"
	"postroom/appliance/update"
	"postroom/storage"
)

// TestUpdateUnderQemu walks journey 7 on emulated boxes with the real
// init and appliance: a box made from build 1 gets a message over SMTP,
// then build 2's update file uploaded on its web page; it restarts into
// root B, passes its self-test and keeps it (the new version answers on
// status.json). Then build 3, made to fail its self-test, is uploaded: the
// box restarts into root A, fails, goes back to root B by itself, says
// "update failed, rolled back", and the message is still there over IMAP.
//
// qemu loads the kernel itself, so the test plays the Pi's firmware: before
// each boot it reads cmdline.txt from the image's boot partition and boots
// the root it names. It builds three images with cmd/mkimage (minutes the
// first time), so it runs only when asked:
//
//	POSTROOM_QEMU_UPDATE=1 go test -run TestUpdateUnderQemu -v -timeout 30m ./image
func TestUpdateUnderQemu(t *testing.T) {
	updateUnderQemu(t, "three")
	dir := t.TempDir()
	keyFile := testKeyFile(t, dir)
	const t1 = 1767225600 // 2026-01-01: the builds' times are their serials
	img1 := mkimage(t, dir, "1", t1, keyFile, "", true)
	mkimage(t, dir, "2", t1+100, keyFile, "", true)
	mkimage(t, dir, "3", t1+200, keyFile, "built to fail its self-test", true)

	box := filepath.Join(dir, "box.img")
	copySparse(t, img1, box)
	const user, password = "boss@example.test", "boss-password-1"
	fillData(t, box, user, password)
	_, kernel := moduleDirs(t)
	ports := boxPorts(t)

	// Build 1: receive a message, then take build 2.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	v := bootBox(t, ctx, box, kernel, ports, update.RootA)
	sendTestMail(t, ports["submission"], user, password)
	uploadUpdate(t, ctx, ports["web"], user, password, filepath.Join(dir, "2.update"), "Version 2026.01.01-0001 is installed")
	waitExit(t, v, 3*time.Minute, "the restart into the new version")

	// Build 2 on trial in root B: kept.
	v = bootBox(t, ctx, box, kernel, ports, update.RootB)
	s := waitStatus(t, ctx, ports["web"], func(s status.Snapshot) bool { return strings.HasPrefix(s.System.LastUpdate, "updated from") })
	if s.System.Version != "2026.01.01-0001" || s.System.OtherVersion != "2026.01.01-0000" {
		t.Errorf("after the update: %+v", s.System)
	}
	t.Logf("kept: %s", s.System.LastUpdate)

	// Build 3 into root A: its self-test fails, and the box goes back.
	uploadUpdate(t, ctx, ports["web"], user, password, filepath.Join(dir, "3.update"), "Version 2026.01.01-0003 is installed")
	waitExit(t, v, 3*time.Minute, "the restart into the failing version")
	v = bootBox(t, ctx, box, kernel, ports, update.RootA, "update: the self-test failed")
	waitExit(t, v, 3*time.Minute, "the restart after the failed self-test")
	bootBox(t, ctx, box, kernel, ports, update.RootB)
	s = waitStatus(t, ctx, ports["web"], func(s status.Snapshot) bool { return s.System.LastUpdateFailed })
	if s.System.Version != "2026.01.01-0001" || !strings.Contains(strings.Join(s.Attention(time.Now()), " "), "Update failed, rolled back") {
		t.Errorf("after the rollback: %+v; attention %q", s.System, s.Attention(time.Now()))
	}
	t.Logf("rolled back: %s", s.System.LastUpdate)
	if n := inboxCount(t, ports["imap"], user, password); n != 1 {
		t.Errorf("INBOX holds %d messages after the rollback, want the 1 sent before", n)
	}
}

// testKeyFile makes an update signing key for one test, in dir.
func testKeyFile(t *testing.T, dir string) string {
	t.Helper()
	keyFile, err := keyFileIn(dir)
	if err != nil {
		t.Fatal(err)
	}
	return keyFile
}

// keyFileIn writes a new signing key into dir.
func keyFileIn(dir string) (string, error) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	keyFile := filepath.Join(dir, "update.key")
	return keyFile, os.WriteFile(keyFile, update.FormatPrivateKey(priv), 0o600)
}

// updateUnderQemu skips the test unless asked for (POSTROOM_QEMU_UPDATE)
// and qemu is there; it builds n images.
func updateUnderQemu(t *testing.T, n string) {
	if os.Getenv("POSTROOM_QEMU_UPDATE") == "" {
		t.Skip("set POSTROOM_QEMU_UPDATE=1 to build " + n + " images and update under qemu")
	}
	if _, err := exec.LookPath("qemu-system-aarch64"); err != nil {
		t.Skip("qemu-system-aarch64 not installed (make deps installs qemu-system-arm)")
	}
}

// mkimage runs cmd/mkimage for build name at time t, signing with key;
// fault makes the appliance's self-test fail; withUpdate writes the
// build's update file too (dir/name.update). It returns the image.
func mkimage(t *testing.T, dir, name string, at int64, key, fault string, withUpdate bool) string {
	t.Helper()
	img, err := runMkimage(t, dir, name, at, key, fault, withUpdate)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// runMkimage is mkimage's work; t only logs.
func runMkimage(t *testing.T, dir, name string, at int64, key, fault string, withUpdate bool) (string, error) {
	t.Helper()
	img := filepath.Join(dir, name+".img")
	args := []string{"run", "./cmd/mkimage", "-o", img, "-gz=false", "-time", strconv.FormatInt(at, 10), "-key", key}
	if withUpdate {
		args = append(args, "-update", filepath.Join(dir, name+".update"))
	}
	if fault != "" {
		args = append(args, "-selftest-fault", fault)
	}
	began := time.Now()
	cmd := exec.Command("go", args...)
	cmd.Dir = ".." // mkimage builds ./cmd/... of the repository
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("mkimage %s: %v\n%s", name, err, out)
	}
	t.Logf("mkimage %s: %s (%v)", name, bytes.TrimSpace(out), time.Since(began).Round(time.Second))
	return img, nil
}

// boxImage is the plain image of the real appliance (no update file, no
// fault) that the power-cut and USB tests boot, built once per test run:
// a mkimage run compiles every command for arm64 and takes about a
// minute on a 2-core machine. Each test boots a sparse copy of its own.
var boxImage struct {
	once sync.Once
	dir  string
	img  string
	err  error
}

// mkimageBox copies the shared box image into dir and returns the copy.
func mkimageBox(t *testing.T, dir string) string {
	t.Helper()
	boxImage.once.Do(func() {
		if boxImage.dir, boxImage.err = os.MkdirTemp("", "sdimage-box"); boxImage.err != nil {
			return
		}
		var key string
		if key, boxImage.err = keyFileIn(boxImage.dir); boxImage.err == nil {
			boxImage.img, boxImage.err = runMkimage(t, boxImage.dir, "box", 1767225600, key, "", false)
		}
	})
	if boxImage.err != nil {
		t.Fatal(boxImage.err)
	}
	img := filepath.Join(dir, "box.img")
	copySparse(t, boxImage.img, img)
	return img
}

// fillData formats the data partition of img with a store that has an
// administrator, as if the box had been set up (the set-up itself is the
// wizard's test).
func fillData(t *testing.T, img, user, password string) {
	t.Helper()
	root := t.TempDir()
	st, err := storage.Open(storage.Options{Dir: filepath.Join(root, "postroom", "store"), NoGC: true})
	if err != nil {
		t.Fatal(err)
	}
	a, err := admin.New(admin.Options{Store: st})
	if err == nil {
		_, err = a.AddAccount(context.Background(), "test", admin.AddAccount{Name: user, Password: password, Admin: true})
	}
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	start, size, err := PartitionSpan(f, PartData)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	prog, err := mke2fsPath()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(prog, "-q", "-F", "-t", "ext4", "-b", "4096", "-L", DataLabel, "-d", root,
		"-E", fmt.Sprintf("offset=%d", start), img, strconv.FormatInt(size>>10, 10)+"k").CombinedOutput()
	if err != nil {
		t.Fatalf("mke2fs -d: %v\n%s", err, out)
	}
}

// bootBox reads cmdline.txt from the boot partition as the Pi's firmware
// does, checks it names want, and boots that root with the box's ports
// forwarded; it waits for the console lines console, and returns once the
// SMTP banner answers, or without waiting for it when console is given.
func bootBox(t *testing.T, ctx context.Context, img, kernel string, ports map[string]int, want int, console ...string) *vm {
	t.Helper()
	return bootBoxWith(t, ctx, img, kernel, ports, want, nil, console...)
}

// bootBoxWith is bootBox with more qemu arguments (a USB stick, say).
func bootBoxWith(t *testing.T, ctx context.Context, img, kernel string, ports map[string]int, want int, more []string, console ...string) *vm {
	t.Helper()
	b, err := OpenBoot(img, false)
	if err != nil {
		t.Fatal(err)
	}
	part, err := update.CmdlineRoot(b)
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	if part != want {
		t.Fatalf("cmdline.txt names root %d, want %d", part, want)
	}
	fwd := fmt.Sprintf("user,id=n,restrict=on,hostfwd=tcp:127.0.0.1:%d-:25,hostfwd=tcp:127.0.0.1:%d-:587,hostfwd=tcp:127.0.0.1:%d-:143,hostfwd=tcp:127.0.0.1:%d-:8080",
		ports["smtp"], ports["submission"], ports["imap"], ports["web"])
	v := startVMWith(t, ctx, img, kernel, 0x50727231, part, "ip=dhcp", false,
		append([]string{"-netdev", fwd, "-device", "virtio-net-pci,netdev=n,romfile="}, more...)...)
	v.waitFor(t, append([]string{"postroom-init: data disk"}, console...)...)
	if len(console) > 0 {
		return v
	}
	for ctx.Err() == nil {
		if banner, err := readBanner(ctx, ports["smtp"]); err == nil && strings.HasPrefix(banner, "220 ") {
			t.Logf("root %d: SMTP banner %.1fs after qemu started", part, time.Since(v.start).Seconds())
			return v
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatal("no SMTP banner before the deadline")
	return nil
}

// waitExit waits for qemu to end (-no-reboot: the box restarted).
func waitExit(t *testing.T, v *vm, bound time.Duration, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { _, err := v.cmd.Process.Wait(); done <- err }()
	select {
	case <-done:
	case <-time.After(bound):
		t.Fatalf("%s: the box did not restart within %v; console:\n%s", what, bound, v.tail(40))
	}
}

var insecure = &tls.Config{InsecureSkipVerify: true} // the box's own self-signed certificate

// sendTestMail sends a message to user as user's mail program does, on
// the submission port (the inbound port's sender checks would ask DNS,
// which the emulated box does not have).
func sendTestMail(t *testing.T, port int, user, password string) {
	t.Helper()
	c, err := smtp.DialStartTLS("127.0.0.1:"+strconv.Itoa(port), insecure)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", user, password)); err != nil {
		t.Fatal(err)
	}
	msg := "From: <" + user + ">\r\nTo: <" + user + ">\r\nSubject: before the update\r\n\r\nKeep me.\r\n"
	if err := c.SendMail(user, []string{user}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
}

// web is a browser's session with the box's page (Host localhost, one of
// its default names).
type web struct {
	c    *http.Client
	base string
}

// newWeb is a browser with its own cookies, on the box's web port.
func newWeb(port int) *web {
	jar, _ := cookiejar.New(nil)
	return &web{c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		base: "http://localhost:" + strconv.Itoa(port)}
}

func (w *web) do(t *testing.T, ctx context.Context, method, path, ctype string, body io.Reader) (int, string) {
	t.Helper()
	code, b, err := w.try(ctx, method, path, ctype, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, b
}

// try is do, returning the error of a box that does not answer yet.
func (w *web) try(ctx context.Context, method, path, ctype string, body io.Reader) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, method, w.base+path, body)
	if err != nil {
		return 0, "", err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		req.Header.Set("Origin", w.base)
	}
	resp, err := w.c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// uploadUpdate logs in and uploads file on /update.
func uploadUpdate(t *testing.T, ctx context.Context, port int, user, password, file, want string) {
	t.Helper()
	began := time.Now()
	code, body, err := postUpdate(ctx, port, user, password, file)
	if err != nil || code != http.StatusOK || !strings.Contains(body, want) {
		t.Fatalf("upload %s: %v %d\n%s", file, err, code, body)
	}
	t.Logf("uploaded and installed %s in %v", filepath.Base(file), time.Since(began).Round(100*time.Millisecond))
}

// postUpdate is uploadUpdate's work, with its answer: it logs in, takes
// the form's CSRF token from /update and posts file there.
func postUpdate(ctx context.Context, port int, user, password, file string) (int, string, error) {
	w := newWeb(port)
	form := url.Values{"user": {user}, "password": {password}}
	if code, body, err := w.try(ctx, "POST", "/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode())); err != nil || code != http.StatusSeeOther {
		return code, body, fmt.Errorf("login: %v", err)
	}
	code, body, err := w.try(ctx, "GET", "/update", "", nil)
	m := csrfField.FindStringSubmatch(body)
	if err != nil || code != http.StatusOK || m == nil {
		return code, body, fmt.Errorf("GET /update: %v", err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, "", err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", m[1])
	fw, _ := mw.CreateFormFile("file", filepath.Base(file))
	fw.Write(data)
	mw.Close()
	return w.try(ctx, "POST", "/update", mw.FormDataContentType(), &buf)
}

// waitStatus polls status.json until ok.
func waitStatus(t *testing.T, ctx context.Context, port int, ok func(status.Snapshot) bool) status.Snapshot {
	t.Helper()
	w := &web{c: http.DefaultClient, base: "http://localhost:" + strconv.Itoa(port)}
	var s status.Snapshot
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		code, body := w.do(t, ctx, "GET", "/status.json", "", nil)
		// A fresh Snapshot each time: JSON leaves out empty fields, and
		// a field that became empty must not keep its old value.
		s = status.Snapshot{}
		if code == http.StatusOK && json.Unmarshal([]byte(body), &s) == nil && ok(s) {
			return s
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("status never got there: %+v", s)
	return s
}

func inboxCount(t *testing.T, port int, user, password string) uint32 {
	t.Helper()
	c, n := openInbox(t, port, user, password)
	c.Close()
	return n
}

// openInbox logs in over IMAP and selects INBOX read-only; it returns the
// client and the number of messages.
func openInbox(t *testing.T, port int, user, password string) (*imapclient.Client, uint32) {
	t.Helper()
	c, err := imapclient.DialStartTLS("127.0.0.1:"+strconv.Itoa(port), &imapclient.Options{TLSConfig: insecure})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(user, password).Wait(); err != nil {
		c.Close()
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c, sel.NumMessages
}
