package update

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// The update file, all of it covered by one ed25519 signature:
//
//	magic      16 bytes  "POSTROOM-UPDATE1"
//	length      4 bytes  big-endian length of the manifest (at most MaxManifest)
//	manifest   length    JSON (Manifest): version, architecture, sizes, SHA-256s
//	signature  64 bytes  ed25519 over magic, length and manifest
//	root       Root.Size bytes: the squashfs of the new root
//	boot files each File.Size bytes, in the manifest's order
//
// The signature covers the manifest, and the manifest holds the SHA-256 of
// every payload, so every byte is vouched for; and it sits before the
// payload, so a reader refuses a file signed by someone else before it has
// read, let alone written, a byte of the root.
const magic = "POSTROOM-UPDATE1"

// Limits of what Open accepts.
const (
	MaxManifest  = 64 << 10
	MaxBootFiles = 256
	MaxBootFile  = 64 << 20
	headerSize   = len(magic) + 4
)

// Manifest describes an update file.
type Manifest struct {
	Format  int    `json:"format"`  // 1
	Version string `json:"version"` // for people: "2026.12.06-2015"
	// Serial orders versions: an update is newer when its Serial is
	// larger (mkimage uses the build's Unix time).
	Serial int64  `json:"serial"`
	Arch   string `json:"arch"` // "arm64"
	Root   Part   `json:"root"`
	// Boot are files for the boot partition (kernel, device trees),
	// installed when the trial boot is kept.
	Boot []File `json:"boot,omitempty"`
	// StoreSchema is the mail store's schema version the new programs
	// write; informative (a rollback restores the snapshot whenever the
	// old programs refuse the store).
	StoreSchema int `json:"store_schema,omitempty"`
}

// Part is one payload: its size and SHA-256 (hex).
type Part struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// File is one boot-partition file of an update.
type File struct {
	Name string `json:"name"` // slash-separated, relative: "vmlinuz", "overlays/x.dtbo"
	Part
	// Gzip: the payload is the file compressed with gzip (Size and SHA256
	// are the compressed bytes'); the kernel is stored uncompressed on
	// the boot partition and more than halves.
	Gzip bool `json:"gzip,omitempty"`
}

// Files of every root file system (cmd/mkimage writes them), relative to
// its top: the version it holds (a Release in JSON) and the public key
// that updates must be signed with (hex, ParsePublicKey).
const (
	ReleaseFile   = "etc/postroom/release.json"
	PublicKeyFile = "etc/postroom/update.pub"
)

// Release is what a root file system says about itself (ReleaseFile).
type Release struct {
	Version string `json:"version"`
	Serial  int64  `json:"serial"`
	Arch    string `json:"arch"`
}

// Release returns the version the manifest installs.
func (m Manifest) Release() Release {
	return Release{Version: m.Version, Serial: m.Serial, Arch: m.Arch}
}

// The refusals, each with a message for the person who uploaded the file.
var (
	ErrNotUpdate    = errors.New("this is not a Postroom update file")
	ErrTruncated    = errors.New("the update file is incomplete (cut short in the download?)")
	ErrSignature    = errors.New("the update file is not signed by Postroom's key")
	ErrArch         = errors.New("the update file is for another kind of board")
	ErrNotNewer     = errors.New("the update file is not newer than the version running")
	ErrDamaged      = errors.New("the update file is damaged: its contents do not match its signed list")
	ErrTooBig       = errors.New("the new version does not fit in the spare root partition")
	ErrBadManifest  = errors.New("the update file's list of contents is invalid")
	ErrUpdateActive = errors.New("an update is already being installed or tried")
)

// Payload is one file to put into an update: its bytes come from R.
type Payload struct {
	Name string // boot files only
	R    io.Reader
	Size int64
	// Gzip compresses the file inside the update (Write does it).
	Gzip bool
}

