package admin

import (
	"context"
	"fmt"

	"postroom/appliance/config"
)

// Limits of the mail services in config.json: the largest message, the
// most recipients of one message and the most connections per service.
// The services read them when they start, so a change restarts them.

// LimitsView is the limits in force (Settings.Limits).
type LimitsView struct {
	MaxMessageBytes int64 `json:"max_message_bytes"`
	MaxRecipients   int   `json:"max_recipients"`
	MaxConnections  int   `json:"max_connections"`
}

func limitsOf(c config.Config) LimitsView {
	return LimitsView{MaxMessageBytes: c.MaxMessageSize, MaxRecipients: c.MaxRecipients, MaxConnections: c.MaxConnections}
}

// Bounds of the limits, as config.Validate has them.
const (
	minMessageBytes = 1 << 10
	maxMessageBytes = 1 << 30
	maxLimitCount   = 10000
)

// SetLimits changes the limits; a zero field keeps the one in force.
type SetLimits struct {
	MaxMessageBytes int64 `json:"max_message_bytes,omitempty"`
	MaxRecipients   int   `json:"max_recipients,omitempty"`
	MaxConnections  int   `json:"max_connections,omitempty"`
}

func (SetLimits) OpName() string { return "settings.limits" }

func (a *Admin) SetLimits(ctx context.Context, by Actor, req SetLimits) (Settings, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetLimits) (Settings, string, error) {
		switch {
		case req.MaxMessageBytes < 0 || req.MaxMessageBytes != 0 && (req.MaxMessageBytes < minMessageBytes || req.MaxMessageBytes > maxMessageBytes):
			return Settings{}, "", errorf(CodeInvalid, "max_message_bytes", "the largest message is between 1 KB and 1 GB")
		case req.MaxRecipients < 0 || req.MaxRecipients > maxLimitCount:
			return Settings{}, "", errorf(CodeInvalid, "max_recipients", "the recipients of one message are 1 to %d (100 or more is usual)", maxLimitCount)
		case req.MaxConnections < 0 || req.MaxConnections > maxLimitCount:
			return Settings{}, "", errorf(CodeInvalid, "max_connections", "the connections per service are 1 to %d", maxLimitCount)
		case req == SetLimits{}:
			return Settings{}, "", errorf(CodeInvalid, "max_message_bytes", "give at least one limit to change")
		}
		var what string
		s, err := a.changeConfig(by, "max_message_bytes", "changed the limits", true, func(c *config.Config) error {
			if req.MaxMessageBytes > 0 {
				c.MaxMessageSize = req.MaxMessageBytes
			}
			if req.MaxRecipients > 0 {
				c.MaxRecipients = req.MaxRecipients
			}
			if req.MaxConnections > 0 {
				c.MaxConnections = req.MaxConnections
			}
			what = fmt.Sprintf("set the limits: messages up to %d bytes, %d recipients each, %d connections per service",
				c.MaxMessageSize, c.MaxRecipients, c.MaxConnections)
			return nil
		})
		return s, what, err
	})
}
