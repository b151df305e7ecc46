package autoconfig

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Outlook's Autodiscover, the "POX" form (MS-OXDSCLI 2.2.3 request, 2.2.4
// response). Outlook POSTs to https://DOMAIN/autodiscover/autodiscover.xml
// or https://autodiscover.DOMAIN/autodiscover/autodiscover.xml:
//
//	<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
//	  <Request>
//	    <EMailAddress>anna@example.com</EMailAddress>
//	    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
//	  </Request>
//	</Autodiscover>
//
// and reads Response/Account with AccountType "email", Action "settings"
// and one Protocol element per server: Type IMAP, POP3 or SMTP, Server,
// Port, LoginName, SPA off (no NTLM), SSL on, Encryption "SSL" (TLS from
// the first byte) or "TLS" (STARTTLS; Encryption overrides SSL where both
// are given), AuthRequired on. Outlook takes the first Protocol of a type,
// so the preferred one comes first.
//
// Errors are Autodiscover answers with HTTP 200, as Exchange sends them:
// 600 for a request it cannot read (or too big: at most maxBody bytes),
// 601 for a response schema we do not speak (ActiveSync's mobilesync), 500
// for an address outside the box's domains.
const (
	nsResponse       = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	nsOutlookReply   = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	maxAutodiscover  = 8 << 10 // a real request is about 350 bytes
	adErrNotFound    = 500
	adErrInvalid     = 600
	adErrUnsupported = 601
)

type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

type adResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response any
}

type adOutlook struct {
	XMLName xml.Name  `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
	Account adAccount `xml:"Account"`
}

type adAccount struct {
	AccountType string       `xml:"AccountType"`
	Action      string       `xml:"Action"`
	Protocols   []adProtocol `xml:"Protocol"`
}

type adProtocol struct {
	Type           string `xml:"Type"`
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"`
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"`
	SSL            string `xml:"SSL"`
	Encryption     string `xml:"Encryption"`
	AuthRequired   string `xml:"AuthRequired"`
	UsePOPAuth     string `xml:"UsePOPAuth,omitempty"`
	SMTPLast       string `xml:"SMTPLast,omitempty"`
}

type adErrorResponse struct {
	XMLName xml.Name `xml:"Response"`
	Error   struct {
		Time      string `xml:"Time,attr"`
		ID        string `xml:"Id,attr"`
		ErrorCode int    `xml:"ErrorCode"`
		Message   string `xml:"Message"`
		DebugData string `xml:"DebugData"`
	} `xml:"Error"`
}

func outlookSettings(s Settings, login string) adOutlook {
	acct := adAccount{AccountType: "email", Action: "settings"}
	for _, proto := range []Protocol{IMAP, POP3, SMTP} {
		for _, sv := range s.Of(proto) {
			p := adProtocol{Type: strings.ToUpper(string(proto)), Server: sv.Host, Port: sv.Port,
				DomainRequired: "off", LoginName: login, SPA: "off", SSL: "on", Encryption: "SSL", AuthRequired: "on"}
			if sv.Security == STARTTLS {
				p.Encryption = "TLS"
			}
			if proto == SMTP {
				p.UsePOPAuth, p.SMTPLast = "on", "off"
			}
			acct.Protocols = append(acct.Protocols, p)
		}
	}
	return adOutlook{Account: acct}
}

