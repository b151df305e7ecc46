package main

import (
	"net"
	"testing"

	"postroom/appliance/smtpd"
	"postroom/storage"
	"postroom/storage/storagetest"
)

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:25": true, "[::1]:25": true, "localhost:2525": true, "127.8.9.10:25": true,
		"10.0.0.1:25": false, "192.168.1.1:25": false, "example.com:25": false, "nohostport": false,
	} {
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v", addr, err)
		}
	}
}

// The tool sends exactly -n messages, and each lands in the store, also
// when the server closes each connection after a few messages (421), as the
// appliance does after 100.
func TestLoadAgainstServer(t *testing.T) {
	st := storagetest.Open(t)
	a := storagetest.Account(t, st, "demo@example.test")
	srv, err := smtpd.New(smtpd.Options{Hostname: "mx.example.test", Store: st, MaxMessagesPerConnection: 3})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	if err := run([]string{"-smtp", l.Addr().String(), "-n", "37", "-c", "4", "-size", "3000"}); err != nil {
		t.Fatal(err)
	}
	in, err := st.Mailbox(a.ID, storage.InboxName)
	if err != nil || in.Messages != 37 {
		t.Fatalf("inbox holds %d messages (%v), want 37", in.Messages, err)
	}
	if err := run([]string{"-smtp", "10.1.2.3:25"}); err == nil {
		t.Fatal("a non-loopback target was accepted")
	}
}
