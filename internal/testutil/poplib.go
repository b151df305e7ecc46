package testutil

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// poplibScript logs in with Python's poplib, runs STAT and QUIT, and
// prints the server's refusal (exit 1) if there is one.
const poplibScript = `
import poplib, sys
p = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=20)
try:
    p.user(sys.argv[3]); p.pass_(sys.argv[4]); p.stat(); p.quit()
except poplib.error_proto as e:
    print(e); sys.exit(1)
`

// PoplibLogin logs in over plain POP3 at addr with Python's poplib (a real
// client; the server must allow plain-text logins from loopback) and
// returns the server's refusal in poplib's words, "" when it worked.
func PoplibLogin(t testing.TB, addr, user, password string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", poplibScript, host, port, user, password).CombinedOutput()
	if err != nil {
		if len(out) == 0 {
			t.Fatalf("poplib: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	return ""
}