// Write writes a signed update file to w: root is the squashfs, boot the
// boot-partition files in the order given. Sizes and hashes are taken by
// reading each payload once into a temporary spool (spool must be
// seekable: the hashes go into the header, before the bytes).
func Write(w io.Writer, m Manifest, key ed25519.PrivateKey, root io.ReadSeeker, boot []Payload) error {
	m.Format = 1
	var err error
	if m.Root, err = hashPart(root); err != nil {
		return fmt.Errorf("update: root: %w", err)
	}
	m.Boot = nil
	for i, b := range boot {
		if b.Gzip {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			if _, err := io.Copy(zw, b.R); err != nil {
				return fmt.Errorf("update: boot file %s: %w", b.Name, err)
			}
			if err := zw.Close(); err != nil {
				return err
			}
			b.R = bytes.NewReader(z.Bytes())
			boot[i].R = b.R
		}
		rs, ok := b.R.(io.ReadSeeker)
		if !ok {
			return fmt.Errorf("update: boot file %s: not seekable", b.Name)
		}
		p, err := hashPart(rs)
		if err != nil {
			return fmt.Errorf("update: boot file %s: %w", b.Name, err)
		}
		m.Boot = append(m.Boot, File{Name: b.Name, Part: p, Gzip: b.Gzip})
	}
	if err := m.validate(); err != nil {
		return err
	}
	head, err := header(m)
	if err != nil {
		return err
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	if _, err := w.Write(ed25519.Sign(key, head)); err != nil {
		return err
	}
	if _, err := io.Copy(w, root); err != nil {
		return err
	}
	for _, b := range boot {
		if _, err := io.Copy(w, b.R); err != nil {
			return err
		}
	}
	return nil
}

func hashPart(r io.ReadSeeker) (Part, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return Part{}, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return Part{}, err
	}
	return Part{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func header(m Manifest) ([]byte, error) {
	js, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(js) > MaxManifest {
		return nil, fmt.Errorf("update: manifest of %d bytes is over %d", len(js), MaxManifest)
	}
	var b bytes.Buffer
	b.WriteString(magic)
	binary.Write(&b, binary.BigEndian, uint32(len(js)))
	b.Write(js)
	return b.Bytes(), nil
}

// validate checks a manifest's own consistency: names, sizes, hashes.
func (m Manifest) validate() error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadManifest, fmt.Sprintf(f, a...))
	}
	if m.Format != 1 {
		return bad("format %d (this box reads format 1)", m.Format)
	}
	if m.Version == "" || len(m.Version) > 64 || m.Serial <= 0 {
		return bad("no version")
	}
	if m.Arch == "" {
		return bad("no architecture")
	}
	if err := m.Root.validate(); err != nil || m.Root.Size == 0 {
		return bad("root: %v", err)
	}
	if len(m.Boot) > MaxBootFiles {
		return bad("%d boot files (at most %d)", len(m.Boot), MaxBootFiles)
	}
	seen := map[string]bool{}
	for _, f := range m.Boot {
		if !validBootName(f.Name) || seen[f.Name] {
			return bad("boot file name %q", f.Name)
		}
		seen[f.Name] = true
		if err := f.validate(); err != nil || f.Size > MaxBootFile {
			return bad("boot file %s: size %d: %v", f.Name, f.Size, err)
		}
	}
	return nil
}

func (p Part) validate() error {
	if p.Size < 0 {
		return errors.New("negative size")
	}
	if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != sha256.Size {
		return errors.New("no SHA-256")
	}
	return nil
}

// validBootName accepts a clean relative path of the boot partition. It
// refuses the files the box itself owns there: cmdline.txt names the root
// the box chose, and the update state is the box's.
func validBootName(name string) bool {
	if name == "" || len(name) > 128 || path.Clean(name) != name || path.IsAbs(name) ||
		strings.HasPrefix(name, "../") || name == ".." || strings.ContainsAny(name, "\\\x00") {
		return false
	}
	switch strings.ToLower(name) {
	case "cmdline.txt", strings.ToLower(StateFile):
		return false
	}
	return true
}

// payloadSize is the number of payload bytes after the signature.
func (m Manifest) payloadSize() int64 {
	n := m.Root.Size
	for _, f := range m.Boot {
		n += f.Size
	}
	return n
}

// File is an opened and checked update file.
type Opened struct {
	Manifest Manifest
	r        io.ReaderAt
	body     int64 // offset of the root's first byte
}

