package imapd

import (
	"context"
	"errors"
	"strconv"

	"postroom/storage"
)

var errShuttingDown = no("UNAVAILABLE", "Server shutting down, try again later")

// logCommandFailed is the log message of an error storage should not
// have given (SERVERBUG): the tests fail on it (helpers_test.go).
const logCommandFailed = "imap command failed"

// fail is the one place storage errors become IMAP responses: a response
// code the client can act on (RFC 5530), generic text on the wire, the
// detail in the log.
func (c *conn) fail(op string, err error) *respError {
	var re *respError
	if errors.As(err, &re) {
		return re
	}
	switch {
	case errors.Is(err, storage.ErrNoMailbox):
		return no("NONEXISTENT", "No such mailbox")
	case errors.Is(err, storage.ErrMailboxExists):
		return no("ALREADYEXISTS", "Mailbox already exists")
	case errors.Is(err, storage.ErrInvalidName):
		return no("CANNOT", "Invalid mailbox name")
	case errors.Is(err, storage.ErrMailboxSpecial):
		return no("CANNOT", "Not allowed on this mailbox")
	case errors.Is(err, storage.ErrOverQuota):
		return no("OVERQUOTA", "Mailbox is full (over quota)")
	case errors.Is(err, storage.ErrTooLarge):
		return no("TOOBIG", "Message too large")
	case errors.Is(err, storage.ErrDiskFull):
		c.log.Warn("imap: disk full", "op", op, "err", err)
		return no("LIMIT", "The server's disk is full")
	case errors.Is(err, storage.ErrClosed), errors.Is(err, context.Canceled):
		return errShuttingDown
	}
	c.log.Error(logCommandFailed, "op", op, "err", err)
	return no("SERVERBUG", "Internal error, try again later")
}

// tryCreate asks the client to create a missing destination (RFC 9051
// 6.4.7: NO [TRYCREATE]).
func (c *conn) tryCreate(op string, err error) *respError {
	if errors.Is(err, storage.ErrNoMailbox) {
		return no("TRYCREATE", "No such mailbox")
	}
	return c.fail(op, err)
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
