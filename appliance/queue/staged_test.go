package queue

import (
	"bytes"
	"strings"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"postroom/appliance/dkim"
	"postroom/storage"
)

// TestEnqueueStagedSharesTheBody: a message for a local and a remote
// recipient is one object with two references (the INBOX copy and the
// queue); the remote server gets the queue's fields (DKIM signatures over
// the trace field and the body) and then the body, byte for byte, and the
// local copy keeps its own trace fields. The queue parses no MIME.
func TestEnqueueStagedSharesTheBody(t *testing.T) {
	p := startPeer(t, peerOpts{})
	e, rt := routedEnv(t, nil, mx("remote.test", 10, "mx.remote.test"), a("mx.remote.test", "10.0.0.1"))
	rt.set("10.0.0.1:25", p.addr)
	dk, err := e.keys.Domain("local.test")
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := dk.Records()
	for _, r := range recs {
		e.dns.Add(r.Name + " 300 IN TXT " + dkim.ZoneText(r.Value))
	}

	local := "Return-Path: <ann@local.test>\r\nReceived: from pc by mail.local.test; Thu, 26 Nov 2026 12:00:00 +0000\r\n"
	remote := "Received: from pc by mail.local.test; Thu, 26 Nov 2026 12:00:00 +0000\r\n"
	sg, err := e.st.Stage(bg, strings.NewReader(testMsg), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sg.Close()
	if _, err := sg.Deliver(storage.Delivery{Recipients: []storage.Recipient{{Account: e.sender.ID}}, Origin: storage.OriginSubmission}, []byte(local)); err != nil {
		t.Fatal(err)
	}
	id, err := e.q.EnqueueStaged(bg, "ann@local.test", []string{"bob@remote.test"}, sg, []byte(remote))
	if err != nil {
		t.Fatal(err)
	}
	sg.Close()

	qs := e.queued(t)
	if len(qs) != 1 || FormatID(qs[0].ID) != id {
		t.Fatalf("queued %+v", qs)
	}
	obj, err := e.st.Object(qs[0].Object)
	if err != nil {
		t.Fatal(err)
	}
	if obj.RefCount != 2 {
		t.Fatalf("the shared body has %d references; want 2 (INBOX and queue)", obj.RefCount)
	}
	if in := e.inbox(t); len(in) != 1 || string(in[0]) != local+testMsg {
		t.Fatalf("local copy %q", in)
	}

	e.run(t)
	got := p.received()
	if len(got) != 1 {
		t.Fatalf("remote got %d messages", len(got))
	}
	data := got[0].data
	sig := bytes.Index(data, []byte(remote))
	if sig <= 0 || !bytes.HasPrefix(data, []byte("DKIM-Signature:")) || string(data[sig:]) != remote+testMsg {
		t.Fatalf("sent %q; want DKIM signatures, then %q", data, remote+testMsg)
	}
	res := e.dns.Resolver()
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(data), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return res.LookupTXT(bg, name) },
	})
	if err != nil || len(vs) != 2 || vs[0].Err != nil || vs[1].Err != nil {
		t.Fatalf("DKIM: %v %+v", err, vs)
	}
	if obj, err := e.st.Object(qs[0].Object); err != nil || obj.RefCount != 1 {
		t.Fatalf("after delivery: %+v, %v; want the INBOX's reference only", obj, err)
	}
}
