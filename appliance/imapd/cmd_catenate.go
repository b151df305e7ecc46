package imapd

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"strconv"
	"strings"

	"postroom/appliance/imapd/imapmsg"
	"postroom/appliance/imapd/wire"
	"postroom/storage"
)

// appendHeld stores an APPEND message whose content was not streamed
// while it was read: a CATENATE (RFC 4469) of TEXT literals and URLs of
// messages the session can read, or a UTF8 (RFC 6855 3) literal8.
func (c *conn) appendHeld(mbox string, m wire.AppendMessage) (storage.Delivered, error) {
	f, kw, err := parseFlags(m.Flags)
	if err != nil {
		return storage.Delivered{}, err
	}
	if m.Catenate == nil && !m.Data.Binary {
		return c.srv.st.Append(c.srv.ctx, c.acct, mbox, f, kw, m.Time, strings.NewReader(m.Data.Value))
	}
	if m.Catenate == nil {
		return c.srv.st.AppendExact(c.srv.ctx, c.acct, mbox, f, kw, m.Time, strings.NewReader(m.Data.Value))
	}
	var readers []io.Reader
	var total int64
	for _, p := range m.Catenate {
		if p.URL == "" {
			readers = append(readers, strings.NewReader(p.Text.Value))
			total += int64(len(p.Text.Value))
			continue
		}
		r, n, release, err := c.catenateURL(p.URL)
		if err != nil {
			return storage.Delivered{}, err
		}
		defer release()
		readers = append(readers, r)
		total += n
	}
	if total > c.srv.opts.AppendLimit {
		return storage.Delivered{}, no("TOOBIG", "Message too large")
	}
	if total == 0 {
		// RFC 4469 5: a message cannot be empty.
		return storage.Delivered{}, no("", "CATENATE makes an empty message")
	}
	return c.srv.st.Append(c.srv.ctx, c.acct, mbox, f, kw, m.Time, io.MultiReader(readers...))
}

// catenateURL opens what an IMAP URL of a CATENATE part names (RFC 4469
// 5): "/mailbox[;UIDVALIDITY=n]/;UID=m[/;SECTION=s]" in the session's
// own account. Anything else (another server, URLAUTH, PARTIAL, a
// message or section that is not there) is NO [BADURL].
func (c *conn) catenateURL(u string) (io.Reader, int64, func(), error) {
	badURL := func() (io.Reader, int64, func(), error) {
		code := "BADURL " + strings.Map(func(r rune) rune {
			if r < ' ' || r == ']' || r > '~' {
				return -1
			}
			return r
		}, u)
		return nil, 0, nil, no(code, "CATENATE URL names no message here")
	}
	if !strings.HasPrefix(u, "/") {
		return badURL()
	}
	upper := strings.ToUpper(u)
	i := strings.Index(upper, "/;UID=")
	if i < 0 {
		return badURL()
	}
	mpath, rest := u[1:i], u[i+len("/;UID="):]
	var validity uint64
	if j := strings.Index(strings.ToUpper(mpath), ";UIDVALIDITY="); j >= 0 {
		v, err := strconv.ParseUint(mpath[j+len(";UIDVALIDITY="):], 10, 32)
		if err != nil || v == 0 {
			return badURL()
		}
		validity, mpath = v, mpath[:j]
	}
	name, err := url.PathUnescape(mpath)
	if err != nil || name == "" {
		return badURL()
	}
	uidText, spec, hasSection := strings.Cut(rest, "/")
	uid, err := strconv.ParseUint(uidText, 10, 32)
	if err != nil || uid == 0 {
		return badURL()
	}
	bs, err := wire.ParseSection("")
	if hasSection {
		if !strings.HasPrefix(strings.ToUpper(spec), ";SECTION=") {
			return badURL()
		}
		s, uerr := url.PathUnescape(spec[len(";SECTION="):])
		if uerr != nil || strings.ContainsAny(s, ";/") {
			return badURL()
		}
		bs, err = wire.ParseSection(s)
	}
	if err != nil {
		return badURL()
	}
	mb, err := c.srv.st.Mailbox(c.acct, name)
	if err != nil || (validity != 0 && uint32(validity) != mb.UIDValidity) {
		return badURL()
	}
	msg, err := c.srv.st.Message(c.acct, mb.ID, uint32(uid))
	if err != nil {
		return badURL()
	}
	unpin := c.srv.st.Pin(msg.Object)
	obj, err := c.srv.st.Object(msg.Object)
	if err != nil {
		unpin()
		if errors.Is(err, storage.ErrNotFound) {
			return badURL()
		}
		return nil, 0, nil, c.fail("catenate", err)
	}
	if !imapmsg.HasPart(obj.Structure, bs.Part) {
		unpin()
		return badURL()
	}
	body := c.srv.st.OpenObjectBody(obj)
	release := func() { body.Close(); unpin() }
	r, n, err := imapmsg.Section(body, obj.Structure, bs)
	if err != nil {
		release()
		return badURL()
	}
	if n == 0 {
		release()
		return bytes.NewReader(nil), 0, func() {}, nil
	}
	return r, n, release, nil
}
