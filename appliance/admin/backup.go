package admin

// Backups (appliance/backup): set them up, run one now, see what they did,
// list what the target holds, and restore the whole box. The secret half
// of a new recovery key leaves the box once, in SetBackup's result, and
// is never logged or stored.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"postroom/appliance/backup"
	"postroom/appliance/config"
)

// BackupView is the backups as the page and postroomctl show them. The
// SFTP password is never shown, only whether there is one.
type BackupView struct {
	Target          string          `json:"target"` // "", "usb", "folder" or "sftp"
	USBUUID         string          `json:"usb_uuid,omitempty"`
	USBLabel        string          `json:"usb_label,omitempty"`
	USBName         string          `json:"usb_name,omitempty"`
	Folder          string          `json:"folder,omitempty"`
	SFTPAddress     string          `json:"sftp_address,omitempty"`
	SFTPUser        string          `json:"sftp_user,omitempty"`
	SFTPPath        string          `json:"sftp_path,omitempty"`
	SFTPHostKey     string          `json:"sftp_host_key,omitempty"`
	SFTPHasPass     bool            `json:"sftp_has_password,omitempty"`
	Hour            int             `json:"hour"`
	HasKey          bool            `json:"has_key"`
	SSHPublicKey    string          `json:"ssh_public_key,omitempty"` // the box's, for the server's authorized_keys
	backup.Progress                 // running, last result, last verified restore
	History         []backup.Result `json:"history,omitempty"` // newest first
}

// GetBackups is the Backups page's question.
type GetBackups struct{}

func (GetBackups) OpName() string { return "backup.status" }
func (GetBackups) readOnly()      {}

// SetBackup changes the backup settings. Empty fields keep their value,
// except Target, which is always set ("" turns backups off). NewKey makes
// a new recovery key (and a new chain: the next backup is full);
// RecoveryKey instead sets the key the office already has (a new box that
// is to restore, or takes over the old one's backups).
type SetBackup struct {
	Target       string `json:"target"`
	USBUUID      string `json:"usb_uuid,omitempty"` // target "usb": the disk's file system
	Folder       string `json:"folder,omitempty"`
	SFTPAddress  string `json:"sftp_address,omitempty"`
	SFTPUser     string `json:"sftp_user,omitempty"`
	SFTPPassword string `json:"sftp_password,omitempty"`
	SFTPPath     string `json:"sftp_path,omitempty"`
	SFTPHostKey  string `json:"sftp_host_key,omitempty"`
	Hour         *int   `json:"hour,omitempty"`
	NewKey       bool   `json:"new_key,omitempty"`
	RecoveryKey  string `json:"recovery_key,omitempty"`
}

func (SetBackup) OpName() string { return "backup.set" }

// LogValue hides the password and the key.
func (r SetBackup) LogValue() slog.Value {
	return slog.GroupValue(slog.String("target", r.Target), slog.String("usb", r.USBUUID), slog.String("folder", r.Folder), slog.String("sftp", r.SFTPUser+"@"+r.SFTPAddress+":"+r.SFTPPath), slog.Bool("new_key", r.NewKey))
}

// SetBackupResult is the new settings and, after NewKey, the recovery key
// to print: it is shown this once.
type SetBackupResult struct {
	BackupView
	RecoveryKey string `json:"recovery_key,omitempty"`
}

// BackupNow runs a backup: at once in the background (the page), or
// waiting for its result and restore test (Wait: postroomctl, and always
// on a stopped box, which has no scheduler to hand it to).
type BackupNow struct {
	Wait bool `json:"wait,omitempty"`
}

func (BackupNow) OpName() string { return "backup.now" }

// BackupNowResult says what BackupNow did.
type BackupNowResult struct {
	Started bool           `json:"started"`
	Result  *backup.Result `json:"result,omitempty"`
}

// ListBackups lists the backups on the target, newest first.
type ListBackups struct{}

func (ListBackups) OpName() string { return "backup.list" }
func (ListBackups) readOnly()      {}

