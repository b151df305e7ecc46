package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// BackupConfig is the scheduled backup: Config.Backup (appliance/backup).
type BackupConfig struct {
	Target string     `json:"target" help:"Where backups go: \"usb\" (a USB disk plugged into the box, chosen on the Backups page), \"folder\" (any folder the box can write), \"sftp\" (a server or network disk that speaks SFTP), or \"\" for no backups."`
	USB    USBConfig  `json:"usb" help:"For target \"usb\": the USB disk, found by its file system's UUID (its /dev name changes); the box mounts it for each backup and unmounts it after, so it may be pulled out in between."`
	Folder string     `json:"folder" help:"For target \"folder\": the folder, as an absolute path, e.g. \"/media/usb\". It must exist: the box never creates or formats a disk by itself."`
	SFTP   SFTPConfig `json:"sftp" help:"For target \"sftp\": the server and the folder on it."`
	// Recipient is only the public half of the recovery key: the box can
	// lock backups with it but never open them.
	Recipient string `json:"recipient" help:"The public half of the office's recovery key (age1...), made on the Backups page. Backups are encrypted to it; only the recovery key, kept by the office, opens them."`
	Hour      int    `json:"hour" help:"Hour of the day (0-23, local time) at which the daily backup runs; pick a quiet one."`
	FullEvery int    `json:"full_every" help:"Every how many backups a full one is made; the others hold only what changed since the previous one. 1: always full."`
	Daily     int    `json:"keep_daily" help:"How many daily backups are kept."`
	Weekly    int    `json:"keep_weekly" help:"How many weekly backups are kept (the last of each week)."`
	Monthly   int    `json:"keep_monthly" help:"How many monthly backups are kept (the last of each month)."`
}

// USBConfig is a USB disk for backups.
type USBConfig struct {
	UUID  string `json:"uuid" help:"The UUID of the disk's file system, as blkid shows it (\"1234-ABCD\" for FAT and exFAT)."`
	Label string `json:"label" help:"The disk's label (its name on an office computer), for the message when it is not plugged in."`
	Name  string `json:"name" help:"The disk's maker and model, for the same message."`
}

// SFTPConfig is an SFTP server for backups.
type SFTPConfig struct {
	Address  string `json:"address" help:"The server as \"host:port\", e.g. \"nas.office.lan:22\"."`
	User     string `json:"user" help:"Login name on the server."`
	Password string `json:"password" help:"Password on the server; empty: the box logs in with its own key (shown on the Backups page, for the server's authorized_keys). Kept in this file, which only the appliance can read."`
	Path     string `json:"path" help:"Folder on the server for the backups; it must exist."`
	HostKey  string `json:"host_key" help:"The server's public key (\"ssh-ed25519 AAAA...\"), so that the box talks to no other server. The Backups page shows the key the server offers and can fill this in."`
}

func defaultBackup() BackupConfig {
	return BackupConfig{Hour: 2, FullEvery: 7, Daily: 7, Weekly: 4, Monthly: 6}
}

// validate reports every problem, naming the field as spelt in the file.
func (b BackupConfig) validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("backup.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	switch b.Target {
	case "":
	case "folder":
		if !filepath.IsAbs(b.Folder) {
			bad("folder", "give the folder as an absolute path such as \"/media/usb\", not %q", b.Folder)
		}
	case "usb":
		if b.USB.UUID == "" || len(b.USB.UUID) > 64 || strings.ContainsAny(b.USB.UUID, "/ \t\n") {
			bad("usb.uuid", "choose the USB disk on the Backups page (its file system's UUID, not %q)", b.USB.UUID)
		}
	case "sftp":
		if _, port, err := net.SplitHostPort(b.SFTP.Address); err != nil || port == "" {
			bad("sftp.address", "%q is not \"host:port\" (e.g. \"nas.office.lan:22\")", b.SFTP.Address)
		}
		if b.SFTP.User == "" {
			bad("sftp.user", "give the login name on the server")
		}
		if b.SFTP.Path == "" {
			bad("sftp.path", "give the folder on the server")
		}
	default:
		bad("target", "%q is not \"usb\", \"folder\", \"sftp\" or \"\"", b.Target)
	}
	if b.Target != "" && b.Recipient == "" {
		bad("recipient", "make a recovery key on the Backups page first: backups are never written unencrypted")
	}
	if b.Recipient != "" {
		if _, err := age.ParseX25519Recipient(strings.TrimSpace(b.Recipient)); err != nil {
			bad("recipient", "%q is not the public half of a recovery key (age1...)", b.Recipient)
		}
	}
	if b.Hour < 0 || b.Hour > 23 {
		bad("hour", "%d is not an hour from 0 to 23", b.Hour)
	}
	if b.FullEvery < 1 || b.FullEvery > 60 {
		bad("full_every", "%d is outside 1 to 60", b.FullEvery)
	}
	for _, k := range []struct {
		f string
		n int
	}{{"keep_daily", b.Daily}, {"keep_weekly", b.Weekly}, {"keep_monthly", b.Monthly}} {
		if k.n < 0 || k.n > 1000 {
			bad(k.f, "%d is outside 0 to 1000", k.n)
		}
	}
	if b.Daily+b.Weekly+b.Monthly == 0 {
		bad("keep_daily", "keep at least one backup")
	}
	return errs
}