func (h *Handler) serveAutodiscoverXML(w http.ResponseWriter, r *http.Request, s Settings) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "Autodiscover is asked with POST", http.StatusMethodNotAllowed)
		return
	}
	var req adRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAutodiscover))
	if err == nil {
		// encoding/xml expands no entity but the five predefined ones and
		// reads no DTD: an "XML bomb" is a syntax error, not a memory bill.
		err = xml.Unmarshal(body, &req)
	}
	if err == nil && req.Request.EMailAddress == "" {
		err = errors.New("no EMailAddress")
	}
	if err != nil {
		h.log.Info("autodiscover: unreadable request", "remote", r.RemoteAddr, "bytes", len(body), "err", err)
		h.autodiscoverError(w, adErrInvalid, "Invalid Request")
		return
	}
	if schema := strings.TrimSpace(req.Request.AcceptableResponseSchema); schema != "" && schema != nsOutlookReply {
		h.log.Info("autodiscover: response schema not offered", "remote", r.RemoteAddr, "schema", schema)
		h.autodiscoverError(w, adErrUnsupported, "The requested schema is not supported: this box serves IMAP, POP3 and SMTP, not ActiveSync")
		return
	}
	login, domain, err := ParseAddress(req.Request.EMailAddress)
	if err != nil || !s.Ours(domain) {
		h.log.Debug("autodiscover: not one of our domains", "remote", r.RemoteAddr)
		h.autodiscoverError(w, adErrNotFound, "The email address cannot be found.")
		return
	}
	writeXML(w, http.StatusOK, adResponse{Response: outlookSettings(s, login)})
}

func (h *Handler) autodiscoverError(w http.ResponseWriter, code int, msg string) {
	var e adErrorResponse
	now := h.now()
	e.Error.Time = now.UTC().Format("15:04:05.0000000")
	e.Error.ID = fmt.Sprint(code)
	e.Error.ErrorCode = code
	e.Error.Message = msg
	writeXML(w, http.StatusOK, adResponse{Response: e})
}

// The JSON form ("Autodiscover V2"), which Outlook 2016 and later and new
// Outlook ask before the XML one:
//
//	GET /autodiscover/autodiscover.json?Email=ADDRESS&Protocol=AutodiscoverV1
//	GET /autodiscover/autodiscover.json/v1.0/ADDRESS?Protocol=AutodiscoverV1
//
// It carries no settings, only the URL of the service asked for:
// {"Protocol":"AutodiscoverV1","Url":"https://HOST/autodiscover/autodiscover.xml"}.
// Answering AutodiscoverV1 with our XML endpoint is what makes Outlook go
// on to POST there and read the IMAP/POP3/SMTP settings. Other protocols
// (ActiveSync, EWS, Rest) get 400 with Exchange's InvalidProtocol error,
// so that Outlook stops looking for an Exchange server here. The protocol
// name is compared without case: Outlook 2019 sends "Autodiscoverv1".
// The URL is https because Outlook asks Autodiscover over https only; until
// the box serves 443 with a trusted certificate (issue 13, item 5) Outlook
// finds nothing there and its user picks IMAP by hand.
type adJSON struct {
	Protocol string `json:"Protocol"`
	URL      string `json:"Url"`
}

type adJSONError struct {
	ErrorCode    string `json:"ErrorCode"`
	ErrorMessage string `json:"ErrorMessage"`
}

func (h *Handler) serveAutodiscoverJSON(w http.ResponseWriter, r *http.Request, s Settings, pathAddr string) {
	q := r.URL.Query()
	addr := pathAddr
	if addr == "" {
		addr = queryFold(q, "Email")
	}
	proto := queryFold(q, "Protocol")
	if !strings.EqualFold(proto, "AutodiscoverV1") {
		writeJSON(w, http.StatusBadRequest, adJSONError{"InvalidProtocol",
			fmt.Sprintf("The given protocol value '%s' is invalid. Supported values are 'AutodiscoverV1'", truncate(proto, 64))})
		return
	}
	_, domain, err := ParseAddress(addr)
	if err != nil || !s.Ours(domain) {
		writeJSON(w, http.StatusNotFound, adJSONError{"InvalidUser", "The email address cannot be found."})
		return
	}
	writeJSON(w, http.StatusOK, adJSON{Protocol: "AutodiscoverV1", URL: "https://" + h.publicHost(r, s) + "/autodiscover/autodiscover.xml"})
}

// publicHost is the Host the request named when it is one of the box's
// names, else the box's host name: a URL we hand out never points at a
// name a stranger chose.
func (h *Handler) publicHost(r *http.Request, s Settings) string {
	if host := hostOnly(r.Host); s.ownName(host) {
		return strings.ToLower(host)
	}
	return s.Hostname
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