// RestoreBox restores the whole box from a backup on the target (Name, or
// the newest): the box stops, restores into a new folder, proves it, swaps
// it in and starts again. For the first-boot wizard and a box after a
// factory reset.
type RestoreBox struct {
	RecoveryKey string `json:"recovery_key"`
	Name        string `json:"name,omitempty"`
}

func (RestoreBox) OpName() string { return "backup.restore" }

// LogValue hides the key.
func (r RestoreBox) LogValue() slog.Value { return slog.GroupValue(slog.String("name", r.Name)) }

// RestoreBoxResult says what happens next.
type RestoreBoxResult struct {
	Note string `json:"note"`
}

// backups is the running box's Manager, or one made for this call on a
// stopped box (postroomctl backup in-process).
func (a *Admin) backups() (*backup.Manager, error) {
	if a.o.Backups != nil {
		return a.o.Backups, nil
	}
	c, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	m, err := backup.New(backup.Options{Store: a.st, DataDir: a.dataDir(c), Logger: a.log, Now: a.o.Now, USB: a.o.USB,
		Config: func() config.Config {
			if c, err := a.loadConfig(); err == nil {
				return c
			}
			return c
		}})
	if err != nil {
		return nil, internal("backups", err)
	}
	a.o.Backups, a.backupsHere = m, true
	return m, nil
}

// dataDir is the data folder of config c.
func (a *Admin) dataDir(c config.Config) string {
	if filepath.IsAbs(c.DataDir) {
		return c.DataDir
	}
	return filepath.Join(filepath.Dir(a.o.ConfigPath), c.DataDir)
}

func (a *Admin) backupView(c config.Config) (BackupView, error) {
	b := c.Backup
	v := BackupView{Target: b.Target, USBUUID: b.USB.UUID, USBLabel: b.USB.Label, USBName: b.USB.Name, Folder: b.Folder, Hour: b.Hour, HasKey: b.Recipient != "",
		SFTPAddress: b.SFTP.Address, SFTPUser: b.SFTP.User, SFTPPath: b.SFTP.Path, SFTPHostKey: b.SFTP.HostKey, SFTPHasPass: b.SFTP.Password != ""}
	m, err := a.backups()
	if err != nil {
		return v, err
	}
	v.Progress, v.History = m.Progress(), m.History()
	if k, err := backup.SSHPublicKey(a.dataDir(c)); err == nil {
		v.SSHPublicKey = k
	}
	return v, nil
}

func (a *Admin) GetBackups(ctx context.Context, by Actor, req GetBackups) (BackupView, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req GetBackups) (BackupView, string, error) {
		c, err := a.loadConfig()
		if err != nil {
			return BackupView{}, "", err
		}
		v, err := a.backupView(c)
		return v, "", err
	})
}

