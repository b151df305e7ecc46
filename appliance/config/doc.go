// Package config is the appliance's configuration: one JSON file
// (config.json in the data folder) with a comment above every field.
//
// It is a leaf: it imports no server, so the web pages, postroomctl and the
// board's init can read and write the config without linking the mail
// services. appliance.Run takes a Config; nothing else starts services.
//
// The map:
//
//	config.go   Config, Default, DevDefault, Load, Validate, Save, CertFiles
//	file.go     writing the config as JSON with // comments from `help` tags
//	panel.go    the front panel's fields (PanelConfig, HWConfig for hw.Open)
//	queue.go    outgoing mail: retries, smarthost, DKIM (QueueConfig)
//	smtp.go     incoming and submitted mail checks and limits (SMTPConfig)
package config
