package appliance

import (
	"bufio"
	"crypto/tls"
	"net"
	"postroom/appliance/config"
	"strings"
	"testing"
	"time"
)

// TestRunServesPOP3: Run starts "pop3" (STLS offered) and "pop3s"
// (implicit TLS), and the dev demo user logs in over TLS with the password
// from the banner.
func TestRunServesPOP3(t *testing.T) {
	cfg := config.DevDefault(t.TempDir())
	cfg.Listen = config.Listeners{POP3: "127.0.0.1:0", POP3S: "127.0.0.1:0"}
	r, password := startDemo(t, cfg)

	talk := func(conn net.Conn, lines ...string) string {
		t.Helper()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(conn)
		var out strings.Builder
		read := func() {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v (so far %q)", err, out.String())
			}
			out.WriteString(l)
		}
		read() // greeting
		for _, l := range lines {
			conn.Write([]byte(l + "\r\n"))
			read()
			if l == "CAPA" {
				for !strings.HasSuffix(out.String(), "\r\n.\r\n") {
					read()
				}
			}
		}
		return out.String()
	}

	plain, err := net.Dial("tcp", r.addr(t, ServicePOP3))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if got := talk(plain, "CAPA", "QUIT"); !strings.Contains(got, "\r\nSTLS\r\n") {
		t.Fatalf("pop3 CAPA:\n%s", got)
	}

	tc, err := tls.Dial("tcp", r.addr(t, ServicePOP3S), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	got := talk(tc, "USER "+config.DemoUser, "PASS "+password, "STAT", "QUIT")
	if strings.Count(got, "+OK") != 5 || !strings.Contains(got, "+OK 0 0\r\n") {
		t.Fatalf("pop3s session:\n%s", got)
	}
}
