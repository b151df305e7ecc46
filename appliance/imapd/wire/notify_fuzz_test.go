package wire

import "testing"

// FuzzParseNotify: NOTIFY (RFC 5465 8) answers or rejects with BAD, never
// a panic; the seeds are the RFC's shapes and the errors it names.
func FuzzParseNotify(f *testing.F) {
	fuzzParser(f, "NOTIFY ", []string{
		"SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))",
		"SET (selected-delayed (MessageNew MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))",
		"SET (mailboxes (INBOX {6}\r\nDrafts) (MessageNew MessageExpunge)) (inboxes NONE) (subscribed (MailboxName))",
		"NONE", "SET", "SET STATUS", "SET (personal (MessageNew))", "SET (selected (MessageNew (RFC822 BINARY.PEEK[1]<0.5>) MessageExpunge))",
		"SET (subtree () (MessageNew MessageExpunge))", "SET (personal ((MessageNew)))", "SET (everything NONE)",
	}, func(a []Node, _ bool) error { _, err := ParseNotify(a); return err })
}
