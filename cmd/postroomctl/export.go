package main

import (
	"fmt"
	"path/filepath"

	"postroom/appliance/admin"
)

// exportSynopsis is the usage text of export and import.
const exportSynopsis = `
Export and import (FORMAT: mbox, the default, or maildir; paths are on this box):
  export [-format F] NAME [MAILBOX] DEST   write the account's mail (every folder, or one)
                                       to DEST: mbox: a file for one folder, else a
                                       folder of NAME.mbox files; maildir: a Maildir
                                       with INBOX (or MAILBOX) at its root, the others
                                       as .Sent, .Archive.2024 (Maildir++)
  import [-format F] NAME MAILBOX SRC  add the messages of the mbox file or Maildir SRC
                                       to MAILBOX (made if missing); a message already
                                       there is skipped, so importing twice adds nothing
`

// absPath makes a path absolute here, since over the control socket the
// appliance, not this shell, opens it.
func absPath(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("path %s: %w", p, err)
	}
	return a, nil
}

func (c *ctl) export(args []string) error {
	req := admin.ExportMail{Account: args[0], Format: c.format}
	dest := args[len(args)-1]
	if len(args) == 3 {
		req.Mailbox = args[1]
	}
	var err error
	if req.Path, err = absPath(dest); err != nil {
		return err
	}
	r, err := call[admin.TransferResult](c, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "exported %d messages (%s) of %d mailboxes of %s to %s (%s)\n",
		r.Messages, formatSize(r.Bytes), r.Mailboxes, req.Account, req.Path, req.Format)
	return nil
}

func (c *ctl) importMail(args []string) error {
	req := admin.ImportMail{Account: args[0], Mailbox: args[1], Format: c.format}
	var err error
	if req.Path, err = absPath(args[2]); err != nil {
		return err
	}
	r, err := call[admin.TransferResult](c, req)
	if err != nil {
		return err
	}
	made := ""
	if r.Created {
		made = " (made it)"
	}
	fmt.Fprintf(c.stdout, "imported %d messages (%s) into %s of %s%s; %d were there already\n",
		r.Messages, formatSize(r.Bytes), req.Mailbox, req.Account, made, r.Skipped)
	return nil
}
