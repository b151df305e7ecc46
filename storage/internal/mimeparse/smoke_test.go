package mimeparse

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSmoke(t *testing.T) {
	raw := strings.ReplaceAll(`From: "Joe" <joe@x.org>
Subject: =?utf-8?q?caf=C3=A9?=
Content-Type: multipart/mixed; boundary=b1

pre
--b1
Content-Type: text/plain

hello
--b1
Content-Type: message/rfc822

Subject: inner
From: a@b

inner body
--b1--
epi
`, "\n", "\r\n")
	p, e := Parse(strings.NewReader(raw), int64(len(raw)))
	j, _ := json.MarshalIndent(p, "", " ")
	t.Logf("%s", j)
	j, _ = json.Marshal(e)
	t.Logf("%s", j)
}
