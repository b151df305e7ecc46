package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serve starts a control socket server of e's Admin in dir and returns the
// socket's path; the server stops at cleanup.
func serve(t testing.TB, e *env, dir string) string {
	t.Helper()
	path := filepath.Join(dir, SocketFile)
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(e.a, nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx, ln); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("the socket file outlived the server")
		}
	})
	return path
}

// TestControlSocket runs operations over a real socket: results, refusals
// with their code and field, the actor the kernel names, and what a broken
// request gets.
func TestControlSocket(t *testing.T) {
	e := newEnv(t)
	path := serve(t, e, t.TempDir())
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %v, %v; want a socket of mode 0600", fi.Mode(), err)
	}
	ctx := context.Background()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	r, err := Call[AccountResult](ctx, c, "claimed by the client", AddAccount{Name: "ann@example.org", Generate: true, Admin: true})
	if err != nil || r.Account.Name != "ann@example.org" || !r.Account.Admin || len(r.Password) < 16 {
		t.Fatalf("account.add over the socket: %+v, %v", r, err)
	}
	if _, err := e.st.Authenticate("ann@example.org", r.Password); err != nil {
		t.Errorf("the generated password does not work: %v", err)
	}
	// The kernel says who asked, not the request.
	ch := e.bus.Latest().LastChange
	if want := fmt.Sprintf("(uid %d) via postroomctl", os.Getuid()); !strings.Contains(ch.By, want) || strings.Contains(ch.By, "claimed") {
		t.Errorf("actor %q, want the peer's uid (%q)", ch.By, want)
	}
	if strings.Contains(e.log.String(), r.Password) {
		t.Errorf("the generated password is in the log")
	}

	// A refusal arrives as the same *Error, on the same connection.
	_, err = Call[AddressResult](ctx, c, "", AddAddress{Address: "ann@example.org", Account: "ann@example.org"})
	if ae, ok := err.(*Error); !ok || ae.Code != CodeExists || ae.Field != "address" {
		t.Errorf("address.add of a login: %#v", err)
	}
	l, err := Call[AccountList](ctx, c, "", ListAccounts{})
	if err != nil || len(l.Accounts) != 1 {
		t.Errorf("account.list: %+v, %v", l, err)
	}

	// Raw lines: what a broken or hostile client gets.
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, tc := range []struct{ send, code, field string }{
		{"not json", "invalid", ""},
		{`{"op":"account.frobnicate"}`, "invalid", "op"},
		{`{"op":"account.add","args":{"name":"x@example.org","pasword":"typo in the field"}}`, "invalid", "args"},
		{`{"op":"account.add","args":{"name":"x@example.org","password":"short"}}`, "invalid", "password"},
		{`{"op":"account.remove","args":{"name":"nobody@example.org"}}`, "not_found", "name"},
		{`{"op":"account.list"}`, "", ""},
	} {
		fmt.Fprintf(conn, "%s\n", tc.send)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: no answer: %v", tc.send, err)
		}
		var resp response
		if err := json.Unmarshal([]byte(line), &resp); err != nil {
			t.Fatalf("%s: answer %q: %v", tc.send, line, err)
		}
		switch {
		case tc.code == "" && resp.Error != nil:
			t.Errorf("%s: error %+v", tc.send, resp.Error)
		case tc.code != "" && (resp.Error == nil || string(resp.Error.Code) != tc.code || resp.Error.Field != tc.field):
			t.Errorf("%s: answer %s, want code %s field %q", tc.send, line, tc.code, tc.field)
		}
	}
	// An overlong request is refused and the connection closed.
	fmt.Fprintf(conn, "%s\n", strings.Repeat("x", maxRequest+10))
	if line, _ := br.ReadString('\n'); !strings.Contains(line, "longer than") {
		t.Errorf("overlong request: %q", line)
	}
	noSecrets(t, e)
}

// TestControlSocketOtherUser: a process of another user is refused, by the
// socket's mode and, where the mode is loosened, by its uid (SO_PEERCRED).
// The other user is a python3 child started as nobody (needs root).
func TestControlSocketOtherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to start a process as another user")
	}
	python, err := exec.LookPath("/usr/bin/python3") // not a shim in /root, which nobody cannot run
	if err != nil {
		t.Skip("no python3")
	}
	e := newEnv(t)
	// A folder every user may enter, so that only the server's own check
	// stands in the way once the socket's mode is loosened.
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := serve(t, e, dir)
	const script = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect failed:", e.strerror); sys.exit(0)
try:
    s.sendall(b'{"op":"account.add","args":{"name":"mallory@example.org","password":"mallory pw 123"}}\n')
except OSError:
    pass  # refused and closed already: the answer is still there to read
print(s.makefile().readline().strip())
`
	asNobody := func() string {
		t.Helper()
		cmd := exec.Command(python, "-c", script, path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python as nobody: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := asNobody(); !strings.Contains(out, "connect failed: Permission denied") {
		t.Errorf("nobody on a socket of mode 0600: %q, want permission denied", out)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if out := asNobody(); !strings.Contains(out, `"code":"denied"`) {
		t.Errorf("nobody on a socket of mode 0666: %q, want refused by uid", out)
	}
	if _, err := e.st.Account("mallory@example.org"); err == nil {
		t.Errorf("the other user's account was created")
	}
	if !strings.Contains(e.log.String(), "uid 65534 is neither root nor the appliance's user") {
		t.Errorf("the refusal is not logged:\n%s", e.log.String())
	}
}
