package appliance

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"postroom/appliance/config"
	"strings"

	"postroom/storage"
)

// ensureDemoUser creates DemoUser, an administrator, with a random password
// when the store has no account at all, and returns the password; "" when
// accounts exist. Only the password's argon2id hash is stored; the password
// itself is shown once by printDemoBanner and never logged.
func ensureDemoUser(st *storage.Store, logger *slog.Logger) (string, error) {
	accounts, err := st.Accounts()
	if err != nil {
		return "", fmt.Errorf("read accounts: %w", err)
	}
	if len(accounts) > 0 {
		return "", nil
	}
	pw, err := randomPassword(16)
	if err != nil {
		return "", err
	}
	if _, err := st.CreateAccount(config.DemoUser, pw); err != nil {
		return "", fmt.Errorf("create the demo user %s: %w", config.DemoUser, err)
	}
	// The demo user is the box's administrator too, so that every web
	// page can be tried on a laptop.
	if err := st.SetAdmin(config.DemoUser, true); err != nil {
		return "", fmt.Errorf("make the demo user an administrator: %w", err)
	}
	logger.Info("dev mode: created the demo user", "user", config.DemoUser, "domain", config.DemoDomain)
	return pw, nil
}

// passwordAlphabet leaves out characters that are easy to misread (0 O 1 l I).
const passwordAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func randomPassword(n int) (string, error) {
	var b strings.Builder
	limit := big.NewInt(int64(len(passwordAlphabet)))
	for i := 0; i < n; i++ {
		k, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return "", fmt.Errorf("random password: %w", err)
		}
		b.WriteByte(passwordAlphabet[k.Int64()])
	}
	return b.String(), nil
}

// printDemoBanner shows the demo login, the ports and how to try them, in a
// box, once: the password is not stored anywhere in clear text. outbox,
// when not nil, is where mail for other domains stays (run_dev.go).
func printDemoBanner(w io.Writer, password string, services []*service, outbox *devOutbox) {
	addr := func(name string) string {
		for _, sv := range services {
			if sv.name == name {
				return sv.ln.Addr().String()
			}
		}
		return ""
	}
	lines := []string{
		"Postroom is running in development mode.",
		"",
		"Demo user:  " + config.DemoUser,
		"Password:   " + password,
		"            (shown only this once; write it down)",
		"",
	}
	titleWidth := 0
	for _, sv := range services {
		titleWidth = max(titleWidth, len(sv.title))
	}
	for _, sv := range services {
		a := sv.ln.Addr().String()
		if sv.name == ServiceWeb || sv.name == ServicePublic {
			a = "http://" + a + "/"
		}
		lines = append(lines, sv.title+":"+strings.Repeat(" ", titleWidth-len(sv.title)+2)+a)
	}
	if outbox != nil {
		lines = append(lines, "", "Mail to other domains is never sent in development mode: each",
			"message is kept as a .eml file in the dev outbox,", "  "+outbox.dir)
	}
	lines = append(lines, "", "Try it (-k: the certificate is self-signed):")
	pw := "'" + config.DemoUser + ":" + password + "'"
	if a := addr(ServiceSMTP); a != "" {
		lines = append(lines, "  swaks --server "+a+" --to "+config.DemoUser)
	}
	if a := addr(ServiceSubmission); a != "" {
		lines = append(lines, "  swaks --server "+a+" --tls --from "+config.DemoUser+" --to "+config.DemoUser+" \\",
			"    --auth-user "+config.DemoUser+" --auth-password "+password)
	}
	if a := addr("imaps"); a != "" {
		lines = append(lines, "  curl -k -u "+pw+" 'imaps://"+a+"/INBOX;UID=1'")
	}
	if a := addr("pop3s"); a != "" {
		lines = append(lines, "  curl -k -u "+pw+" pop3s://"+a+"/1")
	}
	if a := addr(ServiceWeb); a != "" {
		lines = append(lines, "  curl http://"+a+"/status.json")
	}
	if a := addr(ServicePublic); a != "" {
		lines = append(lines, "  curl 'http://"+a+"/mail/config-v1.1.xml?emailaddress="+config.DemoUser+"'")
	}
	io.WriteString(w, boxed(lines))
}

// boxed draws lines in a box of - and |, for a banner on the terminal.
func boxed(lines []string) string {
	width := 0
	for _, l := range lines {
		width = max(width, len(l))
	}
	border := "+" + strings.Repeat("-", width+2) + "+"
	var b strings.Builder
	b.WriteString("\n" + border + "\n")
	for _, l := range lines {
		b.WriteString("| " + l + strings.Repeat(" ", width-len(l)) + " |\n")
	}
	b.WriteString(border + "\n\n")
	return b.String()
}
