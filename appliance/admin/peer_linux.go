package admin

import (
	"net"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

// peer asks the kernel which user connected (SO_PEERCRED): the uid is the
// caller's at connect time, which the caller cannot forge. name is the
// user's name, or "" when the system does not know it.
func peer(c *net.UnixConn) (uid int, name string, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, "", err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return -1, "", err
	}
	if serr != nil {
		return -1, "", serr
	}
	uid = int(cred.Uid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		name = u.Username
	}
	return uid, name, nil
}