func (a *Admin) SetBackup(ctx context.Context, by Actor, req SetBackup) (SetBackupResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req SetBackup) (SetBackupResult, string, error) {
		var res SetBackupResult
		var secret, recipient string
		switch {
		case req.NewKey && req.RecoveryKey != "":
			return res, "", errorf(CodeInvalid, "recovery_key", "either make a new recovery key or give the one you have, not both")
		case req.NewKey:
			s, p, err := backup.NewRecoveryKey()
			if err != nil {
				return res, "", internal("making a recovery key", err)
			}
			secret, recipient = s, p
		case req.RecoveryKey != "":
			id, err := backup.ParseRecoveryKey(req.RecoveryKey)
			if err != nil {
				return res, "", errorf(CodeInvalid, "recovery_key", "%v", err)
			}
			recipient = id.Recipient().String()
		}
		field := "target"
		_, err := a.changeConfig(by, field, "backup settings", false, func(c *config.Config) error {
			b := &c.Backup
			b.Target = strings.TrimSpace(req.Target)
			set := func(dst *string, v string) {
				if v = strings.TrimSpace(v); v != "" {
					*dst = v
				}
			}
			// A USB disk is checked when it is chosen (it must be
			// plugged in then); an empty choice keeps the one chosen
			// before, plugged in or not.
			if u := strings.TrimSpace(req.USBUUID); b.Target == "usb" && u != "" && !strings.EqualFold(u, b.USB.UUID) {
				label, name, err := a.usbTargetFor(u)
				if err != nil {
					return err
				}
				b.USB = config.USBConfig{UUID: u, Label: label, Name: name}
			}
			set(&b.Folder, req.Folder)
			set(&b.SFTP.Address, req.SFTPAddress)
			set(&b.SFTP.User, req.SFTPUser)
			set(&b.SFTP.Path, req.SFTPPath)
			set(&b.SFTP.HostKey, req.SFTPHostKey)
			if req.SFTPPassword != "" {
				b.SFTP.Password = req.SFTPPassword
			}
			if req.Hour != nil {
				b.Hour = *req.Hour
			}
			if recipient != "" {
				b.Recipient = recipient
			}
			return nil
		})
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Field = backupField(e.Message, e.Field)
			}
			return res, "", err
		}
		c, err := a.loadConfig()
		if err != nil {
			return res, "", err
		}
		res.BackupView, err = a.backupView(c)
		if err != nil {
			return res, "", err
		}
		res.RecoveryKey = secret
		what := "backup settings: target " + describeTarget(c.Backup)
		if secret != "" {
			what += ", a new recovery key"
		}
		return res, what, nil
	})
}

// backupField finds the request field a config error is about.
func backupField(msg, def string) string {
	for _, f := range []struct{ cfg, req string }{
		{"backup.folder", "folder"}, {"backup.usb.uuid", "usb_uuid"}, {"backup.sftp.address", "sftp_address"}, {"backup.sftp.user", "sftp_user"},
		{"backup.sftp.path", "sftp_path"}, {"backup.hour", "hour"}, {"backup.recipient", "recovery_key"}, {"backup.target", "target"},
	} {
		if strings.HasPrefix(msg, f.cfg+":") {
			return f.req
		}
	}
	return def
}

func describeTarget(b config.BackupConfig) string {
	switch b.Target {
	case "usb":
		return backup.USBName(b.USB)
	case "folder":
		return "folder " + b.Folder
	case "sftp":
		return "sftp " + b.SFTP.User + "@" + b.SFTP.Address + ":" + b.SFTP.Path
	}
	return "none (backups off)"
}

func (a *Admin) BackupNow(ctx context.Context, by Actor, req BackupNow) (BackupNowResult, error) {
	// Not under the admin lock: a backup takes minutes, and changes go on
	// meanwhile (the backup is a snapshot). It is logged by the backup.
	var res BackupNowResult
	m, err := a.backups()
	if err != nil {
		return res, err
	}
	c, err := a.loadConfig()
	if err != nil {
		return res, err
	}
	if c.Backup.Target == "" || c.Backup.Recipient == "" {
		return res, errorf(CodeConflict, "", "%v", backup.ErrNoTarget)
	}
	a.log.Info("admin: backup now", "by", by, "op", req.OpName())
	if !req.Wait && !a.backupsHere {
		if !m.Kick() {
			return res, errorf(CodeConflict, "", "%v", backup.ErrBusy)
		}
		res.Started = true
		return res, nil
	}
	r, err := m.Now(ctx)
	res.Started, res.Result = true, &r
	if errors.Is(err, backup.ErrBusy) {
		return res, errorf(CodeConflict, "", "%v", err)
	}
	if err != nil {
		return res, errorf(CodeInternal, "", "%v", err)
	}
	return res, nil
}

func (a *Admin) ListBackups(ctx context.Context, by Actor, req ListBackups) ([]backup.Backup, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req ListBackups) ([]backup.Backup, string, error) {
		c, err := a.loadConfig()
		if err != nil {
			return nil, "", err
		}
		t, err := backup.OpenTargetOn(ctx, a.dataDir(c), c.Backup, a.o.USB)
		if err != nil {
			return nil, "", errorf(CodeConflict, "target", "%v", err)
		}
		defer t.Close()
		list, err := backup.List(ctx, t)
		if err != nil {
			return nil, "", errorf(CodeConflict, "target", "%v", err)
		}
		return list, "", nil
	})
}