// Open reads an update file of size bytes from r and checks, before
// anything is written anywhere: the header, the signature against pub, the
// manifest, the architecture, that it is newer than running, and that its
// size is exactly what the manifest says. It does not yet read the
// payload: Verify does, and Install checks it again as it writes.
func Open(r io.ReaderAt, size int64, pub ed25519.PublicKey, arch string, running Release) (*Opened, error) {
	if size < int64(headerSize) {
		if size > 0 && !bytes.HasPrefix([]byte(magic), readPrefix(r, size)) {
			return nil, ErrNotUpdate
		}
		return nil, ErrTruncated
	}
	head := make([]byte, headerSize)
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("update: read: %w", err)
	}
	if string(head[:len(magic)]) != magic {
		return nil, ErrNotUpdate
	}
	n := int64(binary.BigEndian.Uint32(head[len(magic):]))
	if n == 0 || n > MaxManifest {
		return nil, fmt.Errorf("%w: manifest length %d", ErrBadManifest, n)
	}
	if size < int64(headerSize)+n+ed25519.SignatureSize {
		return nil, ErrTruncated
	}
	signed := make([]byte, int64(headerSize)+n)
	if _, err := r.ReadAt(signed, 0); err != nil {
		return nil, fmt.Errorf("update: read: %w", err)
	}
	sig := make([]byte, ed25519.SignatureSize)
	if _, err := r.ReadAt(sig, int64(len(signed))); err != nil {
		return nil, fmt.Errorf("update: read: %w", err)
	}
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, signed, sig) {
		return nil, ErrSignature
	}
	// Only now is the manifest worth parsing: it is ours.
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(signed[headerSize:]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	if m.Arch != arch {
		return nil, fmt.Errorf("%w: it is for %s, this box is %s", ErrArch, m.Arch, arch)
	}
	if m.Serial <= running.Serial {
		return nil, fmt.Errorf("%w: it is version %s, this box runs %s", ErrNotNewer, m.Version, running.Version)
	}
	body := int64(len(signed)) + ed25519.SignatureSize
	switch want := body + m.payloadSize(); {
	case size < want:
		return nil, fmt.Errorf("%w: %d of %d bytes", ErrTruncated, size, want)
	case size > want:
		return nil, fmt.Errorf("%w: %d bytes more than its list says", ErrDamaged, size-want)
	}
	return &Opened{Manifest: m, r: r, body: body}, nil
}

func readPrefix(r io.ReaderAt, size int64) []byte {
	b := make([]byte, min(size, int64(len(magic))))
	n, _ := r.ReadAt(b, 0)
	return b[:n]
}

// Root returns a reader of the root payload.
func (o *Opened) Root() *io.SectionReader {
	return io.NewSectionReader(o.r, o.body, o.Manifest.Root.Size)
}

// BootFile returns a reader of boot file i.
func (o *Opened) BootFile(i int) *io.SectionReader {
	off := o.body + o.Manifest.Root.Size
	for _, f := range o.Manifest.Boot[:i] {
		off += f.Size
	}
	return io.NewSectionReader(o.r, off, o.Manifest.Boot[i].Size)
}

// Verify reads every payload and compares it with the signed hashes. It
// reads in copyBuf-sized pieces: memory stays bounded whatever the size.
func (o *Opened) Verify() error {
	buf := make([]byte, copyBuf)
	if err := checkHash(o.Root(), o.Manifest.Root, buf); err != nil {
		return fmt.Errorf("%w (the root file system)", err)
	}
	for i, f := range o.Manifest.Boot {
		if err := checkHash(o.BootFile(i), f.Part, buf); err != nil {
			return fmt.Errorf("%w (%s)", err, f.Name)
		}
	}
	return nil
}

// copyBuf is the size of every copy's buffer.
const copyBuf = 1 << 20

func checkHash(r io.Reader, p Part, buf []byte) error {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, buf)
	if err != nil {
		return fmt.Errorf("update: read: %w", err)
	}
	if n != p.Size || hex.EncodeToString(h.Sum(nil)) != p.SHA256 {
		return ErrDamaged
	}
	return nil
}

// ParsePublicKey reads a public key file: the key in hex on one line
// (what GenerateKey writes).
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != ed25519.PublicKeySize {
		return nil, errors.New("update: public key: want 64 hex digits")
	}
	return ed25519.PublicKey(k), nil
}

// ParsePrivateKey reads a private key file: the 32-byte seed in hex.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != ed25519.SeedSize {
		return nil, errors.New("update: private key: want 64 hex digits (an ed25519 seed)")
	}
	return ed25519.NewKeyFromSeed(k), nil
}

// FormatPublicKey and FormatPrivateKey are the files' contents.
func FormatPublicKey(k ed25519.PublicKey) []byte { return []byte(hex.EncodeToString(k) + "\n") }
func FormatPrivateKey(k ed25519.PrivateKey) []byte {
	return []byte(hex.EncodeToString(k.Seed()) + "\n")
}
