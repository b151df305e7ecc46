package admin

import (
	"strings"
	"testing"

	"postroom/appliance/config"
)

// TestSetLimits: the limits are saved in config.json and the services
// restart to use them; bad values are refused next to their field and
// nothing is saved.
func TestSetLimits(t *testing.T) {
	e := newEnv(t)
	e.run(t, []step{
		{op: SetLimits{}, code: CodeInvalid, field: "max_message_bytes", want: "give at least one limit"},
		{op: SetLimits{MaxMessageBytes: 100}, code: CodeInvalid, field: "max_message_bytes", want: "between 1 KB and 1 GB"},
		{op: SetLimits{MaxMessageBytes: 2 << 30}, code: CodeInvalid, field: "max_message_bytes"},
		{op: SetLimits{MaxMessageBytes: -1}, code: CodeInvalid, field: "max_message_bytes"},
		{op: SetLimits{MaxRecipients: 10001}, code: CodeInvalid, field: "max_recipients"},
		{op: SetLimits{MaxConnections: -5}, code: CodeInvalid, field: "max_connections"},
		{op: SetLimits{MaxMessageBytes: 20 << 20, MaxConnections: 40}, want: "set the limits: messages up to 20971520 bytes, 100 recipients each, 40 connections per service",
			check: func(t *testing.T, e *env, res any) {
				if l := res.(Settings).Limits; l.MaxMessageBytes != 20<<20 || l.MaxRecipients != 100 || l.MaxConnections != 40 {
					t.Errorf("limits %+v", l)
				}
			}},
		{op: GetSettings{}, check: func(t *testing.T, e *env, res any) {
			if l := res.(Settings).Limits; l.MaxConnections != 40 {
				t.Errorf("settings %+v", l)
			}
		}},
	})
	c, err := config.Load(e.cfgPath)
	if err != nil || c.MaxMessageSize != 20<<20 || c.MaxConnections != 40 {
		t.Fatalf("config %+v %v", c.MaxMessageSize, err)
	}
	if len(e.applied) != 1 || !strings.HasPrefix(e.applied[0], "restart ") {
		t.Errorf("applied %q, want one restart", e.applied)
	}
}
