package testutil

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// Client is a raw connection a test drives line by line.
type Client struct {
	net.Conn
	R *bufio.Reader
	// First is the first line the server sent (a greeting or a refusal),
	// without CRLF; "" when it hung up first.
	First string
}

// DialFrom connects to addr from the loopback address ip (Linux answers on
// all of 127.0.0.0/8, so one test can be clients at many addresses) and
// reads the first line. A 60-second deadline bounds the whole
// conversation; the connection is closed at cleanup.
func DialFrom(tb testing.TB, ip, addr string) *Client {
	tb.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial %s from %s: %v", addr, ip, err)
	}
	nc.SetDeadline(time.Now().Add(time.Minute))
	tb.Cleanup(func() { nc.Close() })
	c := &Client{Conn: nc, R: bufio.NewReader(nc)}
	c.First = c.Line()
	return c
}

// Line reads one line without CRLF; "" at the end of the connection.
func (c *Client) Line() string {
	l, _ := c.R.ReadString('\n')
	return strings.TrimRight(l, "\r\n")
}

// Closed reports whether the server has hung up (reading nothing more).
func (c *Client) Closed() bool {
	_, err := c.R.ReadByte()
	return err != nil
}

// IdleFlood opens n connections to addr, perAddr from each of 127.0.0.1,
// 127.0.0.2, ..., and leaves them silent: the issue-10 attack of idle
// connections holding every slot, in small. It returns those the server
// greeted (First starts with greeting) and how many it refused (First
// starts with refusal); any other first line fails the test.
func IdleFlood(tb testing.TB, addr string, n, perAddr int, greeting, refusal string) (admitted []*Client, refused int) {
	tb.Helper()
	for i := range n {
		c := DialFrom(tb, fmt.Sprintf("127.0.0.%d", 1+i/perAddr), addr)
		switch {
		case strings.HasPrefix(c.First, greeting):
			admitted = append(admitted, c)
		case strings.HasPrefix(c.First, refusal):
			refused++
		default:
			tb.Fatalf("connection %d of the flood: %q", i, c.First)
		}
	}
	return admitted, refused
}
