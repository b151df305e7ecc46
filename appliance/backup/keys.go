package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"postroom/internal/atomicfile"
)

// Keys. Every backup is encrypted to two age X25519 recipients:
//
//   - The office's recovery key. The box makes it once (NewRecoveryKey),
//     shows the secret half once on a printable page, and keeps only the
//     public half (config backup.recipient). Whoever holds the paper can
//     restore; a thief of the USB disk or of the server's files cannot.
//     Why a key and not a passphrase (age's scrypt recipient): the box
//     must encrypt every night without anyone typing, and a passphrase
//     would have to sit on the box to do that; the public half of a key
//     opens nothing. age also refuses a passphrase beside other
//     recipients, and the box needs one of its own:
//   - The box's verification key (DATA/backup/box.key, mode 0600, never in
//     a backup). With it the box reads each backup back from the target
//     and restores it into a scratch folder, which is what makes a backup
//     proven. It gives nothing the box does not already hold: the mail is
//     on the box in the clear.

// boxKeyFile is the box's verification identity in the data folder.
const boxKeyFile = "backup/box.key"

// NewRecoveryKey makes a recovery key: the secret (AGE-SECRET-KEY-1...,
// for the office's paper) and the public half (age1..., for the config).
func NewRecoveryKey() (secret, public string, err error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", "", fmt.Errorf("backup: make a recovery key: %w", err)
	}
	return id.String(), id.Recipient().String(), nil
}

// ParseRecoveryKey reads a recovery key as typed or printed: spaces and
// line breaks are ignored, letters may be in either case.
func ParseRecoveryKey(s string) (*age.X25519Identity, error) {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	// A key file from age-keygen carries comment lines; keep the key.
	if i := strings.Index(s, "AGE-SECRET-KEY-"); i >= 0 {
		s = s[i:]
	}
	id, err := age.ParseX25519Identity(s)
	if err != nil {
		return nil, errors.New("this is not a recovery key: it starts with AGE-SECRET-KEY-1 and has 74 letters and digits")
	}
	return id, nil
}

// boxIdentity loads the box's verification key, making it on first use.
func boxIdentity(dataDir string) (*age.X25519Identity, error) {
	p := filepath.Join(dataDir, boxKeyFile)
	b, err := os.ReadFile(p)
	if err == nil {
		id, err := age.ParseX25519Identity(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("backup: %s is damaged: %w", p, err)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("backup: %w", err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("backup: make the box's key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := atomicfile.WriteFile(p, []byte(id.String()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("backup: save the box's key: %w", err)
	}
	return id, nil
}
