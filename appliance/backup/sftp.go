package backup

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"postroom/appliance/config"
	"postroom/internal/atomicfile"
)

// The network target is SFTP. Why: every small office's network disk
// (Synology, QNAP, a Linux or Windows server with OpenSSH) speaks it with
// a user name and a password or key; it is encrypted and authenticated
// (SMB and NFS on an office LAN often are not, and their Go clients are
// not what the served modules speak well); github.com/pkg/sftp over
// golang.org/x/crypto/ssh streams files with a bounded window, renames
// atomically and fsyncs (OpenSSH's extensions). The server's host key is
// pinned (backup.sftp.host_key): the box sends the office's mail to no
// other machine.

// sshKeyFile is the box's own SSH key, for servers that take keys.
const sshKeyFile = "backup/ssh_ed25519"

// HostKeyError: the server offered a key that is not the pinned one (or
// none is pinned yet). Offered is its authorized_keys line, for the page.
type HostKeyError struct {
	Offered string
	Pinned  bool
}

func (e *HostKeyError) Error() string {
	fp := e.Offered
	if pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(e.Offered)); err == nil {
		fp = ssh.FingerprintSHA256(pk)
	}
	// The key itself ends the message, so that the page can offer to
	// trust it.
	if e.Pinned {
		return "the SFTP server's key (" + fp + ") is not the one this box trusts: another machine may be answering at that address; if the server was replaced, accept its new key on the Backups page (its key: " + e.Offered + ")"
	}
	return "the SFTP server's key is " + fp + ": check it against the server, then accept it on the Backups page (its key: " + e.Offered + ")"
}

// SSHPublicKey is the box's SSH public key as an authorized_keys line,
// made on first use: the office adds it on the server.
func SSHPublicKey(dataDir string) (string, error) {
	s, err := sshSigner(dataDir)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey()))) + " postroom-backup", nil
}

func sshSigner(dataDir string) (ssh.Signer, error) {
	p := filepath.Join(dataDir, sshKeyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		blk, gerr := ssh.MarshalPrivateKey(priv, "postroom-backup")
		if gerr != nil {
			return nil, gerr
		}
		b = pem.EncodeToMemory(blk)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(p, b, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("backup: %s is damaged: %w", p, err)
	}
	return s, nil
}

// SFTP is a target on an SFTP server.
type SFTP struct {
	c    *sftp.Client
	conn *ssh.Client
	dir  string
	name string
}

// DialSFTP connects to the server of c and checks its folder.
func DialSFTP(ctx context.Context, dataDir string, c config.SFTPConfig) (*SFTP, error) {
	signer, err := sshSigner(dataDir)
	if err != nil {
		return nil, err
	}
	auth := []ssh.AuthMethod{ssh.PublicKeys(signer)}
	if c.Password != "" {
		auth = append(auth, ssh.Password(c.Password))
	}
	var pinned ssh.PublicKey
	if strings.TrimSpace(c.HostKey) != "" {
		pinned, _, _, _, err = ssh.ParseAuthorizedKey([]byte(c.HostKey))
		if err != nil {
			return nil, fmt.Errorf("backup.sftp.host_key is not an SSH public key: %w", err)
		}
	}
	cc := &ssh.ClientConfig{
		User: c.User,
		Auth: auth,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if pinned != nil && string(pinned.Marshal()) == string(key.Marshal()) {
				return nil
			}
			return &HostKeyError{Offered: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))), Pinned: pinned != nil}
		},
		Timeout: 20 * time.Second,
	}
	d := net.Dialer{Timeout: 20 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", c.Address)
	if err != nil {
		return nil, fmt.Errorf("the SFTP server %s does not answer: %w", c.Address, err)
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, c.Address, cc)
	if err != nil {
		nc.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, hk
		}
		return nil, fmt.Errorf("logging in to the SFTP server %s as %s: %w", c.Address, c.User, err)
	}
	conn := ssh.NewClient(sc, chans, reqs)
	cl, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("the server %s does not offer SFTP: %w", c.Address, err)
	}
	t := &SFTP{c: cl, conn: conn, dir: c.Path, name: "sftp " + c.User + "@" + c.Address + ":" + c.Path}
	fi, err := cl.Stat(c.Path)
	if err != nil || !fi.IsDir() {
		t.Close()
		return nil, fmt.Errorf("the folder %s is not there on the SFTP server %s", c.Path, c.Address)
	}
	// End the connection with ctx, so a stop does not wait on a hung server.
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	return t, nil
}

func (s *SFTP) String() string { return s.name }

func (s *SFTP) List(ctx context.Context) ([]Entry, error) {
	fis, err := s.c.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("reading the folder on the SFTP server: %w", err)
	}
	var out []Entry
	for _, fi := range fis {
		if fi.Mode().IsRegular() && strings.HasSuffix(fi.Name(), Ext) && !strings.HasPrefix(fi.Name(), ".") {
			out = append(out, Entry{Name: fi.Name(), Size: fi.Size()})
		}
	}
	sortEntries(out)
	return out, nil
}

func (s *SFTP) path(name string) (string, error) {
	if name != path.Base(name) || name == "." || name == ".." {
		return "", fmt.Errorf("%q is not a backup file name", name)
	}
	return path.Join(s.dir, name), nil
}

func (s *SFTP) Create(ctx context.Context, name string) (Upload, error) {
	final, err := s.path(name)
	if err != nil {
		return nil, err
	}
	if fis, err := s.c.ReadDir(s.dir); err == nil {
		for _, fi := range fis {
			if stalePartial(fi.Name(), name) { // left by a backup that was killed
				s.c.Remove(path.Join(s.dir, fi.Name()))
			}
		}
	}
	p := path.Join(s.dir, partialName(name))
	f, err := s.c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, fmt.Errorf("writing to the SFTP server: %w", err)
	}
	return &sftpUpload{s: s, f: f, tmp: p, final: final}, nil
}

type sftpUpload struct {
	s          *SFTP
	f          *sftp.File
	tmp, final string
}

func (u *sftpUpload) Write(b []byte) (int, error) { return u.f.Write(b) }

func (u *sftpUpload) Commit() error {
	err := u.f.Sync()
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported {
		err = nil // a server without fsync@openssh.com: its close must do
	}
	if cerr := u.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if _, serr := u.s.c.Stat(u.final); serr == nil {
			err = fmt.Errorf("%s exists already", path.Base(u.final))
		} else {
			err = u.s.c.PosixRename(u.tmp, u.final)
			if err != nil {
				err = u.s.c.Rename(u.tmp, u.final)
			}
		}
	}
	if err != nil {
		u.s.c.Remove(u.tmp)
		return fmt.Errorf("finishing the backup file on the SFTP server: %w", err)
	}
	return nil
}

func (u *sftpUpload) Abort() {
	u.f.Close()
	u.s.c.Remove(u.tmp)
}

func (s *SFTP) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	f, err := s.c.Open(p)
	if err != nil {
		return nil, fmt.Errorf("opening the backup on the SFTP server: %w", err)
	}
	return f, nil
}

func (s *SFTP) Remove(ctx context.Context, name string) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := s.c.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (s *SFTP) Free(ctx context.Context) (int64, error) {
	st, err := s.c.StatVFS(s.dir)
	if err != nil {
		return -1, nil // not every server has statvfs@openssh.com
	}
	return int64(st.FreeSpace()), nil
}

func (s *SFTP) Close() error {
	s.c.Close()
	return s.conn.Close()
}
