package smtpd

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// loginServer is the server side of the LOGIN SASL mechanism
// (draft-murchison-sasl-login): the server asks "Username:" and
// "Password:" in turn. It is obsolete but Outlook and many phones still
// prefer it; go-sasl has a client for it only. A client may send the user
// name as the initial response ("AUTH LOGIN dXNlcg==").
type loginServer struct {
	state int // 0 start, 1 asked for the user name, 2 asked for the password, 3 done
	user  string
	auth  func(user, password string) error
}

var _ sasl.Server = (*loginServer)(nil)

var errLoginSequence = errors.New("smtpd: unexpected LOGIN response")

func (l *loginServer) Next(resp []byte) (challenge []byte, done bool, err error) {
	switch {
	case l.state == 0 && resp == nil:
		l.state = 1
		return []byte("Username:"), false, nil
	case l.state <= 1:
		l.user = string(resp)
		l.state = 2
		return []byte("Password:"), false, nil
	case l.state == 2:
		l.state = 3
		return nil, true, l.auth(l.user, string(resp))
	}
	return nil, false, errLoginSequence
}
