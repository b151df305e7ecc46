// Package pebbletest runs Pebble, Let's Encrypt's small ACME test server
// (a tool in go.mod), for tests of the certificate manager: a real ACME
// server on 127.0.0.1 that validates HTTP-01 and TLS-ALPN-01 challenges
// by connecting to the names it is asked for, as resolved by a test DNS
// server (internal/dnstest).
package pebbletest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"postroom/internal/testutil"
)

// Options configures Start.
type Options struct {
	// DNS is the resolver Pebble asks for every name ("127.0.0.1:PORT",
	// a dnstest server). Required.
	DNS string
	// HTTPPort and TLSPort are where Pebble connects for HTTP-01 and
	// TLS-ALPN-01 (the box's public ports; 80 and 443 in real life).
	HTTPPort, TLSPort int
	// Validity of the certificates it issues. 0: 90 days.
	Validity time.Duration
}

// Pebble is a running Pebble.
type Pebble struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// Client is an HTTP client that trusts the directory's certificate.
	Client *http.Client
	mgmt   string
	cmd    *exec.Cmd
	done   chan struct{}
	stop   sync.Once
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// build compiles Pebble once per test binary, into a folder named after
// the version go.mod pins, which later runs reuse (the file appears by a
// rename, so parallel test binaries never see half of it).
func build() (string, error) {
	buildOnce.Do(func() {
		v, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/letsencrypt/pebble/v2").Output()
		if err != nil {
			buildErr = fmt.Errorf("pebble version: %v", err)
			return
		}
		dir := filepath.Join(os.TempDir(), "postroom-pebble-"+strings.TrimSpace(string(v)))
		binary = filepath.Join(dir, "pebble")
		if _, err := os.Stat(binary); err == nil {
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		tmp, err := os.MkdirTemp(dir, "build-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(tmp)
		out, err := exec.Command("go", "build", "-o", filepath.Join(tmp, "pebble"), "github.com/letsencrypt/pebble/v2/cmd/pebble").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build pebble: %v\n%s", err, out)
			return
		}
		buildErr = os.Rename(filepath.Join(tmp, "pebble"), binary)
	})
	return binary, buildErr
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago,
// for the addresses Pebble must be told before it starts.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs Pebble until the test ends (or Stop) and waits until its
// directory answers.
func Start(tb testing.TB, o Options) *Pebble {
	tb.Helper()
	bin, err := build()
	if err != nil {
		tb.Fatal(err)
	}
	if o.Validity == 0 {
		o.Validity = 90 * 24 * time.Hour
	}
	dir := tb.TempDir()
	certFile, keyFile := testutil.PEMFiles(tb, "localhost", dir)
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(tb)))
	mgmt := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(tb)))
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  listen,
		"managementListenAddress":        mgmt,
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       o.HTTPPort,
		"tlsPort":                        o.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "test", "validityPeriod": int(o.Validity / time.Second)}},
	}}
	b, _ := json.Marshal(conf)
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", o.DNS)
	// No random sleeps before validation, no random nonce refusals: the
	// test is about the box, not about Pebble's robustness drills.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.Stdout = testutil.LogWriter{TB: tb}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &Pebble{DirectoryURL: "https://" + listen + "/dir", mgmt: mgmt, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	tb.Cleanup(p.Stop)
	_, client := testutil.TLS(tb, "localhost")
	client.ServerName = "localhost"
	p.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: client}, Timeout: 30 * time.Second}

	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := p.Client.Get(p.DirectoryURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			tb.Fatalf("pebble stopped before it served")
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("pebble did not serve its directory within a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Roots returns the pool of Pebble's root certificate, which every
// certificate it issues chains to.
func (p *Pebble) Roots(tb testing.TB) *x509.CertPool {
	tb.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.RootPEM(tb)) {
		tb.Fatal("pebble root is not PEM")
	}
	return pool
}

// RootPEM returns Pebble's root certificate as PEM, for programs that
// read a file (openssl).
func (p *Pebble) RootPEM(tb testing.TB) []byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+p.mgmt+"/roots/0", nil)
	resp, err := p.Client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("pebble root: %d %v", resp.StatusCode, err)
	}
	return b
}

// Stop ends Pebble (the CA goes down) and waits for it.
func (p *Pebble) Stop() {
	p.stop.Do(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
}

// TLSClient returns a client config that trusts roots and expects name.
func TLSClient(roots *x509.CertPool, name string) *tls.Config {
	return &tls.Config{RootCAs: roots, ServerName: name, MinVersion: tls.VersionTLS12}
}
