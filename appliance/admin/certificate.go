package admin

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"postroom/appliance/certs"
)

// Certificates is the running box's certificate manager
// (appliance/certs.Manager), for the certificate operations.
type Certificates interface {
	State() certs.State
	Upload(certPEM, keyPEM []byte) (certs.State, error)
	RemoveUploaded() (certs.State, error)
	Renew()
}

// noCertificates is the answer of a box that is not running.
var noCertificates = errorf(CodeConflict, "", "the certificate can be changed only while the box runs")

// GetCertificate shows the certificate in use: where it comes from, its
// names, its end, its fingerprint and the last problem getting one.
type GetCertificate struct{}

func (GetCertificate) OpName() string { return "certificate.show" }
func (GetCertificate) readOnly()      {}

func (a *Admin) GetCertificate(ctx context.Context, by Actor, req GetCertificate) (certs.State, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req GetCertificate) (certs.State, string, error) {
		if a.o.Certificates == nil {
			return certs.State{}, "", noCertificates
		}
		return a.o.Certificates.State(), "", nil
	})
}

// UploadCertificate puts a certificate and its key (PEM, as the issuer
// gives them) in use on every port, after checking that the key belongs
// to it, that the chain leads to a known authority, that it names the
// box's host name and that it is valid now. Errors name the field: "cert"
// or "key".
type UploadCertificate struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

func (UploadCertificate) OpName() string { return "certificate.upload" }

// LogValue hides the key if the request itself is ever logged.
func (r UploadCertificate) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("cert_bytes", len(r.Cert)), slog.Bool("key", r.Key != ""))
}

func (a *Admin) UploadCertificate(ctx context.Context, by Actor, req UploadCertificate) (certs.State, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req UploadCertificate) (certs.State, string, error) {
		if a.o.Certificates == nil {
			return certs.State{}, "", noCertificates
		}
		s, err := a.o.Certificates.Upload([]byte(req.Cert), []byte(req.Key))
		var ie *certs.InputError
		if errors.As(err, &ie) {
			return s, "", errorf(CodeInvalid, ie.Field, "%s", ie.Message)
		}
		if err != nil {
			return s, "", internal("keeping the certificate", err)
		}
		return s, "put an uploaded certificate in use for " + strings.Join(s.Names, ", ") +
			" until " + s.NotAfter.Format("2006-01-02"), nil
	})
}

// RemoveCertificate stops using the uploaded certificate: the box goes
// back to the one from the ACME authority or its self-signed one.
type RemoveCertificate struct{}

func (RemoveCertificate) OpName() string { return "certificate.remove" }

func (a *Admin) RemoveCertificate(ctx context.Context, by Actor, req RemoveCertificate) (certs.State, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req RemoveCertificate) (certs.State, string, error) {
		if a.o.Certificates == nil {
			return certs.State{}, "", noCertificates
		}
		s, err := a.o.Certificates.RemoveUploaded()
		var ie *certs.InputError
		if errors.As(err, &ie) {
			return s, "", errorf(CodeNotFound, "", "%s", ie.Message)
		}
		if err != nil {
			return s, "", internal("removing the certificate", err)
		}
		return s, "removed the uploaded certificate; now using the " + string(s.Source) + " one", nil
	})
}

// RenewCertificate asks the box to try for a certificate from the ACME
// authority now, say after the DNS records were corrected, instead of at
// the next planned try.
type RenewCertificate struct{}

func (RenewCertificate) OpName() string { return "certificate.renew" }

func (a *Admin) RenewCertificate(ctx context.Context, by Actor, req RenewCertificate) (certs.State, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req RenewCertificate) (certs.State, string, error) {
		if a.o.Certificates == nil {
			return certs.State{}, "", noCertificates
		}
		a.o.Certificates.Renew()
		return a.o.Certificates.State(), "asked for a new certificate check", nil
	})
}

// doCertificate is Do for the certificate operations.
func (a *Admin) doCertificate(ctx context.Context, by Actor, op Op) (any, error) {
	switch op := op.(type) {
	case GetCertificate:
		return a.GetCertificate(ctx, by, op)
	case UploadCertificate:
		return a.UploadCertificate(ctx, by, op)
	case RemoveCertificate:
		return a.RemoveCertificate(ctx, by, op)
	case RenewCertificate:
		return a.RenewCertificate(ctx, by, op)
	}
	return nil, errorf(CodeInvalid, "op", "unknown operation %q", op.OpName())
}
