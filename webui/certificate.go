package webui

import (
	"net/http"
	"strings"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/certs"
)

// The certificate on the settings page: which one every port uses, why
// the box could not get a trusted one, and a form to paste one bought
// elsewhere (appliance/certs checks it through the admin layer).

// certView is the certificate in words.
type certView struct {
	What     string // where it comes from, in a sentence
	Names    string
	Until    string
	Fp       string // the fingerprint, shown for the self-signed one
	Problem  string
	Uploaded bool
	// Renewable: the box asks an ACME authority (or could, once the DNS
	// is right), so "try again now" makes sense.
	Renewable bool
}

// certificateView asks the admin layer for the certificate; nil when the
// box cannot say (not running).
func (h *handler) certificateView(r *http.Request, v *visitor) *certView {
	s, err := admin.Call[certs.State](r.Context(), h.admin, v.actor, admin.GetCertificate{})
	if err != nil {
		return nil
	}
	cv := &certView{Names: strings.Join(s.Names, ", "), Problem: s.Problem, Uploaded: s.Source == certs.Uploaded}
	if !s.NotAfter.IsZero() {
		cv.Until = s.NotAfter.Format(time.DateOnly)
	}
	switch s.Source {
	case certs.SelfSigned:
		cv.What = "The box made its own certificate. Mail programs warn about it once; people can compare the fingerprint below with what their program shows."
		cv.Fp = s.Fingerprint
		cv.Renewable = true
	case certs.ACME:
		cv.What = "A trusted certificate from " + issuerWords(s.Issuer) + ", renewed by the box 30 days before it ends."
		cv.Renewable = true
	case certs.Uploaded:
		cv.What = "The certificate uploaded here (from " + issuerWords(s.Issuer) + "). Upload a new one before it ends."
	case certs.Configured:
		cv.What = "The certificate named in config.json (tls.cert, tls.key), from " + issuerWords(s.Issuer) + "."
	}
	return cv
}

func issuerWords(issuer string) string {
	if issuer == "" {
		return "an unnamed authority"
	}
	return issuer
}

// certificateOp is the admin operation of a certificate form, with its
// fields for error messages; nil for another form.
func certificateOp(form string, r *http.Request) (admin.Op, []string) {
	switch form {
	case "certificate":
		return admin.UploadCertificate{Cert: r.PostForm.Get("cert"), Key: r.PostForm.Get("key")}, []string{"cert", "key"}
	case "uncertificate":
		return admin.RemoveCertificate{}, nil
	case "renew":
		return admin.RenewCertificate{}, nil
	}
	return nil, nil
}
