package admin

import (
	"context"
	"path/filepath"
)

// InstallUpdate installs a signed update file that is on the box (the web
// page spools an upload to the data disk first; postroomctl update copies
// nothing: the file must be on the box). The runner does the work
// (Options.Update: appliance/run_update.go): it checks the signature,
// the architecture and the version before writing a byte, writes the
// spare root, snapshots the store and restarts the box to try the new
// version.
type InstallUpdate struct {
	File string `json:"file"` // absolute path on the box
}

func (InstallUpdate) OpName() string { return "update.install" }

// UpdateResult says what an update did.
type UpdateResult struct {
	Version string `json:"version"` // the version installed, on trial
	Note    string `json:"note"`    // what happens next, in words
}

// UpdateRefused is an update file refused before anything was written:
// Install returns it so that the admin layer answers with CodeInvalid
// on the "file" field (the message says why, for people).
type UpdateRefused struct{ Err error }

func (e *UpdateRefused) Error() string { return e.Err.Error() }
func (e *UpdateRefused) Unwrap() error { return e.Err }

// InstallUpdate runs the update under the admin lock: no other change is
// made while the spare root is written.
func (a *Admin) InstallUpdate(ctx context.Context, by Actor, req InstallUpdate) (UpdateResult, error) {
	return run(a, ctx, by, req, func(ctx context.Context, req InstallUpdate) (UpdateResult, string, error) {
		if req.File == "" || !filepath.IsAbs(req.File) {
			return UpdateResult{}, "", errorf(CodeInvalid, "file", "give the update file's full path on the box")
		}
		if a.o.Update == nil {
			return UpdateResult{}, "", errorf(CodeConflict, "file", "this machine does not install updates: only a box started from its SD card does")
		}
		res, err := a.o.Update(ctx, req.File, by)
		if err != nil {
			if r, ok := err.(*UpdateRefused); ok {
				return res, "", errorf(CodeInvalid, "file", "%s", r.Err.Error())
			}
			if _, ok := err.(*Error); ok {
				return res, "", err
			}
			return res, "", internal("installing the update", err)
		}
		return res, "installed version " + res.Version + " to try it", nil
	})
}
