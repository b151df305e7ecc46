package transition

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"

	"postroom/internal/atomicfile"
)

// The old accounts' passwords are sealed with a key of their own, in a
// file beside the state (mode 0600). It keeps them out of everything that
// copies the state or the config (a diagnostics bundle, a support mail,
// an export); whoever can read the data disk can read the key too, which
// is why the password is erased as soon as the transition ends.

const keySize = 32

func loadKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, keySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("writing the sealing key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the sealing key: %w", err)
	}
	if len(key) != keySize {
		return nil, fmt.Errorf("the sealing key %s is damaged (%d bytes)", path, len(key))
	}
	return key, nil
}

func seal(key []byte, password string) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(password), nil), nil
}

func unseal(key, sealed []byte) (string, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("the stored password is damaged: enter it again")
	}
	pw, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return "", errors.New("the stored password cannot be read (the sealing key changed): enter it again")
	}
	return string(pw), nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
