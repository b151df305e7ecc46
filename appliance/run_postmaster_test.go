package appliance

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"postroom/storage"
	"postroom/storage/storagetest"
)

// smtplibPostmaster is a real client (Python's smtplib) writing to the
// role addresses on port 25: one message to three spellings of them, then
// one to a postmaster that is not ours. It prints what the server answered.
const smtplibPostmaster = `
import smtplib, sys
host, port = sys.argv[1].rsplit(":", 1)
msg = b"From: reports@remote.test\r\nSubject: DMARC report\r\n\r\naggregate report\r\n"
s = smtplib.SMTP(host, int(port), local_hostname="client.test", timeout=30)
refused = s.sendmail("reports@remote.test", ["Postmaster@EXAMPLE.test", "postmaster", "abuse@example.test"], msg)
print("refused:", sorted(refused))
try:
    s.sendmail("reports@remote.test", ["postmaster@elsewhere.test"], msg)
    print("elsewhere: accepted")
except smtplib.SMTPRecipientsRefused as e:
    print("elsewhere:", e.recipients["postmaster@elsewhere.test"][0])
s.quit()
`

// TestRunPostmasterReachesTheAdministrator: a box whose first account is not
// its administrator receives postmaster and abuse, in every spelling
// RFC 5321 allows, for the administrator, through a real SMTP client.
func TestRunPostmasterReachesTheAdministrator(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	cfg := testConfig(t)
	storeDir := filepath.Join(cfg.DataDir, "store")
	st, err := storage.Open(storage.Options{Dir: storeDir})
	if err != nil {
		t.Fatal(err)
	}
	storagetest.Account(t, st, "alice@example.test")
	storagetest.Account(t, st, "boss@example.test")
	if err := st.SetAdmin("boss@example.test", true); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := start(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", "-c", smtplibPostmaster, r.addr(t, ServiceSMTP)).CombinedOutput()
	if err != nil {
		t.Fatalf("smtplib: %v\n%s\nserver log:\n%s", err, out, r.log.String())
	}
	if got, want := strings.TrimSpace(string(out)), "refused: []\nelsewhere: 554"; got != want {
		t.Errorf("smtplib says:\n%s\nwant:\n%s", got, want)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}

	st = storagetest.OpenOptions(t, storage.Options{Dir: storeDir}) // Check runs at cleanup
	for name, want := range map[string]uint32{"boss@example.test": 1, "alice@example.test": 0} {
		a, err := st.Account(name)
		if err != nil {
			t.Fatal(err)
		}
		inbox, err := st.Mailbox(a.ID, storage.InboxName)
		if err != nil || inbox.Messages != want {
			t.Errorf("%s INBOX = %d messages, %v; want %d", name, inbox.Messages, err, want)
		}
	}
}
