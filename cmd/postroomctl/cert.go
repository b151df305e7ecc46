package main

// cert: the TLS certificate of a running box (appliance/certs): which one
// every port uses, uploading one bought elsewhere, going back from it, and
// asking the ACME authority again now.

import (
	"fmt"
	"os"
	"strings"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/certs"
)

func init() {
	commands = append(commands,
		command{"cert show", 0, 0, nil, (*ctl).certShow},
		command{"cert upload", 2, 2, nil, (*ctl).certUpload},
		command{"cert remove", 0, 0, nil, (*ctl).certRemove},
		command{"cert renew", 0, 0, nil, (*ctl).certRenew},
	)
}

// certSynopsis is the help of the certificate commands.
const certSynopsis = `
TLS certificate (of a running box; README "Certificates"):
  cert show                            where it comes from, names, end, fingerprint,
                                       and why the box could not get a trusted one
  cert upload CERTFILE KEYFILE         use a certificate (PEM, with its intermediate
                                       certificates) and its key, after checking them
  cert remove                          stop using the uploaded certificate
  cert renew                           ask the ACME authority now (after a DNS fix)
`

func (c *ctl) certShow([]string) error {
	s, err := call[certs.State](c, admin.GetCertificate{})
	if err != nil {
		return err
	}
	c.printCert(s)
	return nil
}

func (c *ctl) printCert(s certs.State) {
	fmt.Fprintf(c.stdout, "source:      %s\n", s.Source)
	fmt.Fprintf(c.stdout, "names:       %s\n", strings.Join(s.Names, ", "))
	if s.Issuer != "" {
		fmt.Fprintf(c.stdout, "issuer:      %s\n", safeText(s.Issuer, 0))
	}
	if !s.NotAfter.IsZero() {
		fmt.Fprintf(c.stdout, "valid until: %s\n", s.NotAfter.Format(time.DateOnly))
	}
	fmt.Fprintf(c.stdout, "sha-256:     %s\n", s.Fingerprint)
	if !s.NextCheck.IsZero() {
		fmt.Fprintf(c.stdout, "next check:  %s\n", stamp(s.NextCheck))
	}
	if s.Problem != "" {
		fmt.Fprintf(c.stdout, "problem:     %s\n", s.Problem)
	}
}

func (c *ctl) certUpload(args []string) error {
	var pems [2][]byte
	for i, path := range args {
		// Bounded like the web form: a certificate file is small.
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		if fi.Size() > certs.MaxCertPEM {
			return fmt.Errorf("%s: %d bytes is too large for a certificate or key file", path, fi.Size())
		}
		if pems[i], err = os.ReadFile(path); err != nil {
			return err
		}
	}
	s, err := call[certs.State](c, admin.UploadCertificate{Cert: string(pems[0]), Key: string(pems[1])})
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "certificate in use on every port from now on:")
	c.printCert(s)
	return nil
}

func (c *ctl) certRemove([]string) error {
	s, err := call[certs.State](c, admin.RemoveCertificate{})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "the uploaded certificate is no longer used; now the %s one\n", s.Source)
	return nil
}

func (c *ctl) certRenew([]string) error {
	if _, err := call[certs.State](c, admin.RenewCertificate{}); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "asked: postroomctl cert show tells the outcome in a minute")
	return nil
}
