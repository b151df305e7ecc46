package admin

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzAnswer feeds arbitrary request lines to the control socket's
// handler: it never panics, and every answer is either a result or an
// *Error with a known code, never both, always valid JSON.
func FuzzAnswer(f *testing.F) {
	for _, seed := range []string{
		`{"op":"account.list"}`,
		`{"op":"account.get","args":{"name":"a@example.org"}}`,
		`{"op":"account.add","args":{"name":"a@example.org","password":"fuzzed password"}}`,
		`{"op":"address.add","args":{"address":"@example.org","account":"a@example.org","move":true}}`,
		`{"op":"queue.show","args":{"id":"18446744073709551616"}}`,
		`{"op":"message.list","args":{"account":"a@example.org","mailbox":"\u0000","last":-1}}`,
		`{"op":"settings.smarthost","args":{"host":"x","port":1e99}}`,
		`{"op":"account.add","args":[]}`,
		`{"op":null}`, `[]`, `"`, ``,
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f)
	srv := NewServer(e.a, nil)
	codes := []Code{CodeInvalid, CodeNotFound, CodeExists, CodeConflict, CodeInternal, CodeDenied}
	f.Fuzz(func(t *testing.T, line []byte) {
		resp := srv.answer("fuzz", line)
		if (resp.Error == nil) == (resp.Result == nil) {
			t.Fatalf("answer %+v: want exactly one of result and error", resp)
		}
		if resp.Error != nil && !slices.Contains(codes, resp.Error.Code) {
			t.Fatalf("unknown code %q", resp.Error.Code)
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("answer cannot be sent: %v", err)
		}
	})
}
