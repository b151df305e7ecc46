package main

import (
	"os"
	"path/filepath"
	"testing"

	"postroom/appliance/config"
	"postroom/internal/testutil"
)

// TestCertCommands: the certificate of a running box over the control
// socket: shown with its fingerprint; a certificate no authority vouches
// for, garbage or missing files are refused with the reason; nothing to
// remove is said so; renew asks. A stopped box says it must run.
func TestCertCommands(t *testing.T) {
	stopped := newData(t)
	runCtl(t, stopped, "", "cert", "show").check(t, 1, nil, []string{"only while the box runs"})

	b := startBox(t, func(c *config.Config) { c.Hostname = "mail.example.org" })
	runCtl(t, b.data, "", "cert", "show").check(t, 0, []string{"source:      self-signed", "names:       mail.example.org, localhost", "sha-256:     "}, nil)

	dir := t.TempDir()
	certFile, keyFile := testutil.PEMFiles(t, "mail.example.org", dir) // self-made: no authority
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a certificate"), 0o600)
	runCtl(t, b.data, "", "cert", "upload", certFile, keyFile).check(t, 1, nil, []string{"Mail programs would not trust this certificate"})
	runCtl(t, b.data, "", "cert", "upload", garbage, keyFile).check(t, 1, nil, []string{"This is not a certificate"})
	runCtl(t, b.data, "", "cert", "upload", filepath.Join(dir, "missing.pem"), keyFile).check(t, 1, nil, []string{"missing.pem"})
	runCtl(t, b.data, "", "cert", "remove").check(t, 1, nil, []string{"There is no uploaded certificate"})
	runCtl(t, b.data, "", "cert", "renew").check(t, 0, []string{"asked"}, nil)
	runCtl(t, b.data, "", "cert", "show").check(t, 0, []string{"source:      self-signed"}, nil)
}