func (a *Admin) RestoreBox(ctx context.Context, by Actor, req RestoreBox) (RestoreBoxResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req RestoreBox) (RestoreBoxResult, string, error) {
		var res RestoreBoxResult
		if a.o.RestoreBox == nil {
			return res, "", errorf(CodeConflict, "", "a stopped box restores with postroomctl restore into a new data folder")
		}
		key, err := backup.ParseRecoveryKey(req.RecoveryKey)
		if err != nil {
			return res, "", errorf(CodeInvalid, "recovery_key", "%v", err)
		}
		// Open the chosen backup's header now, so a wrong name or a
		// missing target is said here and not after the services stopped.
		c, err := a.loadConfig()
		if err != nil {
			return res, "", err
		}
		t, err := backup.OpenTargetOn(ctx, a.dataDir(c), c.Backup, a.o.USB)
		if err != nil {
			return res, "", errorf(CodeConflict, "target", "%v", err)
		}
		list, err := backup.List(ctx, t)
		t.Close()
		if err != nil {
			return res, "", errorf(CodeConflict, "target", "%v", err)
		}
		found := false
		for _, b := range list {
			if b.Restorable && (req.Name == "" || b.Name == req.Name) {
				found = true
				break
			}
		}
		if !found {
			return res, "", errorf(CodeNotFound, "name", "there is no complete backup %s on %s", req.Name, describeTarget(c.Backup))
		}
		note, err := a.o.RestoreBox(key, req.Name, by)
		if err != nil {
			return res, "", errorf(CodeConflict, "", "%v", err)
		}
		res.Note = note
		return res, fmt.Sprintf("restore of the whole box from %s asked for", cmp(req.Name, "the newest backup")), nil
	})
}

// RestoreMail puts an account's mail back (Mailbox "": every folder)
// from a backup this box made (Name "": the newest): a folder that is gone
// comes back with its UIDVALIDITY and UIDs, so mail programs keep their
// copies; a folder that exists gets the messages it lacks as new ones.
type RestoreMail struct {
	Account string `json:"account"`
	Mailbox string `json:"mailbox,omitempty"`
	Name    string `json:"name,omitempty"`
}

func (RestoreMail) OpName() string { return "backup.restore-mail" }

func (a *Admin) RestoreMail(ctx context.Context, by Actor, req RestoreMail) (backup.MailRestoreResult, error) {
	// Not under the admin lock: restoring the backup into scratch takes
	// minutes; the store's own locks keep each message's commit whole.
	var res backup.MailRestoreResult
	acct, err := a.account("account", req.Account)
	if err != nil {
		return res, a.refused(ctx, by, req, err)
	}
	m, err := a.backups()
	if err != nil {
		return res, a.refused(ctx, by, req, err)
	}
	r, err := m.RestoreMail(ctx, backup.MailRestore{Account: acct.Name, Mailbox: req.Mailbox, Name: req.Name})
	if r != nil {
		res = *r
	}
	switch {
	case errors.Is(err, backup.ErrBusy):
		return res, a.refused(ctx, by, req, errorf(CodeConflict, "", "%v", err))
	case err != nil && strings.Contains(err.Error(), "has no folder"):
		return res, a.refused(ctx, by, req, errorf(CodeNotFound, "mailbox", "%v", err))
	case err != nil:
		return res, a.refused(ctx, by, req, errorf(CodeConflict, "", "%v", err))
	}
	added, back := 0, 0
	for _, mb := range res.Mailboxes {
		added += mb.Added
		if mb.Recreated {
			back++
		}
	}
	a.changed(by, req.OpName(), fmt.Sprintf("put back %d messages of %s from the backup %s (%d folders made anew with their old UIDs)", added, acct.Name, res.Backup, back))
	return res, nil
}
