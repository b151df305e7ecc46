package wire

import "github.com/emersion/go-imap/v2"

// ParseSection parses a section-spec without a header list ("1.MIME",
// "HEADER", "2.TEXT", ""), as an IMAP URL's ";SECTION=" carries it (RFC
// 5092 3, used by CATENATE, RFC 4469 5).
func ParseSection(spec string) (*imap.FetchItemBodySection, error) {
	return bodySection(spec, nil)
}
