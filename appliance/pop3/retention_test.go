package pop3

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRetention: with 3 days set, messages first downloaded over POP3 go
// 3 days later, never-downloaded ones stay, an account with a POP3 session
// is skipped, and CAPA EXPIRE shows the policy before and after login.
func TestRetention(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.st.SetPOPRetention(alice, 3); err != nil {
		t.Fatal(err)
	}
	u1 := e.deliver(e.alice, msgText("one", 1))
	u2 := e.deliver(e.alice, msgText("two", 1))
	u3 := e.deliver(e.alice, msgText("three", 1))
	e.deliver(e.bob, msgText("bob's", 1))
	t0 := e.clock.Now()

	c := e.dial()
	c.run([]step{{send: "CAPA", expect: "+OK", multi: true, lines: []string{
		"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "USER", "SASL PLAIN", "STLS",
		"EXPIRE 3 USER", "IMPLEMENTATION Postroom"}}})
	c.login(alice)
	c.run([]step{
		{send: "CAPA", expect: "+OK", multi: true, lines: []string{
			"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "EXPIRE 3", "IMPLEMENTATION Postroom"}},
		{send: "RETR 1", expect: "+OK", multi: true},
		{send: "TOP 2 100", expect: "+OK", multi: true}, // the whole message: a download
	})
	// While alice's session runs, the job leaves her alone.
	e.clock.Set(t0.Add(10 * 24 * time.Hour))
	res, err := e.srv.Retain(context.Background())
	if err != nil || len(res) != 1 || !res[0].Skipped {
		t.Fatalf("retention during a session: %+v %v", res, err)
	}
	e.clock.Set(t0)
	c.run([]step{{send: "QUIT", expect: "+OK"}})
	e.waitEnded(1)

	// Bob: a POP3 session without retention shows NEVER.
	cb := e.dial()
	cb.login(bob)
	cb.run([]step{{send: "CAPA", expect: "+OK", multi: true, lines: []string{
		"TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "EXPIRE NEVER", "IMPLEMENTATION Postroom"}},
		{send: "RETR 1", expect: "+OK", multi: true}, {send: "QUIT", expect: "+OK"}})
	e.waitEnded(1)

	for _, tc := range []struct {
		after time.Duration
		left  []uint32
	}{
		{0, []uint32{u1, u2, u3}},
		{3*24*time.Hour - time.Second, []uint32{u1, u2, u3}},
		{3 * 24 * time.Hour, []uint32{u3}},
		{30 * 24 * time.Hour, []uint32{u3}},
	} {
		e.clock.Set(t0.Add(tc.after))
		res, err := e.srv.Retain(context.Background())
		if err != nil || len(res) != 1 || res[0].Account != alice || res[0].Skipped {
			t.Fatalf("after %v: %+v %v", tc.after, res, err)
		}
		_, msgs := e.inbox(e.alice)
		var left []uint32
		for _, m := range msgs {
			left = append(left, m.UID)
		}
		if fmt.Sprint(left) != fmt.Sprint(tc.left) {
			t.Fatalf("after %v: left %v, want %v", tc.after, left, tc.left)
		}
	}
	if _, msgs := e.inbox(e.bob); len(msgs) != 1 {
		t.Fatalf("bob keeps forever, has %d", len(msgs))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "pop3 retention") || !strings.Contains(logs, "deleted=2") {
		t.Fatalf("retention runs not logged:\n%s", logs)
	}
}

// TestRunRetention: the job runs once at start and stops with its context.
func TestRunRetention(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.st.SetPOPRetention(alice, 1); err != nil {
		t.Fatal(err)
	}
	e.deliver(e.alice, msgText("one", 1))
	c := e.dial()
	c.login(alice)
	c.run([]step{{send: "RETR 1", expect: "+OK", multi: true}, {send: "QUIT", expect: "+OK"}})
	e.waitEnded(1)
	e.clock.Set(e.clock.Now().Add(48 * time.Hour))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	w := e.st.Watch(e.alice.ID)
	defer w.Close()
	go func() { done <- e.srv.RunRetention(ctx) }()
	select {
	case <-w.C():
	case <-time.After(20 * time.Second):
		t.Fatal("the first run deleted nothing")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunRetention: %v", err)
	}
	if _, msgs := e.inbox(e.alice); len(msgs) != 0 {
		t.Fatalf("%d left", len(msgs))
	}
}
