package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// testKey makes a key of the test's own: the real private key is never in
// the repository.
func testKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

var running = Release{Version: "1.0", Serial: 100, Arch: "arm64"}

// makeUpdate builds an update file of a root of rootSize pseudo-random
// bytes and two boot files.
func makeUpdate(t testing.TB, priv ed25519.PrivateKey, m Manifest, rootSize int) ([]byte, []byte) {
	t.Helper()
	root := make([]byte, rootSize)
	rand.Read(root)
	var out bytes.Buffer
	err := Write(&out, m, priv, bytes.NewReader(root), []Payload{
		{Name: "vmlinuz", R: bytes.NewReader([]byte("kernel v2"))},
		{Name: "overlays/x.dtbo", R: bytes.NewReader([]byte("overlay v2"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), root
}

func newer() Manifest { return Manifest{Version: "2.0", Serial: 200, Arch: "arm64"} }

// imageTarget is a file standing for the inactive root partition, filled
// with a pattern so that any write shows.
func imageTarget(t *testing.T, size int) (Target, *os.File, []byte) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "p3"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	pattern := bytes.Repeat([]byte("untouched "), size/10+1)[:size]
	if _, err := f.WriteAt(pattern, 0); err != nil {
		t.Fatal(err)
	}
	return Target{W: f, R: f, Size: int64(size), Sync: f.Sync}, f, pattern
}

func TestInstallWritesRootAndStagesBootFiles(t *testing.T) {
	pub, priv := testKey(t)
	file, root := makeUpdate(t, priv, newer(), 3<<20+123)
	o, err := Open(bytes.NewReader(file), int64(len(file)), pub, "arm64", running)
	if err != nil {
		t.Fatal(err)
	}
	if o.Manifest.Version != "2.0" || o.Manifest.Root.Size != int64(len(root)) || len(o.Manifest.Boot) != 2 {
		t.Fatalf("manifest %+v", o.Manifest)
	}
	tgt, f, _ := imageTarget(t, 8<<20)
	boot := DirBoot(t.TempDir())
	if err := Install(context.Background(), o, tgt, boot); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(root))
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, root) {
		t.Error("the partition does not hold the new root")
	}
	k, err := boot.ReadFile(StagedDir + "/vmlinuz")
	if err != nil || string(k) != "kernel v2" {
		t.Errorf("staged kernel %q, %v", k, err)
	}
}

// TestRefusedBeforeWriting: every bad file is refused with its own error
// and a message for people, and the target partition keeps every byte.
func TestRefusedBeforeWriting(t *testing.T) {
	pub, priv := testKey(t)
	otherPub, otherPriv := testKey(t)
	good, _ := makeUpdate(t, priv, newer(), 2<<20)
	older := newer()
	older.Serial = running.Serial
	sameOrOlder, _ := makeUpdate(t, priv, older, 1000)
	amd := newer()
	amd.Arch = "amd64"
	wrongArch, _ := makeUpdate(t, priv, amd, 1000)
	signedByOther, _ := makeUpdate(t, otherPriv, newer(), 1000)
	unsigned := bytes.Clone(good)
	sigAt := headerSize + manifestLen(good)
	copy(unsigned[sigAt:], make([]byte, ed25519.SignatureSize))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-5000] ^= 1 // a byte of the root
	tooBig, _ := makeUpdate(t, priv, newer(), 9<<20)
	cases := []struct {
		name string
		file []byte
		pub  ed25519.PublicKey
		want error
	}{
		{"empty", nil, pub, ErrTruncated},
		{"not an update", []byte("PK\x03\x04 a zip file, not an update, long enough"), pub, ErrNotUpdate},
		{"cut in the header", good[:10], pub, ErrTruncated},
		{"cut in the manifest", good[:headerSize+5], pub, ErrTruncated},
		{"cut in the root", good[:len(good)/2], pub, ErrTruncated},
		{"cut by one byte", good[:len(good)-1], pub, ErrTruncated},
		{"a byte too many", append(bytes.Clone(good), 0), pub, ErrDamaged},
		{"unsigned", unsigned, pub, ErrSignature},
		{"signed by another key", signedByOther, pub, ErrSignature},
		{"our file, box with another key", good, otherPub, ErrSignature},
		{"wrong architecture", wrongArch, pub, ErrArch},
		{"not newer", sameOrOlder, pub, ErrNotNewer},
		{"damaged root", flipped, pub, ErrDamaged},
		{"too big for the partition", tooBig, pub, ErrTooBig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tgt, f, pattern := imageTarget(t, 8<<20)
			boot := DirBoot(t.TempDir())
			o, err := Open(bytes.NewReader(c.file), int64(len(c.file)), c.pub, "arm64", running)
			if err == nil {
				err = Install(context.Background(), o, tgt, boot)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Logf("refused: %v", err)
			got := make([]byte, len(pattern))
			if _, err := f.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, pattern) {
				t.Error("the target partition was written")
			}
			if _, err := os.Stat(filepath.Join(string(boot), StagedDir)); err == nil {
				t.Error("boot files were staged")
			}
		})
	}
}

func manifestLen(file []byte) int {
	return int(file[len(magic)])<<24 | int(file[len(magic)+1])<<16 | int(file[len(magic)+2])<<8 | int(file[len(magic)+3])
}

// TestManifestRefusesBootNames: an update may not replace the box's own
// files on the boot partition, nor write outside it.
func TestManifestRefusesBootNames(t *testing.T) {
	_, priv := testKey(t)
	for _, name := range []string{"cmdline.txt", "CMDLINE.TXT", StateFile, "../x", "/vmlinuz", "a//b", "a\\b", ""} {
		var out bytes.Buffer
		err := Write(&out, newer(), priv, bytes.NewReader([]byte("root")), []Payload{{Name: name, R: bytes.NewReader(nil)}})
		if !errors.Is(err, ErrBadManifest) {
			t.Errorf("boot file %q: got %v", name, err)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	pub, priv := testKey(t)
	p, err := ParsePublicKey(FormatPublicKey(pub))
	if err != nil || !p.Equal(pub) {
		t.Fatalf("public key round trip: %v", err)
	}
	k, err := ParsePrivateKey(FormatPrivateKey(priv))
	if err != nil || !k.Equal(priv) {
		t.Fatalf("private key round trip: %v", err)
	}
	if _, err := ParsePublicKey([]byte("nope")); err == nil {
		t.Error("a bad public key was read")
	}
}

// FuzzOpen: no input makes Open panic or accept a file the key did not sign.
func FuzzOpen(f *testing.F) {
	pub, priv := testKey(f)
	good, _ := makeUpdate(f, priv, newer(), 100)
	f.Add(good)
	f.Add(good[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Open(bytes.NewReader(b), int64(len(b)), pub, "arm64", running)
		if err == nil {
			if err := o.Verify(); err == nil && !bytes.Equal(b, good) {
				t.Fatalf("accepted a file that is not the one signed")
			}
		}
	})
}

var _ io.WriterAt = (*os.File)(nil)
