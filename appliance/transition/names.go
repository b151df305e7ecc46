package transition

import (
	"strings"

	"postroom/storage"
)

// ourName maps an old IMAP folder to a mailbox name of this box: the old
// hierarchy separator becomes "/", a Courier-style "INBOX." prefix (every
// folder under INBOX) is dropped, and the special folders land in ours
// whatever the provider calls them, by their special-use attribute
// (RFC 6154) or, for servers without it, by the names the common
// providers and clients use. ok is false for folders that are not taken:
// Gmail's "All Mail" (\All) and "Important" hold copies of mail from the
// other folders, and taking them would duplicate it.
func ourName(old string, delim rune, attrs []string, special map[string]string) (name string, ok bool) {
	has := func(a string) bool {
		for _, x := range attrs {
			if strings.EqualFold(x, a) {
				return true
			}
		}
		return false
	}
	if has(`\Noselect`) || has(`\NonExistent`) || has(`\All`) || has(`\Important`) || has(`\Flagged`) {
		return "", false
	}
	if strings.EqualFold(old, "INBOX") {
		return "INBOX", true
	}
	for _, use := range []string{storage.SpecialSent, storage.SpecialDrafts, storage.SpecialTrash, storage.SpecialJunk, storage.SpecialArchive} {
		if has(use) && special[use] != "" {
			return special[use], true
		}
	}
	parts := []string{old}
	if delim != 0 {
		parts = strings.Split(old, string(delim))
	}
	if len(parts) > 1 && strings.EqualFold(parts[0], "INBOX") {
		parts = parts[1:]
	}
	if len(parts) == 1 {
		if use, ok := commonNames[strings.ToLower(parts[0])]; ok && special[use] != "" {
			return special[use], true
		}
	}
	if len(parts) == 2 && (strings.EqualFold(parts[0], "[Gmail]") || strings.EqualFold(parts[0], "[Google Mail]")) {
		if use, ok := commonNames[strings.ToLower(parts[len(parts)-1])]; ok && special[use] != "" {
			return special[use], true
		}
		if len(parts) == 2 && (strings.EqualFold(parts[1], "All Mail") || strings.EqualFold(parts[1], "Important") || strings.EqualFold(parts[1], "Starred")) {
			return "", false
		}
	}
	for i, p := range parts {
		// "/" inside a name of a server whose separator is "." would make
		// a level of ours that the old side did not have.
		parts[i] = strings.ReplaceAll(p, "/", "-")
	}
	return strings.Join(parts, "/"), true
}

// commonNames are the special folders' names at common providers and in
// common clients, for servers that do not mark them.
var commonNames = map[string]string{
	"sent":             storage.SpecialSent,
	"sent items":       storage.SpecialSent,
	"sent messages":    storage.SpecialSent,
	"sent mail":        storage.SpecialSent,
	"drafts":           storage.SpecialDrafts,
	"draft":            storage.SpecialDrafts,
	"trash":            storage.SpecialTrash,
	"deleted items":    storage.SpecialTrash,
	"deleted messages": storage.SpecialTrash,
	"bin":              storage.SpecialTrash,
	"junk":             storage.SpecialJunk,
	"junk e-mail":      storage.SpecialJunk,
	"junk email":       storage.SpecialJunk,
	"spam":             storage.SpecialJunk,
	"bulk mail":        storage.SpecialJunk,
	"archive":          storage.SpecialArchive,
	"archives":         storage.SpecialArchive,
}

// specialMailboxes maps each special use to the account's mailbox of it.
func specialMailboxes(boxes []storage.Mailbox) map[string]string {
	out := map[string]string{}
	for _, b := range boxes {
		if b.SpecialUse != "" && out[b.SpecialUse] == "" {
			out[b.SpecialUse] = b.Name
		}
	}
	return out
}
