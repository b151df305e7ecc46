package main

// backup: the box's backups (appliance/backup) from the command line, on a
// running box (over the control socket) or a stopped one; restore: a whole
// box from its backups into a new data folder, with the box stopped.

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"postroom/appliance/admin"
	"postroom/appliance/backup"
	"postroom/appliance/config"
)

func init() {
	commands = append(commands,
		command{"backup status", 0, 0, nil, (*ctl).backupStatus},
		command{"backup now", 0, 0, nil, (*ctl).backupNow},
		command{"backup list", 0, 0, nil, (*ctl).backupList},
		command{"backup folder", 1, 1, nil, (*ctl).backupFolder},
		command{"backup restore-mail", 1, 2, nil, (*ctl).backupRestoreMail},
		command{"restore", 3, 4, nil, (*ctl).restore},
	)
}

// backupSynopsis is the help of the backup commands.
const backupSynopsis = `
Backups (encrypted; each one proven by a restore into a scratch folder):
  backup status                        target, schedule, the last backups and the last
                                       verified restore
  backup now                           back up now and test the restore; waits for both
  backup list                          the backups on the target, newest first
  backup folder DIR                    back up into DIR (a mounted USB disk) every night;
                                       the first time it makes the recovery key and
                                       prints it ONCE: print it, keep it away from the box
  backup restore-mail NAME [MAILBOX]   put an account's mail (or one folder) back from the
                                       newest backup: a deleted folder comes back with its
                                       UIDs, so mail programs keep their copies; messages a
                                       folder lacks are added; nothing is added twice
  restore SOURCE KEYFILE NEWDATA [NAME]  restore a whole box (store, config.json, TLS and
                                       DKIM keys) from the backups in the folder SOURCE
                                       ("configured": the target of -data's config.json)
                                       into the new, empty data folder NEWDATA, with the
                                       recovery key in KEYFILE ("-": standard input);
                                       NAME: a backup of the list, default the newest
`

func (c *ctl) backupStatus(args []string) error {
	v, err := call[admin.BackupView](c, admin.GetBackups{})
	if err != nil {
		return err
	}
	switch v.Target {
	case "":
		fmt.Fprintln(c.stdout, "backups: not set up (postroomctl backup folder DIR, or the Backups page)")
	case "usb":
		fmt.Fprintf(c.stdout, "backups: onto the USB disk %s (file system %s), daily at %02d:00\n", cmp.Or(v.USBLabel, v.USBName), v.USBUUID, v.Hour)
	case "folder":
		fmt.Fprintf(c.stdout, "backups: into the folder %s, daily at %02d:00\n", v.Folder, v.Hour)
	case "sftp":
		fmt.Fprintf(c.stdout, "backups: to sftp %s@%s:%s, daily at %02d:00\n", v.SFTPUser, v.SFTPAddress, v.SFTPPath, v.Hour)
	}
	if v.Running {
		fmt.Fprintf(c.stdout, "running now: %s (%s written)\n", v.Step, formatSize(v.Done))
	}
	if v.LastVerified.IsZero() {
		fmt.Fprintln(c.stdout, "last verified restore: never")
	} else {
		fmt.Fprintf(c.stdout, "last verified restore: %s\n", v.LastVerified.Local().Format("2006-01-02 15:04"))
	}
	for _, r := range v.History {
		fmt.Fprintln(c.stdout, resultLine(r))
	}
	return nil
}

func resultLine(r backup.Result) string {
	state := "proven by a restore"
	switch {
	case r.Error != "":
		state = "FAILED: " + r.Error
	case r.VerifyError != "":
		state = "RESTORE TEST FAILED: " + r.VerifyError
	}
	return fmt.Sprintf("  %s  %-4s  %8s  %s  %s", r.Started.Local().Format("2006-01-02 15:04"), r.Kind, formatSize(r.Size), r.Duration.Round(time.Second), state)
}

func (c *ctl) backupNow(args []string) error {
	res, err := call[admin.BackupNowResult](c, admin.BackupNow{Wait: true})
	if res.Result != nil {
		fmt.Fprintf(c.stdout, "%s\n%s\n", res.Result.Name, resultLine(*res.Result))
	}
	return err
}

