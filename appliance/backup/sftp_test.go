package backup

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"postroom/appliance/config"
)

// sshServer is a private OpenSSH sshd on 127.0.0.1 with its own config,
// host key and authorized_keys in a temp folder, serving Debian's
// sftp-server: the real program a NAS or a Linux server runs.
type sshServer struct {
	addr     string
	hostKey  string // authorized_keys line
	dir      string // a folder for backups on the server
	authKeys string
}

func startSSHD(t *testing.T) *sshServer {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Skip("no /usr/sbin/sshd (openssh-server; make deps installs it)")
	}
	if os.Getuid() != 0 {
		t.Skip("a private sshd that logs a user in needs root here")
	}
	// sshd refuses to start without its privilege separation folder.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Skip("cannot make /run/sshd:", err)
	}
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	hostKeyFile := filepath.Join(dir, "host_ed25519")
	if err := os.WriteFile(hostKeyFile, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	s := &sshServer{hostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), dir: filepath.Join(dir, "backups"), authKeys: filepath.Join(dir, "authorized_keys")}
	os.Mkdir(s.dir, 0o700)
	os.WriteFile(s.authKeys, nil, 0o600)

	// A free port: sshd has no "port 0"; bind, note, close, and let sshd
	// take it (a collision makes sshd fail to start, and the test says so).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	l.Close()
	host, port, _ := net.SplitHostPort(s.addr)
	cfg := fmt.Sprintf(`ListenAddress %s
Port %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
LogLevel INFO
Subsystem sftp /usr/lib/openssh/sftp-server
`, host, port, hostKeyFile, filepath.Join(dir, "sshd.pid"), s.authKeys)
	cfgFile := filepath.Join(dir, "sshd_config")
	os.WriteFile(cfgFile, []byte(cfg), 0o600)

	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", cfgFile)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "Server listening on") {
				ready <- nil
				// The rest is not read by the test, which may have
				// ended: t.Log would panic then.
				for sc.Scan() {
				}
				return
			}
		}
		ready <- fmt.Errorf("sshd ended: %s", strings.Join(lines, "\n"))
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sshd did not start")
	}
	return s
}

func (s *sshServer) authorize(t *testing.T, dataDir string) {
	t.Helper()
	line, err := SSHPublicKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.authKeys, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSFTPTarget: a backup to a real OpenSSH server, proven by its read-
// back, restores to an equal box; the host key is pinned; wrong keys and
// logins fail with words.
func TestSFTPTarget(t *testing.T) {
	srv := startSSHD(t)
	b := newBox(t)
	b.fill()
	srv.authorize(t, b.dir)
	b.cfg.Backup.Target = "sftp"
	b.cfg.Backup.SFTP = config.SFTPConfig{Address: srv.addr, User: "root", Path: srv.dir, HostKey: srv.hostKey}
	if err := b.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	res := b.backup()
	alice, _ := b.st.Account("alice@example.com")
	b.deliver(alice.ID, "", "Subject: after\r\n\r\nafter the first\r\n")
	if r := b.backup(); r.Kind != KindIncremental {
		t.Errorf("second backup over SFTP: %s", r.Kind)
	}
	want := dump(t, b.st)
	if _, err := os.Stat(filepath.Join(srv.dir, res.Name)); err != nil {
		t.Errorf("the file is not on the server: %v", err)
	}
	tgt, err := DialSFTP(ctx, b.dir, b.cfg.Backup.SFTP)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := RestoreBox(ctx, RestoreOptions{DataDir: dir, Target: tgt, Key: b.key}); err != nil {
		t.Fatal(err)
	}
	if d := dumpDir(t, filepath.Join(dir, "store")); d != want {
		t.Errorf("restored from SFTP:\n%s\nwant\n%s", d, want)
	}

	other, _ := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(make([]byte, 32)))
	bad := []struct {
		name string
		c    func(c *config.SFTPConfig)
		want string
	}{
		{"unpinned", func(c *config.SFTPConfig) { c.HostKey = "" }, "accept it on the Backups page"},
		{"another server's key", func(c *config.SFTPConfig) { c.HostKey = string(ssh.MarshalAuthorizedKey(other.PublicKey())) }, "another machine may be answering"},
		{"unknown user", func(c *config.SFTPConfig) { c.User = "nobody-here" }, "logging in to the SFTP server"},
		{"missing folder", func(c *config.SFTPConfig) { c.Path = srv.dir + "/nope" }, "is not there on the SFTP server"},
		{"nobody listening", func(c *config.SFTPConfig) { c.Address = "127.0.0.1:1" }, "does not answer"},
	}
	for _, c := range bad {
		sc := b.cfg.Backup.SFTP
		c.c(&sc)
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		_, err := DialSFTP(cctx, b.dir, sc)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		var hk *HostKeyError
		if c.name == "unpinned" && (!errors.As(err, &hk) || hk.Offered != srv.hostKey) {
			t.Errorf("unpinned: the offered key is not told: %v", err)
		}
	}
}
