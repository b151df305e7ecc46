package appliance

import (
	"fmt"
	"postroom/appliance/config"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestClientImapfilter runs imapfilter (Debian's imapfilter 2.8), a rule
// engine many offices use to sort mail on the server. Its rules become IMAP
// SEARCH commands (FROM, SUBJECT with CHARSET UTF-8, BODY, LARGER, UNSEEN),
// and its actions MOVE, STORE and EXPUNGE, so it checks our SEARCH
// against a client we did not write. It verifies the appliance's
// certificate (-t, the trust store) and host name.
func TestClientImapfilter(t *testing.T) {
	c := newClientRig(t, "imapfilter")
	ic := c.imap(t)
	for _, m := range []struct{ from, subject, body string }{
		{"Billing <billing@vendor.test>", "invoice 1001", "Please pay 100 EUR.\r\n"},
		{"Billing <billing@vendor.test>", "invoice 1002", "Please pay 200 EUR.\r\n"},
		{"The Boss <boss@office.test>", "Lunch", "The QUARTERLY numbers, over lunch.\r\n"},
		{"The Boss <boss@office.test>", "Report", "See the report.\r\n"},
		{"News <news@list.test>", "Newsletter", strings.Repeat("All the news that fits.\r\n", 600)},
		{"Anna <anna@koeln.test>", "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Bis bald.\r\n"},
	} {
		appendFrom(t, ic, "INBOX", m.from, m.subject, m.body)
	}
	// The report was read already; the lunch note was not.
	addFlag(t, ic, "INBOX", 4, imap.FlagSeen)

	rules := fmt.Sprintf(`options.timeout = 20
options.info = false
options.charset = 'UTF-8'
-- A certificate that does not verify must fail, not prompt.
options.certificates = false
acct = IMAP { server = '127.0.0.1', port = %s, username = '%s', password = '%s', ssl = 'auto' }
local inbox = acct.INBOX
local function show(name, set) print(name .. '=' .. #set) end
show('invoices', inbox:contain_subject('invoice'))
show('from_boss', inbox:contain_from('boss@office.test'))
show('boss_unseen', inbox:contain_from('boss@office.test') * inbox:is_unseen())
show('body', inbox:contain_body('quarterly'))
show('larger', inbox:is_larger(10000))
show('umlaut', inbox:contain_subject('grüße aus'))
show('either', inbox:contain_subject('lunch') + inbox:contain_subject('report'))
show('not_boss', inbox:select_all() - inbox:contain_from('boss@office.test'))
inbox:contain_subject('invoice'):move_messages(acct['Archive'])
inbox:contain_from('boss@office.test'):is_unseen():mark_flagged()
inbox:is_larger(10000):delete_messages()
show('left', acct.INBOX:select_all())
`, c.port(t, ServiceIMAPS), config.DemoUser, c.password)
	config := writeConfig(t, "config.lua", rules)
	out := c.mustRun(t, "", "imapfilter", "-c", config, "-t", c.cert)

	counts := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(\w+)=(\d+)$`).FindAllStringSubmatch(out, -1) {
		counts[m[1]] = m[2]
	}
	for name, want := range map[string]string{
		"invoices":    "2", // SUBJECT, case-insensitive substring
		"from_boss":   "2", // FROM on the address
		"boss_unseen": "1", // UNSEEN
		"body":        "1", // BODY, case-insensitive
		"larger":      "1", // LARGER 10000
		"umlaut":      "1", // SUBJECT in UTF-8 against an RFC 2047 encoded field
		"either":      "2",
		"not_boss":    "4",
		"left":        "3", // after the move and the delete
	} {
		if counts[name] != want {
			t.Errorf("imapfilter counted %s=%q; want %s\noutput:\n%s", name, counts[name], want, out)
		}
	}

	inbox := messages(t, ic, "INBOX")
	if got := subjects(inbox); !slices.Equal(got, []string{"Lunch", "Report", "Grüße aus Köln"}) {
		t.Errorf("INBOX after the rules: %q\noutput:\n%s\nserver log:\n%s", got, out, c.serverLog())
	}
	for _, m := range inbox {
		if flagged := slices.Contains(m.flags, imap.FlagFlagged); flagged != (m.subject == "Lunch") {
			t.Errorf("%q flags %v: only the unread note from the boss is flagged", m.subject, m.flags)
		}
	}
	if got := subjects(messages(t, ic, "Archive")); !slices.Equal(got, []string{"invoice 1001", "invoice 1002"}) {
		t.Errorf("Archive after the rules: %q", got)
	}
}