func (c *ctl) backupList(args []string) error {
	list, err := call[[]backup.Backup](c, admin.ListBackups{})
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(c.stdout, "no backups on the target yet")
	}
	for _, b := range list {
		ok := ""
		if !b.Restorable {
			ok = "  (incomplete: a file of its chain is missing)"
		}
		fmt.Fprintf(c.stdout, "%s  %s  %-4s  %8s  %s%s\n", b.Name, b.Created.Local().Format("2006-01-02 15:04"), b.Kind, formatSize(b.Size), b.Box, ok)
	}
	return nil
}

func (c *ctl) backupFolder(args []string) error {
	dir, err := absPath(args[0])
	if err != nil {
		return err
	}
	v, err := call[admin.BackupView](c, admin.GetBackups{})
	if err != nil {
		return err
	}
	res, err := call[admin.SetBackupResult](c, admin.SetBackup{Target: "folder", Folder: dir, NewKey: !v.HasKey})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "backups go into %s every night at %02d:00\n", dir, res.Hour)
	if res.RecoveryKey != "" {
		fmt.Fprintf(c.stdout, "\nThe recovery key (shown this once; the box keeps only its public half):\n\n  %s\n\nPrint it or write it down and keep it away from the box: without it no backup\ncan be restored. postroomctl restore and the set-up page ask for it.\n", res.RecoveryKey)
	}
	return nil
}

// restore restores a whole box into a new data folder.
func (c *ctl) restore(args []string) error {
	src, keyFile, dest := args[0], args[1], args[2]
	name := ""
	if len(args) == 4 {
		name = args[3]
	}
	var raw []byte
	var err error
	if keyFile == "-" {
		line, lerr := c.readLine()
		raw, err = []byte(line), lerr
	} else {
		raw, err = os.ReadFile(keyFile)
	}
	if err != nil {
		return fmt.Errorf("reading the recovery key: %w", err)
	}
	key, err := backup.ParseRecoveryKey(string(raw))
	if err != nil {
		return err
	}
	ctx := context.Background()
	var t backup.Target
	if src == "configured" {
		cfg, err := config.Load(filepath.Join(c.data, config.ConfigFile))
		if err != nil {
			return err
		}
		dataDir, _ := filepath.Abs(c.data)
		if t, err = backup.OpenTarget(ctx, dataDir, cfg.Backup); err != nil {
			return err
		}
	} else {
		abs, err := absPath(src)
		if err != nil {
			return err
		}
		t = backup.Folder{Dir: abs}
	}
	defer t.Close()
	if dest, err = absPath(dest); err != nil {
		return err
	}
	if strings.HasPrefix(dest+"/", mustAbs(c.data)+"/") && src == "configured" {
		return usagef("restore into a new folder, not into the box's own data folder %s", c.data)
	}
	res, err := backup.RestoreBox(ctx, backup.RestoreOptions{DataDir: dest, Target: t, Key: key, Name: name, Logger: c.logger()})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "restored %s (%s) into %s: %d accounts, %d mailboxes, %d messages, and %s; the restored store equals the backup and passes its check.\nStart the box with -data %s (or move the folder into place).\n",
		res.Backup.Name, res.Backup.Created.Local().Format("2006-01-02 15:04"), dest, res.Accounts, res.Mailboxes, res.Messages, strings.Join(res.Files, ", "), dest)
	return nil
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func (c *ctl) backupRestoreMail(args []string) error {
	req := admin.RestoreMail{Account: args[0]}
	if len(args) == 2 {
		req.Mailbox = args[1]
	}
	res, err := call[backup.MailRestoreResult](c, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "from %s:\n", res.Backup)
	for _, mb := range res.Mailboxes {
		how := "added"
		if mb.Recreated {
			how = "made anew with UIDVALIDITY " + fmt.Sprint(mb.UIDValidity) + " and its old UIDs;"
		}
		fmt.Fprintf(c.stdout, "  %s: %s %d messages, %d were there already\n", mb.Name, how, mb.Added, mb.Skipped)
	}
	return nil
}
