package storage

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestOldHashesVerify: a hash made with other parameters (the 19 MiB x 2
// used before) still verifies, since the parameters are read from the hash;
// new hashes carry the parameters in use; damaged hashes never verify.
func TestOldHashesVerify(t *testing.T) {
	salt := make([]byte, 16)
	rand.Read(salt)
	enc := base64.RawStdEncoding
	sum := argon2.IDKey([]byte("old password"), salt, 2, 19*1024, 1, 32)
	old := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, 19*1024, 2, 1, enc.EncodeToString(salt), enc.EncodeToString(sum))
	if !verifyPassword(old, "old password") || verifyPassword(old, "old passwore") {
		t.Fatal("a 19 MiB x 2 hash does not verify as it should")
	}
	h, err := hashPassword("new password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h, fmt.Sprintf("$m=%d,t=%d,p=%d$", argonMemory, argonTime, argonThreads)) || !verifyPassword(h, "new password") {
		t.Fatalf("new hash %q", h)
	}
	for _, bad := range []string{"", "$argon2id$", strings.Replace(old, "m=19456", "m=0", 1), strings.Replace(old, "$argon2id$", "$argon2i$", 1),
		old[:len(old)-5], strings.Replace(old, "t=2", "t=x", 1)} {
		if verifyPassword(bad, "old password") {
			t.Errorf("damaged hash %q verified", bad)
		}
	}
}
