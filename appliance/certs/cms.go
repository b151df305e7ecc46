package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"time"
)

// SignProfile signs an Apple configuration profile with the certificate
// in use when it is a trusted one (ACME, uploaded or configured), so that
// the phone shows the profile as "Verified"; with the self-signed
// certificate it returns the profile unchanged, since a signature the
// phone cannot check helps no one.
func (m *Manager) SignProfile(profile []byte) ([]byte, error) {
	cur := m.cur.Load()
	if cur.source == SelfSigned {
		return profile, nil
	}
	return SignCMS(profile, cur.cert, m.now())
}

// Object identifiers of RFC 5652 (CMS), RFC 5754 and RFC 5758.
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidRSASHA256     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

// DER tags used below.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagNull        = 0x05
	tagSequence    = 0x30
	tagSet         = 0x31
	tagContext0    = 0xa0 // [0], constructed
)

// SignCMS wraps content in a CMS SignedData (RFC 5652 5) signed with
// cert's key (ECDSA or RSA, SHA-256) at time at: the content inside, the
// whole chain, one signer with the signed attributes content type,
// message digest and signing time. The DER is what Apple's devices take
// as a signed .mobileconfig and what `openssl cms -verify` checks.
func SignCMS(content []byte, cert *tls.Certificate, at time.Time) ([]byte, error) {
	if cert == nil || len(cert.Certificate) == 0 {
		return nil, errors.New("sign: no certificate")
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("sign: %w", err)
		}
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("sign: the key cannot sign")
	}
	var sigAlg []byte
	switch signer.Public().(type) {
	case *ecdsa.PublicKey:
		sigAlg = algorithm(oidECDSASHA256, false)
	case *rsa.PublicKey:
		sigAlg = algorithm(oidRSASHA256, true)
	default:
		return nil, fmt.Errorf("sign: a %T key is not supported", signer.Public())
	}
	digest := sha256.Sum256(content)
	signingTime, err := asn1.Marshal(at.UTC())
	if err != nil {
		return nil, fmt.Errorf("sign: signing time: %w", err)
	}
	attrs := setOf(
		attribute(oidContentType, mustOID(oidData)),
		attribute(oidMessageDigest, tlv(tagOctetString, digest[:])),
		attribute(oidSigningTime, signingTime),
	)
	// The signature covers the attributes as a SET (RFC 5652 5.4), though
	// they are sent as [0] IMPLICIT.
	attrsDigest := sha256.Sum256(tlv(tagSet, attrs))
	sig, err := signer.Sign(rand.Reader, attrsDigest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	serial, err := asn1.Marshal(leaf.SerialNumber)
	if err != nil {
		return nil, fmt.Errorf("sign: serial: %w", err)
	}
	signerInfo := tlv(tagSequence,
		integer(1),
		tlv(tagSequence, leaf.RawIssuer, serial), // IssuerAndSerialNumber
		algorithm(oidSHA256, false),
		tlv(tagContext0, attrs),
		sigAlg,
		tlv(tagOctetString, sig),
	)
	signedData := tlv(tagSequence,
		integer(1),
		tlv(tagSet, algorithm(oidSHA256, false)),
		tlv(tagSequence, mustOID(oidData), tlv(tagContext0, tlv(tagOctetString, content))),
		tlv(tagContext0, slices.Concat(cert.Certificate...)),
		tlv(tagSet, signerInfo),
	)
	return tlv(tagSequence, mustOID(oidSignedData), tlv(tagContext0, signedData)), nil
}

// tlv is one DER element: tag, definite length, the parts as content.
func tlv(tag byte, parts ...[]byte) []byte {
	content := slices.Concat(parts...)
	n := len(content)
	out := []byte{tag}
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	default:
		var l []byte
		for ; n > 0; n >>= 8 {
			l = append([]byte{byte(n)}, l...)
		}
		out = append(out, 0x80|byte(len(l)))
		out = append(out, l...)
	}
	return append(out, content...)
}

func integer(v int) []byte { return tlv(tagInteger, []byte{byte(v)}) }

func mustOID(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err) // a constant above
	}
	return b
}

// algorithm is an AlgorithmIdentifier; RSA's carry NULL parameters.
func algorithm(oid asn1.ObjectIdentifier, null bool) []byte {
	if null {
		return tlv(tagSequence, mustOID(oid), []byte{tagNull, 0})
	}
	return tlv(tagSequence, mustOID(oid))
}

func attribute(oid asn1.ObjectIdentifier, value []byte) []byte {
	return tlv(tagSequence, mustOID(oid), tlv(tagSet, value))
}

// setOf is the content of a DER SET OF: the elements sorted by their
// encoding (X.690 11.6).
func setOf(elems ...[]byte) []byte {
	slices.SortFunc(elems, bytes.Compare)
	return slices.Concat(elems...)
}
